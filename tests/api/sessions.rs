//! Session cookies and timeouts.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::harness::{TestApp, location, session_cookie, set_cookie_line};

#[sqlx::test]
async fn cookie_is_http_only_and_same_site_lax(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let (callback, _) = app.sign_in(&browser, "adele").await;
    let line = set_cookie_line(callback.headers()).expect("sign-in sets the session cookie");
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Lax"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
    assert!(
        !line.contains("Secure"),
        "plain http must not mark it Secure: {line}"
    );
}

#[sqlx::test]
async fn cookie_is_secure_behind_https(pool: PgPool) {
    let app = TestApp::spawn_with_env(
        pool,
        &[("LEASEGATE_PUBLIC_URL", "https://portal.contoso.test")],
    )
    .await;
    let start = app
        .browser()
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    let line = start
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("leasegate_signin="))
        .expect("starting sign-in sets its cookie")
        .to_string();
    assert!(line.contains("Secure"), "{line}");
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("Path=/auth/callback"), "{line}");
    assert!(start.headers().get("strict-transport-security").is_some());
}

/// A session id planted in the browser before sign-in (session fixation) is never the one that
/// carries the signed-in person.
#[sqlx::test]
async fn session_id_changes_at_sign_in(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(
        &format!(
            "{}={planted}; Path=/",
            leasegate::server::app::router::SESSION_COOKIE
        ),
        &app.url("/").parse().unwrap(),
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar)
        .build()
        .unwrap();
    let start = browser.get(app.url("/auth/login")).send().await.unwrap();
    let (callback, _) = app
        .complete_at_provider(&browser, location(&start), "adele")
        .await;
    let after = session_cookie(callback.headers()).expect("a new cookie at sign-in");
    assert_ne!(planted, after);

    // The planted id does not carry the signed-in person.
    let fixated = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = fixated
        .get(app.url("/my-access"))
        .header(
            "cookie",
            format!(
                "{}={planted}",
                leasegate::server::app::router::SESSION_COOKIE
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/auth/login"));
}

/// Starting a sign-in stores nothing (its state waits in a sealed cookie until the provider
/// answers), and one client address may start only so many a minute.
#[sqlx::test]
async fn sign_in_attempts_store_nothing_and_are_limited_per_address(pool: PgPool) {
    let app = TestApp::spawn_with_env(pool, &[("LEASEGATE_SIGN_IN_PER_MINUTE", "5")]).await;
    for _ in 0..5 {
        let start = app
            .browser()
            .get(app.url("/auth/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from web_sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing stored before the provider answers");
    let limited = app
        .browser()
        .get(app.url("/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // A callback is an attempt too.
    let callback = app
        .browser()
        .get(app.url("/auth/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test]
async fn idle_sessions_end(pool: PgPool) {
    let app = TestApp::spawn_with_env(pool, &[("LEASEGATE_SESSION_IDLE_TIMEOUT", "2s")]).await;
    let browser = app.browser();
    app.sign_in(&browser, "adele").await;
    assert!(app.signed_in_as(&browser).await.is_some());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        app.signed_in_as(&browser).await,
        None,
        "idle for longer than the timeout"
    );
}

#[sqlx::test]
async fn activity_keeps_a_session_until_its_absolute_timeout(pool: PgPool) {
    let app = TestApp::spawn_with_env(
        pool,
        &[
            ("LEASEGATE_SESSION_IDLE_TIMEOUT", "3s"),
            ("LEASEGATE_SESSION_ABSOLUTE_TIMEOUT", "5s"),
        ],
    )
    .await;
    let browser = app.browser();
    app.sign_in(&browser, "adele").await;
    let signed_in = std::time::Instant::now();
    // Active every second: the idle timeout never passes, but the absolute one does.
    while signed_in.elapsed() < Duration::from_millis(4300) {
        assert!(
            app.signed_in_as(&browser).await.is_some(),
            "still within both timeouts"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Less than the idle timeout since the last request, more than the absolute one in all.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        app.signed_in_as(&browser).await,
        None,
        "past the absolute timeout"
    );
    app.logs.expect_line(&["absolute timeout"]).await;
}

#[sqlx::test]
async fn anonymous_page_visits_go_to_sign_in_and_back(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let response = browser
        .get(app.url("/governance?tab=live"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        "/auth/login?return_to=%2Fgovernance%3Ftab%3Dlive"
    );
    let start = browser
        .get(app.url(&location(&response)))
        .send()
        .await
        .unwrap();
    let (callback, _) = app
        .complete_at_provider(&browser, location(&start), "irvin")
        .await;
    assert_eq!(location(&callback), "/governance?tab=live");
}

#[sqlx::test]
async fn server_functions_refuse_anonymous_callers(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .post_same_origin(&app.browser(), "/api/me")
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert!(body.contains("Unauthorized"), "{body}");
}

/// Sessions follow the identity provider: at each re-check the portal asks it again (refresh
/// token). A role taken away there is gone from the session; a person disabled there is signed
/// out. Both within the re-check window (here 1 s; 2 min by default).
#[sqlx::test]
async fn sessions_follow_the_identity_provider(pool: PgPool) {
    let app = TestApp::spawn_with_env(pool, &[("LEASEGATE_SESSION_RECHECK", "1s")]).await;
    let id = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let oid = uuid::Uuid::new_v4().to_string();
    crate::harness::at_provider(
        &id,
        serde_json::json!({
            "upn": format!("{id}@contoso.test"), "oid": oid, "name": "Tess Auditor",
            "roles": ["Leasegate.Auditor"],
        }),
    )
    .await;
    let browser = app.person(&id).await;
    let (status, body) = app.call(&browser, "governance", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Within the window nothing is asked; after it, the provider's word counts.
    crate::harness::at_provider(&id, serde_json::json!({ "roles": [] })).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app.call(&browser, "governance", &[]).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the auditor role is gone: {body}"
    );
    let (status, body) = app.call(&browser, "my-access", &[]).await;
    assert_eq!(status, StatusCode::OK, "still signed in: {body}");
    let recorded: Vec<String> =
        sqlx::query_scalar("select portal_roles from principals where object_id = $1")
            .bind(&oid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(recorded.is_empty(), "{recorded:?}");
    let changed: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'principal.roles_changed'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(changed, 1);

    // Given back at the provider, the role comes back at the next re-check.
    crate::harness::at_provider(&id, serde_json::json!({ "roles": ["Leasegate.Auditor"] })).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app.call(&browser, "governance", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Disabled at the provider: signed out, and cannot sign in again.
    crate::harness::at_provider(&id, serde_json::json!({ "disabled": true })).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = app.call(&browser, "my-access", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(app.signed_in_as(&browser).await.is_none());
}

#[sqlx::test]
async fn a_provider_name_that_is_no_sign_in_name_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let id = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let oid = uuid::Uuid::new_v4().to_string();
    // Every name the portal compares is `name@domain`; one without is refused at sign-in
    // rather than stored in a session the next release could not read.
    crate::harness::at_provider(
        &id,
        serde_json::json!({ "upn": format!("{id} at contoso"), "oid": oid, "name": "No Name" }),
    )
    .await;
    let browser = app.browser();
    let (response, _) = app.sign_in(&browser, &id).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.signed_in_as(&browser).await, None);
    let recorded: i64 = sqlx::query_scalar("select count(*) from principals where object_id = $1")
        .bind(&oid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 0, "nobody is recorded for a refused sign-in");
}

#[sqlx::test]
async fn a_session_this_release_cannot_read_signs_the_person_out(pool: PgPool) {
    use tower_sessions::SessionStore as _;
    use tower_sessions::cookie::time::{Duration as CookieDuration, OffsetDateTime};
    use tower_sessions::session::{Id, Record};

    let app = TestApp::spawn(pool).await;
    // A session as an earlier release might have written it: the person's name in a shape
    // the session no longer takes.
    let user = serde_json::json!({
        "principal_id": uuid::Uuid::new_v4(),
        "display_name": "Adele Vance",
        "upn": "ADELE",
        "roles": [],
        "signed_in_at": chrono::Utc::now(),
        "checked_at": chrono::Utc::now(),
    });
    let store = leasegate::server::app::router::session_store(&app.pool);
    let mut record = Record {
        id: Id::default(),
        data: [("user".to_string(), user)].into_iter().collect(),
        expiry_date: OffsetDateTime::now_utc() + CookieDuration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    let jar = reqwest::cookie::Jar::default();
    jar.add_cookie_str(
        &format!(
            "{}={}",
            leasegate::server::app::router::SESSION_COOKIE,
            record.id
        ),
        &app.url("/").parse().unwrap(),
    );
    let browser = reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(jar))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let page = browser.get(app.url("/my-access")).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::SEE_OTHER,
        "to sign-in, not an error"
    );
    assert!(
        location(&page).starts_with("/auth/login"),
        "{}",
        location(&page)
    );
    assert!(
        store.load(&record.id).await.unwrap().is_none(),
        "the unreadable session is ended"
    );
    let (status, _) = app.call(&browser, "my-access", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
