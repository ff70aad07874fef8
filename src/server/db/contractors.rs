//! Contractors: temporary identities for external people, from their sponsor's request to the
//! deletion of the identity (see `server::jobs::contractors`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::contractor::{ContractorEvent, ContractorState, ContractorStep};
use crate::domain::person::{PrincipalKind, PrincipalStatus};
use crate::domain::request::RequestState;
use crate::domain::step::Lifecycle as _;

/// The principal a contractor is from their request on: a guest without an identity yet,
/// known by their address until the identity is made. Their manager is their sponsor.
pub async fn insert_principal(
    conn: &mut PgConnection,
    email: &str,
    display_name: &str,
    sponsor: Uuid,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        r#"insert into principals (upn, display_name, email, kind, manager_id)
           values ($1, $2, $1, $4, $3)
           returning id"#,
        email,
        display_name,
        sponsor,
        PrincipalKind::Guest as PrincipalKind
    )
    .fetch_one(conn)
    .await
}

pub struct NewContractor<'a> {
    pub principal: Uuid,
    pub sponsor: Uuid,
    pub display_name: &'a str,
    pub email: &'a str,
    pub company: &'a str,
    pub bundle: Uuid,
    pub request: Uuid,
    pub ends_at: DateTime<Utc>,
    /// When the request stops waiting: the worker closes the contractor then if it was not
    /// approved.
    pub decide_by: DateTime<Utc>,
}

pub async fn insert(conn: &mut PgConnection, c: &NewContractor<'_>) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        r#"insert into contractors (principal_id, sponsor_id, display_name, email, company,
                                    bundle_id, request_id, ends_at, next_due_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           returning id"#,
        c.principal,
        c.sponsor,
        c.display_name,
        c.email,
        c.company,
        c.bundle,
        c.request,
        c.ends_at as DateTime<Utc>,
        c.decide_by as DateTime<Utc>
    )
    .fetch_one(conn)
    .await
}

/// The contractor a request is for (locked), if it is one's.
pub struct ForRequest {
    pub id: Uuid,
    pub state: ContractorState,
}

pub async fn of_request(
    conn: &mut PgConnection,
    request: Uuid,
) -> Result<Option<ForRequest>, sqlx::Error> {
    sqlx::query_as!(
        ForRequest,
        r#"select id, state as "state: ContractorState" from contractors where request_id = $1 for update"#,
        request
    )
    .fetch_optional(conn)
    .await
}

/// Writes a contractor's `step`, `where state = from`, due next at `due` (and lets go of a
/// claim); false when the contractor moved on meanwhile, and nothing was written.
pub async fn advance(
    conn: &mut PgConnection,
    id: Uuid,
    step: ContractorStep,
    due: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let to = step.to();
    Ok(sqlx::query!(
        "update contractors
            set state = $3, next_due_at = $4, locked_until = null, attempts = 0, last_error = null,
                made_at = case when $3 = 'active' and made_at is null then now() else made_at end,
                ended_at = case when $3 = 'ended' then now() else ended_at end,
                deleted_at = case when $3 = 'deleted' then now() else deleted_at end,
                updated_at = now()
          where id = $1 and state = $2",
        id,
        step.from() as ContractorState,
        to as ContractorState,
        due as Option<DateTime<Utc>>
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// A contractor as the worker acts on it.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: Uuid,
    pub state: ContractorState,
    pub principal_id: Uuid,
    pub sponsor_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub bundle_id: Uuid,
    pub request_id: Uuid,
    pub request_state: RequestState,
    pub ends_at: DateTime<Utc>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub delete_after: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub number: i64,
    pub invited_at: Option<DateTime<Utc>>,
    pub adopt_id: Option<String>,
}

/// Claims contractors whose next step is due, for `hold_seconds`.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    hold_seconds: f64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as!(
        Due,
        r#"
        with due as (
            select id from contractors
             where next_due_at <= now() and (locked_until is null or locked_until < now())
             order by next_due_at
             limit $1
               for update skip locked
        ), claimed as (
            update contractors c
               set locked_until = now() + make_interval(secs => $2), attempts = attempts + 1
              from due where c.id = due.id
            returning c.*
        )
        select c.id, c.state as "state: ContractorState", c.principal_id, c.sponsor_id,
               c.display_name, c.email, c.bundle_id,
               c.request_id, r.state as "request_state: RequestState",
               c.ends_at as "ends_at: DateTime<Utc>",
               c.reminded_at as "reminded_at: DateTime<Utc>",
               c.delete_after as "delete_after: DateTime<Utc>", c.attempts, c.number,
               c.invited_at as "invited_at: DateTime<Utc>", c.adopt_id
          from claimed c join access_requests r on r.id = c.request_id
        "#,
        limit,
        hold_seconds
    )
    .fetch_all(pool)
    .await
}

