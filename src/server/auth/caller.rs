//! Establishes who is calling a server function, before anything else happens.

use leptos::prelude::use_context;

use crate::domain::role::Role;
use crate::error::AppError;
use crate::server::auth::session::SessionUser;
use crate::server::state::AppState;

/// The signed-in person calling the current server function or rendering the current page.
pub fn caller() -> Result<SessionUser, AppError> {
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Unauthorized)?;
    parts
        .extensions
        .get::<SessionUser>()
        .cloned()
        .ok_or(AppError::Unauthorized)
}

/// The caller, if they hold one of `roles`.
pub fn caller_with_any_role(roles: &[Role]) -> Result<SessionUser, AppError> {
    let user = caller()?;
    if user.roles.iter().any(|r| roles.contains(r)) {
        Ok(user)
    } else {
        tracing::warn!(principal = %user.principal_id, needed = ?roles, "forbidden");
        Err(AppError::Forbidden)
    }
}

/// Shared state for server functions.
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::Internal {
        reference: crate::server::http::correlation::log_internal("AppState missing from context"),
    })
}
