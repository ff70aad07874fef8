//! Four eyes on the catalog: changes made in the Admin page to a policy, or to an entry's
//! owners or policy, wait until a second administrator approves them. Nobody approves their own
//! change (the database refuses it too); a change whose target moved on meanwhile is closed as
//! stale instead of overwriting the newer state. The approver sees the change as a diff and what
//! it would have meant ("3 people would have been granted this with nobody approving").

use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::types::admin::PendingChange;
use crate::domain::audit::AuditAction;
use crate::domain::change::{ChangeEvent, ChangeState};
use crate::domain::policy::Policy;
use crate::domain::problem::{Notice, Problem};
use crate::domain::step::Lifecycle as _;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog_changes::{self, NewChange};
use crate::server::services::catalog_edits::{
    EntryValues, apply_entry, apply_policy, current_entry, current_policy,
};

pub use crate::domain::change::ChangeKind as Kind;

fn actor(caller: &SessionUser) -> Actor {
    Actor::person(caller.principal_id, &caller.display_name)
}

fn internal(detail: String) -> AppError {
    AppError::Internal {
        reference: crate::error::reference_for(&detail),
    }
}

/// Stores a change for a second administrator.
pub async fn propose<T: Serialize>(
    state: &AppState,
    caller: &SessionUser,
    kind: Kind,
    key: &str,
    before: &T,
    after: &T,
    impact: Vec<String>,
) -> Result<Notice, AppError> {
    let before = serde_json::to_value(before).map_err(|e| internal(e.to_string()))?;
    let after = serde_json::to_value(after).map_err(|e| internal(e.to_string()))?;
    let mut tx = state.pool.begin().await?;
    let id = catalog_changes::propose(
        &mut tx,
        &NewChange {
            kind,
            target_key: key,
            before: &before,
            after: &after,
            impact: &impact,
            author: caller.principal_id,
            author_label: &caller.display_name,
        },
    )
    .await?
    .ok_or_else(|| {
        AppError::Conflict(Problem::ChangeWaiting {
            key: key.to_string(),
        })
    })?;
    audit::record(
        &mut tx,
        &actor(caller),
        AuditAction::CatalogChangeProposed,
        &Subject::default(),
        json!({ "change": id, "kind": kind.as_str(), "key": key, "before": before,
                "after": after, "impact": impact }),
    )
    .await?;
    tx.commit().await?;
    Ok(Notice::ChangeProposed {
        key: key.to_string(),
    })
}

