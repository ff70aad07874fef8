//! Reminders and escalation by the reminders' clock, against the real directory, identity
//! provider and SMTP server: an approver who does not decide is reminded once after the
//! policy's time; later the stage goes, once, to their manager as well, who is mailed, sees
//! the request in their inbox and decides it. Backups are never the requester or beneficiary.

use std::sync::Arc;

use chrono::TimeDelta;
use leasegate::server::app::clock::Clock;
use leasegate::server::connectors::Connectors;
use leasegate::server::jobs::escalation;
use leasegate::server::notify::Notifier;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::directory::{openldap, unique};
use crate::harness::TestApp;
use crate::mail::Mailbox;
use crate::seed;

const CONNECTOR: &str = "test-directory";

/// A person at the identity provider and in the directory; returns their sign-in id, UPN and
/// directory entry.
pub(crate) async fn person(
    ldap: &mut ldap3::Ldap,
    name: &str,
    manager: Option<&str>,
) -> (String, String, String) {
    let dir = openldap();
    let id = format!("e{}", unique());
    let upn = format!("{id}@contoso.test");
    let dn = dir.add_user(ldap, name, &upn, manager, None).await;
    crate::harness::at_provider(
        &id,
        json!({ "upn": upn, "oid": uuid::Uuid::new_v4().to_string(), "name": name, "roles": [] }),
    )
    .await;
    (id, upn, dn)
}

fn policy(escalate_to: Value) -> Value {
    json!({
        "name": "Manager approval",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "manager" }],
        "remind_after_minutes": 60,
        "escalate_after_minutes": 120,
        "escalate_to": escalate_to,
    })
}

#[sqlx::test]
async fn a_slow_approver_is_reminded_then_their_manager_decides(pool: PgPool) {
    let dir = openldap();
    let mut ldap = dir.admin().await;
    let tag = unique();
    let (boss_id, boss_upn, boss_dn) = person(&mut ldap, &format!("Boss {tag}"), None).await;
    let (appr_id, appr_upn, appr_dn) =
        person(&mut ldap, &format!("Approver {tag}"), Some(&boss_dn)).await;
    let (req_id, req_upn, _) = person(&mut ldap, &format!("Requester {tag}"), Some(&appr_dn)).await;
    let group = dir.add_group(&mut ldap, &format!("Esc {tag}"), &[]).await;
    let by_manager =
        seed::entitlement_with(&pool, CONNECTOR, &group, policy(json!("managers")), &[]).await;
    let other = dir.add_group(&mut ldap, &format!("Esc2 {tag}"), &[]).await;
    // Named backups: the requester among them is passed over.
    let named = seed::entitlement_with(
        &pool,
        CONNECTOR,
        &other,
        policy(json!({ "users": [req_upn, boss_upn] })),
        &[],
    )
    .await;
    let (first_key, second_key) = (
        seed::key_of(&pool, by_manager).await,
        seed::key_of(&pool, named).await,
    );
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, Arc::new(dir.connector()));
    let app = TestApp::with_connectors(pool.clone(), &connectors).await;
    let mailbox = Mailbox::start(&[]).await;
    let clock = Clock::default();
    let notifier = Notifier::new(
        pool.clone(),
        url::Url::parse(&format!("{}/", app.base)).unwrap(),
        &mailbox.settings(),
    )
    .unwrap()
    .unwrap()
    .with_clock(clock.clone());

    let requester = app.person(&req_id).await;
    let approver = app.person(&appr_id).await;
    let boss = app.person(&boss_id).await;
    let (status, body) = app.request(&requester, &first_key, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = body["request_id"].as_str().unwrap().to_string();
    let (status, body) = app.request(&requester, &second_key, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["request_id"].as_str().unwrap().to_string();
    notifier.pass().await.unwrap();
    mailbox.wait_for(2, "the approver is asked twice").await;

    // Not yet: nothing is due before the policy's times.
    assert_eq!(
        escalation::run_due(&pool, &connectors, &clock)
            .await
            .unwrap(),
        0
    );
    assert_eq!(notifier.pass().await.unwrap().written, 0);

    // An hour on: the approver is reminded, once per request.
    clock.advance(TimeDelta::minutes(61));
    assert_eq!(notifier.pass().await.unwrap().written, 2);
    assert_eq!(notifier.pass().await.unwrap().written, 0);
    let mails = mailbox.wait_for(4, "two reminders").await;
    let reminders: Vec<&Value> = mails
        .iter()
        .filter(|m| m["subject"].as_str().unwrap().starts_with("Reminder: "))
        .collect();
    assert_eq!(reminders.len(), 2);
    assert!(reminders.iter().all(|m| m["to"][0]["address"] == appr_upn));
    assert_eq!(
        escalation::run_due(&pool, &connectors, &clock)
            .await
            .unwrap(),
        0
    );

    // Two hours on: escalated, once, to the approver's manager, and to the named backup.
    clock.advance(TimeDelta::minutes(60));
    assert_eq!(
        escalation::run_due(&pool, &connectors, &clock)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        escalation::run_due(&pool, &connectors, &clock)
            .await
            .unwrap(),
        0
    );
    let added = |id: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, Vec<String>>(
                "select array(select coalesce((select lower(upn) from principals \
                                                where id = holder_id(h)), h) \
                                from unnest(added) as t(h)) \
                   from request_escalations where request_id = $1::uuid",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(added(request.clone()).await, vec![boss_upn.clone()]);
    assert_eq!(
        added(second.clone()).await,
        vec![boss_upn.clone()],
        "the requester is never their own backup"
    );
    let events: i64 = seed::count(
        &pool,
        "select count(*) from audit_events where action = 'request.escalated'",
    )
    .await;
    assert_eq!(events, 2);

    // The manager is mailed with the decision page's link, and decides there.
    notifier.pass().await.unwrap();
    let mails = mailbox.wait_for(6, "the escalations").await;
    let escalated: Vec<&Value> = mails
        .iter()
        .filter(|m| m["to"][0]["address"] == boss_upn)
        .collect();
    assert_eq!(escalated.len(), 2, "{mails:#?}");
    assert!(
        escalated[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Escalated to you: ")
    );
    let (_, inbox) = app.call(&boss, "approvals", &[]).await;
    assert_eq!(inbox["waiting"].as_array().unwrap().len(), 2, "{inbox}");
    let (status, body) = app
        .call(
            &boss,
            "approvals/decide",
            &[
                ("request_id", &request),
                ("outcome", "approve"),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The first approver could still have decided; now it is decided.
    let (status, _) = app
        .call(
            &approver,
            "approvals/decide",
            &[
                ("request_id", &request),
                ("outcome", "approve"),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The approver still decides the other one themselves.
    let (status, body) = app
        .call(
            &approver,
            "approvals/decide",
            &[
                ("request_id", &second),
                ("outcome", "deny"),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let states: Vec<String> = sqlx::query_scalar(
        "select state from access_requests where id in ($1::uuid, $2::uuid) order by id = $1::uuid desc",
    )
    .bind(&request)
    .bind(&second)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(states, ["approved", "denied"]);
}
