//! Break-glass reviews: each emergency use is reviewed afterwards by an owner of the entry who
//! is not the person who used it (nor asked for it); the verdict and its reason are audited.

use serde_json::json;
use uuid::Uuid;

use crate::api::types::emergency::EmergencyUse;
use crate::domain::audit::AuditAction;
use crate::domain::problem::{Notice, Problem};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::reviews::{self, Review};

const MAX_NOTE_CHARS: usize = 1000;

fn view(r: Review) -> EmergencyUse {
    EmergencyUse {
        request_id: r.request_id,
        entitlement: r.entitlement,
        who: r.who,
        justification: r.justification,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        closed_at: r.closed_at,
        closed_by: r.closed_by,
        verdict: r.verdict,
        note: r.note,
    }
}

/// An owner (the catalog names owners by sign-in name) who neither used nor asked for it.
fn may_review(r: &Review, caller: &SessionUser) -> bool {
    r.owners
        .iter()
        .any(|o| o.to_lowercase() == caller.upn.as_str())
        && r.who_id != caller.principal_id
        && r.requester_id != caller.principal_id
}

pub async fn to_review(
    state: &AppState,
    caller: &SessionUser,
) -> Result<Vec<EmergencyUse>, AppError> {
    Ok(reviews::list(&state.pool, true, 200)
        .await?
        .into_iter()
        .filter(|r| may_review(r, caller))
        .map(view)
        .collect())
}

/// Every emergency use with its review: the governance roles (the trail's readers).
pub async fn all(state: &AppState, caller: &SessionUser) -> Result<Vec<EmergencyUse>, AppError> {
    crate::server::services::may_read_trail(caller)?;
    Ok(reviews::list(&state.pool, false, 500)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

pub async fn close(
    state: &AppState,
    caller: &SessionUser,
    request: Uuid,
    verdict: &str,
    note: &str,
) -> Result<Notice, AppError> {
    let verdict = match verdict.trim() {
        v @ ("justified" | "not_justified") => v,
        _ => {
            return Err(AppError::invalid("verdict", Problem::ChooseVerdict));
        }
    };
    let note = note.trim();
    if note.chars().count() < 5 {
        return Err(AppError::invalid("note", Problem::SayWhy));
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::invalid(
            "note",
            Problem::NoteTooLong {
                max_chars: MAX_NOTE_CHARS as u32,
            },
        ));
    }
    let mut tx = state.pool.begin().await?;
    let review = reviews::lock(&mut tx, request)
        .await?
        .ok_or(AppError::NotFound)?;
    if !may_review(&review, caller) {
        return Err(AppError::Forbidden);
    }
    if !reviews::close(&mut tx, request, caller.principal_id, verdict, note).await? {
        return Err(AppError::Conflict(Problem::ReviewedAlready));
    }
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::BreakGlassReviewed,
        &Subject {
            request: Some(request),
            ..Subject::default()
        },
        json!({ "by": caller.upn, "verdict": verdict, "note": note }),
    )
    .await?;
    tx.commit().await?;
    Ok(match verdict {
        "justified" => Notice::ReviewedJustified,
        _ => Notice::ReviewedNotJustified,
    })
}
