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

/// The first position where the hash chain breaks, or `None` when the trail is intact.
pub async fn first_break(conn: &mut PgConnection) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!("select audit_chain_first_break()")
        .fetch_one(conn)
        .await
}

/// The first position after `after` (whose hash is `after_hash`) whose hash does not follow.
pub async fn first_break_after(
    conn: &mut PgConnection,
    after: i64,
    after_hash: &[u8],
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "select audit_chain_first_break_after($1, $2)",
        after,
        after_hash
    )
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

/// What an event search asks for; `None` is "any". `who` and `what` match as "contains", in
/// any case, wildcards as typed.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
    /// The actor, or the person the event is about, by name or sign-in name.
    pub who: Option<String>,
    /// The catalog entry, by name or key.
    pub what: Option<String>,
    /// An action's dotted name, or a family (`grant`).
    pub action: Option<String>,
    /// Events by or about this person.
    pub person: Option<Uuid>,
    /// Events about this request and the grants it produced.
    pub request: Option<Uuid>,
    /// Only positions below this one (the next page, newest first).
    pub before: Option<i64>,
}

/// One event with everything needed to check it: the exact text its hash covers, and both
/// hashes. `subject` and `entitlement` are today's names, for reading; the hash covers the ids.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub position: i64,
    pub id: Uuid,
    /// Written as `audit_canonical` writes it (microseconds, `Z`), so every field the hash
    /// covers can be compared with the hashed text as it stands.
    #[serde(serialize_with = "as_canonical_time")]
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub request_id: Option<Uuid>,
    pub grant_id: Option<Uuid>,
    pub entitlement_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub subject: Option<String>,
    pub entitlement: Option<String>,
    pub details: Value,
    pub canonical: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A time as the chain's canonical text has it: `2026-11-29T12:04:05.000600Z`.
fn as_canonical_time<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&at.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// Which end of the trail a search starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    NewestFirst,
    OldestFirst,
}

/// The events that match `filter`, at most `limit` of them.
pub async fn search(
    conn: &mut PgConnection,
    filter: &Filter,
    order: Order,
    limit: i64,
) -> Result<Vec<Evidence>, sqlx::Error> {
    use futures::TryStreamExt as _;
    search_stream(conn, filter, order, limit)
        .try_collect()
        .await
}

/// The matches of [`search`] one by one as the database sends them, for an export of any size
/// in constant memory.
pub fn search_stream<'a>(
    conn: &'a mut PgConnection,
    filter: &'a Filter,
    order: Order,
    limit: i64,
) -> futures::stream::BoxStream<'a, Result<Evidence, sqlx::Error>> {
    sqlx::query_as!(
        Evidence,
        r#"
        select e.position, e.id, e.occurred_at as "occurred_at: DateTime<Utc>", e.actor_id,
               e.actor_label, e.action, e.request_id, e.grant_id, e.entitlement_id, e.subject_id,
               s.display_name as "subject?", en.name as "entitlement?", e.details,
               convert_from(audit_canonical(e), 'UTF8') as "canonical!",
               encode(e.prev_hash, 'hex') as "prev_hash!", encode(e.hash, 'hex') as "hash!"
          from audit_events e
          left join principals s on s.id = e.subject_id
          left join entitlements en on en.id = e.entitlement_id
         where ($1::timestamptz is null or e.occurred_at >= $1)
           and ($2::timestamptz is null or e.occurred_at < $2)
           and ($3::text is null
                or e.actor_label ilike $3 or s.display_name ilike $3 or s.upn ilike $3
                or exists (select 1 from principals a
                            where a.id = e.actor_id
                              and (a.display_name ilike $3 or a.upn ilike $3)))
           and ($4::text is null or en.name ilike $4 or en.key ilike $4)
           and ($5::text is null or e.action = $5 or e.action like $5 || '.%')
           and ($6::uuid is null or e.subject_id = $6 or e.actor_id = $6)
           and ($7::uuid is null or e.request_id = $7
                or e.grant_id in (select id from grants where request_id = $7)
                or e.grant_id in (select extends_grant from access_requests where id = $7))
           and ($8::bigint is null or e.position < $8)
         order by case when $9 then e.position end asc, e.position desc
         limit $10
        "#,
        filter.from as Option<DateTime<Utc>>,
        filter.until as Option<DateTime<Utc>>,
        filter.who.as_deref().map(super::contains_pattern),
        filter.what.as_deref().map(super::contains_pattern),
        filter.action,
        filter.person,
        filter.request,
        filter.before,
        order == Order::OldestFirst,
        limit,
    )
    .fetch(conn)
}

/// The newest signed checkpoint.
pub struct LatestCheckpoint {
    pub position: i64,
    pub hash: String,
    pub key_id: String,
    pub signature: Vec<u8>,
    pub signed_at: DateTime<Utc>,
}

pub async fn latest_checkpoint(
    conn: &mut PgConnection,
) -> Result<Option<LatestCheckpoint>, sqlx::Error> {
    sqlx::query_as!(
        LatestCheckpoint,
        r#"
        select position, encode(hash, 'hex') as "hash!", key_id,
               signature,
               signed_at as "signed_at: DateTime<Utc>"
          from audit_checkpoints
         order by position desc
         limit 1
        "#
    )
    .fetch_optional(conn)
    .await
}
