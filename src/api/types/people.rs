//! The data the browser and the server share for the people server functions (`api::people`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::governance::EventView;
use crate::domain::grant::GrantState;

/// Whether a person may use the portal, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Standing {
    Active,
    /// Barred by the account watch or the identity provider (a disabled account).
    Barred,
    /// A directory said they left (disabled or deleted there): every lease ended then.
    Left,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRow {
    pub id: Uuid,
    pub display_name: String,
    pub upn: String,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub standing: Standing,
    pub guest: bool,
    pub live_leases: i64,
}

/// An account of the person in one connected system, as its directory last described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub connector: String,
    pub reference: String,
    pub stable_id: Option<String>,
    pub upn: Option<String>,
    /// None when no sync has described it (found for a request only).
    pub enabled: Option<bool>,
    pub gone_at: Option<DateTime<Utc>>,
    pub synced_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonLink {
    pub id: Uuid,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    pub grant_id: Uuid,
    pub request_id: Option<Uuid>,
    pub entitlement: String,
    pub state: GrantState,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Why it ended early or on time (`expired`, `returned`, `revoked`, `offboarding`).
    pub revoke_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonDetail {
    pub person: PersonRow,
    pub left_at: Option<DateTime<Utc>>,
    pub synced_at: Option<DateTime<Utc>>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub accounts: Vec<AccountView>,
    /// Their manager, the manager's manager, and so on (at most ten, stopping at a loop).
    pub managers: Vec<PersonLink>,
    pub reports: Vec<PersonLink>,
    /// Live leases first, then the most recent others.
    pub leases: Vec<LeaseView>,
    /// Events about the person, newest first.
    pub events: Vec<EventView>,
}
