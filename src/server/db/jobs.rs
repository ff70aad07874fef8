//! `job_runs`: how each background job's last run went and when it is next due.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A job's last run, as any replica recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub job: String,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub ok_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub failures: i32,
    pub next_due_at: DateTime<Utc>,
}

impl JobRun {
    /// Over a minute past due: no replica runs the job (each records its runs at least once a
    /// second while busy, and sleeps at most its period).
    pub fn is_late(&self, now: DateTime<Utc>) -> bool {
        self.next_due_at < now - chrono::TimeDelta::minutes(1)
    }
}

/// Records a run of `job` that started at `started` and ended now, with its error if it failed,
/// next due after `wait`.
pub async fn record(
    pool: &PgPool,
    job: &str,
    worker: &str,
    started: DateTime<Utc>,
    error: Option<&str>,
    wait: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into job_runs (job, worker, started_at, finished_at, ok_at, error, failures, next_due_at)
        values ($1, $2, $3::timestamptz, now(), case when $4::text is null then now() end, $4,
                case when $4::text is null then 0 else 1 end,
                now() + make_interval(secs => $5))
        on conflict (job) do update set
            worker = excluded.worker,
            started_at = excluded.started_at,
            finished_at = excluded.finished_at,
            ok_at = coalesce(excluded.ok_at, job_runs.ok_at),
            error = excluded.error,
            failures = case when excluded.error is null then 0 else job_runs.failures + 1 end,
            next_due_at = excluded.next_due_at
        "#,
        job,
        worker,
        started as DateTime<Utc>,
        error,
        wait.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Every job that has run, by name.
pub async fn all(pool: &PgPool) -> Result<Vec<JobRun>, sqlx::Error> {
    sqlx::query_as!(
        JobRun,
        r#"
        select job, worker,
               started_at as "started_at: DateTime<Utc>",
               finished_at as "finished_at: DateTime<Utc>",
               ok_at as "ok_at: DateTime<Utc>",
               error, failures,
               next_due_at as "next_due_at: DateTime<Utc>"
          from job_runs order by job
        "#
    )
    .fetch_all(pool)
    .await
}
