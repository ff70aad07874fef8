//! Posting cards to Teams Workflows webhooks. A Workflows webhook answers 202 when it has taken
//! the message; 429 (with `Retry-After`) and 5xx mean "later"; any other answer is final.

use std::time::Duration;

use super::destination::{Destinations, INSIDE};
use super::mailer::Delivery;

/// The answer, and how long the webhook asked us to wait when it throttled. An address that is
/// not (or no longer) one cards may go to is refused for good, whatever saved it: checked here
/// by its words, and by what its name resolves to as `http` (built by
/// [`Destinations::client`]) connects.
pub async fn post(
    destinations: &Destinations,
    http: &reqwest::Client,
    url: &str,
    payload: &serde_json::Value,
) -> (Delivery, Option<Duration>) {
    let allowed = url::Url::parse(url)
        .map_err(|_| "not an address".to_string())
        .and_then(|u| destinations.check(&u));
    if let Err(why) = allowed {
        return (
            Delivery::Refused(format!("the webhook is not one cards may go to: {why}")),
            None,
        );
    }
    let response = match http.post(url).json(payload).send().await {
        Ok(r) => r,
        // Never the URL in the message: it is the webhook's secret.
        Err(e) if chain(&e).contains(INSIDE) => {
            return (
                Delivery::Refused(format!(
                    "the webhook is not one cards may go to: its host {INSIDE}"
                )),
                None,
            );
        }
        Err(e) => {
            let what = if e.is_timeout() {
                "the webhook did not answer in time"
            } else if e.is_connect() {
                "the webhook could not be reached"
            } else {
                "the request to the webhook failed"
            };
            return (Delivery::TryLater(what.to_string()), None);
        }
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)));
    if status.is_success() {
        return (Delivery::Sent, None);
    }
    let body: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    let answer = format!("HTTP {}: {}", status.as_u16(), body.trim());
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        (Delivery::TryLater(answer), retry_after)
    } else {
        (Delivery::Refused(answer), None)
    }
}

/// An error with its causes, for telling a refused address from a network failure.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
