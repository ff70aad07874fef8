//! Grants: the leases. Creation and extension happen in the approval transaction; the engine
//! claims due grants, calls the connector outside any transaction, then records the outcome
//! only if it still holds the claim.

use crate::domain::audit::AuditAction;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::server::connectors::Account;
use crate::server::db::audit::{self, Actor, Subject};

/// The live grant of a person for an entitlement, locked for the rest of the transaction.
pub struct LiveGrant {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub state: String,
}

pub async fn live_for_update(
    conn: &mut PgConnection,
    principal: Uuid,
    entitlement: Uuid,
) -> Result<Option<LiveGrant>, sqlx::Error> {
    sqlx::query_as!(
        LiveGrant,
        r#"
        select id, starts_at as "starts_at: DateTime<Utc>", ends_at as "ends_at: DateTime<Utc>", state from grants
         where principal_id = $1 and entitlement_id = $2 and state in ('scheduled', 'active')
         for update
        "#,
        principal,
        entitlement
    )
    .fetch_optional(conn)
    .await
}

pub async fn create(
    conn: &mut PgConnection,
    principal: Uuid,
    entitlement: Uuid,
    request: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    // The grant is pinned to the entry's system and target as they are now: a later catalog
    // change cannot move where this lease is removed from.
    sqlx::query_scalar!(
        r#"
        insert into grants (principal_id, entitlement_id, request_id, starts_at, ends_at,
                            next_due_at, connector_id, target_ref)
        select $1, e.id, $3, $4, $5, $4, e.connector_id, e.target_ref
          from entitlements e where e.id = $2
        returning id
        "#,
        principal,
        entitlement,
        request,
        starts_at as DateTime<Utc>,
        ends_at as DateTime<Utc>
    )
    .fetch_one(conn)
    .await
}

/// Moves a live grant's end later; an active grant's next due instant moves with it.
pub async fn extend(
    conn: &mut PgConnection,
    grant: Uuid,
    ends_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update grants
           set ends_at = $2,
               next_due_at = case when state = 'active' then $2 else next_due_at end,
               updated_at = now()
         where id = $1 and state in ('scheduled', 'active')
        "#,
        grant,
        ends_at as DateTime<Utc>
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a live grant now (given back, or revoked by an administrator): the engine removes it
/// at once. Returns false when the grant was not live.
pub async fn withdraw(
    conn: &mut PgConnection,
    grant: Uuid,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update grants
           set state = 'revoking', revoke_reason = $2, next_due_at = now(),
               ends_at = greatest(starts_at + interval '1 millisecond', least(ends_at, now())),
               updated_at = now()
         where id = $1 and state in ('scheduled', 'active')
        "#,
        grant,
        reason
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A grant as the engine works on it: where it was pinned, and its account if one was pinned.
#[derive(Debug, Clone)]
pub struct Work {
    pub id: Uuid,
    pub state: String,
    pub principal_id: Uuid,
    pub upn: String,
    pub entitlement_id: Uuid,
    pub connector_id: Uuid,
    pub connector: String,
    pub target_ref: String,
    pub target_id: Option<String>,
    pub account_ref: Option<String>,
    pub account_id: Option<String>,
    /// The access was added at least once.
    pub provisioned: bool,
    pub ends_at: DateTime<Utc>,
    pub attempts: i32,
    pub overdue_since: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    pub attention: Option<String>,
}

/// Claims up to `limit` due grants for `worker` until the lease passes, in one statement.
/// Grants whose end has come move to `revoking` as they are claimed. A scheduled grant waits
/// while an earlier grant of the same person and entitlement is still being removed, so the
/// removal cannot undo it.
pub async fn claim_due(
    pool: &PgPool,
    worker: &str,
    lease_seconds: f64,
    limit: i64,
) -> Result<Vec<Work>, sqlx::Error> {
    sqlx::query_as!(
        Work,
        r#"
        with due as (
            select g.id from grants g
             where g.next_due_at <= now()
               and (g.locked_until is null or g.locked_until < now())
               and not (g.state = 'scheduled' and exists (
                        select 1 from grants r
                         where r.principal_id = g.principal_id
                           and r.entitlement_id = g.entitlement_id
                           and r.state = 'revoking'))
             order by g.next_due_at
             limit $3
             for update skip locked
        )
        update grants g
           set locked_by = $1,
               locked_until = now() + make_interval(secs => $2),
               state = case when g.state in ('scheduled', 'active') and g.ends_at <= now()
                            then 'revoking' else g.state end,
               revoke_reason = case when g.state in ('scheduled', 'active') and g.ends_at <= now()
                                    then coalesce(g.revoke_reason, 'expired')
                                    else g.revoke_reason end,
               updated_at = now()
          from due, principals p, connectors c
         where g.id = due.id and p.id = g.principal_id and c.id = g.connector_id
        returning g.id, g.state, g.principal_id, p.upn, g.entitlement_id, g.connector_id,
                  c.name as connector, g.target_ref, g.target_id, g.account_ref, g.account_id,
                  g.provisioned_at is not null as "provisioned!", g.ends_at as "ends_at: DateTime<Utc>", g.attempts,
                  g.overdue_since as "overdue_since: DateTime<Utc>", g.revoke_reason, g.attention
        "#,
        worker,
        lease_seconds,
        limit
    )
    .fetch_all(pool)
    .await
}

/// Seconds until the engine next has something to do: a due grant, an expiring claim, or a
/// pending request reaching its deadline. `None` when there is nothing at all.
pub async fn seconds_until_next_due(pool: &PgPool) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select extract(epoch from (least(
                 (select min(next_due_at) from grants where next_due_at is not null),
                 (select min(locked_until) from grants where locked_until is not null
                                                         and next_due_at is not null),
                 (select min(expires_at) from access_requests where state = 'pending')
               ) - now()))::float8 as "seconds"
        "#
    )
    .fetch_one(pool)
    .await
}

