//! The governance view: who holds what, what happened, and each request's full trail.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveGrant {
    pub grant_id: Uuid,
    pub request_id: Option<Uuid>,
    pub holder: String,
    pub entitlement: String,
    pub state: String,
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
    pub state: String,
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
