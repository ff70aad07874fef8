//! The people sync stored and acted on, against the real Samba AD DC and the Graph simulator:
//! one person for the same human in both (by source anchor, never by sign-in name), changes picked
//! up incrementally, manager approval following the synced manager, and offboarding: every
//! lease in every system removed and read back, requests withdrawn, approvals passed on, all
//! in the trail. A pass that would offboard too many people at once is refused until forced.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use leasegate::domain::access::Access;
use leasegate::server::connectors::{Connector, Connectors};
use leasegate::server::db::people::{self as stored, SourceSpec};
use leasegate::server::jobs::people_sync::{self, SyncError};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::{openldap, samba, unique};
use crate::engine::{Running, eventually};
use crate::graph::Sim;
use crate::harness::{Options, TestApp};
use crate::people::replace;
use crate::seed;

const AD: &str = "test-directory";
const CLOUD: &str = "contoso-cloud";
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

/// Declares `names` (connector, kind) as people sources in this order.
pub(crate) async fn sources(pool: &PgPool, names: &[(&str, &str)], max_leavers: i32) {
    for (name, kind) in names {
        sqlx::query(
            "insert into connectors (name, kind) values ($1, $2) on conflict (name) do nothing",
        )
        .bind(name)
        .bind(kind)
        .execute(pool)
        .await
        .unwrap();
    }
    let specs: Vec<SourceSpec> = names
        .iter()
        .enumerate()
        .map(|(i, (name, _))| SourceSpec {
            connector: name,
            precedence: i as i32,
            every_seconds: 900,
            complete_every_seconds: 86_400,
            max_leavers,
        })
        .collect();
    let mut conn = pool.acquire().await.unwrap();
    stored::put_sources(&mut conn, &specs).await.unwrap();
}

/// The source anchor of each person a directory lists, by distinguished name (lower case), as
/// Entra Connect syncs it to `onPremisesImmutableId`.
async fn anchors_of(directory: &impl Connector) -> std::collections::HashMap<String, String> {
    directory
        .people(None)
        .await
        .unwrap()
        .changed
        .into_iter()
        .filter_map(|p| Some((p.account.reference.to_lowercase(), p.anchor?)))
        .collect()
}

/// A person as the portal stores them.
#[derive(Debug)]
struct Person {
    id: Uuid,
    kind: String,
    status: String,
    department: Option<String>,
    manager: Option<Uuid>,
    tenant: Option<String>,
    left_at: Option<DateTime<Utc>>,
    accounts: i64,
}

/// A person's row: id, kind, status, department, manager, tenant, left at, accounts.
type PersonRow = (
    Uuid,
    String,
    String,
    Option<String>,
    Option<Uuid>,
    Option<String>,
    Option<DateTime<Utc>>,
    i64,
);

async fn person(pool: &PgPool, upn: &str) -> Person {
    let row: PersonRow = sqlx::query_as(
        "select p.id, p.kind, p.status, p.department, p.manager_id, p.tenant_id, p.left_at,
                (select count(*) from principal_accounts pa where pa.principal_id = p.id)
           from principals p where lower(p.upn) = lower($1)",
    )
    .bind(upn)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{upn}: {e}"));
    Person {
        id: row.0,
        kind: row.1,
        status: row.2,
        department: row.3,
        manager: row.4,
        tenant: row.5,
        left_at: row.6,
        accounts: row.7,
    }
}

