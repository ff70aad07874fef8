//! Server functions, by area. Each is thin: establish the caller, check what they may do, call
//! the service, and answer with data or an [`AppError`](crate::error::AppError).

pub mod admin;
pub mod approvals;
pub mod catalog;
pub mod governance;
pub mod me;
pub mod my_access;
pub mod requests;

use crate::error::AppError;

/// Reads an id sent as text; a malformed one is bad input, not a server error.
pub fn parse_id(field: &str, text: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(text.trim())
        .map_err(|_| AppError::invalid(field, "This is not a valid identifier."))
}
