//! Removal on time, measured against a real directory (OpenLDAP by default, a Samba AD domain
//! controller with BENCH_DIRECTORY=samba) and a real PostgreSQL (DATABASE_URL's server).
//!
//! 1. Fills the grants table with 1,000,000 rows (history plus far-future leases;
//!    `BENCH_HISTORY` to change it).
//! 2. Removal lag: 200 leases ending 50 ms apart; lag = when the directory was read back
//!    without the member (`verified_at`) minus `ends_at`. Reports p50, p99 and max.
//! 3. Burst: 10,000 leases on 100 groups all ending in the same second (`BENCH_BURST_GROUPS`,
//!    `BENCH_BURST_PER_GROUP`); reports the time from that second to the last verified removal.
//!
//! Run with `make bench` (docs/benchmarks.md has the figures and how to read them).

#[path = "../tests/api/directory.rs"]
#[allow(dead_code)]
mod directory;
#[path = "support/history.rs"]
mod history;
#[path = "support/measure.rs"]
mod measure;

use measure::{report, wait_and_measure};

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use leasegate::domain::access::Access;
use leasegate::server::app::config::EngineSettings;
use leasegate::server::connectors::{Connector as _, Connectors};
use leasegate::server::jobs::grants::Engine;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

const CONNECTOR: &str = "bench-directory";
const LAG_LEASES: usize = 200;

#[tokio::main]
async fn main() {
    let pool = measure::fresh_database("leasegate_bench").await;

    let dir = match std::env::var("BENCH_DIRECTORY").as_deref() {
        Ok("samba") => directory::samba(),
        _ => directory::openldap(),
    };
    println!("directory: {:?} at {}", dir.kind, dir.url);
    let connector_id: Uuid =
        sqlx::query_scalar("insert into connectors (name, kind) values ($1, 'ldap') returning id")
            .bind(CONNECTOR)
            .fetch_one(&pool)
            .await
            .unwrap();
    let policy: Uuid = sqlx::query_scalar(
        r#"insert into policies (key, name, rules) values ('auto', 'Auto',
           '{"name":"Auto","durations":{"default_minutes":60,"max_minutes":480}}') returning id"#,
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    let started = Instant::now();
    let history_rows = measure::size::<i64>("BENCH_HISTORY", 1_000_000);
    let burst_groups = measure::size::<usize>("BENCH_BURST_GROUPS", 100);
    let burst_per_group = measure::size::<usize>("BENCH_BURST_PER_GROUP", 100);
    history::fill(&pool, connector_id, policy, history_rows).await;
    println!(
        "history: {} grants in the table ({:.1} s to write)",
        count(&pool, "select count(*) from grants").await,
        started.elapsed().as_secs_f64()
    );

    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, Arc::new(dir.connector()));
    let (stop, stopping) = watch::channel(false);
    let engine = Engine::new(
        pool.clone(),
        connectors,
        EngineSettings {
            enabled: true,
            lease: Duration::from_secs(30),
            batch: 1000,
            account_watch: std::time::Duration::from_secs(60),
            checkpoint_every: std::time::Duration::from_secs(300),
            replication_window: std::time::Duration::from_secs(900),
            removal_grace: std::time::Duration::from_secs(120),
            reconcile_every: std::time::Duration::from_secs(15 * 60),
            reconcile_complete_every: std::time::Duration::from_secs(24 * 60 * 60),
        },
    );
    let engine = tokio::spawn(leasegate::server::jobs::run_engine(engine, stopping));

    // Removal lag, one lease at a time.
    let lag_group = seed_group(&pool, dir, connector_id, policy, "lag", LAG_LEASES).await;
    let first = Utc::now() + TimeDelta::seconds(5);
    let mut ids = Vec::new();
    for (i, principal) in lag_group.principals.iter().enumerate() {
        ids.push(
            lease(
                &pool,
                *principal,
                &lag_group,
                first + TimeDelta::milliseconds(50 * i as i64),
            )
            .await,
        );
    }
    let lags = wait_and_measure(&pool, &ids, Duration::from_secs(600)).await;
    report("removal lag, one lease every 50 ms", &lags);

    // Burst: (by default) 10,000 leases on 100 groups ending in the same second.
    let mut burst = Vec::new();
    for g in 0..burst_groups {
        burst.push(
            seed_group(
                &pool,
                dir,
                connector_id,
                policy,
                &format!("burst{g}"),
                burst_per_group,
            )
            .await,
        );
    }
    // Far enough ahead that every lease is written (and added) before the burst falls due.
    let end = Utc::now() + TimeDelta::seconds(10 + (burst_groups * burst_per_group / 500) as i64);
    let mut ids = Vec::new();
    for group in &burst {
        for principal in &group.principals {
            ids.push(lease(&pool, *principal, group, end).await);
        }
    }
    println!("burst: {} leases ending at {end}", ids.len());
    let lags = wait_and_measure(&pool, &ids, Duration::from_secs(600)).await;
    report(
        &format!(
            "burst of {} across {burst_groups} groups",
            burst_groups * burst_per_group
        ),
        &lags,
    );
    println!(
        "burst cleared (ends_at to the last verified removal): {:.3} s",
        lags.last().copied().unwrap_or_default()
    );

    stop.send(true).unwrap();
    engine.await.unwrap();
    println!(
        "grants in the table at the end: {}",
        count(&pool, "select count(*) from grants").await
    );
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

