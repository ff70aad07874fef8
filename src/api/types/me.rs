//! The data the browser and the server share for the me server functions (`api::me`).

use serde::{Deserialize, Serialize};

use crate::domain::role::Role;

/// The signed-in person, as the browser needs to know them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub display_name: String,
    pub upn: String,
    pub roles: Vec<Role>,
}

impl Me {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A delegation as the settings page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationView {
    pub id: uuid::Uuid,
    /// True: the caller named the deputy; false: the caller is someone's deputy.
    pub mine: bool,
    pub approver: String,
    pub deputy: String,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
}

/// What the caller has set: language, whether a Teams chat is connected, delegations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MySettings {
    pub language: Option<crate::domain::mail::Language>,
    pub teams_chat: bool,
    pub delegations: Vec<DelegationView>,
}
