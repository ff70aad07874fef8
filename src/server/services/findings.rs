//! Reconciliation's findings for the pages: reading them, asking for a pass, declaring an
//! account a standing holder of an entry, and removing shadow access now
//! (docs/reconciliation.md).
//!
//! Auditors, administrators and security operations see every finding; an entry's owners see
//! their entries'. Owners and administrators declare standing holders, never for their own
//! account; administrators and security operations remove; administrators ask for passes.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::api::types::findings::{FindingQuery, Findings, Reconciled};
use crate::domain::audit::AuditAction;
use crate::domain::input::EntitlementKey;
use crate::domain::problem::Problem;
use crate::domain::reconcile::{Closure, FindingKind};
use crate::domain::role::{can_administer, can_revoke, can_view_governance};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::findings;
use crate::server::jobs::reconcile::{self, PassError, Removal};

/// At most this many findings answer one page.
const MOST: i64 = 500;

/// The number of open findings on the entries the caller owns; `None` for someone who owns
/// none.
pub async fn owned_open(state: &AppState, caller: &SessionUser) -> Result<Option<i64>, AppError> {
    let mut conn = state.pool.acquire().await?;
    let owned = findings::owned_by(&mut conn, caller.upn.as_str()).await?;
    if owned.is_empty() {
        return Ok(None);
    }
    Ok(Some(findings::open_count(&mut conn, &owned).await?))
}

/// The findings the caller may see, with every entry's last pass and the live declarations.
pub async fn list(
    state: &AppState,
    caller: &SessionUser,
    query: &FindingQuery,
) -> Result<Findings, AppError> {
    let mut conn = state.pool.acquire().await?;
    let owned = findings::owned_by(&mut conn, caller.upn.as_str()).await?;
    let everything = can_view_governance(&caller.roles);
    if !everything && owned.is_empty() {
        return Err(AppError::Forbidden);
    }
    let open = match query.state.trim() {
        "" | "open" => Some(true),
        "closed" => Some(false),
        "all" => None,
        _ => return Err(AppError::invalid("state", Problem::MalformedRequest)),
    };
    let entitlement = match query.entitlement.trim() {
        "" => None,
        key => {
            let key = EntitlementKey::parse(key)
                .map_err(|_| AppError::invalid("entitlement", Problem::NoSuchEntry))?;
            Some(
                crate::server::db::holdings::entry(&mut conn, key.as_str())
                    .await?
                    .ok_or_else(|| AppError::invalid("entitlement", Problem::NoSuchEntry))?
                    .0,
            )
        }
    };
    // An owner's rows are narrowed in the query, so the limit counts only theirs.
    let of = (!everything).then_some(owned.as_slice());
    let mut rows = findings::list(&mut conn, open, entitlement, of, MOST + 1).await?;
    let mut passes = findings::passes(&mut conn).await?;
    let mut declarations = findings::declarations(&mut conn).await?;
    if !everything {
        passes.retain(|p| owned.contains(&p.entitlement_key));
        declarations.retain(|d| owned.contains(&d.entitlement_key));
    }
    let more = rows.len() as i64 > MOST;
    rows.truncate(MOST as usize);
    let may_declare = if can_administer(&caller.roles) {
        passes.iter().map(|p| p.entitlement_key.clone()).collect()
    } else {
        owned
    };
    Ok(Findings {
        rows,
        more,
        passes,
        declarations,
        may_reconcile: can_administer(&caller.roles),
        may_declare,
        me: caller.principal_id,
        people_links: everything,
    })
}