struct SeededGroup {
    entitlement: Uuid,
    /// The group's stable id, as the engine pins it when it first provisions a lease on it.
    target_id: String,
    principals: Vec<Uuid>,
}

/// A directory group with `size` members, its catalog entry, and the principals for them.
async fn seed_group(
    pool: &PgPool,
    dir: &directory::Directory,
    connector: Uuid,
    policy: Uuid,
    name: &str,
    size: usize,
) -> SeededGroup {
    let mut ldap = dir.admin().await;
    let id = directory::unique();
    // groupOfNames cannot be empty, so OpenLDAP groups keep a placeholder; AD groups may be
    // empty (and AD refuses members that do not exist).
    let mut members = Vec::new();
    if dir.kind == directory::Kind::OpenLdap {
        members.push(format!("cn=keeper-{id},{}", dir.people));
    }
    let mut principals = Vec::new();
    for i in 0..size {
        let upn = format!("{name}.{id}.{i}@contoso.test");
        let dn = dir
            .add_user(&mut ldap, &format!("{name} {id} {i}"), &upn, None, None)
            .await;
        let principal: Uuid = sqlx::query_scalar(
            "insert into principals (tenant_id, object_id, upn, display_name)
             values ('bench', $1, $2, $2) returning id",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(&upn)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into principal_accounts (principal_id, connector_id, account_ref) values ($1, $2, $3)",
        )
        .bind(principal)
        .bind(connector)
        .bind(&dn)
        .execute(pool)
        .await
        .unwrap();
        members.push(dn);
        principals.push(principal);
    }
    let group = dir
        .add_group(&mut ldap, &format!("Bench {name} {id}"), &members)
        .await;
    let entitlement: Uuid = sqlx::query_scalar(
        "insert into entitlements (key, connector_id, kind, target_ref, name, policy_id)
         values ($1, $2, 'ad_group', $3, $1, $4) returning id",
    )
    .bind(format!("bench-{name}-{id}"))
    .bind(connector)
    .bind(&group)
    .bind(policy)
    .fetch_one(pool)
    .await
    .unwrap();
    let target_id = dir
        .connector()
        .target(&Access::AdGroup, &group)
        .await
        .unwrap()
        .and_then(|t| t.stable_id)
        .expect("the directory names the group's stable id");
    SeededGroup {
        entitlement,
        target_id,
        principals,
    }
}

/// An active lease (the member is already in the group) ending at `ends_at`, pinned to the
/// account and the group as the engine pins them when it provisions.
async fn lease(
    pool: &PgPool,
    principal: Uuid,
    group: &SeededGroup,
    ends_at: DateTime<Utc>,
) -> Uuid {
    sqlx::query_scalar(
        "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                             provisioned_at, next_due_at, connector_id, target_ref, target_id,
                             account_ref, account_id)
         select $1, e.id, now(), $3, 'active', now(), $3, e.connector_id, e.target_ref, $4,
                pa.account_ref, pa.account_id
           from entitlements e
           join principal_accounts pa on pa.principal_id = $1 and pa.connector_id = e.connector_id
          where e.id = $2
         returning id",
    )
    .bind(principal)
    .bind(group.entitlement)
    .bind(ends_at)
    .bind(&group.target_id)
    .fetch_one(pool)
    .await
    .unwrap()
}
