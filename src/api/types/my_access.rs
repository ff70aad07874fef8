//! The data the browser and the server share for the my access server functions (`api::my_access`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::grant::GrantState;
use crate::domain::request::RequestState;

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
