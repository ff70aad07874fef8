//! Out-of-office delegation. An approver names a deputy for a time; while it lasts, every
//! request that waits for the approver (at submission, at a later stage, after an escalation,
//! or already waiting when the delegation began) waits for the deputy too, and is audited as
//! delegated. The approver can still decide. When the deputy is away as well, the chain is
//! followed at most [`MAX_DEPTH`] steps; a delegation that would close a loop is refused, and
//! a deputy who asked for the request or benefits from it is never given it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::approval::{Progress, progress};
use crate::domain::audit::AuditAction;
use crate::domain::input::Upn;
use crate::domain::problem::{Notice, Problem};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::{contractors, delegations, requests};

/// Deputies of deputies followed at most.
pub const MAX_DEPTH: usize = 3;
/// The longest delegation.
const MAX_DAYS: i64 = 90;

/// Routes every request that waits for an approver who is away; returns how many.
pub async fn route_due(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let mut routed = 0;
    for away in delegations::away_approvers(pool, 100).await? {
        if route(pool, &away).await? {
            routed += 1;
        }
    }
    Ok(routed)
}

async fn route(pool: &PgPool, away: &delegations::Away) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(locked) = requests::lock(&mut tx, away.request_id).await? else {
        return Ok(false);
    };
    let decisions = requests::decisions(&mut tx, away.request_id).await?;
    let still = !locked.state.is_final()
        && matches!(progress(&locked.snapshot.stages, &decisions),
                    Progress::Waiting { stage, .. } if stage as i32 == away.stage);
    if !still {
        return Ok(false);
    }
    // Follow the chain to the first deputy who is not away, never round a loop.
    let mut seen = vec![away.approver_id];
    let mut current = away.approver_id;
    let mut target: Option<(Uuid, String)> = None;
    let mut until: Option<DateTime<Utc>> = None;
    for _ in 0..MAX_DEPTH {
        let Some((deputy, upn, ends_at)) = delegations::deputy_now(&mut tx, current).await? else {
            break;
        };
        if seen.contains(&deputy) {
            break;
        }
        seen.push(deputy);
        until.get_or_insert(ends_at);
        target = Some((deputy, upn.to_lowercase()));
        current = deputy;
    }
    // Never the requester or the beneficiary.
    let target = target.filter(|(deputy, _)| !locked.parties().contains(&deputy.to_string()));
    if !delegations::route(
        &mut tx,
        away.request_id,
        away.stage,
        away.approver_id,
        target.as_ref().map(|(deputy, _)| *deputy),
    )
    .await?
    {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        &Actor::system("delegation"),
        AuditAction::RequestDelegated,
        &Subject {
            request: Some(away.request_id),
            entitlement: Some(locked.entitlement_id),
            principal: Some(locked.beneficiary_id),
            grant: None,
        },
        json!({
            "stage": away.stage + 1,
            "from": away.approver_upn,
            "to": target.as_ref().map(|(_, upn)| upn),
            "until": until,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Names `deputy_upn` the caller's deputy from `starts_at` to `ends_at`.
pub async fn create(
    pool: &PgPool,
    caller: &SessionUser,
    deputy_upn: &Upn,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<Notice, AppError> {
    let now = Utc::now();
    if ends_at <= starts_at {
        return Err(AppError::invalid("ends_at", Problem::DelegationEndsFirst));
    }
    if ends_at <= now {
        return Err(AppError::invalid("ends_at", Problem::DelegationEndPassed));
    }
    if ends_at > now + TimeDelta::days(MAX_DAYS) {
        return Err(AppError::invalid(
            "ends_at",
            Problem::DelegationTooLong {
                max_days: MAX_DAYS as u32,
            },
        ));
    }
    let mut tx = pool.begin().await?;
    let Some((deputy, deputy_name)) = requests::principal_by_upn(&mut tx, deputy_upn).await? else {
        return Err(AppError::invalid(
            "deputy",
            Problem::NoSuchDeputy {
                upn: deputy_upn.to_string(),
            },
        ));
    };
    if deputy == caller.principal_id {
        return Err(AppError::invalid("deputy", Problem::DeputySelf));
    }
    if !contractors::is_employee(&mut tx, deputy).await? {
        return Err(AppError::invalid(
            "deputy",
            Problem::DeputyNotEmployee { name: deputy_name },
        ));
    }
    if delegations::overlaps(&mut tx, caller.principal_id, starts_at, ends_at).await? {
        return Err(AppError::invalid("starts_at", Problem::DeputyOverlap));
    }
    // A loop: the deputy (or their deputy...) names the caller during this time.
    let mut frontier = vec![deputy];
    let mut seen = vec![caller.principal_id];
    for _ in 0..=MAX_DEPTH {
        let mut next = Vec::new();
        for person in frontier {
            for (id, _) in delegations::deputy_during(&mut tx, person, starts_at, ends_at).await? {
                if id == caller.principal_id {
                    return Err(AppError::invalid(
                        "deputy",
                        Problem::DeputyLoop {
                            name: deputy_name.clone(),
                        },
                    ));
                }
                if !seen.contains(&id) {
                    seen.push(id);
                    next.push(id);
                }
            }
        }
        frontier = next;
    }
    let id = delegations::create(&mut tx, caller.principal_id, deputy, starts_at, ends_at).await?;
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::DelegationCreated,
        &Subject {
            principal: Some(caller.principal_id),
            ..Subject::default()
        },
        json!({
            "delegation": id, "who": caller.upn, "deputy": deputy_upn.as_str(),
            "starts_at": starts_at, "ends_at": ends_at,
        }),
    )
    .await?;
    tx.commit().await?;
    // What waits for the caller now goes to the deputy at once (the engine's loop does it
    // for later requests and for a delegation that starts later).
    if let Err(e) = route_due(pool).await {
        tracing::warn!(error = %e, "routing to a new deputy failed; the next pass retries");
    }
    Ok(Notice::DeputySet {
        deputy: deputy_name,
        from: starts_at,
        to: ends_at,
    })
}

/// Ends one of the caller's delegations now. Requests already routed stay with the deputy too.
pub async fn end(pool: &PgPool, caller: &SessionUser, id: Uuid) -> Result<Notice, AppError> {
    let mut tx = pool.begin().await?;
    let Some(deputy) = delegations::end(&mut tx, caller.principal_id, id).await? else {
        return Err(AppError::NotFound);
    };
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::DelegationEnded,
        &Subject {
            principal: Some(caller.principal_id),
            ..Subject::default()
        },
        json!({ "delegation": id, "who": caller.upn, "deputy": deputy }),
    )
    .await?;
    tx.commit().await?;
    Ok(Notice::DelegationEnded)
}
