//! Contractors: temporary identities for external people, asked for by their sponsor.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::contractors::*;

#[server(endpoint = "contractors")]
pub async fn get_contractors() -> Result<ContractorsPage, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::contractors::page(&state, &caller).await
}

#[server(endpoint = "contractors/onboard")]
pub async fn onboard_contractor(form: ContractorForm) -> Result<Onboarded, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let form = crate::api::forms::contractor(&form)?;
    crate::server::services::contractors::onboard(&state, &caller, form).await
}

/// A new first password for the contractor's AD account, shown once to their sponsor.
#[server(endpoint = "contractors/password")]
pub async fn issue_password(contractor_id: String) -> Result<IssuedPassword, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("contractor_id", &contractor_id)?;
    let password =
        crate::server::services::contractors::issue_password(&state, &caller, id).await?;
    Ok(IssuedPassword {
        contractor_id: id,
        password,
    })
}

/// Asks for more time for a contractor: approved like their first request.
#[server(endpoint = "contractors/extend")]
pub async fn extend_contractor(form: ExtensionForm) -> Result<Onboarded, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let asked = crate::api::forms::contractor_extension(&form)?;
    crate::server::services::contractors::extend(&state, &caller, asked).await
}
