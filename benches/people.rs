//! The people sync against the Graph simulator (written from Microsoft's documentation; not
//! Microsoft's service) and a real PostgreSQL: how long a pass takes for a tenant of
//! `BENCH_PEOPLE` people (default 10,000, each tenth one the manager of the nine after), with
//! `BENCH_GRAPH_LATENCY_MS` (default 20 ms) more on every call to the simulator.
//!
//! 1. The first pass: everyone read (`users/delta`, then each person read whole) and stored.
//! 2. A pass after 1 % of the people changed manager and department and 10 were disabled
//!    (offboarded in the same transaction).
//! 3. A pass with nothing changed.
//!
//! Each pass is timed twice: reading the directory alone, and the whole pass (reading,
//! correlating, storing, offboarding), whose difference is the database's share.
//!
//! Run with `make bench-people` (docs/benchmarks.md has the figures).

#[path = "support/measure.rs"]
#[allow(dead_code)]
mod measure;

use std::sync::Arc;
use std::time::Instant;

use leasegate::server::app::config::Secret;
use leasegate::server::connectors::graph::{GraphSettings, GraphTenant};
use leasegate::server::connectors::{Connector, Connectors};
use leasegate::server::db::people::{self, SourceSpec};
use leasegate::server::jobs::people_sync;
use serde_json::{Value, json};

const CONNECTOR: &str = "bench-people";
const TENANT: &str = "6f1c2a9e-0b1d-4c7e-9d3a-1f2e3d4c5b6a";
const CLIENT: &str = "0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b";
const SECRET: &str = "bench-secret";

fn upn(i: usize) -> String {
    format!("person{i}@contoso.test")
}

#[tokio::main]
async fn main() {
    let pool = measure::fresh_database("leasegate_bench_people").await;
    let n = measure::size::<usize>("BENCH_PEOPLE", 10_000);
    let latency = measure::size::<usize>("BENCH_GRAPH_LATENCY_MS", 20);

    let simulator = graph_sim::Simulator::new(TENANT);
    simulator.register_app(CLIENT, SECRET, &["User.Read.All", "Directory.Read.All"]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let http = measure::control_client(&simulator.control_token());
    tokio::spawn(graph_sim::serve(listener, simulator));
    let control = |path: &str, method: reqwest::Method, body: Value| {
        let request = http
            .request(method, format!("{base}/__sim__/{path}"))
            .json(&body);
        let path = path.to_string();
        async move {
            let response = request.send().await.unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
        }
    };
    let users: Vec<Value> = (0..n)
        .map(|i| {
            let mut user = json!({
                "userPrincipalName": upn(i), "displayName": format!("Person {i}"),
                "department": format!("Department {}", i / 100),
            });
            if i % 10 != 0 {
                user["manager"] = json!(upn(i - i % 10));
            }
            user
        })
        .collect();
    control("seed", reqwest::Method::POST, json!({ "users": users })).await;
    control(
        "config",
        reqwest::Method::POST,
        json!({ "latency_ms": latency, "delta_page_size": 200 }),
    )
    .await;
    println!("Graph simulator at {base}: {n} people, {latency} ms more per call");

    let settings = GraphSettings {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        client_secret_env: None,
        client_secret_file: None,
        client_certificate_env: None,
        client_certificate_file: None,
        authority_url: base.clone(),
        graph_url: format!("{base}/v1.0"),
        timeout_seconds: 30,
        write_budget_per_150s: 2700,
    };
    let graph = Arc::new(GraphTenant::new(CONNECTOR, settings, Secret::new(SECRET)).unwrap());
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, graph.clone());
    sqlx::query("insert into connectors (name, kind) values ($1, 'graph')")
        .bind(CONNECTOR)
        .execute(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    people::put_sources(
        &mut conn,
        &[SourceSpec {
            connector: CONNECTOR,
            precedence: 0,
            every_seconds: 900,
            complete_every_seconds: 86_400,
            max_leavers: 1_000,
        }],
    )
    .await
    .unwrap();
    drop(conn);

    // 1. The first pass.
    let started = Instant::now();
    let read = graph.people(None).await.unwrap();
    let reading = started.elapsed();
    assert_eq!(read.changed.len(), n);
    let started = Instant::now();
    let first = people_sync::pass(&pool, &connectors, CONNECTOR, false)
        .await
        .unwrap();
    let whole = started.elapsed();
    assert_eq!(first.created, n);
    print(
        "first pass (complete)",
        n,
        reading.as_secs_f64(),
        whole.as_secs_f64(),
    );

    // 2. 1 % move (a new manager and department), 10 leave.
    let movers = (n / 100).max(1);
    let mut cursor = people::sources(&pool).await.unwrap()[0]
        .cursor
        .clone()
        .unwrap();
    for i in 0..movers {
        let who = 1 + i * 97 % (n - 1);
        control(
            &format!("users/{}", upn(who)),
            reqwest::Method::PATCH,
            json!({ "manager": upn(0), "department": "Moved" }),
        )
        .await;
    }
    for i in 0..10 {
        control(
            &format!("users/{}", upn(n - 1 - i * 3)),
            reqwest::Method::PATCH,
            json!({ "accountEnabled": false }),
        )
        .await;
    }
    let started = Instant::now();
    let read = graph.people(Some(&cursor)).await.unwrap();
    let reading = started.elapsed();
    let started = Instant::now();
    let second = people_sync::pass(&pool, &connectors, CONNECTOR, false)
        .await
        .unwrap();
    let whole = started.elapsed();
    assert!(!second.complete);
    assert_eq!(second.left, 10, "{second:?}");
    print(
        &format!("{} moved, 10 left (incremental)", movers),
        read.changed.len(),
        reading.as_secs_f64(),
        whole.as_secs_f64(),
    );

    // 3. Nothing changed.
    cursor = people::sources(&pool).await.unwrap()[0]
        .cursor
        .clone()
        .unwrap();
    let started = Instant::now();
    let read = graph.people(Some(&cursor)).await.unwrap();
    let reading = started.elapsed();
    let started = Instant::now();
    let third = people_sync::pass(&pool, &connectors, CONNECTOR, false)
        .await
        .unwrap();
    let whole = started.elapsed();
    assert_eq!(third.read, 0, "{third:?}");
    print(
        "nothing changed (incremental)",
        read.changed.len(),
        reading.as_secs_f64(),
        whole.as_secs_f64(),
    );
}

fn print(what: &str, people: usize, reading: f64, whole: f64) {
    println!(
        "{what}: {people} people listed; reading the directory {reading:.2} s; the whole pass \
         {whole:.2} s (database ≈ {:.2} s)",
        (whole - reading).max(0.0)
    );
}
