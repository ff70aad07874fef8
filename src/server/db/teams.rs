//! The Teams outbox: cards waiting for, or taken by, a Workflows webhook.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::mail::MailKind;
use crate::domain::person::PrincipalStatus;
use crate::server::db::delivery::Claim;

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
        "select id from principals where id = any($1) and teams_webhook is not null and status = $2",
        people,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_all(conn)
    .await
}

/// A person's chat webhook.
pub async fn chat_webhook(pool: &PgPool, person: Uuid) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "select teams_webhook from principals where id = $1 and status = $2",
        person,
        PrincipalStatus::Active as PrincipalStatus
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

/// The claimed card's target and message ([`super::delivery::claim`]).
pub async fn card(pool: &PgPool, claim: &Claim) -> Result<Option<Card>, sqlx::Error> {
    let row = sqlx::query!(
        "select target, payload from teams_outbox where id = $1",
        claim.id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Card {
        id: claim.id,
        target: r.target,
        payload: r.payload,
        attempts: claim.attempts,
        created_at: claim.created_at,
    }))
}
