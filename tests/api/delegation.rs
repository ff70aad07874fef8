//! Out-of-office delegation through the server functions: an approver names a deputy; requests
//! that wait for the approver wait for the deputy too, audited and mailed; the deputy decides.
//! Refused: oneself, someone unknown, an overlapping time, a loop; and a deputy is never given
//! their own request.

use chrono::{TimeDelta, Utc};
use leasegate::server::notify::Notifier;
use leasegate::server::services::delegation;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::harness::TestApp;
use crate::mail::Mailbox;
use crate::seed;

fn local(at: chrono::DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

async fn name_deputy(
    app: &TestApp,
    who: &reqwest::Client,
    deputy: &str,
    from: chrono::DateTime<Utc>,
    until: chrono::DateTime<Utc>,
) -> (StatusCode, Value) {
    app.call(
        who,
        "me/deputy",
        &[
            ("deputy", deputy),
            ("starts_at", &local(from)),
            ("ends_at", &local(until)),
            ("utc_offset_minutes", "0"),
        ],
    )
    .await
}

#[sqlx::test]
async fn a_deputy_decides_while_the_approver_is_away(pool: PgPool) {
    let policy = json!({
        "name": "Manager approval",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "manager" }],
    });
    let key = seed::offered(&pool, policy.clone(), &[]).await;
    let second_key = seed::offered(&pool, policy, &[]).await;
    let (app, _) = seed::ldap_portal(pool.clone(), Vec::new()).await;
    let mailbox = Mailbox::start(&[]).await;
    let notifier = Notifier::new(
        pool.clone(),
        url::Url::parse(&format!("{}/", app.base)).unwrap(),
        &mailbox.settings(),
    )
    .unwrap()
    .unwrap();
    let adele = app.person("adele").await;
    let megan = app.person("megan").await;
    let alex = app.person("alex").await;
    let now = Utc::now();
    let (from, until) = (now - TimeDelta::minutes(5), now + TimeDelta::days(2));

    // Refusals, each naming its field, and nothing stored.
    for (deputy, from, until, field) in [
        ("megan.bowen@contoso.test", from, until, "deputy"),
        ("nobody@contoso.test", from, until, "deputy"),
        ("alex.wilber@contoso.test", until, from, "ends_at"),
        (
            "alex.wilber@contoso.test",
            from,
            now + TimeDelta::days(200),
            "ends_at",
        ),
    ] {
        let (status, body) = name_deputy(&app, &megan, deputy, from, until).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{deputy}: {body}");
        assert_eq!(body["Invalid"]["field"], field, "{body}");
    }
    assert_eq!(
        seed::count(&pool, "select count(*) from delegations").await,
        0
    );

    let (status, body) = name_deputy(&app, &megan, "alex.wilber@contoso.test", from, until).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A second deputy for the same time, and a loop back to Megan, are refused.
    let (status, _) = name_deputy(&app, &megan, "nestor.wilke@contoso.test", from, until).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = name_deputy(&app, &alex, "megan.bowen@contoso.test", from, until).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(crate::harness::said(&body).contains("loop"), "{body}");

    // Adele asks; the request waits for Megan and, delegated, for Alex.
    let (status, body) = app.request(&adele, &key, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(delegation::route_due(&pool).await.unwrap(), 1);
    assert_eq!(delegation::route_due(&pool).await.unwrap(), 0, "once");
    let delegated: Value =
        sqlx::query_scalar("select details from audit_events where action = 'request.delegated'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(delegated["from"], "megan.bowen@contoso.test");
    assert_eq!(delegated["to"], "alex.wilber@contoso.test");
    notifier.pass().await.unwrap();
    let mails = mailbox.wait_for(2, "the approver's and the deputy's").await;
    let to_alex: Vec<&Value> = mails
        .iter()
        .filter(|m| m["to"][0]["address"] == "alex.wilber@contoso.test")
        .collect();
    assert_eq!(to_alex.len(), 1, "{mails:#?}");
    assert!(
        to_alex[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("As deputy: ")
    );
    assert!(
        to_alex[0]["text"]
            .as_str()
            .unwrap()
            .contains("Megan Bowen is away")
    );

    // Alex decides; the request is approved.
    let (_, inbox) = app.call(&alex, "approvals", &[]).await;
    assert_eq!(inbox["waiting"].as_array().unwrap().len(), 1, "{inbox}");
    let (status, body) = app
        .call(
            &alex,
            "approvals/decide",
            &[
                ("request_id", &request),
                ("outcome", "approve"),
                ("comment", "for Megan"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Megan ends it and names Adele: Adele's own request is never routed to her.
    let (_, settings) = app.call(&megan, "me/settings", &[]).await;
    let delegation_id = settings["delegations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(settings["delegations"][0]["mine"], true);
    let (status, _) = app
        .call(&alex, "me/deputy/end", &[("delegation_id", &delegation_id)])
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only Megan ends her delegation"
    );
    let (status, _) = app
        .call(
            &megan,
            "me/deputy/end",
            &[("delegation_id", &delegation_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = name_deputy(&app, &megan, "adele.vance@contoso.test", from, until).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.request(&adele, &second_key, &[]).await;
    let own = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(delegation::route_due(&pool).await.unwrap(), 1);
    let to: Value = sqlx::query_scalar(
        "select details->'to' from audit_events where action = 'request.delegated' and request_id = $1::uuid",
    )
    .bind(&own)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        to,
        Value::Null,
        "nobody takes Megan's place on Adele's own request"
    );
    let (status, _) = app
        .call(
            &adele,
            "approvals/decide",
            &[
                ("request_id", &own),
                ("outcome", "approve"),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
