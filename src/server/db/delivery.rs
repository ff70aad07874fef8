//! The delivery queue both outboxes share: claiming the next due message for a lease, settling
//! what became of it, postponing the rest, and when the next one is due. Mail and Teams keep
//! their own tables (their messages differ) with the same delivery columns, so one set of
//! queries serves both; only writing a message and reading its body are the channel's own.
//!
//! The table is chosen from [`Queue`], a closed set, so the SQL is built from constants and
//! never from input; these queries are not checked at compile time (sqlx checks only literal
//! SQL) and are exercised by the mail and Teams tests instead.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::mail::MailState;

/// An outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Mail,
    Teams,
}

impl Queue {
    fn table(self) -> &'static str {
        match self {
            Queue::Mail => "mail_outbox",
            Queue::Teams => "teams_outbox",
        }
    }
}

/// A message claimed for delivery: its id, how often it was tried (this try included) and
/// when it was written.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    pub id: Uuid,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// What became of a claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Sent,
    /// Refused for good: the server's answer, or why it was given up.
    Refused(String),
    /// Not taken now; tried again at `at`.
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
}

/// Claims the next due message for `lease`: one at a time, just before it is sent, so a claim
/// is always held while its message is on the way. Replicas skip each other's claims; a claim
/// whose lease ran out (its replica died mid-send) is taken over.
pub async fn claim(
    pool: &PgPool,
    queue: Queue,
    worker: &str,
    lease: std::time::Duration,
) -> Result<Option<Claim>, sqlx::Error> {
    let sql = format!(
        "update {table} m
            set locked_by = $1, locked_until = now() + make_interval(secs => $2),
                attempts = attempts + 1
           from (select id from {table}
                  where state = 'pending' and next_attempt_at <= now()
                    and (locked_until is null or locked_until < now())
                  order by next_attempt_at, created_at
                  limit 1
                  for update skip locked) due
          where m.id = due.id
         returning m.id, m.attempts, m.created_at",
        table = queue.table()
    );
    sqlx::query_as::<_, Claim>(&sql)
        .bind(worker)
        .bind(lease.as_secs_f64())
        .fetch_optional(pool)
        .await
}

/// Records what became of a message `worker` claimed. A claim that expired and was taken over
/// meanwhile is left to its new holder.
pub async fn settle(
    pool: &PgPool,
    queue: Queue,
    id: Uuid,
    worker: &str,
    outcome: &Settled,
) -> Result<(), sqlx::Error> {
    let (state, error, retry_at) = match outcome {
        Settled::Sent => (MailState::Sent, None, None),
        Settled::Refused(reason) => (MailState::Refused, Some(reason), None),
        Settled::Retry { error, at } => (MailState::Pending, Some(error), Some(*at)),
    };
    let sql = format!(
        "update {table}
            set state = $3,
                sent_at = case when $3 = 'sent' then now() end,
                refused_at = case when $3 = 'refused' then now() end,
                last_error = $4,
                next_attempt_at = coalesce($5, next_attempt_at),
                locked_by = null, locked_until = null
          where id = $1 and locked_by = $2 and state = 'pending'",
        table = queue.table()
    );
    sqlx::query(&sql)
        .bind(id)
        .bind(worker)
        .bind(state)
        .bind(error)
        .bind(retry_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// The server did not take a message: the others due now wait until `next_at` too, each counted
/// as tried with that answer, rather than each being tried against a server that is likely down
/// for all of them. How many were postponed.
pub async fn postpone_due(
    pool: &PgPool,
    queue: Queue,
    error: &str,
    next_at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "update {table}
            set next_attempt_at = $2, last_error = $1, attempts = attempts + 1
          where state = 'pending' and next_attempt_at <= now()
            and (locked_until is null or locked_until < now())",
        table = queue.table()
    );
    Ok(sqlx::query(&sql)
        .bind(error)
        .bind(next_at)
        .execute(pool)
        .await?
        .rows_affected())
}

/// Seconds until the next pending message is due (negative: overdue), or None when none waits.
pub async fn seconds_until_next(pool: &PgPool, queue: Queue) -> Result<Option<f64>, sqlx::Error> {
    let sql = format!(
        "select extract(epoch from min(greatest(next_attempt_at,
                                               coalesce(locked_until, next_attempt_at))) - now())::float8
           from {table} where state = 'pending'",
        table = queue.table()
    );
    sqlx::query_scalar(&sql).fetch_one(pool).await
}
