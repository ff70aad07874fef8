//! Sign-in attempts are limited per client address: `/auth/login` and `/auth/callback` are open
//! to anyone and each one makes the portal talk to the identity provider, so one address may
//! start only so many a minute (`LEASEGATE_SIGN_IN_PER_MINUTE`, generous by default: an office
//! behind one address signs in together at nine). The count is per replica and in memory; a
//! refused attempt is answered 429 with `Retry-After` and stores nothing.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many addresses, the ones whose window has passed are forgotten.
const REMEMBERED: usize = 10_000;

#[derive(Debug)]
pub struct SignInLimit {
    per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`LEASEGATE_TRUSTED_PROXIES`).
    trusted_proxies: Vec<IpAddr>,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl SignInLimit {
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            per_minute,
            trusted_proxies,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `client`; the wait until the next is allowed when it is not.
    pub fn attempt(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut seen = self.seen.lock().expect("sign-in limit");
        if seen.len() > REMEMBERED {
            seen.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
        }
        let (since, count) = seen.entry(client).or_insert((now, 0));
        if now.duration_since(*since) >= WINDOW {
            *since = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(WINDOW.saturating_sub(now.duration_since(*since)));
        }
        *count += 1;
        Ok(())
    }
}

/// The client's address: the connection's peer, or, when the peer is a trusted reverse proxy
/// (`LEASEGATE_TRUSTED_PROXIES`), the last address it added to `X-Forwarded-For`.
pub fn client_address(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .rfind(|a| !trusted.contains(a))
        .or(Some(peer))
}

/// The layer on the sign-in routes.
pub async fn limit(
    State(limit): State<Arc<SignInLimit>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = client_address(peer, request.headers(), &limit.trusted_proxies);
    if let Some(client) = client
        && let Err(wait) = limit.attempt(client, Instant::now())
    {
        tracing::warn!(%client, "sign-in attempts limited");
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts from this address. Try again in a minute.",
        )
            .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_so_many_a_minute() {
        let limit = SignInLimit::new(3, Vec::new());
        let start = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.attempt(a, start).is_ok());
        }
        let wait = limit
            .attempt(a, start + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(
            limit.attempt(b, start).is_ok(),
            "another address is not held up"
        );
        assert!(limit.attempt(a, start + WINDOW).is_ok(), "a new minute");
    }

    #[test]
    fn a_proxy_is_believed_only_when_trusted() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.7, 203.0.113.9"),
        );
        let peer = Some(SocketAddr::new(proxy, 443));
        assert_eq!(client_address(peer, &headers, &[]), Some(proxy));
        assert_eq!(
            client_address(peer, &headers, &[proxy]),
            Some("203.0.113.9".parse().unwrap()),
            "the address the proxy added, not one the client wrote"
        );
    }
}
