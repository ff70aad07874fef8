//! Cross-origin refusal and the headers on every response.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::harness::TestApp;

#[sqlx::test]
async fn cross_origin_mutations_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    app.sign_in(&browser, "adele").await;

    let from_evil = browser
        .post(app.url("/api/me"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(from_evil.status(), StatusCode::FORBIDDEN);
    assert!(from_evil.text().await.unwrap().contains("another site"));

    let evil_referer = browser
        .post(app.url("/auth/logout"))
        .header("referer", "https://evil.example/page")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_referer.status(), StatusCode::FORBIDDEN);

    let no_origin = browser.post(app.url("/api/me")).send().await.unwrap();
    assert_eq!(no_origin.status(), StatusCode::FORBIDDEN);

    // The logout above was refused, so the person is still signed in ...
    assert_eq!(
        app.signed_in_as(&browser).await.as_deref(),
        Some("Adele Vance")
    );
    // ... and the same call from the portal's own pages is served.
    let own = app
        .post_same_origin(&browser, "/api/me")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(
        own.text()
            .await
            .unwrap()
            .contains("adele.vance@contoso.test")
    );
    app.logs
        .expect_line(&["cross-origin request refused", "https://evil.example"])
        .await;
}

#[sqlx::test]
async fn a_page_carries_security_headers_and_the_csp_nonce(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .browser()
        .get(app.url("/signed-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers
        .get("content-security-policy")
        .expect("CSP header")
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(headers.get("referrer-policy").unwrap(), "same-origin");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert!(headers.get("x-request-id").is_some());

    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the CSP");
    let html = response.text().await.unwrap();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0, "the page hydrates with scripts");
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every inline script carries this response's nonce"
    );
}

#[sqlx::test]
async fn headers_are_on_every_kind_of_response(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let responses = [
        browser.get(app.url("/healthz")).send().await.unwrap(),
        browser.get(app.url("/my-access")).send().await.unwrap(),
        browser.get(app.url("/auth/callback")).send().await.unwrap(),
        browser.post(app.url("/api/me")).send().await.unwrap(),
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses,
        [200, 303, 400, 403],
        "a probe, a redirect, a refusal, a CSRF block"
    );
    for response in &responses {
        let h = response.headers();
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'"),
            "{}: {csp}",
            response.url()
        );
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
        assert!(h.get("x-request-id").is_some());
    }
}

