//! The admin area: connectors and their health, the catalog, and reloading it from its file.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::admin::*;

#[cfg(feature = "ssr")]
fn require_admin() -> Result<crate::server::app::auth::session::SessionUser, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    if crate::domain::role::can_administer(&caller.roles) {
        Ok(caller)
    } else {
        Err(AppError::Forbidden)
    }
}

#[server(endpoint = "admin")]
pub async fn get_admin_overview() -> Result<AdminOverview, AppError> {
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::admin::overview(&state, &caller).await
}

/// Approves another administrator's catalog change; it takes effect at once.
#[server(endpoint = "admin/change/approve")]
pub async fn approve_catalog_change(change_id: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("change_id", &change_id)?;
    crate::server::services::changes::approve(&state, &caller, id)
        .await
        .map(|done| done.to_string())
}

/// Rejects a catalog change (or withdraws one's own).
#[server(endpoint = "admin/change/reject")]
pub async fn reject_catalog_change(change_id: String, comment: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("change_id", &change_id)?;
    let comment = crate::api::text_block("comment", &comment)?;
    crate::server::services::changes::reject(&state, &caller, id, &comment)
        .await
        .map(|done| done.to_string())
}

/// Asks for a pass of a people source now: `how` is `now` (incremental where it can be),
/// `complete` (everyone read, anyone missing acted on), `force` (applied past `max_leavers`) or
/// `accept-directory` (applied from the other directory a refused pass found).
#[server(endpoint = "admin/people-sync")]
pub async fn sync_people(connector: String, how: String) -> Result<String, AppError> {
    use crate::server::services::admin::PassRequest;
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    let connector = crate::api::text_line("connector", &connector)?;
    let how = match how.as_str() {
        "now" => PassRequest::Now,
        "complete" => PassRequest::Complete,
        "force" => PassRequest::Forced,
        "accept-directory" => PassRequest::AcceptDirectory,
        _ => {
            return Err(AppError::invalid(
                "how",
                crate::domain::problem::Problem::ChoosePassKind,
            ));
        }
    };
    crate::server::services::admin::sync_people(&state, &caller, &connector, how)
        .await
        .map(|done| done.to_string())
}

/// Every background job's last run, next due instant and last error.
#[server(endpoint = "admin/jobs")]
pub async fn get_jobs() -> Result<Vec<JobView>, AppError> {
    require_admin()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::admin::jobs(&state).await
}

/// Reads the catalog file again and stores it (audited as the caller).
#[server(endpoint = "admin/reload-catalog")]
pub async fn reload_catalog() -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::admin::reload(&state, &caller)
        .await
        .map(|done| done.to_string())
}

/// Takes an entry out of the catalog (or puts it back) until the file is next loaded.
#[server(endpoint = "admin/entitlement")]
pub async fn set_entitlement_enabled(key: String, enabled: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let enabled = match enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(AppError::invalid(
                "enabled",
                crate::domain::problem::Problem::ChooseEnabled,
            ));
        }
    };
    let state = crate::server::app::state::app_state()?;
    let key = crate::api::text_line("key", &key)?;
    crate::server::services::admin::set_enabled(&state, &caller, &key, enabled)
        .await
        .map(|done| done.to_string())
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
    let state = crate::server::app::state::app_state()?;
    let change = crate::server::services::catalog_edits::EntitlementChange {
        name: crate::api::text_line("name", &name)?,
        description: crate::api::text_block("description", &description)?,
        owners: crate::api::text_block("owners", &owners)?,
        tags: crate::api::text_line("tags", &tags)?,
        policy: crate::api::text_line("policy", &policy)?,
    };
    let key = crate::api::text_line("key", &key)?;
    crate::server::services::admin::edit_entitlement(&state, &caller, &key, change)
        .await
        .map(|done| done.to_string())
}

/// Replaces a policy's rules, written as in the catalog file (audited with before and after).
/// Requests already submitted keep the rules they were submitted under.
#[server(endpoint = "admin/policy/edit")]
pub async fn edit_policy(key: String, rules: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    let key = crate::api::text_line("key", &key)?;
    let rules = crate::api::text_block("rules", &rules)?;
    crate::server::services::admin::edit_policy(&state, &caller, &key, &rules)
        .await
        .map(|done| done.to_string())
}

/// Closes a removal the engine could not carry out (the account or group is gone), after a
/// person checked the directory. Recorded with the note; never as verified.
#[server(endpoint = "admin/resolve-removal")]
pub async fn resolve_removal(grant_id: String, note: String) -> Result<String, AppError> {
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    let grant = crate::api::parse_id("grant_id", &grant_id)?;
    let note = crate::api::text_block("note", &note)?;
    crate::server::services::admin::resolve_removal(&state, &caller, grant, &note)
        .await
        .map(|done| done.to_string())
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
    use crate::server::services::admin::Settle;
    let caller = require_admin()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("contractor_id", &contractor_id)?;
    let note = crate::api::text_block("note", &note)?;
    let how = if adopt { Settle::Adopt } else { Settle::Close };
    crate::server::services::admin::settle_stopped(&state, &caller, id, &note, how)
        .await
        .map(|done| done.to_string())
}

#[server(endpoint = "admin/mail")]
pub async fn get_mail_overview() -> Result<MailOverview, AppError> {
    require_admin()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::admin::mail_overview(&state).await
}
