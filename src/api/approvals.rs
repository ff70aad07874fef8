//! The approvals inbox: requests that wait for the caller's decision.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::approval::Outcome;
use crate::domain::request::RequestState;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    pub request_id: Uuid,
    pub requester: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub system: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub minutes: i64,
    pub justification: String,
    pub ticket: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub progress: String,
    /// "Already holds it through group X", "Requested 3 times in the last 30 days".
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedItem {
    pub request_id: Uuid,
    pub entitlement: String,
    pub beneficiary: String,
    pub outcome: Outcome,
    pub comment: String,
    pub decided_at: DateTime<Utc>,
    pub request_state: RequestState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    pub waiting: Vec<InboxItem>,
    pub decided: Vec<DecidedItem>,
}

#[server(endpoint = "approvals")]
pub async fn approval_inbox() -> Result<Inbox, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    crate::server::access::views::inbox(&state, &caller).await
}

/// How many requests wait for the caller's decision, for the navigation's count.
#[server(endpoint = "approvals/count")]
pub async fn waiting_count() -> Result<u32, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    let waiting =
        crate::server::db::views::to_decide_count(&state.pool, caller.principal_id).await?;
    Ok(u32::try_from(waiting).unwrap_or(u32::MAX))
}

/// Approves or denies a request that waits for the caller. `outcome` is `approve` or `deny`.
#[server(endpoint = "approvals/decide")]
pub async fn decide(
    request_id: String,
    outcome: String,
    comment: String,
) -> Result<String, AppError> {
    use crate::text::lang::pick;
    let caller = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    let id = crate::api::parse_id("request_id", &request_id)?;
    let outcome = crate::domain::approval::Outcome::parse(&outcome).ok_or_else(|| {
        AppError::invalid(
            "outcome",
            pick(
                "Choose approve or deny.",
                "Wählen Sie „Genehmigen“ oder „Ablehnen“.",
            ),
        )
    })?;
    crate::server::access::decide::decide(&state, &caller, id, outcome, &comment).await
}
