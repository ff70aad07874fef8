//! Reconciliation's findings (`api::findings`): access found in the target systems that no lease
//! covers, or that disagrees with what a lease says, and the standing holders owners declared.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::reconcile::{Closure, FindingAction, FindingKind};

pub use super::address::AddressQuery;

/// Which findings the page lists, as its address keeps it (`/governance/findings?state=open`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FindingQuery {
    /// `open` (empty: the default), `closed` or `all`.
    pub state: String,
    /// A catalog entry's key; empty: every entry.
    pub entitlement: String,
}

impl AddressQuery for FindingQuery {
    fn fields_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        vec![
            ("state", &mut self.state),
            ("entitlement", &mut self.entitlement),
        ]
    }
}

/// One difference between a target system and the leases, from the pass that first saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: Uuid,
    pub kind: FindingKind,
    pub entitlement_key: String,
    pub entitlement: String,
    /// The connector the entry's target is in.
    pub system: String,
    /// The account as the target lists it.
    pub account_ref: String,
    /// Its sign-in or display name, as the target says.
    pub account_label: String,
    /// The person the account belongs to, where the portal knows them.
    pub holder_id: Option<Uuid>,
    pub holder: Option<String>,
    /// For drift: the lease the target disagrees with.
    pub grant_id: Option<Uuid>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_reason: Option<Closure>,
    pub action: FindingAction,
    /// Who acted on it; `None` with an action: the entry's policy, by the portal itself.
    pub acted_by: Option<String>,
    pub acted_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// An entry's last reconciliation pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub entitlement_key: String,
    pub entitlement: String,
    pub system: String,
    pub last_pass_at: Option<DateTime<Utc>>,
    pub last_ok_at: Option<DateTime<Utc>>,
    /// When the target's holders were last read in full (a pass that found the target's change
    /// mark, leases and declarations unchanged reads nothing).
    pub last_complete_at: Option<DateTime<Utc>>,
    /// Why the last pass could not read the target; `None` when it could.
    pub last_error: Option<String>,
    /// How many accounts the target listed at the last good pass.
    pub holders: Option<i32>,
    pub requested_at: Option<DateTime<Utc>>,
    /// False when the connector cannot list who holds this kind of access yet: the entry is
    /// not reconciled, which is a limit, not a failure.
    pub readable: bool,
}

/// An account an owner or an administrator declared may hold an entry without a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    pub id: Uuid,
    pub entitlement_key: String,
    pub entitlement: String,
    pub account_ref: String,
    pub account_label: String,
    pub reason: String,
    pub until: DateTime<Utc>,
    pub declared_by: String,
    pub declared_at: DateTime<Utc>,
}

/// The findings page's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    pub rows: Vec<Finding>,
    /// More findings matched than are listed.
    pub more: bool,
    pub passes: Vec<Pass>,
    pub declarations: Vec<Declaration>,
    /// The caller may start a pass (administrators).
    pub may_reconcile: bool,
    /// The entries whose standing holders the caller may declare (their owners', or every
    /// entry's for an administrator), by key.
    pub may_declare: Vec<String>,
    /// The caller, whose own access they may neither declare nor remove.
    pub me: Uuid,
    /// Whether the caller may open the people pages (the governance roles).
    pub people_links: bool,
}

/// What a pass run at an administrator's request found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciled {
    /// Entries read.
    pub entries: usize,
    /// Entries whose target could not be read (each says why on the page).
    pub failed: usize,
    pub opened: usize,
    pub closed: usize,
    pub removed: usize,
    /// Entries left to the background job (a request for every entry).
    pub queued: usize,
}
