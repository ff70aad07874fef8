//! The data the browser and the server share for the emergency server functions (`api::emergency`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One emergency use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyUse {
    pub request_id: Uuid,
    pub entitlement: String,
    pub who: String,
    pub justification: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    /// `justified` or `not_justified` once closed.
    pub verdict: Option<String>,
    pub note: Option<String>,
}
