//! `/metrics`: who may read it, what it counts, and a real Prometheus scraping the real portal
//! binary and reading the removal lag and the outbox depth back through its own HTTP API; the
//! installation's figures as the database holds them; and
//! the same binary's traces, received as an OpenTelemetry collector receives them (OTLP/HTTP).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::{openldap, unique};
use crate::faults::{database_url, portal, terminate};
use crate::harness::TestApp;

const TOKEN: &str = "scrape-token-0123456789abcdef";

#[sqlx::test]
async fn metrics_are_off_without_a_token(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = reqwest::get(app.url("/metrics")).await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert!(text.contains("LEASEGATE_METRICS_TOKEN"), "{text}");
}

#[sqlx::test]
async fn metrics_need_the_token_and_count_answers_by_route(pool: PgPool) {
    let app = TestApp::spawn_with_env(pool.clone(), &[("LEASEGATE_METRICS_TOKEN", TOKEN)]).await;
    let client = reqwest::Client::new();
    let scrape = |token: Option<&str>| {
        let request = client.get(app.url("/metrics"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };

    // Nobody without the token: not a signed-in administrator, not a wrong or partial token.
    let browser = app.person("nestor").await;
    for refused in [
        browser.get(app.url("/metrics")).send().await.unwrap(),
        scrape(None).send().await.unwrap(),
        scrape(Some("scrape-token")).send().await.unwrap(),
        scrape(Some(&format!("{TOKEN}x"))).send().await.unwrap(),
    ] {
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            refused.headers()["www-authenticate"],
            "Bearer realm=\"metrics\""
        );
        assert!(!refused.text().await.unwrap().contains("leasegate_"));
    }

    // Answers are counted by the route's template; a made-up path makes no series of its own.
    let made_up = format!("/no-such-page-{}", unique());
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
    // Signed out, a page sends the person to sign in.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        no_redirects
            .get(app.url(&made_up))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    waiting_mail(&pool).await;

    let response = scrape(Some(TOKEN)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            "leasegate_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\",status=\"2xx\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "leasegate_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"3xx\"} 1"
        ),
        "{text}"
    );
    assert!(!text.contains(&made_up));
    assert!(
        text.contains("leasegate_outbox_pending{queue=\"mail\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("leasegate_outbox_pending{queue=\"teams\"} 0"),
        "{text}"
    );
    assert!(text.contains("leasegate_removals_due 0"), "{text}");
    for state in ["scheduled", "active", "revoking", "failed"] {
        assert!(
            text.contains(&format!("leasegate_grants{{state=\"{state}\"}} 0")),
            "{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"));
}

/// A mail in the outbox that no mail server takes (none is configured).
async fn waiting_mail(pool: &PgPool) {
    sqlx::query(
        "insert into mail_outbox (topic, kind, address, language, subject, text_body, html_body)
         values ('test:1', 'test', 'adele@contoso.test', 'en', 's', 't', 'h')",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on now (Prometheus is told its address up front).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One Prometheus query's single value, once it has one.
async fn query(prometheus: &str, promql: &str) -> Option<f64> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    assert_eq!(answer["status"], "success", "{promql}: {answer}");
    let value = answer["data"]["result"].get(0)?["value"][1].as_str()?;
    value.parse().ok()
}

async fn eventually_value(prometheus: &str, promql: &str, wanted: impl Fn(f64) -> bool) -> f64 {
    let started = Instant::now();
    loop {
        let value = query(prometheus, promql).await;
        if let Some(value) = value.filter(|v| wanted(*v)) {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "Prometheus never had the wanted value of {promql} (last: {value:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A span as an OpenTelemetry collector received it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    attributes: std::collections::BTreeMap<String, String>,
}

/// An OTLP/HTTP endpoint (`POST /v1/traces`, protobuf) that keeps every span it is sent.
async fn collector() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message as _;

    let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = spans.clone();
    let text = |value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>| match value
        .and_then(|v| v.value.as_ref())
    {
        Some(Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let receive = move |body: axum::body::Bytes| {
        let kept = kept.clone();
        async move {
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
            let mut kept = kept.lock().unwrap();
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|a| a.key == "service.name")
                    .map(|a| text(a.value.as_ref()))
                    .unwrap_or_default();
                for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                    kept.push(Received {
                        service: service.clone(),
                        name: span.name,
                        trace_id: span.trace_id,
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(a.value.as_ref())))
                            .collect(),
                    });
                }
            }
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(receive));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, spans)
}