async fn events(pool: &PgPool, action: &str, principal: Uuid) -> Vec<Value> {
    sqlx::query_scalar(
        "select details from audit_events where action = $1 and subject_id = $2 order by id",
    )
    .bind(action)
    .bind(principal)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn people_in_ad_and_entra_are_one_person_and_their_changes_follow(pool: PgPool) {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = |name: &str| format!("{name}.{id}@contoso.test");
    let boss = dir
        .add_user(
            &mut admin,
            &format!("Boss {id}"),
            &upn("boss"),
            None,
            Some("Sales"),
        )
        .await;
    let next = dir
        .add_user(
            &mut admin,
            &format!("Nextboss {id}"),
            &upn("nextboss"),
            None,
            None,
        )
        .await;
    let worker = dir
        .add_user(
            &mut admin,
            &format!("Worker {id}"),
            &upn("worker"),
            Some(&boss),
            Some("Sales"),
        )
        .await;
    // Same name in both, but nothing else says they are one human.
    let twin = dir
        .add_user(&mut admin, &format!("Twin {id}"), &upn("twin"), None, None)
        .await;
    for dn in [&boss, &next, &worker, &twin] {
        dir.wait_for(&mut admin, dn).await;
    }
    let ad = dir.connector();
    // Each person's source anchor, as Entra Connect syncs it to `onPremisesImmutableId`.
    let anchors = anchors_of(&ad).await;
    let anchor = |dn: &str| anchors[&dn.to_lowercase()].clone();
    // In Entra the worker has another sign-in name (the anchor names them), a guest is
    // cloud-only, and a cloud-only user has the name of an AD user.
    let sim = Sim::start().await;
    sim.seed(json!({ "users": [
        { "userPrincipalName": upn("boss"), "displayName": format!("Boss {id}"),
          "onPremisesImmutableId": anchor(&boss) },
        { "userPrincipalName": upn("nextboss"), "displayName": format!("Nextboss {id}"),
          "onPremisesImmutableId": anchor(&next) },
        { "userPrincipalName": format!("w{id}@contoso.onmicrosoft.test"),
          "displayName": format!("Worker {id}"), "manager": upn("boss"),
          "department": "Cloud sales", "onPremisesImmutableId": anchor(&worker) },
        { "userPrincipalName": format!("pat{id}_fabrikam.test#EXT#@contoso.test"),
          "displayName": "Pat", "userType": "Guest" },
        { "userPrincipalName": upn("twin"), "displayName": format!("Twin {id}") },
    ] }))
    .await;
    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(ad));
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    sources(&pool, &[(AD, "ldap"), (CLOUD, "graph")], 10_000).await;

    let first = people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(first.complete, "the first pass is complete");
    assert!(first.created >= 4, "{first:?}");
    let cloud = people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    assert!(cloud.complete);
    assert_eq!(
        cloud.created, 2,
        "the guest and the twin are new; the others are AD's people by anchor: {cloud:?}"
    );
    let twins: Vec<(Option<String>, i64)> = sqlx::query_as(
        "select p.tenant_id,
                (select count(*) from principal_accounts pa where pa.principal_id = p.id)
           from principals p where lower(p.upn) = lower($1) order by p.tenant_id nulls first",
    )
    .bind(upn("twin"))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        twins,
        vec![(None, 1), (Some(crate::graph::TENANT.to_string()), 1)],
        "a name is not an identity: two people, an account each"
    );
    let w = person(&pool, &upn("worker")).await;
    let b = person(&pool, &upn("boss")).await;
    assert_eq!(w.accounts, 2, "one person with an account in each");
    assert!(
        w.tenant.is_some(),
        "Entra gave the AD person their identity"
    );
    assert_eq!(w.manager, Some(b.id));
    assert_eq!(
        w.department.as_deref(),
        Some("Sales"),
        "AD comes first and describes them"
    );
    let pat = person(&pool, &format!("pat{id}_fabrikam.test#EXT#@contoso.test")).await;
    assert_eq!(pat.kind, "guest");

    // A new manager and department in AD: the next pass is incremental and sees them.
    replace(
        &mut admin,
        &worker,
        &[("manager", &next), ("department", "Marketing")],
    )
    .await;
    let second = people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(!second.complete, "incremental after the first pass");
    let w = person(&pool, &upn("worker")).await;
    let n = person(&pool, &upn("nextboss")).await;
    assert_eq!(w.manager, Some(n.id));
    assert_eq!(w.department.as_deref(), Some("Marketing"));
    let changed = events(&pool, "person.changed", w.id).await;
    let last = changed.last().expect("the change is in the trail");
    assert_eq!(
        last["manager"],
        json!([format!("Boss {id}"), format!("Nextboss {id}")])
    );
    assert_eq!(last["department"], json!(["Sales", "Marketing"]));

    // Disabled in AD: they have left.
    replace(&mut admin, &worker, &[("userAccountControl", "546")]).await;
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    let w = person(&pool, &upn("worker")).await;
    assert!(w.left_at.is_some(), "{w:?}");
    assert_eq!(w.status, "disabled", "barred from the portal");
    let left = events(&pool, "person.left", w.id).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["why"], "disabled");
    assert_eq!(left[0]["connector"], AD);

    // A leave date: AD stops the account at its `accountExpires`, and nothing an incremental
    // pass lists changes then; the sync checks the dates it keeps.
    let temp = dir
        .add_user(&mut admin, &format!("Temp {id}"), &upn("temp"), None, None)
        .await;
    dir.wait_for(&mut admin, &temp).await;
    let ends = Utc::now() + TimeDelta::seconds(3);
    let ticks = (ends.timestamp() + 11_644_473_600) * 10_000_000;
    replace(&mut admin, &temp, &[("accountExpires", &ticks.to_string())]).await;
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(person(&pool, &upn("temp")).await.left_at.is_none());
    tokio::time::sleep((ends - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1))
        .await;
    let later = people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(!later.complete);
    let t = person(&pool, &upn("temp")).await;
    assert!(t.left_at.is_some(), "{t:?}");
    assert_eq!(
        events(&pool, "person.left", t.id).await[0]["why"],
        "expired"
    );
}

