//! Removal on time for Entra group leases, through the Graph connector and the Graph simulator
//! (written from Microsoft's documentation; not Microsoft's service), with a real PostgreSQL.
//!
//! Every HTTP call to the simulator takes `BENCH_GRAPH_LATENCY_MS` (default 80 ms) more, and
//! the simulator throttles at Microsoft's documented budgets for a large tenant: 8,000 resource
//! units per 10 s and 3,000 writes per 150 s per application.
//!
//! 1. Removal lag: 200 leases on one group ending 50 ms apart; lag = when the group was read
//!    back without the member (`verified_at`) minus `ends_at`. Reports p50, p99 and max.
//! 2. Burst: 10,000 leases on 100 groups all ending in the same second (`BENCH_BURST_GROUPS`,
//!    `BENCH_BURST_PER_GROUP`), removed with `$batch`; reports the time from that second to
//!    the last verified removal, and how often the simulator answered 429.
//!
//! Run with `make bench-graph` (docs/benchmarks.md has the figures).

#[path = "support/measure.rs"]
mod measure;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use leasegate::server::app::config::{EngineSettings, Secret};
use leasegate::server::connectors::Connectors;
use leasegate::server::connectors::graph::{GraphSettings, GraphTenant};
use leasegate::server::jobs::grants::Engine;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use measure::{report, wait_and_measure};

const CONNECTOR: &str = "bench-graph";
const TENANT: &str = "6f1c2a9e-0b1d-4c7e-9d3a-1f2e3d4c5b6a";
const CLIENT: &str = "0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b";
const SECRET: &str = "bench-secret";
const LAG_LEASES: usize = 200;

struct Sim {
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/__sim__/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/__sim__/{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::main]
async fn main() {
    let pool = measure::fresh_database("leasegate_bench_graph").await;

    let latency = measure::size::<usize>("BENCH_GRAPH_LATENCY_MS", 80);
    let simulator = graph_sim::Simulator::new(TENANT);
    simulator.register_app(
        CLIENT,
        SECRET,
        &[
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "User.Read.All",
            "Directory.Read.All",
        ],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Sim {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: measure::control_client(&simulator.control_token()),
    };
    tokio::spawn(graph_sim::serve(listener, simulator));
    sim.post("config", json!({ "latency_ms": latency })).await;
    println!(
        "Graph simulator at {} with {latency} ms per call; budgets: {}",
        sim.base,
        sim.get("config").await
    );

    let connector_id: Uuid =
        sqlx::query_scalar("insert into connectors (name, kind) values ($1, 'graph') returning id")
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

    let mut connectors = Connectors::default();
    let settings = GraphSettings {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        client_secret_env: None,
        client_secret_file: None,
        client_certificate_env: None,
        client_certificate_file: None,
        authority_url: sim.base.clone(),
        graph_url: format!("{}/v1.0", sim.base),
        timeout_seconds: 30,
        write_budget_per_150s: 2700,
    };
    connectors.insert(
        CONNECTOR,
        Arc::new(GraphTenant::new(CONNECTOR, settings, Secret::new(SECRET)).unwrap()),
    );
    let (stop, stopping) = watch::channel(false);
    let engine = Engine::new(
        pool.clone(),
        connectors,
        EngineSettings {
            enabled: true,
            lease: Duration::from_secs(30),
            batch: 1000,
            account_watch: Duration::from_secs(3600),
            checkpoint_every: Duration::from_secs(300),
            replication_window: std::time::Duration::from_secs(900),
            removal_grace: std::time::Duration::from_secs(120),
            reconcile_every: std::time::Duration::from_secs(15 * 60),
            reconcile_complete_every: std::time::Duration::from_secs(24 * 60 * 60),
        },
    );
    let engine = tokio::spawn(leasegate::server::jobs::run_engine(engine, stopping));

    // Removal lag, one lease at a time.
    let group = seed_group(&pool, &sim, connector_id, policy, "lag", LAG_LEASES).await;
    let first = Utc::now() + TimeDelta::seconds(3);
    let mut ids = Vec::new();
    for (i, principal) in group.principals.iter().enumerate() {
        let ends = first + TimeDelta::milliseconds(50 * i as i64);
        ids.push(lease(&pool, *principal, group.entitlement, ends).await);
    }
    let lags = wait_and_measure(&pool, &ids, Duration::from_secs(1800)).await;
    report("removal lag, one lease every 50 ms", &lags);
    let throttled = |log: &Value| {
        log["value"]
            .as_array()
            .map(|l| l.iter().filter(|r| r["status"] == 429).count())
            .unwrap_or(0)
    };
    println!(
        "429 answers so far: {}",
        throttled(&sim.get("requests").await)
    );

    // Burst: (by default) 10,000 leases on 100 groups ending in the same second.
    let groups = measure::size::<usize>("BENCH_BURST_GROUPS", 100);
    let per_group = measure::size::<usize>("BENCH_BURST_PER_GROUP", 100);
    let mut burst = Vec::new();
    for g in 0..groups {
        burst.push(
            seed_group(
                &pool,
                &sim,
                connector_id,
                policy,
                &format!("burst{g}"),
                per_group,
            )
            .await,
        );
    }
    // Far enough ahead that every lease is written before the burst falls due.
    let end = Utc::now() + TimeDelta::seconds(10 + (groups * per_group / 300) as i64);
    let mut ids = Vec::new();
    for group in &burst {
        for principal in &group.principals {
            ids.push(lease(&pool, *principal, group.entitlement, end).await);
        }
    }
    let _ = sim
        .http
        .delete(format!("{}/__sim__/requests", sim.base))
        .send()
        .await;
    println!("burst: {} leases ending at {end}", ids.len());
    let started = Instant::now();
    let lags = wait_and_measure(&pool, &ids, Duration::from_secs(1800)).await;
    report(
        &format!("burst of {} across {groups} groups", groups * per_group),
        &lags,
    );
    let log = sim.get("requests").await;
    let calls = log["value"].as_array().map(Vec::len).unwrap_or(0);
    let deletes = log["value"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|r| r["method"] == "DELETE" && r["status"] == 204)
                .count()
        })
        .unwrap_or(0);
    println!(
        "burst cleared (ends_at to the last verified removal): {:.3} s ({:.1} s of waiting here); \
         {calls} requests logged (batch parts included), {deletes} removals answered 204, {} answered 429",
        lags.last().copied().unwrap_or_default(),
        started.elapsed().as_secs_f64(),
        throttled(&log)
    );
    stop.send(true).unwrap();
    engine.await.unwrap();
}

