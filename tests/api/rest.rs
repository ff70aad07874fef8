//! The REST API (`/api/v1`) with real Entra-shaped access tokens from the identity provider: a
//! person's (authorization code with PKCE, delegated scope `access`) and applications' (client
//! credentials, app roles). Every route is called by a person, by an application and by a
//! caller it refuses; tokens that are not for the API are forged with the provider's (demo)
//! key and refused; calls beyond the limit answer 429; the OpenAPI document validates and
//! matches the routes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::{manager_policy, world, world_with};
use crate::harness::{Options, TestApp, identity_provider, walk_provider};

const AUDIENCE: &str = "api://leasegate-test";

/// A token an application gets with its own credential.
async fn app_token(client: &str) -> String {
    let idp = identity_provider();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/token", idp.issuer))
        .basic_auth(client, Some(format!("{client}-secret")))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token for {client}: {answer}"))
        .to_string()
}

/// A person's token for the API, through the provider's sign-in pages as the CLI would get it:
/// authorization code with PKCE, for the API's resource and scope.
async fn person_token(account: &str) -> String {
    let idp = identity_provider();
    let verifier = URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes().repeat(2));
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let redirect = "http://127.0.0.1/callback";
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = reqwest::Url::parse_with_params(
        &format!("{}/auth", idp.issuer),
        &[
            ("client_id", "leasegate-cli"),
            ("response_type", "code"),
            ("scope", "openid access"),
            ("resource", AUDIENCE),
            ("redirect_uri", redirect),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "api-test"),
        ],
    )
    .unwrap()
    .to_string();
    let back = walk_provider(&browser, url, account, redirect).await;
    let code = reqwest::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned());
    let code = code.expect("the provider redirected back with a code");
    let answer: Value = browser
        .post(format!("{}/token", idp.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", "leasegate-cli"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token for {account}: {answer}"))
        .to_string()
}