/// Passes one entry now and answers what it found, or (no entry named) asks the job to pass
/// every entry at once. Administrators only.
pub async fn reconcile_now(
    state: &AppState,
    caller: &SessionUser,
    entitlement: Option<EntitlementKey>,
) -> Result<Reconciled, AppError> {
    if !can_administer(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let mut conn = state.pool.acquire().await?;
    let Some(key) = entitlement else {
        let queued = findings::request_all(&mut conn).await? as usize;
        return Ok(Reconciled {
            queued,
            ..Reconciled::default()
        });
    };
    let entry = findings::managed(&mut conn, key.as_str())
        .await?
        .ok_or_else(|| AppError::invalid("entitlement", Problem::NoSuchEntry))?;
    drop(conn);
    // Asked for by a person: the holders are read in full, whatever the change mark says.
    let settings = reconcile::Settings {
        grace: state.settings.engine.removal_grace,
        complete_every: std::time::Duration::ZERO,
    };
    match reconcile::pass(&state.pool, &state.connectors, &entry, settings).await {
        Ok(outcome) => Ok(Reconciled {
            entries: 1,
            opened: outcome.opened,
            closed: outcome.closed,
            removed: outcome.removed,
            ..Reconciled::default()
        }),
        Err(PassError::System(_) | PassError::Unreadable(_)) => Ok(Reconciled {
            entries: 1,
            failed: 1,
            ..Reconciled::default()
        }),
        Err(PassError::Busy(_)) => Err(AppError::Conflict(Problem::AlreadySent)),
        Err(PassError::Database(e)) => Err(e.into()),
    }
}

/// Declares the account of an open finding a standing holder of its entry until `until`, with
/// a reason; the finding closes as declared, and passes leave the account alone until then.
pub async fn declare(
    state: &AppState,
    caller: &SessionUser,
    finding: Uuid,
    reason: &str,
    until: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let entries = acting_on(&mut tx, caller).await?;
    let Some(found) = findings::lock_one(&mut tx, finding).await? else {
        return Err(AppError::invalid("finding", Problem::NoSuchFinding));
    };
    may_act_on(caller, &entries, &found.entitlement_key, found.holder_id)?;
    if found.closed {
        return Err(AppError::Conflict(Problem::FindingClosed));
    }
    if found.kind == FindingKind::DriftAbsent {
        return Err(AppError::Conflict(Problem::FindingNotHeld));
    }
    standing(
        &mut tx,
        &actor(caller),
        &findings::Declare {
            entitlement: found.entitlement_id,
            account_ref: &found.account_ref,
            account_label: &found.account_label,
            principal: found.holder_id,
            reason,
            until,
            by: caller.principal_id,
        },
        Some((finding, found.kind)),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Declares an account a standing holder of an entry (replacing a live declaration of it) and
/// closes its open finding, if it has one, as declared; both audited. `extra` adds to the
/// declaration's event (an access review's item). The findings page and access reviews both
/// declare through this.
pub(crate) async fn standing(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    declared: &findings::Declare<'_>,
    open_finding: Option<(Uuid, crate::domain::reconcile::FindingKind)>,
    extra: serde_json::Value,
) -> Result<Uuid, sqlx::Error> {
    let id = findings::declare(tx, declared).await?;
    let subject = Subject {
        entitlement: Some(declared.entitlement),
        principal: declared.principal,
        ..Subject::default()
    };
    let mut details = json!({
        "declaration": id,
        "finding": open_finding.map(|(finding, _)| finding),
        "account": declared.account_ref,
        "label": declared.account_label,
        "reason": declared.reason,
        "until": declared.until,
    });
    if let (Some(details), Some(extra)) = (details.as_object_mut(), extra.as_object()) {
        details.extend(extra.clone());
    }
    audit::record(tx, actor, AuditAction::ReconcileDeclared, &subject, details).await?;
    if let Some((finding, kind)) = open_finding {
        findings::close(tx, finding, Closure::Declared).await?;
        audit::record(
            tx,
            actor,
            AuditAction::ReconcileClosed,
            &subject,
            json!({
                "finding": finding,
                "kind": kind,
                "account": declared.account_ref,
                "label": declared.account_label,
                "reason": Closure::Declared,
            }),
        )
        .await?;
    }
    Ok(id)
}

/// Withdraws a live declaration before its end: the next pass flags the account again.
pub async fn withdraw(
    state: &AppState,
    caller: &SessionUser,
    declaration: Uuid,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let entries = acting_on(&mut tx, caller).await?;
    let Some(live) = findings::lock_declaration(&mut tx, declaration).await? else {
        return Err(AppError::Conflict(Problem::NoSuchDeclaration));
    };
    may_act_on(caller, &entries, &live.entitlement_key, None)?;
    findings::withdraw(&mut tx, declaration, caller.principal_id).await?;
    audit::record(
        &mut tx,
        &actor(caller),
        AuditAction::ReconcileDeclarationWithdrawn,
        &Subject {
            entitlement: Some(live.entitlement_id),
            ..Subject::default()
        },
        json!({ "declaration": declaration, "account": live.account_ref }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes an open finding's access now through the connector, and reads the target back.
/// Administrators and security operations. `true`: removed and read back absent.
pub async fn remove_now(
    state: &AppState,
    caller: &SessionUser,
    finding: Uuid,
) -> Result<bool, AppError> {
    if !can_revoke(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let mut tx = state.pool.begin().await?;
    let Some(found) = findings::lock_one(&mut tx, finding).await? else {
        return Err(AppError::invalid("finding", Problem::NoSuchFinding));
    };
    if found.holder_id == Some(caller.principal_id) {
        return Err(AppError::Conflict(Problem::OwnAccess));
    }
    if found.closed {
        return Err(AppError::Conflict(Problem::FindingClosed));
    }
    if found.kind == FindingKind::DriftAbsent {
        return Err(AppError::Conflict(Problem::FindingNotHeld));
    }
    let entry = findings::managed(&mut tx, &found.entitlement_key)
        .await?
        .ok_or_else(|| AppError::invalid("finding", Problem::NoSuchEntry))?;
    let connector = state.connectors.get(&entry.connector).ok_or_else(|| {
        AppError::from_system(
            &entry.connector,
            crate::server::connectors::ConnectorError::Transient("not configured".into()),
        )
    })?;
    let removed = reconcile::remove(
        &mut tx,
        connector.as_ref(),
        &entry,
        Utc::now(),
        Removal {
            finding,
            reference: &found.account_ref,
            principal: found.holder_id,
            label: &found.account_label,
            by: Some((caller.principal_id, &caller.display_name)),
        },
    )
    .await?;
    tx.commit().await?;
    match removed {
        Some(done) => Ok(done),
        // A lease covers the account now: the next pass closes the finding.
        None => Err(AppError::Conflict(Problem::FindingClosed)),
    }
}

/// The entries the caller may act on: `None` for an administrator (every entry), or the keys
/// of those they own. A caller who owns nothing and administers nothing is refused at once,
/// before anything is looked up for them.
async fn acting_on(
    conn: &mut sqlx::PgConnection,
    caller: &SessionUser,
) -> Result<Option<Vec<String>>, AppError> {
    if can_administer(&caller.roles) {
        return Ok(None);
    }
    let owned = findings::owned_by(conn, caller.upn.as_str()).await?;
    if owned.is_empty() {
        return Err(AppError::Forbidden);
    }
    Ok(Some(owned))
}

/// Administrators act on any entry; an owner on their own entries, never on their own account.
fn may_act_on(
    caller: &SessionUser,
    entries: &Option<Vec<String>>,
    entitlement_key: &str,
    holder: Option<Uuid>,
) -> Result<(), AppError> {
    if entries
        .as_ref()
        .is_some_and(|owned| !owned.iter().any(|k| k == entitlement_key))
    {
        return Err(AppError::Forbidden);
    }
    if holder == Some(caller.principal_id) {
        return Err(AppError::Conflict(Problem::OwnAccess));
    }
    Ok(())
}

fn actor(caller: &SessionUser) -> Actor {
    Actor::person(caller.principal_id, &caller.display_name)
}