struct SeededGroup {
    entitlement: Uuid,
    principals: Vec<Uuid>,
}

/// An Entra group with `size` members in the simulator, its catalog entry, and principals with
/// their accounts.
async fn seed_group(
    pool: &PgPool,
    sim: &Sim,
    connector: Uuid,
    policy: Uuid,
    name: &str,
    size: usize,
) -> SeededGroup {
    let id = &Uuid::new_v4().simple().to_string()[..8];
    let upns: Vec<String> = (0..size)
        .map(|i| format!("{name}.{id}.{i}@contoso.test"))
        .collect();
    let users: Vec<Value> = upns
        .iter()
        .map(|u| json!({ "userPrincipalName": u }))
        .collect();
    let group_name = format!("Bench {name} {id}");
    let ids = sim
        .post(
            "seed",
            json!({ "users": users, "groups": [{ "displayName": group_name, "members": upns }] }),
        )
        .await;
    let group = ids["groups"][&group_name].as_str().unwrap().to_string();
    let mut principals = Vec::new();
    for upn in &upns {
        let object = ids["users"][upn].as_str().unwrap();
        let principal: Uuid = sqlx::query_scalar(
            "insert into principals (tenant_id, object_id, upn, display_name)
             values ($1, $2, $3, $3) returning id",
        )
        .bind(TENANT)
        .bind(object)
        .bind(upn)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into principal_accounts (principal_id, connector_id, account_ref, account_id)
             values ($1, $2, $3, $3)",
        )
        .bind(principal)
        .bind(connector)
        .bind(object)
        .execute(pool)
        .await
        .unwrap();
        principals.push(principal);
    }
    let entitlement: Uuid = sqlx::query_scalar(
        "insert into entitlements (key, connector_id, kind, access, target_ref, name, policy_id)
         values ($1, $2, 'entra_group', '{\"kind\": \"entra_group\"}', $3, $1, $4) returning id",
    )
    .bind(format!("bench-{name}-{id}"))
    .bind(connector)
    .bind(&group)
    .bind(policy)
    .fetch_one(pool)
    .await
    .unwrap();
    SeededGroup {
        entitlement,
        principals,
    }
}

/// An active lease (the member is already in the group) ending at `ends_at`, pinned to the
/// account and the group's id as the engine pins them when it provisions.
async fn lease(pool: &PgPool, principal: Uuid, entitlement: Uuid, ends_at: DateTime<Utc>) -> Uuid {
    sqlx::query_scalar(
        "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                             provisioned_at, next_due_at, connector_id, target_ref, target_id,
                             access, account_ref, account_id)
         select $1, e.id, now(), $3, 'active', now(), $3, e.connector_id, e.target_ref,
                e.target_ref, e.access, pa.account_ref, pa.account_id
           from entitlements e
           join principal_accounts pa on pa.principal_id = $1 and pa.connector_id = e.connector_id
          where e.id = $2
         returning id",
    )
    .bind(principal)
    .bind(entitlement)
    .bind(ends_at)
    .fetch_one(pool)
    .await
    .unwrap()
}
