//! Grants: the leases. Creation and extension happen in the approval transaction; the engine
//! claims due grants, calls the connector outside any transaction, then records the outcome
//! only if it still holds the claim.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

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
    sqlx::query_scalar!(
        r#"
        insert into grants (principal_id, entitlement_id, request_id, starts_at, ends_at, next_due_at)
        values ($1, $2, $3, $4, $5, $4)
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

/// A grant as the engine works on it.
#[derive(Debug, Clone)]
pub struct Work {
    pub id: Uuid,
    pub state: String,
    pub principal_id: Uuid,
    pub upn: String,
    pub entitlement_id: Uuid,
    pub connector_id: Uuid,
    pub connector: String,
    pub target: String,
    pub account: Option<String>,
    pub ends_at: DateTime<Utc>,
    pub attempts: i32,
    pub overdue_since: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

/// Claims up to `limit` due grants for `worker` until the lease passes. Grants whose end has
/// come move to `revoking` as they are claimed. A scheduled grant waits while an earlier grant
/// of the same person and entitlement is still being removed, so the removal cannot undo it.
pub async fn claim_due(
    pool: &PgPool,
    worker: &str,
    lease_seconds: f64,
    limit: i64,
) -> Result<Vec<Work>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let ids: Vec<Uuid> = sqlx::query_scalar!(
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
          from due
         where g.id = due.id
        returning g.id
        "#,
        worker,
        lease_seconds,
        limit
    )
    .fetch_all(&mut *tx)
    .await?;
    let work = sqlx::query_as!(
        Work,
        r#"
        select g.id, g.state, g.principal_id, p.upn, g.entitlement_id, e.connector_id,
               c.name as connector, e.target_ref as target, pa.account_ref as "account?",
               g.ends_at as "ends_at: DateTime<Utc>", g.attempts,
               g.overdue_since as "overdue_since: DateTime<Utc>", g.revoke_reason
          from grants g
          join principals p on p.id = g.principal_id
          join entitlements e on e.id = g.entitlement_id
          join connectors c on c.id = e.connector_id
          left join principal_accounts pa
                 on pa.principal_id = g.principal_id and pa.connector_id = e.connector_id
         where g.id = any($1)
        "#,
        &ids
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(work)
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
    account: &str,
    manager: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into principal_accounts (principal_id, connector_id, account_ref, manager_ref)
        values ($1, $2, $3, $4)
        on conflict (principal_id, connector_id) do update
           set account_ref = excluded.account_ref,
               manager_ref = excluded.manager_ref,
               resolved_at = now()
        "#,
        principal,
        connector,
        account,
        manager
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records, in one transaction, that the access of every grant in `works` was removed and
/// read back as absent; returns how many this worker still held the claim for.
pub async fn mark_revoked_many(
    pool: &PgPool,
    worker: &str,
    works: &[&Work],
) -> Result<usize, sqlx::Error> {
    if works.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = works.iter().map(|w| w.id).collect();
    let mut tx = pool.begin().await?;
    let done: Vec<Uuid> = sqlx::query_scalar!(
        r#"
        update grants
           set state = 'revoked', revoked_at = now(), verified_at = now(), next_due_at = null,
               last_error = null, locked_by = null, locked_until = null, updated_at = now()
         where id = any($1) and locked_by = $2 and state = 'revoking'
        returning id
        "#,
        &ids,
        worker
    )
    .fetch_all(&mut *tx)
    .await?;
    let recorded: Vec<&&Work> = works.iter().filter(|w| done.contains(&w.id)).collect();
    let grant_ids: Vec<Uuid> = recorded.iter().map(|w| w.id).collect();
    let entitlements: Vec<Uuid> = recorded.iter().map(|w| w.entitlement_id).collect();
    let principals: Vec<Uuid> = recorded.iter().map(|w| w.principal_id).collect();
    let details: Vec<serde_json::Value> = recorded
        .iter()
        .map(|work| {
            json!({
                "connector": work.connector, "target": work.target, "account": work.account,
                "reason": work.revoke_reason, "verified": true,
                "ends_at": work.ends_at, "overdue_since": work.overdue_since,
            })
        })
        .collect();
    // One statement for the whole batch; the chain trigger still hashes row by row.
    sqlx::query!(
        r#"
        insert into audit_events (actor_label, action, grant_id, entitlement_id, subject_id, details)
        select 'engine', 'grant.revoked', g, e, p, d
          from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::jsonb[]) as t(g, e, p, d)
        "#,
        &grant_ids,
        &entitlements,
        &principals,
        &details
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.len())
}

/// Records that the access was added. False when this worker no longer held the claim.
pub async fn mark_provisioned(
    pool: &PgPool,
    worker: &str,
    work: &Work,
) -> Result<bool, sqlx::Error> {
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
        "grant.provisioned",
        &subject(work),
        json!({ "connector": work.connector, "target": work.target, "account": work.account }),
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
        Some("grant.failed")
    } else if work.overdue_since.is_none() && row.overdue_since.is_some() {
        Some("grant.overdue")
    } else if row.attempts == 1 {
        Some("grant.retrying")
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
                "connector": work.connector, "target": work.target, "error": error,
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
            "request.expired",
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
