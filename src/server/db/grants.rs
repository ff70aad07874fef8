//! Grants: the leases. Creation and extension happen in the approval transaction; the engine
//! claims due grants, calls the connector outside any transaction, then records the outcome
//! only if it still holds the claim.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::access::Access;
use crate::domain::audit::AuditAction;
use crate::domain::grant::{Attention, GrantEvent, GrantState, GrantStep, Removal, RevokeReason};
use crate::domain::request::{RequestEvent, RequestState};
use crate::domain::step::Lifecycle as _;
use crate::server::connectors::Account;
use crate::server::db::audit::{self, Actor, Subject};

/// The live grant of a person for an entitlement, locked for the rest of the transaction.
pub struct LiveGrant {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub state: GrantState,
}

pub async fn live_for_update(
    conn: &mut PgConnection,
    principal: Uuid,
    entitlement: Uuid,
) -> Result<Option<LiveGrant>, sqlx::Error> {
    sqlx::query_as!(
        LiveGrant,
        r#"
        select id, starts_at as "starts_at: DateTime<Utc>", ends_at as "ends_at: DateTime<Utc>",
               state as "state: GrantState"
          from grants
         where principal_id = $1 and entitlement_id = $2 and grant_is_live(state)
         for update
        "#,
        principal,
        entitlement
    )
    .fetch_optional(conn)
    .await
}

/// A grant as its holder acts on it (gives it back), locked until the transaction ends.
pub struct Held {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub entitlement_id: Uuid,
    pub request_id: Option<Uuid>,
    pub bundle_id: Option<Uuid>,
    pub state: GrantState,
    pub ends_at: DateTime<Utc>,
}

pub async fn lock(conn: &mut PgConnection, grant: Uuid) -> Result<Option<Held>, sqlx::Error> {
    sqlx::query_as!(
        Held,
        r#"
        select id, principal_id, entitlement_id, request_id, bundle_id,
               state as "state: GrantState", ends_at as "ends_at: DateTime<Utc>"
          from grants where id = $1
           for update
        "#,
        grant
    )
    .fetch_optional(conn)
    .await
}

/// The live parts of the bundle the person holds through `bundle`, locked, in id order.
pub async fn lock_bundle(
    conn: &mut PgConnection,
    principal: Uuid,
    bundle: Uuid,
) -> Result<Vec<Held>, sqlx::Error> {
    sqlx::query_as!(
        Held,
        r#"
        select id, principal_id, entitlement_id, request_id, bundle_id,
               state as "state: GrantState", ends_at as "ends_at: DateTime<Utc>"
          from grants
         where principal_id = $1 and bundle_id = $2 and grant_is_live(state)
         order by id
           for update
        "#,
        principal,
        bundle
    )
    .fetch_all(conn)
    .await
}