/// A failed step: said where the sponsor sees it, tried again at `retry`.
pub async fn failed(
    pool: &PgPool,
    id: Uuid,
    error: &str,
    retry: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update contractors set last_error = $2, next_due_at = $3, locked_until = null,
                updated_at = now()
          where id = $1",
        id,
        error,
        retry as DateTime<Utc>
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn set_redeem_url(
    conn: &mut PgConnection,
    id: Uuid,
    url: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update contractors set redeem_url = $2, updated_at = now() where id = $1",
        id,
        url
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_delete_after(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update contractors set delete_after = $2 where id = $1",
        id,
        at as DateTime<Utc>
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_reminded(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update contractors set reminded_at = now() where id = $1",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The identity a system made: the account is the person's in that system, and the principal
/// is known by the identity (tenant, object id) and name of the one they sign in with. Answers
/// `false` when the account or that identity is already another person's (the caller then
/// rolls back).
pub async fn link_account(
    conn: &mut PgConnection,
    principal: Uuid,
    connector: &str,
    made: &crate::server::connectors::MadeIdentity,
    signs_in: Option<&str>,
) -> Result<bool, sqlx::Error> {
    // The identity they sign in with (`signs_in`: its Entra tenant) is theirs by its object id,
    // so their sign-in finds this person and nothing is bound by name; one another person in
    // the portal holds already is not theirs to take.
    if let Some(tenant) = signs_in {
        let bound = sqlx::query!(
            r#"update principals
                  set upn = $2, tenant_id = lower($3), object_id = lower($4), updated_at = now()
                where id = $1
                  and (tenant_id is null
                       or (lower(tenant_id) = lower($3) and lower(object_id) = lower($4)))
                  and not exists (select 1 from principals
                                   where id <> $1 and lower(tenant_id) = lower($3)
                                     and lower(object_id) = lower($4))"#,
            principal,
            made.upn,
            tenant,
            made.id
        )
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !bound {
            return Ok(false);
        }
    }
    Ok(sqlx::query!(
        r#"insert into principal_accounts (principal_id, connector_id, account_ref, account_id,
                                           upn, enabled, guest)
           select $1, c.id, $3, $4, $5, true, true from connectors c
            where c.name = $2
              and not exists (select 1 from principal_accounts pa
                               where pa.connector_id = c.id and pa.account_id = $4
                                 and pa.principal_id <> $1)
           on conflict (principal_id, connector_id) do update
              set account_ref = excluded.account_ref, account_id = excluded.account_id,
                  upn = excluded.upn, resolved_at = now()"#,
        principal,
        connector,
        made.reference,
        made.id,
        made.upn
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Gives contractors without a sign-in identity the one of the guest linked to them on
/// `connector` (in Entra tenant `tenant`), where nobody else holds it. Returns how many.
pub async fn bind_guests(pool: &PgPool, connector: &str, tenant: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        r#"update principals p
              set tenant_id = lower($2), object_id = lower(pa.account_id), updated_at = now()
             from principal_accounts pa
             join connectors c on c.id = pa.connector_id and c.name = $1
            where pa.principal_id = p.id and p.tenant_id is null and pa.account_id is not null
              and exists (select 1 from contractors k where k.principal_id = p.id)
              and not exists (select 1 from principals q
                               where lower(q.tenant_id) = lower($2)
                                 and lower(q.object_id) = lower(pa.account_id))"#,
        connector,
        tenant
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// When the portal first asked for the contractor's guest: set once, before the first
/// invitation, and answered ever after.
pub async fn invited_since(pool: &PgPool, id: Uuid) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"update contractors set invited_at = coalesce(invited_at, now()) where id = $1
           returning invited_at as "invited_at!: DateTime<Utc>""#,
        id
    )
    .fetch_one(pool)
    .await
}

/// The onboarding stops: an identity it would make is someone else's. Nothing is due until an
/// administrator settles it.
pub async fn stop(
    conn: &mut PgConnection,
    id: Uuid,
    step: ContractorStep,
    why: &str,
    found: Option<&str>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "update contractors
            set state = $3, next_due_at = null, locked_until = null, last_error = $4,
                found_id = $5, updated_at = now()
          where id = $1 and state = $2",
        id,
        step.from() as ContractorState,
        step.to() as ContractorState,
        why,
        found
    )
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// An administrator adopts the user Entra already has for a stopped contractor's address: the
/// onboarding goes on with it. Answers the adopted user and the contractor's principal, or
/// `None` when the contractor is not stopped on a user that can be adopted.
pub async fn adopt(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, Uuid)>, sqlx::Error> {
    let step = ContractorState::Stopped
        .step(ContractorEvent::Adopted)
        .expect("the machine lets a stopped contractor be adopted");
    let row = sqlx::query!(
        r#"update contractors
              set adopt_id = found_id, state = $3, next_due_at = now(), attempts = 0,
                  last_error = null, updated_at = now()
            where id = $1 and state = $2 and found_id is not null
              and holder_of_found(id) is null
           returning adopt_id as "adopt_id!", principal_id"#,
        id,
        step.from() as ContractorState,
        step.to() as ContractorState
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.adopt_id, r.principal_id)))
}

/// Who else the portal knows the user found for a stopped contractor as (their display name):
/// such a user is that person, never adopted for a new contractor.
pub async fn holder_of_found(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("select holder_of_found($1)", id)
        .fetch_one(conn)
        .await
}

/// An administrator closes a stopped onboarding: nothing is made, and the address is free.
/// Answers the contractor's principal when it was stopped.
pub async fn close_stopped(conn: &mut PgConnection, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let step = ContractorState::Stopped
        .step(ContractorEvent::ClosedByAdmin)
        .expect("the machine lets a stopped contractor be closed");
    sqlx::query_scalar!(
        "update contractors
            set state = $3, next_due_at = null, locked_until = null, updated_at = now()
          where id = $1 and state = $2
         returning principal_id",
        id,
        step.from() as ContractorState,
        step.to() as ContractorState
    )
    .fetch_optional(conn)
    .await
}

/// A stopped onboarding, as administrators see it.
pub struct Stopped {
    pub id: Uuid,
    pub display_name: String,
    pub email: String,
    pub sponsor: String,
    pub last_error: Option<String>,
    pub found_id: Option<String>,
    /// The person the portal already knows the user found as (the people sync read it), who
    /// is never adopted for a new contractor.
    pub found_holder: Option<String>,
}

/// The onboardings that stopped, oldest first.
pub async fn stopped(pool: &PgPool) -> Result<Vec<Stopped>, sqlx::Error> {
    sqlx::query_as!(
        Stopped,
        r#"select c.id, c.display_name, c.email, s.display_name as sponsor, c.last_error,
                  c.found_id, holder_of_found(c.id) as found_holder
             from contractors c join principals s on s.id = c.sponsor_id
            where c.state = $1
            order by c.updated_at"#,
        ContractorState::Stopped as ContractorState
    )
    .fetch_all(pool)
    .await
}

/// The person's accounts by connector name: (connector, stable id).
pub async fn accounts(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select c.name, pa.account_id as "account_id!"
             from principal_accounts pa join connectors c on c.id = pa.connector_id
            where pa.principal_id = $1 and pa.account_id is not null"#,
        principal
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.account_id)).collect())
}

