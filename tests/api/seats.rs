//! A quorum counts seats, not people: whoever stands in for an approver (a deputy, a deputy's
//! deputy, an escalation backup) fills that approver's seat and never adds a vote. Against the
//! real directory and identity provider, through the server functions: on a 2-of-3 owners
//! stage, an owner and their deputy do not make two approvals, nor do a deputy's deputy and a
//! backup standing for the same owner.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use leasegate::server::app::clock::Clock;
use leasegate::server::connectors::Connectors;
use leasegate::server::jobs::escalation;
use leasegate::server::services::delegation;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::directory::{openldap, unique};
use crate::escalation::person;
use crate::harness::{TestApp, at_provider};
use crate::seed;

const CONNECTOR: &str = "test-directory";

async fn decide(app: &TestApp, who: &reqwest::Client, request: &str) -> (StatusCode, Value) {
    app.call(
        who,
        "approvals/decide",
        &[
            ("request_id", request),
            ("outcome", "approve"),
            ("comment", ""),
        ],
    )
    .await
}

async fn name_deputy(app: &TestApp, who: &reqwest::Client, deputy: &str) {
    let at = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    let now = Utc::now();
    let (status, body) = app
        .call(
            who,
            "me/deputy",
            &[
                ("deputy", deputy),
                ("starts_at", &at(now - TimeDelta::minutes(5))),
                ("ends_at", &at(now + TimeDelta::days(2))),
                ("utc_offset_minutes", "0"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Two groups in the directory, each an entry under `policy` owned by `owners`: their keys.
async fn two_entitlements(
    pool: &PgPool,
    ldap: &mut ldap3::Ldap,
    name: &str,
    policy: &Value,
    owners: &[&str],
) -> Vec<String> {
    let mut keys = Vec::new();
    for n in 0..2 {
        let group = openldap()
            .add_group(ldap, &format!("{name} {n}"), &[])
            .await;
        let id = seed::entitlement_with(pool, CONNECTOR, &group, policy.clone(), owners).await;
        keys.push(seed::key_of(pool, id).await);
    }
    keys
}

/// The portal with the test directory as its only connector.
async fn portal(pool: &PgPool) -> (Connectors, TestApp) {
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, Arc::new(openldap().connector()));
    let app = TestApp::with_connectors(pool.clone(), &connectors).await;
    (connectors, app)
}

async fn state(pool: &PgPool, request: &str) -> String {
    sqlx::query_scalar("select state from access_requests where id = $1::uuid")
        .bind(request)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn waiting_for(app: &TestApp, who: &reqwest::Client) -> usize {
    let (status, inbox) = app.call(who, "approvals", &[]).await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    inbox["waiting"].as_array().unwrap().len()
}

#[sqlx::test]
async fn standing_in_never_adds_a_vote(pool: PgPool) {
    let dir = openldap();
    let mut ldap = dir.admin().await;
    let tag = unique();
    let (boss_id, _, boss_dn) = person(&mut ldap, &format!("Boss {tag}"), None).await;
    let (o1_id, o1_upn, _) = person(&mut ldap, &format!("Owner1 {tag}"), Some(&boss_dn)).await;
    let (o2_id, o2_upn, _) = person(&mut ldap, &format!("Owner2 {tag}"), None).await;
    let (_, o3_upn, _) = person(&mut ldap, &format!("Owner3 {tag}"), None).await;
    let (d_id, d_upn, _) = person(&mut ldap, &format!("Deputy {tag}"), None).await;
    let (e_id, e_upn, _) = person(&mut ldap, &format!("Deputy2 {tag}"), None).await;
    let (r_id, _, _) = person(&mut ldap, &format!("Requester {tag}"), None).await;
    let policy = json!({
        "name": "Two of three owners",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "owners", "required": 2 }],
        "escalate_after_minutes": 120,
        "escalate_to": "managers",
    });
    let owners = [o1_upn.as_str(), o2_upn.as_str(), o3_upn.as_str()];
    let keys = two_entitlements(&pool, &mut ldap, &format!("Seats {tag}"), &policy, &owners).await;
    let (connectors, app) = portal(&pool).await;
    let clock = Clock::default();
    let requester = app.person(&r_id).await;
    let o1 = app.person(&o1_id).await;
    let o2 = app.person(&o2_id).await;
    let d = app.person(&d_id).await;
    let e = app.person(&e_id).await;
    let boss = app.person(&boss_id).await;

    // Owner 1 is away; their deputy D stands in their seat.
    name_deputy(&app, &o1, &d_upn).await;
    let (status, body) = app.request(&requester, &keys[0], &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(delegation::route_due(&pool).await.unwrap(), 1);
    assert_eq!(waiting_for(&app, &d).await, 1);
    assert_eq!(decide(&app, &o1, &first).await.0, StatusCode::OK);
    // O1's seat is filled: the deputy has nothing left to decide, and may not.
    assert_eq!(waiting_for(&app, &d).await, 0);
    let (status, body) = decide(&app, &d, &first).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        crate::harness::said(&body).contains("stand in for"),
        "{body}"
    );
    assert_eq!(
        state(&pool, &first).await,
        "pending",
        "O1 + O1's deputy is one vote"
    );
    assert_eq!(decide(&app, &o2, &first).await.0, StatusCode::OK);
    assert_eq!(state(&pool, &first).await, "approved");

    // D is away too and names E: the next request goes along the chain to E, in O1's seat;
    // later the stage is escalated to O1's manager, a backup in the same seat.
    name_deputy(&app, &d, &e_upn).await;
    let (status, body) = app.request(&requester, &keys[1], &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["request_id"].as_str().unwrap().to_string();
    assert_eq!(delegation::route_due(&pool).await.unwrap(), 1);
    clock.advance(TimeDelta::minutes(121));
    assert_eq!(
        escalation::run_due(&pool, &connectors, &clock)
            .await
            .unwrap(),
        1
    );
    let seats: Vec<(String, String)> = sqlx::query_as(
        "select coalesce((select lower(upn) from principals where id = holder_id(seat)), seat), \
                approver_upn \
           from request_approvers where request_id = $1::uuid and seat <> holder \
          order by approver_upn",
    )
    .bind(&second)
    .fetch_all(&pool)
    .await
    .unwrap();
    let boss_upn = format!("{boss_id}@contoso.test");
    let mut expected = vec![(o1_upn.clone(), e_upn.clone()), (o1_upn.clone(), boss_upn)];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(seats, expected, "both stand in O1's seat");
    assert_eq!(decide(&app, &e, &second).await.0, StatusCode::OK);
    assert_eq!(decide(&app, &boss, &second).await.0, StatusCode::CONFLICT);
    assert_eq!(decide(&app, &o1, &second).await.0, StatusCode::CONFLICT);
    assert_eq!(
        state(&pool, &second).await,
        "pending",
        "a deputy's deputy and a backup for one seat are one vote"
    );
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from grants g join access_requests r on r.id = g.request_id \
             where r.state = 'pending'"
        )
        .await,
        0
    );
    assert_eq!(decide(&app, &o2, &second).await.0, StatusCode::OK);
    assert_eq!(state(&pool, &second).await, "approved");
}

/// Someone at the identity provider who signs in as `upn` (a fresh object id).
async fn at_provider_as(id: &str, upn: &str, name: &str) {
    at_provider(
        id,
        json!({ "upn": upn, "oid": uuid::Uuid::new_v4().to_string(), "name": name, "roles": [] }),
    )
    .await;
}

/// Renames `id` at the identity provider and gives its old name `upn` to a newcomer; both
/// sign in: (the renamed person, the newcomer).
async fn rename_and_reuse(
    app: &TestApp,
    id: &str,
    upn: &str,
) -> (reqwest::Client, reqwest::Client) {
    at_provider(id, json!({ "upn": format!("renamed-{id}@contoso.test") })).await;
    let renamed = app.person(id).await;
    let newcomer_id = format!("n{}", unique());
    at_provider_as(&newcomer_id, upn, &format!("Newcomer {newcomer_id}")).await;
    (renamed, app.person(&newcomer_id).await)
}

/// Entra renames people and gives old names to new people. An approver is the person the name
/// belonged to when the request was submitted (or, for a name nobody the portal knew, the first
/// person to sign in with it), whatever either name does next: the renamed approver keeps the
/// approvals, the newcomer with the old name inherits none.
#[sqlx::test]
async fn an_approver_is_a_person_not_a_name(pool: PgPool) {
    let dir = openldap();
    let mut ldap = dir.admin().await;
    let tag = unique();
    let (a_id, a_upn, _) = person(&mut ldap, &format!("Approver {tag}"), None).await;
    let (r_id, _, _) = person(&mut ldap, &format!("Requester {tag}"), None).await;
    // Someone the portal has not seen when the requests are submitted.
    let c_id = format!("c{}", unique());
    let c_upn = format!("{c_id}@contoso.test");
    at_provider_as(&c_id, &c_upn, &format!("Late approver {tag}")).await;
    let policy = json!({
        "name": "One owner",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "owners", "required": 1 }],
    });
    let owners = [a_upn.as_str(), c_upn.as_str()];
    let keys = two_entitlements(&pool, &mut ldap, &format!("Named {tag}"), &policy, &owners).await;
    let (_, app) = portal(&pool).await;
    let requester = app.person(&r_id).await;
    let a = app.person(&a_id).await;
    let mut requests = Vec::new();
    for key in &keys {
        let (status, body) = app.request(&requester, key, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        requests.push(body["request_id"].as_str().unwrap().to_string());
    }
    assert_eq!(waiting_for(&app, &a).await, 2);

    // A is renamed, and A's old name is given to a newcomer.
    let (a, newcomer) = rename_and_reuse(&app, &a_id, &a_upn).await;
    assert_eq!(
        waiting_for(&app, &a).await,
        2,
        "the renamed approver keeps both"
    );
    assert_eq!(
        waiting_for(&app, &newcomer).await,
        0,
        "the old name brings nothing"
    );
    let (status, body) = decide(&app, &newcomer, &requests[0]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(decide(&app, &a, &requests[0]).await.0, StatusCode::OK);
    assert_eq!(state(&pool, &requests[0]).await, "approved");

    // C was a name when the requests were submitted; the first to sign in with it is C, by id
    // from then on: renamed, C keeps the approval; C's old name gives its next holder nothing.
    let c = app.person(&c_id).await;
    assert_eq!(waiting_for(&app, &c).await, 1);
    let (c, successor) = rename_and_reuse(&app, &c_id, &c_upn).await;
    assert_eq!(waiting_for(&app, &successor).await, 0);
    let (status, body) = decide(&app, &successor, &requests[1]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(waiting_for(&app, &c).await, 1);
    assert_eq!(decide(&app, &c, &requests[1]).await.0, StatusCode::OK);
    assert_eq!(state(&pool, &requests[1]).await, "approved");
}