/// At start-up, overdue removals go first: whatever their backoff said.
pub async fn bring_overdue_forward(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update grants set next_due_at = now()
         where state = 'revoking' and overdue_since is not null and next_due_at > now()
        "#
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn remember_account(
    pool: &PgPool,
    principal: Uuid,
    connector: Uuid,
    account: &Account,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into principal_accounts (principal_id, connector_id, account_ref, account_id,
                                        manager_ref)
        values ($1, $2, $3, $4, $5)
        on conflict (principal_id, connector_id) do update
           set account_ref = excluded.account_ref,
               account_id = excluded.account_id,
               manager_ref = excluded.manager_ref,
               resolved_at = now()
        "#,
        principal,
        connector,
        account.reference,
        account.stable_id,
        account.manager
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Where a removal or an addition actually acted: the target and account as the directory
/// names them now (they differ from the pinned references after a rename or a move).
#[derive(Debug, Clone)]
pub struct ActedOn<'a> {
    pub work: &'a Work,
    pub target: &'a str,
    pub account: &'a str,
}

impl ActedOn<'_> {
    fn details(&self) -> serde_json::Value {
        let w = self.work;
        json!({
            "connector": w.connector, "target": self.target, "target_id": w.target_id,
            "account": self.account, "account_id": w.account_id,
            "pinned_target": w.target_ref, "pinned_account": w.account_ref,
        })
    }
}

