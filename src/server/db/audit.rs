//! The audit trail: one row per change, written in the same transaction as the change. The
//! database chains and guards the rows (see the migration); this module only appends and reads.

use chrono::{DateTime, Utc};

use crate::domain::audit::AuditAction;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Who did it: a person, or the portal itself (the engine, the catalog loader).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub label: String,
}

impl Actor {
    pub fn person(id: Uuid, label: impl Into<String>) -> Self {
        Self {
            id: Some(id),
            label: label.into(),
        }
    }

    pub fn system(label: &str) -> Self {
        Self {
            id: None,
            label: label.to_string(),
        }
    }
}

/// What an event is about; every field optional.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub request: Option<Uuid>,
    pub grant: Option<Uuid>,
    pub entitlement: Option<Uuid>,
    pub principal: Option<Uuid>,
}

pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    action: AuditAction,
    subject: &Subject,
    details: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into audit_events (actor_id, actor_label, action, request_id, grant_id,
                                  entitlement_id, subject_id, details)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        "#,
        actor.id,
        actor.label,
        action.as_str(),
        subject.request,
        subject.grant,
        subject.entitlement,
        subject.principal,
        details,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One row of the trail as the governance pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_label: String,
    pub action: String,
    pub request_id: Option<Uuid>,
    pub grant_id: Option<Uuid>,
    pub details: Value,
    pub hash_hex: String,
}

/// Every event about a request and the grants it produced, oldest first.
pub async fn trail_of_request(
    conn: &mut PgConnection,
    request: Uuid,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as!(
        Event,
        r#"
        select position, occurred_at as "occurred_at: DateTime<Utc>", actor_label, action, request_id, grant_id, details,
               encode(hash, 'hex') as "hash_hex!"
          from audit_events
         where request_id = $1
            or grant_id in (select id from grants where request_id = $1)
            or grant_id in (select extends_grant from access_requests where id = $1)
         order by position
        "#,
        request
    )
    .fetch_all(conn)
    .await
}

/// The newest events about a person (as subject), newest first.
pub async fn about_principal(
    conn: &mut PgConnection,
    principal: Uuid,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as!(
        Event,
        r#"
        select position, occurred_at as "occurred_at: DateTime<Utc>", actor_label, action, request_id, grant_id, details,
               encode(hash, 'hex') as "hash_hex!"
          from audit_events
         where subject_id = $1
         order by position desc
         limit $2
        "#,
        principal,
        limit
    )
    .fetch_all(conn)
    .await
}

/// The newest events, newest first.
pub async fn recent(conn: &mut PgConnection, limit: i64) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as!(
        Event,
        r#"
        select position, occurred_at as "occurred_at: DateTime<Utc>", actor_label, action, request_id, grant_id, details,
               encode(hash, 'hex') as "hash_hex!"
          from audit_events
         order by position desc
         limit $1
        "#,
        limit
    )
    .fetch_all(conn)
    .await
}

/// The first position where the hash chain breaks, or `None` when the trail is intact.
pub async fn first_break(conn: &mut PgConnection) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!("select audit_chain_first_break()")
        .fetch_one(conn)
        .await
}

/// The chain's head: the last position and its hash (0 and the hash of nothing when empty).
pub async fn head(conn: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    let row = sqlx::query!("select position, hash from audit_chain_head")
        .fetch_one(conn)
        .await?;
    Ok((row.position, row.hash))
}

/// Stores a signed checkpoint; false when that position was signed already.
pub async fn insert_checkpoint(
    conn: &mut PgConnection,
    position: i64,
    hash: &[u8],
    key_id: &str,
    signature: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        insert into audit_checkpoints (position, hash, key_id, signature)
        values ($1, $2, $3, $4)
        on conflict (position) do nothing
        "#,
        position,
        hash,
        key_id,
        signature
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A checkpoint beside the hash the chain has at its position now.
pub struct Checkpoint {
    pub position: i64,
    pub hash: Vec<u8>,
    pub signature: Vec<u8>,
    pub signed_at: DateTime<Utc>,
    pub chain_hash: Option<Vec<u8>>,
}

pub async fn checkpoints(conn: &mut PgConnection) -> Result<Vec<Checkpoint>, sqlx::Error> {
    sqlx::query_as!(
        Checkpoint,
        r#"
        select c.position, c.hash, c.signature, c.signed_at as "signed_at: DateTime<Utc>",
               e.hash as "chain_hash?"
          from audit_checkpoints c
          left join audit_events e on e.position = c.position
         order by c.position
        "#
    )
    .fetch_all(conn)
    .await
}
