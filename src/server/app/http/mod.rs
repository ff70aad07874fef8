//! Plain HTTP concerns around the Leptos routes: health probes, correlation ids, security headers
//! and the same-origin guard, and the few plain handlers (evidence download, lab switches).

pub mod correlation;
pub mod evidence;
pub mod health;
pub mod lab;
pub mod language;
pub mod metrics;
pub mod security;
pub mod server_fn_status;
pub mod sign_in_limit;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::role::Role;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::text::lang::Language;

/// The value of the cookie `name` the request carries, if any.
pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The signed-in caller of a plain handler when `allowed` admits their roles; else why not
/// (401 without a session, 403 for anyone else), as server functions refuse: answer it with
/// [`refusal`].
pub fn caller_allowed(
    user: Option<axum::Extension<SessionUser>>,
    allowed: fn(&[Role]) -> bool,
) -> Result<SessionUser, AppError> {
    let Some(axum::Extension(user)) = user else {
        return Err(AppError::Unauthorized);
    };
    if !allowed(&user.roles) {
        return Err(AppError::Forbidden);
    }
    Ok(user)
}

/// The error as plain text with its status, in the request's language; a refused field is
/// named.
pub fn refusal(language: Language, error: AppError) -> Response {
    let status =
        StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match &error {
        AppError::Invalid { field, .. } => format!("{field}: {}", error.message(language)),
        other => other.message(language).into_owned(),
    };
    (status, text).into_response()
}
