//! Every background duty of the portal is a [`Job`], and [`all`] lists them, in one place.
//!
//! A job says how it is woken (a PostgreSQL NOTIFY channel, and the longest it sleeps) and does
//! what is due when [`Job::run_due`] is called, returning when it is next due. The one runner
//! ([`runner::run`]) owns the rest for every job alike: wake-ups, backoff with jitter after a
//! failure, cancellation, a tracing span per run, and the `job_runs` row that `/readyz` and the
//! administration page read. Several replicas run the same list: each job claims its work
//! (`FOR UPDATE SKIP LOCKED` with a lease, or a cursor row), so they share it without doing it
//! twice. Tests drive a job by calling its own entry point (`Engine::run_once`,
//! `Notifier::deliver`, `people_sync::pass`, ...) as the job does.

pub mod account_watch;
pub mod backoff;
pub mod checkpoints;
pub mod contractors;
pub mod escalation;
pub mod grants;
pub mod moves;
pub mod people_sync;
pub mod reconcile;
pub mod runner;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::server::app::clock::Clock;
use crate::server::connectors::Connectors;
use crate::server::db::delivery::{self as queue, Queue};
use crate::server::jobs::checkpoints::SigningKey;
use crate::server::jobs::grants::Engine;
use crate::server::notify::Notifier;

/// Why a run failed: whatever error the job met, as the runner logs and records it.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// Turns true when the process is asked to stop; a job finishes what it has claimed.
pub type Stopping = watch::Receiver<bool>;

/// How a job is woken.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// A NOTIFY channel whose notifications wake the job before its time.
    pub woken_by: Option<&'static str>,
    /// The longest the job sleeps between two runs: its period, or the backstop of a job that
    /// knows when it is next due.
    pub every: Duration,
    /// The longest wait after failures in a row (the waits grow to it, with jitter).
    pub max_backoff: Duration,
}

#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// The job's name in logs, `job_runs`, `/readyz` and the administration page.
    fn name(&self) -> &'static str;

    fn schedule(&self) -> Schedule;

    /// Does what is due now. `Ok(Some(d))`: next due in `d` (zero: at once); `Ok(None)`: nothing
    /// scheduled, run again after `every` or when woken.
    async fn run_due(&self, stopping: &Stopping) -> Result<Option<Duration>, JobError>;
}

/// What the jobs need from the process.
#[derive(Clone)]
pub struct Context {
    pub pool: PgPool,
    pub connectors: Connectors,
    pub engine: Engine,
    pub notifier: Option<Notifier>,
    pub checkpoint_key: Option<Arc<SigningKey>>,
    pub clock: Clock,
}

/// Runs every job of [`all`] until `stopping` turns true, as the portal does.
pub async fn run_all(cx: Context, stopping: Stopping) {
    tracing::info!(worker = %cx.engine.worker(), "jobs started");
    cx.engine.bring_overdue_forward().await;
    runner::run(
        cx.pool.clone(),
        all(&cx),
        cx.engine.worker().to_string(),
        stopping,
        cx.engine.metrics().clone(),
    )
    .await;
    tracing::info!(worker = %cx.engine.worker(), "jobs stopped");
}

