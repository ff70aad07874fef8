//! The caller's leases: listed, given back, extended. People only: applications hold nothing.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::grant::GrantState;
use crate::domain::input::Justification;
use crate::domain::problem::Problem;
use crate::domain::window::MAX_POLICY_MINUTES;
use crate::error::AppError;
use crate::server::app::state::AppState;
use crate::server::rest::caller::ApiCaller;
use crate::server::rest::problem::{ApiError, ProblemDetails};
use crate::server::rest::requests::{Request, created, idempotency_key};
use crate::server::services::lifecycle::Extension as MoreTime;

/// Access the caller holds, or will hold from its start.
#[derive(Serialize, ToSchema)]
pub struct Lease {
    pub id: Uuid,
    pub entitlement: String,
    pub entitlement_name: String,
    pub state: GrantState,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Its end has passed and the removal is late.
    pub overdue: bool,
    /// A bundle's parts and their states; empty for one entry.
    pub parts: Vec<LeasePart>,
}

#[derive(Serialize, ToSchema)]
pub struct LeasePart {
    pub entitlement_name: String,
    pub system: String,
    pub state: GrantState,
    pub overdue: bool,
}

/// The caller's live leases.
#[utoipa::path(get, path = "/leases", operation_id = "list_leases", tag = "leases",
    responses(
        (status = 200, description = "Live leases", body = Vec<Lease>),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Applications hold no leases", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<Lease>>, ApiError> {
    let user = caller.person()?;
    let mine = crate::server::services::views::my_access(&state, user).await?;
    Ok(Json(
        mine.leases
            .into_iter()
            .map(|l| Lease {
                id: l.grant_id,
                entitlement: l.entitlement_key,
                entitlement_name: l.entitlement,
                state: l.state,
                starts_at: l.starts_at,
                ends_at: l.ends_at,
                overdue: l.overdue,
                parts: l
                    .parts
                    .into_iter()
                    .map(|p| LeasePart {
                        entitlement_name: p.entitlement,
                        system: p.system,
                        state: p.state,
                        overdue: p.overdue,
                    })
                    .collect(),
            })
            .collect(),
    ))
}

/// Gives a lease back now: the access is removed at once, and read back.
#[utoipa::path(post, path = "/leases/{id}/give-back", operation_id = "give_back_lease", tag = "leases",
    params(("id" = Uuid, Path, description = "The lease's id")),
    responses(
        (status = 204, description = "Given back; the removal is under way"),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not the caller's lease, or an application", body = ProblemDetails),
        (status = 404, description = "No such lease", body = ProblemDetails),
        (status = 409, description = "Not live", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn give_back(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = caller.person()?;
    let id = super::id("id", &id)?;
    crate::server::services::lifecycle::give_back(&state, user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoreTimeAsked {
    /// Minutes added to the lease's end.
    pub minutes: u32,
    pub justification: String,
}

/// Asks for more time: a request under the entry's policy that, once approved, moves the end.
/// Takes an `Idempotency-Key` like a new request.
#[utoipa::path(post, path = "/leases/{id}/extend", operation_id = "extend_lease", tag = "leases", request_body = MoreTimeAsked,
    params(
        ("id" = Uuid, Path, description = "The lease's id"),
        ("Idempotency-Key" = Uuid, Header, description = "One per extension meant"),
    ),
    responses(
        (status = 201, description = "The extension's request", body = Request),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not the caller's lease, or an application", body = ProblemDetails),
        (status = 404, description = "No such lease", body = ProblemDetails),
        (status = 409, description = "Not live, or already being extended", body = ProblemDetails),
        (status = 422, description = "A field is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn extend(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<MoreTimeAsked>,
) -> Result<Response, ApiError> {
    let user = caller.person()?;
    let grant = super::id("id", &id)?;
    let client_token = idempotency_key(&headers)?;
    if !(1..=MAX_POLICY_MINUTES).contains(&body.minutes) {
        return Err(AppError::invalid("minutes", Problem::ChooseMoreTime).into());
    }
    let justification = super::field(
        "justification",
        Justification::parse(&super::text("justification", &body.justification, true)?),
    )?;
    let submitted = crate::server::services::lifecycle::extend(
        &state,
        user,
        MoreTime {
            grant,
            minutes: body.minutes,
            justification,
            client_token,
        },
    )
    .await?;
    let request = crate::server::db::requests::listed(&state.pool, submitted.request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // The key of another request (a new one, or another lease's extension) is not a retry.
    if request.extends_grant != Some(grant) {
        return Err(AppError::Conflict(Problem::IdempotencyKeyReused).into());
    }
    Ok(created(
        format!("{}/requests/{}", super::BASE, request.id),
        Request::from(request),
    ))
}
