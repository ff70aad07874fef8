//! A person's own access: live leases, requests in flight, and history.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::my_access::*;

#[server(endpoint = "my-access")]
pub async fn get_my_access() -> Result<MyAccess, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::views::my_access(&state, &caller).await
}

/// Gives a lease back now; the access is removed at once.
#[server(endpoint = "lease/give-back")]
pub async fn give_back(grant_id: String) -> Result<(), AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("grant_id", &grant_id)?;
    crate::server::services::lifecycle::give_back(&state, &caller, id).await
}

/// Asks for more time on a lease: a new request under the same policy that, once approved,
/// moves the lease's end.
#[server(endpoint = "lease/extend")]
pub async fn extend_lease(
    grant_id: String,
    minutes: String,
    justification: String,
    client_token: String,
) -> Result<crate::api::requests::Submitted, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let extension =
        crate::api::forms::extension(&grant_id, &minutes, &justification, &client_token)?;
    crate::server::services::lifecycle::extend(&state, &caller, extension).await
}