/// Every live grant of a person, locked, in id order (an account contained in an incident).
pub async fn lock_live_of(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Vec<Held>, sqlx::Error> {
    sqlx::query_as!(
        Held,
        r#"
        select id, principal_id, entitlement_id, request_id, bundle_id,
               state as "state: GrantState", ends_at as "ends_at: DateTime<Utc>"
          from grants
         where principal_id = $1 and grant_is_live(state)
         order by id
           for update
        "#,
        principal
    )
    .fetch_all(conn)
    .await
}

/// A grant as a request for more time on it needs it (a bundle's part: the bundle, so all
/// its parts get the time).
pub struct ForExtension {
    pub principal_id: Uuid,
    pub state: GrantState,
    pub ends_at: DateTime<Utc>,
    pub entitlement_key: String,
}

pub async fn for_extension(
    pool: &PgPool,
    grant: Uuid,
) -> Result<Option<ForExtension>, sqlx::Error> {
    sqlx::query_as!(
        ForExtension,
        r#"
        select g.principal_id, g.state as "state: GrantState",
               g.ends_at as "ends_at: DateTime<Utc>", e.key as entitlement_key
          from grants g join entitlements e on e.id = coalesce(g.bundle_id, g.entitlement_id)
         where g.id = $1
        "#,
        grant
    )
    .fetch_optional(pool)
    .await
}

/// A lease to create for an approved request.
pub struct NewGrant {
    pub principal: Uuid,
    pub entitlement: Uuid,
    pub request: Uuid,
    /// The bundle it comes with, if it is a bundle's part.
    pub bundle: Option<Uuid>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

pub async fn create(conn: &mut PgConnection, grant: &NewGrant) -> Result<Uuid, sqlx::Error> {
    // The grant is pinned to the entry's system and target as they are now: a later catalog
    // change cannot move where this lease is removed from.
    sqlx::query_scalar!(
        r#"
        insert into grants (principal_id, entitlement_id, request_id, starts_at, ends_at,
                            next_due_at, connector_id, target_ref, access, bundle_id)
        select $1, e.id, $3, $4, $5, $4, e.connector_id, e.target_ref, e.access, $6
          from entitlements e where e.id = $2
        returning id
        "#,
        grant.principal,
        grant.entitlement,
        grant.request,
        grant.starts_at as DateTime<Utc>,
        grant.ends_at as DateTime<Utc>,
        grant.bundle
    )
    .fetch_one(conn)
    .await
}

/// The address a grant's request opened it to, for access opened to an address (a VM's
/// port); `None` for everything else.
pub async fn source_address(pool: &PgPool, grant: Uuid) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        r#"select r.source_address from grants g join access_requests r on r.id = g.request_id
            where g.id = $1"#,
        grant
    )
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// Moves a live grant's end later (`step` is its [`GrantEvent::Extended`]); an active grant's
/// next due instant moves with it. Extended by a bundle's approval, it becomes that bundle's
/// part. False when the grant was no longer in `step.from()`.
pub async fn extend(
    conn: &mut PgConnection,
    grant: Uuid,
    step: GrantStep,
    ends_at: DateTime<Utc>,
    bundle: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    debug_assert_eq!(step.event(), GrantEvent::Extended);
    // A scheduled grant falls due at its start, which does not move; an active one at its end,
    // or at once when its target keeps an earlier end of its own that must be moved.
    let next_due_at = (step.from() == GrantState::Active).then_some(ends_at);
    let done = sqlx::query!(
        r#"
        update grants
           set state = $4, ends_at = $2,
               next_due_at = case when $5::timestamptz is null then next_due_at
                                  when told_until is not null and told_until < $2 then now()
                                  else $5 end,
               bundle_id = coalesce($6, bundle_id),
               updated_at = now()
         where id = $1 and state = $3
        "#,
        grant,
        ends_at as DateTime<Utc>,
        step.from() as GrantState,
        step.to() as GrantState,
        next_due_at as Option<DateTime<Utc>>,
        bundle
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a live grant's end earlier (`step` is its [`GrantEvent::Shortened`]), to no earlier
/// than its start; an active grant falls due at the new end. False when the grant was no longer
/// in `step.from()`.
pub async fn shorten(
    conn: &mut PgConnection,
    grant: Uuid,
    step: GrantStep,
    ends_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    debug_assert_eq!(step.event(), GrantEvent::Shortened);
    let done = sqlx::query!(
        r#"
        update grants
           set state = $4,
               ends_at = greatest(starts_at + interval '1 millisecond', least(ends_at, $2)),
               next_due_at = case when state = 'active'
                                  then greatest(starts_at + interval '1 millisecond', least(ends_at, $2))
                                  else next_due_at end,
               updated_at = now()
         where id = $1 and state = $3
        "#,
        grant,
        ends_at as DateTime<Utc>,
        step.from() as GrantState,
        step.to() as GrantState
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a live grant now (given back, or revoked by an administrator; `step` is its
/// [`GrantEvent::Withdrawn`]): the engine removes it at once. False when the grant was no
/// longer in `step.from()`.
pub async fn withdraw(
    conn: &mut PgConnection,
    grant: Uuid,
    step: GrantStep,
    reason: RevokeReason,
) -> Result<bool, sqlx::Error> {
    debug_assert_eq!(step.event(), GrantEvent::Withdrawn);
    let done = sqlx::query!(
        r#"
        update grants
           set state = $4, revoke_reason = $2, next_due_at = now(),
               ends_at = greatest(starts_at + interval '1 millisecond', least(ends_at, now())),
               updated_at = now()
         where id = $1 and state = $3
        "#,
        grant,
        reason as RevokeReason,
        step.from() as GrantState,
        step.to() as GrantState
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A grant as the engine works on it: where it was pinned, and its account if one was pinned.
#[derive(Debug, Clone)]
pub struct Work {
    pub id: Uuid,
    pub state: GrantState,
    pub principal_id: Uuid,
    pub upn: String,
    pub entitlement_id: Uuid,
    pub connector_id: Uuid,
    pub connector: String,
    pub target_ref: String,
    pub target_id: Option<String>,
    /// The access pinned when the grant was made.
    pub access: Json<Access>,
    pub account_ref: Option<String>,
    pub account_id: Option<String>,
    /// The access was added at least once.
    pub provisioned: bool,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The requester's justification, for systems that record one.
    pub reason: String,
    /// Where the person connects from, for access opened to an address (a VM's port).
    pub source: Option<String>,
    /// The end the target itself was last told, for targets that keep one.
    pub told_until: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub overdue_since: Option<DateTime<Utc>>,
    pub revoke_reason: Option<RevokeReason>,
    pub attention: Option<Attention>,
}

/// What [`GrantEvent::EndReached`] does to a live grant: the states it applies to, and the one
/// they all move to.
fn end_reached() -> (Vec<GrantState>, GrantState) {
    let steps: Vec<GrantStep> = GrantState::LIVE
        .iter()
        .map(|s| {
            s.step(GrantEvent::EndReached)
                .expect("a live grant can end")
        })
        .collect();
    let to = steps[0].to();
    assert!(steps.iter().all(|s| s.to() == to), "live grants end alike");
    (steps.iter().map(|s| s.from()).collect(), to)
}

/// Claims up to `limit` due grants for `worker` until the lease passes, in one statement.
/// Live grants whose end has come take [`GrantEvent::EndReached`] as they are claimed. A
/// scheduled grant waits while an earlier grant of the same person and entitlement is still
/// being removed, so the removal cannot undo it.
///
/// A target is worked on by one replica at a time: a grant is not claimed while another
/// worker holds a claim on a grant of the same target. Some targets are changed by reading
/// and rewriting their whole state (an Azure VM port's JIT request names every holder; a
/// SharePoint permission's roles), and two replicas doing that at once could undo each other,
/// a grant re-opening what a removal had just proven gone. Claims are made one at a time
/// across replicas (a transaction-scoped advisory lock), so each sees the claims before it.
pub async fn claim_due(
    pool: &PgPool,
    worker: &str,
    lease_seconds: f64,
    limit: i64,
) -> Result<Vec<Work>, sqlx::Error> {
    let (live, ending) = end_reached();
    let mut tx = pool.begin().await?;
    sqlx::query!("select pg_advisory_xact_lock($1)", CLAIMING)
        .execute(&mut *tx)
        .await?;
    let work = sqlx::query_as!(
        Work,
        r#"
        with held as materialized (
            -- The targets another worker holds a live claim on, read once from the small
            -- partial index rather than probed again for every due grant.
            select distinct connector_id, target_ref from grants
             where locked_by is not null and locked_by <> $1 and locked_until >= now()
        ), due as (
            select g.id from grants g
             where g.next_due_at <= now()
               and (g.locked_until is null or g.locked_until < now())
               and not (g.state = $6 and exists (
                        select 1 from grants r
                         where r.principal_id = g.principal_id
                           and r.entitlement_id = g.entitlement_id
                           and r.state = $5))
               and not exists (
                        select 1 from held h
                         where h.connector_id = g.connector_id
                           and h.target_ref = g.target_ref)
             order by g.next_due_at
             limit $3
             for update skip locked
        )
        update grants g
           set locked_by = $1,
               locked_until = now() + make_interval(secs => $2),
               state = case when g.state = any($4) and g.ends_at <= now()
                            then $5 else g.state end,
               revoke_reason = case when g.state = any($4) and g.ends_at <= now()
                                    then coalesce(g.revoke_reason, $7)
                                    else g.revoke_reason end,
               updated_at = now()
          from due, principals p, connectors c
         where g.id = due.id and p.id = g.principal_id and c.id = g.connector_id
        returning g.id, g.state as "state: GrantState", g.principal_id, p.upn, g.entitlement_id,
                  g.connector_id, c.name as connector, g.target_ref, g.target_id,
                  g.access as "access: Json<Access>",
                  g.account_ref, g.account_id, g.provisioned_at is not null as "provisioned!",
                  g.starts_at as "starts_at: DateTime<Utc>",
                  g.ends_at as "ends_at: DateTime<Utc>",
                  coalesce((select r.justification from access_requests r
                             where r.id = g.request_id), '') as "reason!",
                  (select r.source_address from access_requests r
                    where r.id = g.request_id) as "source?",
                  g.told_until as "told_until: DateTime<Utc>",
                  g.attempts,
                  g.overdue_since as "overdue_since: DateTime<Utc>",
                  g.revoke_reason as "revoke_reason: RevokeReason",
                  g.attention as "attention: Attention"
        "#,
        worker,
        lease_seconds,
        limit,
        &live as &[GrantState],
        ending as GrantState,
        GrantState::Scheduled as GrantState,
        RevokeReason::Expired as RevokeReason
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(work)
}

/// The advisory lock key that makes claiming one at a time across replicas ("LGCLAIM").
const CLAIMING: i64 = 0x4c47_434c_4149_4d00;

/// Seconds until the engine next has something to do: a grant that falls due and can be
/// claimed then (not before a claim on it, or on a grant of its target, lapses), or a pending
/// request reaching its deadline. `None` when there is nothing at all.
pub async fn seconds_until_next_due(pool: &PgPool) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        with held as (
            -- The targets a claim holds now, and until when the last of their claims lasts.
            select connector_id, target_ref, max(locked_until) as until
              from grants
             where locked_by is not null and locked_until >= now()
             group by connector_id, target_ref
        )
        select extract(epoch from (least(
                 -- The first due grant whose target no claim holds: the index on
                 -- next_due_at finds it at once.
                 (select g.next_due_at
                    from grants g
                   where g.next_due_at is not null
                     and not exists (select 1 from held h
                                      where h.connector_id = g.connector_id
                                        and h.target_ref = g.target_ref)
                   order by g.next_due_at
                   limit 1),
                 -- A held target's due grants wait for the last claim on it (their own
                 -- included): its first due grant, once that claim lapses.
                 (select min(greatest(
                           h.until,
                           (select min(g.next_due_at) from grants g
                             where g.connector_id = h.connector_id
                               and g.target_ref = h.target_ref
                               and g.next_due_at is not null)))
                    from held h),
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
         where state = $1 and overdue_since is not null and next_due_at > now()
        "#,
        GrantState::Revoking as GrantState
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Links the account found for a person to them, unless it is already another person's:
/// one account in one system belongs to at most one person. Answers whether the account is
/// this person's now; `false` leaves every link as it was.
pub async fn remember_account(
    pool: &PgPool,
    principal: Uuid,
    connector: Uuid,
    account: &Account,
) -> Result<bool, sqlx::Error> {
    // A unique violation means a link of this account committed while the statement ran: the
    // same person's (the engine links a person's leases on one system in parallel) or
    // another's. Asked again, the statement sees which and answers for it.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match link(pool, principal, connector, account).await {
            Err(e) if super::is_unique_violation(&e) && attempts < 3 => continue,
            Err(e) if super::is_unique_violation(&e) => return Ok(false),
            done => return done,
        }
    }
}

async fn link(
    pool: &PgPool,
    principal: Uuid,
    connector: Uuid,
    account: &Account,
) -> Result<bool, sqlx::Error> {
    let linked = sqlx::query_scalar!(
        r#"
        insert into principal_accounts (principal_id, connector_id, account_ref, account_id,
                                        manager_ref)
        select $1, $2, $3, $4, $5
         where not exists (select 1 from principal_accounts
                            where connector_id = $2 and account_id = $4 and principal_id <> $1)
        on conflict (principal_id, connector_id) do update
           set account_ref = excluded.account_ref,
               account_id = excluded.account_id,
               manager_ref = excluded.manager_ref,
               resolved_at = now()
        returning true as "linked!"
        "#,
        principal,
        connector,
        account.reference,
        account.stable_id,
        account.manager
    )
    .fetch_optional(pool)
    .await?;
    Ok(linked.is_some())
}

/// Where a removal or an addition actually acted: the target and account as the directory
/// names them now (they differ from the pinned references after a rename or a move).
#[derive(Debug, Clone)]
pub struct ActedOn<'a> {
    pub work: &'a Work,
    pub target: &'a str,
    pub account: &'a str,
    /// What the system said of it (its own ids and status), where it said more than "done".
    pub receipt: Option<&'a serde_json::Value>,
}

impl ActedOn<'_> {
    fn details(&self) -> serde_json::Value {
        let w = self.work;
        let mut details = json!({
            "connector": w.connector, "target": self.target, "target_id": w.target_id,
            "account": self.account, "account_id": w.account_id,
            "pinned_target": w.target_ref, "pinned_account": w.account_ref,
        });
        if w.access.0 != Access::AdGroup {
            details["access"] = json!(w.access.0);
            // A cloud account is an object id: the person's sign-in name says who it is.
            details["upn"] = json!(w.upn);
        }
        if let Some(receipt) = self.receipt {
            details["system"] = receipt.clone();
        }
        details
    }
}

/// Records, in one transaction, that the access of every grant in `done` was removed and
/// read back as absent (`step` is their [`GrantEvent::RemovalConfirmed`]); returns how many
/// this worker still held the claim for.
pub async fn mark_revoked_many(
    pool: &PgPool,
    worker: &str,
    step: GrantStep,
    done: &[ActedOn<'_>],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let removal = step.event().removal();
    debug_assert_eq!(removal, Some(Removal::Verified));
    if done.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = done.iter().map(|d| d.work.id).collect();
    let mut tx = pool.begin().await?;
    let recorded_ids: Vec<Uuid> = sqlx::query_scalar!(
        r#"
        update grants
           set state = $4, removal = $5, revoked_at = now(), verified_at = now(),
               next_due_at = null, attention = null, last_error = null, locked_by = null,
               locked_until = null, updated_at = now()
         where id = any($1) and locked_by = $2 and state = $3
        returning id
        "#,
        &ids,
        worker,
        step.from() as GrantState,
        step.to() as GrantState,
        removal as Option<Removal>
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
    Ok(recorded_ids)
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
/// have been added; `step` is their [`GrantEvent::NothingToRemove`]): revoked, and said to be
/// unverified because there was nothing to read.
pub async fn mark_never_provisioned(
    pool: &PgPool,
    worker: &str,
    step: GrantStep,
    works: &[&Work],
) -> Result<usize, sqlx::Error> {
    let removal = step.event().removal();
    debug_assert_eq!(removal, Some(Removal::NeverProvisioned));
    if works.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = works.iter().map(|w| w.id).collect();
    let mut tx = pool.begin().await?;
    let recorded_ids: Vec<Uuid> = sqlx::query_scalar!(
        r#"
        update grants
           set state = $4, removal = $5, revoked_at = now(),
               next_due_at = null, attention = null, locked_by = null, locked_until = null,
               updated_at = now()
         where id = any($1) and locked_by = $2 and state = $3 and account_ref is null
           and provisioned_at is null
        returning id
        "#,
        &ids,
        worker,
        step.from() as GrantState,
        step.to() as GrantState,
        removal as Option<Removal>
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
    attention: Attention,
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
         where id = $1 and locked_by = $2 and state = $6
        "#,
        work.id,
        worker,
        attention as Attention,
        match attention {
            Attention::AccountMissing => "the account the access was given to no longer exists",
            Attention::TargetMissing => "the group the access was given in no longer exists",
        },
        retry_in_seconds,
        GrantState::Revoking as GrantState
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if work.attention != Some(attention) {
        audit::record(
            &mut tx,
            &Actor::system("engine"),
            match attention {
                Attention::AccountMissing => AuditAction::GrantAccountMissing,
                Attention::TargetMissing => AuditAction::GrantTargetMissing,
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
/// gone (`step` is its [`GrantEvent::ClosedByPerson`]). The grant ends as revoked, never as
/// verified.
pub async fn resolve_missing(
    conn: &mut PgConnection,
    grant: Uuid,
    step: GrantStep,
    actor: &Actor,
    note: &str,
) -> Result<bool, sqlx::Error> {
    let removal = step.event().removal();
    debug_assert_eq!(removal, Some(Removal::Resolved));
    let row = sqlx::query!(
        r#"
        update grants
           set state = $3, removal = $4, revoked_at = now(), next_due_at = null,
               attention = null, locked_by = null, locked_until = null, updated_at = now()
         where id = $1 and state = $2 and attention is not null
        returning entitlement_id, principal_id, request_id
        "#,
        grant,
        step.from() as GrantState,
        step.to() as GrantState,
        removal as Option<Removal>
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
         where id = $1 and locked_by = $2 and state = $5
        "#,
        grant,
        worker,
        account.reference,
        account.stable_id,
        GrantState::Scheduled as GrantState
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the access was added (`step` is its [`GrantEvent::Provisioned`]). False when
/// this worker no longer held the claim.
pub async fn mark_provisioned(
    pool: &PgPool,
    worker: &str,
    step: GrantStep,
    acted: &ActedOn<'_>,
) -> Result<bool, sqlx::Error> {
    debug_assert_eq!(step.event(), GrantEvent::Provisioned);
    let work = acted.work;
    let told = work
        .access
        .0
        .kind()
        .target_enforces_end()
        .then_some(work.ends_at);
    let mut tx = pool.begin().await?;
    // Extended while being added: the target was told the old end, so it is told again now.
    let done = sqlx::query!(
        r#"
        update grants
           set state = $4, provisioned_at = now(), told_until = $5,
               next_due_at = case when $5::timestamptz is not null and ends_at > $5 then now()
                                  else ends_at end,
               attempts = 0, last_error = null, locked_by = null, locked_until = null,
               updated_at = now()
         where id = $1 and locked_by = $2 and state = $3
        "#,
        work.id,
        worker,
        step.from() as GrantState,
        step.to() as GrantState,
        told as Option<DateTime<Utc>>
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

/// Records that an active grant's target was told its new end (after an extension). False
/// when this worker no longer held the claim.
pub async fn mark_end_told(
    pool: &PgPool,
    worker: &str,
    acted: &ActedOn<'_>,
) -> Result<bool, sqlx::Error> {
    let work = acted.work;
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        r#"
        update grants
           set told_until = $4,
               next_due_at = case when ends_at > $4 then now() else ends_at end,
               attempts = 0, last_error = null, locked_by = null, locked_until = null,
               updated_at = now()
         where id = $1 and locked_by = $2 and state = $3
        "#,
        work.id,
        worker,
        GrantState::Active as GrantState,
        work.ends_at as DateTime<Utc>
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let mut details = acted.details();
    details["ends_at"] = json!(work.ends_at);
    audit::record(
        &mut tx,
        &Actor::system("engine"),
        AuditAction::GrantEndTold,
        &subject(work),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// What comes of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retry {
    /// Try again in this many seconds.
    In(f64),
    /// Never: the grant takes `step` (its [`GrantEvent::ProvisioningFailed`]).
    Never(GrantStep),
}

/// Records a failed attempt and what comes next. Removals never give up: past their end and
/// `grace_seconds` (a removal seen late is not an alarm) they become overdue, and say so once in
/// the trail. A provisioning that failed for good ends the grant as failed.
pub async fn mark_failed(
    pool: &PgPool,
    worker: &str,
    work: &Work,
    error: &str,
    retry: Retry,
    grace_seconds: f64,
) -> Result<bool, sqlx::Error> {
    let (retry_in_seconds, to) = match retry {
        Retry::In(seconds) => (Some(seconds), work.state),
        Retry::Never(step) => (None, step.to()),
    };
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        r#"
        update grants
           set attempts = attempts + 1,
               last_error = $3,
               state = $6,
               next_due_at = case when $4::float8 is null then null
                                  else now() + make_interval(secs => $4) end,
               overdue_since = case when state = $7
                                         and ends_at < now() - make_interval(secs => $8)
                                    then coalesce(overdue_since, now()) else overdue_since end,
               locked_by = null, locked_until = null, updated_at = now()
         where id = $1 and locked_by = $2 and state = $5
        returning overdue_since as "overdue_since: DateTime<Utc>", attempts
        "#,
        work.id,
        worker,
        error,
        retry_in_seconds,
        work.state as GrantState,
        to as GrantState,
        GrantState::Revoking as GrantState,
        grace_seconds
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let action = if to == GrantState::Failed {
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

/// Pending requests past their deadline take [`RequestEvent::DeadlinePassed`], each with its
/// audit event.
pub async fn expire_pending_requests(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let step = RequestState::Pending
        .step(RequestEvent::DeadlinePassed)
        .expect("a pending request can pass its deadline");
    let mut tx = pool.begin().await?;
    let expired = sqlx::query!(
        r#"
        update access_requests
           set state = $2, closed_at = now(), version = version + 1
         where state = $1 and expires_at <= now()
        returning id, entitlement_id, beneficiary_id
        "#,
        step.from() as RequestState,
        step.to() as RequestState
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
               next_due_at = case state when $3 then ends_at
                                        when $4 then starts_at
                                        else next_due_at end
         where id = $1 and locked_by = $2
        "#,
        grant,
        worker,
        GrantState::Active as GrantState,
        GrantState::Scheduled as GrantState
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A removal that needs a person: what it must act on is gone.
pub struct NeedsAPerson {
    pub id: Uuid,
    pub holder: String,
    pub entitlement: String,
    pub connector: String,
    pub target_ref: String,
    pub account_ref: Option<String>,
    pub attention: Attention,
    pub overdue_since: Option<DateTime<Utc>>,
}

pub async fn needing_a_person(pool: &PgPool) -> Result<Vec<NeedsAPerson>, sqlx::Error> {
    sqlx::query_as!(
        NeedsAPerson,
        r#"
        select g.id, p.display_name as holder, e.name as entitlement, c.name as connector,
               g.target_ref, g.account_ref, g.attention as "attention!: Attention",
               g.overdue_since as "overdue_since: DateTime<Utc>"
          from grants g
          join principals p on p.id = g.principal_id
          join entitlements e on e.id = g.entitlement_id
          join connectors c on c.id = g.connector_id
         where g.attention is not null
         order by g.overdue_since
        "#
    )
    .fetch_all(pool)
    .await
}