/// A second administrator approves: the change is applied, unless its target changed since.
pub async fn approve(state: &AppState, caller: &SessionUser, id: Uuid) -> Result<Notice, AppError> {
    let mut tx = state.pool.begin().await?;
    let change = catalog_changes::lock_pending(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if change.author_id == caller.principal_id {
        return Err(AppError::Forbidden);
    }
    let kind = change.kind;
    let key = change.target_key.as_str();
    let approved = actor(caller);
    let applied = match kind {
        Kind::Entitlement => {
            let before: EntryValues = decode(&change.before)?;
            let after: EntryValues = decode(&change.after)?;
            if current_entry(&mut tx, key).await?.as_ref() != Some(&before) {
                false
            } else {
                apply_entry(&mut tx, &approved, key, &before, &after, Some(id)).await?;
                true
            }
        }
        Kind::Policy => {
            let before: Policy = decode(&change.before)?;
            let after: Policy = decode(&change.after)?;
            if current_policy(&mut tx, key).await?.as_ref() != Some(&before) {
                false
            } else {
                apply_policy(&mut tx, &approved, key, &before, &after, Some(id)).await?;
                true
            }
        }
    };
    if !applied {
        close(
            &mut tx,
            id,
            ChangeEvent::FoundStale,
            caller.principal_id,
            "",
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Conflict(Problem::ChangeStale {
            key: key.to_string(),
        }));
    }
    close(&mut tx, id, ChangeEvent::Approved, caller.principal_id, "").await?;
    audit::record(
        &mut tx,
        &approved,
        AuditAction::CatalogChangeApproved,
        &Subject::default(),
        json!({ "change": id, "kind": change.kind, "key": key, "author": change.author_label }),
    )
    .await?;
    tx.commit().await?;
    Ok(Notice::ChangeApplied {
        key: key.to_string(),
    })
}

/// Rejected by another administrator, or withdrawn by its author.
pub async fn reject(
    state: &AppState,
    caller: &SessionUser,
    id: Uuid,
    comment: &str,
) -> Result<Notice, AppError> {
    if comment.chars().count() > 1000 {
        return Err(AppError::invalid(
            "comment",
            Problem::CommentTooLong { max_chars: 1000 },
        ));
    }
    let mut tx = state.pool.begin().await?;
    let change = catalog_changes::lock_pending(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    close(
        &mut tx,
        id,
        ChangeEvent::Rejected,
        caller.principal_id,
        comment,
    )
    .await?;
    audit::record(
        &mut tx,
        &actor(caller),
        AuditAction::CatalogChangeRejected,
        &Subject::default(),
        json!({ "change": id, "kind": change.kind, "key": change.target_key,
                "author": change.author_label, "comment": comment }),
    )
    .await?;
    tx.commit().await?;
    Ok(Notice::ChangeNotApplied {
        key: change.target_key,
    })
}

/// Closes the locked pending change with `event`, as its state machine allows.
async fn close(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    event: ChangeEvent,
    decided_by: Uuid,
    comment: &str,
) -> Result<(), AppError> {
    let step = ChangeState::Pending
        .step(event)
        .map_err(|refused| AppError::Conflict(Problem::ChangeAlready(refused.state)))?;
    if !catalog_changes::close(conn, id, step, decided_by, comment).await? {
        return Err(AppError::Conflict(Problem::ChangeDecided));
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, AppError> {
    serde_json::from_value(value.clone()).map_err(|e| internal(format!("catalog change: {e}")))
}

/// The waiting changes, with a diff of each, for the Admin page.
pub async fn waiting(
    state: &AppState,
    caller: &SessionUser,
) -> Result<Vec<PendingChange>, AppError> {
    let mut conn = state.pool.acquire().await?;
    let changes = catalog_changes::pending(&mut conn).await?;
    Ok(changes
        .into_iter()
        .map(|c| {
            let text = |v: &serde_json::Value| match c.kind {
                Kind::Policy => serde_json::from_value::<Policy>(v.clone())
                    .ok()
                    .and_then(|p| toml::to_string(&p).ok())
                    .unwrap_or_default(),
                _ => serde_json::from_value::<EntryValues>(v.clone())
                    .ok()
                    .map(|e| entry_text(&e))
                    .unwrap_or_default(),
            };
            PendingChange {
                change_id: c.id,
                kind: c.kind,
                key: c.target_key.clone(),
                author: c.author_label.clone(),
                proposed_at: c.proposed_at,
                before: text(&c.before),
                after: text(&c.after),
                impact: serde_json::from_value(c.impact).unwrap_or_default(),
                mine: c.author_id == caller.principal_id,
            }
        })
        .collect())
}

fn entry_text(e: &EntryValues) -> String {
    format!(
        "name = {}\ndescription = {}\nowners = {}\ntags = {}\npolicy = {}\n",
        e.name,
        e.description,
        e.owners.join(", "),
        e.tags.join(", "),
        e.policy
    )
}

/// What a policy change would have meant over the last 30 days.
pub async fn policy_impact(
    pool: &PgPool,
    key: &str,
    before: &Policy,
    after: &Policy,
) -> Result<Vec<String>, AppError> {
    let mut conn = pool.acquire().await?;
    let entries = catalog_changes::entries_using(&mut conn, key).await?;
    let mut impact = vec![crate::text::impact_entries(&entries)];
    approval_impact(&mut conn, &entries, before, after, &mut impact).await?;
    if before.durations.max_minutes != after.durations.max_minutes {
        impact.push(crate::text::impact_longest(
            before.durations.max_minutes,
            after.durations.max_minutes,
        ));
    }
    Ok(impact)
}

/// What an entry's owner or policy change would have meant over the last 30 days.
pub async fn entry_impact(
    pool: &PgPool,
    key: &str,
    before: &EntryValues,
    after: &EntryValues,
) -> Result<Vec<String>, AppError> {
    let mut conn = pool.acquire().await?;
    let mut impact = Vec::new();
    if before.owners != after.owners {
        let added: Vec<String> = after
            .owners
            .iter()
            .filter(|o| !before.owners.contains(o))
            .cloned()
            .collect();
        let removed: Vec<String> = before
            .owners
            .iter()
            .filter(|o| !after.owners.contains(o))
            .cloned()
            .collect();
        impact.push(crate::text::impact_owners(&added, &removed));
    }
    if before.policy != after.policy {
        let (Some(old), Some(new)) = (
            current_policy(&mut conn, &before.policy).await?,
            current_policy(&mut conn, &after.policy).await?,
        ) else {
            return Ok(impact);
        };
        approval_impact(&mut conn, &[key.to_string()], &old, &new, &mut impact).await?;
    }
    Ok(impact)
}

async fn approval_impact(
    conn: &mut sqlx::PgConnection,
    entries: &[String],
    before: &Policy,
    after: &Policy,
    impact: &mut Vec<String>,
) -> Result<(), AppError> {
    if before.stages == after.stages {
        return Ok(());
    }
    impact.push(crate::text::impact_approval(before, after));
    let (requests, people) = catalog_changes::recent_requests(conn, entries).await?;
    if after.auto_approves() && !before.auto_approves() {
        impact.push(crate::text::impact_auto_approved(people, requests));
    } else if before.auto_approves() && !after.auto_approves() {
        impact.push(crate::text::impact_needs_approval(people, requests));
    }
    Ok(())
}
