//! The people sync's tables: the sources and their cursors, the accounts each directory
//! describes, and the one person they are correlated into.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::person::{PrincipalKind, PrincipalStatus};
use crate::server::connectors::DirectoryPerson;

/// A directory people are read from, as the catalog declares it and as its last pass left it.
#[derive(Debug, Clone)]
pub struct Source {
    pub connector_id: Uuid,
    pub connector: String,
    pub precedence: i32,
    pub every_seconds: i32,
    pub complete_every_seconds: i32,
    pub max_leavers: i32,
    pub cursor: Option<String>,
    pub last_pass_at: Option<DateTime<Utc>>,
    pub last_complete_at: Option<DateTime<Utc>>,
    pub last_result: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub requested_at: Option<DateTime<Utc>>,
    pub requested_forced: bool,
    pub requested_complete: bool,
    /// Which directory the people were read from (see the migration of the same name).
    pub directory_identity: Option<String>,
    /// What a refused pass found instead.
    pub found_identity: Option<String>,
    /// The directory an administrator confirmed for the next pass.
    pub accept_identity: Option<String>,
}

/// One source as the catalog declares it.
pub struct SourceSpec<'a> {
    pub connector: &'a str,
    pub precedence: i32,
    pub every_seconds: i32,
    pub complete_every_seconds: i32,
    pub max_leavers: i32,
}

