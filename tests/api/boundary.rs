//! The trust boundary and capacity, through the HTTP surface, with the in-memory directory
//! (the fast tier): races, inputs that once panicked or failed with a 500, decisions that come
//! too late, a slow directory, a panic, and an engine that dies.

use std::sync::Arc;
use std::time::Duration;

use leasegate::server::app::supervisor::{self, EngineTask, Exit};
use leasegate::server::connectors::Connectors;
use leasegate::server::connectors::memory::MemoryDirectory;
use leasegate::server::jobs::account_watch;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::harness::{Options, TestApp};
use crate::seed;

const CONNECTOR: &str = "memory";

struct World {
    app: TestApp,
    dir: Arc<MemoryDirectory>,
    entitlement: String,
}

/// The demo people in an in-memory directory (Adele reports to Megan), one entitlement under
/// manager approval, and the portal with it.
async fn world_with(
    pool: PgPool,
    routes: axum::Router<leasegate::server::app::state::AppState>,
    extra: &[(&'static str, &str)],
) -> World {
    let dir = Arc::new(MemoryDirectory::new());
    let megan = dir.add_person("megan.bowen@contoso.test", "Megan Bowen", None);
    dir.add_person(
        "adele.vance@contoso.test",
        "Adele Vance",
        Some(&megan.reference),
    );
    for (upn, name) in [
        ("alex.wilber@contoso.test", "Alex Wilber"),
        ("irvin.sayers@contoso.test", "Irvin Sayers"),
        ("nestor.wilke@contoso.test", "Nestor Wilke"),
    ] {
        dir.add_person(upn, name, None);
    }
    dir.add_group("cn=ledger,ou=groups");
    let rules = json!({
        "name": "Manager approval",
        "durations": { "default_minutes": 60, "max_minutes": 240, "max_start_delay_minutes": 1440 },
        "justification": { "required": true, "min_chars": 10 },
        "stages": [{ "approvers": "manager" }]
    });
    let id = seed::entitlement_with(&pool, CONNECTOR, "cn=ledger,ou=groups", rules, &[]).await;
    let entitlement: String = sqlx::query_scalar("select key from entitlements where id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, dir.clone());
    let app = TestApp::spawn_with(
        pool,
        Options {
            connectors,
            routes,
            extra: extra.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..Options::default()
        },
    )
    .await;
    World {
        app,
        dir,
        entitlement,
    }
}

async fn world(pool: PgPool) -> World {
    world_with(pool, axum::Router::new(), &[]).await
}

impl World {
    async fn person(&self, account: &str) -> reqwest::Client {
        self.app.person(account).await
    }

    async fn call(
        &self,
        browser: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.app.call(browser, endpoint, form).await
    }

    async fn request_with(
        &self,
        browser: &reqwest::Client,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.app.request(browser, &self.entitlement, extra).await
    }

    async fn count(&self, sql: &str) -> i64 {
        seed::count(&self.app.pool, sql).await
    }
}

fn request_id(body: &Value) -> String {
    body["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request id in {body}"))
        .to_string()
}

fn field(body: &Value) -> &str {
    body["Invalid"]["field"].as_str().unwrap_or_default()
}

#[sqlx::test]
async fn the_same_form_submitted_ten_times_at_once_makes_one_request(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    let token = Uuid::new_v4().to_string();
    let same = [("form[client_token]", token.as_str())];
    let answers = futures::future::join_all((0..10).map(|_| w.request_with(&adele, &same))).await;
    let ids: Vec<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::OK, "{body}");
            request_id(body)
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(w.count("select count(*) from access_requests").await, 1);
}

#[sqlx::test]
async fn inputs_that_once_crashed_the_handler_are_answered_422(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("form[utc_offset_minutes]", "-9223372036854775808")],
            "utc_offset_minutes",
        ),
        (
            vec![("form[utc_offset_minutes]", "9223372036854775807")],
            "utc_offset_minutes",
        ),
        (
            vec![
                ("form[duration]", "custom"),
                ("form[end]", "+262143-12-31T23:59"),
                ("form[utc_offset_minutes]", "-840"),
            ],
            "end",
        ),
        (
            vec![
                ("form[duration]", "custom"),
                ("form[end]", "999999-01-01T00:00"),
            ],
            "end",
        ),
        (
            vec![
                ("form[start]", "later"),
                ("form[start_at]", "-262143-01-01T00:00"),
            ],
            "start_at",
        ),
        (vec![("form[duration]", "99999999999999999999")], "duration"),
        (
            vec![("form[justification]", "Needs the ledger\u{0} for the close")],
            "justification",
        ),
        (vec![("form[ticket]", "CHG\u{0}1")], "ticket"),
        (
            vec![("form[on_behalf_of]", "megan\u{0}@contoso.test")],
            "on_behalf_of",
        ),
    ];
    for (fields, expected) in cases {
        let (status, body) = w.request_with(&adele, &fields).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}: {body}"
        );
        assert_eq!(field(&body), expected, "{fields:?}: {body}");
    }
    // A NUL in a decision comment is refused the same way.
    let megan = w.person("megan").await;
    let (_, body) = w.request_with(&adele, &[]).await;
    let id = request_id(&body);
    let (status, body) = w
        .call(
            &megan,
            "approvals/decide",
            &[
                ("request_id", &id),
                ("outcome", "approve"),
                ("comment", "ok\u{0}"),
            ],
        )
        .await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "comment"),
        "{body}"
    );
    let (status, body) = w.call(&adele, "catalog", &[("query", "ledger\u{0}")]).await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "query"),
        "{body}"
    );
    assert_eq!(w.count("select count(*) from approval_decisions").await, 0);
    assert_eq!(w.count("select count(*) from access_requests").await, 1);
}

