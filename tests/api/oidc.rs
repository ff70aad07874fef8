//! Sign-in against the real provider: the good path, and every way an answer must be refused.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::harness::{Options, TestApp, location};

#[sqlx::test]
async fn good_sign_in_records_the_person_and_returns_to_the_page_asked_for(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();

    let (callback, _) = app.sign_in(&browser, "adele").await;
    assert_eq!(callback.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&callback), "/my-access");
    assert_eq!(
        app.signed_in_as(&browser).await.as_deref(),
        Some("Adele Vance")
    );

    let row = sqlx::query!(
        "select tenant_id, object_id, upn, display_name, portal_roles, last_sign_in_at
         from principals"
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row.tenant_id.as_deref(),
        Some("5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11")
    );
    assert_eq!(
        row.object_id.as_deref(),
        Some("0a1b2c3d-0001-4000-8000-000000000001")
    );
    assert_eq!(row.upn, "adele.vance@contoso.test");
    assert_eq!(row.display_name, "Adele Vance");
    assert!(row.portal_roles.is_empty());
    assert!(row.last_sign_in_at.is_some());
    app.logs
        .expect_line(&["signed in", "adele.vance@contoso.test"])
        .await;
}

#[sqlx::test]
async fn signing_in_twice_updates_the_same_person(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.sign_in(&app.browser(), "irvin").await;
    app.sign_in(&app.browser(), "irvin").await;
    let rows = sqlx::query!("select portal_roles from principals")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].portal_roles, vec!["auditor".to_string()]);
}

#[sqlx::test]
async fn app_roles_decide_the_areas(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let cases = [
        ("adele", "/governance", StatusCode::FORBIDDEN),
        ("adele", "/admin", StatusCode::FORBIDDEN),
        ("irvin", "/governance", StatusCode::OK),
        ("irvin", "/admin", StatusCode::FORBIDDEN),
        ("nestor", "/governance", StatusCode::OK),
        ("nestor", "/admin", StatusCode::OK),
    ];
    for (account, path, expected) in cases {
        let browser = app.browser();
        app.sign_in(&browser, account).await;
        let response = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), expected, "{account} at {path}");
        let html = response.text().await.unwrap();
        let shows_admin_link = html.contains("href=\"/admin\"");
        assert_eq!(
            shows_admin_link,
            account == "nestor",
            "{account}: Admin link in the navigation"
        );
        let shows_governance_link = html.contains("href=\"/governance\"");
        assert_eq!(
            shows_governance_link,
            account != "adele",
            "{account}: Governance link"
        );
    }
}

/// Each tamper-* client of the test provider breaks its ID token one way.
async fn refused(pool: PgPool, client_id: &'static str, reason: &str) {
    let app = TestApp::spawn_with(
        pool,
        Options {
            client_id,
            ..Options::default()
        },
    )
    .await;
    let browser = app.browser();
    let (callback, _) = app.sign_in(&browser, "adele").await;
    assert_eq!(callback.status(), StatusCode::BAD_REQUEST, "{client_id}");
    let page = callback.text().await.unwrap();
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(
        !page.contains(reason),
        "internal detail must not reach the person"
    );
    assert_eq!(
        app.signed_in_as(&browser).await,
        None,
        "{client_id} must not sign in"
    );
    let count: i64 = sqlx::query_scalar!("select count(*) as \"n!\" from principals")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "{client_id}: nobody recorded");
    app.logs.expect_line(&["sign-in refused", reason]).await;
}

#[sqlx::test]
async fn bad_signature_is_refused(pool: PgPool) {
    refused(
        pool,
        "tamper-bad-signature",
        "Signature verification failed",
    )
    .await;
}

#[sqlx::test]
async fn wrong_audience_is_refused(pool: PgPool) {
    refused(pool, "tamper-wrong-audience", "Invalid audiences").await;
}

#[sqlx::test]
async fn wrong_issuer_is_refused(pool: PgPool) {
    refused(pool, "tamper-wrong-issuer", "Invalid issuer").await;
}

#[sqlx::test]
async fn expired_token_is_refused(pool: PgPool) {
    refused(pool, "tamper-expired", "ID token rejected: Expired").await;
}

#[sqlx::test]
async fn wrong_nonce_is_refused(pool: PgPool) {
    refused(pool, "tamper-wrong-nonce", "Invalid nonce").await;
}

#[sqlx::test]
async fn unsigned_token_is_refused(pool: PgPool) {
    refused(pool, "tamper-alg-none", "No signature found").await;
}

#[sqlx::test]
async fn token_without_object_id_is_refused(pool: PgPool) {
    refused(pool, "tamper-no-oid", "lacks the `oid` claim").await;
}

