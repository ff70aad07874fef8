//! Replicas under fire: three portal processes (the release binary) on one PostgreSQL behind a
//! real HAProxy, 200 signed-in people asking for one-minute leases and reading their pages,
//! one replica killed with SIGKILL every 30 seconds and started again, and PostgreSQL itself
//! restarted once mid-run. Afterwards every lease that ended must have been removed from the
//! directory and read back exactly once, no job may be overdue on the survivors, no session may
//! have been lost, and the audit chain must be whole. Prints p50/p99 per call through the load
//! balancer, the errors by kind, and the removal lag.
//!
//! Run with `make bench-replicas` (docs/benchmarks.md has the figures): it starts a PostgreSQL
//! cluster of its own, which it may restart (`BENCH_PG_RESTART`), and needs Debian's haproxy.

#[path = "../tests/api/directory.rs"]
#[allow(dead_code)]
mod directory;
#[path = "support/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "support/sessions.rs"]
mod sessions;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use leasegate::server::app::auth::session::SessionUser;
use rand::Rng as _;
use sqlx::PgPool;
use tower_sessions_sqlx_store::PostgresStore;
use uuid::Uuid;

const REPLICAS: usize = 3;
const MANAGERS: usize = 20;
const EMPLOYEES: usize = 180;
const ENTRIES: usize = 10;
const KILL_EVERY: Duration = Duration::from_secs(30);

