//! Reconciliation's findings: access the target systems list that no lease covers, or that
//! disagrees with a lease; passes on request; standing holders declared by owners.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::findings::*;

/// The findings the caller may see (governance roles: all; owners: their entries').
#[server(endpoint = "governance/findings")]
pub async fn list_findings(query: FindingQuery) -> Result<Findings, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::findings::list(&state, &caller, &query).await
}

/// How many findings are open on the entries the caller owns; `None` when they own none. The
/// approvals page shows owners the way to their findings with it.
#[server(endpoint = "governance/owned-findings")]
pub async fn owned_findings() -> Result<Option<i64>, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::findings::owned_open(&state, &caller).await
}

/// Passes one entry now (its key), or asks for a pass of every entry (empty). Administrators.
#[server(endpoint = "governance/reconcile")]
pub async fn reconcile_now(entitlement: String) -> Result<Reconciled, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let entitlement = match entitlement.trim() {
        "" => None,
        key => Some(crate::api::field(
            "entitlement",
            crate::domain::input::EntitlementKey::parse(key),
        )?),
    };
    crate::server::services::findings::reconcile_now(&state, &caller, entitlement).await
}

/// Declares a finding's account a standing holder of its entry until a day, with a reason.
#[server(endpoint = "governance/declare")]
pub async fn declare_standing(
    finding_id: String,
    reason: String,
    until: String,
    offset: String,
) -> Result<(), AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let finding = crate::api::parse_id("finding_id", &finding_id)?;
    let reason = crate::api::forms::declaration_reason(&reason)?;
    let until = crate::api::forms::declaration_until(&until, &offset, chrono::Utc::now())?;
    crate::server::services::findings::declare(&state, &caller, finding, &reason, until).await
}

/// Withdraws a standing holder's declaration before its end.
#[server(endpoint = "governance/withdraw-declaration")]
pub async fn withdraw_declaration(declaration_id: String) -> Result<(), AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let declaration = crate::api::parse_id("declaration_id", &declaration_id)?;
    crate::server::services::findings::withdraw(&state, &caller, declaration).await
}

/// Removes a finding's access now, and reads the target back. `true`: read back absent.
#[server(endpoint = "governance/remove-finding")]
pub async fn remove_finding(finding_id: String) -> Result<bool, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let finding = crate::api::parse_id("finding_id", &finding_id)?;
    crate::server::services::findings::remove_now(&state, &caller, finding).await
}
