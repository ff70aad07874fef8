//! Reviews of emergency (break-glass) access: opened with each use, closed once by an owner.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub async fn open(conn: &mut PgConnection, request: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into emergency_reviews (request_id) values ($1) on conflict do nothing",
        request
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One emergency use, as owners and auditors see it.
#[derive(Debug, Clone)]
pub struct Review {
    pub request_id: Uuid,
    pub entitlement: String,
    pub owners: Vec<String>,
    pub who: String,
    /// The beneficiary and the requester, who never review their own use.
    pub who_id: Uuid,
    pub requester_id: Uuid,
    pub justification: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub verdict: Option<String>,
    pub note: Option<String>,
}

/// Every use, open ones first, newest first; or only the open ones.
pub async fn list(pool: &PgPool, open_only: bool, limit: i64) -> Result<Vec<Review>, sqlx::Error> {
    sqlx::query_as!(
        Review,
        r#"
        select v.request_id, e.name as entitlement, e.owners, b.display_name as who,
               r.beneficiary_id as who_id, r.requester_id, r.justification,
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               v.opened_at as "opened_at: DateTime<Utc>",
               v.closed_at as "closed_at: DateTime<Utc>", c.display_name as "closed_by?",
               v.verdict, v.note
          from emergency_reviews v
          join access_requests r on r.id = v.request_id
          join entitlements e on e.id = r.entitlement_id
          join principals b on b.id = r.beneficiary_id
          left join principals c on c.id = v.closed_by
         where not $1 or v.closed_at is null
         order by v.closed_at is not null, v.opened_at desc
         limit $2
        "#,
        open_only,
        limit
    )
    .fetch_all(pool)
    .await
}

/// The review of a request, locked.
pub async fn lock(conn: &mut PgConnection, request: Uuid) -> Result<Option<Review>, sqlx::Error> {
    sqlx::query_as!(
        Review,
        r#"
        select v.request_id, e.name as entitlement, e.owners, b.display_name as who,
               r.beneficiary_id as who_id, r.requester_id, r.justification,
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               v.opened_at as "opened_at: DateTime<Utc>",
               v.closed_at as "closed_at: DateTime<Utc>", null::text as "closed_by?",
               v.verdict, v.note
          from emergency_reviews v
          join access_requests r on r.id = v.request_id
          join entitlements e on e.id = r.entitlement_id
          join principals b on b.id = r.beneficiary_id
         where v.request_id = $1
           for update of v
        "#,
        request
    )
    .fetch_optional(conn)
    .await
}

pub async fn close(
    conn: &mut PgConnection,
    request: Uuid,
    by: Uuid,
    verdict: &str,
    note: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update emergency_reviews
           set closed_at = now(), closed_by = $2, verdict = $3, note = $4
         where request_id = $1 and closed_at is null
        "#,
        request,
        by,
        verdict,
        note
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
