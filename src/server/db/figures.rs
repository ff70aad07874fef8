//! The installation's state as `/metrics` reports it: a few counts over partial indexes, read
//! at each scrape.

use sqlx::PgPool;

use crate::server::app::metrics::{Figures, JobFigure, Outbox};

/// Reads every figure; `grace_seconds` is the removal grace past which a removal is overdue
/// (as the dashboard counts it).
pub async fn read(pool: &PgPool, grace_seconds: f64) -> Result<Figures, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let counted: Vec<(String, i64)> = sqlx::query!(
        r#"
        select state as "state!", count(*) as "count!"
          from grants
         where state in ('scheduled', 'active', 'revoking', 'failed')
         group by state
         order by state
        "#
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| (row.state, row.count))
    .collect();
    // Every live state, at zero when none is in it: a dashboard shows 0, not "no data".
    let grants = ["scheduled", "active", "revoking", "failed"]
        .into_iter()
        .map(|state| {
            let count = counted
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            (state.to_string(), count)
        })
        .collect();
    let due = sqlx::query!(
        r#"
        select count(*) as "due!",
               count(*) filter (where overdue_since is not null
                                   or ends_at < now() - make_interval(secs => $1)) as "overdue!",
               coalesce(extract(epoch from now() - min(ends_at)), 0)::float8 as "oldest!"
          from grants
         where state in ('active', 'revoking') and ends_at <= now()
        "#,
        grace_seconds
    )
    .fetch_one(&mut *conn)
    .await?;
    let outboxes = sqlx::query!(
        r#"
        select 'mail' as "queue!", count(*) as "pending!",
               coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as "oldest!"
          from mail_outbox where state = 'pending'
        union all
        select 'teams', count(*),
               coalesce(extract(epoch from now() - min(created_at)), 0)::float8
          from teams_outbox where state = 'pending'
        "#
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| Outbox {
        queue: row.queue,
        pending: row.pending,
        oldest_seconds: row.oldest,
    })
    .collect();
    let others = sqlx::query!(
        r#"
        select (select position from audit_chain_head)
               - coalesce((select position from notification_cursor), 0) as "backlog!",
               (select count(*) from findings where closed_at is null) as "findings!"
        "#
    )
    .fetch_one(&mut *conn)
    .await?;
    drop(conn);
    let jobs = super::jobs::all(pool)
        .await?
        .into_iter()
        .map(|run| JobFigure {
            job: run.job,
            last_run: unix_seconds(run.finished_at),
            last_success: run.ok_at.map(unix_seconds),
            next_due: unix_seconds(run.next_due_at),
            failures: i64::from(run.failures),
        })
        .collect();
    Ok(Figures {
        grants,
        removals_due: due.due,
        removals_overdue: due.overdue,
        oldest_due_seconds: due.oldest,
        outboxes,
        notification_backlog: others.backlog.max(0),
        jobs,
        open_findings: others.findings,
    })
}

fn unix_seconds(at: chrono::DateTime<chrono::Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}