/// Every background job of the portal. Each runs on its own schedule; none rides in another.
pub fn all(cx: &Context) -> Vec<Arc<dyn Job>> {
    let mut jobs: Vec<Arc<dyn Job>> = vec![
        // Adds access at its start, removes it at its end, and proves the removal.
        Arc::new(Grants(cx.engine.clone())),
        // Looks up the people who may hold a session: a disabled or deleted account is barred.
        Arc::new(AccountWatch::of(&cx.engine)),
        // Reads each people source when due: joiners, movers, leavers.
        Arc::new(PeopleSync(cx.clone())),
        // Acts on what the people sync found: joiners' and movers' birthright and lost access.
        Arc::new(Moves(cx.clone())),
        // Makes and ends contractors' identities in the directories.
        Arc::new(Contractors(cx.clone())),
        // Sends requests whose approvers are away to their deputies.
        Arc::new(DelegationRouting(cx.clone())),
        // Reminds slow approvers and escalates to their managers.
        Arc::new(Escalation(cx.clone())),
        // Deletes expired sign-in sessions.
        Arc::new(SessionCleanup(cx.clone())),
        // Compares each managed target with the leases: shadow access and drift.
        Arc::new(Reconciliation(cx.clone())),
        Arc::new(AccessReviews(cx.clone())),
        Arc::new(HealthChecks(cx.clone())),
    ];
    if let Some(key) = &cx.checkpoint_key {
        // Signs the audit chain's head, anchoring it outside the database.
        jobs.push(Arc::new(Checkpoints {
            pool: cx.pool.clone(),
            key: key.clone(),
            every: cx.engine.settings().checkpoint_every,
        }));
    }
    if let Some(notifier) = &cx.notifier {
        jobs.extend(notifier_jobs(notifier));
    }
    jobs
}

/// Runs an engine's own jobs (grants and the account watch) until `stopping` turns true, as
/// tests and benchmarks run an engine.
pub async fn run_engine(engine: Engine, stopping: Stopping) {
    engine.bring_overdue_forward().await;
    let pool = engine.pool().clone();
    let jobs: Vec<Arc<dyn Job>> = vec![
        Arc::new(AccountWatch::of(&engine)),
        Arc::new(Grants(engine.clone())),
    ];
    let metrics = engine.metrics().clone();
    runner::run(pool, jobs, engine.worker().to_string(), stopping, metrics).await;
}

/// Runs a notifier's jobs (notices, mail, Teams) until `stopping` turns true.
pub async fn run_notifier(notifier: Notifier, worker: String, stopping: Stopping) {
    let pool = notifier.pool().clone();
    let jobs = notifier_jobs(&notifier);
    runner::run(pool, jobs, worker, stopping, Default::default()).await;
}

fn notifier_jobs(notifier: &Notifier) -> Vec<Arc<dyn Job>> {
    vec![
        // Writes the mails and cards the trail's events and the clock call for.
        Arc::new(Notices(notifier.clone())),
        // Delivers the mail outbox.
        Arc::new(Mail(notifier.clone())),
        // Posts the Teams outbox.
        Arc::new(Teams(notifier.clone())),
    ]
}

struct Grants(Engine);

#[async_trait]
impl Job for Grants {
    fn name(&self) -> &'static str {
        "grants"
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            woken_by: Some(crate::server::jobs::grants::CHANNEL),
            every: crate::server::jobs::grants::BACKSTOP,
            max_backoff: Duration::from_secs(10),
        }
    }

    async fn run_due(&self, stopping: &Stopping) -> Result<Option<Duration>, JobError> {
        Ok(due_in(self.0.run_due(stopping).await?))
    }
}

fn notify_schedule() -> Schedule {
    Schedule {
        woken_by: Some(crate::server::notify::CHANNEL),
        every: crate::server::notify::BACKSTOP,
        max_backoff: crate::server::notify::BACKSTOP,
    }
}

/// A delivery due now that this run left (claimed elsewhere) is looked at again after this.
const DELIVERY_FLOOR: Duration = Duration::from_millis(200);

struct Notices(Notifier);

#[async_trait]
impl Job for Notices {
    fn name(&self) -> &'static str {
        "notices"
    }

    fn schedule(&self) -> Schedule {
        notify_schedule()
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        let written = self.0.project().await? + self.0.notices().await?;
        if written > 0 {
            tracing::info!(written, "notices written");
        }
        Ok(None)
    }
}

struct Mail(Notifier);

