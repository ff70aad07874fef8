//! `/metrics` for Prometheus, and the HTTP latency every answer adds to it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::app::auth::oidc::constant_time_eq;
use crate::server::app::state::AppState;

/// The scrape: the process's measures and the installation's figures, for a caller that sends
/// `Authorization: Bearer <LEASEGATE_METRICS_TOKEN>`. Off (404) when no token is configured:
/// the figures say what the portal manages, which is not for everyone.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.settings.metrics_token else {
        return (
            StatusCode::NOT_FOUND,
            "metrics are off: set LEASEGATE_METRICS_TOKEN\n",
        )
            .into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(
        presented.trim().as_bytes(),
        token.expose().trim().as_bytes(),
    ) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "send the metrics token as a bearer token\n",
        )
            .into_response();
    }
    let grace = state.settings.engine.removal_grace.as_secs_f64();
    let figures = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        crate::server::db::figures::read(&state.pool, grace),
    )
    .await;
    let figures = match figures {
        Ok(Ok(figures)) => figures,
        // Prometheus records the failed scrape (`up` = 0 is the alert): no partial figures.
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "took over 5 s".to_string(),
            };
            tracing::warn!(%why, "metrics: the database figures could not be read");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database figures could not be read\n",
            )
                .into_response();
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            crate::server::app::metrics::CONTENT_TYPE,
        )],
        state.metrics.render(&figures),
    )
        .into_response()
}

/// Times every answer by its route's template; requests no route matched share one series, so
/// that made-up paths cannot make new ones.
pub async fn measure(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.http_answered(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
