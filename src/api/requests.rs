//! Asking for access, and taking a request back.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::requests::*;

#[server(endpoint = "request")]
pub async fn submit_request(form: RequestForm) -> Result<Submitted, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let submission = crate::api::forms::submission(&form)?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::submit::submit(&state, &caller, submission).await
}

/// Withdraws a pending request (the requester or the person it is for).
#[server(endpoint = "request/cancel")]
pub async fn cancel_request(request_id: String) -> Result<(), AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("request_id", &request_id)?;
    crate::server::services::lifecycle::cancel(&state, &caller, id).await
}
