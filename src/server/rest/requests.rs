//! Requests: asked for (idempotently), listed, read, cancelled; and the approvals inbox with its
//! decisions, which only people make.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::approval::Outcome;
use crate::domain::input::{EntitlementKey, Justification, Ticket, Upn};
use crate::domain::problem::Problem;
use crate::domain::request::RequestState;
use crate::domain::window::{MAX_POLICY_MINUTES, RequestedEnd, WindowRequest};
use crate::error::AppError;
use crate::server::app::state::AppState;
use crate::server::db::requests::Listed;
use crate::server::rest::caller::ApiCaller;
use crate::server::rest::cursor;
use crate::server::rest::problem::{ApiError, ProblemDetails};
use crate::server::services::submit::Submission;

/// What a request asks for. Give `minutes` or `ends_at`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The catalog entry's key.
    pub entitlement: String,
    /// How long from the start.
    pub minutes: Option<u32>,
    /// Or when it ends.
    pub ends_at: Option<DateTime<Utc>>,
    /// When it starts; at once (on approval) when absent.
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub justification: String,
    pub ticket: Option<String>,
    /// The sign-in name of the person it is for: a manager's direct report, or anyone for an
    /// application with the automation role (which must name someone).
    pub on_behalf_of: Option<String>,
    /// The address the person connects from, for a VM port without a fixed one.
    pub source_address: Option<String>,
}

/// A request and where it stands.
#[derive(Serialize, ToSchema)]
pub struct Request {
    pub id: Uuid,
    pub entitlement: String,
    pub entitlement_name: String,
    pub state: RequestState,
    /// Sign-in names.
    pub requester: String,
    pub beneficiary: String,
    pub submitted_at: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Undecided until then, it expires.
    pub expires_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub justification: String,
    pub ticket: Option<String>,
    /// For an extension: the lease it moves the end of.
    pub extends_lease: Option<Uuid>,
}

