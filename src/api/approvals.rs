//! The approvals inbox: requests that wait for the caller's decision.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::approvals::*;

#[server(endpoint = "approvals")]
pub async fn approval_inbox() -> Result<Inbox, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::views::inbox(&state, &caller).await
}

/// How many requests wait for the caller's decision, for the navigation's count.
#[server(endpoint = "approvals/count")]
pub async fn waiting_count() -> Result<u32, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::views::waiting_count(&state, &caller).await
}

/// Approves or denies a request that waits for the caller. `outcome` is `approve` or `deny`.
#[server(endpoint = "approvals/decide")]
pub async fn decide(
    request_id: String,
    outcome: String,
    comment: String,
) -> Result<String, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("request_id", &request_id)?;
    let outcome = crate::domain::approval::Outcome::parse(&outcome).ok_or_else(|| {
        AppError::invalid("outcome", crate::domain::problem::Problem::ChooseOutcome)
    })?;
    let comment = crate::api::text_block("comment", &comment)?;
    crate::server::services::decide::decide(&state, &caller, id, outcome, &comment)
        .await
        .map(|done| done.to_string())
}