/// The spans received so far that `wanted` picks, once there is one.
async fn eventually_span(
    spans: &std::sync::Mutex<Vec<Received>>,
    what: &str,
    wanted: impl Fn(&Received) -> bool,
) -> Received {
    let started = Instant::now();
    loop {
        if let Some(span) = spans.lock().unwrap().iter().find(|s| wanted(s)) {
            return span.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the collector never received {what}; it received {:?}",
            spans
                .lock()
                .unwrap()
                .iter()
                .take(20)
                .map(|s| (&s.name, &s.attributes))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test]
async fn prometheus_reads_the_removal_lag_and_a_collector_the_traces(pool: PgPool) {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = format!("lag.{id}@contoso.test");
    let person = dir
        .add_user(&mut admin, &format!("Lag {id}"), &upn, None, None)
        .await;
    let keeper = format!("cn=keeper-{id},{}", dir.people);
    let group = dir
        .add_group(&mut admin, &format!("Lag {id}"), &[keeper, person.clone()])
        .await;

    let work = std::env::temp_dir().join(format!("leasegate-metrics-{id}"));
    std::fs::create_dir_all(&work).unwrap();
    let text = format!(
        "[connectors.metrics-directory]\nkind = \"ldap\"\nurl = \"{}\"\nca_file = \"{}\"\n\
         bind_dn = \"{}\"\npassword_env = \"LEASEGATE_SECRET_FAULT_DIRECTORY\"\nuser_base = \"{}\"\n\
         group_base = \"{}\"\naccount_attribute = \"mail\"\n\n[policies.auto]\nname = \"Auto\"\n\
         durations = {{ default_minutes = 60, max_minutes = 480 }}\n\n[[entitlements]]\n\
         key = \"lag\"\nconnector = \"metrics-directory\"\ngroup = \"{group}\"\nname = \"Lag\"\n\
         policy = \"auto\"\n",
        dir.url, dir.ca_file, dir.admin_dn, dir.people, dir.groups
    );
    let catalog_file = work.join("catalog.toml");
    std::fs::write(&catalog_file, &text).unwrap();
    crate::seed::catalog(&pool, &text).await;

    // A lease held now that ends a few seconds after the portal is up, and a mail that cannot
    // go out (no mail server is configured), waiting in the outbox.
    let principal: Uuid = sqlx::query_scalar(
        "insert into principals (tenant_id, object_id, upn, display_name)
         values ('t', $1, $2, $2) returning id",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(&upn)
    .fetch_one(&pool)
    .await
    .unwrap();
    let ends_at = Utc::now() + TimeDelta::seconds(6);
    sqlx::query(
        "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                             provisioned_at, next_due_at, connector_id, target_ref)
         select $1, id, now() - interval '1 hour', $2, 'active', now() - interval '1 hour', $2,
                connector_id, target_ref
           from entitlements where key = 'lag'",
    )
    .bind(principal)
    .bind(ends_at)
    .execute(&pool)
    .await
    .unwrap();
    waiting_mail(&pool).await;

    // The real binary, which logs the address it listens on.
    let database_url = database_url(&pool).await;
    let mut command = portal(
        &database_url,
        &catalog_file.to_string_lossy(),
        &dir.admin_password,
    );
    let (collector_url, spans) = collector().await;
    let mut child = command
        .env("LEASEGATE_METRICS_TOKEN", TOKEN)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector_url)
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("LEASEGATE_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the portal binary");
    let output = child.stdout.take().unwrap();
    let portal_process = Running(child);
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if let Ok(log) = serde_json::from_str::<serde_json::Value>(&line)
                && log["fields"]["message"] == "Leasegate is serving"
            {
                let _ = address_tx.send(log["fields"]["listen"].as_str().unwrap().to_string());
            }
        }
    });
    let portal_address = address_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the portal says where it listens");

    // A real Prometheus, scraping every second with the token.
    let prometheus_port = free_port();
    let config = work.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            r#"global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: leasegate
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ['{portal_address}']
"#
        ),
    )
    .unwrap();
    let prometheus_process = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prometheus (Debian's package `prometheus`, .ci/setup.sh)"),
    );
    let prometheus = format!("http://127.0.0.1:{prometheus_port}");

    let up = eventually_value(&prometheus, "up{job=\"leasegate\"}", |v| v == 1.0).await;
    assert_eq!(up, 1.0);
    // The removal, as the engine made it and read it back.
    let removals = eventually_value(
        &prometheus,
        "sum(leasegate_removal_lag_seconds_count{connector=\"metrics-directory\"})",
        |v| v >= 1.0,
    )
    .await;
    assert_eq!(removals, 1.0);
    let lag = eventually_value(
        &prometheus,
        "sum(leasegate_removal_lag_seconds_sum{connector=\"metrics-directory\"})",
        |_| true,
    )
    .await;
    let revoked_at: chrono::DateTime<Utc> =
        sqlx::query_scalar("select revoked_at from grants where principal_id = $1")
            .bind(principal)
            .fetch_one(&pool)
            .await
            .unwrap();
    let recorded_lag = (revoked_at - ends_at).as_seconds_f64();
    assert!(
        lag >= 0.0 && (lag - recorded_lag).abs() < 2.0,
        "Prometheus's lag {lag} s is the recorded one ({recorded_lag} s)"
    );
    assert!(!dir.is_member(&mut admin, &group, &person).await);
    // The connector calls that removal took, timed and without errors.
    let revokes = eventually_value(
        &prometheus,
        "sum(leasegate_connector_call_duration_seconds_count{connector=\"metrics-directory\",operation=\"revoke\"})",
        |v| v >= 1.0,
    )
    .await;
    assert!(revokes >= 1.0);
    // The outbox's depth and age; the removal no longer due.
    let pending = eventually_value(
        &prometheus,
        "max(leasegate_outbox_pending{queue=\"mail\"})",
        |_| true,
    )
    .await;
    assert_eq!(pending, 1.0);
    eventually_value(
        &prometheus,
        "max(leasegate_outbox_oldest_seconds{queue=\"mail\"})",
        |v| v > 0.0,
    )
    .await;
    eventually_value(&prometheus, "max(leasegate_removals_due)", |v| v == 0.0).await;
    // The engine's job ran in this process and recorded its last run for everyone.
    eventually_value(
        &prometheus,
        "sum(leasegate_job_runs_total{name=\"grants\",outcome=\"ok\"})",
        |v| v >= 1.0,
    )
    .await;
    eventually_value(
        &prometheus,
        "max(leasegate_job_last_success_timestamp_seconds{name=\"grants\"})",
        |v| v > ends_at.timestamp() as f64 - 60.0,
    )
    .await;

    // Traces: a request's span carries the correlation id its answer has; the removal's
    // connector calls are spans inside the grants job's run, in one trace.
    let answer = reqwest::get(format!("http://{portal_address}/healthz"))
        .await
        .unwrap();
    let correlation = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let request = eventually_span(&spans, "the request's span", |s| {
        s.name == "request" && s.attributes.get("id") == Some(&correlation)
    })
    .await;
    assert_eq!(request.service, "leasegate");
    assert_eq!(request.attributes["path"], "/healthz");
    let revoke = eventually_span(&spans, "the revoke call's span", |s| {
        s.name == "connector" && s.attributes.get("operation").map(String::as_str) == Some("revoke")
    })
    .await;
    assert_eq!(revoke.attributes["connector"], "metrics-directory");
    eventually_span(&spans, "the grants run the revoke was part of", |s| {
        s.name == "job"
            && s.attributes.get("job").map(String::as_str) == Some("grants")
            && s.trace_id == revoke.trace_id
    })
    .await;

    drop(prometheus_process);
    let mut portal_process = portal_process;
    terminate(&mut portal_process.0);
    std::fs::remove_dir_all(&work).ok();
}

