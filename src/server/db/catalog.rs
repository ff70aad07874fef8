//! Reading the catalog.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::policy::Policy;

/// An enabled entitlement with its policy and connector.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub description: String,
    pub target: String,
    pub owners: Vec<String>,
    pub tags: Vec<String>,
    pub connector_id: Uuid,
    pub connector: String,
    pub policy: Policy,
}

struct Row {
    id: Uuid,
    key: String,
    name: String,
    description: String,
    target_ref: String,
    owners: Vec<String>,
    tags: Vec<String>,
    connector_id: Uuid,
    connector: String,
    rules: serde_json::Value,
}

fn entry(row: Row) -> Result<Entry, sqlx::Error> {
    let policy: Policy = serde_json::from_value(row.rules).map_err(|e| {
        sqlx::Error::Decode(format!("policy of entitlement {}: {e}", row.key).into())
    })?;
    Ok(Entry {
        id: row.id,
        key: row.key,
        name: row.name,
        description: row.description,
        target: row.target_ref,
        owners: row.owners,
        tags: row.tags,
        connector_id: row.connector_id,
        connector: row.connector,
        policy,
    })
}

/// Enabled entries whose name, description, key, system or tags contain `query` (any case).
pub async fn search(conn: &mut PgConnection, query: &str) -> Result<Vec<Entry>, sqlx::Error> {
    let pattern = format!(
        "%{}%",
        query
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = sqlx::query_as!(
        Row,
        r#"
        select e.id, e.key, e.name, e.description, e.target_ref, e.owners, e.tags,
               e.connector_id, c.name as connector, p.rules
          from entitlements e
          join connectors c on c.id = e.connector_id
          join policies p on p.id = e.policy_id
         where e.enabled
           and (e.name ilike $1 or e.description ilike $1 or e.key ilike $1 or c.name ilike $1
                or exists (select 1 from unnest(e.tags) t where t ilike $1))
         order by e.name
         limit 500
        "#,
        pattern
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(entry).collect()
}

pub async fn by_key(conn: &mut PgConnection, key: &str) -> Result<Option<Entry>, sqlx::Error> {
    let row = sqlx::query_as!(
        Row,
        r#"
        select e.id, e.key, e.name, e.description, e.target_ref, e.owners, e.tags,
               e.connector_id, c.name as connector, p.rules
          from entitlements e
          join connectors c on c.id = e.connector_id
          join policies p on p.id = e.policy_id
         where e.key = $1 and e.enabled
        "#,
        key
    )
    .fetch_optional(conn)
    .await?;
    row.map(entry).transpose()
}

/// The person's live grant of this entitlement, if they hold one.
pub struct Held {
    pub grant: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

pub async fn held(
    conn: &mut PgConnection,
    principal: Uuid,
    entitlement: Uuid,
) -> Result<Option<Held>, sqlx::Error> {
    sqlx::query_as!(
        Held,
        r#"
        select id as grant, starts_at as "starts_at: DateTime<Utc>",
               ends_at as "ends_at: DateTime<Utc>"
          from grants
         where principal_id = $1 and entitlement_id = $2 and state in ('scheduled', 'active')
        "#,
        principal,
        entitlement
    )
    .fetch_optional(conn)
    .await
}
