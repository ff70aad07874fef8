//! Who held which access, now and at any past moment, and taking live access away before its
//! end: one lease, or every lease of an account during an incident. The engine removes what is
//! taken away at once and reads the target back, as at any lease's end.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::api::types::holdings::{Contained, Holdings};
use crate::domain::audit::AuditAction;
use crate::domain::grant::{GrantEvent, RevokeReason};
use crate::domain::input::{EntitlementKey, Upn};
use crate::domain::problem::Problem;
use crate::domain::role::{can_revoke, can_view_governance};
use crate::domain::step::Lifecycle as _;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::{grants, holdings};

/// At most this many periods answer one question; more says to narrow it.
const MOST: i64 = 1000;

/// A person named in a question: by id (the people pages link so) or by sign-in name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Id(Uuid),
    Upn(Upn),
}

/// A who-held-what question as read from the page's address (`api::forms`).
#[derive(Debug, Clone)]
pub struct Question {
    pub entitlement: Option<EntitlementKey>,
    pub person: Option<Who>,
    /// The moment, or the period's start; `None`: now.
    pub at: Option<DateTime<Utc>>,
    /// The period's end; `None`: the moment alone.
    pub until: Option<DateTime<Utc>>,
}

/// Who held what in the question's moment or period, from the grants' history: every lease
/// whose access was in its target then, with when it was added and when its removal was read
/// back.
pub async fn held(
    state: &AppState,
    caller: &SessionUser,
    question: Question,
) -> Result<Holdings, AppError> {
    if !can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let mut conn = state.pool.acquire().await?;
    let entitlement = match &question.entitlement {
        None => None,
        Some(key) => Some(
            holdings::entry(&mut conn, key.as_str())
                .await?
                .ok_or_else(|| AppError::invalid("entitlement", Problem::NoSuchEntry))?,
        ),
    };
    let person = match &question.person {
        None => None,
        Some(who) => {
            let (id, upn) = match who {
                Who::Id(id) => (Some(*id), None),
                Who::Upn(upn) => (None, Some(upn.as_str())),
            };
            Some(
                holdings::person(&mut conn, id, upn)
                    .await?
                    .ok_or_else(|| AppError::invalid("person", Problem::NoSuchPerson))?,
            )
        }
    };
    let from = question.at.unwrap_or_else(Utc::now);
    let until = question.until.unwrap_or(from);
    let mut rows = holdings::held(
        &mut conn,
        entitlement.as_ref().map(|(id, _)| *id),
        person.as_ref().map(|(id, _)| *id),
        from,
        until,
        MOST + 1,
    )
    .await?;
    let mut without_lease = holdings::without_lease(
        &mut conn,
        entitlement.as_ref().map(|(id, _)| *id),
        person.as_ref().map(|(id, _)| *id),
        from,
        until,
        MOST + 1,
    )
    .await?;
    let more = rows.len() as i64 > MOST || without_lease.len() as i64 > MOST;
    rows.truncate(MOST as usize);
    without_lease.truncate(MOST as usize);
    Ok(Holdings {
        rows,
        without_lease,
        more,
        from,
        until,
        entitlement: entitlement.map(|(_, name)| name),
        person,
        may_revoke: can_revoke(&caller.roles),
    })
}

/// Takes one live lease away now. The reason goes into the trail and to the holder and the
/// entry's owners; the engine removes the access at once and reads the target back.
pub async fn revoke(
    state: &AppState,
    caller: &SessionUser,
    grant: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    if !can_revoke(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let mut tx = state.pool.begin().await?;
    let held = grants::lock(&mut tx, grant)
        .await?
        .ok_or(AppError::NotFound)?;
    take_away(&mut tx, caller, &held, reason).await?;
    tx.commit().await?;
    Ok(())
}

/// Takes every live lease of one person away now, in one transaction: during an incident,
/// nothing they hold outlives the click. A person holding nothing is contained too (the trail
/// says so).
pub async fn contain(
    state: &AppState,
    caller: &SessionUser,
    person: Uuid,
    reason: &str,
) -> Result<Contained, AppError> {
    if !can_revoke(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let mut tx = state.pool.begin().await?;
    if holdings::person(&mut tx, Some(person), None)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    let live = grants::lock_live_of(&mut tx, person).await?;
    for held in &live {
        take_away(&mut tx, caller, held, reason).await?;
    }
    audit::record(
        &mut tx,
        &actor(caller),
        AuditAction::PrincipalContained,
        &Subject {
            principal: Some(person),
            ..Subject::default()
        },
        json!({ "reason": reason, "leases": live.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Contained { leases: live.len() })
}

async fn take_away(
    tx: &mut PgConnection,
    caller: &SessionUser,
    held: &grants::Held,
    reason: &str,
) -> Result<(), AppError> {
    let step = held
        .state
        .step(GrantEvent::Withdrawn)
        .map_err(|refused| AppError::Conflict(Problem::GrantAlready(refused.state)))?;
    if !grants::withdraw(tx, held.id, step, RevokeReason::Revoked).await? {
        return Err(AppError::Conflict(Problem::GrantChanged));
    }
    audit::record(
        tx,
        &actor(caller),
        AuditAction::GrantRevokedNow,
        &Subject {
            grant: Some(held.id),
            request: held.request_id,
            entitlement: Some(held.entitlement_id),
            principal: Some(held.principal_id),
        },
        json!({ "reason": reason, "by": caller.display_name, "bundle": held.bundle_id }),
    )
    .await?;
    Ok(())
}

fn actor(caller: &SessionUser) -> Actor {
    Actor::person(caller.principal_id, &caller.display_name)
}
