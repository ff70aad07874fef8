//! The data the browser and the server share for the governance server functions (`api::governance`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::grant::GrantState;
use crate::domain::request::RequestState;

pub use super::address::AddressQuery;

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
    /// The events were recomputed after this position (the last good signed checkpoint);
    /// `None`: the whole chain was.
    pub checked_after: Option<i64>,
}

/// An event search as it stands in the governance page's address (`/governance?who=…`): every
/// field is the text as typed, empty for "any", so a search is a link to keep, share, reload
/// and export. The server reads it (see `server::services::evidence::filter`), refusing what it
/// cannot read with the field's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventQuery {
    /// The actor or the person an event is about: part of a name or sign-in name.
    pub who: String,
    /// The catalog entry: part of its name or key.
    pub what: String,
    /// An action's dotted name (`grant.revoked`) or its family (`grant`).
    pub action: String,
    /// The first day, `YYYY-MM-DD`, UTC.
    pub from: String,
    /// The last day, `YYYY-MM-DD`, UTC, included.
    pub to: String,
    /// Events by or about this person (an id, as the people pages link it).
    pub person: String,
    /// Events about this request and the access it produced (an id).
    pub request: String,
    /// Only events before this position (the next page).
    pub before: String,
}

impl AddressQuery for EventQuery {
    fn fields_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        vec![
            ("who", &mut self.who),
            ("what", &mut self.what),
            ("action", &mut self.action),
            ("from", &mut self.from),
            ("to", &mut self.to),
            ("person", &mut self.person),
            ("request", &mut self.request),
            ("before", &mut self.before),
        ]
    }
}

impl EventQuery {
    /// The same search from its first page.
    pub fn first_page(&self) -> Self {
        Self {
            before: String::new(),
            ..self.clone()
        }
    }
}

/// One page of a search, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Where the next page starts, when there are older matches.
    pub older: Option<i64>,
    /// The name of the person the search is narrowed to by id, to say so.
    pub person: Option<String>,
}