#[sqlx::test]
async fn oversized_bodies_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let response = app
        .post_same_origin(&app.browser(), "/api/me")
        .body(vec![b'a'; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[sqlx::test]
async fn unknown_pages_are_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    app.sign_in(&browser, "adele").await;
    let response = browser.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

/// The lab's clock (lab mode only) moves for an administrator's session alone: not for a
/// request without a session, not for an employee; an administrator's move is audited.
#[sqlx::test]
async fn only_an_administrator_moves_the_lab_clock(pool: PgPool) {
    let app = TestApp::spawn_with_env(pool.clone(), &[("LEASEGATE_LAB_MODE", "true")]).await;
    let move_clock = |browser: reqwest::Client| {
        let request = app
            .post_same_origin(&browser, "/lab/clock")
            .form(&[("minutes", "1440")]);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(move_clock(app.browser()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        move_clock(app.person("adele").await).await.0,
        StatusCode::FORBIDDEN
    );
    let moved = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from audit_events where action = 'lab.clock_moved'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(moved().await, 0, "refusals move nothing");
    let (status, body) = move_clock(app.person("nestor").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Only this move counts: the refused ones left the clock where it was.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["ahead_minutes"],
        1440
    );
    assert_eq!(moved().await, 1);
}

/// The engine provisions a person's leases on one system in parallel (a group, a team and a
/// role at once), and each first links the person's account: links of the *same* person made at
/// the same moment are one link, never "another person's account" (which failed one of the
/// leases for an administrator to settle, about one CI run in twenty).
#[sqlx::test]
async fn a_persons_own_links_made_at_once_are_not_anothers(pool: PgPool) {
    use leasegate::server::connectors::memory::MemoryDirectory;
    use leasegate::server::db::grants::remember_account;

    use crate::seed;

    let dir = MemoryDirectory::new();
    let group = dir.add_group("cn=files,ou=groups");
    let entitlement = seed::entitlement(&pool, "memory", &group.reference).await;
    let connector: uuid::Uuid =
        sqlx::query_scalar("select connector_id from entitlements where id = $1")
            .bind(entitlement)
            .fetch_one(&pool)
            .await
            .unwrap();
    for round in 0..100 {
        let upn = format!("pat.{round}@contoso.test");
        let account = dir.add_person(&upn, "Pat", None);
        let person = seed::principal(&pool, &upn, "Pat").await;
        let links = (0..4).map(|_| {
            let (pool, account) = (pool.clone(), account.clone());
            tokio::spawn(async move { remember_account(&pool, person, connector, &account).await })
        });
        for link in futures::future::join_all(links).await {
            assert!(
                link.unwrap().unwrap(),
                "round {round}: a link of the same person taken for another's"
            );
        }
    }
}

/// One account in one system belongs to at most one person. Here the account a person was
/// linked to is renamed to a name another person signs in with (Entra and AD let UPNs be
/// changed and reused): the other person's lease finds it by name and is refused rather than
/// granted to someone else's account, and nothing links it twice, not even a direct write.
#[sqlx::test]
async fn one_account_is_never_linked_to_two_people(pool: PgPool) {
    use std::sync::Arc;
    use std::time::Duration;

    use leasegate::server::connectors::Connectors;
    use leasegate::server::connectors::memory::MemoryDirectory;
    use leasegate::server::db::grants::remember_account;

    use crate::engine::{Running, eventually};
    use crate::seed;

    let dir = Arc::new(MemoryDirectory::new());
    let account = dir.add_person("pat@contoso.test", "Pat Other", None);
    let group = dir.add_group("cn=files,ou=groups");
    let entitlement = seed::entitlement(&pool, "memory", &group.reference).await;
    let connector: uuid::Uuid =
        sqlx::query_scalar("select connector_id from entitlements where id = $1")
            .bind(entitlement)
            .fetch_one(&pool)
            .await
            .unwrap();
    let holder = seed::principal(&pool, "pat.old@contoso.test", "Pat Old").await;
    assert!(
        remember_account(&pool, holder, connector, &account)
            .await
            .unwrap()
    );
    assert!(
        remember_account(&pool, holder, connector, &account)
            .await
            .unwrap(),
        "linking it to its holder again is fine"
    );
    let newcomer = seed::principal(&pool, "pat@contoso.test", "Pat New").await;
    assert!(
        !remember_account(&pool, newcomer, connector, &account)
            .await
            .unwrap()
    );
    let direct = sqlx::query(
        "insert into principal_accounts (principal_id, connector_id, account_ref, account_id)
         values ($1, $2, $3, $4)",
    )
    .bind(newcomer)
    .bind(connector)
    .bind(&account.reference)
    .bind(&account.stable_id)
    .execute(&pool)
    .await;
    assert!(
        direct.is_err(),
        "the database itself refuses a second owner"
    );

    let now = chrono::Utc::now();
    let grant = seed::grant(
        &pool,
        newcomer,
        entitlement,
        now,
        now + chrono::TimeDelta::hours(1),
    )
    .await;
    let mut connectors = Connectors::default();
    connectors.insert("memory", dir.clone());
    let engine = Running::start(&pool, connectors, Duration::from_secs(30));
    eventually(Duration::from_secs(10), "the grant refused", || async {
        seed::grant_state(&pool, grant).await == "failed"
    })
    .await;
    engine.shut_down().await;
    let error: String = sqlx::query_scalar("select last_error from grants where id = $1")
        .bind(grant)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(error.contains("another person's"), "{error}");
    assert!(dir.members(&group.reference).is_empty(), "nothing granted");
    let owners: Vec<uuid::Uuid> =
        sqlx::query_scalar("select principal_id from principal_accounts where account_id = $1")
            .bind(&account.stable_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(owners, vec![holder]);
}