/// Pins the person's accounts on their grants not yet pinned: a contractor's accounts are
/// known by the portal, not found by one sign-in name in every system.
pub async fn pin_accounts(conn: &mut PgConnection, principal: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        r#"update grants g set account_ref = pa.account_ref, account_id = pa.account_id
             from principal_accounts pa
            where g.principal_id = $1 and pa.principal_id = g.principal_id
              and pa.connector_id = g.connector_id and g.account_ref is null
              and g.state = 'scheduled'"#,
        principal
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// The sponsor's contractors, newest first.
pub struct Listed {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub company: String,
    pub bundle: String,
    pub state: ContractorState,
    pub request_id: Uuid,
    pub ends_at: DateTime<Utc>,
    pub redeem_url: Option<String>,
    pub last_error: Option<String>,
    pub delete_after: Option<DateTime<Utc>>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub sponsor: String,
}

pub async fn of_sponsor(pool: &PgPool, sponsor: Uuid) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as!(
        Listed,
        r#"select c.id, c.principal_id, c.display_name, c.email, c.company, e.name as bundle,
                  c.state as "state: ContractorState", c.request_id,
                  c.ends_at as "ends_at: DateTime<Utc>", c.redeem_url,
                  c.last_error, c.delete_after as "delete_after: DateTime<Utc>",
                  c.reminded_at as "reminded_at: DateTime<Utc>", s.display_name as sponsor
             from contractors c
             join entitlements e on e.id = c.bundle_id
             join principals s on s.id = c.sponsor_id
            where c.sponsor_id = $1
            order by c.created_at desc
            limit 200"#,
        sponsor
    )
    .fetch_all(pool)
    .await
}

