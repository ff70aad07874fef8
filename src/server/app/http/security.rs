//! Browser-facing protections applied once, as layers, to every route.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rand::RngCore as _;

use crate::server::app::state::AppState;

/// The per-response CSP nonce. The page renderer puts it on Leptos's inline hydration scripts and
/// this layer puts the same value in the `Content-Security-Policy` header.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The policy: only the portal's own scripts (plus the nonce'd inline hydration scripts) and
/// WebAssembly; no framing; forms may post only to the portal, and sign-out may continue to the
/// identity provider.
pub fn content_security_policy(nonce: &str, identity_provider_origin: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self' {identity_provider_origin}; \
         frame-ancestors 'none'"
    )
}

pub async fn headers(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let nonce = new_nonce();
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let cacheable = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;

    let idp_origin = state.settings.oidc.issuer_origin();
    let h = response.headers_mut();
    let csp = content_security_policy(&nonce, &idp_origin);
    set(h, header::CONTENT_SECURITY_POLICY, &csp);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    if state.settings.secure_cookies() {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    if !cacheable {
        // Pages and server-function answers carry personal data.
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

fn set(headers: &mut HeaderMap, name: impl header::IntoHeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Refuses state-changing requests that a page of another origin made the browser send (CSRF).
/// `SameSite=Lax` cookies already stop most of them; this check does not depend on the browser's
/// cookie policy.
pub async fn same_origin_guard(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if is_safe(request.method()) {
        return next.run(request).await;
    }
    let expected = state.settings.public_origin();
    match request_origin(request.headers()) {
        Some(origin) if origin == expected => next.run(request).await,
        seen => {
            tracing::warn!(
                method = %request.method(),
                path = %request.uri().path(),
                origin = seen.as_deref().unwrap_or("(none)"),
                expected = %expected,
                "cross-origin request refused"
            );
            (
                StatusCode::FORBIDDEN,
                "This request came from another site and was refused.",
            )
                .into_response()
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The origin a browser says the request came from: `Origin`, or failing that the origin part of
/// `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return Some(origin.to_string());
    }
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    url::Url::parse(referer)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_falls_back_to_referer() {
        let mut h = HeaderMap::new();
        assert_eq!(request_origin(&h), None);
        h.insert(
            header::REFERER,
            HeaderValue::from_static("https://portal.example/my-access?x=1"),
        );
        assert_eq!(
            request_origin(&h).as_deref(),
            Some("https://portal.example")
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(request_origin(&h).as_deref(), Some("https://evil.example"));
    }

    #[test]
    fn policy_allows_only_own_scripts() {
        let csp = content_security_policy("abc", "https://login.microsoftonline.com");
        assert!(csp.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(new_nonce(), new_nonce());
        assert_eq!(new_nonce().len(), 22);
    }
}
