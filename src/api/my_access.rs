//! A person's own access: live leases, requests in flight, and history.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::grant::GrantState;
use crate::domain::request::RequestState;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    pub grant_id: Uuid,
    pub entitlement: String,
    pub entitlement_key: String,
    /// Scheduled, active or being removed.
    pub state: GrantState,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub overdue: bool,
    /// A fresh token for this lease's extension form.
    pub extension_token: String,
    /// A bundle's parts, each in its own system with its own state; empty for a lease of
    /// one entry. Giving back or extending the bundle acts on all of them.
    pub parts: Vec<PartView>,
}

/// One part of a bundle the person holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartView {
    pub entitlement: String,
    pub system: String,
    /// Scheduled (being granted), active, being removed, or failed (could not be granted).
    pub state: GrantState,
    pub overdue: bool,
    /// Why the last attempt failed, while the part is not granted yet or could not be.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingView {
    pub request_id: Uuid,
    pub entitlement: String,
    pub for_person: String,
    pub submitted_at: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// "Step 1 of 2 · 1 of 2 approvals".
    pub progress: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub request_id: Uuid,
    pub entitlement: String,
    pub state: RequestState,
    pub submitted_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub justification: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyAccess {
    pub leases: Vec<LeaseView>,
    pub pending: Vec<PendingView>,
    pub history: Vec<HistoryView>,
}

#[server(endpoint = "my-access")]
pub async fn get_my_access() -> Result<MyAccess, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    crate::server::access::views::my_access(&state, &caller).await
}

/// Gives a lease back now; the access is removed at once.
#[server(endpoint = "lease/give-back")]
pub async fn give_back(grant_id: String) -> Result<(), AppError> {
    let caller = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    let id = crate::api::parse_id("grant_id", &grant_id)?;
    crate::server::access::lifecycle::give_back(&state, &caller, id).await
}

/// Asks for more time on a lease: a new request under the same policy that, once approved,
/// moves the lease's end.
#[server(endpoint = "lease/extend")]
pub async fn extend_lease(
    grant_id: String,
    minutes: String,
    justification: String,
    client_token: String,
) -> Result<crate::api::requests::Submitted, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    let state = crate::server::state::app_state()?;
    let extension = crate::server::access::lifecycle::Extension::parse(
        &grant_id,
        &minutes,
        &justification,
        &client_token,
    )?;
    crate::server::access::lifecycle::extend(&state, &caller, extension).await
}
