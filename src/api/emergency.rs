//! Break-glass uses and their reviews: owners close them, auditors see them all.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::emergency::*;

/// Emergency uses of entries the caller owns that wait for their review.
#[server(endpoint = "emergency/to-review")]
pub async fn to_review() -> Result<Vec<EmergencyUse>, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::emergency::to_review(&state, &caller).await
}

/// Closes the review of an emergency use: `verdict` is `justified` or `not_justified`, and a
/// note says why.
#[server(endpoint = "emergency/review")]
pub async fn close_review(
    request_id: String,
    verdict: String,
    note: String,
) -> Result<String, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("request_id", &request_id)?;
    let note = crate::api::text_block("note", &note)?;
    crate::server::services::emergency::close(&state, &caller, id, &verdict, &note)
        .await
        .map(|done| done.to_string())
}

/// Every emergency use with its review, for governance.
#[server(endpoint = "governance/emergency")]
pub async fn emergency_uses() -> Result<Vec<EmergencyUse>, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::emergency::all(&state, &caller).await
}
