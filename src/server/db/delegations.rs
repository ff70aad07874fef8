//! Out-of-office delegations and the requests routed to deputies.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::person::PrincipalStatus;

/// A delegation as its approver sees it.
#[derive(Debug, Clone)]
pub struct Delegation {
    pub id: Uuid,
    pub approver: String,
    pub deputy: String,
    pub deputy_upn: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The delegations by or to `person` that have not ended.
pub async fn of(pool: &PgPool, person: Uuid) -> Result<Vec<Delegation>, sqlx::Error> {
    sqlx::query_as!(
        Delegation,
        r#"
        select d.id, a.display_name as approver, p.display_name as deputy, p.upn as deputy_upn,
               d.starts_at as "starts_at: DateTime<Utc>", d.ends_at as "ends_at: DateTime<Utc>"
          from delegations d
          join principals a on a.id = d.principal_id
          join principals p on p.id = d.deputy_id
         where (d.principal_id = $1 or d.deputy_id = $1)
           and d.ended_at is null and d.ends_at > now()
         order by d.starts_at
        "#,
        person
    )
    .fetch_all(pool)
    .await
}

/// Locks the person's delegations (so two saves cannot overlap) and says whether one overlaps
/// the window.
pub async fn overlaps(
    conn: &mut PgConnection,
    person: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query!("select id from principals where id = $1 for update", person)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(sqlx::query_scalar!(
        r#"
        select exists (select 1 from delegations
                        where principal_id = $1 and ended_at is null
                          and starts_at < $3 and ends_at > $2)
        "#,
        person,
        starts_at as DateTime<Utc>,
        ends_at as DateTime<Utc>
    )
    .fetch_one(conn)
    .await?
    .unwrap_or(false))
}

/// Who `person` delegates to at some time in the window: (deputy id, deputy UPN).
pub async fn deputy_during(
    conn: &mut PgConnection,
    person: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select p.id, p.upn from delegations d join principals p on p.id = d.deputy_id
         where d.principal_id = $1 and d.ended_at is null
           and d.starts_at < $3 and d.ends_at > $2
        "#,
        person,
        starts_at as DateTime<Utc>,
        ends_at as DateTime<Utc>
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.upn)).collect())
}

pub async fn create(
    conn: &mut PgConnection,
    person: Uuid,
    deputy: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        insert into delegations (principal_id, deputy_id, starts_at, ends_at)
        values ($1, $2, $3, $4) returning id
        "#,
        person,
        deputy,
        starts_at as DateTime<Utc>,
        ends_at as DateTime<Utc>
    )
    .fetch_one(conn)
    .await
}

/// Ends one of the person's own delegations now; the deputy's name when it was theirs.
pub async fn end(
    conn: &mut PgConnection,
    person: Uuid,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        update delegations d set ended_at = now()
          from principals p
         where d.id = $1 and d.principal_id = $2 and d.ended_at is null and p.id = d.deputy_id
        returning p.upn
        "#,
        id,
        person
    )
    .fetch_optional(conn)
    .await
}

/// An approver, away now, of a pending request's current stage who has not decided and whose
/// request was not routed yet.
#[derive(Debug, Clone)]
pub struct Away {
    pub request_id: Uuid,
    pub stage: i32,
    pub approver_id: Uuid,
    /// Their sign-in name now, for the trail.
    pub approver_upn: String,
}

pub async fn away_approvers(pool: &PgPool, limit: i64) -> Result<Vec<Away>, sqlx::Error> {
    sqlx::query_as!(
        Away,
        r#"
        select distinct r.id as request_id, r.stage, p.id as approver_id, lower(p.upn) as "approver_upn!"
          from access_requests r
          join request_approvers a on a.request_id = r.id and a.stage = r.stage
          join principals p on p.id = a.approver_id
          join delegations d on d.principal_id = p.id and d.ended_at is null
                            and d.starts_at <= now() and d.ends_at > now()
         where r.state = 'pending'
           and not exists (select 1 from approval_decisions x
                            where x.request_id = r.id and x.stage = r.stage and x.approver_id = p.id)
           and not exists (select 1 from request_delegations rd
                            where rd.request_id = r.id and rd.stage = r.stage
                              and rd.from_holder = a.holder)
         limit $1
        "#,
        limit
    )
    .fetch_all(pool)
    .await
}

/// The person's deputy now, with the delegation's end: (deputy id, deputy UPN, until).
pub async fn deputy_now(
    conn: &mut PgConnection,
    person: Uuid,
) -> Result<Option<(Uuid, String, DateTime<Utc>)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select p.id, p.upn, d.ends_at as "ends_at: DateTime<Utc>"
          from delegations d join principals p on p.id = d.deputy_id
         where d.principal_id = $1 and d.ended_at is null
           and d.starts_at <= now() and d.ends_at > now() and p.status = $2
         order by d.starts_at desc
         limit 1
        "#,
        person,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.upn, r.ends_at)))
}

/// Records a routing from the approver `from` and seats the deputy `to` in every seat of the
/// stage `from` holds (their own, or those they stand in for themselves): the deputy stands
/// in, never adds a vote. False when it was routed already. `to` is `None` when nobody could
/// take the approver's place; recorded so it is not tried again.
pub async fn route(
    conn: &mut PgConnection,
    request: Uuid,
    stage: i32,
    from: Uuid,
    to: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        insert into request_delegations (request_id, stage, from_upn, to_upn, from_holder, to_holder)
        select $1, $2, lower(f.upn), coalesce(lower(t.upn), ''), $3::uuid::text,
               coalesce($4::uuid::text, '')
          from principals f left join principals t on t.id = $4
         where f.id = $3
        on conflict do nothing
        "#,
        request,
        stage,
        from,
        to as Option<Uuid>
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let Some(to) = to else {
        return Ok(true);
    };
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
        from,
        to
    )
    .execute(conn)
    .await?;
    Ok(true)
}
