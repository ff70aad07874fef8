//! The governance view: who holds what, what happened, and each request's full trail.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::grant::GrantState;
use crate::domain::request::RequestState;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveGrant {
    pub grant_id: Uuid,
    pub request_id: Option<Uuid>,
    pub holder_id: Uuid,
    pub holder: String,
    pub entitlement: String,
    /// The bundle it is a part of.
    pub bundle: Option<String>,
    pub state: GrantState,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub overdue_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub request_id: Option<Uuid>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub live: Vec<LiveGrant>,
    pub overdue: usize,
    pub pending_requests: i64,
    pub events: Vec<EventView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trail {
    pub request_id: Uuid,
    pub requester: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub state: RequestState,
    pub justification: String,
    pub ticket: Option<String>,
    pub events: Vec<EventView>,
}

#[server(endpoint = "governance")]
pub async fn governance_overview() -> Result<Overview, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    if !crate::domain::role::can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let state = crate::server::state::app_state()?;
    crate::server::access::views::overview(&state).await
}

#[server(endpoint = "governance/trail")]
pub async fn request_trail(request_id: String) -> Result<Trail, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    if !crate::domain::role::can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let state = crate::server::state::app_state()?;
    let id = crate::api::parse_id("request_id", &request_id)?;
    crate::server::access::views::trail(&state, id).await
}

/// The audit trail checked end to end: the hash chain recomputed, and every signed checkpoint
/// checked against the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCheck {
    pub intact: bool,
    pub events: i64,
    pub first_break: Option<i64>,
    pub checkpoints: usize,
    pub mismatched: Vec<i64>,
    /// False when no signing key is configured: the chain is then not anchored outside the
    /// database, and a rewrite by the table owner would not show.
    pub signed: bool,
    pub last_signed_at: Option<DateTime<Utc>>,
}

#[server(endpoint = "governance/verify")]
pub async fn verify_audit_chain() -> Result<ChainCheck, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    if !crate::domain::role::can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let state = crate::server::state::app_state()?;
    crate::server::access::views::verify_chain(&state).await
}
