//! The connected systems as the catalog declares them, and their last known health.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::health::ConnectorHealth;

/// A declared connector: its name and address (never its secrets).
pub struct Declared {
    pub name: String,
    pub url: Option<String>,
}

pub async fn declared(pool: &PgPool) -> Result<Vec<Declared>, sqlx::Error> {
    sqlx::query_as!(
        Declared,
        r#"select name, settings->>'url' as url from connectors order by name"#
    )
    .fetch_all(pool)
    .await
}

/// Records what a health check found; returns when.
pub async fn record_health(
    pool: &PgPool,
    name: &str,
    health: ConnectorHealth,
    detail: Option<&str>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        update connectors set health = $2, health_detail = $3, health_checked_at = now()
         where name = $1
        returning health_checked_at as "checked_at: DateTime<Utc>"
        "#,
        name,
        health as ConnectorHealth,
        detail
    )
    .fetch_one(pool)
    .await
}