/// Writes the catalog's sources; sources no longer declared stop (their state stays).
pub async fn put_sources(
    conn: &mut PgConnection,
    specs: &[SourceSpec<'_>],
) -> Result<(), sqlx::Error> {
    let names: Vec<String> = specs.iter().map(|s| s.connector.to_string()).collect();
    sqlx::query!(
        r#"
        update people_sources s set enabled = false
          from connectors c
         where c.id = s.connector_id and not (c.name = any($1))
        "#,
        &names
    )
    .execute(&mut *conn)
    .await?;
    for spec in specs {
        sqlx::query!(
            r#"
            insert into people_sources (connector_id, precedence, every_seconds,
                                        complete_every_seconds, max_leavers)
            select id, $2, $3, $4, $5 from connectors where name = $1
            on conflict (connector_id) do update
               set precedence = excluded.precedence, enabled = true,
                   every_seconds = excluded.every_seconds,
                   complete_every_seconds = excluded.complete_every_seconds,
                   max_leavers = excluded.max_leavers
            "#,
            spec.connector,
            spec.precedence,
            spec.every_seconds,
            spec.complete_every_seconds,
            spec.max_leavers
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The enabled sources, by precedence.
pub async fn sources(pool: &PgPool) -> Result<Vec<Source>, sqlx::Error> {
    sqlx::query_as!(
        Source,
        r#"
        select s.connector_id, c.name as connector, s.precedence, s.every_seconds,
               s.complete_every_seconds, s.max_leavers, s.cursor,
               s.last_pass_at as "last_pass_at: DateTime<Utc>",
               s.last_complete_at as "last_complete_at: DateTime<Utc>",
               s.last_result, s.last_error, s.last_error_at as "last_error_at: DateTime<Utc>",
               s.requested_at as "requested_at: DateTime<Utc>", s.requested_forced,
               s.requested_complete, s.directory_identity, s.found_identity, s.accept_identity
          from people_sources s join connectors c on c.id = s.connector_id
         where s.enabled
         order by s.precedence, c.name
        "#
    )
    .fetch_all(pool)
    .await
}

/// The source, held for this transaction by an advisory lock (not a row lock, so that an
/// administrator's request for a pass is written at once, never held up by a pass that reads
/// a directory for minutes); None when another replica is reading it now (or it is not an
/// enabled source).
pub async fn lock_source(
    conn: &mut PgConnection,
    connector: &str,
) -> Result<Option<Source>, sqlx::Error> {
    let held = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock($1, hashtext($2)) as "held!""#,
        PEOPLE_SOURCE_LOCK,
        connector
    )
    .fetch_one(&mut *conn)
    .await?;
    if !held {
        return Ok(None);
    }
    sqlx::query_as!(
        Source,
        r#"
        select s.connector_id, c.name as connector, s.precedence, s.every_seconds,
               s.complete_every_seconds, s.max_leavers, s.cursor,
               s.last_pass_at as "last_pass_at: DateTime<Utc>",
               s.last_complete_at as "last_complete_at: DateTime<Utc>",
               s.last_result, s.last_error, s.last_error_at as "last_error_at: DateTime<Utc>",
               s.requested_at as "requested_at: DateTime<Utc>", s.requested_forced,
               s.requested_complete, s.directory_identity, s.found_identity, s.accept_identity
          from people_sources s join connectors c on c.id = s.connector_id
         where c.name = $1 and s.enabled
        "#,
        connector
    )
    .fetch_optional(conn)
    .await
}

/// The advisory lock class of people sources ("LGPS").
const PEOPLE_SOURCE_LOCK: i32 = 0x4c47_5053;

/// What an administrator asks of a source's next pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassRequest {
    /// A pass now, incremental where the directory allows.
    Now,
    /// A complete pass now: every person read, and anyone missing acted on.
    Complete,
    /// Applied past `max_leavers`.
    Forced,
    /// Applied from the directory a refused pass found (its identity confirmed).
    AcceptDirectory,
}

/// Asks for a pass of `connector` now; false when it is not a source (or, to accept a
/// directory, when no pass found another one).
pub async fn request_pass(
    pool: &PgPool,
    connector: &str,
    request: PassRequest,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update people_sources s
           set requested_at = now(),
               requested_forced = requested_forced or $2,
               requested_complete = requested_complete or $3,
               accept_identity = case when $4 then found_identity else accept_identity end
          from connectors c
         where c.id = s.connector_id and c.name = $1 and s.enabled
           and (not $4 or s.found_identity is not null)
        "#,
        connector,
        request == PassRequest::Forced,
        request == PassRequest::Complete,
        request == PassRequest::AcceptDirectory
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a pass that was applied, with the cursor the next one starts from and the directory
/// it read. The requests it answered are used up; one made while it ran stays for the next.
pub async fn finish_pass(
    conn: &mut PgConnection,
    source: &Source,
    cursor: &str,
    complete: bool,
    directory: Option<&str>,
    result: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update people_sources
           set cursor = $2, last_pass_at = now(),
               last_complete_at = case when $3 then now() else last_complete_at end,
               last_result = $4, last_error = null, last_error_at = null,
               directory_identity = coalesce($5, directory_identity),
               found_identity = null, accept_identity = null,
               requested_forced = case when requested_at is not distinct from $6
                                       then false else requested_forced end,
               requested_complete = case when requested_at is not distinct from $6
                                         then false else requested_complete end,
               requested_at = case when requested_at is not distinct from $6
                                   then null else requested_at end
         where connector_id = $1
        "#,
        source.connector_id,
        cursor,
        complete,
        result,
        directory,
        source.requested_at as Option<DateTime<Utc>>
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a pass that failed or was refused (with the other directory it found, if that was
/// why); the next one is tried at the usual time: the requests it answered are used up, so a
/// failing directory is not hammered, but one made while it ran ("Apply anyway" given during
/// the pass) stays for the next.
pub async fn record_failure(
    pool: &PgPool,
    source: &Source,
    error: &str,
    found: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update people_sources
           set last_pass_at = now(), last_error = $2, last_error_at = now(),
               found_identity = coalesce($3, found_identity),
               requested_forced = case when requested_at is not distinct from $4
                                       then false else requested_forced end,
               requested_complete = case when requested_at is not distinct from $4
                                         then false else requested_complete end,
               requested_at = case when requested_at is not distinct from $4
                                   then null else requested_at end
         where connector_id = $1
        "#,
        source.connector_id,
        error,
        found,
        source.requested_at as Option<DateTime<Utc>>
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The person whose account `stable_id` (else `reference`) on `connector` is, if the sync or a
/// request linked it to someone.
pub async fn known_account(
    conn: &mut PgConnection,
    connector: Uuid,
    stable_id: Option<&str>,
    reference: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    // Two indexed lookups, not one `or` (which read the whole table for every person).
    if let Some(id) = stable_id {
        let found = sqlx::query_scalar!(
            r#"
            select principal_id from principal_accounts
             where connector_id = $1 and account_id = $2
             order by resolved_at desc
             limit 1
            "#,
            connector,
            id
        )
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    sqlx::query_scalar!(
        r#"
        select principal_id from principal_accounts
         where connector_id = $1 and lower(account_ref) = lower($3)
           and ($2::text is null or account_id is null)
         order by resolved_at desc
         limit 1
        "#,
        connector,
        stable_id,
        reference
    )
    .fetch_optional(conn)
    .await
}

/// The person with this Entra identity.
pub async fn by_identity(
    conn: &mut PgConnection,
    tenant: &str,
    object_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select id from principals where lower(tenant_id) = lower($1) and lower(object_id) = lower($2)",
        tenant,
        object_id
    )
    .fetch_optional(conn)
    .await
}

/// The person with this source anchor.
pub async fn by_anchor(conn: &mut PgConnection, anchor: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("select id from principals where anchor = $1", anchor)
        .fetch_optional(conn)
        .await
}

/// A person first known from a directory. `identity` is their Entra tenant and object id when
/// the directory is Entra.
pub async fn create(
    conn: &mut PgConnection,
    person: &DirectoryPerson,
    upn: &str,
    identity: Option<(&str, &str)>,
) -> Result<Uuid, sqlx::Error> {
    let (tenant, object_id) = identity.unzip();
    sqlx::query_scalar!(
        r#"
        insert into principals (tenant_id, object_id, kind, upn, display_name, email)
        values ($1, $2, $3, $4, $5, $6)
        returning id
        "#,
        tenant,
        object_id,
        if person.guest { "guest" } else { "member" },
        upn,
        person.account.display_name.as_deref().unwrap_or(upn),
        person.mail,
    )
    .fetch_one(conn)
    .await
}

/// Gives a person known only from an on-premises directory their Entra identity, when an
/// Entra source links them (and nobody else holds that identity).
pub async fn give_identity(
    conn: &mut PgConnection,
    principal: Uuid,
    tenant: &str,
    object_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update principals set tenant_id = $2, object_id = $3, updated_at = now()
         where id = $1 and tenant_id is null
           and not exists (select 1 from principals
                            where lower(tenant_id) = lower($2) and lower(object_id) = lower($3))
        "#,
        principal,
        tenant,
        object_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes what the directory says about the person's account there, unless the account is
/// another person's (one account belongs to one person): answers whether it was written.
pub async fn put_account(
    conn: &mut PgConnection,
    principal: Uuid,
    connector: Uuid,
    person: &DirectoryPerson,
) -> Result<bool, sqlx::Error> {
    let account = &person.account;
    let written = sqlx::query!(
        r#"
        insert into principal_accounts (principal_id, connector_id, account_ref, account_id,
                                        manager_ref, upn, display_name, department, job_title,
                                        mail, enabled, guest, anchor, expires_at, synced_at,
                                        gone_at)
        select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now(), null
         where not exists (select 1 from principal_accounts
                            where connector_id = $2 and account_id = $4 and principal_id <> $1)
        on conflict (principal_id, connector_id) do update
           set account_ref = excluded.account_ref, account_id = excluded.account_id,
               manager_ref = excluded.manager_ref, upn = excluded.upn,
               display_name = excluded.display_name, department = excluded.department,
               job_title = excluded.job_title, mail = excluded.mail,
               enabled = excluded.enabled, guest = excluded.guest, anchor = excluded.anchor,
               expires_at = excluded.expires_at, synced_at = now(), gone_at = null,
               resolved_at = now()
        "#,
        principal,
        connector,
        account.reference,
        account.stable_id,
        account.manager,
        account.upn,
        account.display_name,
        account.department,
        person.job_title,
        person.mail,
        account.enabled,
        person.guest,
        person.anchor,
        person.leaves_at as Option<DateTime<Utc>>,
    )
    .execute(conn)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// What the sync changed on a person, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Described {
    pub department: Option<(Option<String>, Option<String>)>,
    pub job_title: Option<(Option<String>, Option<String>)>,
    pub manager: Option<(Option<Uuid>, Option<Uuid>)>,
    /// The first description of the person (which is not a change).
    pub first: bool,
    /// Their department and job title now.
    pub role: (Option<String>, Option<String>),
}

/// A department or job title before and after.
pub type RoleChange = (Option<String>, Option<String>);

impl Described {
    /// Whether nothing changed that the trail records (a first description is not a change).
    pub fn is_empty(&self) -> bool {
        self.department.is_none() && self.job_title.is_none() && self.manager.is_none()
    }

    /// A joiner (first described with a department or job title) or a mover (either
    /// changed): the department's and the job title's change, for joiner/mover bundles.
    pub fn moved(&self) -> Option<(RoleChange, RoleChange)> {
        let (department, title) = &self.role;
        let unchanged = |now: &Option<String>| (now.clone(), now.clone());
        if self.first {
            (department.is_some() || title.is_some())
                .then(|| ((None, department.clone()), (None, title.clone())))
        } else if self.department.is_some() || self.job_title.is_some() {
            Some((
                self.department
                    .clone()
                    .unwrap_or_else(|| unchanged(department)),
                self.job_title.clone().unwrap_or_else(|| unchanged(title)),
            ))
        } else {
            None
        }
    }
}

/// Describes the person from their account on the first source (by precedence) that still
/// has it: name, department, job title, kind, anchor, and the manager, whose account there is
/// resolved to the person it belongs to. Returns what changed (nothing for a first
/// description).
pub async fn describe(conn: &mut PgConnection, principal: Uuid) -> Result<Described, sqlx::Error> {
    let before = sqlx::query!(
        r#"select department, job_title, manager_id, synced_at is not null as "described!"
             from principals where id = $1 for update"#,
        principal
    )
    .fetch_one(&mut *conn)
    .await?;
    let after = sqlx::query!(
        r#"
        with source as (
            select pa.*
              from principal_accounts pa
              join people_sources s on s.connector_id = pa.connector_id and s.enabled
             where pa.principal_id = $1 and pa.synced_at is not null and pa.gone_at is null
             order by s.precedence
             limit 1
        ), manager as (
            select c.principal_id from (
                select m.principal_id, m.gone_at, m.synced_at
                  from source f
                  join principal_accounts m
                    on m.connector_id = f.connector_id and m.account_id = f.manager_ref
                 where m.principal_id <> f.principal_id
                union all
                select m.principal_id, m.gone_at, m.synced_at
                  from source f
                  join principal_accounts m
                    on m.connector_id = f.connector_id
                   and lower(m.account_ref) = lower(f.manager_ref)
                 where m.principal_id <> f.principal_id
            ) c
             order by c.gone_at is not null, c.synced_at desc nulls last
             limit 1
        )
        update principals p
           set display_name = coalesce(f.display_name, p.display_name),
               department = f.department, job_title = f.job_title,
               kind = case when f.guest then $2 when p.kind = $2 then $3 else p.kind end,
               email = coalesce(p.email, f.mail),
               anchor = coalesce(p.anchor, case when not exists (
                   select 1 from principals o where o.anchor = f.anchor) then f.anchor end),
               manager_id = (select principal_id from manager),
               synced_at = now(), updated_at = now()
          from source f
         where p.id = $1
        returning p.department, p.job_title, p.manager_id
        "#,
        principal,
        PrincipalKind::Guest as PrincipalKind,
        PrincipalKind::Member as PrincipalKind
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(after) = after else {
        return Ok(Described::default());
    };
    let role = (after.department.clone(), after.job_title.clone());
    // A first description is not a change.
    if !before.described {
        return Ok(Described {
            first: true,
            role,
            ..Described::default()
        });
    }
    let changed = |a: &Option<String>, b: &Option<String>| (a != b).then(|| (a.clone(), b.clone()));
    Ok(Described {
        department: changed(&before.department, &after.department),
        job_title: changed(&before.job_title, &after.job_title),
        manager: (before.manager_id != after.manager_id)
            .then_some((before.manager_id, after.manager_id)),
        first: false,
        role,
    })
}

/// Marks accounts on `connector` gone: those with these stable ids, and on a complete pass
/// (`not_seen_since`) every account the pass did not describe. Returns whose accounts went.
pub async fn mark_gone(
    conn: &mut PgConnection,
    connector: Uuid,
    ids: &[String],
    not_seen_since: Option<DateTime<Utc>>,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        update principal_accounts
           set gone_at = now()
         where connector_id = $1 and gone_at is null
           and (lower(account_id) = any($2)
                or ($3::timestamptz is not null and synced_at is not null and synced_at < $3))
        returning principal_id, account_ref
        "#,
        connector,
        &ids.iter().map(|id| id.to_lowercase()).collect::<Vec<_>>(),
        not_seen_since as Option<DateTime<Utc>>
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.principal_id, r.account_ref))
        .collect())
}

/// Someone a directory says has left: an account of theirs is disabled or gone.
#[derive(Debug, Clone)]
pub struct Leaver {
    pub principal_id: Uuid,
    pub upn: String,
    pub display_name: String,
    pub connector: String,
    pub account: String,
    /// "disabled" or "deleted".
    pub why: String,
    pub manager_id: Option<Uuid>,
}

/// Of `people`, those not yet offboarded whose account on some synced source is disabled or
/// gone.
pub async fn leavers(conn: &mut PgConnection, people: &[Uuid]) -> Result<Vec<Leaver>, sqlx::Error> {
    sqlx::query_as!(
        Leaver,
        r#"
        select distinct on (p.id)
               p.id as "principal_id!", p.upn as "upn!", p.display_name as "display_name!",
               c.name as "connector!", pa.account_ref as "account!",
               case when pa.gone_at is not null then 'deleted'
                    when pa.enabled = false then 'disabled' else 'expired' end as "why!",
               p.manager_id
          from principals p
          join principal_accounts pa on pa.principal_id = p.id
          join people_sources s on s.connector_id = pa.connector_id and s.enabled
          join connectors c on c.id = pa.connector_id
         where p.id = any($1) and p.left_at is null
           and pa.synced_at is not null
           and (pa.gone_at is not null or pa.enabled = false or pa.expires_at <= now())
         order by p.id, s.precedence
        "#,
        people
    )
    .fetch_all(conn)
    .await
}

/// Of `people`, those offboarded earlier whose every synced account is enabled again.
pub async fn returners(conn: &mut PgConnection, people: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select p.id from principals p
         where p.id = any($1) and p.left_at is not null
           and not exists (select 1 from principal_accounts pa
                            join people_sources s on s.connector_id = pa.connector_id and s.enabled
                            where pa.principal_id = p.id and pa.synced_at is not null
                              and (pa.gone_at is not null or pa.enabled = false
                                   or pa.expires_at <= now()))
        "#,
        people
    )
    .fetch_all(conn)
    .await
}

/// People not yet offboarded whose account on `connector` expired by the directory's own rule
/// (nothing in the directory changes then, so an incremental pass would not list them).
pub async fn expired_on(
    conn: &mut PgConnection,
    connector: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select distinct pa.principal_id
          from principal_accounts pa join principals p on p.id = pa.principal_id
         where pa.connector_id = $1 and pa.expires_at <= now() and pa.gone_at is null
           and p.left_at is null
        "#,
        connector
    )
    .fetch_all(conn)
    .await
}

/// Marks the person as left and barred from the portal. False when they already were.
pub async fn mark_left(conn: &mut PgConnection, principal: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update principals set left_at = now(), status = $2, updated_at = now()
         where id = $1 and left_at is null
        "#,
        principal,
        PrincipalStatus::Disabled as PrincipalStatus
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets a returner back in (their leases are not given back).
pub async fn mark_returned(conn: &mut PgConnection, principal: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update principals set left_at = null, status = $2, updated_at = now()
         where id = $1 and left_at is not null
        "#,
        principal,
        PrincipalStatus::Active as PrincipalStatus
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A live grant of a leaver.
pub struct LiveOf {
    pub id: Uuid,
    pub state: crate::domain::grant::GrantState,
    pub entitlement_id: Uuid,
    pub request_id: Option<Uuid>,
}

/// The person's live grants (scheduled or active), locked.
pub async fn live_grants(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Vec<LiveOf>, sqlx::Error> {
    sqlx::query_as!(
        LiveOf,
        r#"
        select id, state as "state: crate::domain::grant::GrantState", entitlement_id, request_id
          from grants
         where principal_id = $1 and grant_is_live(state)
         order by starts_at
           for update
        "#,
        principal
    )
    .fetch_all(conn)
    .await
}

/// Pending requests the person asked for or would receive, by id.
pub async fn pending_requests_of(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select id from access_requests
         where state = 'pending' and (requester_id = $1 or beneficiary_id = $1)
         order by submitted_at
        "#,
        principal
    )
    .fetch_all(conn)
    .await
}

/// A request as offboarding withdraws it, locked.
pub struct ToWithdraw {
    pub state: crate::domain::request::RequestState,
    pub entitlement_id: Uuid,
    pub beneficiary_id: Uuid,
}

pub async fn lock_request(
    conn: &mut PgConnection,
    request: Uuid,
) -> Result<Option<ToWithdraw>, sqlx::Error> {
    sqlx::query_as!(
        ToWithdraw,
        r#"
        select state as "state: crate::domain::request::RequestState", entitlement_id, beneficiary_id
          from access_requests where id = $1
           for update
        "#,
        request
    )
    .fetch_optional(conn)
    .await
}

/// A pending request's stage the leaver was asked to decide and has not.
pub struct Waiting {
    pub request_id: Uuid,
    pub stage: i32,
    pub entitlement_id: Uuid,
    pub requester_id: Uuid,
    pub beneficiary_id: Uuid,
}

/// Pending requests waiting on `principal` (in their current or a later stage) that they have
/// not decided.
pub async fn waiting_on(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Vec<Waiting>, sqlx::Error> {
    sqlx::query_as!(
        Waiting,
        r#"
        select r.id as request_id, a.stage as "stage!", r.entitlement_id, r.requester_id, r.beneficiary_id
          from (select distinct request_id, stage from request_approvers
                 where approver_id = $1) a
          join access_requests r on r.id = a.request_id
         where r.state = 'pending' and a.stage >= r.stage
           and not exists (select 1 from approval_decisions d
                            where d.request_id = r.id and d.stage = a.stage and d.approver_id = $1)
         order by r.submitted_at
        "#,
        principal
    )
    .fetch_all(conn)
    .await
}

/// Takes `principal` off the stage and, when given, seats `instead` in every seat they held
/// there (unless already in it).
pub async fn reroute(
    conn: &mut PgConnection,
    request: Uuid,
    stage: i32,
    principal: Uuid,
    instead: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    if let Some(instead) = instead {
        sqlx::query!(
            r#"
            insert into request_approvers (request_id, stage, seat, approver_upn, approver_id)
            select a.request_id, a.stage, a.seat, lower(p.upn), p.id
              from request_approvers a, principals p
             where a.request_id = $1 and a.stage = $2 and a.approver_id = $3 and p.id = $4
            on conflict do nothing
            "#,
            request,
            stage,
            principal,
            instead
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!(
        "delete from request_approvers where request_id = $1 and stage = $2 and approver_id = $3",
        request,
        stage,
        principal
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A person's sign-in name and whether they may act, by id.
pub async fn upn_of(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Option<(String, bool)>, sqlx::Error> {
    let row = sqlx::query!(
        "select upn, status = $2 and left_at is null as \"active!\" from principals where id = $1",
        principal,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.upn, r.active)))
}

/// What the people sync says about the person named `upn`, for approval and eligibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// Their manager, when they have a manager who can act: (id, sign-in name).
    pub manager: Option<(Uuid, String)>,
    pub department: Option<String>,
}

impl Synced {
    pub fn manager_upn(&self) -> Option<String> {
        self.manager.as_ref().map(|(_, upn)| upn.clone())
    }
}

/// None when no sync describes the person (the caller then asks the directory).
pub async fn synced(pool: &PgPool, person: Uuid) -> Result<Option<Synced>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select p.department, m.id as "manager_id?", m.upn as "manager_upn?",
               (m.status = $2 and m.left_at is null) as "active?"
          from principals p
          left join principals m on m.id = p.manager_id
         where p.id = $1 and p.synced_at is not null
        "#,
        person,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Synced {
        manager: match (r.manager_id, r.manager_upn, r.active) {
            (Some(id), Some(upn), Some(true)) => Some((id, upn)),
            _ => None,
        },
        department: r.department,
    }))
}

/// A person's display name.
pub async fn display_name(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select display_name from principals where id = $1",
        principal
    )
    .fetch_optional(conn)
    .await
}

/// A person as the people pages list them.
pub struct Listed {
    pub id: Uuid,
    pub display_name: String,
    pub upn: String,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub status: PrincipalStatus,
    pub left_at: Option<DateTime<Utc>>,
    pub kind: String,
    pub live_leases: i64,
    pub synced_at: Option<DateTime<Utc>>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// People whose name or sign-in name contains `query` (case-insensitive), by name.
pub async fn find(pool: &PgPool, query: &str, limit: i64) -> Result<Vec<Listed>, sqlx::Error> {
    let pattern = super::contains_pattern(&query.to_lowercase());
    listing(pool, None, Some(&pattern), limit).await
}

pub async fn listed(pool: &PgPool, principal: Uuid) -> Result<Option<Listed>, sqlx::Error> {
    Ok(listing(pool, Some(principal), None, 1).await?.pop())
}

/// One person by id, or those matching a `like` pattern.
async fn listing(
    pool: &PgPool,
    principal: Option<Uuid>,
    pattern: Option<&str>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as!(
        Listed,
        r#"
        select p.id, p.display_name, p.upn, p.department, p.job_title,
               p.status as "status: PrincipalStatus",
               p.left_at as "left_at: DateTime<Utc>", p.kind,
               (select count(*) from grants g
                 where g.principal_id = p.id and grant_is_held(g.state))
                 as "live_leases!",
               p.synced_at as "synced_at: DateTime<Utc>",
               p.last_sign_in_at as "last_sign_in_at: DateTime<Utc>"
          from principals p
         where ($1::uuid is null or p.id = $1)
           and ($2::text is null or lower(p.display_name) like $2 or lower(p.upn) like $2)
         order by p.display_name, p.upn
         limit $3
        "#,
        principal,
        pattern,
        limit
    )
    .fetch_all(pool)
    .await
}

/// An account of a person, with its connector's name.
pub struct AccountRow {
    pub connector: String,
    pub account_ref: String,
    pub account_id: Option<String>,
    pub upn: Option<String>,
    pub enabled: Option<bool>,
    pub gone_at: Option<DateTime<Utc>>,
    pub synced_at: Option<DateTime<Utc>>,
}

pub async fn accounts_of(pool: &PgPool, principal: Uuid) -> Result<Vec<AccountRow>, sqlx::Error> {
    sqlx::query_as!(
        AccountRow,
        r#"
        select c.name as connector, pa.account_ref, pa.account_id, pa.upn, pa.enabled,
               pa.gone_at as "gone_at: DateTime<Utc>", pa.synced_at as "synced_at: DateTime<Utc>"
          from principal_accounts pa join connectors c on c.id = pa.connector_id
         where pa.principal_id = $1
         order by c.name
        "#,
        principal
    )
    .fetch_all(pool)
    .await
}

/// The person's manager, the manager's manager, and so on: at most `depth`, stopping at a
/// loop. Nearest first.
pub async fn manager_chain(
    pool: &PgPool,
    principal: Uuid,
    depth: i32,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        with recursive chain (id, display_name, manager_id, level, seen) as (
            select m.id, m.display_name, m.manager_id, 1, array[p.id, m.id]
              from principals p join principals m on m.id = p.manager_id
             where p.id = $1
            union all
            select m.id, m.display_name, m.manager_id, c.level + 1, c.seen || m.id
              from chain c join principals m on m.id = c.manager_id
             where c.level < $2 and not (m.id = any(c.seen))
        )
        select id as "id!", display_name as "display_name!" from chain order by level
        "#,
        principal,
        depth
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.display_name)).collect())
}

pub async fn reports_of(
    pool: &PgPool,
    principal: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        "select id, display_name from principals where manager_id = $1 order by display_name",
        principal
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.display_name)).collect())
}

