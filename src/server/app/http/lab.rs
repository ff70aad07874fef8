//! Lab mode only: `POST /lab/clock` (`minutes=N`) moves the clock that reminders and escalation
//! follow forward, so a browser test sees a day's escalation without waiting a day. Leases keep
//! the real time. Only an administrator's session may (a lab is still somebody's network): 401
//! without a session, 403 for anyone else; every move is in the trail before it is made.

use axum::extract::{Extension, Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::domain::audit::AuditAction;
use crate::domain::role::can_administer;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::http::{caller_allowed, correlation, refusal};
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::text::lang::Language;

/// The longest move at once: 90 days.
const MAX_MINUTES: i64 = 60 * 24 * 90;

#[derive(Deserialize)]
pub struct Advance {
    minutes: i64,
}

pub async fn move_clock(
    State(state): State<AppState>,
    user: Option<Extension<SessionUser>>,
    Extension(language): Extension<Language>,
    Form(advance): Form<Advance>,
) -> Response {
    let caller = match caller_allowed(user, can_administer) {
        Ok(caller) => caller,
        Err(refused) => return refusal(language, refused),
    };
    if !(1..=MAX_MINUTES).contains(&advance.minutes) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("minutes must lie between 1 and {MAX_MINUTES}"),
        )
            .into_response();
    }
    // Recorded first: a move the trail could not record is not made.
    let ahead = state.clock.ahead().num_minutes() + advance.minutes;
    if let Err(e) = record(&state, &caller, advance.minutes, ahead).await {
        let reference = correlation::log_internal(&format!("lab clock: {e}"));
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The trail could not record the move, so the clock did not move. Reference {reference}."),
        )
            .into_response();
    }
    state
        .clock
        .advance(chrono::TimeDelta::minutes(advance.minutes));
    tracing::warn!(
        minutes = advance.minutes,
        ahead_minutes = state.clock.ahead().num_minutes(),
        by = %caller.upn,
        "lab: the reminders' clock was moved forward"
    );
    // Wake the notifier, which looks for reminders due.
    let _ = sqlx::query("select pg_notify('leasegate_notify', '')")
        .execute(&state.pool)
        .await;
    axum::Json(json!({ "ahead_minutes": state.clock.ahead().num_minutes() })).into_response()
}

/// The move in the audit trail: who made it, by how much, and how far ahead the clock will be.
async fn record(
    state: &AppState,
    caller: &SessionUser,
    minutes: i64,
    ahead: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = state.pool.begin().await?;
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::LabClockMoved,
        &Subject::default(),
        json!({ "minutes": minutes, "ahead_minutes": ahead }),
    )
    .await?;
    tx.commit().await
}
