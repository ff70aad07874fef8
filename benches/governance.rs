//! Who held what, at any moment, at the scale of years of use: 1,000,000 grants held by 100,000
//! people on 1,000 entries over two years, beside 10,000,000 audit events (`BENCH_GRANTS`,
//! `BENCH_EVENTS` to change them), in a real PostgreSQL (DATABASE_URL's server).
//!
//! Asks, through the portal's own query (`db::holdings::held`), 1,000 times each:
//! - who held an entry at a random moment of the two years;
//! - what a person held in a random week;
//! - who holds an entry now;
//!
//! and prints p50, p99 and max in milliseconds, with the plan of the first question; then every
//! query of the governance dashboard (`db::dashboard`, a request behind every grant), 50 times
//! for each range and filter, with each query's p50 and p99 and the whole page's. Then it
//! exports a tenth of the trail (one engine worker's events: 1,000,000 with the defaults) as CSV
//! through the portal's own export and prints its time, its size and how much the process's
//! peak memory grew.
//!
//! Run with `make bench-governance` (docs/benchmarks.md has the figures).

#[path = "support/measure.rs"]
#[allow(dead_code)]
mod measure;

use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use leasegate::server::db::dashboard::Filter;
use rand::Rng as _;
use sqlx::PgPool;
use uuid::Uuid;

const PEOPLE: i64 = 100_000;
const ENTRIES: i64 = 1_000;
const QUESTIONS: usize = 1_000;

#[tokio::main]
async fn main() {
    let pool = measure::fresh_database("leasegate_bench_governance").await;
    let grants = measure::size::<i64>("BENCH_GRANTS", 1_000_000);
    let events = measure::size::<i64>("BENCH_EVENTS", 10_000_000);

    let started = Instant::now();
    fill(&pool, grants, events).await;
    println!(
        "data: {} grants, {} audit events, {} people, {} entries ({:.0} s to write)",
        count(&pool, "select count(*) from grants").await,
        count(&pool, "select count(*) from audit_events").await,
        PEOPLE,
        ENTRIES,
        started.elapsed().as_secs_f64()
    );

    let entries: Vec<Uuid> = sqlx::query_scalar("select id from entitlements")
        .fetch_all(&pool)
        .await
        .unwrap();
    let people: Vec<Uuid> = sqlx::query_scalar("select id from principals")
        .fetch_all(&pool)
        .await
        .unwrap();
    let now = Utc::now();
    let two_years = TimeDelta::days(730);
    let mut rng = rand::thread_rng();
    let mut moment = || now - TimeDelta::seconds(rng.gen_range(0..two_years.num_seconds()));

    let first = (entries[0], moment());
    plan(&pool, first.0, first.1).await;

    let mut conn = pool.acquire().await.unwrap();
    let mut at_moment = Vec::with_capacity(QUESTIONS);
    let mut found = 0;
    for i in 0..QUESTIONS {
        let (entry, at) = (entries[i % entries.len()], moment());
        let t = Instant::now();
        let rows =
            leasegate::server::db::holdings::held(&mut conn, Some(entry), None, at, at, 1001)
                .await
                .unwrap();
        at_moment.push(t.elapsed().as_secs_f64() * 1000.0);
        found += rows.len();
    }
    report("who held an entry at a moment", &mut at_moment, found);

    let mut in_week = Vec::with_capacity(QUESTIONS);
    let mut found = 0;
    for i in 0..QUESTIONS {
        let person = people[(i * 97) % people.len()];
        let from = moment();
        let t = Instant::now();
        let rows = leasegate::server::db::holdings::held(
            &mut conn,
            None,
            Some(person),
            from,
            from + TimeDelta::days(7),
            1001,
        )
        .await
        .unwrap();
        in_week.push(t.elapsed().as_secs_f64() * 1000.0);
        found += rows.len();
    }
    report("what a person held in a week", &mut in_week, found);

    let mut right_now = Vec::with_capacity(QUESTIONS);
    let mut found = 0;
    for i in 0..QUESTIONS {
        let entry = entries[(i * 7) % entries.len()];
        let at = Utc::now();
        let t = Instant::now();
        let rows =
            leasegate::server::db::holdings::held(&mut conn, Some(entry), None, at, at, 1001)
                .await
                .unwrap();
        right_now.push(t.elapsed().as_secs_f64() * 1000.0);
        found += rows.len();
    }
    report("who holds an entry now", &mut right_now, found);

    // The dashboard: every figure of it, as its page asks them, over 30 and 365 days, for the
    // whole estate and narrowed to a department and to an entry.
    let entry: Uuid = sqlx::query_scalar("select id from entitlements order by key limit 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    for (what, days, filter) in [
        ("dashboard, 30 days, whole estate", 30, Filter::default()),
        ("dashboard, 365 days, whole estate", 365, Filter::default()),
        (
            "dashboard, 30 days, one department",
            30,
            Filter {
                department: Some("Department 7"),
                ..Filter::default()
            },
        ),
        (
            "dashboard, 365 days, one entry",
            365,
            Filter {
                entitlement: Some(entry),
                ..Filter::default()
            },
        ),
    ] {
        dashboard_rounds(&mut conn, what, days, &filter).await;
    }
    drop(conn);

    export_a_month(&pool).await;
}

