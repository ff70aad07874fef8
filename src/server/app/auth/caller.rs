//! Establishes who is calling a server function, before anything else happens.

use leptos::prelude::use_context;

use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;

/// The signed-in person calling the current server function or rendering the current page.
pub fn caller() -> Result<SessionUser, AppError> {
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Unauthorized)?;
    parts
        .extensions
        .get::<SessionUser>()
        .cloned()
        .ok_or(AppError::Unauthorized)
}
