//! Who held which access, now or at any past moment, for the governance view; and taking live
//! access away before its end (one lease, or every lease of an account during an incident).

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::holdings::*;

/// Who held what in a moment or a period, from the grants' history.
#[server(endpoint = "governance/holdings")]
pub async fn who_held(query: HoldingQuery) -> Result<Holdings, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    if !crate::domain::role::can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let state = crate::server::app::state::app_state()?;
    let question = crate::api::forms::holding_question(&query)?;
    crate::server::services::holdings::held(&state, &caller, question).await
}

/// Takes one live lease away now, with a reason the holder, the owners and the trail read.
#[server(endpoint = "governance/revoke")]
pub async fn revoke_lease(grant_id: String, reason: String) -> Result<(), AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let grant = crate::api::parse_id("grant_id", &grant_id)?;
    let reason = crate::api::forms::revocation_reason(&reason)?;
    crate::server::services::holdings::revoke(&state, &caller, grant, &reason).await
}

/// Takes every live lease of one person away now ("contain this account").
#[server(endpoint = "governance/contain")]
pub async fn contain_account(person_id: String, reason: String) -> Result<Contained, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let person = crate::api::parse_id("person_id", &person_id)?;
    let reason = crate::api::forms::revocation_reason(&reason)?;
    crate::server::services::holdings::contain(&state, &caller, person, &reason).await
}