/// A lease of the person's, live or past.
pub struct LeaseRow {
    pub id: Uuid,
    pub request_id: Option<Uuid>,
    pub entitlement: String,
    pub state: crate::domain::grant::GrantState,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub revoke_reason: Option<String>,
}

/// Live leases first (by end), then the most recent others; at most `limit`.
pub async fn leases_of(
    pool: &PgPool,
    principal: Uuid,
    limit: i64,
) -> Result<Vec<LeaseRow>, sqlx::Error> {
    sqlx::query_as!(
        LeaseRow,
        r#"
        select g.id, g.request_id,
               e.name || coalesce(' · ' || b.name, '') as "entitlement!",
               g.state as "state: crate::domain::grant::GrantState",
               g.starts_at as "starts_at: DateTime<Utc>", g.ends_at as "ends_at: DateTime<Utc>",
               g.revoke_reason::text as revoke_reason
          from grants g
          join entitlements e on e.id = g.entitlement_id
          left join entitlements b on b.id = g.bundle_id
         where g.principal_id = $1
         order by grant_is_held(g.state) desc,
                  case when grant_is_held(g.state) then g.ends_at end,
                  g.starts_at desc
         limit $2
        "#,
        principal,
        limit
    )
    .fetch_all(pool)
    .await
}
