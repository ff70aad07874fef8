//! Reconciliation's rows: each entry's last pass, the findings, the declared standing holders.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::api::types::findings::{Declaration, Finding, Pass};
use crate::domain::access::Access;
use crate::domain::grant::GrantState;
use crate::domain::policy::Policy;
use crate::domain::reconcile::{Closure, FindingAction, FindingKind};

/// The NOTIFY channel that wakes the reconciliation job (an administrator asked for passes).
pub const CHANNEL: &str = "leasegate_reconcile";

/// An entry reconciliation reads: its system, target, access and policy.
#[derive(Debug, Clone)]
pub struct Managed {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub connector_id: Uuid,
    pub connector: String,
    pub target: String,
    pub access: Json<Access>,
    pub policy: Json<Policy>,
    pub owners: Vec<String>,
}

/// The enabled entries of systems (bundles have no target of their own) that are due a pass:
/// requested by an administrator, never passed, or last passed `every` ago; requested first.
pub async fn due(pool: &PgPool, every: std::time::Duration) -> Result<Vec<Managed>, sqlx::Error> {
    let every = chrono::TimeDelta::from_std(every).unwrap_or(chrono::TimeDelta::hours(1));
    sqlx::query_as!(
        Managed,
        r#"
        select e.id, e.key, e.name, c.id as "connector_id!", c.name as connector,
               e.target_ref as target, e.access as "access: Json<Access>",
               p.rules as "policy: Json<Policy>", e.owners
          from entitlements e
          join connectors c on c.id = e.connector_id
          join policies p on p.id = e.policy_id
          left join reconcile_passes r on r.entitlement_id = e.id
         where e.enabled and e.kind <> 'bundle'
           and (r.requested_at is not null or r.last_pass_at is null
                or r.last_pass_at <= now() - $1::interval)
         order by r.requested_at nulls last, r.last_pass_at nulls first, e.key
        "#,
        every as chrono::TimeDelta
    )
    .fetch_all(pool)
    .await
}

/// One enabled entry of a system, by key.
pub async fn managed(conn: &mut PgConnection, key: &str) -> Result<Option<Managed>, sqlx::Error> {
    sqlx::query_as!(
        Managed,
        r#"
        select e.id, e.key, e.name, c.id as "connector_id!", c.name as connector,
               e.target_ref as target, e.access as "access: Json<Access>",
               p.rules as "policy: Json<Policy>", e.owners
          from entitlements e
          join connectors c on c.id = e.connector_id
          join policies p on p.id = e.policy_id
         where e.key = $1 and e.enabled and e.kind <> 'bundle'
        "#,
        key
    )
    .fetch_optional(conn)
    .await
}

