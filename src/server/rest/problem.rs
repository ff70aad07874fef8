//! Errors as RFC 9457 problem details (`application/problem+json`).

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::AppError;
use crate::text::lang::Language;

/// What went wrong, for a program and for the person reading its log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemDetails {
    /// `urn:leasegate:problem:<name>`: one of unauthorized, forbidden, not-found, invalid,
    /// conflict, too-many-requests, unavailable, system-unavailable, internal.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// In English: the same words the portal's pages show.
    pub detail: String,
    /// The field that is wrong, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong as data (the portal's problem codes), for `invalid` and `conflict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub reason: Option<serde_json::Value>,
    /// The reference the portal's log holds the details under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// An error answered as a problem; what handlers of the API return.
#[derive(Debug)]
pub enum ApiError {
    /// What a service (or the caller check) answered.
    App(AppError),
    /// `429`: the caller made too many calls; they may call again after `seconds`.
    TooMany { seconds: u64 },
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        AppError::from(error).into()
    }
}

impl ApiError {
    pub fn too_many(seconds: u64) -> Self {
        Self::TooMany {
            seconds: seconds.max(1),
        }
    }

    pub fn details(&self) -> ProblemDetails {
        let error = match self {
            ApiError::TooMany { seconds } => {
                return problem(
                    "too-many-requests",
                    "Too many requests",
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many calls from this caller: try again in {seconds} seconds."),
                );
            }
            ApiError::App(error) => error,
        };
        let (name, title, status) = match error {
            AppError::Unauthorized => (
                "unauthorized",
                "No valid access token",
                StatusCode::UNAUTHORIZED,
            ),
            AppError::Forbidden => ("forbidden", "Not allowed", StatusCode::FORBIDDEN),
            AppError::NotFound => ("not-found", "Not found", StatusCode::NOT_FOUND),
            AppError::Invalid { .. } => (
                "invalid",
                "The request is not valid",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            AppError::Conflict(_) => (
                "conflict",
                "Not possible in the current state",
                StatusCode::CONFLICT,
            ),
            AppError::Unavailable { .. } => (
                "unavailable",
                "Temporarily unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            AppError::SystemUnavailable { .. } => (
                "system-unavailable",
                "A connected system does not answer",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            AppError::Internal { .. } | AppError::Transport => (
                "internal",
                "Internal error",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        };
        let detail = match error {
            AppError::Unauthorized => "Send an access token for the portal's API as \
                 `Authorization: Bearer <token>`; the one sent is missing, expired or not \
                 accepted."
                .to_string(),
            error => error.message(Language::English).into_owned(),
        };
        let mut details = problem(name, title, status, detail);
        match error {
            AppError::Invalid { field, problem } => {
                details.field = Some(field.clone());
                details.reason = serde_json::to_value(problem).ok();
            }
            AppError::Conflict(problem) => details.reason = serde_json::to_value(problem).ok(),
            AppError::Unavailable { reference }
            | AppError::SystemUnavailable { reference, .. }
            | AppError::Internal { reference } => details.reference = Some(reference.clone()),
            _ => {}
        }
        details
    }
}

/// A problem with nothing but its kind, status and words.
fn problem(name: &str, title: &str, status: StatusCode, detail: String) -> ProblemDetails {
    ProblemDetails {
        kind: format!("urn:leasegate:problem:{name}"),
        title: title.to_string(),
        status: status.as_u16(),
        detail,
        field: None,
        reason: None,
        reference: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let details = self.details();
        let status =
            StatusCode::from_u16(details.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response =
            (status, serde_json::to_vec(&details).unwrap_or_default()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooMany { seconds } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 3.1.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// Every error the API answers is a problem: axum's own refusals (a body that is not the JSON
/// asked for, a path or query that does not parse, a method not served, a body over the limit)
/// come as plain text and are rewritten here, their words kept as the detail.
pub async fn as_problem(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json");
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let name = match status {
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        _ if status.is_server_error() => "internal",
        _ => "refused",
    };
    let details = problem(
        name,
        status.canonical_reason().unwrap_or("Refused"),
        status,
        said.chars().take(500).collect(),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    Response::from_parts(
        parts,
        axum::body::Body::from(serde_json::to_vec(&details).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::problem::Problem;

    #[test]
    fn each_error_has_its_status_and_type() {
        let cases = [
            (AppError::Unauthorized.into(), 401, "unauthorized"),
            (AppError::Forbidden.into(), 403, "forbidden"),
            (AppError::NotFound.into(), 404, "not-found"),
            (
                AppError::invalid("outcome", Problem::ChooseOutcome).into(),
                422,
                "invalid",
            ),
            (ApiError::too_many(7), 429, "too-many-requests"),
        ];
        for (error, status, name) in cases {
            let d: ProblemDetails = ApiError::details(&error);
            assert_eq!(d.status, status);
            assert_eq!(d.kind, format!("urn:leasegate:problem:{name}"));
        }
        let invalid = ApiError::from(AppError::invalid("outcome", Problem::ChooseOutcome));
        assert_eq!(invalid.details().field.as_deref(), Some("outcome"));
        assert!(invalid.details().reason.is_some());
        let response = ApiError::too_many(7).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