/// The offboarding test: leases in AD (Samba) and in Entra (a group, a Team, an Entra
/// role); the person is disabled at the source; within a minute of the sync every lease is
/// gone in every system, read back; the pending request is withdrawn, the approval waiting on
/// them goes to their manager, and the trail says offboarding.
#[sqlx::test]
async fn a_leaver_loses_every_lease_everywhere(pool: PgPool) {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let leaver_upn = format!("leaver.{id}@contoso.test");
    let manager_upn = format!("lead.{id}@contoso.test");
    let asker_upn = format!("asker.{id}@contoso.test");
    let dn = dir
        .add_user(&mut admin, &format!("Leaver {id}"), &leaver_upn, None, None)
        .await;
    let group = dir
        .add_group(&mut admin, &format!("Offboard {id}"), &[])
        .await;
    dir.wait_for(&mut admin, &dn).await;

    let sim = Sim::start().await;
    sim.config(json!({ "pim_minimum_active_minutes": 0 })).await;
    let ids = sim
        .seed(json!({
            "users": [
                { "userPrincipalName": manager_upn, "displayName": "Lead" },
                { "userPrincipalName": asker_upn, "displayName": "Asker" },
                { "userPrincipalName": leaver_upn, "displayName": format!("Leaver {id}"),
                  "manager": manager_upn },
            ],
            "groups": [
                { "displayName": "Falcon", "securityEnabled": true, "mailEnabled": false },
                { "displayName": "Falcon team", "team": true },
            ],
        }))
        .await;
    let leaver_id = ids["users"][&leaver_upn].as_str().unwrap().to_lowercase();
    let entra_group = ids["groups"]["Falcon"].as_str().unwrap().to_string();
    let team = ids["groups"]["Falcon team"].as_str().unwrap().to_string();

    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(dir.connector()));
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    sources(&pool, &[(CLOUD, "graph")], 10).await;
    let leaver = seed::principal(&pool, &leaver_upn, &format!("Leaver {id}")).await;
    let asker = seed::principal(&pool, &asker_upn, "Asker").await;
    let entries = [
        seed::entitlement(&pool, AD, &group).await,
        seed::entitlement_on(
            &pool,
            CLOUD,
            "graph",
            json!({ "kind": "entra_group" }),
            &entra_group,
        )
        .await,
        seed::entitlement_on(
            &pool,
            CLOUD,
            "graph",
            json!({ "kind": "team", "role": "member" }),
            &team,
        )
        .await,
        seed::entitlement_on(
            &pool,
            CLOUD,
            "graph",
            json!({ "kind": "entra_role", "directory_scope": "/" }),
            HELPDESK,
        )
        .await,
    ];
    let start = Utc::now() + TimeDelta::milliseconds(300);
    let mut grants = Vec::new();
    for entry in entries {
        grants.push(seed::grant(&pool, leaver, entry, start, start + TimeDelta::hours(1)).await);
    }
    let engine = Running::start(&pool, connectors.clone(), Duration::from_secs(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seed::count(&pool, "select count(*) from grants where state = 'active'").await != 4 {
        if std::time::Instant::now() > deadline {
            // Why not: each grant's state, attempts and last error.
            let grants: Vec<(String, i32, Option<String>)> =
                sqlx::query_as("select state, attempts, last_error from grants")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            panic!("timed out waiting for every lease active: {grants:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dir.is_member(&mut admin, &group, &dn).await);
    // A request of the leaver's, and one of someone else's that waits on the leaver's decision.
    let pending = request(&pool, leaver, entries[0], &[]).await;
    let waiting = request(&pool, asker, entries[0], &[&leaver_upn]).await;

    let first = people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    assert_eq!(first.left, 0, "{first:?}");
    sim.change_user(&leaver_upn, json!({ "accountEnabled": false }))
        .await;
    let synced_at = std::time::Instant::now();
    let second = people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    assert_eq!(
        (
            second.left,
            second.leases_ended,
            second.requests_withdrawn,
            second.approvals_rerouted
        ),
        (1, 4, 1, 1),
        "{second:?}"
    );
    eventually(
        Duration::from_secs(60),
        "every lease removed and read back",
        || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoked' and removal = 'verified' \
             and revoke_reason = 'offboarding'",
            )
            .await
                == 4
        },
    )
    .await;
    assert!(synced_at.elapsed() < Duration::from_secs(60));
    engine.shut_down().await;

    // Gone in every system, as each system answers now.
    assert!(!dir.is_member(&mut admin, &group, &dn).await, "AD group");
    assert!(
        !sim.members(&entra_group).await.contains(&leaver_id),
        "Entra group"
    );
    assert!(!sim.members(&team).await.contains(&leaver_id), "Team");
    let graph = sim.connector();
    let role = Access::EntraRole {
        directory_scope: "/".into(),
    };
    assert!(
        graph
            .holding(&role, HELPDESK, std::slice::from_ref(&leaver_id))
            .await
            .unwrap()
            .is_empty(),
        "Entra role"
    );
    let state = |request: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("select state from access_requests where id = $1")
                .bind(request)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(state(pending).await, "cancelled");
    assert_eq!(
        state(waiting).await,
        "pending",
        "someone else's request goes on"
    );
    let approvers: Vec<String> =
        sqlx::query_scalar("select approver_upn from request_approvers where request_id = $1")
            .bind(waiting)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        approvers,
        vec![manager_upn.to_lowercase()],
        "their manager decides instead"
    );
    for grant in &grants {
        assert_eq!(seed::events(&pool, *grant, "grant.offboarded").await, 1);
        assert_eq!(seed::events(&pool, *grant, "grant.revoked").await, 1);
    }
    assert_eq!(events(&pool, "person.left", leaver).await.len(), 1);
    let withdrawn: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'request.withdrawn' and request_id = $1",
    )
    .bind(pending)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(withdrawn, 1);
    let rerouted: Value = sqlx::query_scalar(
        "select details from audit_events where action = 'request.approval_rerouted' and request_id = $1",
    )
    .bind(waiting)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rerouted["to"], manager_upn.to_lowercase());
}

