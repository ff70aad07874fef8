//! Joiners and movers as the people sync saw them (`people_moves`), until `server::jobs::moves`
//! has acted on them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::people::RoleChange as Change;
use crate::domain::person::PrincipalStatus;

/// Records a joiner (`from` both `None`) or a mover, in the pass's transaction.
pub async fn record(
    conn: &mut PgConnection,
    principal: Uuid,
    department: &Change,
    job_title: &Change,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"insert into people_moves (principal_id, from_department, to_department,
                                     from_job_title, to_job_title)
           values ($1, $2, $3, $4, $5)"#,
        principal,
        department.0,
        department.1,
        job_title.0,
        job_title.1
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A move to act on, with the person as they are now.
#[derive(Debug, Clone)]
pub struct Move {
    pub id: Uuid,
    pub principal_id: Uuid,
    pub upn: String,
    pub display_name: String,
    /// Barred or left: they get nothing new.
    pub active: bool,
    pub from_department: Option<String>,
    pub to_department: Option<String>,
    pub from_job_title: Option<String>,
    pub to_job_title: Option<String>,
    pub seen_at: DateTime<Utc>,
    pub attempts: i32,
}

/// Claims up to `limit` moves nobody is working on, oldest first, for `hold_seconds`.
pub async fn claim(pool: &PgPool, limit: i64, hold_seconds: f64) -> Result<Vec<Move>, sqlx::Error> {
    sqlx::query_as!(
        Move,
        r#"
        with open as (
            select id from people_moves
             where handled_at is null and (claimed_until is null or claimed_until < now())
             order by seen_at
             limit $1
               for update skip locked
        ), claimed as (
            update people_moves m
               set claimed_until = now() + make_interval(secs => $2), attempts = attempts + 1
              from open
             where m.id = open.id
         returning m.*
        )
        select c.id, c.principal_id, p.upn, p.display_name,
               (p.status = $3 and p.left_at is null) as "active!",
               c.from_department, c.to_department, c.from_job_title, c.to_job_title,
               c.seen_at as "seen_at: DateTime<Utc>", c.attempts
          from claimed c join principals p on p.id = c.principal_id
         order by c.seen_at
        "#,
        limit,
        hold_seconds,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_all(pool)
    .await
}

/// Marks a move handled, with what came of it.
pub async fn finish(
    pool: &PgPool,
    id: Uuid,
    outcome: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update people_moves set handled_at = now(), claimed_until = null, outcome = $2
          where id = $1",
        id,
        outcome
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Leaves a move for a later try (a system that did not answer), in `seconds`.
pub async fn retry_in(pool: &PgPool, id: Uuid, seconds: f64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update people_moves set claimed_until = now() + make_interval(secs => $2) where id = $1",
        id,
        seconds
    )
    .execute(pool)
    .await?;
    Ok(())
}
