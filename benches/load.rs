//! Load: 200 signed-in people at once over HTTP, against the portal built with the benchmark
//! (release) profile, a real OpenLDAP and a real PostgreSQL whose grants table holds 1,000,000
//! rows. Employees browse the catalog, open entries, submit requests and read My access;
//! managers read their inbox and approve. Run twice: with the directory as it is, and with
//! 200 ms added to every directory call. Prints p50/p99 per server function, errors (anything
//! but a deliberate answer) and throughput.
//!
//! The people are signed in by writing their sessions into the session store (the sign-in
//! itself is measured by nothing here); everything after that is the real HTTP surface.
//! Run with `make bench-load` (docs/benchmarks.md has the figures).

#[path = "../tests/api/directory.rs"]
#[allow(dead_code)]
mod directory;
#[path = "support/history.rs"]
mod history;
#[path = "support/sessions.rs"]
mod sessions;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use leasegate::domain::access::Access;
use leasegate::server::app::auth::session::SessionUser;
use leasegate::server::app::router;
use leasegate::server::connectors::{
    Account, Connector, ConnectorError, Connectors, Health, Lease, Receipt, Target,
};
use leasegate::server::jobs::grants::Engine;
use rand::Rng as _;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tower_sessions_sqlx_store::PostgresStore;
use uuid::Uuid;

const CONNECTOR: &str = "load-directory";
const HISTORY: i64 = 1_000_000;
const MANAGERS: usize = 20;
const EMPLOYEES: usize = 180;
const ENTRIES: usize = 20;
const RUN: Duration = Duration::from_secs(45);