/// A pending request of `who` for `entitlement`, waiting on `approvers` in its one stage.
async fn request(pool: &PgPool, who: Uuid, entitlement: Uuid, approvers: &[&str]) -> Uuid {
    let id: Uuid = sqlx::query_scalar(
        "insert into access_requests (requester_id, beneficiary_id, entitlement_id, starts_at,
                                      ends_at, justification, policy, expires_at, client_token)
         values ($1, $1, $2, now(), now() + interval '1 hour', 'Quarter-end close',
                 '{}', now() + interval '1 day', gen_random_uuid())
         returning id",
    )
    .bind(who)
    .bind(entitlement)
    .fetch_one(pool)
    .await
    .unwrap();
    for approver in approvers {
        sqlx::query(
            "insert into request_approvers (request_id, stage, seat, approver_upn, approver_id) \
             select $1, 0, coalesce(p::text, lower($2)), lower($2), p \
               from principal_for_name($2) as p",
        )
        .bind(id)
        .bind(approver)
        .execute(pool)
        .await
        .unwrap();
    }
    id
}

/// More leavers at once than the source allows: nothing is applied, the refusal is recorded
/// and audited; forced by an administrator, it is applied.
#[sqlx::test]
async fn a_wave_of_leavers_waits_for_an_administrator(pool: PgPool) {
    let sim = Sim::start().await;
    let users: Vec<Value> = (0..3)
        .map(|i| json!({ "userPrincipalName": format!("wave{i}@contoso.test") }))
        .collect();
    sim.seed(json!({ "users": users })).await;
    let mut connectors = Connectors::default();
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    sources(&pool, &[(CLOUD, "graph")], 1).await;
    people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    sim.delete_user("wave0@contoso.test").await;
    sim.change_user("wave1@contoso.test", json!({ "accountEnabled": false }))
        .await;

    let refused = people_sync::pass(&pool, &connectors, CLOUD, false).await;
    assert!(
        matches!(refused, Err(SyncError::Refused { leavers: 2, max: 1 })),
        "{refused:?}"
    );
    for i in 0..2 {
        let p = person(&pool, &format!("wave{i}@contoso.test")).await;
        assert!(
            p.left_at.is_none() && p.status == "active",
            "nothing applied: {p:?}"
        );
    }
    let source = &stored::sources(&pool).await.unwrap()[0];
    assert!(source.last_error.as_deref().unwrap().starts_with("refused"));
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from audit_events where action = 'people_sync.refused'"
        )
        .await,
        1
    );
    // The cursor did not move: the forced pass sees the same changes.
    let forced = people_sync::pass(&pool, &connectors, CLOUD, true)
        .await
        .unwrap();
    assert_eq!(forced.left, 2, "{forced:?}");
    let deleted = person(&pool, "wave0@contoso.test").await;
    assert!(deleted.left_at.is_some());
    assert_eq!(
        events(&pool, "person.left", deleted.id).await[0]["why"],
        "deleted"
    );
    assert!(person(&pool, "wave1@contoso.test").await.left_at.is_some());
    assert!(person(&pool, "wave2@contoso.test").await.left_at.is_none());

    // Unknown sources are named.
    assert!(matches!(
        people_sync::pass(&pool, &connectors, "nowhere", false).await,
        Err(SyncError::NotASource(_))
    ));
}

