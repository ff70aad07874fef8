//! The data the browser and the server share for the approvals server functions (`api::approvals`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::approval::Outcome;
use crate::domain::request::RequestState;

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
