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
