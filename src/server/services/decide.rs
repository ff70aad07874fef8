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
use crate::domain::problem::{Notice, Problem};
use crate::domain::request::{InvalidTransition, RequestEvent, RequestState};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::{contractors, requests};
use crate::server::services::{ToGrant, grant_all, window_at_approval};

const MAX_COMMENT_CHARS: usize = 1000;

pub async fn decide(
    state: &AppState,
    caller: &SessionUser,
    request_id: Uuid,
    outcome: Outcome,
    comment: &str,
) -> Result<Notice, AppError> {
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(AppError::invalid(
            "comment",
            Problem::CommentTooLong {
                max_chars: MAX_COMMENT_CHARS as u32,
            },
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
        other => AppError::Conflict(Problem::Decision(other)),
    })?;
    if request.state.is_final() {
        return Err(already(request.state));
    }
    // Whether or not the engine has closed them yet: a request past its deadline, or for an
    // entry taken out of the catalog, can no longer be decided.
    if request.expires_at <= Utc::now() {
        return Err(AppError::Conflict(Problem::RequestPastDeadline));
    }
    if !request.entitlement_enabled {
        return Err(AppError::Conflict(Problem::RequestEntryWithdrawn));
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
        return Err(AppError::Conflict(Problem::Decision(
            DecisionRefused::AlreadyDecided,
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
    let done = match progress(&request.snapshot.stages, &decisions) {
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
            Notice::Denied
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
            Notice::Waiting {
                stage: now_at + 1,
                stages: request.snapshot.stages.len() as u32,
                approvals,
                required,
            }
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
                Notice::ContractorApproved
            } else {
                let granted = grant_all(
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
                Notice::Granted(granted)
            }
        }
    };
    tx.commit().await?;
    Ok(done)
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
    AppError::Conflict(Problem::RequestAlready(state))
}

/// The row moved between reading and writing it (it was locked, so only by a bug).
fn changed_meanwhile() -> AppError {
    AppError::Conflict(Problem::RequestChanged)
}
