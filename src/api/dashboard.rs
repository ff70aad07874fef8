//! The governance dashboard: leases, requests, decisions, removals, findings, reviews and the
//! connected systems over a range, for the governance roles.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::dashboard::*;

/// The dashboard for the query's range and filters. Auditors, administrators, security
/// operations.
#[server(endpoint = "governance/dashboard")]
pub async fn governance_dashboard(query: DashboardQuery) -> Result<Dashboard, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::dashboard::dashboard(&state, &caller, &query).await
}