/// Asks every dashboard query `DASHBOARD_ROUNDS` times and prints each one's p50 and p99 and
/// the whole page's (their sum per round).
async fn dashboard_rounds(
    conn: &mut sqlx::PgConnection,
    what: &str,
    days: i64,
    filter: &Filter<'_>,
) {
    use leasegate::server::db::dashboard as q;
    const DASHBOARD_ROUNDS: usize = 50;
    let names = [
        "live", "days", "approval", "top", "removals", "findings", "reviews", "systems",
    ];
    let mut each: Vec<Vec<f64>> = vec![Vec::with_capacity(DASHBOARD_ROUNDS); names.len()];
    let mut page: Vec<f64> = Vec::with_capacity(DASHBOARD_ROUNDS);
    for _ in 0..DASHBOARD_ROUNDS {
        use sqlx::Connection as _;
        let mut tx = conn.begin().await.unwrap();
        let conn = &mut *tx;
        q::snapshot(conn).await.unwrap();
        let until = Utc::now();
        let from = q::range_start(until, days);
        let mut lap = |i: usize, t: Instant| each[i].push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        q::live_leases(conn, filter).await.unwrap();
        lap(0, t);
        let t = Instant::now();
        q::days(conn, filter, from, until).await.unwrap();
        lap(1, t);
        let t = Instant::now();
        q::approval_times(conn, filter, from, until).await.unwrap();
        lap(2, t);
        let t = Instant::now();
        q::most_requested(conn, filter, from, until, 10)
            .await
            .unwrap();
        lap(3, t);
        let t = Instant::now();
        q::removals(conn, filter, from, until, 120.0).await.unwrap();
        lap(4, t);
        let t = Instant::now();
        q::findings(conn, filter, from, until).await.unwrap();
        lap(5, t);
        let t = Instant::now();
        q::reviews_due(conn, filter).await.unwrap();
        lap(6, t);
        let t = Instant::now();
        q::systems(conn, filter).await.unwrap();
        lap(7, t);
        page.push(each.iter().map(|e| e.last().copied().unwrap_or(0.0)).sum());
        tx.commit().await.unwrap();
    }
    let parts: Vec<String> = names
        .iter()
        .zip(each.iter_mut())
        .map(|(name, millis)| {
            millis.sort_by(|a, b| a.total_cmp(b));
            format!(
                "{name} {:.1}/{:.1}",
                measure::percentile(millis, 50.0),
                measure::percentile(millis, 99.0)
            )
        })
        .collect();
    page.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{what}: whole page n={} p50={:.1} ms p99={:.1} ms; each query p50/p99 ms: {}",
        page.len(),
        measure::percentile(&page, 50.0),
        measure::percentile(&page, 99.0),
        parts.join(", ")
    );
}