#[sqlx::test]
async fn late_decisions_and_decisions_on_withdrawn_entries_are_refused(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let decide = |id: String| {
        let (w, megan) = (&w, &megan);
        async move {
            w.call(
                megan,
                "approvals/decide",
                &[
                    ("request_id", &id),
                    ("outcome", "approve"),
                    ("comment", "ok"),
                ],
            )
            .await
        }
    };
    // Past its deadline, with no engine running to close it.
    let (_, body) = w.request_with(&adele, &[]).await;
    let late = request_id(&body);
    sqlx::query(
        "update access_requests set expires_at = now() - interval '1 second' where id = $1::uuid",
    )
    .bind(&late)
    .execute(&w.app.pool)
    .await
    .unwrap();
    let (status, body) = decide(late.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(crate::harness::said(&body).contains("deadline"), "{body}");
    sqlx::query(
        "update access_requests set state = 'cancelled', closed_at = now() where id = $1::uuid",
    )
    .bind(&late)
    .execute(&w.app.pool)
    .await
    .unwrap();

    // For an entry taken out of the catalog.
    let (_, body) = w.request_with(&adele, &[]).await;
    let withdrawn = request_id(&body);
    sqlx::query("update entitlements set enabled = false")
        .execute(&w.app.pool)
        .await
        .unwrap();
    let (status, body) = decide(withdrawn).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        crate::harness::said(&body).contains("taken out of the catalog"),
        "{body}"
    );
    assert_eq!(w.count("select count(*) from approval_decisions").await, 0);
    assert_eq!(w.count("select count(*) from grants").await, 0);
}