#[async_trait]
impl Job for Mail {
    fn name(&self) -> &'static str {
        "mail"
    }

    fn schedule(&self) -> Schedule {
        notify_schedule()
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        let pass = self.0.deliver_due().await?;
        if pass != crate::server::notify::Pass::default() {
            tracing::info!(
                sent = pass.sent,
                retrying = pass.retrying,
                refused = pass.refused,
                "mail"
            );
        }
        let next = queue::seconds_until_next(self.0.pool(), Queue::Mail).await?;
        Ok(due_in(next).map(|d| d.max(DELIVERY_FLOOR)))
    }
}

struct Teams(Notifier);

#[async_trait]
impl Job for Teams {
    fn name(&self) -> &'static str {
        "teams"
    }

    fn schedule(&self) -> Schedule {
        notify_schedule()
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        let pass = self.0.post_cards().await?;
        if pass != crate::server::notify::Pass::default() {
            tracing::info!(
                sent = pass.sent,
                retrying = pass.retrying,
                refused = pass.refused,
                "teams"
            );
        }
        let next = queue::seconds_until_next(self.0.pool(), Queue::Teams).await?;
        Ok(due_in(next).map(|d| d.max(DELIVERY_FLOOR)))
    }
}

struct AccountWatch {
    pool: PgPool,
    connectors: Connectors,
    every: Duration,
}

impl AccountWatch {
    /// The account watch of the directories `engine` works on, at its period.
    fn of(engine: &Engine) -> Self {
        Self {
            pool: engine.pool().clone(),
            connectors: engine.connectors().clone(),
            every: engine.settings().account_watch,
        }
    }
}

#[async_trait]
impl Job for AccountWatch {
    fn name(&self) -> &'static str {
        "account-watch"
    }

    fn schedule(&self) -> Schedule {
        periodic(self.every)
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        // Sessions last at most a day by default; look at everyone seen within two.
        let window = Duration::from_secs(2 * 86_400);
        let w = account_watch::check(&self.pool, &self.connectors, window).await?;
        if w.barred > 0 || w.restored > 0 {
            tracing::info!(
                checked = w.checked,
                barred = w.barred,
                restored = w.restored,
                "account watch"
            );
        }
        Ok(None)
    }
}

/// The people sync looks at its sources this often; each source has its own period.
const PEOPLE_TICK: Duration = Duration::from_secs(5);

struct PeopleSync(Context);

#[async_trait]
impl Job for PeopleSync {
    fn name(&self) -> &'static str {
        "people-sync"
    }

    fn schedule(&self) -> Schedule {
        periodic(PEOPLE_TICK)
    }

    async fn run_due(&self, stopping: &Stopping) -> Result<Option<Duration>, JobError> {
        crate::server::jobs::people_sync::run_due(&self.0.pool, &self.0.connectors, stopping)
            .await?;
        Ok(None)
    }
}

struct Reconciliation(Context);

#[async_trait]
impl Job for Reconciliation {
    fn name(&self) -> &'static str {
        "reconcile"
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            woken_by: Some(crate::server::jobs::reconcile::CHANNEL),
            // Looks for due entries this often; each entry is due every
            // `LEASEGATE_RECONCILE_EVERY`.
            every: Duration::from_secs(60),
            max_backoff: Duration::from_secs(300),
        }
    }

    async fn run_due(&self, stopping: &Stopping) -> Result<Option<Duration>, JobError> {
        let settings = self.0.engine.settings();
        crate::server::jobs::reconcile::run_due(
            &self.0.pool,
            &self.0.connectors,
            settings.reconcile_every,
            crate::server::jobs::reconcile::Settings {
                grace: settings.removal_grace,
                complete_every: settings.reconcile_complete_every,
            },
            stopping,
        )
        .await?;
        Ok(None)
    }
}

struct Moves(Context);

#[async_trait]
impl Job for Moves {
    fn name(&self) -> &'static str {
        "moves"
    }

    fn schedule(&self) -> Schedule {
        periodic(PEOPLE_TICK)
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        let handled = crate::server::jobs::moves::handle(&self.0.pool, &self.0.connectors).await?;
        if handled.moves > 0 {
            tracing::info!(?handled, "joiners and movers handled");
        }
        Ok(None)
    }
}

