//! `GET /catalog` and `GET /catalog/{key}`: what can be requested, for any caller.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::access::EntitlementKind;
use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::app::state::AppState;
use crate::server::rest::caller::ApiCaller;
use crate::server::rest::problem::{ApiError, ProblemDetails};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// Words to find in the name, description, system or tags; everything when absent.
    q: Option<String>,
}

/// A catalog entry, as listed.
#[derive(Serialize, ToSchema)]
pub struct Entry {
    pub key: String,
    pub name: String,
    pub description: String,
    pub kind: EntitlementKind,
    /// The connected system that holds the access.
    pub system: String,
    pub tags: Vec<String>,
    /// Who approves, in words.
    pub approval: String,
    pub max_minutes: u32,
}

/// A catalog entry with its rules.
#[derive(Serialize, ToSchema)]
pub struct EntryDetail {
    pub key: String,
    pub name: String,
    pub description: String,
    pub kind: EntitlementKind,
    pub system: String,
    /// What is granted in the system (a group's name, a role, a port).
    pub target: String,
    pub owners: Vec<String>,
    pub tags: Vec<String>,
    /// The policy, in English sentences.
    pub rules: Vec<String>,
    pub default_minutes: u32,
    pub min_minutes: u32,
    pub max_minutes: u32,
    pub presets_minutes: Vec<u32>,
    /// How far ahead a request may start.
    pub max_start_delay_minutes: u32,
    pub justification_required: bool,
    pub ticket_required: bool,
    /// The request must name the address it connects from (`source_address`).
    pub asks_source_address: bool,
    /// A bundle's parts; empty for an entry of one system.
    pub parts: Vec<String>,
}

/// Searches the catalog.
#[utoipa::path(get, path = "/catalog", operation_id = "list_catalog", tag = "catalog", params(Search),
    responses(
        (status = 200, description = "Matching entries", body = Vec<Entry>),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 422, description = "The search is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn list(
    State(state): State<AppState>,
    // Any caller the API takes (the layer in front has checked the token).
    Extension(_caller): Extension<ApiCaller>,
    Query(search): Query<Search>,
) -> Result<Json<Vec<Entry>>, ApiError> {
    let query = super::text("q", search.q.as_deref().unwrap_or(""), false)?;
    if query.chars().count() > 200 {
        return Err(AppError::invalid("q", Problem::SearchTooLong { max_chars: 200 }).into());
    }
    let items = crate::server::services::catalog::list(&state, &query).await?;
    Ok(Json(
        items
            .into_iter()
            .map(|i| Entry {
                kind: i.access.kind(),
                key: i.key,
                name: i.name,
                description: i.description,
                system: i.system,
                tags: i.tags,
                approval: i.approval,
                max_minutes: i.max_minutes,
            })
            .collect(),
    ))
}

/// One catalog entry and its rules.
#[utoipa::path(get, path = "/catalog/{key}", operation_id = "get_catalog_entry", tag = "catalog",
    params(("key" = String, Path, description = "The entry's key")),
    responses(
        (status = 200, description = "The entry", body = EntryDetail),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 404, description = "No such entry", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(key): Path<String>,
) -> Result<Json<EntryDetail>, ApiError> {
    let key = super::text("key", &key, false)?;
    let d = crate::server::services::catalog::detail(&state, caller.anyone(), &key, None).await?;
    Ok(Json(EntryDetail {
        kind: d.access.kind(),
        key: d.key,
        name: d.name,
        description: d.description,
        system: d.system,
        target: d.target,
        owners: d.owners,
        tags: d.tags,
        rules: d.rules,
        default_minutes: d.default_minutes,
        min_minutes: d.min_minutes,
        max_minutes: d.max_minutes,
        presets_minutes: d.presets_minutes,
        max_start_delay_minutes: d.max_start_delay_minutes,
        justification_required: d.justification_required,
        ticket_required: d.ticket_required,
        asks_source_address: d.asks_source,
        parts: d.parts.into_iter().map(|p| p.key).collect(),
    }))
}
