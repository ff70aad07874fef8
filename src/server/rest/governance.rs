//! Reconciliation's findings, and break-glass uses with their reviews.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::types::findings::FindingQuery;
use crate::domain::reconcile::{Closure, FindingAction, FindingKind};
use crate::server::app::state::AppState;
use crate::server::rest::caller::ApiCaller;
use crate::server::rest::problem::{ApiError, ProblemDetails};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Which {
    /// `open` (the default), `closed` or `all`.
    state: Option<String>,
    /// One catalog entry's key.
    entitlement: Option<String>,
}

/// Access a target system lists that no lease covers, or that disagrees with a lease.
#[derive(Serialize, ToSchema)]
pub struct Finding {
    pub id: Uuid,
    pub kind: FindingKind,
    pub entitlement: String,
    pub system: String,
    /// The account as the target lists it, and its name there.
    pub account_ref: String,
    pub account_label: String,
    /// The person it belongs to, where the portal knows them.
    pub holder: Option<String>,
    /// For drift: the lease the target disagrees with.
    pub lease_id: Option<Uuid>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_reason: Option<Closure>,
    pub action: FindingAction,
    pub acted_by: Option<String>,
    pub acted_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct Findings {
    /// Newest first.
    pub items: Vec<Finding>,
    /// More matched than the 500 listed: narrow by entitlement or state.
    pub truncated: bool,
}

/// Reconciliation's findings: all of them for the governance roles and auditor applications,
/// their own entries' for owners.
#[utoipa::path(get, path = "/findings", operation_id = "list_findings", tag = "audit", params(Which),
    responses(
        (status = 200, description = "Findings", body = Findings),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Neither a governance role nor an owner", body = ProblemDetails),
        (status = 422, description = "A field is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn findings(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Query(which): Query<Which>,
) -> Result<Json<Findings>, ApiError> {
    let user = caller.governance()?;
    let query = FindingQuery {
        state: super::text("state", which.state.as_deref().unwrap_or(""), false)?,
        entitlement: super::text(
            "entitlement",
            which.entitlement.as_deref().unwrap_or(""),
            false,
        )?,
    };
    let found = crate::server::services::findings::list(&state, user, &query).await?;
    Ok(Json(Findings {
        items: found
            .rows
            .into_iter()
            .map(|f| Finding {
                id: f.id,
                kind: f.kind,
                entitlement: f.entitlement_key,
                system: f.system,
                account_ref: f.account_ref,
                account_label: f.account_label,
                holder: f.holder,
                lease_id: f.grant_id,
                first_seen: f.first_seen,
                last_seen: f.last_seen,
                closed_at: f.closed_at,
                closed_reason: f.closed_reason,
                action: f.action,
                acted_by: f.acted_by,
                acted_at: f.acted_at,
            })
            .collect(),
        truncated: found.more,
    }))
}

/// A break-glass use: access granted at once, reviewed by an owner afterwards.
#[derive(Serialize, ToSchema)]
pub struct EmergencyUse {
    pub request_id: Uuid,
    pub entitlement: String,
    pub who: String,
    pub justification: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// When its review was closed, by whom, and the verdict (`justified`, `not_justified`).
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub verdict: Option<String>,
    pub note: Option<String>,
}

fn emergency(u: crate::api::types::emergency::EmergencyUse) -> EmergencyUse {
    EmergencyUse {
        request_id: u.request_id,
        entitlement: u.entitlement,
        who: u.who,
        justification: u.justification,
        starts_at: u.starts_at,
        ends_at: u.ends_at,
        closed_at: u.closed_at,
        closed_by: u.closed_by,
        verdict: u.verdict,
        note: u.note,
    }
}

/// Every break-glass use with its review (the governance roles, auditor applications).
/// Break-glass itself is asked for like any access: `POST /requests` for an emergency entry.
#[utoipa::path(get, path = "/break-glass", operation_id = "list_emergency_uses", tag = "audit",
    responses(
        (status = 200, description = "Uses, newest first", body = Vec<EmergencyUse>),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not a governance role or an auditor application", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn emergency_uses(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<EmergencyUse>>, ApiError> {
    let user = caller.governance()?;
    let uses = crate::server::services::emergency::all(&state, user).await?;
    Ok(Json(uses.into_iter().map(emergency).collect()))
}

/// Break-glass uses of entries the caller owns that wait for their review (people only).
#[utoipa::path(get, path = "/break-glass/reviews", operation_id = "list_emergency_reviews", tag = "requests",
    responses(
        (status = 200, description = "Uses waiting for the caller's review", body = Vec<EmergencyUse>),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Applications do not review", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn to_review(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<EmergencyUse>>, ApiError> {
    let user = caller.person()?;
    let uses = crate::server::services::emergency::to_review(&state, user).await?;
    Ok(Json(uses.into_iter().map(emergency).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// `justified` or `not_justified`.
    pub verdict: String,
    /// Why, in a sentence or more.
    pub note: String,
}

/// Closes the review of a break-glass use: an owner of the entry, never the one who used it.
#[utoipa::path(post, path = "/break-glass/{id}/review", operation_id = "review_emergency_use", tag = "requests",
    request_body = Review,
    params(("id" = Uuid, Path, description = "The use's request id")),
    responses(
        (status = 200, description = "Closed; the uses still waiting for the caller's review", body = Vec<EmergencyUse>),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not an owner, the user themself, or an application", body = ProblemDetails),
        (status = 404, description = "No such use", body = ProblemDetails),
        (status = 409, description = "Already reviewed", body = ProblemDetails),
        (status = 422, description = "A field is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn review(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
    Json(body): Json<Review>,
) -> Result<Json<Vec<EmergencyUse>>, ApiError> {
    let user = caller.person()?;
    let id = super::id("id", &id)?;
    let note = super::text("note", &body.note, true)?;
    crate::server::services::emergency::close(&state, user, id, &body.verdict, &note).await?;
    let left = crate::server::services::emergency::to_review(&state, user).await?;
    Ok(Json(left.into_iter().map(emergency).collect()))
}