impl From<Listed> for Request {
    fn from(r: Listed) -> Self {
        Self {
            id: r.id,
            entitlement: r.entitlement_key,
            entitlement_name: r.entitlement,
            state: r.state,
            requester: r.requester,
            beneficiary: r.beneficiary,
            submitted_at: r.submitted_at,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            expires_at: r.expires_at,
            closed_at: r.closed_at,
            justification: r.justification,
            ticket: r.ticket,
            extends_lease: r.extends_grant,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RequestPage {
    pub items: Vec<Request>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// From the previous page's `next`.
    cursor: Option<String>,
    /// Items a page, 1 to 200 (50 unless given).
    limit: Option<i64>,
}

/// The header that makes a create safe to retry.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Asks for access. The `Idempotency-Key` header (a UUID the caller makes once per request
/// it means) makes a retry answer with the request the first call made instead of making
/// another.
#[utoipa::path(post, path = "/requests", operation_id = "create_request", tag = "requests", request_body = NewRequest,
    params(("Idempotency-Key" = Uuid, Header, description = "One per request meant: a retry with the same key answers with the first request")),
    responses(
        (status = 201, description = "Submitted (or, for a key seen before, the request it made)", body = Request),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "The caller may not ask for access", body = ProblemDetails),
        (status = 404, description = "No such catalog entry", body = ProblemDetails),
        (status = 409, description = "Not possible now (already held, pending, a key reused for another entry)", body = ProblemDetails),
        (status = 422, description = "A field is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    headers: HeaderMap,
    Json(body): Json<NewRequest>,
) -> Result<Response, ApiError> {
    let (submitter, user) = caller.submitter()?;
    let key = idempotency_key(&headers)?;
    let submission = submission(&body, key)?;
    // What a retry must ask for again: the entry, for the same person.
    let (entry, beneficiary) = (
        submission.entitlement.as_str().to_string(),
        submission
            .on_behalf_of
            .clone()
            .unwrap_or_else(|| user.upn.clone()),
    );
    let services = crate::server::services::submit::Services {
        pool: &state.pool,
        connectors: &state.connectors,
    };
    let submitted =
        crate::server::services::submit::submit_by(services, &submitter, submission).await?;
    let request = crate::server::db::requests::listed(&state.pool, submitted.request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    // A key used again for something else (another entry, another person, an extension) is a
    // mistake of the caller's, not a retry: the first request is not passed off as this one.
    if request.extends_grant.is_some()
        || request.entitlement_key != entry
        || Upn::from_directory(&request.beneficiary) != beneficiary
    {
        return Err(AppError::Conflict(Problem::IdempotencyKeyReused).into());
    }
    Ok(created(
        format!("{}/requests/{}", super::BASE, request.id),
        Request::from(request),
    ))
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Uuid, AppError> {
    headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .ok_or_else(|| AppError::invalid("Idempotency-Key", Problem::IdempotencyKeyNeeded))
}

pub(super) fn created<T: Serialize>(location: String, body: T) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn submission(body: &NewRequest, client_token: Uuid) -> Result<Submission, AppError> {
    let end = match (body.minutes, body.ends_at) {
        (Some(minutes), None) if (1..=MAX_POLICY_MINUTES).contains(&minutes) => {
            RequestedEnd::For { minutes }
        }
        (None, Some(at)) => RequestedEnd::Until(at),
        _ => return Err(AppError::invalid("minutes", Problem::ChooseDuration)),
    };
    let optional =
        |name: &str, text: &Option<String>| super::text(name, text.as_deref().unwrap_or(""), false);
    Ok(Submission {
        entitlement: super::field("entitlement", EntitlementKey::parse(&body.entitlement))?,
        window: WindowRequest {
            start: body.starts_at,
            end,
        },
        justification: super::field(
            "justification",
            Justification::parse(&super::text("justification", &body.justification, true)?),
        )?,
        ticket: super::field("ticket", Ticket::parse(&optional("ticket", &body.ticket)?))?,
        on_behalf_of: super::field(
            "on_behalf_of",
            Upn::parse_optional(&optional("on_behalf_of", &body.on_behalf_of)?),
        )?,
        client_token,
        source_address: optional("source_address", &body.source_address)?,
    })
}

/// The caller's requests, newest first: those they asked for and those for them.
#[utoipa::path(get, path = "/requests", operation_id = "list_requests", tag = "requests", params(Paging),
    responses(
        (status = 200, description = "A page of requests", body = RequestPage),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Auditor applications have no requests", body = ProblemDetails),
        (status = 422, description = "A bad cursor or limit", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Query(paging): Query<Paging>,
) -> Result<Json<RequestPage>, ApiError> {
    let (_, user) = caller.submitter()?;
    let limit = cursor::limit(paging.limit)?;
    let before = paging.cursor.as_deref().map(cursor::to_time).transpose()?;
    let mut found = crate::server::db::requests::of_principal(
        &state.pool,
        user.principal_id,
        before,
        limit + 1,
    )
    .await?;
    let next = if found.len() as i64 > limit {
        found.truncate(limit as usize);
        found.last().map(|r| cursor::of_time(r.submitted_at, r.id))
    } else {
        None
    };
    Ok(Json(RequestPage {
        items: found.into_iter().map(Request::from).collect(),
        next,
    }))
}

/// One request: the requester's, the beneficiary's, or anyone's for the governance roles and
/// auditor applications. Others are told it does not exist.
#[utoipa::path(get, path = "/requests/{id}", operation_id = "get_request", tag = "requests",
    params(("id" = Uuid, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = Request),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 404, description = "No such request the caller may see", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
) -> Result<Json<Request>, ApiError> {
    let id = super::id("id", &id)?;
    let request = crate::server::db::requests::listed(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let user = caller.anyone();
    let own =
        request.requester_id == user.principal_id || request.beneficiary_id == user.principal_id;
    let reader = caller
        .governance()
        .is_ok_and(|u| crate::server::services::may_read_trail(u).is_ok());
    if !own && !reader {
        return Err(AppError::NotFound.into());
    }
    Ok(Json(request.into()))
}

/// Withdraws a pending request (its requester or the person it is for).
#[utoipa::path(post, path = "/requests/{id}/cancel", operation_id = "cancel_request", tag = "requests",
    params(("id" = Uuid, Path, description = "The request's id")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not the caller's request", body = ProblemDetails),
        (status = 404, description = "No such request", body = ProblemDetails),
        (status = 409, description = "No longer pending", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (_, user) = caller.submitter()?;
    let id = super::id("id", &id)?;
    crate::server::services::lifecycle::cancel(&state, user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A request that waits for the caller's decision.
#[derive(Serialize, ToSchema)]
pub struct Waiting {
    pub request_id: Uuid,
    /// Display names.
    pub requester: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub system: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub justification: String,
    pub ticket: Option<String>,
    pub submitted_at: DateTime<Utc>,
    /// Where the approval stands, in words.
    pub progress: String,
    /// What approvers should know ("already holds it through group X").
    pub hints: Vec<String>,
}

/// Requests waiting for the caller's decision (people only).
#[utoipa::path(get, path = "/approvals", operation_id = "list_approvals", tag = "requests",
    responses(
        (status = 200, description = "Waiting requests", body = Vec<Waiting>),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Applications do not decide", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn inbox(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
) -> Result<Json<Vec<Waiting>>, ApiError> {
    let user = caller.person()?;
    let inbox = crate::server::services::views::inbox(&state, user).await?;
    Ok(Json(
        inbox
            .waiting
            .into_iter()
            .map(|i| Waiting {
                request_id: i.request_id,
                requester: i.requester,
                beneficiary: i.beneficiary,
                entitlement: i.entitlement,
                system: i.system,
                starts_at: i.starts_at,
                ends_at: i.ends_at,
                justification: i.justification,
                ticket: i.ticket,
                submitted_at: i.submitted_at,
                progress: i.progress,
                hints: i.hints,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub outcome: Outcome,
    /// Why; required by some policies for a denial.
    #[serde(default)]
    pub comment: String,
}

/// Approves or denies a request waiting for the caller: never their own, and people only.
#[utoipa::path(post, path = "/approvals/{id}/decision", operation_id = "decide_request", tag = "requests", request_body = Decision,
    params(("id" = Uuid, Path, description = "The request's id")),
    responses(
        (status = 200, description = "Decided; the request as it stands now", body = Request),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not the caller's to decide (their own, not an approver, an application)", body = ProblemDetails),
        (status = 404, description = "No such request", body = ProblemDetails),
        (status = 409, description = "Already decided, or expired", body = ProblemDetails),
        (status = 422, description = "A field is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn decide(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
    Json(body): Json<Decision>,
) -> Result<Json<Request>, ApiError> {
    let user = caller.person()?;
    let id = super::id("id", &id)?;
    let comment = super::text("comment", &body.comment, true)?;
    crate::server::services::decide::decide(&state, user, id, body.outcome, &comment).await?;
    let request = crate::server::db::requests::listed(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(request.into()))
}
