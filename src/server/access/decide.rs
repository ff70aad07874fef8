//! Deciding a request. The request row is locked for the decision, so two approvers clicking
//! at the same instant are decided one after the other, and the unique decision row stops a
//! double submit: however the clicks fall, an approval makes at most one lease.

use crate::domain::audit::AuditAction;
use crate::domain::contractor::ContractorEvent;
use crate::domain::step::Lifecycle as _;
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::domain::approval::{DecisionRefused, Outcome, Progress, may_decide, progress};
use crate::domain::request::{InvalidTransition, RequestEvent, RequestState};
use crate::error::AppError;
use crate::server::access::{ToGrant, grant_all, request_state_de, window_at_approval};
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::{contractors, requests};
use crate::text::lang::pick;

const MAX_COMMENT_CHARS: usize = 1000;

pub async fn decide(
    state: &AppState,
    caller: &SessionUser,
    request_id: Uuid,
    outcome: Outcome,
    comment: &str,
) -> Result<String, AppError> {
    let comment = crate::api::text_block("comment", comment)?;
    let comment = comment.as_str();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(AppError::invalid(
            "comment",
            pick(
                format!("Keep the comment under {MAX_COMMENT_CHARS} characters."),
                format!("Der Kommentar darf höchstens {MAX_COMMENT_CHARS} Zeichen lang sein."),
            ),
        ));
    }
    let mut tx = state.pool.begin().await?;
    let request = requests::lock(&mut tx, request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let decisions = requests::decisions(&mut tx, request_id).await?;
    let vote = may_decide(
        &request.snapshot.stages,
        &decisions,
        &request.requester_id.to_string(),
        &request.beneficiary_id.to_string(),
        &caller.principal_id.to_string(),
    )
    .map_err(|refused| match refused {
        DecisionRefused::OwnRequest | DecisionRefused::NotAnApprover => AppError::Forbidden,
        DecisionRefused::NotPending if request.state.is_final() => already(request.state),
        other => AppError::Conflict(refusal(&other)),
    })?;
    if request.state.is_final() {
        return Err(already(request.state));
    }
    // Whether or not the engine has closed them yet: a request past its deadline, or for an
    // entry taken out of the catalog, can no longer be decided.
    if request.expires_at <= Utc::now() {
        return Err(AppError::Conflict(
            pick(
                "This request waited past its deadline and can no longer be decided.",
                "Diese Anfrage hat ihre Frist überschritten und kann nicht mehr entschieden werden.",
            )
            .into(),
        ));
    }
    if !request.entitlement_enabled {
        return Err(AppError::Conflict(
            pick(
                "This access was taken out of the catalog; the request can no longer be decided.",
                "Dieser Zugriff wurde aus dem Katalog genommen; über die Anfrage kann nicht mehr \
                 entschieden werden.",
            )
            .into(),
        ));
    }
    // The live grants are locked before the first audit event (see `grant_approved`).
    let to_grant = ToGrant::lock(&mut tx, request.beneficiary_id, request.entitlement_id).await?;
    let stage = vote.stage;
    if !requests::insert_decision(
        &mut tx,
        request_id,
        stage,
        &vote.seat,
        caller.principal_id,
        outcome,
        comment,
    )
    .await?
    {
        return Err(AppError::Conflict(refusal(
            &DecisionRefused::AlreadyDecided,
        )));
    }
    let actor = Actor::person(caller.principal_id, &caller.display_name);
    let subject = Subject {
        request: Some(request_id),
        entitlement: Some(request.entitlement_id),
        principal: Some(request.beneficiary_id),
        grant: None,
    };
    audit::record(
        &mut tx,
        &actor,
        match outcome {
            Outcome::Approve => AuditAction::DecisionApproved,
            Outcome::Deny => AuditAction::DecisionDenied,
        },
        &subject,
        json!({ "stage": stage + 1, "seat": vote.seat, "comment": comment }),
    )
    .await?;
    let decisions = requests::decisions(&mut tx, request_id).await?;
    let message = match progress(&request.snapshot.stages, &decisions) {
        Progress::Denied { .. } => {
            close(&mut tx, &request, RequestEvent::Denied).await?;
            if let Some(contractor) = contractors::of_request(&mut tx, request_id).await?
                && let Ok(step) = contractor.state.step(ContractorEvent::NotApproved)
            {
                contractors::advance(&mut tx, contractor.id, step, None).await?;
            }
            audit::record(
                &mut tx,
                &actor,
                AuditAction::RequestDenied,
                &subject,
                json!({}),
            )
            .await?;
            pick(
                "Denied. The requester will see your comment.",
                "Abgelehnt. Die anfragende Person sieht Ihren Kommentar.",
            )
            .to_string()
        }
        Progress::Waiting {
            stage: now_at,
            approvals,
            required,
        } => {
            if now_at != stage {
                let step = request
                    .state
                    .step(RequestEvent::StagePassed)
                    .map_err(refused)?;
                if !requests::set_stage(&mut tx, request_id, step, now_at).await? {
                    return Err(changed_meanwhile());
                }
            }
            pick(
                format!(
                    "Recorded. The request now waits at step {} of {} ({approvals} of {required} approvals).",
                    now_at + 1,
                    request.snapshot.stages.len()
                ),
                format!(
                    "Erfasst. Die Anfrage wartet jetzt auf Stufe {} von {} ({approvals} von \
                     {required} Genehmigungen).",
                    now_at + 1,
                    request.snapshot.stages.len()
                ),
            )
        }
        Progress::Approved => {
            close(&mut tx, &request, RequestEvent::FullyApproved).await?;
            audit::record(
                &mut tx,
                &actor,
                AuditAction::RequestApproved,
                &subject,
                json!({}),
            )
            .await?;
            let now = Utc::now();
            let window = window_at_approval(
                request.starts_at,
                request.ends_at,
                request.start_on_approval,
                request.requested_minutes,
                now,
            );
            // A contractor's identity is made first; its access follows (`server::jobs::contractors`).
            if let Some(contractor) = contractors::of_request(&mut tx, request_id).await? {
                if let Ok(step) = contractor.state.step(ContractorEvent::Approved) {
                    contractors::advance(&mut tx, contractor.id, step, Some(now)).await?;
                }
                pick(
                    "Approved. The identity is being made; its access follows.",
                    "Genehmigt. Die Identität wird angelegt; ihre Zugriffe folgen.",
                )
                .to_string()
            } else {
                let message = grant_all(
                    &mut tx,
                    request_id,
                    request.beneficiary_id,
                    to_grant,
                    window,
                    &actor,
                    now,
                )
                .await?;
                // More time for a contractor: their identity lasts as long as their access.
                if let Some((contractor, ends_at)) = contractors::extended(
                    &mut tx,
                    request.beneficiary_id,
                    request.entitlement_id,
                    window.ends_at,
                )
                .await?
                {
                    audit::record(
                        &mut tx,
                        &actor,
                        AuditAction::ContractorExtended,
                        &subject,
                        json!({ "contractor": contractor, "ends_at": ends_at }),
                    )
                    .await?;
                }
                message
            }
        }
    };
    tx.commit().await?;
    Ok(message)
}

