//! The admin area: connectors and their health, the catalog, and reloading it from its file.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

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
    pub problem: String,
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

#[cfg(feature = "ssr")]
fn require_admin() -> Result<crate::server::auth::session::SessionUser, AppError> {
    let caller = crate::server::auth::caller::caller()?;
    if crate::domain::role::can_administer(&caller.roles) {
        Ok(caller)
    } else {
        Err(AppError::Forbidden)
    }
}

#[server(endpoint = "admin")]
pub async fn get_admin_overview() -> Result<AdminOverview, AppError> {
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    crate::server::access::admin::overview(&state, &caller).await
}

/// Approves another administrator's catalog change; it takes effect at once.
#[server(endpoint = "admin/change/approve")]
pub async fn approve_catalog_change(change_id: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    let id = crate::api::parse_id("change_id", &change_id)?;
    crate::server::access::changes::approve(&state, &caller, id).await
}

/// Rejects a catalog change (or withdraws one's own).
#[server(endpoint = "admin/change/reject")]
pub async fn reject_catalog_change(change_id: String, comment: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    let id = crate::api::parse_id("change_id", &change_id)?;
    let comment = crate::api::text_block("comment", &comment)?;
    crate::server::access::changes::reject(&state, &caller, id, &comment).await
}

/// Asks for a pass of a people source now: `how` is `now` (incremental where it can be),
/// `complete` (everyone read, anyone missing acted on), `force` (applied past `max_leavers`) or
/// `accept-directory` (applied from the other directory a refused pass found).
#[server(endpoint = "admin/people-sync")]
pub async fn sync_people(connector: String, how: String) -> Result<String, AppError> {
    use crate::server::db::people::PassRequest;
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    let connector = crate::api::text_line("connector", &connector)?;
    let how = match how.as_str() {
        "now" => PassRequest::Now,
        "complete" => PassRequest::Complete,
        "force" => PassRequest::Forced,
        "accept-directory" => PassRequest::AcceptDirectory,
        _ => {
            return Err(AppError::invalid(
                "how",
                "Choose now, complete, force or accept-directory.",
            ));
        }
    };
    crate::server::access::admin::sync_people(&state, &caller, &connector, how).await
}

/// Reads the catalog file again and stores it (audited as the caller).
#[server(endpoint = "admin/reload-catalog")]
pub async fn reload_catalog() -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    crate::server::access::admin::reload(&state, &caller).await
}

/// Takes an entry out of the catalog (or puts it back) until the file is next loaded.
#[server(endpoint = "admin/entitlement")]
pub async fn set_entitlement_enabled(key: String, enabled: String) -> Result<String, AppError> {
    use crate::text::lang::pick;
    let caller = require_admin()?;
    let enabled = match enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(AppError::invalid(
                "enabled",
                pick(
                    "Choose to enable or disable it.",
                    "Wählen Sie, ob der Eintrag angeboten werden soll oder nicht.",
                ),
            ));
        }
    };
    let state = crate::server::state::app_state()?;
    let key = crate::api::text_line("key", &key)?;
    crate::server::access::admin::set_enabled(&state, &caller, &key, enabled).await
}

/// Changes an entry's words, owners, tags or policy (audited with before and after). The
/// change lasts until the catalog file is loaded again.
#[server(endpoint = "admin/entitlement/edit")]
pub async fn edit_entitlement(
    key: String,
    name: String,
    description: String,
    owners: String,
    tags: String,
    policy: String,
) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    let change = crate::server::access::admin::EntitlementChange {
        name: crate::api::text_line("name", &name)?,
        description: crate::api::text_block("description", &description)?,
        owners: crate::api::text_block("owners", &owners)?,
        tags: crate::api::text_line("tags", &tags)?,
        policy: crate::api::text_line("policy", &policy)?,
    };
    let key = crate::api::text_line("key", &key)?;
    crate::server::access::admin::edit_entitlement(&state, &caller, &key, change).await
}

/// Replaces a policy's rules, written as in the catalog file (audited with before and after).
/// Requests already submitted keep the rules they were submitted under.
#[server(endpoint = "admin/policy/edit")]
pub async fn edit_policy(key: String, rules: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    let key = crate::api::text_line("key", &key)?;
    let rules = crate::api::text_block("rules", &rules)?;
    crate::server::access::admin::edit_policy(&state, &caller, &key, &rules).await
}

/// Closes a removal the engine could not carry out (the account or group is gone), after a
/// person checked the directory. Recorded with the note; never as verified.
#[server(endpoint = "admin/resolve-removal")]
pub async fn resolve_removal(grant_id: String, note: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    let grant = crate::api::parse_id("grant_id", &grant_id)?;
    let note = crate::api::text_block("note", &note)?;
    crate::server::access::admin::resolve_removal(&state, &caller, grant, &note).await
}

/// Adopts the Entra user found for a stopped contractor's address: the onboarding goes on
/// with it, the bundle is granted to it. Audited with the administrator's note.
#[server(endpoint = "admin/contractors/adopt")]
pub async fn adopt_contractor_user(
    contractor_id: String,
    note: String,
) -> Result<String, AppError> {
    settle_contractor(contractor_id, note, true).await
}

/// Closes a stopped contractor onboarding without making anything (the account in the way is
/// not theirs): the address is free again. Audited with the administrator's note.
#[server(endpoint = "admin/contractors/close")]
pub async fn close_stopped_contractor(
    contractor_id: String,
    note: String,
) -> Result<String, AppError> {
    settle_contractor(contractor_id, note, false).await
}

#[cfg(feature = "ssr")]
async fn settle_contractor(
    contractor_id: String,
    note: String,
    adopt: bool,
) -> Result<String, AppError> {
    use crate::server::access::admin::Settle;
    let caller = require_admin()?;
    let state = crate::server::state::app_state()?;
    let id = crate::api::parse_id("contractor_id", &contractor_id)?;
    let note = crate::api::text_block("note", &note)?;
    let how = if adopt { Settle::Adopt } else { Settle::Close };
    crate::server::access::admin::settle_stopped(&state, &caller, id, &note, how).await
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

#[server(endpoint = "admin/mail")]
pub async fn get_mail_overview() -> Result<MailOverview, AppError> {
    require_admin()?;
    let state = crate::server::state::app_state()?;
    let (pending, sent_last_day, refused_last_month) =
        crate::server::db::outbox::counts(&state.pool).await?;
    let problems = crate::server::db::outbox::undelivered(&state.pool, 50)
        .await?
        .into_iter()
        .map(|m| MailProblem {
            address: m.address,
            subject: m.subject,
            state: m.state,
            attempts: m.attempts,
            answer: m.last_error.unwrap_or_default(),
            written_at: m.created_at,
            refused_at: m.refused_at,
            request_id: m.request_id,
        })
        .collect();
    Ok(MailOverview {
        server: state
            .settings
            .mail
            .smtp
            .as_ref()
            .map(|s| format!("{}:{}", s.host, s.port)),
        pending,
        sent_last_day,
        refused_last_month,
        problems,
    })
}