/// Manager approval asks the synced manager, whichever directory the entitlement lives in:
/// the entitlement is an LDAP group (whose directory says Megan), Entra says Alex; after a
/// change of manager in Entra and the next pass, Nestor.
#[sqlx::test]
async fn manager_approval_follows_the_synced_manager(pool: PgPool) {
    let dir = openldap();
    // The demo people; in this directory Adele reports to Megan.
    crate::access::people(dir).await;
    let mut ldap = dir.admin().await;
    let sim = Sim::start().await;
    sim.seed(json!({ "users": [
        { "userPrincipalName": "alex.wilber@contoso.test", "displayName": "Alex Wilber" },
        { "userPrincipalName": "nestor.wilke@contoso.test", "displayName": "Nestor Wilke" },
        { "userPrincipalName": "megan.bowen@contoso.test", "displayName": "Megan Bowen" },
        { "userPrincipalName": "adele.vance@contoso.test", "displayName": "Adele Vance",
          "manager": "alex.wilber@contoso.test" },
    ] }))
    .await;
    let rules = json!({
        "name": "Manager approval",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "manager" }]
    });
    let mut keys = Vec::new();
    for _ in 0..2 {
        let group = dir
            .add_group(&mut ldap, &format!("Synced manager {}", unique()), &[])
            .await;
        let entry = seed::entitlement_with(&pool, AD, &group, rules.clone(), &[]).await;
        keys.push(seed::key_of(&pool, entry).await);
    }
    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(dir.connector()));
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    sources(&pool, &[(CLOUD, "graph")], 10).await;
    let app = TestApp::spawn_with(
        pool.clone(),
        Options {
            connectors: connectors.clone(),
            ..Options::default()
        },
    )
    .await;
    let adele = app.person("adele").await;
    people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();

    let approvers = |request: Value| {
        let pool = pool.clone();
        async move {
            let id: Uuid = request["request_id"].as_str().unwrap().parse().unwrap();
            sqlx::query_scalar::<_, String>(
                "select approver_upn from request_approvers where request_id = $1",
            )
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let (status, body) = app.request(&adele, &keys[0], &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(approvers(body).await, vec!["alex.wilber@contoso.test"]);

    sim.change_user(
        "adele.vance@contoso.test",
        json!({ "manager": "nestor.wilke@contoso.test" }),
    )
    .await;
    let pass = people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    assert!(!pass.complete && pass.changed >= 1, "{pass:?}");
    let (status, body) = app.request(&adele, &keys[1], &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(approvers(body).await, vec!["nestor.wilke@contoso.test"]);

    // The person page, for auditors and administrators only.
    let (status, _) = app
        .call(&adele, "governance/people", &[("query", "adele")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not for employees");
    let irvin = app.person("irvin").await;
    let (status, list) = app
        .call(&irvin, "governance/people", &[("query", "ADELE")])
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let found = list.as_array().unwrap();
    assert_eq!(found.len(), 1, "{list}");
    let id = found[0]["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .call(&adele, "governance/person", &[("person_id", &id)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, detail) = app
        .call(&irvin, "governance/person", &[("person_id", &id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(
        detail["managers"][0]["display_name"], "Nestor Wilke",
        "{detail}"
    );
    assert_eq!(detail["person"]["standing"], "Active");
    let connectors: Vec<&str> = detail["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["connector"].as_str())
        .collect();
    assert!(connectors.contains(&CLOUD), "{detail}");
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "person.changed"),
        "the change of manager is in their history: {detail}"
    );
    let (status, _) = app
        .call(
            &irvin,
            "governance/person",
            &[("person_id", &Uuid::new_v4().to_string())],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A pass on demand: administrators only, named sources only.
    let sync = [("connector", CLOUD), ("how", "now")];
    for who in [&adele, &irvin] {
        let (status, _) = app.call(who, "admin/people-sync", &sync).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert!(
        stored::sources(&pool).await.unwrap()[0]
            .requested_at
            .is_none()
    );
    let nestor = app.person("nestor").await;
    let (status, body) = app.call(&nestor, "admin/people-sync", &sync).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        stored::sources(&pool).await.unwrap()[0]
            .requested_at
            .is_some()
    );
    let (status, body) = app
        .call(
            &nestor,
            "admin/people-sync",
            &[("connector", "nowhere"), ("how", "now")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// Item 4 of issue 23: a person known only from AD becomes a sign-in only through the source
/// anchor the tenant keeps for the sign-in's object id, never through a matching name. Against
/// the real Samba AD and the Graph simulator as the sign-in's tenant.
#[sqlx::test]
async fn an_ad_person_is_bound_to_a_sign_in_by_anchor_never_by_name(pool: PgPool) {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = |name: &str| format!("{name}.{id}@contoso.test");
    let mut dns = Vec::new();
    for name in ["ann", "ben", "cal", "dan", "eve", "fay", "gil"] {
        let dn = dir
            .add_user(&mut admin, &format!("{name} {id}"), &upn(name), None, None)
            .await;
        dir.wait_for(&mut admin, &dn).await;
        dns.push(dn);
    }
    let [ann, _, cal, dan, eve, fay, gil] = [
        &dns[0], &dns[1], &dns[2], &dns[3], &dns[4], &dns[5], &dns[6],
    ];
    let ad = dir.connector();
    let anchors = anchors_of(&ad).await;
    let anchor = |dn: &str| anchors[&dn.to_lowercase()].clone();
    // The tenant people sign in to: Ann, Cal and Dan are synced from AD (Dan since renamed
    // there); Ben is a cloud-only user who was given the name of an AD person; Eve and Fay
    // (another name in Entra) are synced too, but Graph does not list them yet; an
    // administrator set a cloud-only user's immutable id to Gil's anchor.
    let oid = |_: &str| Uuid::new_v4().to_string();
    let people = [
        ("ann", upn("ann"), oid("ann"), Some(anchor(ann))),
        ("ben", upn("ben"), oid("ben"), None),
        ("cal", upn("cal"), oid("cal"), Some(anchor(cal))),
        (
            "dan",
            format!("daniel.{id}@contoso.test"),
            oid("dan"),
            Some(anchor(dan)),
        ),
        ("eve", upn("eve"), oid("eve"), Some(anchor(eve))),
        (
            "fay",
            format!("f.{id}@contoso.test"),
            oid("fay"),
            Some(anchor(fay)),
        ),
        (
            "gil",
            format!("g.{id}@contoso.test"),
            oid("gil"),
            Some(anchor(gil)),
        ),
    ];
    let user = |name: &str| {
        let (name, upn, oid, anchor) = people.iter().find(|p| p.0 == name).unwrap();
        json!({ "id": oid, "userPrincipalName": upn, "displayName": format!("{name} {id}"),
                "onPremisesImmutableId": anchor })
    };
    let sim = Sim::start().await;
    let mut listed_now: Vec<Value> = ["ann", "ben", "cal", "dan", "gil"].map(user).to_vec();
    listed_now[4]["onPremisesSyncEnabled"] = json!(false);
    sim.seed(json!({ "users": listed_now })).await;
    for (name, upn, oid, _) in &people {
        crate::harness::at_provider(
            &format!("{name}{id}"),
            json!({ "upn": upn, "oid": oid, "name": format!("{name} {id}"), "roles": [] }),
        )
        .await;
    }
    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(ad));
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    // Only AD is a people source: what binds a sign-in is the sign-in's own lookup.
    sources(&pool, &[(AD, "ldap")], 10_000).await;
    // Cal signs in before the sync has read AD.
    let app = TestApp::with_connectors(pool.clone(), &connectors).await;
    app.person(&format!("cal{id}")).await;
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    // Dan leaves in AD before he ever signed in.
    replace(&mut admin, dan, &[("userAccountControl", "546")]).await;
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(person(&pool, &upn("dan")).await.left_at.is_some());

    let rows = |name: &'static str| {
        let pool = pool.clone();
        let upn = upn(name);
        async move {
            let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
                "select p.object_id,
                        (select count(*) from principal_accounts pa where pa.principal_id = p.id)
                   from principals p where lower(p.upn) = lower($1)
                  order by p.object_id nulls first",
            )
            .bind(upn)
            .fetch_all(&pool)
            .await
            .unwrap();
            rows
        }
    };
    let of = |name: &str| people.iter().find(|p| p.0 == name).unwrap().2.clone();
    // Ann: the AD person, now with her sign-in's identity.
    app.person(&format!("ann{id}")).await;
    assert_eq!(rows("ann").await, vec![(Some(of("ann")), 1)]);
    // Cal signed in first; the sync found him by the anchor his sign-in kept.
    assert_eq!(rows("cal").await, vec![(Some(of("cal")), 1)]);
    // Ben: the name is an AD person's, the identity is not. A person of his own, holding
    // nothing of the AD person's.
    app.person(&format!("ben{id}")).await;
    assert_eq!(rows("ben").await, vec![(None, 1), (Some(of("ben")), 0)]);
    // The cloud-only user with Gil's anchor is not Gil: only a synced user is named by one.
    app.person(&format!("gil{id}")).await;
    assert_eq!(
        rows("gil").await,
        vec![(None, 1)],
        "Gil's AD person is untouched"
    );
    // Dan, renamed in Entra: no name to match, yet the anchor says he is the leaver.
    let browser = app.browser();
    let (response, _) = app.sign_in(&browser, &format!("dan{id}")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.signed_in_as(&browser).await.is_none());
    assert_eq!(
        seed::count(
            &pool,
            &format!("select count(*) from principals where upn ilike 'dan%.{id}@contoso.test'")
        )
        .await,
        1,
        "nothing made for the leaver's sign-in"
    );

    // Eve: the AD person with her name may be her, and Graph cannot say yet. Neither bound by
    // name nor made a person of her own (that would split her): asked to come back.
    let browser = app.browser();
    let (response, _) = app.sign_in(&browser, &format!("eve{id}")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("sign in again in a few minutes"),
        "the page says what to do"
    );
    assert_eq!(rows("eve").await, vec![(None, 1)], "nothing stored");
    // Fay's Entra name is not her AD one: nothing to wait for, so a person of her own.
    app.person(&format!("fay{id}")).await;
    // Graph lists them now: Eve is the AD person.
    sim.seed(json!({ "users": [user("eve"), user("fay")] }))
        .await;
    app.person(&format!("eve{id}")).await;
    assert_eq!(rows("eve").await, vec![(Some(of("eve")), 1)]);
    // Fay leaves in AD. Her sign-in made a person apart from the AD one, yet the anchor her
    // tenant now gives says she is the leaver: refused.
    replace(&mut admin, fay, &[("userAccountControl", "546")]).await;
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    let browser = app.browser();
    let (response, _) = app.sign_in(&browser, &format!("fay{id}")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.signed_in_as(&browser).await.is_none());
}

/// A person the sync offboarded before they ever signed in stays out: their account expired in
/// the real Samba AD (its flags untouched, and the identity provider still lets them in, as
/// Entra does not enforce `accountExpires`), the pass records that they left, and their sign-in
/// is refused in words, with no person made for them and so nothing to request with.
#[sqlx::test]
async fn a_leaver_who_never_signed_in_is_refused_at_sign_in(pool: PgPool) {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let account = format!("gone{id}");
    let upn = format!("{account}@contoso.test");
    let dn = dir
        .add_user(&mut admin, &format!("Gone {id}"), &upn, None, None)
        .await;
    dir.wait_for(&mut admin, &dn).await;
    crate::harness::at_provider(
        &account,
        json!({
            "upn": upn, "oid": Uuid::new_v4().to_string(), "name": format!("Gone {id}"),
            "roles": [],
        }),
    )
    .await;
    let ad = dir.connector();
    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(dir.connector()));
    sources(&pool, &[(AD, "ldap")], 10_000).await;
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(person(&pool, &upn).await.left_at.is_none());

    // Their contract ended yesterday.
    let ended = Utc::now() - TimeDelta::days(1);
    let ticks = (ended.timestamp() + 11_644_473_600) * 10_000_000;
    replace(&mut admin, &dn, &[("accountExpires", &ticks.to_string())]).await;
    let found = ad.find_account(&upn).await.unwrap().expect("still there");
    assert!(!found.enabled, "an expired account counts as disabled");
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    let gone = person(&pool, &upn).await;
    assert!(gone.left_at.is_some(), "{gone:?}");
    assert!(gone.tenant.is_none(), "they never signed in");

    let app = TestApp::with_connectors(pool.clone(), &connectors).await;
    let browser = app.browser();
    let (response, _) = app.sign_in(&browser, &account).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("recorded as having left") && page.contains("Leasegate administrator"),
        "the page says why and whom to ask: {page}"
    );
    assert!(app.signed_in_as(&browser).await.is_none());
    assert_eq!(
        seed::count(
            &pool,
            &format!("select count(*) from principals where lower(upn) = lower('{upn}')")
        )
        .await,
        1,
        "no fresh, active person was made for the sign-in"
    );
    assert_eq!(
        seed::count(
            &pool,
            &format!(
                "select count(*) from principals where lower(upn) = lower('{upn}') \
                 and (status = 'active' or tenant_id is not null)"
            )
        )
        .await,
        0
    );
}

/// A people source whose directory is another one than its people were read from (a domain
/// re-provisioned under the same name, a migrated one, a connector pointed elsewhere) offboards
/// nobody, even forced: the pass is refused with what it found and shown to administrators,
/// and applies only once one of them confirms the directory.
#[sqlx::test]
async fn a_directory_that_is_another_one_offboards_nobody(pool: PgPool) {
    let first = openldap();
    crate::access::people(first).await;
    let other = samba();
    crate::access::people(other).await;
    sources(&pool, &[(AD, "ldap")], 100_000).await;
    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(first.connector()));
    let app = TestApp::spawn_with(
        pool.clone(),
        Options {
            connectors: connectors.clone(),
            ..Options::default()
        },
    )
    .await;
    let applied = people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(applied.read > 0, "{applied:?}");
    let active = "select count(*) from principals where left_at is null";
    let before = seed::count(&pool, active).await;

    // The connector now reads another directory.
    connectors.insert(AD, Arc::new(other.connector()));
    for forced in [false, true] {
        let refused = people_sync::pass(&pool, &connectors, AD, forced).await;
        assert!(
            matches!(refused, Err(SyncError::OtherDirectory { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(
        seed::count(&pool, active).await,
        before,
        "nobody offboarded"
    );
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from audit_events where action = 'people_sync.refused'
               and details ? 'directory_is'",
        )
        .await,
        1,
        "said once, not on every pass"
    );
    let nestor = app.person("nestor").await;
    let (_, overview) = app.call(&nestor, "admin", &[]).await;
    let source = &overview["people_sources"][0];
    assert_eq!(source["other_directory"], true, "{source}");
    assert!(
        source["error"]
            .as_str()
            .unwrap()
            .contains("not the directory the people were read from"),
        "{source}"
    );

    // Confirmed by an administrator: the next pass applies and the directory is remembered.
    let adele = app.person("adele").await;
    let confirm = [("connector", AD), ("how", "accept-directory")];
    let (status, _) = app.call(&adele, "admin/people-sync", &confirm).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.call(&nestor, "admin/people-sync", &confirm).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    people_sync::pass(&pool, &connectors, AD, false)
        .await
        .expect("the confirmed directory is the source's now");
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from audit_events where action = 'people_sync.directory_confirmed'",
        )
        .await,
        1
    );
}

/// AD's incremental passes cannot see deletions; an administrator's "Read everyone now" runs a
/// complete pass at once, and the deleted person is offboarded by it.
#[sqlx::test]
async fn a_deletion_is_acted_on_after_an_administrators_complete_pass(pool: PgPool) {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = format!("deleted.{id}@contoso.test");
    let dn = dir
        .add_user(&mut admin, &format!("Deleted {id}"), &upn, None, None)
        .await;
    sources(&pool, &[(AD, "ldap")], 100_000).await;
    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(dir.connector()));
    let app = TestApp::spawn_with(
        pool.clone(),
        Options {
            connectors: connectors.clone(),
            ..Options::default()
        },
    )
    .await;
    assert!(
        people_sync::pass(&pool, &connectors, AD, false)
            .await
            .unwrap()
            .complete
    );
    let left =
        format!("select count(*) from principals where upn = '{upn}' and left_at is not null");
    admin.delete(&dn).await.unwrap().success().unwrap();
    let incremental = people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(!incremental.complete);
    assert_eq!(
        seed::count(&pool, &left).await,
        0,
        "an incremental pass cannot see it"
    );

    let nestor = app.person("nestor").await;
    let (status, body) = app
        .call(
            &nestor,
            "admin/people-sync",
            &[("connector", AD), ("how", "complete")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let complete = people_sync::pass(&pool, &connectors, AD, false)
        .await
        .unwrap();
    assert!(complete.complete, "{complete:?}");
    assert_eq!(
        seed::count(&pool, &left).await,
        1,
        "offboarded by the complete pass"
    );
    // The request is used up: the next pass is incremental again.
    assert!(
        !people_sync::pass(&pool, &connectors, AD, false)
            .await
            .unwrap()
            .complete
    );
}

/// "Apply anyway" given while a pass runs is written at once (a pass does not hold the
/// source's row) and is not used up by that pass's refusal: the next pass applies it.
#[sqlx::test]
async fn apply_anyway_given_during_a_pass_is_not_lost(pool: PgPool) {
    sources(&pool, &[(AD, "ldap")], 1).await;
    let mut pass = pool.begin().await.unwrap();
    let source = stored::lock_source(&mut pass, AD).await.unwrap().unwrap();
    assert!(source.requested_at.is_none());
    let asked = tokio::time::timeout(
        Duration::from_secs(5),
        stored::request_pass(&pool, AD, stored::PassRequest::Forced),
    )
    .await
    .expect("not held up by the pass")
    .unwrap();
    assert!(asked);
    // The pass is refused (too many leavers) and records that.
    drop(pass);
    stored::record_failure(
        &pool,
        &source,
        "refused: this pass would offboard 9 people",
        None,
    )
    .await
    .unwrap();
    let after = &stored::sources(&pool).await.unwrap()[0];
    assert!(
        after.requested_forced,
        "the administrator's request is kept"
    );
    assert!(after.requested_at.is_some());
    // A request the pass did answer is used up.
    let mut pass = pool.begin().await.unwrap();
    let source = stored::lock_source(&mut pass, AD).await.unwrap().unwrap();
    drop(pass);
    stored::record_failure(&pool, &source, "the directory: down", None)
        .await
        .unwrap();
    let after = &stored::sources(&pool).await.unwrap()[0];
    assert!(!after.requested_forced && after.requested_at.is_none());
}
