//! The data the browser and the server share for the admin server functions (`api::admin`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorView {
    pub name: String,
    pub url: String,
    /// Unknown when declared in the database but not configured here.
    pub health: crate::domain::health::ConnectorHealth,
    pub detail: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminEntitlement {
    pub key: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub policy_key: String,
    pub connector: String,
    pub target: String,
    pub policy: String,
    pub owners: Vec<String>,
    pub enabled: bool,
    pub live_grants: i64,
}

/// A policy, with its rules written as in the catalog file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPolicy {
    pub key: String,
    pub name: String,
    pub rules_toml: String,
    pub used_by: i64,
}

/// A removal the engine cannot carry out because what it was granted on is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckRemoval {
    pub grant_id: uuid::Uuid,
    pub holder: String,
    pub entitlement: String,
    pub connector: String,
    pub target: String,
    pub account: Option<String>,
    pub attention: crate::domain::grant::Attention,
    pub overdue_since: Option<DateTime<Utc>>,
}

/// A contractor whose onboarding stopped because an identity it would make is someone else's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedContractor {
    pub contractor_id: uuid::Uuid,
    pub display_name: String,
    pub email: String,
    pub sponsor: String,
    /// Why the onboarding stopped, as the worker recorded it.
    pub last_error: String,
    /// The person in the portal who already holds the user the onboarding found.
    pub found_holder: Option<String>,
    /// The user found is an Entra user an administrator may adopt for the contractor.
    pub adoptable: Option<String>,
}

/// A catalog change waiting for a second administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    pub change_id: uuid::Uuid,
    pub kind: crate::domain::change::ChangeKind,
    pub key: String,
    pub author: String,
    pub proposed_at: DateTime<Utc>,
    /// The target before and after, written as in the catalog file.
    pub before: String,
    pub after: String,
    /// What it would have meant ("3 people would have been granted this with nobody approving").
    pub impact: Vec<String>,
    /// Proposed by the caller, who may withdraw it but not approve it.
    pub mine: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOverview {
    pub changes: Vec<PendingChange>,
    pub stuck: Vec<StuckRemoval>,
    pub stopped_contractors: Vec<StoppedContractor>,
    pub catalog_file: Option<String>,
    pub connectors: Vec<ConnectorView>,
    pub entitlements: Vec<AdminEntitlement>,
    pub policies: Vec<AdminPolicy>,
    pub people_sources: Vec<PeopleSourceView>,
}

/// A directory people are read from, and how its last pass went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleSourceView {
    pub connector: String,
    pub last_pass_at: Option<DateTime<Utc>>,
    pub last_complete_at: Option<DateTime<Utc>>,
    /// What the last applied pass did, in words.
    pub result: Option<String>,
    /// Why the last pass was not applied.
    pub error: Option<String>,
    /// The last pass was refused for its number of leavers: an administrator may force it.
    pub refused: bool,
    /// The last pass found another directory than the one the people were read from: an
    /// administrator may confirm it.
    pub other_directory: bool,
    pub requested: bool,
}

/// Mail delivery as administrators watch it: whether a mail server is set, how much waits, and
/// the mails the server refused or has not taken yet, with its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailOverview {
    /// `host:port`, or None when no mail server is configured.
    pub server: Option<String>,
    pub pending: i64,
    pub sent_last_day: i64,
    pub refused_last_month: i64,
    pub problems: Vec<MailProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailProblem {
    pub address: String,
    pub subject: String,
    pub state: crate::domain::mail::MailState,
    pub attempts: i32,
    pub answer: String,
    pub written_at: DateTime<Utc>,
    pub refused_at: Option<DateTime<Utc>>,
    pub request_id: Option<uuid::Uuid>,
}

/// A background job as its last run left it (any replica's), for the administration page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    pub job: String,
    /// The replica (host, process, instance) that ran it last.
    pub worker: String,
    pub last_run: DateTime<Utc>,
    pub last_ok: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// Runs in a row that failed (0 after a success).
    pub failures: i32,
    pub next_due: DateTime<Utc>,
    /// Over a minute past due: no replica runs the job.
    pub late: bool,
}
