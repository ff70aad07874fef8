//! Break-glass through the server functions: an entry under an emergency policy is granted at
//! once with its reason; security is mailed at once; the use opens a review that only an owner
//! who did not use it can close, once; auditors see every use and its verdict.

use leasegate::server::app::config::MailSettings;
use leasegate::server::jobs::grants::Engine;
use leasegate::server::notify::Notifier;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::harness::TestApp;
use crate::mail::Mailbox;
use crate::seed;

#[sqlx::test]
async fn emergency_access_is_granted_at_once_alerted_and_reviewed_by_an_owner(pool: PgPool) {
    let policy = json!({
        "name": "Break-glass",
        "durations": { "default_minutes": 30, "max_minutes": 60 },
        "justification": { "required": true, "min_chars": 20 },
        "emergency": true,
    });
    let key = seed::offered(&pool, policy, &["alex.wilber@contoso.test"]).await;
    let (app, connectors) = seed::ldap_portal(pool.clone(), Vec::new()).await;
    let mailbox = Mailbox::start(&[]).await;
    let settings = MailSettings {
        security: vec!["security@contoso.test".into()],
        ..mailbox.settings()
    };
    let notifier = Notifier::new(
        pool.clone(),
        url::Url::parse(&format!("{}/", app.base)).unwrap(),
        &settings,
    )
    .unwrap()
    .unwrap();
    let adele = app.person("adele").await;
    let megan = app.person("megan").await;
    let alex = app.person("alex").await;
    let irvin = app.person("irvin").await;

    // The reason is still required.
    let (status, _) = app
        .request(&adele, &key, &[("form[justification]", "incident")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app
        .request(
            &adele,
            &key,
            &[(
                "form[justification]",
                "INC-4711: the database cluster is down",
            )],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "approved", "no approval waited for");
    assert_eq!(body["done"], "EmergencyGranted", "{body}");
    let request = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from audit_events where action = 'break_glass.used'"
        )
        .await,
        1
    );
    // Granted at once, by the engine.
    Engine::new(
        pool.clone(),
        connectors,
        seed::engine_settings(std::time::Duration::from_secs(30)),
    )
    .run_once()
    .await
    .unwrap();
    assert_eq!(
        seed::count(&pool, "select count(*) from grants where state = 'active'").await,
        1
    );

    // Security is told at once.
    notifier.pass().await.unwrap();
    let mails = mailbox.wait_for(1, "the security alert").await;
    let alert = mails
        .iter()
        .find(|m| m["to"][0]["address"] == "security@contoso.test")
        .unwrap_or_else(|| panic!("{mails:#?}"));
    assert!(
        alert["subject"]
            .as_str()
            .unwrap()
            .starts_with("Emergency access taken: ")
    );
    assert!(alert["text"].as_str().unwrap().contains("INC-4711"));

    // Only Alex, an owner who did not use it, reviews it; once.
    let (_, theirs) = app.call(&adele, "emergency/to-review", &[]).await;
    assert_eq!(theirs, json!([]));
    let (_, his) = app.call(&alex, "emergency/to-review", &[]).await;
    assert_eq!(his.as_array().unwrap().len(), 1, "{his}");
    let r = request.as_str();
    assert_eq!(
        review(&app, &adele, r, "justified", "ok by me").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        review(&app, &megan, r, "justified", "ok by me").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        review(&app, &alex, r, "maybe", "ok by me").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        review(&app, &alex, r, "justified", "").await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        review(&app, &alex, r, "justified", "Incident INC-4711 was real").await,
        StatusCode::OK
    );
    assert_eq!(
        review(&app, &alex, r, "not_justified", "changed my mind").await,
        StatusCode::CONFLICT
    );

    // Auditors see the use and its verdict; others do not.
    let (status, uses) = app.call(&irvin, "governance/emergency", &[]).await;
    assert_eq!(status, StatusCode::OK, "{uses}");
    assert_eq!(uses[0]["verdict"], "justified");
    assert_eq!(uses[0]["closed_by"], "Alex Wilber");
    assert_eq!(uses[0]["note"], "Incident INC-4711 was real");
    let (status, _) = app.call(&adele, "governance/emergency", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from audit_events where action = 'break_glass.reviewed'"
        )
        .await,
        1
    );
}

async fn review(
    app: &TestApp,
    who: &reqwest::Client,
    request: &str,
    verdict: &str,
    note: &str,
) -> StatusCode {
    app.call(
        who,
        "emergency/review",
        &[
            ("request_id", request),
            ("verdict", verdict),
            ("note", note),
        ],
    )
    .await
    .0
}
