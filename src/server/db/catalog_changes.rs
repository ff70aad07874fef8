//! Catalog changes waiting for a second administrator (four eyes).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::change::{ChangeKind, ChangeState, ChangeStep};

pub struct NewChange<'a> {
    pub kind: ChangeKind,
    pub target_key: &'a str,
    pub before: &'a Value,
    pub after: &'a Value,
    pub impact: &'a [String],
    pub author: Uuid,
    pub author_label: &'a str,
}

/// Stores a proposed change; `None` when one for the same target already waits.
pub async fn propose(
    conn: &mut PgConnection,
    change: &NewChange<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let impact = serde_json::to_value(change.impact).expect("strings serialise");
    sqlx::query_scalar!(
        r#"
        insert into catalog_changes (kind, target_key, before, after, impact, author_id, author_label)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (kind, target_key) where state = 'pending' do nothing
        returning id
        "#,
        change.kind as ChangeKind,
        change.target_key,
        change.before,
        change.after,
        impact,
        change.author,
        change.author_label
    )
    .fetch_optional(conn)
    .await
}

/// A change as it is decided and shown.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: Uuid,
    pub kind: ChangeKind,
    pub target_key: String,
    pub before: Value,
    pub after: Value,
    pub impact: Value,
    pub author_id: Uuid,
    pub author_label: String,
    pub proposed_at: DateTime<Utc>,
}

pub async fn pending(conn: &mut PgConnection) -> Result<Vec<Change>, sqlx::Error> {
    sqlx::query_as!(
        Change,
        r#"
        select id, kind as "kind: ChangeKind", target_key, before, after, impact, author_id, author_label,
               proposed_at as "proposed_at: DateTime<Utc>"
          from catalog_changes where state = 'pending'
         order by proposed_at
        "#
    )
    .fetch_all(conn)
    .await
}

/// The pending change, locked until the transaction ends.
pub async fn lock_pending(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Change>, sqlx::Error> {
    sqlx::query_as!(
        Change,
        r#"
        select id, kind as "kind: ChangeKind", target_key, before, after, impact, author_id, author_label,
               proposed_at as "proposed_at: DateTime<Utc>"
          from catalog_changes where id = $1 and state = 'pending'
           for update
        "#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Closes a change: `step` takes it to applied, rejected or stale. False when it was no
/// longer in `step.from()`.
pub async fn close(
    conn: &mut PgConnection,
    id: Uuid,
    step: ChangeStep,
    decided_by: Uuid,
    comment: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        update catalog_changes
           set state = $3, decided_by = $4, decided_at = now(), comment = $5
         where id = $1 and state = $2
        "#,
        id,
        step.from() as ChangeState,
        step.to() as ChangeState,
        decided_by,
        comment
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Requests of the last 30 days under the entries `entitlements` (keys): how many, by how many
/// people.
pub async fn recent_requests(
    conn: &mut PgConnection,
    entitlements: &[String],
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select count(*) as "requests!", count(distinct r.beneficiary_id) as "people!"
          from access_requests r join entitlements e on e.id = r.entitlement_id
         where e.key = any($1) and r.submitted_at > now() - interval '30 days'
        "#,
        entitlements
    )
    .fetch_one(conn)
    .await?;
    Ok((row.requests, row.people))
}

/// The keys of the enabled entries that use a policy.
pub async fn entries_using(
    conn: &mut PgConnection,
    policy: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select e.key from entitlements e join policies p on p.id = e.policy_id
            where p.key = $1 and e.enabled order by e.key"#,
        policy
    )
    .fetch_all(conn)
    .await
}
