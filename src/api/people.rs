//! People as the directories describe them, for administrators and auditors: who they are,
//! their accounts in each system, their managers, what they hold and what happened to them.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::people::*;

#[cfg(feature = "ssr")]
fn require_governance() -> Result<(), AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    if crate::domain::role::can_view_governance(&caller.roles) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// People whose name or sign-in name contains `query` (everyone when empty), at most 100.
#[server(endpoint = "governance/people")]
pub async fn find_people(query: String) -> Result<Vec<PersonRow>, AppError> {
    require_governance()?;
    let state = crate::server::app::state::app_state()?;
    let query = crate::api::text_line("query", &query)?;
    crate::server::services::person::find(&state, &query).await
}

#[server(endpoint = "governance/person")]
pub async fn get_person(person_id: String) -> Result<PersonDetail, AppError> {
    require_governance()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("person_id", &person_id)?;
    crate::server::services::person::detail(&state, id).await
}
