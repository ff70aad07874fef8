//! Read models for the pages: my access, the approvals inbox, governance.

use uuid::Uuid;

use crate::api::types::approvals::{Inbox, InboxItem};
use crate::api::types::governance::{EventView, Overview, Trail};
use crate::api::types::my_access::{HistoryView, LeaseView, MyAccess, PartView, PendingView};
use crate::domain::approval::ResolvedStage;
use crate::domain::grant::GrantState;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::requests::{Snapshot, StoredHint};
use crate::server::db::{audit, views};

/// "Step 1 of 2 · 1 of 2 approvals".
fn progress(stages: &[ResolvedStage], stage: i32, approvals: i64) -> String {
    match stages.get(stage as usize) {
        Some(s) => {
            crate::text::approval_progress(stage as usize + 1, stages.len(), approvals, s.required)
        }
        None => String::new(),
    }
}

fn snapshot(value: serde_json::Value) -> Option<Snapshot> {
    serde_json::from_value(value).ok()
}

pub async fn my_access(state: &AppState, caller: &SessionUser) -> Result<MyAccess, AppError> {
    let me = caller.principal_id;
    let leases = leases(views::leases_of(&state.pool, me).await?);
    let pending = views::waiting_of(&state.pool, me)
        .await?
        .into_iter()
        .map(|r| PendingView {
            request_id: r.id,
            entitlement: r.name,
            for_person: r.beneficiary,
            submitted_at: r.submitted_at,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            progress: snapshot(r.policy)
                .map(|s| progress(&s.stages, r.stage, r.approvals))
                .unwrap_or_default(),
            expires_at: r.expires_at,
        })
        .collect();
    let history = views::closed_of(&state.pool, me)
        .await?
        .into_iter()
        .map(|r| HistoryView {
            request_id: r.id,
            entitlement: r.name,
            state: r.state,
            submitted_at: r.submitted_at,
            closed_at: r.closed_at,
            justification: r.justification,
        })
        .collect();
    Ok(MyAccess {
        leases,
        pending,
        history,
    })
}

/// One card per lease, and one per bundle with its parts: the bundle's card stands for the
/// part that acts for all (the first live one), ends when its first part ends, and is only as
/// far along as its least advanced part.
fn leases(rows: Vec<views::Lease>) -> Vec<LeaseView> {
    let mut cards: Vec<LeaseView> = Vec::new();
    let mut bundles: Vec<(Uuid, usize)> = Vec::new();
    for r in rows {
        let part = PartView {
            entitlement: r.name.clone(),
            system: r.system.clone(),
            state: r.state,
            overdue: r.overdue,
            problem: r
                .last_error
                .clone()
                .filter(|_| matches!(r.state, GrantState::Scheduled | GrantState::Failed)),
        };
        let single = |r: views::Lease, parts: Vec<PartView>| LeaseView {
            grant_id: r.id,
            entitlement: r.bundle.clone().unwrap_or(r.name),
            entitlement_key: r.key,
            state: r.state,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            overdue: r.overdue,
            extension_token: Uuid::new_v4().to_string(),
            parts,
        };
        let Some(bundle) = r.bundle_id else {
            cards.push(single(r, Vec::new()));
            continue;
        };
        match bundles.iter().find(|(b, _)| *b == bundle) {
            None => {
                bundles.push((bundle, cards.len()));
                cards.push(single(r, vec![part]));
            }
            Some(&(_, at)) => {
                let card = &mut cards[at];
                let rank = |s: GrantState| match s {
                    GrantState::Revoking => 0,
                    GrantState::Scheduled => 1,
                    GrantState::Active => 2,
                    GrantState::Revoked | GrantState::Failed => 3,
                };
                if !card.state.is_live() && r.state.is_live() {
                    card.grant_id = r.id;
                    card.state = r.state;
                } else if r.state.is_live() && rank(r.state) < rank(card.state) {
                    card.state = r.state;
                }
                card.overdue |= r.overdue;
                card.starts_at = card.starts_at.min(r.starts_at);
                card.ends_at = card.ends_at.min(r.ends_at);
                card.parts.push(part);
            }
        }
    }
    cards
}

/// How many requests wait for the caller's decision, for the navigation's count.
pub async fn waiting_count(state: &AppState, caller: &SessionUser) -> Result<u32, AppError> {
    let waiting = views::to_decide_count(&state.pool, caller.principal_id).await?;
    Ok(u32::try_from(waiting).unwrap_or(u32::MAX))
}

