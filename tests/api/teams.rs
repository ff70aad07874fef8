//! Teams cards, end to end: a webhook receiver in the test stands in for the Teams Workflows
//! webhooks (a channel's and a person's chat); it captures the posted messages, and throttles
//! the first one (429 with Retry-After, as Workflows does). The cards validate against
//! Microsoft's Adaptive Card schema 1.4; their buttons open the request's decision page, which
//! decides nothing until the approver, signed in, presses the button there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode as HttpStatus;
use axum::response::IntoResponse;
use leasegate::server::app::config::{MailSettings, Secret, TeamsSettings};
use leasegate::server::notify::Notifier;
use leasegate::server::notify::destination::Destinations;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::seed;

/// What the webhooks received: (webhook name, message).
#[derive(Clone, Default)]
struct Receiver {
    posted: Arc<Mutex<Vec<(String, Value)>>>,
    /// Answers this many requests with 429 first.
    throttle: Arc<AtomicUsize>,
    /// Takes this many milliseconds over each post (a slow Workflows endpoint).
    delay_ms: Arc<AtomicUsize>,
}

async fn hook(
    State(receiver): State<Receiver>,
    Path(name): Path<String>,
    axum::Json(message): axum::Json<Value>,
) -> impl IntoResponse {
    let delay = receiver.delay_ms.load(Ordering::SeqCst) as u64;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if receiver
        .throttle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            HttpStatus::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response();
    }
    if name == "gone" {
        return (HttpStatus::NOT_FOUND, "workflow deleted").into_response();
    }
    receiver.posted.lock().unwrap().push((name, message));
    HttpStatus::ACCEPTED.into_response()
}

async fn start_receiver() -> (Receiver, String) {
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/hook/{name}", axum::routing::post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, base)
}

/// Microsoft's schema for Adaptive Cards 1.4 (fetched by `make setup`).
fn card_schema() -> jsonschema::Validator {
    let path = format!(
        "{}/.data/adaptive-cards/schema-1.4.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (run `make setup`)"));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn assert_valid_card(message: &Value) {
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    let validator = card_schema();
    let errors: Vec<String> = validator
        .iter_errors(card)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid Adaptive Card 1.4: {errors:#?}\n{card:#}"
    );
    // The schema is strict: it refuses what it does not know (so the check above can fail).
    let mut wrong = card.clone();
    wrong["body"][0]["colour"] = json!("Accent");
    assert!(!validator.is_valid(&wrong));
}