#[sqlx::test]
async fn other_tenants_are_refused(pool: PgPool) {
    let app = TestApp::spawn_with_env(
        pool,
        &[(
            "LEASEGATE_OIDC_TENANT_ID",
            "11111111-2222-3333-4444-555555555555",
        )],
    )
    .await;
    let browser = app.browser();
    let (callback, _) = app.sign_in(&browser, "adele").await;
    assert_eq!(callback.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.signed_in_as(&browser).await, None);
    app.logs
        .expect_line(&["sign-in refused", "this portal accepts only 11111111-2222"])
        .await;
}

#[sqlx::test]
async fn a_callback_works_only_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let (first, callback_url) = app.sign_in(&browser, "adele").await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);

    // The same browser replaying it, and another browser that stole the URL.
    for replayer in [browser.clone(), app.browser()] {
        let replay = replayer.get(&callback_url).send().await.unwrap();
        assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    }
    app.logs
        .expect_line(&["sign-in refused", "missing or replayed callback"])
        .await;
}

#[sqlx::test]
async fn missing_or_wrong_state_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for (query, reason) in [
        ("code=abc", "no state parameter"),
        ("code=abc&state=not-the-state", "does not match"),
    ] {
        let browser = app.browser();
        let start = browser.get(app.url("/auth/login")).send().await.unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let response = browser
            .get(app.url(&format!("/auth/callback?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(app.signed_in_as(&browser).await, None);
        app.logs.expect_line(&["sign-in refused", reason]).await;
    }
}

#[sqlx::test]
async fn the_provider_reporting_an_error_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let start = browser.get(app.url("/auth/login")).send().await.unwrap();
    let authorize = location(&start);
    let state = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let response = browser
        .get(app.url(&format!(
            "/auth/callback?error=access_denied&error_description=cancelled&state={state}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    app.logs
        .expect_line(&["sign-in refused", "access_denied"])
        .await;
}

#[sqlx::test]
async fn a_callback_naming_another_issuer_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let start = browser.get(app.url("/auth/login")).send().await.unwrap();
    let callback_url = app
        .walk_to_callback(&browser, location(&start), "adele")
        .await;
    assert!(
        callback_url.contains("iss="),
        "the provider names itself: {callback_url}"
    );
    let forged = url::Url::parse(&callback_url).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://evil.example".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut forged = forged.clone();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let response = browser.get(forged.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.signed_in_as(&browser).await, None);
    app.logs
        .expect_line(&["sign-in refused", "names issuer https://evil.example"])
        .await;
}

#[sqlx::test]
async fn return_to_cannot_leave_the_portal(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let start = browser
        .get(app.url("/auth/login?return_to=https%3A%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    let (callback, _) = app
        .complete_at_provider(&browser, location(&start), "adele")
        .await;
    assert_eq!(location(&callback), "/");
}

#[sqlx::test]
async fn sign_out_ends_the_session_and_visits_the_provider(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    app.sign_in(&browser, "adele").await;
    let response = app
        .post_same_origin(&browser, "/auth/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert!(
        to.starts_with(&format!(
            "{}/session/end",
            crate::harness::identity_provider().issuer
        )),
        "{to}"
    );
    assert!(to.contains("id_token_hint="), "{to}");
    assert!(to.contains("post_logout_redirect_uri="), "{to}");
    assert_eq!(app.signed_in_as(&browser).await, None);
}

/// The tokens a session keeps are sealed at rest: the session table holds neither the ID token
/// nor the refresh token in the clear (a copy of it is no way to act as the person at the
/// provider), and signing out revokes the refresh token at a provider that offers revocation.
#[sqlx::test]
async fn session_tokens_are_sealed_at_rest_and_revoked_at_sign_out(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    app.sign_in(&browser, "adele").await;
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("select data from web_sessions")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let stored: String = rows
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    let jwt = regex_lite::Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ").unwrap();
    assert!(!jwt.is_match(&stored), "an ID token in the clear: {stored}");
    // The sealed refresh token opens with the portal's key, and is not in the table as such.
    let sealer = leasegate::server::app::auth::sealed::Sealer::from_secret("leasegate-test-secret");
    let refresh = regex_lite::Regex::new(r"v1\.[A-Za-z0-9_-]+")
        .unwrap()
        .find_iter(&stored)
        .find_map(|m| sealer.open("oidc_refresh", m.as_str()))
        .expect("a sealed refresh token");
    assert!(!stored.contains(&refresh));

    let provider = crate::harness::identity_provider();
    let use_it = || {
        let refresh = refresh.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{}/token", provider.issuer))
                .basic_auth("leasegate-test", Some("leasegate-test-secret"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(use_it().await, StatusCode::OK, "a live refresh token");
    let response = app
        .post_same_origin(&browser, "/auth/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&response).contains("id_token_hint="),
        "the hint still goes"
    );
    assert_eq!(
        use_it().await,
        StatusCode::BAD_REQUEST,
        "revoked at sign-out"
    );
}
