//! The data the browser and the server share for the contractors server functions (`api::contractors`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the onboarding form sends, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractorForm {
    pub display_name: String,
    pub email: String,
    #[serde(default)]
    pub company: String,
    /// `YYYY-MM-DDTHH:MM` in the sponsor's time zone: the identity and its access end then.
    pub ends_at: String,
    /// The browser's offset from UTC in minutes (east positive); 0 before hydration.
    #[serde(default)]
    pub utc_offset_minutes: String,
    /// A bundle's key.
    pub bundle: String,
    #[serde(default)]
    pub justification: String,
    pub client_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onboarded {
    pub contractor_id: Uuid,
    pub request_id: Uuid,
    /// What happened, put in words by the page.
    pub done: crate::domain::problem::Notice,
}

/// A bundle a contractor can be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleChoice {
    pub key: String,
    pub name: String,
}

/// One of the sponsor's contractors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractorView {
    pub id: Uuid,
    pub person_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub company: String,
    pub bundle: String,
    /// "Waiting for approval", "Being made", "Active", "Ended", "Deleted", "Not approved".
    pub standing: String,
    pub active: bool,
    pub request_id: Uuid,
    pub ends_at: DateTime<Utc>,
    /// The guest's invitation link, to pass on to them.
    pub redeem_url: Option<String>,
    /// Why the last step failed, while the portal keeps trying.
    pub problem: Option<String>,
    pub delete_after: Option<DateTime<Utc>>,
    /// The end is within the reminder's lead time.
    pub ending_soon: bool,
    /// A fresh token for the extension form.
    pub extension_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractorsPage {
    /// Whether the catalog sets contractors up at all.
    pub offered: bool,
    pub bundles: Vec<BundleChoice>,
    pub max_days: u32,
    /// Contractors also get an AD account, whose first password the sponsor issues.
    pub ad_accounts: bool,
    pub contractors: Vec<ContractorView>,
    pub client_token: String,
}

/// A first password, for the contractor it was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedPassword {
    pub contractor_id: Uuid,
    pub password: String,
}

/// What the extension form sends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionForm {
    pub contractor_id: String,
    /// `YYYY-MM-DDTHH:MM` in the sponsor's time zone.
    pub ends_at: String,
    #[serde(default)]
    pub utc_offset_minutes: String,
    #[serde(default)]
    pub justification: String,
    pub client_token: String,
}
