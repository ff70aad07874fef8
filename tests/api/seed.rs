//! Rows the engine and service tests start from, written straight into a test's database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leasegate::server::app::config::{EngineSettings, Settings};
use sqlx::PgPool;
use uuid::Uuid;

pub async fn principal(pool: &PgPool, upn: &str, name: &str) -> Uuid {
    sqlx::query_scalar(
        "insert into principals (tenant_id, object_id, upn, display_name)
         values ('test-tenant', $1, $2, $3) returning id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(upn)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A catalog entry for `group` on the connector named `connector`, with an auto-approving
/// policy unless `rules` says otherwise.
pub async fn entitlement(pool: &PgPool, connector: &str, group: &str) -> Uuid {
    let rules = serde_json::json!({
        "name": "Auto", "durations": { "default_minutes": 60, "max_minutes": 480 }
    });
    entitlement_with(pool, connector, group, rules, &[]).await
}

pub async fn entitlement_with(
    pool: &PgPool,
    connector: &str,
    group: &str,
    rules: serde_json::Value,
    owners: &[&str],
) -> Uuid {
    let connector_id: Uuid = sqlx::query_scalar(
        "insert into connectors (name, kind) values ($1, 'ldap')
         on conflict (name) do update set name = excluded.name returning id",
    )
    .bind(connector)
    .fetch_one(pool)
    .await
    .unwrap();
    let key = format!("e-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let policy_id: Uuid = sqlx::query_scalar(
        "insert into policies (key, name, rules) values ($1, $2, $3) returning id",
    )
    .bind(&key)
    .bind(rules["name"].as_str().unwrap_or("Test"))
    .bind(&rules)
    .fetch_one(pool)
    .await
    .unwrap();
    let owners: Vec<String> = owners.iter().map(|o| o.to_lowercase()).collect();
    sqlx::query_scalar(
        "insert into entitlements (key, connector_id, kind, target_ref, name, policy_id, owners)
         values ($1, $2, 'ad_group', $3, $4, $5, $6) returning id",
    )
    .bind(&key)
    .bind(connector_id)
    .bind(group)
    .bind(format!("Group {key}"))
    .bind(policy_id)
    .bind(&owners)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// An entry giving `access` (JSON, as the catalog stores it) on a connector of `connector_kind`.
pub async fn entitlement_on(
    pool: &PgPool,
    connector: &str,
    connector_kind: &str,
    access: serde_json::Value,
    target: &str,
) -> Uuid {
    let connector_id: Uuid = sqlx::query_scalar(
        "insert into connectors (name, kind) values ($1, $2)
         on conflict (name) do update set kind = excluded.kind returning id",
    )
    .bind(connector)
    .bind(connector_kind)
    .fetch_one(pool)
    .await
    .unwrap();
    let key = format!("e-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let rules = serde_json::json!({
        "name": "Auto", "durations": { "default_minutes": 60, "max_minutes": 480 }
    });
    let policy_id: Uuid = sqlx::query_scalar(
        "insert into policies (key, name, rules) values ($1, 'Auto', $2) returning id",
    )
    .bind(&key)
    .bind(&rules)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query_scalar(
        "insert into entitlements (key, connector_id, kind, access, target_ref, name, policy_id)
         values ($1, $2, $3->>'kind', $3, $4, $5, $6) returning id",
    )
    .bind(&key)
    .bind(connector_id)
    .bind(&access)
    .bind(target)
    .bind(format!("Entry {key}"))
    .bind(policy_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn grant(
    pool: &PgPool,
    principal: Uuid,
    entitlement: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Uuid {
    sqlx::query_scalar(
        "insert into grants (principal_id, entitlement_id, starts_at, ends_at, next_due_at,
                             connector_id, target_ref, access)
         select $1, e.id, $3, $4, $3, e.connector_id, e.target_ref, e.access
           from entitlements e where e.id = $2 returning id",
    )
    .bind(principal)
    .bind(entitlement)
    .bind(starts_at)
    .bind(ends_at)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn grant_state(pool: &PgPool, grant: Uuid) -> String {
    sqlx::query_scalar("select state from grants where id = $1")
        .bind(grant)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// How many audit events of `action` name this grant.
pub async fn events(pool: &PgPool, grant: Uuid, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_events where grant_id = $1 and action = $2")
        .bind(grant)
        .bind(action)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The single number a `select count(*) ...` answers.
pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// The engine's settings for tests: a claim lasts `lease`, a batch is 1,000 grants.
pub fn engine_settings(lease: Duration) -> EngineSettings {
    EngineSettings {
        enabled: true,
        lease,
        batch: 1000,
        account_watch: Duration::from_secs(60),
        checkpoint_every: Duration::from_secs(300),
        // Most tests want "not found" and "still there" to count at once; the tests of
        // replication lag and late removals set their own.
        replication_window: Duration::ZERO,
        removal_grace: Duration::ZERO,
        reconcile_every: Duration::from_secs(15 * 60),
        reconcile_complete_every: std::time::Duration::from_secs(24 * 60 * 60),
    }
}

/// Portal settings that name no real provider, for tests that build the state by hand.
pub fn portal_settings() -> Settings {
    leasegate::server::app::config::from_sources(
        Default::default(),
        [
            ("DATABASE_URL", "postgres://unused"),
            ("LEASEGATE_OIDC_ISSUER", "http://127.0.0.1:9"),
            ("LEASEGATE_OIDC_CLIENT_ID", "c"),
            ("LEASEGATE_OIDC_CLIENT_SECRET", "s"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap()
}

/// Parses and stores a catalog file's text, as a load at start does.
pub async fn catalog(pool: &PgPool, text: &str) {
    use leasegate::server::catalog;
    let parsed = catalog::parse(text, "catalog.toml", &catalog::Trust::default())
        .unwrap_or_else(|e| panic!("{:?}", e.problems));
    catalog::store(
        pool,
        &parsed,
        "catalog.toml",
        text,
        &leasegate::server::db::audit::Actor::system("test"),
    )
    .await
    .unwrap();
}

/// A fresh group in the shared OpenLDAP offered under `policy` (connector `test-directory`),
/// owned by `owners`; its catalog key.
pub async fn offered(pool: &PgPool, policy: serde_json::Value, owners: &[&str]) -> String {
    let dir = crate::directory::openldap();
    let mut ldap = dir.admin().await;
    let group = dir
        .add_group(
            &mut ldap,
            &format!("Offered {}", crate::directory::unique()),
            &[],
        )
        .await;
    let id = entitlement_with(pool, "test-directory", &group, policy, owners).await;
    key_of(pool, id).await
}

/// A catalog entry's key, by its id.
pub async fn key_of(pool: &PgPool, entitlement: Uuid) -> String {
    sqlx::query_scalar("select key from entitlements where id = $1")
        .bind(entitlement)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The portal over the shared OpenLDAP with the demo people in it (Adele reports to Megan),
/// and the connectors it uses.
pub async fn ldap_portal(
    pool: PgPool,
    extra: Vec<(&'static str, String)>,
) -> (
    crate::harness::TestApp,
    leasegate::server::connectors::Connectors,
) {
    let dir = crate::directory::openldap();
    crate::access::people(dir).await;
    let mut connectors = leasegate::server::connectors::Connectors::default();
    connectors.insert("test-directory", std::sync::Arc::new(dir.connector()));
    let app = crate::harness::TestApp::spawn_with(
        pool,
        crate::harness::Options {
            connectors: connectors.clone(),
            extra,
            ..crate::harness::Options::default()
        },
    )
    .await;
    (app, connectors)
}
