//! The Teams outbox: cards waiting for, or taken by, a Workflows webhook.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::mail::{MailKind, MailState};

/// Writes a card unless one with the same topic went to the same target. True when written.
pub async fn enqueue(
    conn: &mut PgConnection,
    topic: &str,
    kind: MailKind,
    target: &str,
    payload: &Value,
    request: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        insert into teams_outbox (topic, kind, target, payload, request_id)
        values ($1, $2, $3, $4, $5)
        on conflict (topic, target) do nothing
        "#,
        topic,
        kind as MailKind,
        target,
        payload,
        request
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Of these people, those who gave the portal a chat webhook.
pub async fn with_chat(conn: &mut PgConnection, people: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select id from principals where id = any($1) and teams_webhook is not null and status = 'active'",
        people
    )
    .fetch_all(conn)
    .await
}

/// A person's chat webhook.
pub async fn chat_webhook(pool: &PgPool, person: Uuid) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "select teams_webhook from principals where id = $1 and status = 'active'",
        person
    )
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// Sets or clears the caller's own chat webhook.
pub async fn set_chat_webhook(
    pool: &PgPool,
    person: Uuid,
    webhook: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update principals set teams_webhook = $2, updated_at = now() where id = $1",
        person,
        webhook
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Card {
    pub id: Uuid,
    pub target: String,
    pub payload: Value,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// Claims up to `limit` due cards for `lease`.
/// Claims the next due card for `lease`: one at a time, just before it is posted, so a claim
/// is always held while its card is on the way.
pub async fn claim_next(
    pool: &PgPool,
    worker: &str,
    lease: std::time::Duration,
) -> Result<Option<Card>, sqlx::Error> {
    sqlx::query_as!(
        Card,
        r#"
        update teams_outbox t
           set locked_by = $1, locked_until = now() + make_interval(secs => $2),
               attempts = attempts + 1
          from (select id from teams_outbox
                 where state = 'pending' and next_attempt_at <= now()
                   and (locked_until is null or locked_until < now())
                 order by next_attempt_at, created_at
                 limit 1
                 for update skip locked) due
         where t.id = due.id
        returning t.id, t.target, t.payload, t.attempts,
                  t.created_at as "created_at: DateTime<Utc>"
        "#,
        worker,
        lease.as_secs_f64()
    )
    .fetch_optional(pool)
    .await
}

/// Records what became of a claimed card: sent, refused for good, or to try again at `retry_at`.
pub async fn record(
    pool: &PgPool,
    id: Uuid,
    worker: &str,
    state: MailState,
    error: Option<&str>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        update teams_outbox
           set state = $3,
               sent_at = case when $3 = 'sent' then now() end,
               refused_at = case when $3 = 'refused' then now() end,
               last_error = $4,
               next_attempt_at = coalesce($5, next_attempt_at),
               locked_by = null, locked_until = null
         where id = $1 and locked_by = $2 and state = 'pending'
        "#,
        id,
        worker,
        state as MailState,
        error,
        retry_at as Option<DateTime<Utc>>
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Seconds until the next pending card is due, or None when none waits.
pub async fn seconds_until_next(pool: &PgPool) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select extract(epoch from min(greatest(next_attempt_at, coalesce(locked_until, next_attempt_at))) - now())::float8
          from teams_outbox where state = 'pending'
        "#
    )
    .fetch_one(pool)
    .await
}