/// Takes the entry's pass for the length of `tx`; `false` when another worker holds it.
pub async fn lock_pass(conn: &mut PgConnection, entitlement: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "insert into reconcile_passes (entitlement_id) values ($1) on conflict do nothing",
        entitlement
    )
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query!(
        "select entitlement_id from reconcile_passes where entitlement_id = $1
         for update skip locked",
        entitlement
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// How a pass went, as its row records it.
pub enum Passed<'a> {
    /// The target was read; it listed this many accounts.
    Read(i32),
    /// The target could not be read now.
    Failed(&'a str),
    /// The connector cannot list who holds this kind of access.
    Unreadable(&'a str),
}

/// Whether the entry's last complete read saw `version` as the target's change mark, is newer
/// than `since`, found the target readable and nothing unsettled, and nothing the comparison
/// depends on changed after it: no lease of the entry changed (within `grace` of it, or since),
/// no declaration was made, withdrawn or ended, nobody asked for a pass, and no finding waits
/// for a removal to be tried again.
pub async fn unchanged_since_complete(
    conn: &mut PgConnection,
    entitlement: Uuid,
    version: &str,
    since: DateTime<Utc>,
    grace: chrono::TimeDelta,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select exists (
            select 1 from reconcile_passes r
             where r.entitlement_id = $1 and r.version = $2 and r.last_complete_at > $3
               and r.requested_at is null and r.last_error is null
               and not exists (
                     select 1 from grants g
                      where g.entitlement_id = $1
                        and (g.updated_at > r.last_complete_at - $4::interval
                             or g.state = 'revoking'
                             or (g.state = 'scheduled' and g.starts_at <= now() + $4::interval)
                             or g.locked_until > r.last_complete_at))
               and not exists (
                     select 1 from standing_holders s
                      where s.entitlement_id = $1
                        and (s.declared_at > r.last_complete_at
                             or s.withdrawn_at > r.last_complete_at
                             or (s.until > r.last_complete_at and s.until <= now())))
               and not exists (
                     select 1 from findings f
                      where f.entitlement_id = $1 and f.closed_at is null
                        and f.action = 'remove_failed')
        ) as "unchanged!"
        "#,
        entitlement,
        version,
        since as DateTime<Utc>,
        grace as chrono::TimeDelta
    )
    .fetch_one(conn)
    .await
}

/// Records a pass that read nothing because nothing changed: the open findings are seen again.
/// Answers how many holders the last complete read listed.
pub async fn record_unchanged(
    conn: &mut PgConnection,
    entitlement: Uuid,
) -> Result<i32, sqlx::Error> {
    sqlx::query!(
        "update findings set last_seen = now() where entitlement_id = $1 and closed_at is null",
        entitlement
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        r#"
        update reconcile_passes
           set last_pass_at = now(), last_ok_at = now(), requested_at = null, last_error = null,
               unchanged_passes = unchanged_passes + 1
         where entitlement_id = $1
        returning coalesce(holders, 0) as "holders!"
        "#,
        entitlement
    )
    .fetch_one(conn)
    .await
}

/// What the last pass kept of the system's change tracking: the cursor of the next round, the
/// holders the last round left, and when the holders were last listed in full.
pub struct Tracked {
    pub cursor: Option<String>,
    pub holders: Option<Vec<String>>,
    pub last_complete_at: Option<DateTime<Utc>>,
}

pub async fn tracked(
    conn: &mut PgConnection,
    entitlement: Uuid,
) -> Result<Option<Tracked>, sqlx::Error> {
    sqlx::query_as!(
        Tracked,
        r#"
        select cursor, holders_list as holders,
               last_complete_at as "last_complete_at: DateTime<Utc>"
          from reconcile_passes where entitlement_id = $1
        "#,
        entitlement
    )
    .fetch_optional(conn)
    .await
}

/// Keeps the change tracking's cursor and the holders its round left (both cleared: the
/// system tracks no changes of this kind).
pub async fn record_tracked(
    conn: &mut PgConnection,
    entitlement: Uuid,
    cursor: Option<&str>,
    holders: Option<&[String]>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update reconcile_passes set cursor = $2, holders_list = $3 where entitlement_id = $1",
        entitlement,
        cursor,
        holders
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a complete read of the entry's holders and the change mark read before it.
pub async fn record_complete(
    conn: &mut PgConnection,
    entitlement: Uuid,
    version: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update reconcile_passes set version = $2, last_complete_at = now() where entitlement_id = $1",
        entitlement,
        version
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a pass.
pub async fn record_pass(
    conn: &mut PgConnection,
    entitlement: Uuid,
    passed: Passed<'_>,
) -> Result<(), sqlx::Error> {
    let (holders, error, readable) = match passed {
        Passed::Read(holders) => (Some(holders), None, true),
        Passed::Failed(why) => (None, Some(why), true),
        Passed::Unreadable(why) => (None, Some(why), false),
    };
    sqlx::query!(
        r#"
        update reconcile_passes
           set last_pass_at = now(), requested_at = null, last_error = $2, readable = $4,
               last_ok_at = case when $2::text is null then now() else last_ok_at end,
               holders = coalesce($3, holders)
         where entitlement_id = $1
        "#,
        entitlement,
        error,
        holders,
        readable
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Asks for a pass of every enabled entry of a system (the job runs them first).
pub async fn request_all(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        insert into reconcile_passes (entitlement_id, requested_at)
        select id, now() from entitlements where enabled and kind <> 'bundle'
        on conflict (entitlement_id) do update set requested_at = now()
        "#
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("select pg_notify($1, '')", CHANNEL)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// One lease of the entry as a pass reads it.
#[derive(Debug, Clone)]
pub struct LeaseRow {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub state: GrantState,
    /// The account it was given to, or the one the portal knows for its person on the system.
    pub account_ref: Option<String>,
    pub account_id: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub provisioned_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The entry's leases that say something about its target now: the live ones, and those that
/// ended after `since` (newest first).
pub async fn leases(
    conn: &mut PgConnection,
    entitlement: Uuid,
    connector: Uuid,
    since: DateTime<Utc>,
) -> Result<Vec<LeaseRow>, sqlx::Error> {
    sqlx::query_as!(
        LeaseRow,
        r#"
        select g.id, g.principal_id, g.state as "state: GrantState",
               coalesce(g.account_ref, pa.account_ref) as account_ref,
               coalesce(g.account_id, pa.account_id) as account_id,
               g.starts_at as "starts_at: DateTime<Utc>",
               g.provisioned_at as "provisioned_at: DateTime<Utc>",
               g.revoked_at as "revoked_at: DateTime<Utc>",
               g.updated_at as "updated_at: DateTime<Utc>",
               g.locked_until as "locked_until: DateTime<Utc>"
          from grants g
          left join principal_accounts pa
            on pa.principal_id = g.principal_id and pa.connector_id = $2
         where g.entitlement_id = $1
           and (g.state not in ('revoked', 'failed') or g.updated_at >= $3)
         order by g.created_at desc
        "#,
        entitlement,
        connector,
        since as DateTime<Utc>
    )
    .fetch_all(conn)
    .await
}

/// The accounts declared standing holders of the entry at `at`.
pub async fn standing(
    conn: &mut PgConnection,
    entitlement: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select account_ref from standing_holders
          where entitlement_id = $1 and withdrawn_at is null and until > $2",
        entitlement,
        at as DateTime<Utc>
    )
    .fetch_all(conn)
    .await
}

/// An open finding as a pass reads it.
#[derive(Debug, Clone)]
pub struct Open {
    pub id: Uuid,
    pub kind: FindingKind,
    pub account_ref: String,
    pub principal_id: Option<Uuid>,
}

pub async fn open_of(conn: &mut PgConnection, entitlement: Uuid) -> Result<Vec<Open>, sqlx::Error> {
    sqlx::query_as!(
        Open,
        r#"
        select id, kind as "kind: FindingKind", account_ref, principal_id
          from findings where entitlement_id = $1 and closed_at is null
        "#,
        entitlement
    )
    .fetch_all(conn)
    .await
}

/// A difference to record.
pub struct Seen<'a> {
    pub entitlement: Uuid,
    pub kind: FindingKind,
    pub account_ref: &'a str,
    pub account_id: Option<&'a str>,
    pub account_label: &'a str,
    pub principal: Option<Uuid>,
    pub grant: Option<Uuid>,
}

/// Opens a finding, or marks the open one seen again. `(id, true)` when it is new.
pub async fn seen(conn: &mut PgConnection, seen: &Seen<'_>) -> Result<(Uuid, bool), sqlx::Error> {
    let row = sqlx::query!(
        r#"
        insert into findings (entitlement_id, kind, account_ref, account_id, account_label,
                              principal_id, grant_id, held_since)
        values ($1, $2, $3, $4, $5, $6, $7,
                -- Shadow access a change made outside the portal gave: held since it began.
                (select max(c.starts_at) from outside_changes c
                  where $2 = 'shadow' and c.entitlement_id = $1 and c.account_ref = lower($3)
                    and c.status in ('Provisioned', 'Granted', 'ScheduleCreated')
                    and c.starts_at <= now() and (c.ends_at is null or c.ends_at > now())))
        on conflict (entitlement_id, kind, account_ref) where closed_at is null
        do update set last_seen = now(),
                      account_id = coalesce(excluded.account_id, findings.account_id),
                      principal_id = coalesce(excluded.principal_id, findings.principal_id),
                      held_since = coalesce(findings.held_since, excluded.held_since)
        returning id, (xmax = 0) as "new!"
        "#,
        seen.entitlement,
        seen.kind as FindingKind,
        seen.account_ref,
        seen.account_id,
        seen.account_label,
        seen.principal,
        seen.grant
    )
    .fetch_one(conn)
    .await?;
    Ok((row.id, row.new))
}

/// A change made to an entry's target outside the portal, as its source recorded it.
#[derive(Debug, Clone)]
pub struct OutsideRecord<'a> {
    pub entitlement: Uuid,
    pub source_id: &'a str,
    pub occurred_at: DateTime<Utc>,
    /// Lower-cased, as findings are matched against it.
    pub account_ref: &'a str,
    pub principal: Option<Uuid>,
    pub action: &'a str,
    pub status: &'a str,
    pub made_by: &'a str,
    pub justification: Option<&'a str>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

/// Keeps a change made outside the portal; `false` when it was kept already.
pub async fn outside_change(
    conn: &mut PgConnection,
    record: &OutsideRecord<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        insert into outside_changes (entitlement_id, source_id, occurred_at, account_ref,
                                     principal_id, action, status, made_by, justification,
                                     starts_at, ends_at)
        values ($1, $2, $3, lower($4), $5, $6, $7, $8, $9, $10, $11)
        on conflict do nothing
        "#,
        record.entitlement,
        record.source_id,
        record.occurred_at as DateTime<Utc>,
        record.account_ref,
        record.principal,
        record.action,
        record.status,
        record.made_by,
        record.justification,
        record.starts_at as Option<DateTime<Utc>>,
        record.ends_at as Option<DateTime<Utc>>,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The newest change kept of an entry's target, from which the next read goes on.
pub async fn newest_outside_change(
    conn: &mut PgConnection,
    entitlement: Uuid,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select max(occurred_at) as "at: DateTime<Utc>" from outside_changes
            where entitlement_id = $1"#,
        entitlement
    )
    .fetch_one(conn)
    .await
}

/// Closes an open finding; `false` when it was closed already.
pub async fn close(
    conn: &mut PgConnection,
    finding: Uuid,
    reason: Closure,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "update findings set closed_at = now(), closed_reason = $2
          where id = $1 and closed_at is null",
        finding,
        reason as Closure
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records what was done about a finding.
pub async fn acted(
    conn: &mut PgConnection,
    finding: Uuid,
    action: FindingAction,
    by: Option<Uuid>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update findings set action = $2, acted_by = $3, acted_at = now(), last_error = $4
          where id = $1",
        finding,
        action as FindingAction,
        by,
        error
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The people the portal knows for accounts of a system: `(account key, person)` for each of
/// `refs` (compared case-folded) it has a link or a lease for.
pub async fn people_of_accounts(
    conn: &mut PgConnection,
    connector: Uuid,
    refs: &[String],
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    let lowered: Vec<String> = refs.iter().map(|r| r.to_lowercase()).collect();
    let rows = sqlx::query!(
        r#"
        select account_ref as "account_ref!", principal_id as "principal_id!"
          from principal_accounts
         where connector_id = $1 and lower(account_ref) = any($2)
        union
        select account_ref as "account_ref!", principal_id as "principal_id!"
          from grants
         where connector_id = $1 and account_ref is not null and lower(account_ref) = any($2)
        "#,
        connector,
        &lowered
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.account_ref, r.principal_id))
        .collect())
}

/// Findings for the page, newest first seen first, at most `limit`; only of the entries keyed
/// in `of` when given (an owner's).
pub async fn list(
    conn: &mut PgConnection,
    open: Option<bool>,
    entitlement: Option<Uuid>,
    of: Option<&[String]>,
    limit: i64,
) -> Result<Vec<Finding>, sqlx::Error> {
    sqlx::query_as!(
        Finding,
        r#"
        select f.id, f.kind as "kind: FindingKind", e.key as entitlement_key,
               e.name as entitlement, c.name as system, f.account_ref, f.account_label,
               f.principal_id as holder_id, p.display_name as "holder?", f.grant_id,
               f.first_seen as "first_seen: DateTime<Utc>",
               f.last_seen as "last_seen: DateTime<Utc>",
               f.closed_at as "closed_at: DateTime<Utc>",
               f.closed_reason as "closed_reason: Closure",
               f.action as "action: FindingAction", a.display_name as "acted_by?",
               f.acted_at as "acted_at: DateTime<Utc>", f.last_error
          from findings f
          join entitlements e on e.id = f.entitlement_id
          join connectors c on c.id = e.connector_id
          left join principals p on p.id = f.principal_id
          left join principals a on a.id = f.acted_by
         where ($1::bool is null or (f.closed_at is null) = $1)
           and ($2::uuid is null or f.entitlement_id = $2)
           and ($3::text[] is null or e.key = any($3))
         order by f.closed_at is not null, f.first_seen desc, f.id
         limit $4
        "#,
        open,
        entitlement,
        of,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Every entry's last pass, by entry.
pub async fn passes(conn: &mut PgConnection) -> Result<Vec<Pass>, sqlx::Error> {
    sqlx::query_as!(
        Pass,
        r#"
        select e.key as entitlement_key, e.name as entitlement, c.name as system,
               r.last_pass_at as "last_pass_at: DateTime<Utc>",
               r.last_ok_at as "last_ok_at: DateTime<Utc>",
               r.last_complete_at as "last_complete_at: DateTime<Utc>",
               r.last_error as "last_error?",
               r.holders as "holders?", r.requested_at as "requested_at: DateTime<Utc>",
               coalesce(r.readable, true) as "readable!"
          from entitlements e
          join connectors c on c.id = e.connector_id
          left join reconcile_passes r on r.entitlement_id = e.id
         where e.enabled and e.kind <> 'bundle'
         order by e.name, e.key
        "#
    )
    .fetch_all(conn)
    .await
}

/// The live declarations, soonest end first.
pub async fn declarations(conn: &mut PgConnection) -> Result<Vec<Declaration>, sqlx::Error> {
    sqlx::query_as!(
        Declaration,
        r#"
        select s.id, e.key as entitlement_key, e.name as entitlement, s.account_ref,
               s.account_label, s.reason, s.until as "until: DateTime<Utc>",
               p.display_name as declared_by, s.declared_at as "declared_at: DateTime<Utc>"
          from standing_holders s
          join entitlements e on e.id = s.entitlement_id
          join principals p on p.id = s.declared_by
         where s.withdrawn_at is null and s.until > now()
         order by s.until, s.id
        "#
    )
    .fetch_all(conn)
    .await
}

/// A declaration to write.
pub struct Declare<'a> {
    pub entitlement: Uuid,
    pub account_ref: &'a str,
    pub account_label: &'a str,
    pub principal: Option<Uuid>,
    pub reason: &'a str,
    pub until: DateTime<Utc>,
    pub by: Uuid,
}

/// Declares a standing holder, replacing a live declaration of the same account.
pub async fn declare(conn: &mut PgConnection, d: &Declare<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query!(
        "update standing_holders set withdrawn_at = now(), withdrawn_by = $3
          where entitlement_id = $1 and account_ref = $2 and withdrawn_at is null",
        d.entitlement,
        d.account_ref,
        d.by
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        r#"
        insert into standing_holders (entitlement_id, account_ref, account_label, reason, until,
                                      declared_by, principal_id)
        values ($1, $2, $3, $4, $5, $6, $7)
        returning id
        "#,
        d.entitlement,
        d.account_ref,
        d.account_label,
        d.reason,
        d.until as DateTime<Utc>,
        d.by,
        d.principal
    )
    .fetch_one(conn)
    .await
}

/// A live declaration, for withdrawing it: its entry's id and key, and its account.
pub struct Live {
    pub entitlement_id: Uuid,
    pub entitlement_key: String,
    pub account_ref: String,
}

pub async fn lock_declaration(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Live>, sqlx::Error> {
    sqlx::query_as!(
        Live,
        r#"
        select s.entitlement_id, e.key as entitlement_key, s.account_ref
          from standing_holders s join entitlements e on e.id = s.entitlement_id
         where s.id = $1 and s.withdrawn_at is null
           for update of s
        "#,
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn withdraw(conn: &mut PgConnection, id: Uuid, by: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update standing_holders set withdrawn_at = now(), withdrawn_by = $2 where id = $1",
        id,
        by
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a lease of the entry for the account (or its person) is live, or changed since
/// `since`: such access is the engine's, and a removal of shadow access must leave it alone.
pub async fn lease_appeared(
    conn: &mut PgConnection,
    entitlement: Uuid,
    account_ref: &str,
    principal: Option<Uuid>,
    since: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select exists (
            select 1 from grants
             where entitlement_id = $1
               and (lower(account_ref) = lower($2) or principal_id = $3)
               and (state in ('scheduled', 'active', 'revoking') or updated_at >= $4)
        ) as "appeared!"
        "#,
        entitlement,
        account_ref,
        principal,
        since as DateTime<Utc>
    )
    .fetch_one(conn)
    .await
}

/// Why the last removal of a finding's access did not hold.
pub async fn last_error(
    conn: &mut PgConnection,
    finding: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("select last_error from findings where id = $1", finding)
        .fetch_one(conn)
        .await
}

/// What was last done about a finding.
pub async fn acted_on(
    conn: &mut PgConnection,
    finding: Uuid,
) -> Result<FindingAction, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select action as "action: FindingAction" from findings where id = $1"#,
        finding
    )
    .fetch_one(conn)
    .await
}

/// The keys of the entries whose owners name `upn` (compared case-folded).
pub async fn owned_by(conn: &mut PgConnection, upn: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select key from entitlements
          where exists (select 1 from unnest(owners) o where lower(o) = lower($1))
          order by key",
        upn
    )
    .fetch_all(conn)
    .await
}

/// How many findings are open on the entries `keys`.
pub async fn open_count(conn: &mut PgConnection, keys: &[String]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from findings f
             join entitlements e on e.id = f.entitlement_id
            where f.closed_at is null and e.key = any($1)"#,
        keys
    )
    .fetch_one(conn)
    .await
}

/// A finding locked for acting on it.
pub struct Locked {
    pub entitlement_id: Uuid,
    pub entitlement_key: String,
    pub kind: FindingKind,
    pub account_ref: String,
    pub account_label: String,
    pub holder_id: Option<Uuid>,
    pub closed: bool,
    pub closed_reason: Option<Closure>,
}

pub async fn lock_one(conn: &mut PgConnection, id: Uuid) -> Result<Option<Locked>, sqlx::Error> {
    sqlx::query_as!(
        Locked,
        r#"
        select f.entitlement_id, e.key as entitlement_key, f.kind as "kind: FindingKind",
               f.account_ref, f.account_label, f.principal_id as holder_id,
               (f.closed_at is not null) as "closed!",
               f.closed_reason as "closed_reason: Closure"
          from findings f join entitlements e on e.id = f.entitlement_id
         where f.id = $1
           for update of f
        "#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// The people with these sign-in names (compared case-folded): `(upn lower-cased, person)`.
pub async fn people_by_upn(
    conn: &mut PgConnection,
    upns: &[String],
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select lower(upn) as "upn!", id from principals where lower(upn) = any($1)"#,
        upns
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.upn, r.id)).collect())
}
