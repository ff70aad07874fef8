//! The data the browser and the server share for the catalog server functions (`api::catalog`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::access::Access;

/// One line of the catalog list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogItem {
    pub key: String,
    pub name: String,
    pub description: String,
    /// What the entry gives (an AD group, a Team as owner, an Entra role...).
    pub access: Access,
    pub system: String,
    pub tags: Vec<String>,
    pub approval: String,
    pub max_minutes: u32,
}

/// An entitlement's page: what it is, who approves, and what the form offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementDetail {
    pub key: String,
    pub name: String,
    pub description: String,
    pub access: Access,
    pub system: String,
    pub target: String,
    pub owners: Vec<String>,
    pub tags: Vec<String>,
    /// The policy in plain sentences.
    pub rules: Vec<String>,
    pub default_minutes: u32,
    pub max_minutes: u32,
    pub min_minutes: u32,
    pub presets_minutes: Vec<u32>,
    pub max_start_delay_minutes: u32,
    pub justification_required: bool,
    pub ticket_required: bool,
    pub ticket_hint: Option<String>,
    /// The caller's live grant of it, if any.
    pub held_until: Option<DateTime<Utc>>,
    /// People the caller may request on behalf of (their direct reports known to the portal).
    pub reports: Vec<Person>,
    /// A fresh token for the request form, so that a repeated submission is recognised.
    pub client_token: String,
    /// The form asks where the person connects from (a VM port without a fixed source).
    pub asks_source: bool,
    /// The address the portal sees the caller's connection come from, as a hint (never
    /// filled in: behind a proxy it is the proxy's).
    pub seen_address: Option<String>,
    /// A bundle's parts, in order; empty for an entry of one system.
    pub parts: Vec<BundlePart>,
}

/// One part of a bundle, as its page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundlePart {
    pub key: String,
    pub name: String,
    pub access: Access,
    pub system: String,
    /// Taken out of the catalog: the bundle cannot be requested until it is back or gone
    /// from the bundle.
    pub withdrawn: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub upn: String,
    pub name: String,
}
