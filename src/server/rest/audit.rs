//! The audit trail: searched by page, its chain verified, and exported as evidence. The
//! governance roles and applications with the auditor role.

use axum::Extension;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::types::governance::EventQuery;
use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::app::state::AppState;
use crate::server::rest::caller::ApiCaller;
use crate::server::rest::cursor;
use crate::server::rest::problem::{ApiError, ProblemDetails};
use crate::server::services::evidence::Format;
use crate::text::lang::Language;

/// What to find; every field optional. Dates are `YYYY-MM-DD`, UTC, both included.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct Search {
    /// Part of the name or sign-in name of the actor or the person an event is about.
    who: String,
    /// Part of a catalog entry's name or key.
    what: String,
    /// An action (`grant.revoked`) or its family (`grant`).
    action: String,
    from: String,
    to: String,
    /// Events by or about this person (their id).
    person: String,
    /// Events about this request and the access it produced.
    request: String,
}

impl Search {
    fn query(self, before: String) -> EventQuery {
        EventQuery {
            who: self.who,
            what: self.what,
            action: self.action,
            from: self.from,
            to: self.to,
            person: self.person,
            request: self.request,
            before,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// From the previous page's `next`.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Event {
    /// The event's place in the hash chain.
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub request_id: Option<Uuid>,
    /// In English.
    pub summary: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Newest first.
    pub items: Vec<Event>,
    pub next: Option<String>,
}

/// Searches the audit trail, newest first.
#[utoipa::path(get, path = "/audit/events", operation_id = "search_audit_events", tag = "audit", params(Search, Paging),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not a governance role or an auditor application", body = ProblemDetails),
        (status = 422, description = "A field is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Query(search): Query<Search>,
    Query(paging): Query<Paging>,
) -> Result<Json<EventPage>, ApiError> {
    let user = caller.governance()?;
    let before = match paging.cursor.as_deref() {
        Some(c) => cursor::to_position(c)?.to_string(),
        None => String::new(),
    };
    let page = crate::server::services::evidence::page(&state, user, &search.query(before)).await?;
    Ok(Json(EventPage {
        items: page
            .events
            .into_iter()
            .map(|e| Event {
                position: e.position,
                occurred_at: e.occurred_at,
                actor: e.actor,
                action: e.action,
                request_id: e.request_id,
                summary: e.summary,
            })
            .collect(),
        next: page.older.map(cursor::of_position),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Scope {
    /// Recompute every event from the first, not only those after the last good signed
    /// checkpoint.
    #[serde(default)]
    whole: bool,
}

/// The hash chain checked.
#[derive(Serialize, ToSchema)]
pub struct ChainCheck {
    pub intact: bool,
    pub events: i64,
    /// The first position whose hash does not match.
    pub first_break: Option<i64>,
    pub checkpoints: usize,
    /// Checkpoints whose signature or hash does not match.
    pub mismatched: Vec<i64>,
    /// False without a signing key: the chain is then not anchored outside the database.
    pub signed: bool,
    pub last_signed_at: Option<DateTime<Utc>>,
    /// Events were recomputed after this position; absent when the whole chain was.
    pub checked_after: Option<i64>,
}

/// Verifies the audit trail's hash chain and its signed checkpoints.
#[utoipa::path(get, path = "/audit/verify", operation_id = "verify_audit_chain", tag = "audit", params(Scope),
    responses(
        (status = 200, description = "The check", body = ChainCheck),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not a governance role or an auditor application", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Query(scope): Query<Scope>,
) -> Result<Json<ChainCheck>, ApiError> {
    use crate::server::jobs::checkpoints::Scope as Checked;
    let user = caller.governance()?;
    let scope = if scope.whole {
        Checked::Whole
    } else {
        Checked::SinceCheckpoint
    };
    let c = crate::server::services::views::verify_chain(&state, user, scope).await?;
    Ok(Json(ChainCheck {
        intact: c.intact,
        events: c.events,
        first_break: c.first_break,
        checkpoints: c.checkpoints,
        mismatched: c.mismatched,
        signed: c.signed,
        last_signed_at: c.last_signed_at,
        checked_after: c.checked_after,
    }))
}

/// An export: its format and what to find (as for `GET /audit/events`). A field the portal does
/// not know is refused rather than ignored, so a misspelt filter never exports the whole trail.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceAsked {
    /// `csv` or `json` (the JSON carries the chain's proof: docs/evidence.md).
    format: String,
    #[serde(default)]
    who: String,
    #[serde(default)]
    what: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    request: String,
}

/// Exports every matching event, oldest first, as a file (streamed). The export itself is
/// recorded in the trail, hence a POST.
#[utoipa::path(post, path = "/evidence", operation_id = "export_evidence", tag = "audit", request_body = EvidenceAsked,
    responses(
        (status = 200, description = "The evidence file", content(
            (String = "text/csv"),
            (Object = "application/json"),
        )),
        (status = 401, description = "No valid token", body = ProblemDetails),
        (status = 403, description = "Not a governance role or an auditor application", body = ProblemDetails),
        (status = 422, description = "A field is not valid", body = ProblemDetails),
        (status = 429, description = "Too many calls", body = ProblemDetails),
    ))]
pub async fn evidence(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Json(asked): Json<EvidenceAsked>,
) -> Result<Response, ApiError> {
    let user = caller.governance()?;
    let format = Format::parse(asked.format.trim())
        .ok_or_else(|| AppError::invalid("format", Problem::ChooseFormat))?;
    let query = EventQuery {
        who: asked.who,
        what: asked.what,
        action: asked.action,
        from: asked.from,
        to: asked.to,
        person: asked.person,
        request: asked.request,
        before: String::new(),
    };
    let file =
        crate::server::services::evidence::export(&state, user, Language::English, &query, format)
            .await?;
    Ok(crate::server::app::http::evidence::download(file))
}