struct Contractors(Context);

#[async_trait]
impl Job for Contractors {
    fn name(&self) -> &'static str {
        "contractors"
    }

    fn schedule(&self) -> Schedule {
        periodic(PEOPLE_TICK)
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        let worked =
            crate::server::jobs::contractors::run_due(&self.0.pool, &self.0.connectors).await?;
        if worked != crate::server::jobs::contractors::Worked::default() {
            tracing::info!(?worked, "contractors");
        }
        Ok(None)
    }
}

/// How often requests are looked at for routing and escalation.
const APPROVAL_TICK: Duration = Duration::from_secs(15);

struct DelegationRouting(Context);

#[async_trait]
impl Job for DelegationRouting {
    fn name(&self) -> &'static str {
        "delegation-routing"
    }

    fn schedule(&self) -> Schedule {
        periodic(APPROVAL_TICK)
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        crate::server::services::delegation::route_due(&self.0.pool).await?;
        Ok(None)
    }
}

struct Escalation(Context);

#[async_trait]
impl Job for Escalation {
    fn name(&self) -> &'static str {
        "escalation"
    }

    fn schedule(&self) -> Schedule {
        periodic(APPROVAL_TICK)
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        crate::server::jobs::escalation::run_due(&self.0.pool, &self.0.connectors, &self.0.clock)
            .await?;
        Ok(None)
    }
}

/// Access review campaigns: reminders half-way, backups three quarters of the way, the
/// default's answers at the deadline (`services::access_reviews`).
struct AccessReviews(Context);

#[async_trait]
impl Job for AccessReviews {
    fn name(&self) -> &'static str {
        "access-reviews"
    }

    fn schedule(&self) -> Schedule {
        periodic(APPROVAL_TICK)
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        crate::server::services::access_reviews::run_due(
            &self.0.pool,
            &self.0.connectors,
            self.0.clock.now(),
        )
        .await?;
        Ok(None)
    }
}

/// Every connector's health, recorded every five minutes, so the dashboard's system health is
/// current whether or not anyone opens the Admin page.
struct HealthChecks(Context);

#[async_trait]
impl Job for HealthChecks {
    fn name(&self) -> &'static str {
        "connector-health"
    }

    fn schedule(&self) -> Schedule {
        periodic(Duration::from_secs(300))
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        crate::server::services::admin::check_health(&self.0.pool, &self.0.connectors).await?;
        Ok(None)
    }
}

struct SessionCleanup(Context);

#[async_trait]
impl Job for SessionCleanup {
    fn name(&self) -> &'static str {
        "session-cleanup"
    }

    fn schedule(&self) -> Schedule {
        periodic(Duration::from_secs(300))
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        use tower_sessions::session_store::ExpiredDeletion as _;
        crate::server::app::router::session_store(&self.0.pool)
            .delete_expired()
            .await?;
        Ok(None)
    }
}

struct Checkpoints {
    pool: PgPool,
    key: Arc<SigningKey>,
    every: Duration,
}

#[async_trait]
impl Job for Checkpoints {
    fn name(&self) -> &'static str {
        "checkpoints"
    }

    fn schedule(&self) -> Schedule {
        periodic(self.every)
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, JobError> {
        crate::server::jobs::checkpoints::sign_head(&self.pool, &self.key).await?;
        Ok(None)
    }
}

/// A job that runs every `every`, woken by nothing else, backing off up to a minute.
pub fn periodic(every: Duration) -> Schedule {
    Schedule {
        woken_by: None,
        every,
        max_backoff: Duration::from_secs(60),
    }
}

/// Seconds until the next due item, as the database answers, as the runner's next-due.
pub fn due_in(seconds: Option<f64>) -> Option<Duration> {
    seconds.map(|s| Duration::from_secs_f64(s.max(0.0)))
}
