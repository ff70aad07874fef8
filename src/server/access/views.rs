//! Read models for the pages: my access, the approvals inbox, governance.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::api::approvals::{DecidedItem, Inbox, InboxItem};
use crate::api::governance::{EventView, LiveGrant, Overview, Trail};
use crate::api::my_access::{HistoryView, LeaseView, MyAccess, PendingView};
use crate::domain::approval::ResolvedStage;
use crate::domain::audit::AuditAction;
use crate::error::AppError;
use crate::server::auth::session::SessionUser;
use crate::server::db::audit;
use crate::server::db::requests::{Snapshot, StoredHint};
use crate::server::state::AppState;

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
    let leases = sqlx::query!(
        r#"
        select g.id, e.name, e.key, g.state,
               g.starts_at as "starts_at: DateTime<Utc>", g.ends_at as "ends_at: DateTime<Utc>",
               g.overdue_since is not null as "overdue!"
          from grants g join entitlements e on e.id = g.entitlement_id
         where g.principal_id = $1 and g.state in ('scheduled', 'active', 'revoking')
         order by g.ends_at
        "#,
        me
    )
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(|r| LeaseView {
        grant_id: r.id,
        entitlement: r.name,
        entitlement_key: r.key,
        state: r.state,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        overdue: r.overdue,
        extension_token: Uuid::new_v4().to_string(),
    })
    .collect();
    let pending = sqlx::query!(
        r#"
        select r.id, e.name, b.display_name as beneficiary, r.stage, r.policy,
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.expires_at as "expires_at: DateTime<Utc>",
               (select count(*) from approval_decisions d
                 where d.request_id = r.id and d.stage = r.stage and d.outcome = 'approve') as "approvals!"
          from access_requests r
          join entitlements e on e.id = r.entitlement_id
          join principals b on b.id = r.beneficiary_id
         where (r.requester_id = $1 or r.beneficiary_id = $1) and r.state = 'pending'
         order by r.submitted_at desc
        "#,
        me
    )
    .fetch_all(&state.pool)
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
    let history = sqlx::query!(
        r#"
        select r.id, e.name, r.state, r.justification,
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.closed_at as "closed_at: DateTime<Utc>"
          from access_requests r join entitlements e on e.id = r.entitlement_id
         where (r.requester_id = $1 or r.beneficiary_id = $1) and r.state <> 'pending'
         order by r.submitted_at desc
         limit 50
        "#,
        me
    )
    .fetch_all(&state.pool)
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