#[sqlx::test]
async fn cards_go_to_the_channel_and_the_approvers_chat_and_open_the_decision_page(pool: PgPool) {
    let policy = json!({
        "name": "Manager approval",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "manager" }],
    });
    let keys = [
        seed::offered(&pool, policy.clone(), &[]).await,
        seed::offered(&pool, policy, &[]).await,
    ];
    let key = keys[0].clone();
    // The receiver on this machine is allowed only because the lab names it, address and port.
    let (receiver, hooks) = start_receiver().await;
    receiver.throttle.store(1, Ordering::SeqCst);
    let at = hooks.trim_start_matches("http://").to_string();
    let (app, _) = seed::ldap_portal(
        pool.clone(),
        vec![
            ("LEASEGATE_LAB_MODE", "true".into()),
            ("LEASEGATE_LAB_WEBHOOK_RECEIVERS", at.clone()),
        ],
    )
    .await;
    let teams = TeamsSettings {
        channels: [(
            "approvals".to_string(),
            Secret::new(format!("{hooks}/hook/approvals")),
        )]
        .into_iter()
        .collect(),
        destinations: Destinations::with_lab(vec![at.parse().unwrap()]),
        channel_language: Default::default(),
    };
    let no_mail = MailSettings {
        smtp: None,
        from: "Leasegate <leasegate@contoso.test>".into(),
        retry_first: Duration::from_millis(200),
        give_up_after: Duration::from_secs(3600),
        security: Vec::new(),
    };
    let notifier = Notifier::with_teams(
        pool.clone(),
        url::Url::parse(&format!("{}/", app.base)).unwrap(),
        &no_mail,
        &teams,
    )
    .unwrap()
    .expect("Teams alone runs a notifier");

    let adele = app.person("adele").await;
    let megan = app.person("megan").await;
    let alex = app.person("alex").await;
    // Megan's own workflow posts to her chat; an address that is not one is refused.
    let (status, _) = app
        .call(
            &megan,
            "me/teams",
            &[("webhook", "ftp://teams.example/hook")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app
        .call(
            &megan,
            "me/teams",
            &[("webhook", &format!("{hooks}/hook/megan"))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app.request(&adele, &key, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = body["request_id"].as_str().unwrap().to_string();
    let first = notifier.pass().await.unwrap();
    assert_eq!(
        (first.written, first.sent, first.retrying),
        (2, 1, 1),
        "{first:?}"
    );
    // The throttled card waits the webhook's Retry-After (1 s), then goes.
    assert_eq!(
        notifier.pass().await.unwrap().sent,
        0,
        "not before Retry-After"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(notifier.pass().await.unwrap().sent, 1);
    assert_eq!(
        notifier.pass().await.unwrap(),
        Default::default(),
        "each card once"
    );

    let posted = receiver.posted.lock().unwrap().clone();
    let mut targets: Vec<&str> = posted.iter().map(|(n, _)| n.as_str()).collect();
    targets.sort();
    assert_eq!(targets, ["approvals", "megan"]);
    let attempts: Vec<i32> =
        sqlx::query_scalar("select attempts from teams_outbox order by attempts")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, [1, 2]);

    let decision_page = app.url(&format!("/approvals/{request}"));
    for (_, message) in &posted {
        assert_valid_card(message);
        let card = &message["attachments"][0]["content"];
        let text = card.to_string();
        assert!(text.contains("Adele Vance asks for"), "{text}");
        assert!(
            text.contains("Quarter\\\\-end close needs the ledger"),
            "{text}"
        );
        let urls: Vec<&str> = card["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["url"].as_str().unwrap())
            .collect();
        // Nothing that grants: the buttons only open the decision page.
        assert_eq!(
            urls,
            [
                format!("{decision_page}?intent=approve"),
                format!("{decision_page}?intent=deny")
            ]
        );
    }

    // Approve in Teams opens the page, signed in, with Approve one click away; it decides
    // nothing by itself.
    let page = megan
        .get(format!("{decision_page}?intent=approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("You chose Approve in Teams"), "{html}");
    assert!(html.contains(r#"value="approve""#));
    let state: String = sqlx::query_scalar("select state from access_requests where id = $1::uuid")
        .bind(&request)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "pending");
    // Someone else following the card's link is told it is not theirs to decide.
    let html = alex
        .get(format!("{decision_page}?intent=approve"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("does not wait for your decision"));
    assert!(!html.contains(r#"value="approve""#));

    // A webhook whose workflow was deleted refuses for good; the card is kept with the answer.
    let (status, _) = app
        .call(
            &megan,
            "me/teams",
            &[("webhook", &format!("{hooks}/hook/gone"))],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.request(&adele, &keys[1], &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pass = notifier.pass().await.unwrap();
    assert_eq!(pass.refused, 1, "{pass:?}");
    let answer: String =
        sqlx::query_scalar("select last_error from teams_outbox where state = 'refused'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(answer.starts_with("HTTP 404"), "{answer}");
    assert!(
        !answer.contains("/hook/"),
        "the webhook's address is never repeated"
    );
}

/// Two replicas post cards to a webhook that answers slowly: every card is posted once. Cards
/// were claimed fifty at a time like mails, so a slow webhook let the other replica claim the
/// tail of a round and post it again; each card is now claimed just before it is posted.
#[sqlx::test]
async fn two_replicas_and_a_slow_webhook_post_every_card_once(pool: PgPool) {
    let (receiver, hooks) = start_receiver().await;
    receiver.delay_ms.store(500, Ordering::SeqCst);
    let teams = TeamsSettings {
        channels: [("ops".to_string(), Secret::new(format!("{hooks}/hook/ops")))]
            .into_iter()
            .collect(),
        destinations: Destinations::with_lab(vec![
            hooks.trim_start_matches("http://").parse().unwrap(),
        ]),
        channel_language: Default::default(),
    };
    let no_mail = MailSettings {
        smtp: None,
        from: "Leasegate <leasegate@contoso.test>".into(),
        retry_first: Duration::from_millis(200),
        give_up_after: Duration::from_secs(3600),
        security: Vec::new(),
    };
    const CARDS: usize = 16;
    for n in 0..CARDS {
        sqlx::query(
            "insert into teams_outbox (topic, kind, target, payload)
             values ($1, 'new_request', 'channel:ops', $2)",
        )
        .bind(format!("test:{n}"))
        .bind(json!({ "type": "message", "n": n }))
        .execute(&pool)
        .await
        .unwrap();
    }
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let notifier = Notifier::with_teams(
                pool.clone(),
                url::Url::parse("http://127.0.0.1:9/").unwrap(),
                &no_mail,
                &teams,
            )
            .unwrap()
            .expect("Teams alone runs a notifier")
            .with_claim(Duration::from_secs(4));
            let pool = pool.clone();
            tokio::spawn(async move {
                let pending = "select count(*) from teams_outbox where state <> 'sent'";
                crate::engine::until_done(pool, pending, || async {
                    notifier.post_cards().await.unwrap();
                })
                .await
            })
        })
        .collect();
    for replica in replicas {
        replica.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut posted: Vec<i64> = receiver
        .posted
        .lock()
        .unwrap()
        .iter()
        .map(|(_, message)| message["n"].as_i64().unwrap())
        .collect();
    posted.sort();
    assert_eq!(posted, (0..CARDS as i64).collect::<Vec<_>>());
}

/// A webhook address reaches only Microsoft's Workflows hosts, never inside the network: loopback,
/// private and metadata addresses are refused when a person saves one, whether typed as an
/// address or as a name that resolves there, and lab mode alone opens nothing (only a receiver the
/// lab names by address and port). An address whose name resolves inside when the card is
/// posted (a DNS answer that changed after it was saved) is refused then, and nothing is sent.
#[sqlx::test]
async fn a_webhook_never_reaches_inside_the_network(pool: PgPool) {
    let (receiver, hooks) = start_receiver().await;
    let port = hooks.rsplit(':').next().unwrap().to_string();
    // An operator who allowed `localhost` as a Workflows host by mistake: the name is allowed,
    // the addresses it resolves to are not.
    let (app, _) = seed::ldap_portal(
        pool.clone(),
        vec![
            ("LEASEGATE_LAB_MODE", "true".into()),
            (
                "LEASEGATE_TEAMS_ALLOWED_HOSTS",
                "*.logic.azure.com,localhost".into(),
            ),
        ],
    )
    .await;
    let megan = app.person("megan").await;
    for refused in [
        format!("{hooks}/hook/megan"),
        "https://127.0.0.1/hook".to_string(),
        "https://10.0.0.1/hook".to_string(),
        "https://169.254.169.254/latest/meta-data/iam".to_string(),
        "https://[::1]/hook".to_string(),
        format!("https://localhost:{port}/hook/megan"),
        "https://intranet.contoso.test/hook".to_string(),
    ] {
        let (status, body) = app.call(&megan, "me/teams", &[("webhook", &refused)]).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}: {body}"
        );
    }
    let saved: Option<String> =
        sqlx::query_scalar("select teams_webhook from principals where upn like 'megan%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(saved, None, "nothing refused was kept");

    // Saved when its name answered with a public address; now it answers with loopback.
    let megan_id: uuid::Uuid =
        sqlx::query_scalar("select id from principals where upn like 'megan%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    leasegate::server::db::teams::set_chat_webhook(
        &pool,
        megan_id,
        Some(&format!("https://localhost:{port}/hook/megan")),
    )
    .await
    .unwrap();
    sqlx::query(
        "insert into teams_outbox (topic, kind, target, payload)
         values ('test:rebound', 'new_request', $1, '{\"type\": \"message\"}')",
    )
    .bind(format!("person:{megan_id}"))
    .execute(&pool)
    .await
    .unwrap();
    let teams = TeamsSettings {
        destinations: Destinations::new(
            ["*.logic.azure.com".to_string(), "localhost".to_string()],
            Vec::new(),
        ),
        ..TeamsSettings::default()
    };
    let no_mail = MailSettings {
        smtp: None,
        from: "Leasegate <leasegate@contoso.test>".into(),
        retry_first: Duration::from_millis(200),
        give_up_after: Duration::from_secs(3600),
        security: Vec::new(),
    };
    let notifier = Notifier::with_teams(
        pool.clone(),
        url::Url::parse("http://127.0.0.1:9/").unwrap(),
        &no_mail,
        &TeamsSettings {
            channels: [("x".to_string(), Secret::new("https://a.logic.azure.com/x"))]
                .into_iter()
                .collect(),
            ..teams
        },
    )
    .unwrap()
    .expect("a notifier");
    let pass = notifier.post_cards().await.unwrap();
    assert_eq!(pass.refused, 1, "{pass:?}");
    let answer: String =
        sqlx::query_scalar("select last_error from teams_outbox where topic = 'test:rebound'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(answer.contains("inside the network"), "{answer}");
    assert!(
        receiver.posted.lock().unwrap().is_empty(),
        "nothing reached inside"
    );
}