#[tokio::main]
async fn main() {
    let server = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must name a PostgreSQL server (make bench-load sets it)");
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
    for sql in [
        "drop database if exists leasegate_load with (force)",
        "create database leasegate_load",
    ] {
        sqlx::query(sql).execute(&admin).await.unwrap();
    }
    let url = format!("{base}/leasegate_load");
    let setup = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .unwrap();
    leasegate::server::db::migrate(&setup).await.unwrap();

    let dir = directory::openldap();
    println!("directory: {:?} at {}", dir.kind, dir.url);
    let world = seed(&setup, dir).await;
    println!(
        "grants in the table: {}",
        sqlx::query_scalar::<_, i64>("select count(*) from grants")
            .fetch_one(&setup)
            .await
            .unwrap()
    );

    // People pause between clicks: `LOAD_THINK_MS` on average (uniform from half to one and a
    // half times it). The paced runs measure latency at a realistic offered load; the run
    // without pauses (a closed loop that saturates the machine) measures capacity.
    let think = Duration::from_millis(
        std::env::var("LOAD_THINK_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    let healthy: Arc<dyn Connector> = Arc::new(dir.connector());
    let slow: Arc<dyn Connector> = Arc::new(Slow {
        inner: healthy.clone(),
        delay: Duration::from_millis(200),
    });
    let paced = format!("{} ms between clicks", think.as_millis());
    run(
        &format!("directory healthy, {paced}"),
        &url,
        &world,
        healthy.clone(),
        think,
    )
    .await;
    run(
        &format!("every directory call 200 ms slower, {paced}"),
        &url,
        &world,
        slow,
        think,
    )
    .await;
    run(
        "directory healthy, no pause (capacity)",
        &url,
        &world,
        healthy,
        Duration::ZERO,
    )
    .await;
}

struct World {
    managers: Vec<SessionUser>,
    employees: Vec<SessionUser>,
    entries: Vec<String>,
}

/// People (20 managers with 9 reports each) in the directory and the database, 20 entries (half
/// under manager approval, half self-service), and a million grants of history.
async fn seed(pool: &PgPool, dir: &directory::Directory) -> World {
    let connector: Uuid =
        sqlx::query_scalar("insert into connectors (name, kind) values ($1, 'ldap') returning id")
            .bind(CONNECTOR)
            .fetch_one(pool)
            .await
            .unwrap();
    let manager_policy: Uuid = sqlx::query_scalar(
        r#"insert into policies (key, name, rules) values ('manager', 'Manager',
           '{"name":"Manager","durations":{"default_minutes":60,"max_minutes":480},
             "justification":{"required":true,"min_chars":10},
             "stages":[{"approvers":"manager"}]}') returning id"#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let auto_policy: Uuid = sqlx::query_scalar(
        r#"insert into policies (key, name, rules) values ('auto', 'Auto',
           '{"name":"Auto","durations":{"default_minutes":60,"max_minutes":480}}') returning id"#,
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let started = Instant::now();
    history::fill(pool, connector, auto_policy, HISTORY).await;
    println!(
        "history written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut ldap = dir.admin().await;
    let id = directory::unique();
    let person = |name: String, manager: Option<String>| {
        let upn = format!(
            "{}.{id}@contoso.test",
            name.to_lowercase().replace(' ', ".")
        );
        (name, upn, manager)
    };
    let mut managers = Vec::new();
    let mut manager_dns = Vec::new();
    for m in 0..MANAGERS {
        let (name, upn, _) = person(format!("Manager {m}"), None);
        manager_dns.push(
            dir.add_user(&mut ldap, &format!("{name} {id}"), &upn, None, None)
                .await,
        );
        managers.push(user(pool, &upn, &name).await);
    }
    let mut employees = Vec::new();
    for e in 0..EMPLOYEES {
        let manager = manager_dns[e % MANAGERS].clone();
        let (name, upn, manager) = person(format!("Employee {e}"), Some(manager));
        dir.add_user(
            &mut ldap,
            &format!("{name} {id}"),
            &upn,
            manager.as_deref(),
            None,
        )
        .await;
        employees.push(user(pool, &upn, &name).await);
    }
    let mut entries = Vec::new();
    for n in 0..ENTRIES {
        let group = dir
            .add_group(&mut ldap, &format!("Load {n} {id}"), &[])
            .await;
        let key = format!("load-{n}");
        sqlx::query(
            "insert into entitlements (key, connector_id, kind, target_ref, name, description, policy_id)
             values ($1, $2, 'ad_group', $3, $4, 'Load test entry', $5)",
        )
        .bind(&key)
        .bind(connector)
        .bind(&group)
        .bind(format!("Load group {n}"))
        .bind(if n % 2 == 0 { manager_policy } else { auto_policy })
        .execute(pool)
        .await
        .unwrap();
        entries.push(key);
    }
    World {
        managers,
        employees,
        entries,
    }
}

async fn user(pool: &PgPool, upn: &str, name: &str) -> SessionUser {
    let principal: Uuid = sqlx::query_scalar(
        "insert into principals (tenant_id, object_id, upn, display_name, last_sign_in_at)
         values ('load', $1, $2, $3, now()) returning id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(upn)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap();
    SessionUser {
        principal_id: principal,
        display_name: name.to_string(),
        upn: leasegate::domain::input::Upn::parse(upn).unwrap(),
        roles: Vec::new(),
        signed_in_at: Utc::now(),
        checked_at: Utc::now(),
        language: None,
    }
}

impl sessions::Sample {
    /// Anything but an answer the portal gives on purpose: 200, and the refusals a busy
    /// portal gives to requests that race each other (409 "already waiting", 422 "already
    /// covered").
    fn error(&self) -> bool {
        !matches!(self.status, 200 | 409 | 422)
    }
}

async fn run(
    label: &str,
    url: &str,
    world: &World,
    connector: Arc<dyn Connector>,
    think: Duration,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // The portal as it runs: its own pool (the default size), the engine, every layer.
    let settings = leasegate::server::app::config::from_sources(
        Default::default(),
        [
            ("DATABASE_URL", url),
            ("LEASEGATE_PUBLIC_URL", base.as_str()),
            ("LEASEGATE_OIDC_ISSUER", "http://127.0.0.1:9"),
            ("LEASEGATE_OIDC_CLIENT_ID", "load"),
            ("LEASEGATE_OIDC_CLIENT_SECRET", "load"),
            ("LEASEGATE_LOG", "warn"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap();
    let pool = leasegate::server::db::connect(&settings.database)
        .await
        .unwrap();
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, connector);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let engine = tokio::spawn(leasegate::server::jobs::run_engine(
        Engine::new(pool.clone(), connectors.clone(), settings.engine.clone()),
        stopping,
    ));
    let leptos = leptos::config::get_configuration(None)
        .unwrap()
        .leptos_options;
    let state = router::app_state(Arc::new(settings), pool.clone(), leptos, connectors);
    let app = router::build(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let store = PostgresStore::new(pool.clone())
        .with_schema_name("public")
        .and_then(|s| s.with_table_name("web_sessions"))
        .unwrap();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for (n, who) in world.managers.iter().chain(&world.employees).enumerate() {
        let client = sessions::signed_in(&store, &base, who).await;
        let ctx = Ctx {
            browser: sessions::Browser {
                client,
                base: base.clone(),
                samples: samples.clone(),
            },
            entries: world.entries.clone(),
        };
        let manager = n < MANAGERS;
        tasks.push(tokio::spawn(async move {
            // Not everyone starts at the same instant.
            tokio::time::sleep(pause(think)).await;
            while Instant::now() < until {
                if manager {
                    ctx.manager_step().await;
                } else {
                    ctx.employee_step().await;
                }
                tokio::time::sleep(pause(think)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    stop.send(true).unwrap();
    engine.await.unwrap();
    server.abort();
    report(label, &samples.lock().unwrap());
    pool.close().await;
}

/// A person's pause before the next click: uniform from half to one and a half times `think`.
fn pause(think: Duration) -> Duration {
    think.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
}

struct Ctx {
    browser: sessions::Browser,
    entries: Vec<String>,
}

impl Ctx {
    async fn employee_step(&self) {
        let roll: u32 = rand::thread_rng().gen_range(0..100);
        let entry = &self.entries[rand::thread_rng().gen_range(0..self.entries.len())];
        match roll {
            0..40 => {
                self.browser.call("catalog", &[("query", "")]).await;
            }
            40..55 => {
                self.browser.call("entitlement", &[("key", entry)]).await;
            }
            55..65 => {
                let token = Uuid::new_v4().to_string();
                self.browser
                    .call(
                        "request",
                        &[
                            ("form[entitlement]", entry),
                            ("form[duration]", "60"),
                            ("form[justification]", "Load test: quarter-end close"),
                            ("form[client_token]", &token),
                        ],
                    )
                    .await;
            }
            _ => {
                self.browser.call("my-access", &[]).await;
            }
        }
    }

    async fn manager_step(&self) {
        let Some(inbox) = self.browser.call("approvals", &[]).await else {
            return;
        };
        let waiting = inbox["waiting"].as_array().cloned().unwrap_or_default();
        if let Some(first) = waiting.first().and_then(|w| w["request_id"].as_str()) {
            self.browser
                .call(
                    "approvals/decide",
                    &[
                        ("request_id", first),
                        ("outcome", "approve"),
                        ("comment", ""),
                    ],
                )
                .await;
        } else {
            self.browser.call("my-access", &[]).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn report(label: &str, samples: &[sessions::Sample]) {
    let mut by: BTreeMap<&str, Vec<&sessions::Sample>> = BTreeMap::new();
    for s in samples {
        by.entry(s.function).or_default().push(s);
    }
    println!(
        "\n{label}: {} calls in {} s ({:.0}/s)",
        samples.len(),
        RUN.as_secs(),
        samples.len() as f64 / RUN.as_secs_f64()
    );
    println!(
        "{:<20} {:>7} {:>9} {:>9} {:>9} {:>7}",
        "function", "calls", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for (function, list) in by {
        let mut ms: Vec<f64> = list.iter().map(|s| s.millis).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() as f64 * q) as usize).min(ms.len() - 1)];
        let errors = list.iter().filter(|s| s.error()).count();
        let mut answers: BTreeMap<u16, usize> = BTreeMap::new();
        for s in list {
            *answers.entry(s.status).or_default() += 1;
        }
        println!(
            "{function:<20} {:>7} {:>9.1} {:>9.1} {:>9.1} {errors:>7}  {answers:?}",
            ms.len(),
            at(0.50),
            at(0.99),
            ms[ms.len() - 1]
        );
    }
}

/// A connector that waits `delay` before every call: a directory far away or overloaded.
struct Slow {
    inner: Arc<dyn Connector>,
    delay: Duration,
}

#[async_trait]
impl Connector for Slow {
    async fn find_account(&self, upn: &str) -> Result<Option<Account>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.find_account(upn).await
    }
    async fn account(&self, reference: &str) -> Result<Option<Account>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.account(reference).await
    }
    async fn accounts(&self, references: &[String]) -> Result<Vec<Account>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.accounts(references).await
    }
    async fn accounts_by_id(&self, ids: &[String]) -> Result<Vec<Account>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.accounts_by_id(ids).await
    }
    async fn target(
        &self,
        access: &Access,
        reference: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.target(access, reference).await
    }
    async fn target_by_id(
        &self,
        access: &Access,
        id: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.target_by_id(access, id).await
    }
    async fn grant(
        &self,
        access: &Access,
        target: &str,
        leases: &[Lease],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.grant(access, target, leases).await
    }
    async fn revoke(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.revoke(access, target, accounts).await
    }
    async fn holding(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.holding(access, target, accounts).await
    }
    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.holders(target).await
    }
    async fn indirect_paths(
        &self,
        target: &str,
        account: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.indirect_paths(target, account).await
    }
    async fn groups_of(&self, account: &str) -> Result<Vec<String>, ConnectorError> {
        tokio::time::sleep(self.delay).await;
        self.inner.groups_of(account).await
    }
    async fn health(&self) -> Health {
        tokio::time::sleep(self.delay).await;
        self.inner.health().await
    }
}