/// The portal's CSV export of one engine worker's events (a tenth of the trail), read to the end
/// as a browser would, measuring the process's peak resident memory (VmHWM) before and after.
async fn export_a_month(pool: &PgPool) {
    use futures::StreamExt as _;
    use leasegate::api::types::governance::EventQuery;
    use leasegate::server::services::evidence::{self, Format};

    let env = [
        ("DATABASE_URL", "postgres://unused-pool-given"),
        ("LEASEGATE_PUBLIC_URL", "http://127.0.0.1:3000"),
        ("LEASEGATE_OIDC_ISSUER", "http://127.0.0.1:5556"),
        ("LEASEGATE_OIDC_CLIENT_ID", "bench"),
        ("LEASEGATE_OIDC_CLIENT_SECRET", "bench"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let settings = std::sync::Arc::new(
        leasegate::server::app::config::from_sources(Default::default(), env).unwrap(),
    );
    let state = leasegate::server::app::router::app_state(
        settings,
        pool.clone(),
        leptos::config::LeptosOptions::builder()
            .output_name("leasegate")
            .build(),
        Default::default(),
    );
    let auditor = leasegate::server::app::auth::session::SessionUser {
        principal_id: sqlx::query_scalar("select id from principals limit 1")
            .fetch_one(pool)
            .await
            .unwrap(),
        display_name: "Bench Auditor".into(),
        upn: leasegate::domain::input::Upn::parse("auditor@contoso.test").unwrap(),
        roles: vec![leasegate::domain::role::Role::Auditor],
        signed_in_at: Utc::now(),
        checked_at: Utc::now(),
        language: None,
    };
    let query = EventQuery {
        who: "engine 3".into(),
        ..Default::default()
    };
    let before = peak_memory_kib();
    let started = Instant::now();
    let mut export = evidence::export(
        &state,
        &auditor,
        leasegate::text::lang::Language::English,
        &query,
        Format::Csv,
    )
    .await
    .unwrap();
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = export.body.next().await {
        let chunk = chunk.unwrap();
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let took = started.elapsed().as_secs_f64();
    let after = peak_memory_kib();
    println!(
        "CSV export of one worker's events: {} events, {:.0} MB in {took:.1} s; peak memory {} MiB before, {} MiB after (+{} MiB)",
        lines.saturating_sub(1),
        bytes as f64 / 1e6,
        before / 1024,
        after / 1024,
        after.saturating_sub(before) / 1024
    );
}

/// The process's peak resident memory so far, in KiB (Linux's VmHWM).
fn peak_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn report(what: &str, millis: &mut [f64], rows: usize) {
    millis.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{what}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms ({rows} periods found in all)",
        millis.len(),
        measure::percentile(millis, 50.0),
        measure::percentile(millis, 99.0),
        millis.last().copied().unwrap_or_default(),
    );
}

/// The plan PostgreSQL chooses for "who held this entry at this moment", as the portal asks it.
async fn plan(pool: &PgPool, entry: Uuid, at: DateTime<Utc>) {
    let lines: Vec<String> = sqlx::query_scalar(
        "explain (analyze, buffers)
         select g.id from grants g
          join principals p on p.id = g.principal_id
          join entitlements e on e.id = g.entitlement_id
         where g.held && tstzrange($2, $2, '[]')
           and ($1::uuid is null or g.entitlement_id = $1)
           and (null::uuid is null or g.principal_id = null)
         order by lower(g.held) limit 1001",
    )
    .bind(entry)
    .bind(at)
    .fetch_all(pool)
    .await
    .unwrap();
    println!("plan of the first question:\n  {}", lines.join("\n  "));
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// People, entries and grants with held periods spread over two years (a few hours each,
/// 10,000 of them live), then the audit events, in batches the chain trigger hashes row by row.
async fn fill(pool: &PgPool, grants: i64, events: i64) {
    let connector: Uuid = sqlx::query_scalar(
        "insert into connectors (name, kind) values ('bench', 'ldap') returning id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let policy: Uuid = sqlx::query_scalar(
        r#"insert into policies (key, name, rules) values ('auto', 'Auto',
           '{"name":"Auto","durations":{"default_minutes":60,"max_minutes":480}}') returning id"#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into principals (tenant_id, object_id, upn, display_name, department)
         select 'bench', 'person-' || n, 'person' || n || '@contoso.test', 'Person ' || n,
                'Department ' || (n % 20)
           from generate_series(1, $1) n",
    )
    .bind(PEOPLE)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into entitlements (key, connector_id, kind, target_ref, name, policy_id)
         select 'entry-' || n, $1, 'ad_group', 'CN=Entry ' || n || ',OU=Bench', 'Entry ' || n, $2
           from generate_series(1, $3) n",
    )
    .bind(connector)
    .bind(policy)
    .bind(ENTRIES)
    .execute(pool)
    .await
    .unwrap();
    let live = 10_000.min(grants);
    // Past leases: added at a random moment of the last two years, held one to eight hours,
    // removed and read back.
    sqlx::query(
        "with p as (select array_agg(id order by id) a from principals),
              e as (select array_agg(id order by id) a from entitlements)
         insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                             provisioned_at, revoked_at, verified_at, revoke_reason, removal,
                             next_due_at, connector_id, target_ref)
         select p.a[1 + (random() * ($2 - 1))::int], e.a[1 + (random() * ($3 - 1))::int],
                t.start, t.start + t.length, 'revoked', t.start, t.start + t.length,
                t.start + t.length, 'expired', 'verified', null, $4, 'CN=Bench'
           from generate_series(1, $1) n, p, e,
                lateral (select now() - interval '730 days' * random() - interval '8 hours' as start,
                                interval '1 hour' * (1 + 7 * random()) as length
                          where n > 0) t",
    )
    .bind(grants - live)
    .bind(PEOPLE)
    .bind(ENTRIES)
    .bind(connector)
    .execute(pool)
    .await
    .unwrap();
    // Live leases: one per person and entry (the portal allows no more), added this morning.
    sqlx::query(
        "with p as (select array_agg(id order by id) a from principals),
              e as (select array_agg(id order by id) a from entitlements)
         insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                             provisioned_at, next_due_at, connector_id, target_ref)
         select p.a[n], e.a[1 + n % $2], now() - interval '1 hour', now() + interval '7 hours',
                'active', now() - interval '1 hour', now() + interval '7 hours', $3, 'CN=Bench'
           from generate_series(1, $1) n, p, e",
    )
    .bind(live)
    .bind(ENTRIES)
    .bind(connector)
    .execute(pool)
    .await
    .unwrap();
    // A request behind every lease, submitted up to ten hours before it started and closed
    // before the start: most approved (seven in ten of those by a person, the rest
    // self-service), some denied or expired; and reconciliation's findings, half closed.
    sqlx::query(
        "insert into access_requests (requester_id, beneficiary_id, entitlement_id, starts_at,
                                      ends_at, policy, state, submitted_at, expires_at, closed_at,
                                      client_token)
         select g.principal_id, g.principal_id, g.entitlement_id, g.starts_at, g.ends_at, '{}',
                x.state, x.submitted, x.submitted + interval '1 day',
                x.submitted + (g.starts_at - x.submitted) * random(), gen_random_uuid()
           from grants g,
                lateral (select g.starts_at - interval '10 hours' * random() as submitted,
                                case when random() < 0.9 then 'approved'
                                     when random() < 0.5 then 'denied' else 'expired' end as state
                          where g.id is not null) x",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into approval_decisions (request_id, stage, approver_id, outcome, decided_at, seat)
         select r.id, 0, r.requester_id, 'approve', r.closed_at, 'manager@contoso.test'
           from access_requests r where r.state = 'approved' and random() < 0.7",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into findings (entitlement_id, kind, account_ref, first_seen, last_seen,
                               closed_at, closed_reason)
         select e.a[1 + (random() * ($2 - 1))::int], 'shadow', 'CN=Someone ' || n, t.seen, t.seen,
                case when n % 2 = 0 then t.seen + interval '1 day' end,
                case when n % 2 = 0 then 'gone' end
           from generate_series(1, $1) n,
                (select array_agg(id order by id) a from entitlements) e,
                lateral (select now() - interval '730 days' * random() as seen where n > 0) t",
    )
    .bind(10_000i64)
    .bind(ENTRIES)
    .execute(pool)
    .await
    .unwrap();

    // In statements of 10,000: the chain trigger updates its head row once per event, and the
    // versions of that row a single transaction leaves make each next update slower (500,000
    // in one statement did not finish in minutes).
    const BATCH: i64 = 10_000;
    let mut written = 0;
    while written < events {
        let n = BATCH.min(events - written);
        // Ten workers of the engine take turns, so a tenth of the trail is one actor's.
        sqlx::query(
            "insert into audit_events (actor_label, action, details)
             select 'engine ' || (($2 + n) % 10), 'grant.revoked',
                    jsonb_build_object('reason', 'expired', 'n', $2 + n)
               from generate_series(1, $1) n",
        )
        .bind(n)
        .bind(written)
        .execute(pool)
        .await
        .unwrap();
        // The head row's old versions, which autovacuum clears on a stock server (it is off on
        // the machine these figures come from): left, every next event reads past them all.
        sqlx::query("vacuum audit_chain_head")
            .execute(pool)
            .await
            .unwrap();
        written += n;
    }
    // As autovacuum would have: the visibility map lets the dashboard's ranges be read from
    // its indexes alone.
    for table in [
        "grants",
        "access_requests",
        "approval_decisions",
        "findings",
    ] {
        sqlx::query(&format!("vacuum analyze {table}"))
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("vacuum analyze audit_events")
        .execute(pool)
        .await
        .unwrap();
}
