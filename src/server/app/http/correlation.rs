//! Every request gets a correlation id: in its log span, in the `x-request-id` response header and
//! in any error message shown to the person, so support can find the log line from a screenshot.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static CORRELATION_ID: String;
}

pub const HEADER: &str = "x-request-id";

fn new_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..12].to_string()
}

/// The correlation id of the request being served, if any.
pub fn current() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

/// Logs an internal failure in full and returns the reference to show instead of the detail.
pub fn log_internal(detail: &str) -> String {
    let reference = current().unwrap_or_else(new_id);
    tracing::error!(reference = %reference, detail, "internal error");
    reference
}

/// The answer to a request whose handler panicked: a 500 with the reference to quote, the
/// panic itself only in the log.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    let reference = log_internal(&format!("panic while serving: {detail}"));
    let mut response = Response::new(axum::body::Body::from(format!(
        "Something went wrong on our side. Please try again; if it keeps happening, quote \
         reference {reference}."
    )));
    *response.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

pub async fn assign(request: Request, next: Next) -> Response {
    let id = new_id();
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = CORRELATION_ID
        .scope(id.clone(), next.run(request).instrument(span.clone()))
        .await;
    span.in_scope(|| {
        tracing::debug!(status = response.status().as_u16(), "served");
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