/// Closes the locked request with `event`, as its state machine allows.
pub(crate) async fn close(
    conn: &mut sqlx::PgConnection,
    request: &requests::Locked,
    event: RequestEvent,
) -> Result<(), AppError> {
    let step = request.state.step(event).map_err(refused)?;
    if !requests::close(conn, request.id, step).await? {
        return Err(changed_meanwhile());
    }
    Ok(())
}

/// The state machine refused: the request is already final.
pub(crate) fn refused(refused: InvalidTransition) -> AppError {
    already(refused.state)
}

/// The request is final already: "This request is already approved."
fn already(state: RequestState) -> AppError {
    AppError::Conflict(pick(
        format!("This request is already {state}."),
        format!("Diese Anfrage ist bereits {}.", request_state_de(state)),
    ))
}

/// Why the caller may not decide, in the caller's language.
fn refusal(refused: &DecisionRefused) -> String {
    pick(
        refused.to_string(),
        match refused {
            DecisionRefused::OwnRequest => {
                "Sie können nicht über Ihre eigene Anfrage oder eine Anfrage für sich selbst \
                 entscheiden."
            }
            DecisionRefused::NotAnApprover => {
                "Sie sind auf der aktuellen Stufe dieser Anfrage keine genehmigende Person."
            }
            DecisionRefused::AlreadyDecided => "Sie haben über diese Stufe bereits entschieden.",
            DecisionRefused::DecidedEarlierStage => {
                "Sie haben eine frühere Stufe genehmigt; eine spätere Stufe braucht eine andere \
                 Person."
            }
            DecisionRefused::SeatTaken => {
                "Für die Person, die Sie vertreten, wurde auf dieser Stufe bereits entschieden \
                 (von ihr selbst oder einer anderen Vertretung)."
            }
            DecisionRefused::NotPending => "Diese Anfrage wartet nicht mehr auf Entscheidungen.",
        }
        .to_string(),
    )
}

/// The row moved between reading and writing it (it was locked, so only by a bug).
fn changed_meanwhile() -> AppError {
    AppError::Conflict(
        pick(
            "This request changed meanwhile. Reload the page and try again.",
            "Diese Anfrage wurde zwischenzeitlich geändert. Laden Sie die Seite neu und versuchen \
             Sie es erneut.",
        )
        .into(),
    )
}
