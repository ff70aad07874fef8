//! What both engine benchmarks share: a fresh database, and how late after `ends_at` each
//! removal was verified.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

/// A new, migrated database `name` on `DATABASE_URL`'s server (an old one is dropped).
pub async fn fresh_database(name: &str) -> PgPool {
    let server = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must name a PostgreSQL server (make bench sets it)");
    let base = server
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&server)
        .to_string();
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{base}/postgres"))
        .await
        .expect("connecting to PostgreSQL");
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("create database {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    leasegate::server::db::migrate(&pool).await.unwrap();
    pool
}

/// Waits until every lease is removed and verified (at most `timeout`); returns the lags in
/// seconds, sorted.
pub async fn wait_and_measure(pool: &PgPool, ids: &[Uuid], timeout: Duration) -> Vec<f64> {
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from grants where id = any($1) and verified_at is null",
        )
        .bind(ids)
        .fetch_one(pool)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(started.elapsed() < timeout, "{open} leases never removed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut lags: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from verified_at - ends_at)::float8 from grants where id = any($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .unwrap();
    lags.sort_by(|a, b| a.total_cmp(b));
    lags
}

/// A size from the environment (`BENCH_HISTORY=10_000_000`), or its default.
pub fn size<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn report(what: &str, lags: &[f64]) {
    println!(
        "{what}: n={} p50={:.3} s p99={:.3} s max={:.3} s min={:.3} s",
        lags.len(),
        percentile(lags, 50.0),
        percentile(lags, 99.0),
        lags.last().copied().unwrap_or_default(),
        lags.first().copied().unwrap_or_default(),
    );
}

/// A client that sends the simulator's control token with every call.
#[allow(dead_code)]
pub fn control_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-sim-control-token",
        reqwest::header::HeaderValue::from_str(token).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}
