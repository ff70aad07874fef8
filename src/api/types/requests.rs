//! The data the browser and the server share for the requests server functions (`api::requests`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the request form sends. Every field is text, as a browser form sends it, so the same
/// function serves the hydrated page and a plain HTML form post.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestForm {
    pub entitlement: String,
    /// Minutes from the start, or `custom` to use `end`.
    pub duration: String,
    /// `YYYY-MM-DDTHH:MM` in the person's time zone (see `utc_offset_minutes`).
    #[serde(default)]
    pub end: String,
    /// `now`, or `later` to use `start_at`.
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub start_at: String,
    #[serde(default)]
    pub justification: String,
    #[serde(default)]
    pub ticket: String,
    /// A direct report's UPN, when a manager asks on their behalf.
    #[serde(default)]
    pub on_behalf_of: String,
    /// The browser's offset from UTC in minutes (east positive); 0 before hydration.
    #[serde(default)]
    pub utc_offset_minutes: String,
    /// Where the person connects from (an IP address or prefix), for access opened to an
    /// address: an Azure VM's port.
    #[serde(default)]
    pub source_address: String,
    /// One per form: a repeated submission finds the first request instead of making another.
    pub client_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub request_id: Uuid,
    /// Pending, or approved when no approval was needed.
    pub state: crate::domain::request::RequestState,
    /// What happened, put in words by the page.
    pub done: crate::domain::problem::Notice,
}