/// Hands the contractors of a sponsor who left to `to`; the contractors handed over.
pub async fn hand_over(
    conn: &mut PgConnection,
    from: Uuid,
    to: Uuid,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    let moved = sqlx::query!(
        r#"update contractors set sponsor_id = $2, updated_at = now()
            where sponsor_id = $1 and state = any($3)
        returning id, principal_id"#,
        from,
        to,
        &ContractorState::OPEN[..] as &[ContractorState]
    )
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query!(
        "update principals set manager_id = $2
          where manager_id = $1 and id in (select principal_id from contractors where sponsor_id = $2)",
        from,
        to
    )
    .execute(conn)
    .await?;
    Ok(moved.into_iter().map(|r| (r.id, r.principal_id)).collect())
}

/// Whether a person may sponsor at all: an active member of the organisation (not a guest,
/// not a service account, not someone who left, and never a contractor, whatever a directory
/// says of their account there).
pub async fn is_employee(conn: &mut PgConnection, principal: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        r#"select (p.kind = $2 and p.status = $3 and p.left_at is null
                   and not exists (select 1 from contractors c where c.principal_id = p.id)) as "ok!"
             from principals p where p.id = $1"#,
        principal,
        PrincipalKind::Member as PrincipalKind,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or(false))
}

/// Whose contractor it is, and where it stands.
pub struct Sponsored {
    pub sponsor_id: Uuid,
    pub principal_id: Uuid,
    pub state: ContractorState,
}

pub async fn sponsored(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Sponsored>, sqlx::Error> {
    sqlx::query_as!(
        Sponsored,
        r#"select sponsor_id, principal_id, state as "state: ContractorState"
             from contractors where id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// An approved extension: the contractor of `principal` with `bundle` now ends at `ends_at`
/// (never earlier than before), is reminded again before it, and the worker tells the systems.
pub async fn extended(
    conn: &mut PgConnection,
    principal: Uuid,
    bundle: Uuid,
    ends_at: DateTime<Utc>,
) -> Result<Option<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"update contractors
              set ends_at = greatest(ends_at, $3), reminded_at = null, next_due_at = now(),
                  updated_at = now()
            where principal_id = $1 and bundle_id = $2 and state = $4
        returning id, ends_at as "ends_at: DateTime<Utc>""#,
        principal,
        bundle,
        ends_at as DateTime<Utc>,
        ContractorState::Active as ContractorState
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.ends_at)))
}

/// A contractor as an extension needs it.
pub struct ForExtension {
    pub sponsor_id: Uuid,
    pub principal_id: Uuid,
    pub bundle_id: Uuid,
    pub bundle_key: String,
    pub state: ContractorState,
    pub ends_at: DateTime<Utc>,
    pub email: String,
}

pub async fn for_extension(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ForExtension>, sqlx::Error> {
    sqlx::query_as!(
        ForExtension,
        r#"select c.sponsor_id, c.principal_id, c.bundle_id, e.key as bundle_key,
                  c.state as "state: ContractorState",
                  c.ends_at as "ends_at: DateTime<Utc>", c.email
             from contractors c join entitlements e on e.id = c.bundle_id
            where c.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}
