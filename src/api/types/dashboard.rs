//! The governance dashboard (`api::dashboard`): the estate's leases, requests, decisions,
//! removals, findings, reviews and systems over a time range, narrowed by system, entry and
//! department, as the address keeps them (`/governance/dashboard?days=30&system=contoso-ad`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use super::address::AddressQuery;

/// The ranges the dashboard offers, in days back from now; the first is the default.
pub const RANGES: [i64; 4] = [30, 7, 90, 365];

/// What the dashboard is narrowed to, as its address keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DashboardQuery {
    /// Days back from now (one of [`RANGES`]); empty: the first.
    pub days: String,
    /// A connected system's name; empty: every system.
    pub system: String,
    /// A catalog entry's key; empty: every entry.
    pub entitlement: String,
    /// A department as the people sync names it; empty: everyone.
    pub department: String,
}

impl AddressQuery for DashboardQuery {
    fn fields_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        vec![
            ("days", &mut self.days),
            ("system", &mut self.system),
            ("entitlement", &mut self.entitlement),
            ("department", &mut self.department),
        ]
    }
}

/// The requests submitted on one day (UTC), by how they stand now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Day {
    pub day: NaiveDate,
    pub approved: i64,
    pub denied: i64,
    /// Still waiting for a decision.
    pub pending: i64,
    /// Withdrawn by the requester, or expired undecided.
    pub other: i64,
}

impl Day {
    pub fn submitted(&self) -> i64 {
        self.approved + self.denied + self.pending + self.other
    }
}

/// A catalog entry and how many requests named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requested {
    pub key: String,
    pub name: String,
    pub requests: i64,
}

/// How long approval took, over the requests a person approved (self-service and break-glass
/// requests, which nobody decides, are left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalTimes {
    pub approved: i64,
    /// Seconds from submission to the last approval; `None` without approvals.
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

/// Leases whose end came in the range: removed on time (read back within the engine's grace),
/// or late (they went overdue first), and those overdue now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removals {
    pub on_time: i64,
    pub late: i64,
    pub overdue_now: i64,
}

/// Reconciliation's findings: open now, and opened and closed in the range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingCounts {
    pub open_shadow: i64,
    pub open_drift: i64,
    pub opened: i64,
    pub closed: i64,
}

/// A connected system as the health checks and reconciliation last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemHealth {
    pub name: String,
    /// `healthy`, `down` or `unknown`, as the health check last said.
    pub health: String,
    pub detail: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Its live leases now.
    pub live: i64,
    /// Entries whose last reconciliation pass could not read the target.
    pub failing_entries: i64,
}

/// The whole dashboard, for one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// The range, as answered (the query's days, checked).
    pub days: i64,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub live_leases: i64,
    pub days_series: Vec<Day>,
    pub approval: ApprovalTimes,
    /// The ten most requested entries, most first.
    pub most_requested: Vec<Requested>,
    pub removals: Removals,
    /// How long after a lease's end its removal counts as on time (the removal grace).
    pub removal_grace_seconds: u64,
    pub findings: FindingCounts,
    /// Break-glass uses whose owner's review is still open.
    pub reviews_due: i64,
    pub systems: Vec<SystemHealth>,
    /// What the filters offer: every system's name and every department.
    pub system_names: Vec<String>,
    pub departments: Vec<String>,
}
