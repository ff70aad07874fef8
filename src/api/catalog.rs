//! The catalog: what can be requested, and each entry's rules in plain words.

use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::catalog::*;

/// Searches the catalog by name, description, system and tag. An empty query lists all.
#[server(endpoint = "catalog")]
pub async fn list_catalog(query: String) -> Result<Vec<CatalogItem>, AppError> {
    crate::server::app::auth::caller::caller()?;
    let query = crate::api::text_line("query", &query)?;
    if query.chars().count() > 200 {
        return Err(AppError::invalid(
            "query",
            crate::domain::problem::Problem::SearchTooLong { max_chars: 200 },
        ));
    }
    let state = crate::server::app::state::app_state()?;
    crate::server::services::catalog::list(&state, &query).await
}

#[server(endpoint = "entitlement")]
pub async fn get_entitlement(key: String) -> Result<EntitlementDetail, AppError> {
    let caller = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let key = crate::api::text_line("key", &key)?;
    let seen = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|info| info.0.ip());
    crate::server::services::catalog::detail(&state, &caller, &key, seen).await
}
