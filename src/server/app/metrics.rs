//! What the portal measures of itself, for Prometheus to scrape at `/metrics`
//! (docs/operations.md lists every series and what to alert on).
//!
//! Two kinds of figure:
//! - **This process's**: HTTP latency by route, connector calls and their errors, throttling
//!   waits, job runs, and the removal lag of the removals this process made. Counters and
//!   histograms; Prometheus sums them over the replicas.
//! - **The installation's**, read from PostgreSQL at each scrape ([`Figures`]): grants by state,
//!   removals due and overdue, outbox depth and age, each job's last run. Every replica reports
//!   the same values; alert rules take `max` over them.
//!
//! One registry per portal (no process-wide globals), so that tests which start several portals
//! in one process each read their own.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The content type of [`Metrics::render`]'s answer (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Removal lag, seconds: a removal within a second is the promise, minutes is an incident.
const LAG_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];
/// Latency of HTTP answers and connector calls, seconds.
const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    connector: String,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    connector: String,
    operation: &'static str,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    /// Not `job`: Prometheus gives every scraped series the scrape job's name as `job`.
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobOutcomeLabels {
    name: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

type Seconds = Gauge<f64, AtomicU64>;
type SecondsTotal = Counter<f64, AtomicU64>;

/// How a connector call ended, as the engine sorts failures (`ConnectorError`'s kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallClass {
    Transient,
    Throttled,
    Permanent,
}

impl CallClass {
    fn label(self) -> &'static str {
        match self {
            CallClass::Transient => "transient",
            CallClass::Throttled => "throttled",
            CallClass::Permanent => "permanent",
        }
    }
}

