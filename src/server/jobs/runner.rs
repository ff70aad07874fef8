//! The one loop every job runs in: wake-ups, backoff, cancellation, tracing and `job_runs`.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::ExponentialBackoff;
use futures::FutureExt as _;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tracing::Instrument as _;

use super::{Job, Stopping};
use crate::server::app::metrics::Metrics;
use crate::server::db::jobs as runs;
use crate::server::jobs::backoff::delays as backoff_of;

/// A successful run is written to `job_runs` at most this often per job (a busy engine runs
/// many times a second); a failure, and the first success after one, always are.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Runs `jobs` until `stopping` turns true, each on its own schedule; returns once every job has
/// finished its current run. `worker` names this process in `job_runs`; each run is counted in
/// `metrics`.
pub async fn run(
    pool: PgPool,
    jobs: Vec<Arc<dyn Job>>,
    worker: String,
    stopping: Stopping,
    metrics: Metrics,
) {
    metrics.runs_jobs(jobs.iter().map(|job| job.name()));
    let mut wakers: BTreeMap<&'static str, Vec<Arc<Notify>>> = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let wake = Arc::new(Notify::new());
        if let Some(channel) = job.schedule().woken_by {
            wakers.entry(channel).or_default().push(wake.clone());
        }
        tasks.spawn(run_job(
            pool.clone(),
            job,
            worker.clone(),
            wake,
            stopping.clone(),
            metrics.clone(),
        ));
    }
    for (channel, wake) in wakers {
        tasks.spawn(listen(pool.clone(), channel, wake, stopping.clone()));
    }
    while let Some(ended) = tasks.join_next().await {
        if let Err(e) = ended {
            // A job's panics are caught per run; this is the runner's own bug.
            tracing::error!(error = %e, "a job task ended abnormally");
        }
    }
}

async fn run_job(
    pool: PgPool,
    job: Arc<dyn Job>,
    worker: String,
    wake: Arc<Notify>,
    mut stopping: Stopping,
    metrics: Metrics,
) {
    let schedule = job.schedule();
    let mut backoff: Option<ExponentialBackoff> = None;
    let mut recorded: Option<(Instant, bool)> = None;
    while !*stopping.borrow() {
        let started = chrono::Utc::now();
        let clock = Instant::now();
        // A span per run (not per job: a span is exported when it ends), which logs about the
        // run are written in too.
        let span = tracing::info_span!("job", job = job.name());
        let outcome = AssertUnwindSafe(job.run_due(&stopping))
            .catch_unwind()
            .instrument(span.clone())
            .await;
        let (next, error) = match outcome {
            Ok(Ok(next)) => (next, None),
            Ok(Err(e)) => (None, Some(e.to_string())),
            Err(panic) => (None, Some(format!("panicked: {}", panic_message(&*panic)))),
        };
        let wait = match &error {
            Some(error) => {
                let delays = backoff.get_or_insert_with(|| backoff_of(schedule.max_backoff));
                let wait = delays.next().unwrap_or(schedule.max_backoff);
                span.in_scope(|| tracing::error!(%error, retry_in = ?wait, "job failed"));
                wait
            }
            None => {
                backoff = None;
                next.map_or(schedule.every, |next| next.min(schedule.every))
            }
        };
        let failed = error.is_some();
        metrics.job_ran(job.name(), clock.elapsed(), failed);
        let due = recorded
            .is_none_or(|(at, was_failure)| failed || was_failure || at.elapsed() >= RECORD_EVERY);
        if due {
            if let Err(e) =
                runs::record(&pool, job.name(), &worker, started, error.as_deref(), wait).await
            {
                span.in_scope(|| tracing::warn!(error = %e, "could not record the job's run"));
            }
            recorded = Some((Instant::now(), failed));
        }
        // The run's span ends with the run, not after the wait.
        drop(span);
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Listens on `channel` and wakes every job woken by it; after a lost connection, wakes them all
/// (notifications may have been missed) and listens again.
async fn listen(
    pool: PgPool,
    channel: &'static str,
    wake: Vec<Arc<Notify>>,
    mut stopping: Stopping,
) {
    let mut failures = backoff_of(Duration::from_secs(30));
    while !*stopping.borrow() {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(e) => {
                let wait = failures.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(%channel, error = %e, retry_in = ?wait, "cannot listen; jobs keep to their schedules");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stopping.changed() => {}
                }
                continue;
            }
        };
        failures = backoff_of(Duration::from_secs(30));
        wake.iter().for_each(|w| w.notify_one());
        loop {
            tokio::select! {
                received = listener.recv() => match received {
                    Ok(_) => wake.iter().for_each(|w| w.notify_one()),
                    Err(e) => {
                        tracing::warn!(%channel, error = %e, "lost the notification connection");
                        break;
                    }
                },
                _ = stopping.changed() => return,
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