pub async fn inbox(state: &AppState, caller: &SessionUser) -> Result<Inbox, AppError> {
    let me = caller.principal_id;
    let rows = sqlx::query!(
        r#"
        select r.id, q.display_name as requester, b.display_name as beneficiary,
               e.name as entitlement, c.name as system, r.justification, r.ticket, r.stage, r.policy,
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.start_on_approval, r.requested_minutes,
               (select count(*) from approval_decisions d
                 where d.request_id = r.id and d.stage = r.stage and d.outcome = 'approve') as "approvals!",
               (select count(*) from access_requests o
                 where o.beneficiary_id = r.beneficiary_id and o.entitlement_id = r.entitlement_id
                   and o.id <> r.id and o.submitted_at > now() - interval '30 days') as "recent!",
               (select g.ends_at from grants g
                 where g.principal_id = r.beneficiary_id and g.entitlement_id = r.entitlement_id
                   and g.state in ('scheduled', 'active')) as "held_until: DateTime<Utc>",
               r.hints
          from access_requests r
          join request_approvers a
            on a.request_id = r.id and a.stage = r.stage and a.approver_upn = lower($2)
          join principals q on q.id = r.requester_id
          join principals b on b.id = r.beneficiary_id
          join entitlements e on e.id = r.entitlement_id
          join connectors c on c.id = e.connector_id
         where r.state = 'pending'
           and r.requester_id <> $1 and r.beneficiary_id <> $1
           and not exists (select 1 from approval_decisions d
                            where d.request_id = r.id and d.approver_id = $1)
         order by r.submitted_at
         limit 200
        "#,
        me,
        caller.upn
    )
    .fetch_all(&state.pool)
    .await?;
    let mut waiting = Vec::with_capacity(rows.len());
    for r in rows {
        let mut hints = Vec::new();
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
            system: r.system,
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
    let decided = sqlx::query!(
        r#"
        select d.request_id, e.name as entitlement, b.display_name as beneficiary, d.outcome,
               d.comment, d.decided_at as "decided_at: DateTime<Utc>", r.state
          from approval_decisions d
          join access_requests r on r.id = d.request_id
          join entitlements e on e.id = r.entitlement_id
          join principals b on b.id = r.beneficiary_id
         where d.approver_id = $1
         order by d.decided_at desc
         limit 50
        "#,
        me
    )
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(|r| DecidedItem {
        request_id: r.request_id,
        entitlement: r.entitlement,
        beneficiary: r.beneficiary,
        outcome: r.outcome,
        comment: r.comment,
        decided_at: r.decided_at,
        request_state: r.state,
    })
    .collect();
    Ok(Inbox { waiting, decided })
}

fn event_view(e: audit::Event) -> EventView {
    EventView {
        position: e.position,
        occurred_at: e.occurred_at,
        // Events written by a newer version than this one read as their plain name.
        summary: AuditAction::parse(&e.action)
            .map(|action| crate::text::event_summary(action, &e.details))
            .unwrap_or_else(|| e.action.clone()),
        actor: e.actor_label,
        action: e.action,
        request_id: e.request_id,
    }
}

pub async fn overview(state: &AppState) -> Result<Overview, AppError> {
    let live: Vec<LiveGrant> = sqlx::query!(
        r#"
        select g.id, g.request_id, p.display_name as holder, e.name as entitlement, g.state,
               g.starts_at as "starts_at: DateTime<Utc>", g.ends_at as "ends_at: DateTime<Utc>",
               g.overdue_since as "overdue_since: DateTime<Utc>", g.last_error
          from grants g
          join principals p on p.id = g.principal_id
          join entitlements e on e.id = g.entitlement_id
         where g.state in ('scheduled', 'active', 'revoking')
         order by g.overdue_since nulls last, g.ends_at
         limit 500
        "#
    )
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(|r| LiveGrant {
        grant_id: r.id,
        request_id: r.request_id,
        holder: r.holder,
        entitlement: r.entitlement,
        state: r.state,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        overdue_since: r.overdue_since,
        last_error: r.last_error,
    })
    .collect();
    let overdue = live.iter().filter(|g| g.overdue_since.is_some()).count();
    let pending_requests = sqlx::query_scalar!(
        r#"select count(*) as "n!" from access_requests where state = 'pending'"#
    )
    .fetch_one(&state.pool)
    .await?;
    let mut conn = state.pool.acquire().await?;
    let events = audit::recent(&mut conn, 50)
        .await?
        .into_iter()
        .map(event_view)
        .collect();
    Ok(Overview {
        live,
        overdue,
        pending_requests,
        events,
    })
}

pub async fn trail(state: &AppState, request_id: Uuid) -> Result<Trail, AppError> {
    let r = sqlx::query!(
        r#"
        select r.id, q.display_name as requester, b.display_name as beneficiary,
               e.name as entitlement, r.state, r.justification, r.ticket
          from access_requests r
          join principals q on q.id = r.requester_id
          join principals b on b.id = r.beneficiary_id
          join entitlements e on e.id = r.entitlement_id
         where r.id = $1
        "#,
        request_id
    )
    .fetch_optional(&state.pool)
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

pub async fn verify_chain(
    state: &AppState,
) -> Result<crate::api::governance::ChainCheck, AppError> {
    let mut conn = state.pool.acquire().await?;
    let (events, _) = audit::head(&mut conn).await?;
    drop(conn);
    let check = match &state.audit_key {
        Some(key) => {
            let v = crate::server::checkpoints::verify(&state.pool, &key.public_key()).await?;
            crate::api::governance::ChainCheck {
                intact: v.intact(),
                events,
                first_break: v.first_break,
                checkpoints: v.checkpoints,
                mismatched: v.mismatched,
                signed: true,
                last_signed_at: v.last_signed_at,
            }
        }
        None => {
            let mut conn = state.pool.acquire().await?;
            let first_break = audit::first_break(&mut conn).await?;
            crate::api::governance::ChainCheck {
                intact: first_break.is_none(),
                events,
                first_break,
                checkpoints: 0,
                mismatched: Vec::new(),
                signed: false,
                last_signed_at: None,
            }
        }
    };
    if !check.intact {
        tracing::error!(?check, "the audit trail failed verification");
    }
    Ok(check)
}
