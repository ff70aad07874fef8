//! Who held which access, now or at any past moment (`api::holdings`), and taking live access
//! away before its end.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::grant::{GrantState, RevokeReason};
use crate::domain::reconcile::{Closure, FindingKind};

pub use super::address::AddressQuery;

/// A question as it stands in the page's address (`/governance/access?entitlement=…&at=…`):
/// "who held X at T" (an entry and a moment), "what did P hold between A and B" (a person and a
/// period), or both narrowed at once. Empty times mean now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldingQuery {
    /// A catalog entry's key.
    pub entitlement: String,
    /// A person's sign-in name, or their id as the people pages link it.
    pub person: String,
    /// The moment, or the period's start: `YYYY-MM-DDTHH:MM` in the zone `offset` gives.
    pub at: String,
    /// The period's end, in the same zone; empty: the moment `at` alone.
    pub until: String,
    /// The asking browser's offset from UTC in minutes, east positive (empty: UTC), kept in
    /// the address so a shared link asks the same question.
    pub offset: String,
}

impl HoldingQuery {
    /// Nothing is asked yet (the page without a question): no entry, person or time.
    pub fn asks_nothing(&self) -> bool {
        [&self.entitlement, &self.person, &self.at, &self.until]
            .iter()
            .all(|field| field.trim().is_empty())
    }
}

impl AddressQuery for HoldingQuery {
    fn fields_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        vec![
            ("entitlement", &mut self.entitlement),
            ("person", &mut self.person),
            ("at", &mut self.at),
            ("until", &mut self.until),
            ("offset", &mut self.offset),
        ]
    }
}

/// One lease's time in its target system that falls in the period asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub grant_id: Uuid,
    /// The request that gave it (its trail says who approved it, and why).
    pub request_id: Option<Uuid>,
    pub holder_id: Uuid,
    pub holder: String,
    pub upn: String,
    pub entitlement_key: String,
    pub entitlement: String,
    pub state: GrantState,
    /// When the connector added the access.
    pub from: DateTime<Utc>,
    /// When its removal was read back; `None` while the access may still be there.
    pub until: Option<DateTime<Utc>>,
    /// Why it ended, once it has.
    pub reason: Option<RevokeReason>,
}

/// Access a target system held without a lease: shadow access, or access still there after
/// its lease's removal, as reconciliation saw it (from the pass that first saw it to the pass
/// that no longer did, or to its removal); or an account declared a standing holder (for the
/// declaration's time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldWithoutLease {
    /// The finding's id, or the declaration's.
    pub finding_id: Uuid,
    /// `None`: a declared standing holder.
    pub kind: Option<FindingKind>,
    /// The account's person, where the portal knows them.
    pub holder_id: Option<Uuid>,
    pub holder: Option<String>,
    pub account_ref: String,
    pub account_label: String,
    pub entitlement_key: String,
    pub entitlement: String,
    /// The first pass that saw it (it may have been there before), or the declaration.
    pub from: DateTime<Utc>,
    /// When it was no longer seen, or removed, or the declaration's end; `None` while a
    /// finding is still open.
    pub until: Option<DateTime<Utc>>,
    pub closed_reason: Option<Closure>,
}

/// The answer to a [`HoldingQuery`], oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holdings {
    pub rows: Vec<Holding>,
    /// What the target systems held without a lease in the same moment or period.
    pub without_lease: Vec<HeldWithoutLease>,
    /// More matched than are shown: narrow the question.
    pub more: bool,
    /// The period read, in UTC (equal for a moment).
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The entry's and the person's names, as the question named them.
    pub entitlement: Option<String>,
    pub person: Option<(Uuid, String)>,
    /// Whether the caller may take live access away (administrators, security operations).
    pub may_revoke: bool,
}

/// What containing an account did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contained {
    /// Live leases taken away; the engine removes them now.
    pub leases: usize,
}
