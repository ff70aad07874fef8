//! The job runner: every background duty runs in it, and what it records is what `/readyz` and
//! the administration page show.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use leasegate::server::jobs::{self, Job, Schedule, Stopping};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::engine::eventually;
use crate::harness::TestApp;

/// A job whose runs go as `script` says, one entry a run (the last repeats), counting its runs.
struct Scripted {
    name: &'static str,
    script: Vec<Outcome>,
    runs: Arc<AtomicUsize>,
}

#[derive(Clone, Copy)]
enum Outcome {
    Ok,
    Fail,
    Panic,
}

#[async_trait]
impl Job for Scripted {
    fn name(&self) -> &'static str {
        self.name
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            woken_by: None,
            every: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
        }
    }

    async fn run_due(&self, _: &Stopping) -> Result<Option<Duration>, jobs::JobError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        match self.script[run.min(self.script.len() - 1)] {
            Outcome::Ok => Ok(None),
            Outcome::Fail => Err("the directory did not answer".into()),
            Outcome::Panic => panic!("a bug in the job"),
        }
    }
}

fn scripted(name: &'static str, script: Vec<Outcome>) -> (Arc<dyn Job>, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let job = Scripted {
        name,
        script,
        runs: runs.clone(),
    };
    (Arc::new(job), runs)
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    error: Option<String>,
    failures: i32,
    ok: bool,
    worker: String,
}

async fn row(pool: &PgPool, job: &str) -> Option<Row> {
    sqlx::query_as(
        "select error, failures, ok_at is not null as ok, worker from job_runs where job = $1",
    )
    .bind(job)
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn a_failing_or_panicking_job_is_retried_and_recorded_while_the_others_run(pool: PgPool) {
    use Outcome::*;
    let (failing, failing_runs) = scripted("failing", vec![Fail]);
    let (panicking, panicking_runs) = scripted("panicking", vec![Panic, Panic, Ok]);
    let (healthy, healthy_runs) = scripted("healthy", vec![Ok]);
    let metrics = leasegate::server::app::metrics::Metrics::new();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(jobs::runner::run(
        pool.clone(),
        vec![failing, panicking, healthy],
        "replica-1".into(),
        stopping,
        metrics.clone(),
    ));

    // The healthy job keeps its 50 ms period; the failing one backs off (0.2 to 0.4 s with
    // jitter: its cap is 0.4 s), so it runs far less often.
    eventually(Duration::from_secs(20), "a dozen healthy runs", || async {
        healthy_runs.load(Ordering::SeqCst) >= 12
    })
    .await;
    eventually(
        Duration::from_secs(20),
        "a failure in a row recorded",
        || async { row(&pool, "failing").await.is_some_and(|r| r.failures >= 2) },
    )
    .await;
    let failing_row = row(&pool, "failing").await.unwrap();
    assert_eq!(
        failing_row.error.as_deref(),
        Some("the directory did not answer")
    );
    assert!(!failing_row.ok, "it never succeeded");
    assert_eq!(failing_row.worker, "replica-1");
    assert!(
        failing_runs.load(Ordering::SeqCst) < healthy_runs.load(Ordering::SeqCst),
        "a failing job backs off"
    );

    // Two panics are caught and counted as failures; the third run succeeds and clears them.
    eventually(
        Duration::from_secs(20),
        "the panicking job's recovery",
        || async {
            row(&pool, "panicking")
                .await
                .is_some_and(|r| r.ok && r.failures == 0 && r.error.is_none())
        },
    )
    .await;
    assert!(panicking_runs.load(Ordering::SeqCst) >= 3);

    // Each run is counted for /metrics, by outcome; panics are errors.
    let text = metrics.render(&Default::default());
    let runs = |job: &str, outcome: &str| -> u64 {
        let start = format!("leasegate_job_runs_total{{name=\"{job}\",outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&start))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert!(runs("panicking", "error") >= 2, "{text}");
    assert!(runs("panicking", "ok") >= 1, "{text}");
    assert!(runs("failing", "error") >= 2, "{text}");
    assert_eq!(runs("failing", "ok"), 0, "{text}");
    assert!(runs("healthy", "ok") >= 12, "{text}");

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .expect("the runner stops when asked")
        .unwrap();
    let after = healthy_runs.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        healthy_runs.load(Ordering::SeqCst),
        after,
        "nothing runs after the stop"
    );
}

#[sqlx::test]
async fn readiness_and_the_admin_page_show_every_job(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let (failing, _) = scripted("failing", vec![Outcome::Fail]);
    let (healthy, _) = scripted("healthy", vec![Outcome::Ok]);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(jobs::runner::run(
        pool.clone(),
        vec![failing, healthy],
        "replica-1".into(),
        stopping,
        Default::default(),
    ));
    eventually(Duration::from_secs(20), "both jobs recorded", || async {
        row(&pool, "failing").await.is_some() && row(&pool, "healthy").await.is_some()
    })
    .await;
    stop.send(true).unwrap();
    runner.await.unwrap();

    // A failing job is reported, not a reason to take the portal out of rotation.
    let ready = app.browser().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: serde_json::Value = ready.json().await.unwrap();
    let listed = ready["jobs"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{ready}");
    assert_eq!(listed[0]["job"], "failing");
    assert_eq!(listed[0]["error"], "the directory did not answer");
    assert_eq!(listed[1]["job"], "healthy");
    assert_eq!(listed[1]["error"], serde_json::Value::Null);
    assert_eq!(listed[1]["late"], false);

    let nestor = app.person("nestor").await; // an administrator
    let (status, shown) = app.call(&nestor, "admin/jobs", &[]).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown[0]["job"], "failing");
    assert!(shown[0]["failures"].as_i64().unwrap() >= 1, "{shown}");
    assert_eq!(shown[1]["job"], "healthy");
    assert_eq!(shown[1]["worker"], "replica-1");
    let adele = app.person("adele").await; // an employee
    assert_eq!(
        app.call(&adele, "admin/jobs", &[]).await.0,
        StatusCode::FORBIDDEN
    );
}

/// The portal's list: every duty is there once, by a name of its own.
#[sqlx::test]
async fn the_portal_lists_each_duty_once(pool: PgPool) {
    let connectors = leasegate::server::connectors::Connectors::default();
    let settings = crate::seed::engine_settings(Duration::from_secs(30));
    let mailbox = crate::mail::Mailbox::start(&[]).await;
    let notifier = leasegate::server::notify::Notifier::new(
        pool.clone(),
        url::Url::parse("https://leasegate.test/").unwrap(),
        &mailbox.settings(),
    )
    .unwrap();
    assert!(notifier.is_some(), "a mail server is set");
    let cx = jobs::Context {
        pool: pool.clone(),
        connectors: connectors.clone(),
        engine: leasegate::server::jobs::grants::Engine::new(pool.clone(), connectors, settings),
        notifier,
        checkpoint_key: Some(Arc::new(
            leasegate::server::jobs::checkpoints::SigningKey::from_seed(&[7; 32]).unwrap(),
        )),
        clock: Default::default(),
    };
    let mut names: Vec<&str> = jobs::all(&cx).iter().map(|j| j.name()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "access-reviews",
            "account-watch",
            "checkpoints",
            "connector-health",
            "contractors",
            "delegation-routing",
            "escalation",
            "grants",
            "mail",
            "moves",
            "notices",
            "people-sync",
            "reconcile",
            "session-cleanup",
            "teams",
        ]
    );
}