fn run_for() -> Duration {
    Duration::from_secs(
        std::env::var("REPLICAS_RUN_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(180),
    )
}

#[tokio::main]
async fn main() {
    let restart_pg = std::env::var("BENCH_PG_RESTART").expect(
        "BENCH_PG_RESTART must be a command that restarts PostgreSQL (make bench-replicas sets it)",
    );
    let pool = measure::fresh_database("leasegate_replicas").await;
    let database_url = {
        let server = std::env::var("DATABASE_URL").unwrap();
        format!("{}/leasegate_replicas", server.rsplit_once('/').unwrap().0)
    };
    let dir = directory::openldap();
    let work = std::env::temp_dir().join(format!("leasegate-replicas-{}", directory::unique()));
    std::fs::create_dir_all(&work).unwrap();
    let world = seed(&pool, dir, &work).await;
    println!(
        "{} people, {ENTRIES} entries of one-minute leases, {REPLICAS} replicas behind HAProxy, {} s",
        world.people.len(),
        run_for().as_secs()
    );

    // The replicas, and the load balancer in front of them.
    let front = free_port();
    let base = format!("http://127.0.0.1:{front}");
    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let start = |n: usize| -> Child {
        let log = std::fs::File::create(work.join(format!("replica-{n}.log"))).unwrap();
        Command::new(env!("CARGO_BIN_EXE_leasegate"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &database_url)
            .env("LEASEGATE_LISTEN", format!("127.0.0.1:{}", ports[n]))
            .env("LEASEGATE_PUBLIC_URL", &base)
            .env("LEASEGATE_OIDC_ISSUER", "http://127.0.0.1:9")
            .env("LEASEGATE_OIDC_CLIENT_ID", "replicas")
            .env("LEASEGATE_OIDC_CLIENT_SECRET", "replicas-bench-secret")
            .env(
                "LEASEGATE_SESSION_KEY",
                "replicas-bench-session-key-0123456789",
            )
            .env("LEASEGATE_CATALOG", work.join("catalog.toml"))
            .env("LEASEGATE_SECRET_BENCH_DIRECTORY", &dir.admin_password)
            .env("LEASEGATE_ENGINE_LEASE", "3s")
            .env("LEASEGATE_LOG", "warn")
            .env("LEASEGATE_TRUSTED_PROXIES", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting the portal binary")
    };
    let mut replicas: Vec<Child> = (0..REPLICAS).map(start).collect();
    for port in &ports {
        wait_ready(&format!("http://127.0.0.1:{port}/readyz")).await;
    }
    let config = work.join("haproxy.cfg");
    std::fs::write(&config, haproxy_config(front, &ports)).unwrap();
    let mut haproxy = Command::new("haproxy")
        .arg("-f")
        .arg(&config)
        .arg("-db")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("haproxy.log")).unwrap())
        .spawn()
        .expect("starting haproxy (Debian's package; make bench-replicas installs it)");
    wait_ready(&format!("{base}/readyz")).await;

    // The people at work.
    let store = PostgresStore::new(pool.clone())
        .with_schema_name("public")
        .and_then(|s| s.with_table_name("web_sessions"))
        .unwrap();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let until = started + run_for();
    let mut tasks = Vec::new();
    for (n, who) in world.people.iter().enumerate() {
        let ctx = Ctx {
            browser: sessions::Browser {
                client: sessions::signed_in(&store, &base, who).await,
                base: base.clone(),
                samples: samples.clone(),
            },
            entries: world.entries.clone(),
        };
        let manager = n < MANAGERS;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(pause()).await;
            while Instant::now() < until {
                ctx.step(manager).await;
                tokio::time::sleep(pause()).await;
            }
        }));
    }

    // The chaos: a replica killed every 30 s (and started again at once), PostgreSQL restarted
    // once, half-way.
    let mut events = Vec::new();
    let mut next_kill = started + KILL_EVERY;
    let mut pg_restarted = false;
    let mut victim = 0;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !pg_restarted && started.elapsed() >= run_for() / 2 + Duration::from_secs(5) {
            let at = Instant::now();
            let status = tokio::task::spawn_blocking({
                let command = restart_pg.clone();
                move || Command::new("sh").arg("-c").arg(command).status()
            })
            .await
            .unwrap()
            .expect("restarting PostgreSQL");
            assert!(status.success(), "BENCH_PG_RESTART failed");
            events.push((
                Utc::now(),
                format!("PostgreSQL restarted ({:.1} s)", at.elapsed().as_secs_f64()),
            ));
            pg_restarted = true;
        }
        if Instant::now() >= next_kill && Instant::now() + Duration::from_secs(5) < until {
            replicas[victim].kill().expect("SIGKILL");
            replicas[victim].wait().unwrap();
            events.push((Utc::now(), format!("replica {victim} killed")));
            replicas[victim] = start(victim);
            victim = (victim + 1) % REPLICAS;
            next_kill += KILL_EVERY;
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let load_ended = Utc::now();
    println!("\nwhat happened:");
    for (at, what) in &events {
        println!("  {} {what}", at.format("%H:%M:%S"));
    }
    report(&samples.lock().unwrap(), run_for());

    // Every lease has ended a minute after the last request; the survivors remove the rest.
    let waiting_since = Instant::now();
    loop {
        let (open, late): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where state in ('scheduled', 'active', 'revoking')),
                    count(*) filter (where state in ('scheduled', 'active', 'revoking')
                                       and ends_at < now() - interval '2 minutes')
               from grants",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        if waiting_since.elapsed() > Duration::from_secs(240) {
            println!(
                "  {open} leases still open 4 minutes after the load, {late} of them over 2 minutes past their end"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let verdict = check(&pool, dir, &world, load_ended).await;

    haproxy.kill().ok();
    haproxy.wait().ok();
    for replica in &mut replicas {
        replica.kill().ok();
        replica.wait().ok();
    }
    println!("\nlogs: {}", work.display());
    if !verdict {
        std::process::exit(1);
    }
}

struct World {
    people: Vec<SessionUser>,
    entries: Vec<String>,
    groups: Vec<String>,
}

/// People in the directory and the database, and a catalog of one-minute self-service entries
/// on fresh groups, written for the replicas to load.
async fn seed(pool: &PgPool, dir: &directory::Directory, work: &std::path::Path) -> World {
    let mut ldap = dir.admin().await;
    let id = directory::unique();
    let mut people = Vec::new();
    for n in 0..MANAGERS + EMPLOYEES {
        let upn = format!("replica.{id}.{n}@contoso.test");
        let name = format!("Replica {n}");
        dir.add_user(&mut ldap, &format!("{name} {id}"), &upn, None, None)
            .await;
        let principal: Uuid = sqlx::query_scalar(
            "insert into principals (tenant_id, object_id, upn, display_name, last_sign_in_at)
             values ('replicas', $1, $2, $3, now()) returning id",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(&upn)
        .bind(&name)
        .fetch_one(pool)
        .await
        .unwrap();
        people.push(SessionUser {
            principal_id: principal,
            display_name: name,
            upn: leasegate::domain::input::Upn::parse(&upn).unwrap(),
            roles: Vec::new(),
            signed_in_at: Utc::now(),
            checked_at: Utc::now(),
            language: None,
        });
    }
    let mut text = format!(
        "[connectors.bench-directory]\nkind = \"ldap\"\nurl = \"{}\"\nca_file = \"{}\"\n\
         bind_dn = \"{}\"\npassword_env = \"LEASEGATE_SECRET_BENCH_DIRECTORY\"\nuser_base = \"{}\"\n\
         group_base = \"{}\"\naccount_attribute = \"mail\"\n\n[policies.minute]\nname = \"A minute\"\n\
         durations = {{ default_minutes = 1, max_minutes = 5, presets_minutes = [1] }}\n\n",
        dir.url, dir.ca_file, dir.admin_dn, dir.people, dir.groups
    );
    let mut entries = Vec::new();
    let mut groups = Vec::new();
    for n in 0..ENTRIES {
        // groupOfNames cannot be empty: a placeholder member stays behind.
        let keeper = format!("cn=keeper-{id},{}", dir.people);
        let group = dir
            .add_group(&mut ldap, &format!("Replicas {n} {id}"), &[keeper])
            .await;
        let key = format!("replicas-{n}");
        text.push_str(&format!(
            "[[entitlements]]\nkey = \"{key}\"\nconnector = \"bench-directory\"\ngroup = \"{group}\"\n\
             name = \"Replicas {n}\"\npolicy = \"minute\"\n\n"
        ));
        entries.push(key);
        groups.push(group);
    }
    std::fs::write(work.join("catalog.toml"), text).unwrap();
    World {
        people,
        entries,
        groups,
    }
}

fn haproxy_config(front: u16, ports: &[u16]) -> String {
    let mut text = format!(
        "global\n  maxconn 4096\n\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n\
         timeout server 60s\n  retries 3\n  option redispatch\n  retry-on conn-failure empty-response\n\n\
         frontend portal\n  bind 127.0.0.1:{front}\n  default_backend replicas\n\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n\
         default-server inter 500ms fall 2 rise 2\n"
    );
    for (n, port) in ports.iter().enumerate() {
        text.push_str(&format!("  server r{n} 127.0.0.1:{port} check\n"));
    }
    text
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

async fn wait_ready(url: &str) {
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(url).await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{url} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A person's pause before the next click: 1 to 3 seconds.
fn pause() -> Duration {
    Duration::from_millis(rand::thread_rng().gen_range(1000..3000))
}

struct Ctx {
    browser: sessions::Browser,
    entries: Vec<String>,
}

impl Ctx {
    async fn step(&self, manager: bool) {
        let roll: u32 = rand::thread_rng().gen_range(0..100);
        if manager {
            match roll {
                0..50 => self.browser.call("approvals", &[]).await,
                _ => self.browser.call("my-access", &[]).await,
            };
            return;
        }
        let entry = &self.entries[rand::thread_rng().gen_range(0..self.entries.len())];
        match roll {
            0..30 => {
                let token = Uuid::new_v4().to_string();
                self.browser
                    .call(
                        "request",
                        &[
                            ("form[entitlement]", entry),
                            ("form[duration]", "1"),
                            ("form[justification]", "Replicas benchmark"),
                            ("form[client_token]", &token),
                        ],
                    )
                    .await;
            }
            30..50 => {
                self.browser.call("catalog", &[("query", "")]).await;
            }
            _ => {
                self.browser.call("my-access", &[]).await;
            }
        }
    }
}

fn report(samples: &[sessions::Sample], run: Duration) {
    let mut by: BTreeMap<&str, Vec<&sessions::Sample>> = BTreeMap::new();
    for s in samples {
        by.entry(s.function).or_default().push(s);
    }
    println!(
        "\n{} calls through HAProxy in {} s ({:.0}/s)",
        samples.len(),
        run.as_secs(),
        samples.len() as f64 / run.as_secs_f64()
    );
    println!(
        "{:<12} {:>7} {:>9} {:>9} {:>9}  answers",
        "function", "calls", "p50 ms", "p99 ms", "max ms"
    );
    for (function, list) in by {
        let mut ms: Vec<f64> = list.iter().map(|s| s.millis).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q) as usize).min(ms.len() - 1)];
        let mut answers: BTreeMap<u16, usize> = BTreeMap::new();
        for s in list {
            *answers.entry(s.status).or_default() += 1;
        }
        println!(
            "{function:<12} {:>7} {:>9.1} {:>9.1} {:>9.1}  {answers:?}",
            ms.len(),
            at(0.50),
            at(0.99),
            ms[ms.len() - 1]
        );
    }
    // A 401 is a session the portal no longer knew: the one thing replicas must never lose.
    let lost = samples.iter().filter(|s| s.status == 401).count();
    let failed = samples
        .iter()
        .filter(|s| matches!(s.status, 0 | 502 | 503 | 504))
        .count();
    let broken = samples.iter().filter(|s| s.status == 500).count();
    println!(
        "sessions lost (401): {lost}; answers lost to a dying replica or the database restart \
         (no answer, 502-504): {failed}; internal errors (500): {broken}"
    );
}

/// What must hold afterwards; prints each figure, and whether all held.
async fn check(
    pool: &PgPool,
    dir: &directory::Directory,
    world: &World,
    load_ended: chrono::DateTime<Utc>,
) -> bool {
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let requests = count("select count(*) from access_requests").await;
    let granted = count("select count(*) from grants where provisioned_at is not null").await;
    let ended = count("select count(*) from grants where state in ('revoked', 'failed')").await;
    let open =
        count("select count(*) from grants where state in ('scheduled', 'active', 'revoking')")
            .await;
    let doubled_removals = count(
        "select count(*) from (select grant_id from audit_events where action = 'grant.revoked'
                                group by grant_id having count(*) > 1) twice",
    )
    .await;
    let doubled_grants = count(
        "select count(*) from (select grant_id from audit_events where action = 'grant.provisioned'
                                group by grant_id having count(*) > 1) twice",
    )
    .await;
    let unverified = count(
        "select count(*) from grants where state = 'revoked' and provisioned_at is not null
                                       and verified_at is null",
    )
    .await;
    let overdue = count("select count(*) from grants where overdue_since is not null").await;
    let failed = count("select count(*) from grants where state = 'failed'").await;
    let lags: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from verified_at - ends_at)::float8 from grants
          where verified_at is not null and revoke_reason = 'expired' order by 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let at = |q: f64| {
        lags.get(((lags.len() as f64 * q) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let mut ldap = dir.admin().await;
    let mut still_members = 0;
    for group in &world.groups {
        // The placeholder member stays.
        still_members += dir.member_count(&mut ldap, group).await.saturating_sub(1);
    }
    let stale_jobs: Vec<(String, String)> = sqlx::query_as(
        "select job, coalesce(to_char(ok_at, 'HH24:MI:SS'), 'never')
           from job_runs where next_due_at < now() - interval '30 seconds'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let jobs_after: i64 =
        sqlx::query_scalar("select count(distinct job) from job_runs where ok_at > $1")
            .bind(load_ended)
            .fetch_one(pool)
            .await
            .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let chain = leasegate::server::db::audit::first_break(&mut conn)
        .await
        .unwrap();

    println!("\nrequests {requests}, leases granted {granted}, ended {ended}, still open {open}");
    println!(
        "removal lag (verified in the directory after the lease's end), {} expiries: p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        lags.len(),
        at(0.5),
        at(0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "lost removals (open after the wait, or members left in the directory): {} + {still_members}",
        open
    );
    println!(
        "doubled: removals {doubled_removals}, grants {doubled_grants}; removed but never read back: {unverified}"
    );
    println!("flagged overdue: {overdue}; failed grants: {failed}");
    println!("jobs overdue now: {stale_jobs:?}; jobs that ran after the load: {jobs_after}");
    println!(
        "audit chain: {}",
        if chain.is_none() { "whole" } else { "BROKEN" }
    );
    let held = open == 0
        && still_members == 0
        && doubled_removals == 0
        && doubled_grants == 0
        && unverified == 0
        && stale_jobs.is_empty()
        && chain.is_none();
    println!(
        "{}",
        if held {
            "ALL HELD"
        } else {
            "SOMETHING DID NOT HOLD"
        }
    );
    held
}