pub async fn inbox(state: &AppState, caller: &SessionUser) -> Result<Inbox, AppError> {
    let me = caller.principal_id;
    let rows = views::to_decide(&state.pool, me).await?;
    let mut waiting = Vec::with_capacity(rows.len());
    for r in rows {
        let mut hints = Vec::new();
        if let Some(source) = &r.source_address {
            hints.push(crate::text::hint_source(source));
        }
        if let Some(until) = r.held_until {
            hints.push(crate::text::hint_already_holds(until));
        }
        // Found in the directory at submission: the inbox itself never waits on it.
        let stored: Vec<StoredHint> = serde_json::from_value(r.hints).unwrap_or_default();
        for hint in stored {
            hints.push(match hint {
                StoredHint::Nested { group } => crate::text::hint_nested(&group),
                StoredHint::DirectoryUnavailable => {
                    crate::text::HINT_DIRECTORY_UNAVAILABLE.to_string()
                }
            });
        }
        if r.recent > 0 {
            hints.push(crate::text::hint_recent(r.recent));
        }
        let minutes = match (r.start_on_approval, r.requested_minutes) {
            (true, Some(m)) => i64::from(m),
            _ => (r.ends_at - r.starts_at).num_minutes(),
        };
        waiting.push(InboxItem {
            request_id: r.id,
            requester: r.requester,
            beneficiary: r.beneficiary,
            entitlement: r.entitlement,
            system: if r.bundle {
                format!(
                    "{}: {}",
                    crate::text::kind_label(crate::domain::access::EntitlementKind::Bundle),
                    r.system
                )
            } else {
                r.system
            },
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            minutes,
            justification: r.justification,
            ticket: r.ticket,
            submitted_at: r.submitted_at,
            progress: snapshot(r.policy)
                .map(|s| progress(&s.stages, r.stage, r.approvals))
                .unwrap_or_default(),
            hints,
        });
    }
    let decided = views::decided_by(&state.pool, me).await?;
    Ok(Inbox { waiting, decided })
}

pub(crate) fn event_view(e: audit::Event) -> EventView {
    EventView {
        position: e.position,
        occurred_at: e.occurred_at,
        summary: crate::text::event_line(&e.action, &e.details),
        actor: crate::text::actor(&e.actor_label),
        action: e.action,
        request_id: e.request_id,
    }
}

pub async fn overview(state: &AppState) -> Result<Overview, AppError> {
    let live = views::held(&state.pool).await?;
    let overdue = live.iter().filter(|g| g.overdue_since.is_some()).count();
    let pending_requests = views::pending_count(&state.pool).await?;
    Ok(Overview {
        live,
        overdue,
        pending_requests,
    })
}

pub async fn trail(state: &AppState, request_id: Uuid) -> Result<Trail, AppError> {
    let r = views::trail_head(&state.pool, request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut conn = state.pool.acquire().await?;
    let events = audit::trail_of_request(&mut conn, request_id)
        .await?
        .into_iter()
        .map(event_view)
        .collect();
    Ok(Trail {
        request_id: r.id,
        requester: r.requester,
        beneficiary: r.beneficiary,
        entitlement: r.entitlement,
        state: r.state,
        justification: r.justification,
        ticket: r.ticket,
        events,
    })
}

/// The trail checked: by default from the last good signed checkpoint on (see
/// `checkpoints::Scope`), or the whole chain.
pub async fn verify_chain(
    state: &AppState,
    caller: &SessionUser,
    scope: crate::server::jobs::checkpoints::Scope,
) -> Result<crate::api::types::governance::ChainCheck, AppError> {
    crate::server::services::may_read_trail(caller)?;
    let mut conn = state.pool.acquire().await?;
    let (events, _) = audit::head(&mut conn).await?;
    drop(conn);
    let check = match &state.audit_key {
        Some(key) => {
            let v = crate::server::jobs::checkpoints::verify(&state.pool, &key.public_key(), scope)
                .await?;
            crate::api::types::governance::ChainCheck {
                intact: v.intact(),
                events,
                first_break: v.first_break,
                checkpoints: v.checkpoints,
                mismatched: v.mismatched,
                signed: true,
                last_signed_at: v.last_signed_at,
                checked_after: v.checked_after,
            }
        }
        None => {
            let mut conn = state.pool.acquire().await?;
            let first_break = audit::first_break(&mut conn).await?;
            crate::api::types::governance::ChainCheck {
                intact: first_break.is_none(),
                events,
                first_break,
                checkpoints: 0,
                mismatched: Vec::new(),
                signed: false,
                last_signed_at: None,
                checked_after: None,
            }
        }
    };
    if !check.intact {
        tracing::error!(?check, "the audit trail failed verification");
    }
    Ok(check)
}