/// The installation's figures, from grants in every state: what is due and what is overdue by
/// the removal grace, as the dashboard counts them.
#[sqlx::test]
async fn the_figures_count_grants_by_state_and_removals_due_and_overdue(pool: PgPool) {
    crate::seed::catalog(
        &pool,
        "[connectors.corp]\nkind = \"ldap\"\nurl = \"ldaps://dc.contoso.test\"\n\
         bind_dn = \"cn=svc\"\npassword_env = \"LEASEGATE_SECRET_CORP\"\n\
         user_base = \"dc=contoso\"\ngroup_base = \"dc=contoso\"\n\n[policies.auto]\n\
         name = \"Auto\"\ndurations = { default_minutes = 60, max_minutes = 480 }\n\n\
         [[entitlements]]\nkey = \"figures\"\nconnector = \"corp\"\ngroup = \"cn=g,dc=contoso\"\n\
         name = \"Figures\"\npolicy = \"auto\"\n",
    )
    .await;
    // (state, seconds from now to the end, flagged overdue, next due set)
    let grants = [
        ("scheduled", 3600, false, true),
        ("active", 3600, false, true),
        // Past its end within the grace: due, not overdue.
        ("active", -30, false, true),
        // Past its end beyond the grace (120 s): due and overdue.
        ("active", -600, false, true),
        // Flagged overdue by the engine although within the grace.
        ("revoking", -10, true, true),
        ("failed", 3600, false, false),
        ("revoked", -7200, false, false),
    ];
    for (state, ends_in, overdue, due) in grants {
        let principal: Uuid = sqlx::query_scalar(
            "insert into principals (tenant_id, object_id, upn, display_name)
             values ('t', $1, $1, $1) returning id",
        )
        .bind(Uuid::new_v4().to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        let removal = (state == "revoked").then_some("verified");
        sqlx::query(
            "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                                 next_due_at, overdue_since, removal, revoked_at, verified_at,
                                 connector_id, target_ref)
             select $1, id, now() - interval '3 hours', now() + make_interval(secs => $2), $3,
                    case when $5 then now() end, case when $4 then now() end, $6,
                    case when $6 is not null then now() end,
                    case when $6 is not null then now() end, connector_id, target_ref
               from entitlements where key = 'figures'",
        )
        .bind(principal)
        .bind(ends_in as f64)
        .bind(state)
        .bind(overdue)
        .bind(due)
        .bind(removal)
        .execute(&pool)
        .await
        .unwrap();
    }
    let figures = leasegate::server::db::figures::read(&pool, 120.0)
        .await
        .unwrap();
    assert_eq!(
        figures.grants,
        [
            ("scheduled", 1),
            ("active", 3),
            ("revoking", 1),
            ("failed", 1)
        ]
        .map(|(s, n)| (s.to_string(), n))
        .to_vec()
    );
    assert_eq!(figures.removals_due, 3);
    assert_eq!(figures.removals_overdue, 2);
    assert!(
        (600.0..700.0).contains(&figures.oldest_due_seconds),
        "{}",
        figures.oldest_due_seconds
    );
}