/// Calls the API: the status, the headers and the body (JSON, or the text as a JSON string).
async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().request(method, app.url(&format!("/api/v1{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let (status, _, body) = call(app, Some(token), reqwest::Method::GET, path, None, None).await;
    (status, body)
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let key = Uuid::new_v4().to_string();
    let (status, _, body) = call(
        app,
        Some(token),
        reqwest::Method::POST,
        path,
        Some(body),
        Some(&key),
    )
    .await;
    (status, body)
}

fn problem(body: &Value) -> &str {
    body["type"].as_str().unwrap_or("(not a problem)")
}

#[sqlx::test]
async fn people_and_applications_use_the_api_by_the_pages_rules(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let app = &w.app;
    let entry = w.entitlement.clone();
    let (adele, megan, irvin) = (
        person_token("adele").await,
        person_token("megan").await,
        person_token("irvin").await,
    );
    let automation = app_token("leasegate-automation").await;
    let auditor_app = app_token("leasegate-auditor-app").await;
    let no_role = app_token("leasegate-no-role-app").await;

    // No token, or a signed-in browser's cookie instead of one: refused as a problem.
    let (status, headers, body) =
        call(app, None, reqwest::Method::GET, "/catalog", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(problem(&body), "urn:leasegate:problem:unauthorized");
    let browser = app.person("adele").await;
    let cookie_only = browser.get(app.url("/api/v1/leases")).send().await.unwrap();
    assert_eq!(cookie_only.status(), StatusCode::UNAUTHORIZED);
    app.person("megan").await;
    app.person("irvin").await;

    // Someone the portal has never seen is not let in by a valid token alone.
    let (status, body) = get(app, &person_token("alex").await, "/catalog").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Nor an application without one of the API's roles.
    assert_eq!(
        get(app, &no_role, "/catalog").await.0,
        StatusCode::FORBIDDEN
    );

    // The catalog: anyone the API takes.
    for token in [&adele, &automation, &auditor_app] {
        let (status, body) = get(app, token, "/catalog").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.as_array()
                .unwrap()
                .iter()
                .any(|e| e["key"] == entry.as_str()),
            "{body}"
        );
    }
    let (status, body) = get(app, &adele, &format!("/catalog/{entry}")).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (StatusCode::OK, Some("ad_group")),
        "{body}"
    );
    assert_eq!(body["max_minutes"], 240);
    assert_eq!(
        get(app, &adele, "/catalog/no-such-entry").await.0,
        StatusCode::NOT_FOUND
    );

    // Asking: an Idempotency-Key is needed, and a retry with it finds the first request.
    let ask = json!({ "entitlement": entry, "minutes": 60, "justification": "Quarter-end close needs the ledger" });
    let (status, _, body) = call(
        app,
        Some(&adele),
        reqwest::Method::POST,
        "/requests",
        Some(ask.clone()),
        None,
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key"))
    );

    // An application asks for a named person only, and an auditor application not at all.
    let (status, body) = post(app, &automation, "/requests", ask.clone()).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("on_behalf_of")),
        "{body}"
    );
    assert_eq!(
        post(app, &auditor_app, "/requests", ask.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    // Applications are not people to ask for.
    let mut for_an_app = ask.clone();
    for_an_app["on_behalf_of"] = json!("leasegate-auditor-app@application.invalid");
    let (status, body) = post(app, &automation, "/requests", for_an_app).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("on_behalf_of")),
        "{body}"
    );
    let mut for_adele = ask.clone();
    for_adele["on_behalf_of"] = json!("adele.vance@contoso.test");
    let (status, by_app) = post(app, &automation, "/requests", for_adele).await;
    assert_eq!(status, StatusCode::CREATED, "{by_app}");
    assert_eq!(by_app["beneficiary"], "adele.vance@contoso.test");
    assert!(
        by_app["requester"]
            .as_str()
            .unwrap()
            .ends_with("@application.invalid")
    );
    let by_app = by_app["id"].as_str().unwrap().to_string();
    // It follows its own request (and no one else's), and takes it back.
    assert_eq!(
        get(app, &automation, &format!("/requests/{by_app}"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(app, &automation, "/requests").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let cancel = format!("/requests/{by_app}/cancel");
    for token in [&megan, &auditor_app] {
        assert_eq!(
            post(app, token, &cancel, json!({})).await.0,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        post(app, &automation, &cancel, json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(app, &adele, &format!("/requests/{by_app}")).await.1["state"],
        "cancelled"
    );

    let key = Uuid::new_v4().to_string();
    let submit = |token: String, body: Value, key: String| async move {
        call(
            app,
            Some(&token),
            reqwest::Method::POST,
            "/requests",
            Some(body),
            Some(&key),
        )
        .await
    };
    let (status, headers, first) = submit(adele.clone(), ask.clone(), key.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(
        headers["location"],
        format!("/api/v1/requests/{id}").as_str()
    );
    assert_eq!(first["state"], "pending");
    let (status, _, again) = submit(adele.clone(), ask.clone(), key.clone()).await;
    assert_eq!(
        (status, again["id"].clone()),
        (StatusCode::CREATED, first["id"].clone())
    );
    let other = w.second_entry(manager_policy()).await;
    let mut elsewhere = ask.clone();
    elsewhere["entitlement"] = json!(other);
    let (status, _, reused) = submit(adele.clone(), elsewhere, key.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    // Nor for another person.
    let mut for_megan = ask.clone();
    for_megan["on_behalf_of"] = json!("megan.bowen@contoso.test");
    let (status, _, reused) = submit(adele.clone(), for_megan, key.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    assert_eq!(
        sqlx::query_scalar::<_, i64>(
            "select count(*) from access_requests where state = 'pending'"
        )
        .fetch_one(&app.pool)
        .await
        .unwrap(),
        1,
        "a retry made nothing"
    );

    // Reading requests: one's own, or all of them for the governance roles.
    let (status, page) = get(app, &adele, "/requests?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["id"], id.as_str());
    let next = page["next"].as_str().expect("a second page").to_string();
    let (_, older) = get(app, &adele, &format!("/requests?limit=1&cursor={next}")).await;
    assert_eq!(older["items"][0]["id"], by_app.as_str(), "{older}");
    assert!(older["next"].is_null());
    assert_eq!(
        get(app, &adele, "/requests?cursor=forged").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        get(app, &adele, "/requests?limit=1000").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        get(app, &auditor_app, "/requests").await.0,
        StatusCode::FORBIDDEN
    );
    let one = format!("/requests/{id}");
    for token in [&adele, &irvin, &auditor_app] {
        assert_eq!(get(app, token, &one).await.0, StatusCode::OK);
    }
    // Others are told it does not exist.
    for token in [&megan, &automation] {
        assert_eq!(get(app, token, &one).await.0, StatusCode::NOT_FOUND);
    }

    // Deciding: people only, never their own request.
    let (status, inbox) = get(app, &megan, "/approvals").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inbox[0]["request_id"], id.as_str(), "{inbox}");
    assert_eq!(get(app, &adele, "/approvals").await.1, json!([]));
    assert_eq!(
        get(app, &automation, "/approvals").await.0,
        StatusCode::FORBIDDEN
    );
    let decision = format!("/approvals/{id}/decision");
    let approve = json!({ "outcome": "approve", "comment": "" });
    for token in [&adele, &automation, &auditor_app, &irvin] {
        assert_eq!(
            post(app, token, &decision, approve.clone()).await.0,
            StatusCode::FORBIDDEN
        );
    }
    let (status, body) = post(app, &megan, &decision, json!({ "outcome": "maybe" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, decided) = post(app, &megan, &decision, approve.clone()).await;
    assert_eq!(
        (status, decided["state"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{decided}"
    );
    assert_eq!(
        post(app, &megan, &decision, approve).await.0,
        StatusCode::CONFLICT
    );

    // Leases: the holder's own.
    w.run_engine().await;
    let (status, leases) = get(app, &adele, "/leases").await;
    assert_eq!(
        (status, leases[0]["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{leases}"
    );
    let lease = leases[0]["id"].as_str().unwrap().to_string();
    assert_eq!(get(app, &megan, "/leases").await.1, json!([]));
    assert_eq!(
        get(app, &automation, "/leases").await.0,
        StatusCode::FORBIDDEN
    );
    let more = json!({ "minutes": 30, "justification": "The close runs late tonight" });
    let extend = format!("/leases/{lease}/extend");
    for token in [&megan, &auditor_app] {
        assert_eq!(
            post(app, token, &extend, more.clone()).await.0,
            StatusCode::FORBIDDEN
        );
    }
    // A create's key is not an extension's.
    let (status, _, reused) = call(
        app,
        Some(&adele),
        reqwest::Method::POST,
        &extend,
        Some(more.clone()),
        Some(&key),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    let (status, extension) = post(app, &adele, &extend, more).await;
    assert_eq!(status, StatusCode::CREATED, "{extension}");
    assert_eq!(extension["state"], "pending");
    assert_eq!(extension["extends_lease"], lease.as_str());
    let give_back = format!("/leases/{lease}/give-back");
    for token in [&megan, &automation] {
        assert_eq!(
            post(app, token, &give_back, json!({})).await.0,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        post(app, &adele, &give_back, json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    w.run_engine().await;
    assert!(!w.is_member("adele.vance@contoso.test").await);

    // The trail: the governance roles and auditor applications.
    for token in [&adele, &megan, &automation] {
        assert_eq!(
            get(app, token, "/audit/events").await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get(app, token, "/audit/verify").await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            post(app, token, "/evidence", json!({ "format": "csv" }))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    for token in [&irvin, &auditor_app] {
        let (status, events) = get(app, token, &format!("/audit/events?request={id}")).await;
        assert_eq!(status, StatusCode::OK, "{events}");
        let actions: Vec<&str> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert!(actions.contains(&"request.approved"), "{actions:?}");
        let (status, check) = get(app, token, "/audit/verify?whole=true").await;
        assert_eq!(
            (status, check["intact"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{check}"
        );
    }
    assert_eq!(
        get(app, &irvin, "/audit/events?cursor=AAAA").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A misspelt filter is refused, not read as "everything".
    let (status, body) = post(
        app,
        &auditor_app,
        "/evidence",
        json!({ "format": "csv", "frm": "2026-01-01" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(problem(&body), "urn:leasegate:problem:invalid");
    let (status, body) = post(app, &auditor_app, "/evidence", json!({ "format": "pdf" })).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("format"))
    );
    let (status, _, csv) = call(
        app,
        Some(&auditor_app),
        reqwest::Method::POST,
        "/evidence",
        Some(json!({ "format": "csv", "request": id })),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.as_str().unwrap().contains("request.approved"), "{csv}");
    // The export is itself in the trail, by the application.
    let exported: String = sqlx::query_scalar(
        "select actor_label from audit_events where action = 'evidence.exported' order by position desc limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(exported, "Application leasegate-auditor-app");
}

#[sqlx::test]
async fn calls_beyond_the_limit_wait(pool: PgPool) {
    let w = world_with(
        pool,
        manager_policy(),
        &[],
        Options {
            extra: vec![("LEASEGATE_API_PER_MINUTE", "3".into())],
            ..Options::default()
        },
    )
    .await;
    let app = &w.app;
    let auditor = app_token("leasegate-auditor-app").await;
    let automation = app_token("leasegate-automation").await;
    for _ in 0..3 {
        assert_eq!(get(app, &auditor, "/catalog").await.0, StatusCode::OK);
    }
    let (status, headers, body) = call(
        app,
        Some(&auditor),
        reqwest::Method::GET,
        "/catalog",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert_eq!(problem(&body), "urn:leasegate:problem:too-many-requests");
    // Another caller has a budget of its own.
    assert_eq!(get(app, &automation, "/catalog").await.0, StatusCode::OK);
    // Guessing tokens is limited by address.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(app, "not-a-token", "/catalog").await.0);
    }
    assert_eq!(&statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
}

/// Tokens signed with the provider's own (demo) key, broken in one way each: refused.
#[sqlx::test]
async fn tokens_not_for_the_api_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.person("adele").await;
    let issuer = identity_provider().issuer.clone();
    let now = chrono::Utc::now().timestamp();
    let person = json!({
        "iss": issuer, "aud": AUDIENCE, "exp": now + 600, "iat": now,
        "tid": "5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11", "oid": "0a1b2c3d-0001-4000-8000-000000000001",
        "sub": "adele", "azp": "leasegate-cli", "scp": "access", "roles": [],
    });
    let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": "leasegate-demo-1" });
    // The forged token as it should be is taken: the checks below each fail for their reason.
    assert_eq!(
        get(&app, &forged(&header, &person), "/catalog").await.0,
        StatusCode::OK
    );
    let with = |change: Value| {
        let mut claims = person.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        forged(&header, &claims)
    };
    let refused = [
        (
            "an ID token (no scope, no app mark)",
            with(json!({ "scp": null, "roles": ["Leasegate.Auditor"] })),
        ),
        ("another scope", with(json!({ "scp": "openid" }))),
        (
            "another audience",
            with(json!({ "aud": "api://another-application" })),
        ),
        (
            "another issuer",
            with(json!({ "iss": "https://login.microsoftonline.com/x/v2.0" })),
        ),
        ("expired", with(json!({ "exp": now - 3600 }))),
        ("not yet valid", with(json!({ "nbf": now + 3600 }))),
        (
            "unsigned",
            format!("{}.{}.", b64(&json!({ "alg": "none" })), b64(&person)),
        ),
        (
            "an unknown key",
            forged(&json!({ "alg": "RS256", "kid": "other" }), &person),
        ),
        (
            "HS256 with the public key",
            forged(
                &json!({ "alg": "HS256", "kid": "leasegate-demo-1" }),
                &person,
            ),
        ),
    ];
    for (what, token) in refused {
        let (status, body) = get(&app, &token, "/catalog").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
    // A person's token that an application outside LEASEGATE_API_CLIENTS asked for carries
    // none of their powers.
    let elsewhere = with(json!({ "azp": "some-other-app" }));
    assert_eq!(
        get(&app, &elsewhere, "/catalog").await.0,
        StatusCode::FORBIDDEN
    );
    // A role the token names but the portal has not recorded for the person gives nothing.
    let claimed = with(json!({ "roles": ["Leasegate.Auditor"] }));
    assert_eq!(get(&app, &claimed, "/catalog").await.0, StatusCode::OK);
    assert_eq!(
        get(&app, &claimed, "/audit/events").await.0,
        StatusCode::FORBIDDEN
    );
    // Whatever axum refuses before a handler is a problem too.
    let token = forged(&header, &person);
    let (status, headers, body) = call(
        &app,
        Some(&token),
        reqwest::Method::PUT,
        "/catalog",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    let not_json = reqwest::Client::new()
        .post(app.url("/api/v1/requests"))
        .bearer_auth(&token)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert!(not_json.status().is_client_error());
    assert_eq!(
        not_json.headers()["content-type"],
        "application/problem+json"
    );
    let mut tampered = forged(&header, &person).into_bytes();
    let middle = tampered.len() - 20;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        get(&app, &tampered, "/catalog").await.0,
        StatusCode::UNAUTHORIZED
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A JWT signed with the demo provider's key (RS256, whatever the header says).
fn forged(header: &Value, claims: &Value) -> String {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/end2end/idp/demo-signing-key.pem"
    ))
    .unwrap();
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(der)
        .unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let input = format!("{}.{}", b64(header), b64(claims));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The document is a valid OpenAPI 3.1 document (checked by the PyPI `openapi-spec-validator`),
/// names every route the router serves and no other, and every operation it names is served.
#[sqlx::test]
async fn the_openapi_document_validates_and_matches_the_routes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, _, doc) = call(
        &app,
        None,
        reqwest::Method::GET,
        "/openapi.json",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");

    let file = std::env::temp_dir().join(format!("leasegate-openapi-{}.json", Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let validator = format!(
        "{}/.cache/leasegate/venv/bin/openapi-spec-validator",
        std::env::var("HOME").unwrap()
    );
    let out = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{validator}: {e} (run `make setup`)"));
    std::fs::remove_file(&file).ok();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The document's operations.
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    // The router's, read from its source.
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/server/rest/mod.rs"
    ))
    .unwrap();
    let mut routed = Vec::new();
    for line in source
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(".route(\""))
    {
        let path = line.split('"').nth(1).unwrap().to_string();
        for method in ["get", "post", "put", "patch", "delete"] {
            if line.contains(&format!(" {method}("))
                || line.contains(&format!("({method}("))
                || line.contains(&format!(".{method}("))
            {
                routed.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routed.sort();
    assert_eq!(documented, routed, "the document and the router disagree");
    assert!(documented.len() >= 15, "{documented:?}");

    // Every documented operation is served: without a token, refused (not 404 or 405).
    for (method, path) in &documented {
        let path = path
            .replace("{id}", &Uuid::new_v4().to_string())
            .replace("{key}", "some-key");
        let (status, _, body) = call(
            &app,
            None,
            method.parse().unwrap(),
            &path,
            (method == "POST").then(|| json!({})),
            None,
        )
        .await;
        let expected = if path == "/openapi.json" {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{method} {path}: {body}");
    }
    let (status, _, body) = call(
        &app,
        None,
        reqwest::Method::GET,
        "/no-such-route",
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, problem(&body)),
        (StatusCode::NOT_FOUND, "urn:leasegate:problem:not-found")
    );
}

#[sqlx::test]
async fn break_glass_and_findings_through_the_api(pool: PgPool) {
    let policy = json!({
        "name": "Break-glass",
        "durations": { "default_minutes": 30, "max_minutes": 60 },
        "justification": { "required": true, "min_chars": 20 },
        "emergency": true,
    });
    let key = crate::seed::offered(&pool, policy, &["alex.wilber@contoso.test"]).await;
    let (app, _) = crate::seed::ldap_portal(pool.clone(), Vec::new()).await;
    for person in ["adele", "alex", "irvin"] {
        app.person(person).await;
    }
    let (adele, alex, irvin) = (
        person_token("adele").await,
        person_token("alex").await,
        person_token("irvin").await,
    );
    let automation = app_token("leasegate-automation").await;
    let auditor_app = app_token("leasegate-auditor-app").await;

    // Break-glass is asked for like any access, and granted at once.
    let (status, used) = post(
        &app,
        &adele,
        "/requests",
        json!({ "entitlement": key, "minutes": 30, "justification": "INC-4711: the database cluster is down" }),
    )
    .await;
    assert_eq!(
        (status, used["state"].as_str()),
        (StatusCode::CREATED, Some("approved")),
        "{used}"
    );
    let id = used["id"].as_str().unwrap().to_string();
    // An application may not take break-glass for anyone: only people may ask for what is
    // granted without an approval.
    let (status, body) = post(
        &app,
        &automation,
        "/requests",
        json!({ "entitlement": key, "minutes": 30, "justification": "INC-4711: the database cluster is down",
                "on_behalf_of": "alex.wilber@contoso.test" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["reason"], "ApplicationNeedsApprovers", "{body}");

    // An owner who did not use it reviews it, once; no one else.
    let (status, waiting) = get(&app, &alex, "/break-glass/reviews").await;
    assert_eq!(
        (status, waiting[0]["request_id"].as_str()),
        (StatusCode::OK, Some(id.as_str())),
        "{waiting}"
    );
    assert_eq!(get(&app, &adele, "/break-glass/reviews").await.1, json!([]));
    assert_eq!(
        get(&app, &automation, "/break-glass/reviews").await.0,
        StatusCode::FORBIDDEN
    );
    let review = format!("/break-glass/{id}/review");
    let verdict =
        json!({ "verdict": "justified", "note": "The cluster was down; INC-4711 confirms it" });
    for token in [&adele, &auditor_app] {
        assert_eq!(
            post(&app, token, &review, verdict.clone()).await.0,
            StatusCode::FORBIDDEN
        );
    }
    let (status, body) = post(
        &app,
        &alex,
        &review,
        json!({ "verdict": "fine", "note": "ok ok ok ok" }),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("verdict"))
    );
    let (status, left) = post(&app, &alex, &review, verdict.clone()).await;
    assert_eq!((status, left), (StatusCode::OK, json!([])));
    assert_eq!(
        post(&app, &alex, &review, verdict).await.0,
        StatusCode::CONFLICT
    );

    // Every use and its verdict, for the trail's readers.
    for token in [&irvin, &auditor_app] {
        let (status, uses) = get(&app, token, "/break-glass").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(uses[0]["verdict"], "justified", "{uses}");
    }
    for token in [&adele, &automation] {
        assert_eq!(
            get(&app, token, "/break-glass").await.0,
            StatusCode::FORBIDDEN
        );
    }

    // Findings: the governance roles and auditor applications, and owners for their entries.
    for token in [&irvin, &auditor_app, &alex] {
        let (status, found) = get(&app, token, "/findings?state=all").await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["truncated"], false);
    }
    for token in [&adele, &automation] {
        assert_eq!(get(&app, token, "/findings").await.0, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        get(&app, &irvin, "/findings?state=bogus").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
