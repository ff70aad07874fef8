//! Access reviews (`api::access_reviews`): campaigns in which owners or managers certify the
//! standing holders and the shadow access of chosen entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::review::{ClosedHow, ItemSource, ReviewDecision, ReviewOutcome, Reviewers};

/// A campaign, as the list of campaigns shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub reviewers: Reviewers,
    pub default_action: ReviewDecision,
    pub deadline: DateTime<Utc>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_how: Option<ClosedHow>,
    /// Items in the campaign (that the caller may see), and how many are still unanswered.
    pub items: i64,
    pub undecided: i64,
    /// Of those unanswered, how many the caller may answer.
    pub mine: i64,
}

/// An entry a campaign may review: one with a target the portal reconciles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewable {
    pub key: String,
    pub name: String,
    pub system: String,
    /// Live declarations and open shadow-access findings: what a campaign would review now.
    pub standing: i64,
}

/// The campaigns page's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaigns {
    pub campaigns: Vec<Campaign>,
    /// The entries an administrator may open a campaign over; empty for anyone else.
    pub reviewable: Vec<Reviewable>,
    pub may_open: bool,
}

/// One account's standing access, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: Uuid,
    pub entitlement_key: String,
    pub entitlement: String,
    pub system: String,
    pub source: ItemSource,
    pub account_ref: String,
    pub account_label: String,
    pub holder_id: Option<Uuid>,
    pub holder: Option<String>,
    /// For a declared holder: the declaration's reason and end when the campaign opened.
    pub declared_reason: Option<String>,
    pub declared_until: Option<DateTime<Utc>>,
    /// Who is to answer: the named reviewer, or (empty) the entry's owners.
    pub reviewer: Option<String>,
    pub decision: Option<ReviewDecision>,
    pub reason: Option<String>,
    pub keep_until: Option<DateTime<Utc>>,
    /// Who answered; `None` with a decision: the campaign's default, at the deadline.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub outcome: Option<ReviewOutcome>,
    pub outcome_error: Option<String>,
    /// The caller may answer this item now.
    pub may_decide: bool,
    /// The account is the caller's own: someone else (or the default) answers it.
    pub own: bool,
}

/// One campaign with the items the caller may see: every item for the governance roles and
/// its creator; a reviewer's (and a backup's) own items for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignReport {
    pub campaign: Campaign,
    pub entries: Vec<String>,
    pub items: Vec<Item>,
    /// Whether the caller sees every item (and may download the report).
    pub whole: bool,
}