/// The installation's state as PostgreSQL holds it, read at each scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Grants that are not yet over, by state (`scheduled`, `active`, `revoking`, `failed`).
    pub grants: Vec<(String, i64)>,
    /// Leases past their end whose removal is not yet read back.
    pub removals_due: i64,
    /// Of those, the ones past the removal grace or flagged overdue (the dashboard's measure).
    pub removals_overdue: i64,
    /// Seconds since the end of the oldest lease still not removed (0 when none).
    pub oldest_due_seconds: f64,
    /// Messages waiting to go out, and the age of the oldest, per outbox.
    pub outboxes: Vec<Outbox>,
    /// Trail events the notifier has not read yet.
    pub notification_backlog: i64,
    pub jobs: Vec<JobFigure>,
    /// Open reconciliation findings (shadow access, drift).
    pub open_findings: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outbox {
    pub queue: String,
    pub pending: i64,
    pub oldest_seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobFigure {
    pub job: String,
    /// Unix seconds of the last run's end, and of the last run that ended well.
    pub last_run: f64,
    pub last_success: Option<f64>,
    /// Unix seconds by which the job should have run again.
    pub next_due: f64,
    /// Runs in a row that failed.
    pub failures: i64,
}

tokio::task_local! {
    /// Throttling waits of the connector call running in this task (see [`counting_waits`]).
    static WAITED: std::cell::Cell<Duration>;
}

/// Runs one connector call, and answers with it the time the call spent waiting because its
/// system asked it to slow down (what the call reported through [`waited`]).
pub async fn counting_waits<F: std::future::Future>(call: F) -> (F::Output, Duration) {
    WAITED
        .scope(std::cell::Cell::new(Duration::ZERO), async move {
            let output = call.await;
            (output, WAITED.with(std::cell::Cell::get))
        })
        .await
}

/// A connector waits `wait` because its system is throttling it; counted for the call that
/// runs in this task, if it is being counted.
pub fn waited(wait: Duration) {
    let _ = WAITED.try_with(|waited| waited.set(waited.get() + wait));
}

/// The portal's measures. Cheap to clone; every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    http: Histograms<RouteLabels>,
    connector_calls: Histograms<CallLabels>,
    connector_errors: Family<ErrorLabels, Counter>,
    throttle_waits: Family<ConnectorLabels, SecondsTotal>,
    removal_lag: Histograms<ConnectorLabels>,
    job_runs: Family<JobOutcomeLabels, Counter>,
    job_duration: Histograms<JobLabels>,
    // The installation's, set from [`Figures`] before each rendering.
    grants: Family<StateLabels, Gauge>,
    removals_due: Gauge,
    removals_overdue: Gauge,
    oldest_due: Seconds,
    outbox_pending: Family<QueueLabels, Gauge>,
    outbox_oldest: Family<QueueLabels, Seconds>,
    notification_backlog: Gauge,
    job_last_run: Family<JobLabels, Seconds>,
    job_last_success: Family<JobLabels, Seconds>,
    job_failures: Family<JobLabels, Gauge>,
    job_next_due: Family<JobLabels, Seconds>,
    open_findings: Gauge,
    /// Renderings do not interleave their setting of the installation's gauges.
    rendering: std::sync::Mutex<()>,
    /// The jobs this process runs, once it runs them: rows of jobs no longer configured (the
    /// checkpoints after the audit key was removed) are not reported as overdue for ever.
    jobs: std::sync::OnceLock<Vec<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A histogram family whose histograms all have the same buckets.
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn lag() -> Histogram {
    Histogram::new(LAG_BUCKETS)
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("leasegate");
        let http = Histograms::new_with_constructor(latency as fn() -> Histogram);
        r.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by method, route template and status class",
            Unit::Seconds,
            http.clone(),
        );
        let connector_calls = Histograms::new_with_constructor(latency as fn() -> Histogram);
        r.register_with_unit(
            "connector_call_duration",
            "Time of a call to a connected system (directory, Graph, Azure), by connector and \
             operation, retries and throttling waits included",
            Unit::Seconds,
            connector_calls.clone(),
        );
        let connector_errors = Family::default();
        r.register(
            "connector_call_errors",
            "Connector calls that failed, by class: transient, throttled or permanent",
            connector_errors.clone(),
        );
        let throttle_waits = Family::default();
        r.register_with_unit(
            "connector_throttle_wait",
            "Time spent waiting on a system's Retry-After (or backoff after 429/503/504)",
            Unit::Seconds,
            throttle_waits.clone(),
        );
        let removal_lag = Histograms::new_with_constructor(lag as fn() -> Histogram);
        r.register_with_unit(
            "removal_lag",
            "From a lease's end to its removal read back from the target, for the removals \
             this process made",
            Unit::Seconds,
            removal_lag.clone(),
        );
        let job_runs = Family::default();
        r.register(
            "job_runs",
            "Runs of each background job in this process, by outcome (ok, error)",
            job_runs.clone(),
        );
        let job_duration = Histograms::new_with_constructor(latency as fn() -> Histogram);
        r.register_with_unit(
            "job_run_duration",
            "Time of one run of a background job in this process",
            Unit::Seconds,
            job_duration.clone(),
        );
        let grants = Family::default();
        r.register(
            "grants",
            "Grants not yet over, by state (the installation's, from the database)",
            grants.clone(),
        );
        let removals_due = Gauge::default();
        r.register(
            "removals_due",
            "Leases past their end whose removal is not read back yet",
            removals_due.clone(),
        );
        let removals_overdue = Gauge::default();
        r.register(
            "removals_overdue",
            "Leases past their end by more than the removal grace, or flagged overdue",
            removals_overdue.clone(),
        );
        let oldest_due = Seconds::default();
        r.register_with_unit(
            "removal_oldest_due",
            "Since the end of the oldest lease whose removal is not read back yet (0: none)",
            Unit::Seconds,
            oldest_due.clone(),
        );
        let outbox_pending = Family::default();
        r.register(
            "outbox_pending",
            "Messages waiting to be sent, by outbox (mail, teams)",
            outbox_pending.clone(),
        );
        let outbox_oldest = Family::default();
        r.register_with_unit(
            "outbox_oldest",
            "Age of the oldest message waiting in each outbox (0: none waits)",
            Unit::Seconds,
            outbox_oldest.clone(),
        );
        let notification_backlog = Gauge::default();
        r.register(
            "notification_backlog_events",
            "Audit trail events the notifier has not read yet",
            notification_backlog.clone(),
        );
        let job_last_run = Family::default();
        r.register_with_unit(
            "job_last_run_timestamp",
            "When each job's last run ended, in any replica (Unix time)",
            Unit::Seconds,
            job_last_run.clone(),
        );
        let job_last_success = Family::default();
        r.register_with_unit(
            "job_last_success_timestamp",
            "When each job's last successful run ended, in any replica (Unix time)",
            Unit::Seconds,
            job_last_success.clone(),
        );
        let job_failures = Family::default();
        r.register(
            "job_failures_in_row",
            "Runs of each job in a row that failed (0 after a success)",
            job_failures.clone(),
        );
        let job_next_due = Family::default();
        r.register_with_unit(
            "job_next_due_timestamp",
            "When each job is due to run again at the latest (Unix time); well past it, no \
             replica runs the job",
            Unit::Seconds,
            job_next_due.clone(),
        );
        let open_findings = Gauge::default();
        r.register(
            "findings_open",
            "Open reconciliation findings: access held without a lease, drift",
            open_findings.clone(),
        );
        Self(Arc::new(Inner {
            registry: r,
            http,
            connector_calls,
            connector_errors,
            throttle_waits,
            removal_lag,
            job_runs,
            job_duration,
            grants,
            removals_due,
            removals_overdue,
            oldest_due,
            outbox_pending,
            outbox_oldest,
            notification_backlog,
            job_last_run,
            job_last_success,
            job_failures,
            job_next_due,
            open_findings,
            rendering: std::sync::Mutex::new(()),
            jobs: std::sync::OnceLock::new(),
        }))
    }

    /// One HTTP answer. `route` is the route's template (`/requests/{id}`), never the path as
    /// sent, so that the series stay few.
    pub fn http_answered(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = RouteLabels {
            method: method.to_string(),
            route: route.to_string(),
            status: format!("{}xx", status / 100),
        };
        self.0
            .http
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// One call to a connected system, and how it failed, if it did.
    pub fn connector_called(
        &self,
        connector: &str,
        operation: &'static str,
        took: Duration,
        failure: Option<CallClass>,
    ) {
        let labels = CallLabels {
            connector: connector.to_string(),
            operation,
        };
        self.0
            .connector_calls
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if let Some(class) = failure {
            let labels = ErrorLabels {
                connector: connector.to_string(),
                operation,
                class: class.label(),
            };
            self.0.connector_errors.get_or_create(&labels).inc();
        }
    }

    /// Time a connector waited because its system asked it to slow down.
    pub fn throttled(&self, connector: &str, waited: Duration) {
        let labels = ConnectorLabels {
            connector: connector.to_string(),
        };
        self.0
            .throttle_waits
            .get_or_create(&labels)
            .inc_by(waited.as_secs_f64());
    }

    /// A removal read back from its target `lag` after the lease's end (zero when it was given
    /// back early).
    pub fn removed(&self, connector: &str, lag: Duration) {
        let labels = ConnectorLabels {
            connector: connector.to_string(),
        };
        self.0
            .removal_lag
            .get_or_create(&labels)
            .observe(lag.as_secs_f64());
    }

    /// One run of a background job in this process.
    pub fn job_ran(&self, job: &str, took: Duration, failed: bool) {
        let outcome = if failed { "error" } else { "ok" };
        self.0
            .job_runs
            .get_or_create(&JobOutcomeLabels {
                name: job.to_string(),
                outcome,
            })
            .inc();
        self.0
            .job_duration
            .get_or_create(&JobLabels {
                name: job.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Names the jobs this process runs; from then on only their runs are reported. A process
    /// that runs none (`LEASEGATE_ENGINE=false`) reports every job the database knows.
    pub fn runs_jobs(&self, names: impl IntoIterator<Item = &'static str>) {
        let _ = self
            .0
            .jobs
            .set(names.into_iter().map(str::to_string).collect());
    }

    /// Every series in the text format Prometheus scrapes, the installation's from `figures`.
    pub fn render(&self, figures: &Figures) -> String {
        let inner = &self.0;
        let _one_at_a_time = inner
            .rendering
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Series of states, queues and jobs that have gone are dropped, not left at old values.
        inner.grants.clear();
        for (state, count) in &figures.grants {
            inner
                .grants
                .get_or_create(&StateLabels {
                    state: state.clone(),
                })
                .set(*count);
        }
        inner.removals_due.set(figures.removals_due);
        inner.removals_overdue.set(figures.removals_overdue);
        inner.oldest_due.set(figures.oldest_due_seconds);
        inner.outbox_pending.clear();
        inner.outbox_oldest.clear();
        for outbox in &figures.outboxes {
            let labels = QueueLabels {
                queue: outbox.queue.clone(),
            };
            inner
                .outbox_pending
                .get_or_create(&labels)
                .set(outbox.pending);
            inner
                .outbox_oldest
                .get_or_create(&labels)
                .set(outbox.oldest_seconds);
        }
        inner.notification_backlog.set(figures.notification_backlog);
        inner.job_last_run.clear();
        inner.job_last_success.clear();
        inner.job_failures.clear();
        inner.job_next_due.clear();
        let configured = inner.jobs.get();
        for job in figures
            .jobs
            .iter()
            .filter(|j| configured.is_none_or(|names| names.contains(&j.job)))
        {
            let labels = JobLabels {
                name: job.job.clone(),
            };
            inner.job_last_run.get_or_create(&labels).set(job.last_run);
            if let Some(ok) = job.last_success {
                inner.job_last_success.get_or_create(&labels).set(ok);
            }
            inner.job_failures.get_or_create(&labels).set(job.failures);
            inner.job_next_due.get_or_create(&labels).set(job.next_due);
        }
        inner.open_findings.set(figures.open_findings);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &inner.registry)
            .expect("writing to a String does not fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(start))
    }

    #[test]
    fn renders_what_was_recorded_under_the_documented_names() {
        let m = Metrics::new();
        m.removed("corp-ad", Duration::from_millis(300));
        m.removed("corp-ad", Duration::from_secs(7));
        m.connector_called(
            "corp-ad",
            "revoke",
            Duration::from_millis(20),
            Some(CallClass::Throttled),
        );
        m.throttled("tenant", Duration::from_millis(1500));
        m.job_ran("grants", Duration::from_millis(3), true);
        m.http_answered("GET", "/requests/{id}", 404, Duration::from_millis(2));
        let text = m.render(&Figures {
            grants: vec![("active".into(), 3)],
            removals_due: 2,
            removals_overdue: 1,
            outboxes: vec![Outbox {
                queue: "mail".into(),
                pending: 4,
                oldest_seconds: 12.5,
            }],
            ..Figures::default()
        });
        assert_eq!(
            line(
                &text,
                "leasegate_removal_lag_seconds_count{connector=\"corp-ad\"}"
            ),
            Some("leasegate_removal_lag_seconds_count{connector=\"corp-ad\"} 2")
        );
        assert_eq!(
            line(
                &text,
                "leasegate_removal_lag_seconds_bucket{le=\"0.5\",connector=\"corp-ad\"}"
            ),
            Some("leasegate_removal_lag_seconds_bucket{le=\"0.5\",connector=\"corp-ad\"} 1")
        );
        assert!(text.contains(
            "leasegate_connector_call_errors_total{connector=\"corp-ad\",operation=\"revoke\",class=\"throttled\"} 1"
        ));
        assert!(
            text.contains(
                "leasegate_connector_throttle_wait_seconds_total{connector=\"tenant\"} 1.5"
            )
        );
        assert!(text.contains("leasegate_job_runs_total{name=\"grants\",outcome=\"error\"} 1"));
        assert!(text.contains(
            "leasegate_http_request_duration_seconds_count{method=\"GET\",route=\"/requests/{id}\",status=\"4xx\"} 1"
        ));
        assert!(text.contains("leasegate_grants{state=\"active\"} 3"));
        assert!(text.contains("leasegate_removals_overdue 1"));
        assert!(text.contains("leasegate_outbox_pending{queue=\"mail\"} 4"));
        assert!(text.contains("leasegate_outbox_oldest_seconds{queue=\"mail\"} 12.5"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn only_the_jobs_this_process_runs_are_reported_once_it_names_them() {
        let job = |name: &str| JobFigure {
            job: name.into(),
            last_run: 1.0,
            last_success: None,
            next_due: 2.0,
            failures: 0,
        };
        let figures = Figures {
            jobs: vec![job("grants"), job("checkpoints")],
            ..Figures::default()
        };
        let m = Metrics::new();
        assert!(m.render(&figures).contains("name=\"checkpoints\""));
        m.runs_jobs(["grants", "reconcile"]);
        let text = m.render(&figures);
        assert!(text.contains("leasegate_job_next_due_timestamp_seconds{name=\"grants\"} 2"));
        assert!(!text.contains("name=\"checkpoints\""), "{text}");
    }

    #[test]
    fn a_state_that_emptied_is_no_longer_reported() {
        let m = Metrics::new();
        let with = Figures {
            grants: vec![("failed".into(), 1)],
            ..Figures::default()
        };
        assert!(m.render(&with).contains("state=\"failed\""));
        assert!(!m.render(&Figures::default()).contains("state=\"failed\""));
    }

    #[test]
    fn the_dashboard_and_the_alert_rules_name_only_series_the_portal_exports() {
        // Families without a series are left out: record one of each.
        let m = Metrics::new();
        m.removed("c", Duration::ZERO);
        m.connector_called("c", "grant", Duration::ZERO, Some(CallClass::Transient));
        m.throttled("c", Duration::from_secs(1));
        m.job_ran("j", Duration::ZERO, false);
        m.http_answered("GET", "/", 200, Duration::ZERO);
        let text = m.render(&Figures {
            grants: vec![("active".into(), 1)],
            outboxes: vec![Outbox {
                queue: "mail".into(),
                pending: 1,
                oldest_seconds: 1.0,
            }],
            jobs: vec![JobFigure {
                job: "j".into(),
                last_run: 1.0,
                last_success: Some(1.0),
                next_due: 2.0,
                failures: 0,
            }],
            ..Figures::default()
        });
        let exported: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let name = regex_lite::Regex::new(r"leasegate_[a-z_]+").unwrap();
        for (file, content) in [
            (
                "deploy/prometheus/alerts.yml",
                include_str!("../../../deploy/prometheus/alerts.yml"),
            ),
            (
                "deploy/grafana/leasegate.json",
                include_str!("../../../deploy/grafana/leasegate.json"),
            ),
        ] {
            let named: Vec<&str> = name.find_iter(content).map(|m| m.as_str()).collect();
            assert!(named.len() > 5, "{file} names the portal's series");
            for series in named {
                let family = ["_bucket", "_count", "_sum", "_total"]
                    .iter()
                    .find_map(|suffix| series.strip_suffix(suffix))
                    .unwrap_or(series);
                assert!(
                    exported.contains(family),
                    "{file} names {series}, which the portal does not export"
                );
            }
        }
    }
}