/// Records, in one transaction, that the access of every grant in `done` was removed and
/// read back as absent; returns how many this worker still held the claim for.
pub async fn mark_revoked_many(
    pool: &PgPool,
    worker: &str,
    done: &[ActedOn<'_>],
) -> Result<usize, sqlx::Error> {
    if done.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = done.iter().map(|d| d.work.id).collect();
    let mut tx = pool.begin().await?;
    let recorded_ids: Vec<Uuid> = sqlx::query_scalar!(
        r#"
        update grants
           set state = 'revoked', removal = 'verified', revoked_at = now(), verified_at = now(),
               next_due_at = null, attention = null, last_error = null, locked_by = null,
               locked_until = null, updated_at = now()
         where id = any($1) and locked_by = $2 and state = 'revoking'
        returning id
        "#,
        &ids,
        worker
    )
    .fetch_all(&mut *tx)
    .await?;
    let recorded: Vec<&ActedOn> = done
        .iter()
        .filter(|d| recorded_ids.contains(&d.work.id))
        .collect();
    let details: Vec<serde_json::Value> = recorded
        .iter()
        .map(|d| {
            let mut details = d.details();
            details["reason"] = json!(d.work.revoke_reason);
            details["verified"] = json!(true);
            details["ends_at"] = json!(d.work.ends_at);
            details["overdue_since"] = json!(d.work.overdue_since);
            details
        })
        .collect();
    record_many(
        &mut tx,
        AuditAction::GrantRevoked,
        &recorded.iter().map(|d| d.work).collect::<Vec<_>>(),
        &details,
    )
    .await?;
    tx.commit().await?;
    Ok(recorded.len())
}

/// One audit event per grant, in one statement; the chain trigger still hashes row by row.
async fn record_many(
    conn: &mut PgConnection,
    action: AuditAction,
    works: &[&Work],
    details: &[serde_json::Value],
) -> Result<(), sqlx::Error> {
    let grant_ids: Vec<Uuid> = works.iter().map(|w| w.id).collect();
    let entitlements: Vec<Uuid> = works.iter().map(|w| w.entitlement_id).collect();
    let principals: Vec<Uuid> = works.iter().map(|w| w.principal_id).collect();
    sqlx::query!(
        r#"
        insert into audit_events (actor_label, action, grant_id, entitlement_id, subject_id, details)
        select 'engine', $1, g, e, p, d
          from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::jsonb[]) as t(g, e, p, d)
        "#,
        action.as_str(),
        &grant_ids,
        &entitlements,
        &principals,
        details
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends grants whose access was never attempted (no account was ever pinned, so nothing can
/// have been added): revoked, and said to be unverified because there was nothing to read.
pub async fn mark_never_provisioned(
    pool: &PgPool,
    worker: &str,
    works: &[&Work],
) -> Result<usize, sqlx::Error> {
    if works.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = works.iter().map(|w| w.id).collect();
    let mut tx = pool.begin().await?;
    let recorded_ids: Vec<Uuid> = sqlx::query_scalar!(
        r#"
        update grants
           set state = 'revoked', removal = 'never_provisioned', revoked_at = now(),
               next_due_at = null, attention = null, locked_by = null, locked_until = null,
               updated_at = now()
         where id = any($1) and locked_by = $2 and state = 'revoking' and account_ref is null
           and provisioned_at is null
        returning id
        "#,
        &ids,
        worker
    )
    .fetch_all(&mut *tx)
    .await?;
    let recorded: Vec<&Work> = works
        .iter()
        .copied()
        .filter(|w| recorded_ids.contains(&w.id))
        .collect();
    let details: Vec<serde_json::Value> = recorded
        .iter()
        .map(|w| json!({ "connector": w.connector, "target": w.target_ref, "reason": w.revoke_reason }))
        .collect();
    record_many(
        &mut tx,
        AuditAction::GrantEndedUnprovisioned,
        &recorded,
        &details,
    )
    .await?;
    tx.commit().await?;
    Ok(recorded.len())
}

/// The pinned account or target can no longer be found: nothing can be removed or read back.
/// The grant stays in removal, flagged for a person (and overdue), and is tried again later in
/// case the object comes back. The trail says so once.
pub async fn mark_missing(
    pool: &PgPool,
    worker: &str,
    work: &Work,
    attention: &str,
    retry_in_seconds: f64,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        r#"
        update grants
           set attention = $3, overdue_since = coalesce(overdue_since, now()),
               attempts = attempts + 1, last_error = $4,
               next_due_at = now() + make_interval(secs => $5),
               locked_by = null, locked_until = null, updated_at = now()
         where id = $1 and locked_by = $2 and state = 'revoking'
        "#,
        work.id,
        worker,
        attention,
        match attention {
            "account_missing" => "the account the access was given to no longer exists",
            _ => "the group the access was given in no longer exists",
        },
        retry_in_seconds
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if work.attention.as_deref() != Some(attention) {
        audit::record(
            &mut tx,
            &Actor::system("engine"),
            if attention == "account_missing" {
                AuditAction::GrantAccountMissing
            } else {
                AuditAction::GrantTargetMissing
            },
            &subject(work),
            json!({
                "connector": work.connector, "target": work.target_ref,
                "target_id": work.target_id, "account": work.account_ref,
                "account_id": work.account_id,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A person closes a removal the engine could not carry out because the account or target is
/// gone. The grant ends as revoked, never as verified.
pub async fn resolve_missing(
    conn: &mut PgConnection,
    grant: Uuid,
    actor: &Actor,
    note: &str,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        update grants
           set state = 'revoked', removal = 'resolved', revoked_at = now(), next_due_at = null,
               attention = null, locked_by = null, locked_until = null, updated_at = now()
         where id = $1 and state = 'revoking' and attention is not null
        returning entitlement_id, principal_id, request_id
        "#,
        grant
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    audit::record(
        conn,
        actor,
        AuditAction::GrantRemovalResolved,
        &Subject {
            grant: Some(grant),
            entitlement: Some(row.entitlement_id),
            principal: Some(row.principal_id),
            request: row.request_id,
        },
        json!({ "note": note }),
    )
    .await?;
    Ok(true)
}

/// Pins the stable id of the target the first time the engine reads it.
pub async fn pin_target(
    pool: &PgPool,
    worker: &str,
    grants: &[Uuid],
    target_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update grants set target_id = $3
         where id = any($1) and locked_by = $2 and target_id is null
        "#,
        grants,
        worker,
        target_id
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Pins the account before the first attempt to add the access, so that whatever that attempt
/// did is removed from the same account later.
pub async fn pin_account(
    pool: &PgPool,
    worker: &str,
    grant: Uuid,
    account: &Account,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update grants set account_ref = $3, account_id = $4
         where id = $1 and locked_by = $2 and state = 'scheduled'
        "#,
        grant,
        worker,
        account.reference,
        account.stable_id
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the access was added. False when this worker no longer held the claim.
pub async fn mark_provisioned(
    pool: &PgPool,
    worker: &str,
    acted: &ActedOn<'_>,
) -> Result<bool, sqlx::Error> {
    let work = acted.work;
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        r#"
        update grants
           set state = 'active', provisioned_at = now(), next_due_at = ends_at, attempts = 0,
               last_error = null, locked_by = null, locked_until = null, updated_at = now()
         where id = $1 and locked_by = $2 and state = 'scheduled'
        "#,
        work.id,
        worker
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        &Actor::system("engine"),
        AuditAction::GrantProvisioned,
        &subject(work),
        acted.details(),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Records a failed attempt and when to try again. Removals never give up: past their end
/// they become overdue (and say so once in the trail). A provisioning that failed for good
/// ends the grant as `failed`.
pub async fn mark_failed(
    pool: &PgPool,
    worker: &str,
    work: &Work,
    error: &str,
    retry_in_seconds: Option<f64>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"
        update grants
           set attempts = attempts + 1,
               last_error = $3,
               state = case when $4::float8 is null and state = 'scheduled' then 'failed' else state end,
               next_due_at = case when $4::float8 is null and state = 'scheduled' then null
                                  else now() + make_interval(secs => coalesce($4, 60)) end,
               overdue_since = case when state = 'revoking' and ends_at < now()
                                    then coalesce(overdue_since, now()) else overdue_since end,
               locked_by = null, locked_until = null, updated_at = now()
         where id = $1 and locked_by = $2
        returning state, overdue_since, attempts
        "#,
        work.id,
        worker,
        error,
        retry_in_seconds
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let action = if row.state == "failed" {
        Some(AuditAction::GrantFailed)
    } else if work.overdue_since.is_none() && row.overdue_since.is_some() {
        Some(AuditAction::GrantOverdue)
    } else if row.attempts == 1 {
        Some(AuditAction::GrantRetrying)
    } else {
        None
    };
    if let Some(action) = action {
        audit::record(
            &mut tx,
            &Actor::system("engine"),
            action,
            &subject(work),
            json!({
                "connector": work.connector, "target": work.target_ref, "error": error,
                "attempts": row.attempts, "retry_in_seconds": retry_in_seconds,
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

fn subject(work: &Work) -> Subject {
    Subject {
        grant: Some(work.id),
        entitlement: Some(work.entitlement_id),
        principal: Some(work.principal_id),
        request: None,
    }
}

/// Pending requests past their deadline become expired, each with its audit event.
pub async fn expire_pending_requests(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let expired = sqlx::query!(
        r#"
        update access_requests
           set state = 'expired', closed_at = now(), version = version + 1
         where state = 'pending' and expires_at <= now()
        returning id, entitlement_id, beneficiary_id
        "#
    )
    .fetch_all(&mut *tx)
    .await?;
    for request in &expired {
        audit::record(
            &mut tx,
            &Actor::system("engine"),
            AuditAction::RequestExpired,
            &Subject {
                request: Some(request.id),
                entitlement: Some(request.entitlement_id),
                principal: Some(request.beneficiary_id),
                grant: None,
            },
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(expired.len() as u64)
}

/// Gives back a claim without doing anything (the grant was not due after all).
pub async fn release(pool: &PgPool, worker: &str, grant: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update grants
           set locked_by = null, locked_until = null,
               next_due_at = case state when 'active' then ends_at
                                        when 'scheduled' then starts_at
                                        else next_due_at end
         where id = $1 and locked_by = $2
        "#,
        grant,
        worker
    )
    .execute(pool)
    .await?;
    Ok(())
}