#[sqlx::test]
async fn disabled_accounts_cannot_request(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    w.dir
        .set_enabled("cn=adele.vance@contoso.test,ou=people", false);
    let (status, body) = w.request_with(&adele, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(crate::harness::said(&body).contains("disabled"), "{body}");
    assert_eq!(w.count("select count(*) from access_requests").await, 0);
}

#[sqlx::test]
async fn extending_someone_elses_lease_is_refused(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    let alex = w.person("alex").await;
    let grant: Uuid = sqlx::query_scalar(
        "insert into grants (principal_id, entitlement_id, starts_at, ends_at, next_due_at, connector_id, target_ref)
         select p.id, e.id, now(), now() + interval '1 hour', now(), e.connector_id, e.target_ref
           from principals p, entitlements e where p.upn = 'adele.vance@contoso.test' returning id",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    let token = Uuid::new_v4().to_string();
    let grant = grant.to_string();
    let form = [
        ("grant_id", grant.as_str()),
        ("minutes", "30"),
        ("justification", "Need a little more time"),
        ("client_token", token.as_str()),
    ];
    let (status, body) = w.call(&alex, "lease/extend", &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = w
        .call(&alex, "lease/give-back", &[("grant_id", grant.as_str())])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = w.call(&adele, "lease/extend", &form).await;
    assert_eq!(status, StatusCode::OK, "the holder may: {body}");
}

/// Twenty people submit while every directory call takes two seconds: no database connection
/// is held while the directory is asked, so everyone else's pages still answer meanwhile.
#[sqlx::test]
async fn a_slow_directory_does_not_starve_other_pages(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    let irvin = w.person("irvin").await;
    w.dir.set_delay(Duration::from_secs(2));
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let submissions = futures::future::join_all((0..20).map(|_| async {
        let answer = w.request_with(&adele, &[]).await;
        finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        answer
    }));
    let pages = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..5 {
            let page = irvin.get(w.app.url("/my-access")).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            let (status, body) = w.call(&irvin, "my-access", &[]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        finished.load(std::sync::atomic::Ordering::SeqCst)
    };
    let (answers, finished_before_pages) = tokio::join!(submissions, pages);
    assert_eq!(
        finished_before_pages, 0,
        "the pages were answered while every submission still waited on the directory"
    );
    // One of them is the request; the others are refused as duplicates of a waiting one.
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let conflicts = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 19), "{answers:?}");
}

async fn boom() -> &'static str {
    panic!("injected by a test")
}

#[sqlx::test]
async fn a_panic_is_answered_500_with_a_reference_and_the_portal_keeps_serving(pool: PgPool) {
    let w = world_with(
        pool,
        axum::Router::new().route("/test/panic", axum::routing::get(boom)),
        &[],
    )
    .await;
    let adele = w.person("adele").await;
    let response = adele.get(w.app.url("/test/panic")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let reference = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let text = response.text().await.unwrap();
    assert!(text.contains(&reference), "{text}");
    assert!(
        !text.contains("injected"),
        "the panic stays in the log: {text}"
    );
    w.app
        .logs
        .expect_line(&["panic while serving", "injected by a test", &reference])
        .await;
    let (status, _) = w.call(&adele, "my-access", &[]).await;
    assert_eq!(status, StatusCode::OK, "still serving");
}

/// Starting a sign-in stores nothing (its state waits in a sealed cookie); signed in, the
/// session lasts as long as the idle timeout.
#[sqlx::test]
async fn an_anonymous_sign_in_stores_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    for _ in 0..3 {
        let started = browser.get(app.url("/auth/login")).send().await.unwrap();
        assert_eq!(started.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(
        seed::count(&app.pool, "select count(*) from web_sessions").await,
        0
    );
    app.sign_in(&browser, "adele").await;
    assert_eq!(
        seed::count(&app.pool, "select count(*) from web_sessions").await,
        1
    );
    let longest = seed::count(
        &app.pool,
        "select extract(epoch from max(expiry_date) - now())::bigint from web_sessions",
    )
    .await;
    assert!(longest > 60 * 60, "expires in {longest} s");
}

/// The engine task dies in-process: readiness fails at once, and the serving function ends
/// with the exit that makes `main` return non-zero.
#[sqlx::test]
async fn a_dead_engine_fails_readiness_and_ends_the_process(pool: PgPool) {
    let settings = crate::seed::portal_settings();
    let leptos = leptos::config::get_configuration(None)
        .unwrap()
        .leptos_options;
    let state = leasegate::server::app::router::app_state(
        Arc::new(settings),
        pool,
        leptos,
        Connectors::default(),
    );
    let status = state.engine.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, _stopping) = tokio::sync::watch::channel(false);
    let engine = EngineTask {
        handle: tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            panic!("the engine dies");
        }),
        stop,
    };
    let serving = tokio::spawn(supervisor::serve(
        listener,
        leasegate::server::app::router::build(state),
        Some(engine),
        status,
        Duration::from_secs(3),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "ready while the engine runs"
    );
    let mut saw_unready = false;
    for _ in 0..100 {
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::SERVICE_UNAVAILABLE {
            let body: Value = ready.json().await.unwrap();
            assert_eq!(body["engine"], "stopped", "{body}");
            saw_unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_unready, "readiness failed once the engine was gone");
    let exit = serving.await.unwrap().unwrap();
    assert_eq!(exit, Exit::EngineStopped);
}

#[sqlx::test]
async fn only_administrators_close_removals_that_need_a_person(pool: PgPool) {
    let w = world(pool).await;
    w.person("adele").await;
    let alex = w.person("alex").await;
    let nestor = w.person("nestor").await;
    let grant: Uuid = sqlx::query_scalar(
        "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state, next_due_at,
                             connector_id, target_ref, account_ref, provisioned_at, attention,
                             overdue_since, revoke_reason)
         select p.id, e.id, now() - interval '2 hours', now() - interval '1 hour', 'revoking',
                now() + interval '1 hour', e.connector_id, e.target_ref,
                'cn=adele.vance@contoso.test,ou=people', now() - interval '2 hours',
                'account_missing', now() - interval '1 hour', 'expired'
           from principals p, entitlements e where p.upn = 'adele.vance@contoso.test' returning id",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    let id = grant.to_string();
    let (_, overview) = w.call(&nestor, "admin", &[]).await;
    assert_eq!(overview["stuck"][0]["grant_id"], id.as_str(), "{overview}");
    let note = "Checked AD: the account was deleted by HR on Monday";
    let (status, _) = w
        .call(
            &alex,
            "admin/resolve-removal",
            &[("grant_id", &id), ("note", note)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .call(
            &nestor,
            "admin/resolve-removal",
            &[("grant_id", &id), ("note", "ok")],
        )
        .await;
    assert_eq!(
        (status, field(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "note"),
        "{body}"
    );
    let (status, body) = w
        .call(
            &nestor,
            "admin/resolve-removal",
            &[("grant_id", &id), ("note", note)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = w
        .call(
            &nestor,
            "admin/resolve-removal",
            &[("grant_id", &id), ("note", note)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "only once");
    assert_eq!(
        w.count("select count(*) from grants where state = 'revoked' and removal = 'resolved' and verified_at is null")
            .await,
        1
    );
    let actor: String = sqlx::query_scalar(
        "select actor_label from audit_events where action = 'grant.removal_resolved'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(actor, "Nestor Wilke");
}

/// A person disabled in a directory loses their session within the re-check (a second here,
/// two minutes by default) after the account watch sees it, cannot sign in again while
/// disabled, and is let back in once enabled.
#[sqlx::test]
async fn a_person_disabled_in_the_directory_loses_their_session(pool: PgPool) {
    let w = world_with(
        pool,
        axum::Router::new(),
        &[("LEASEGATE_SESSION_RECHECK", "1s")],
    )
    .await;
    let adele = w.person("adele").await;
    let (status, _) = w.call(&adele, "my-access", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, w.dir.clone());
    let window = Duration::from_secs(3600);

    w.dir
        .set_enabled("cn=adele.vance@contoso.test,ou=people", false);
    let watched = account_watch::check(&w.app.pool, &connectors, window)
        .await
        .unwrap();
    assert_eq!(watched.barred, 1, "{watched:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = w.call(&adele, "my-access", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let page = adele.get(w.app.url("/my-access")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "sent to sign in");
    assert_eq!(
        w.count("select count(*) from audit_events where action = 'principal.disabled'")
            .await,
        1
    );
    // Signing in again is refused while the account is disabled, in words that say why.
    let (callback, _) = w.app.sign_in(&adele, "adele").await;
    assert_eq!(callback.status(), StatusCode::FORBIDDEN);
    let page = callback.text().await.unwrap();
    assert!(page.contains("account is disabled or expired"), "{page}");
    assert!(w.app.signed_in_as(&adele).await.is_none());
    // A directory that does not answer bars nobody and restores nobody.
    w.dir
        .set_enabled("cn=adele.vance@contoso.test,ou=people", true);
    w.dir.fail_next(
        leasegate::server::connectors::memory::Calls::Any,
        1,
        leasegate::server::connectors::ConnectorError::Transient("down".into()),
    );
    let watched = account_watch::check(&w.app.pool, &connectors, window)
        .await
        .unwrap();
    assert_eq!((watched.barred, watched.restored), (0, 0), "{watched:?}");
    // Enabled again: let back in.
    let watched = account_watch::check(&w.app.pool, &connectors, window)
        .await
        .unwrap();
    assert_eq!(watched.restored, 1, "{watched:?}");
    let (callback, _) = w.app.sign_in(&adele, "adele").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        w.app.signed_in_as(&adele).await.as_deref(),
        Some("Adele Vance")
    );
}

#[sqlx::test]
async fn auditors_verify_the_trail_and_employees_may_not(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    let irvin = w.person("irvin").await;
    let (status, _) = w.call(&adele, "governance/verify", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w.call(&irvin, "governance/verify", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["intact"], true, "{body}");
    assert_eq!(body["signed"], false, "no key in this portal: {body}");
}

/// Four eyes: what a policy change would have meant is shown before it is approved, and a
/// change whose target moved on meanwhile is closed instead of overwriting the newer state.
#[sqlx::test]
async fn policy_changes_show_their_impact_and_never_apply_stale(pool: PgPool) {
    let w = world(pool).await;
    let adele = w.person("adele").await;
    let nestor = w.person("nestor").await;
    let diego = w.person("diego").await;
    // Adele asked three times this month (the last still waits).
    for _ in 0..3 {
        let (_, body) = w.request_with(&adele, &[]).await;
        if let Some(id) = body["request_id"].as_str() {
            w.call(&adele, "request/cancel", &[("request_id", id)])
                .await;
        }
    }
    let (_, overview) = w.call(&nestor, "admin", &[]).await;
    let key = overview["policies"][0]["key"].as_str().unwrap().to_string();
    let rules = overview["policies"][0]["rules_toml"]
        .as_str()
        .unwrap()
        .to_string();
    // No approval at all: everything after `[[stages]]` goes.
    let auto = rules.split("[[stages]]").next().unwrap().to_string();
    let (status, body) = w
        .call(
            &nestor,
            "admin/policy/edit",
            &[("key", &key), ("rules", &auto)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, overview) = w.call(&diego, "admin", &[]).await;
    let impact = overview["changes"][0]["impact"].to_string();
    assert!(
        impact.contains("1 person (3 requests) in the last 30 days would have been granted this with nobody approving"),
        "{impact}"
    );
    // A second proposal for the same policy waits its turn.
    let (status, _) = w
        .call(
            &diego,
            "admin/policy/edit",
            &[("key", &key), ("rules", &rules)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The policy changes another way meanwhile (a reload of the file, say): the change is stale.
    sqlx::query("update policies set rules = jsonb_set(rules, '{pending_days}', '3')")
        .execute(&w.app.pool)
        .await
        .unwrap();
    let id = overview["changes"][0]["change_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = w
        .call(&diego, "admin/change/approve", &[("change_id", &id)])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        w.count("select count(*) from catalog_changes where state = 'stale'")
            .await,
        1
    );
    let stages: i64 = seed::count(
        &w.app.pool,
        "select jsonb_array_length(rules->'stages')::bigint from policies",
    )
    .await;
    assert_eq!(stages, 1, "still needs approval");
    // Its author may withdraw a change, not approve it.
    let (_, _) = w
        .call(
            &nestor,
            "admin/policy/edit",
            &[("key", &key), ("rules", &auto)],
        )
        .await;
    let (_, overview) = w.call(&nestor, "admin", &[]).await;
    let id = overview["changes"][0]["change_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = w
        .call(
            &nestor,
            "admin/change/reject",
            &[("change_id", &id), ("comment", "not now")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        w.count("select count(*) from catalog_changes where state = 'rejected'")
            .await,
        1
    );
}
