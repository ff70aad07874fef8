//! Reconciliation against real systems: a Samba AD domain controller, the Graph simulator and
//! OpenLDAP behind the portal's server functions. Every change "by hand" is made with the
//! directory's own administrator connection (or, for Entra, a call the portal never recorded
//! as a lease), and every claim about the target is read back from it the same way.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use ldap3::Mod;
use leasegate::server::connectors::{Connector, Connectors};
use leasegate::server::db::findings::{self as rows, Managed};
use leasegate::server::jobs::grants::Engine;
use leasegate::server::jobs::reconcile::{self, Outcome, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::world;
use crate::directory::{Directory, samba, unique};
use crate::engine::until_done;
use crate::seed;

const CONNECTOR: &str = "test-directory";

/// No grace: the tests' leases settle before each pass, and the passes must see them.
const NOW: Settings = Settings {
    grace: Duration::ZERO,
    complete_every: Duration::ZERO,
};

/// The directory as the connector `CONNECTOR`, and an engine over it.
fn directory_engine(pool: &PgPool, dir: &Directory) -> (Connectors, Engine) {
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, Arc::new(dir.connector()));
    let engine = Engine::new(
        pool.clone(),
        connectors.clone(),
        seed::engine_settings(Duration::from_secs(30)),
    );
    (connectors, engine)
}

async fn entry(pool: &PgPool, entitlement: Uuid) -> Managed {
    let key = seed::key_of(pool, entitlement).await;
    rows::managed(&mut pool.acquire().await.unwrap(), &key)
        .await
        .unwrap()
        .expect("an enabled entry")
}

async fn pass(pool: &PgPool, connectors: &Connectors, entitlement: Uuid) -> Outcome {
    reconcile::pass(pool, connectors, &entry(pool, entitlement).await, NOW)
        .await
        .unwrap()
}

/// Sets the entry's policy to remove what reconciliation finds.
async fn remove_findings(pool: &PgPool, entitlement: Uuid) {
    sqlx::query(
        "update policies set rules = rules || '{\"reconcile\": \"remove\"}'
          where id = (select policy_id from entitlements where id = $1)",
    )
    .bind(entitlement)
    .execute(pool)
    .await
    .unwrap();
}

/// `(kind, account, closed reason, action)` of every finding of the entry, in a fixed order.
async fn findings_of(
    pool: &PgPool,
    entitlement: Uuid,
) -> Vec<(String, String, Option<String>, String)> {
    let mut rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        "select kind, lower(account_ref), closed_reason, action from findings
          where entitlement_id = $1",
    )
    .bind(entitlement)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.sort();
    rows
}

async fn events(pool: &PgPool, entitlement: Uuid, action: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit_events where entitlement_id = $1 and action = $2",
    )
    .bind(entitlement)
    .bind(action)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn member(dir: &Directory, group: &str, user: &str, present: bool) {
    let values = std::collections::HashSet::from([user]);
    let change = if present {
        Mod::Add("member", values)
    } else {
        Mod::Delete("member", values)
    };
    dir.admin()
        .await
        .modify(group, vec![change])
        .await
        .unwrap()
        .success()
        .unwrap();
}

/// The whole life of findings on a managed AD group, against Samba: shadow access and drift
/// both ways found in one pass each, reported without touching the group; a finding that goes
/// by itself closed as gone; with `remove`, shadow access and a removed lease's leftover taken
/// out and read back absent from the domain controller; a declared standing holder left alone
/// until the declaration ends, then flagged and removed.
#[sqlx::test]
async fn samba_shadow_access_and_drift_are_found_and_removed(pool: PgPool) {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let mut person = async |name: &str| {
        let upn = format!("{name}.{id}@contoso.test");
        let dn = dir
            .add_user(&mut admin, &format!("{name} {id}"), &upn, None, None)
            .await;
        (seed::principal(&pool, &upn, name).await, dn)
    };
    let (lessee, lessee_dn) = person("lessee").await;
    let (shadow, shadow_dn) = person("shadow").await;
    let (_, service_dn) = person("service").await;
    let (former, former_dn) = person("former").await;
    let group = dir
        .add_group(&mut dir.admin().await, &format!("Reconciled {id}"), &[])
        .await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let (connectors, engine) = directory_engine(&pool, dir);

    // A lease the engine adds, and one it adds and removes.
    let now = Utc::now();
    let lease = seed::grant(&pool, lessee, entitlement, now, now + TimeDelta::hours(1)).await;
    let ended = seed::grant(&pool, former, entitlement, now, now + TimeDelta::seconds(2)).await;
    engine.run_once().await.unwrap();
    until_done(
        pool.clone(),
        &format!("select count(*) from grants where id = '{ended}' and state <> 'revoked'"),
        || async {
            engine.run_once().await.unwrap();
        },
    )
    .await;
    assert_eq!(seed::grant_state(&pool, lease).await, "active");
    assert_eq!(seed::grant_state(&pool, ended).await, "revoked");

    // By hand: someone added without a lease, a service account an owner declares, the former
    // holder added back, and the lessee taken out.
    member(dir, &group, &shadow_dn, true).await;
    member(dir, &group, &service_dn, true).await;
    member(dir, &group, &former_dn, true).await;
    member(dir, &group, &lessee_dn, false).await;
    let owner = seed::principal(&pool, &format!("owner.{id}@contoso.test"), "Owner").await;
    rows::declare(
        &mut pool.acquire().await.unwrap(),
        &rows::Declare {
            entitlement,
            account_ref: &service_dn,
            account_label: "",
            principal: None,
            reason: "Backup service account",
            until: Utc::now() + TimeDelta::days(30),
            by: owner,
        },
    )
    .await
    .unwrap();

    // One pass finds all three, reports them, and changes nothing in the domain.
    let first = pass(&pool, &connectors, entitlement).await;
    assert_eq!(
        (first.holders, first.opened, first.removed),
        (3, 3, 0),
        "{first:?}"
    );
    let lower = |dn: &str| dn.to_lowercase();
    assert_eq!(
        findings_of(&pool, entitlement).await,
        vec![
            (
                "drift_absent".into(),
                lower(&lessee_dn),
                None,
                "reported".into()
            ),
            (
                "drift_present".into(),
                lower(&former_dn),
                None,
                "reported".into()
            ),
            ("shadow".into(), lower(&shadow_dn), None, "reported".into()),
        ]
    );
    let (drift_grant, holder): (Option<Uuid>, Option<Uuid>) =
        sqlx::query_as("select grant_id, principal_id from findings where kind = 'drift_present'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((drift_grant, holder), (Some(ended), Some(former)));
    let (label, holder): (String, Option<Uuid>) =
        sqlx::query_as("select account_label, principal_id from findings where kind = 'shadow'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        label.contains(&format!("shadow.{id}@contoso.test")),
        "{label}"
    );
    assert_eq!(
        holder,
        Some(shadow),
        "the account's person, by its sign-in name"
    );
    assert!(
        dir.is_member(&mut dir.admin().await, &group, &shadow_dn)
            .await
    );
    assert_eq!(events(&pool, entitlement, "reconcile.found").await, 3);

    // The lessee is put back by hand: that finding went by itself. The others are seen again,
    // not found twice.
    member(dir, &group, &lessee_dn, true).await;
    let second = pass(&pool, &connectors, entitlement).await;
    assert_eq!((second.opened, second.closed), (0, 1), "{second:?}");
    assert!(findings_of(&pool, entitlement).await.contains(&(
        "drift_absent".into(),
        lower(&lessee_dn),
        Some("gone".into()),
        "reported".into()
    )));
    assert_eq!(events(&pool, entitlement, "reconcile.found").await, 3);

    // With `remove`, shadow access and the leftover go, read back from the domain controller;
    // the lease and the declared account stay.
    remove_findings(&pool, entitlement).await;
    let third = pass(&pool, &connectors, entitlement).await;
    assert_eq!(third.removed, 2, "{third:?}");
    let mut check = dir.admin().await;
    assert!(!dir.is_member(&mut check, &group, &shadow_dn).await);
    assert!(!dir.is_member(&mut check, &group, &former_dn).await);
    assert!(dir.is_member(&mut check, &group, &lessee_dn).await);
    assert!(dir.is_member(&mut check, &group, &service_dn).await);
    let open: i64 = sqlx::query_scalar(
        "select count(*) from findings where entitlement_id = $1 and closed_at is null",
    )
    .bind(entitlement)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(open, 0);
    assert!(findings_of(&pool, entitlement).await.contains(&(
        "shadow".into(),
        lower(&shadow_dn),
        Some("removed".into()),
        "removed".into()
    )));
    let verified: Vec<bool> = sqlx::query_scalar(
        "select (details->>'verified')::bool from audit_events
          where entitlement_id = $1 and action = 'reconcile.removed'",
    )
    .bind(entitlement)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(verified, vec![true, true]);

    // The declaration ends: the next pass flags the service account and removes it.
    sqlx::query(
        "update standing_holders set declared_at = now() - interval '2 days',
                                     until = now() - interval '1 second'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let fourth = pass(&pool, &connectors, entitlement).await;
    assert_eq!((fourth.opened, fourth.removed), (1, 1), "{fourth:?}");
    assert!(
        !dir.is_member(&mut dir.admin().await, &group, &service_dn)
            .await
    );
    assert!(
        dir.is_member(&mut dir.admin().await, &group, &lessee_dn)
            .await
    );
}

/// A lease the engine is adding or removing while the pass reads is the engine's, not a
/// finding: within the grace nothing is reported, after it the difference is.
#[sqlx::test]
async fn a_lease_changing_within_the_grace_is_left_for_the_next_pass(pool: PgPool) {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = format!("fresh.{id}@contoso.test");
    let dn = dir
        .add_user(&mut admin, &format!("Fresh {id}"), &upn, None, None)
        .await;
    let who = seed::principal(&pool, &upn, "Fresh").await;
    let group = dir.add_group(&mut admin, &format!("Grace {id}"), &[]).await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let (connectors, engine) = directory_engine(&pool, dir);
    let now = Utc::now();
    seed::grant(&pool, who, entitlement, now, now + TimeDelta::hours(1)).await;
    engine.run_once().await.unwrap();
    // Seen missing (as a replica that has not caught up would show it) right after adding.
    member(dir, &group, &dn, false).await;
    let within = reconcile::pass(
        &pool,
        &connectors,
        &entry(&pool, entitlement).await,
        Settings {
            grace: Duration::from_secs(3600),
            complete_every: Duration::ZERO,
        },
    )
    .await
    .unwrap();
    assert_eq!((within.opened, within.unsettled), (0, 1), "{within:?}");
    let after = pass(&pool, &connectors, entitlement).await;
    assert_eq!(after.opened, 1, "{after:?}");
}

/// An Entra group through the Graph simulator: a member added outside the portal is shadow
/// access within one pass; with `remove` it is gone from the group (read back from the
/// simulator's own state), and the lease's member stays.
#[sqlx::test]
async fn graph_shadow_membership_is_found_and_removed(pool: PgPool) {
    use crate::graph::{Sim, group_and_people};
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 2).await;
    let entitlement = seed::entitlement_on(
        &pool,
        "contoso-cloud",
        "graph",
        json!({ "kind": "entra_group" }),
        &group,
    )
    .await;
    let mut connectors = Connectors::default();
    let graph = Arc::new(sim.connector());
    connectors.insert("contoso-cloud", graph.clone());
    let lessee = seed::principal(&pool, "person0@contoso.test", "Person 0").await;
    let now = Utc::now();
    seed::grant(&pool, lessee, entitlement, now, now + TimeDelta::hours(1)).await;
    Engine::new(
        pool.clone(),
        connectors.clone(),
        seed::engine_settings(Duration::from_secs(30)),
    )
    .run_once()
    .await
    .unwrap();
    assert_eq!(sim.members(&group).await, vec![people[0].clone()]);

    // Added in Entra directly, as an administrator would.
    graph
        .grant(
            &leasegate::domain::access::Access::EntraGroup,
            &group,
            &[leasegate::server::connectors::Lease {
                account: people[1].clone(),
                starts_at: now,
                ends_at: now + TimeDelta::hours(1),
                reason: String::new(),
                source: None,
            }],
        )
        .await
        .unwrap();
    let found = pass(&pool, &connectors, entitlement).await;
    assert_eq!((found.holders, found.opened), (2, 1), "{found:?}");
    let (kind, account, label): (String, String, String) = sqlx::query_as(
        "select kind, account_ref, account_label from findings where entitlement_id = $1",
    )
    .bind(entitlement)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), account.as_str()),
        ("shadow", people[1].as_str())
    );
    assert!(label.contains("person1@contoso.test"), "{label}");

    remove_findings(&pool, entitlement).await;
    let removed = pass(&pool, &connectors, entitlement).await;
    assert_eq!(removed.removed, 1, "{removed:?}");
    let mut members = sim.members(&group).await;
    members.sort();
    assert_eq!(members, vec![people[0].clone()]);
    assert_eq!(events(&pool, entitlement, "reconcile.removed").await, 1);
}

/// Through the server functions: an administrator passes an entry; its owner declares a
/// service account standing; nobody declares their own access; an employee who owns nothing is
/// refused everything; only an administrator removes, and the person is mailed.
#[sqlx::test]
async fn owners_declare_and_administrators_remove_through_the_pages(pool: PgPool) {
    let w = world(
        pool,
        crate::access::manager_policy(),
        &["megan.bowen@contoso.test"],
    )
    .await;
    let (megan, adele, nestor) = (
        w.person("megan").await,
        w.person("adele").await,
        w.person("nestor").await,
    );
    // Alex (a service account, say) and Megan herself, added to the group by hand.
    let alex = w.dir_account("alex.wilber@contoso.test").await;
    let megan_dn = w.dir_account("megan.bowen@contoso.test").await;
    w.add_by_hand(&alex).await;
    w.add_by_hand(&megan_dn).await;

    // Only administrators pass entries.
    let (status, _) = w
        .call(
            &megan,
            "governance/reconcile",
            &[("entitlement", &w.entitlement)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .call(
            &nestor,
            "governance/reconcile",
            &[("entitlement", &w.entitlement)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Alex, Megan, and the placeholder member an OpenLDAP group of names must keep: shadow
    // access too, as far as anyone can tell from the group.
    assert_eq!(body["opened"], 3, "{body}");

    // The owner sees her entry's findings; an employee who owns nothing sees none.
    let (status, body) = w
        .call(&megan, "governance/findings", &[("query[state]", "open")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{body}");
    let finding_of = |dn: &str| {
        rows.iter()
            .find(|r| r["account_ref"].as_str().unwrap().eq_ignore_ascii_case(dn))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (alex_finding, megan_finding) = (finding_of(&alex), finding_of(&megan_dn));
    // Who holds the entry now: no lease, three accounts without one.
    let now_held = async || {
        let (status, body) = w
            .call(
                &nestor,
                "governance/holdings",
                &[("query[entitlement]", w.entitlement.as_str())],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["rows"], json!([]), "{body}");
        let mut held: Vec<(String, Value)> = body["without_lease"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["account_ref"].as_str().unwrap().to_lowercase(),
                    h["kind"].clone(),
                )
            })
            .collect();
        held.sort_by(|a, b| a.0.cmp(&b.0));
        held
    };
    let held = now_held().await;
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(
        held.contains(&(megan_dn.to_lowercase(), json!("shadow"))),
        "{held:?}"
    );
    let (status, _) = w
        .call(&adele, "governance/findings", &[("query[state]", "open")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The approvals page tells the owner how many are open on her entries; nobody else.
    let (status, body) = w.call(&megan, "governance/owned-findings", &[]).await;
    assert_eq!((status, body), (StatusCode::OK, json!(3)));
    let (status, body) = w.call(&adele, "governance/owned-findings", &[]).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));

    let until = (Utc::now() + TimeDelta::days(90))
        .format("%Y-%m-%d")
        .to_string();
    let declare = |finding: &str, reason: &str| {
        vec![
            ("finding_id", finding.to_string()),
            ("reason", reason.to_string()),
            ("until", until.clone()),
            ("offset", "0".to_string()),
        ]
    };
    let send = async |who: &reqwest::Client, fields: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        w.call(who, "governance/declare", &pairs).await
    };
    // Not her own access, not someone else's entry, not without a reason.
    let (status, body) = send(&megan, declare(&megan_finding, "I need this for month end")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = send(&adele, declare(&alex_finding, "Backup service account")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(&megan, declare(&alex_finding, "svc")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = send(
        &megan,
        declare(&alex_finding, "Backup service account, ticket CHG-12"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(
        &megan,
        declare(&alex_finding, "Backup service account, ticket CHG-12"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a closed finding is declared once: {body}"
    );

    // Removing is for administrators and security operations, never the owner.
    let (status, _) = w
        .call(
            &megan,
            "governance/remove-finding",
            &[("finding_id", &megan_finding)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = w
        .call(
            &nestor,
            "governance/remove-finding",
            &[("finding_id", &megan_finding)],
        )
        .await;
    assert_eq!(
        (status, body.clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    assert!(!w.is_member("megan.bowen@contoso.test").await);
    assert!(w.is_member("alex.wilber@contoso.test").await);
    // The person (here also the owner) is mailed once, in her words, saying who removed it.
    let mailbox = crate::mail::Mailbox::start(&[]).await;
    let notifier = leasegate::server::notify::Notifier::new(
        w.app.pool.clone(),
        url::Url::parse(&format!("{}/", w.app.base)).unwrap(),
        &mailbox.settings(),
    )
    .unwrap()
    .unwrap();
    notifier.project().await.unwrap();
    let mails: Vec<(String, String)> =
        sqlx::query_as("select address, text_body from mail_outbox where kind = 'reconciled_away'")
            .fetch_all(&w.app.pool)
            .await
            .unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].0.starts_with("megan.bowen"), "{mails:?}");
    assert!(mails[0].1.contains("Nestor Wilke"), "{}", mails[0].1);

    // The next pass leaves the declared account alone and finds nothing new.
    let (_, body) = w
        .call(
            &nestor,
            "governance/reconcile",
            &[("entitlement", &w.entitlement)],
        )
        .await;
    assert_eq!(body["opened"], 0, "{body}");
    // Now: Alex as a declared standing holder, Megan no more, the placeholder still shadow.
    let held = now_held().await;
    assert!(
        held.contains(&(alex.to_lowercase(), Value::Null)),
        "{held:?}"
    );
    assert!(
        !held
            .iter()
            .any(|(account, _)| *account == megan_dn.to_lowercase()),
        "{held:?}"
    );
    assert_eq!(held.len(), 2, "{held:?}");
    let (_, body) = w
        .call(&megan, "governance/findings", &[("query[state]", "all")])
        .await;
    let declared = body["declarations"].as_array().unwrap();
    assert_eq!(declared.len(), 1, "{body}");
    assert!(declared[0]["reason"].as_str().unwrap().contains("CHG-12"));
}

/// Entra's Helpdesk Administrator role as a catalog entry on the Graph simulator.
const HELPDESK: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";

/// A simulator with `people` users, the Helpdesk role as an entry of `contoso-cloud`, and the
/// connector over it.
struct HelpdeskRole {
    sim: crate::graph::Sim,
    people: Vec<String>,
    role: leasegate::domain::access::Access,
    entitlement: Uuid,
    connectors: Connectors,
    graph: Arc<leasegate::server::connectors::graph::GraphTenant>,
}

async fn helpdesk_role(pool: &PgPool, people: usize) -> HelpdeskRole {
    let sim = crate::graph::Sim::start().await;
    let (_, people) = crate::graph::group_and_people(&sim, people).await;
    let entitlement = seed::entitlement_on(
        pool,
        "contoso-cloud",
        "graph",
        json!({ "kind": "entra_role", "directory_scope": "/" }),
        HELPDESK,
    )
    .await;
    let mut connectors = Connectors::default();
    let graph = Arc::new(sim.connector());
    connectors.insert("contoso-cloud", graph.clone());
    HelpdeskRole {
        sim,
        people,
        role: leasegate::domain::access::Access::EntraRole {
            directory_scope: "/".into(),
        },
        entitlement,
        connectors,
        graph,
    }
}

/// Assigns the role to `account` for eight hours through the portal's own connector (no lease).
async fn assign(
    graph: &leasegate::server::connectors::graph::GraphTenant,
    role: &leasegate::domain::access::Access,
    account: &str,
    reason: &str,
) {
    let now = Utc::now();
    graph
        .grant(
            role,
            HELPDESK,
            &[leasegate::server::connectors::Lease {
                account: account.to_string(),
                starts_at: now,
                ends_at: now + TimeDelta::hours(8),
                reason: reason.into(),
                source: None,
            }],
        )
        .await
        .unwrap();
}

/// An Entra role assigned in Entra directly (PIM's `adminAssign`, as an administrator would in
/// the Entra admin center): shadow access within one pass, in the trail and in "who held it";
/// with `remove`, Entra's five-minute rule refuses the first removal (recorded once, tried
/// again), and after it the assignment is removed and read back gone.
#[sqlx::test]
async fn graph_a_role_assigned_in_entra_directly_is_found_and_removed(pool: PgPool) {
    let HelpdeskRole {
        sim,
        people,
        role,
        entitlement,
        connectors,
        graph,
    } = helpdesk_role(&pool, 1).await;
    assign(&graph, &role, &people[0], "assigned in the admin center").await;

    let found = pass(&pool, &connectors, entitlement).await;
    assert_eq!((found.holders, found.opened), (1, 1), "{found:?}");
    assert_eq!(events(&pool, entitlement, "reconcile.found").await, 1);
    let answer = leasegate::server::db::holdings::without_lease(
        &mut pool.acquire().await.unwrap(),
        Some(entitlement),
        None,
        Utc::now(),
        Utc::now(),
        10,
    )
    .await
    .unwrap();
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert_eq!(answer[0].account_ref, people[0]);
    assert!(answer[0].account_label.contains("person0@contoso.test"));

    remove_findings(&pool, entitlement).await;
    let refused = pass(&pool, &connectors, entitlement).await;
    assert_eq!(
        (refused.removed, refused.removal_failed),
        (0, 1),
        "{refused:?}"
    );
    let again = pass(&pool, &connectors, entitlement).await;
    assert_eq!(again.removal_failed, 1, "{again:?}");
    assert_eq!(
        events(&pool, entitlement, "reconcile.remove_failed").await,
        1,
        "a failing removal is recorded once, and tried every pass"
    );
    sim.advance(6 * 60).await;
    let removed = pass(&pool, &connectors, entitlement).await;
    assert_eq!(removed.removed, 1, "{removed:?}");
    assert_eq!(
        graph.holding(&role, HELPDESK, &people).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(events(&pool, entitlement, "reconcile.removed").await, 1);
}

/// A PIM role activated in Entra directly, by another application (an administrator's
/// script; the admin center is another client just the same): the pass tells it in the trail
/// once, from PIM's own record (who made it, why, its period), and "who held it" answers from
/// the activation's start, before the pass saw it. The portal's own request is not told.
#[sqlx::test]
async fn graph_a_pim_activation_made_in_entra_directly_joins_the_trail(pool: PgPool) {
    const SCRIPT: &str = "9a1f0d3c-4e5b-4c6d-8e7f-0a1b2c3d4e5f";
    let HelpdeskRole {
        sim,
        people,
        role,
        entitlement,
        connectors,
        graph,
    } = helpdesk_role(&pool, 2).await;

    // The portal's own request: never an outside change (a shadow holder here, with no lease).
    assign(&graph, &role, &people[1], "the portal's own").await;
    // Another application assigns the role for two hours, with a justification.
    sim.register_app(
        SCRIPT,
        "script-secret",
        &["RoleAssignmentSchedule.ReadWrite.Directory"],
    )
    .await;
    let token = sim
        .token_of(
            SCRIPT,
            "script-secret",
            "https://graph.microsoft.com/.default",
        )
        .await;
    let made: Value = reqwest::Client::new()
        .post(format!(
            "{}/v1.0/roleManagement/directory/roleAssignmentScheduleRequests",
            sim.base
        ))
        .bearer_auth(token)
        .json(&json!({
            "action": "adminAssign", "principalId": people[0], "roleDefinitionId": HELPDESK,
            "directoryScopeId": "/", "justification": "Password resets for INC-9",
            "scheduleInfo": { "expiration": { "type": "afterDuration", "duration": "PT2H" } },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(made["status"], "Provisioned", "{made}");
    let started: chrono::DateTime<Utc> = made["scheduleInfo"]["startDateTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let first = pass(&pool, &connectors, entitlement).await;
    assert_eq!(first.outside_changes, 1, "{first:?}");
    assert_eq!((first.holders, first.opened), (2, 2), "{first:?}");
    let told: Vec<Value> = sqlx::query_scalar!(
        "select details from audit_events where entitlement_id = $1 and action = $2",
        entitlement,
        "reconcile.outside_change"
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        told[0]["record"],
        made["id"].as_str().unwrap().to_lowercase()
    );
    assert_eq!(told[0]["account"], people[0].as_str());
    assert_eq!(told[0]["made_by"], format!("application {SCRIPT}"));
    assert_eq!(told[0]["justification"], "Password resets for INC-9");
    assert_eq!(told[0]["action"], "adminAssign");
    assert!(
        told[0]["label"]
            .as_str()
            .unwrap()
            .contains("person0@contoso.test"),
        "{told:?}"
    );
    let summary = leasegate::text::event_summary_in(
        leasegate::text::lang::Language::English,
        leasegate::domain::audit::AuditAction::ReconcileOutsideChange,
        &told[0],
    );
    assert!(
        summary.contains("outside the portal") && summary.contains("INC-9"),
        "{summary}"
    );

    // Read again: nothing told twice.
    let second = pass(&pool, &connectors, entitlement).await;
    assert_eq!(second.outside_changes, 0, "{second:?}");
    assert_eq!(
        events(&pool, entitlement, "reconcile.outside_change").await,
        1
    );

    // Who held the role a moment after the activation, before any pass had run: the person
    // the script activated (the portal's own grant began at `now`, earlier, and was seen by
    // the pass only; its finding starts at that pass).
    let moment = started + TimeDelta::milliseconds(1);
    let held = leasegate::server::db::holdings::without_lease(
        &mut pool.acquire().await.unwrap(),
        Some(entitlement),
        None,
        moment,
        moment,
        10,
    )
    .await
    .unwrap();
    let accounts: Vec<&str> = held.iter().map(|h| h.account_ref.as_str()).collect();
    assert_eq!(accounts, vec![people[0].as_str()], "{held:?}");
}

/// Passes with a day's trust in the target's change mark, as the job runs them.
const INCREMENTAL: Settings = Settings {
    grace: Duration::ZERO,
    complete_every: Duration::from_secs(24 * 60 * 60),
};

async fn incremental(pool: &PgPool, connectors: &Connectors, entitlement: Uuid) -> Outcome {
    reconcile::pass(
        pool,
        connectors,
        &entry(pool, entitlement).await,
        INCREMENTAL,
    )
    .await
    .unwrap()
}

/// Incremental passes against a real AD (Samba) and a real OpenLDAP: an unchanged group is not
/// read again, but a member added by hand changes the group's mark (AD's uSNChanged,
/// OpenLDAP's entryCSN) and is found in the very next pass; a lease given or a declaration
/// made forces a complete read; and after a day every group is read in full regardless.
#[sqlx::test]
async fn incremental_passes_skip_only_what_did_not_change(pool: PgPool) {
    for dir in [samba(), crate::directory::openldap()] {
        let id = unique();
        let mut admin = dir.admin().await;
        let upn = format!("added.{id}@contoso.test");
        let added = dir
            .add_user(&mut admin, &format!("Added {id}"), &upn, None, None)
            .await;
        let lessee_upn = format!("lessee.{id}@contoso.test");
        let lessee_dn = dir
            .add_user(&mut admin, &format!("Lessee {id}"), &lessee_upn, None, None)
            .await;
        let lessee = seed::principal(&pool, &lessee_upn, "Lessee").await;
        let group = dir
            .add_group(&mut admin, &format!("Incremental {id}"), &[])
            .await;
        let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
        let (connectors, engine) = directory_engine(&pool, dir);

        let first = incremental(&pool, &connectors, entitlement).await;
        assert!(
            !first.unchanged,
            "the first pass reads the group: {first:?}"
        );
        let quiet = incremental(&pool, &connectors, entitlement).await;
        assert!(quiet.unchanged, "nothing changed: {quiet:?}");
        assert_eq!(quiet.holders, first.holders);

        // A member added by hand: the mark moves, the next pass reads and finds it.
        member(dir, &group, &added, true).await;
        let found = incremental(&pool, &connectors, entitlement).await;
        assert!(!found.unchanged, "{found:?}");
        assert_eq!(found.opened, 1, "{found:?}");
        let seen_before: chrono::DateTime<Utc> =
            sqlx::query_scalar("select last_seen from findings where entitlement_id = $1")
                .bind(entitlement)
                .fetch_one(&pool)
                .await
                .unwrap();
        let quiet = incremental(&pool, &connectors, entitlement).await;
        assert!(quiet.unchanged, "{quiet:?}");
        let seen_after: chrono::DateTime<Utc> =
            sqlx::query_scalar("select last_seen from findings where entitlement_id = $1")
                .bind(entitlement)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(seen_after > seen_before, "the open finding is seen again");

        // A lease the engine adds changes the group and the leases: a complete read, which
        // agrees with the lease.
        let now = Utc::now();
        seed::grant(&pool, lessee, entitlement, now, now + TimeDelta::hours(1)).await;
        engine.run_once().await.unwrap();
        let leased = incremental(&pool, &connectors, entitlement).await;
        assert!(!leased.unchanged, "{leased:?}");
        assert_eq!(leased.opened, 0, "{leased:?}");

        // A declaration made since the last complete read: read again.
        let owner = seed::principal(&pool, &format!("owner.{id}@contoso.test"), "Owner").await;
        rows::declare(
            &mut pool.acquire().await.unwrap(),
            &rows::Declare {
                entitlement,
                account_ref: &added,
                account_label: "",
                principal: None,
                reason: "Service account of the nightly job",
                until: Utc::now() + TimeDelta::days(30),
                by: owner,
            },
        )
        .await
        .unwrap();
        let declared = incremental(&pool, &connectors, entitlement).await;
        assert!(!declared.unchanged, "{declared:?}");
        assert!(incremental(&pool, &connectors, entitlement).await.unchanged);

        // A day after the last complete read, the group is read in full however quiet.
        sqlx::query(
            "update reconcile_passes set last_complete_at = now() - interval '25 hours'
              where entitlement_id = $1",
        )
        .bind(entitlement)
        .execute(&pool)
        .await
        .unwrap();
        let daily = incremental(&pool, &connectors, entitlement).await;
        assert!(!daily.unchanged, "{daily:?}");
        let unchanged: i64 = sqlx::query_scalar(
            "select unchanged_passes from reconcile_passes where entitlement_id = $1",
        )
        .bind(entitlement)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(unchanged, 3);

        // A member taken out by hand moves the mark too.
        assert!(incremental(&pool, &connectors, entitlement).await.unchanged);
        member(dir, &group, &lessee_dn, false).await;
        let taken = incremental(&pool, &connectors, entitlement).await;
        assert!(!taken.unchanged, "{taken:?}");
        assert_eq!(
            taken.opened, 1,
            "the lease's access is missing (drift): {taken:?}"
        );
    }
}

/// Incremental passes of an Entra group through Graph's `groups/delta` (the simulator keeps each
/// round's state as Graph does): the first pass lists every member over several pages, later
/// passes apply only what changed; a member added in Entra directly is found in the next pass,
/// one removed by hand closes its finding; an expired cursor starts a complete round; and the
/// member list is never read whole while the cursor holds.
#[sqlx::test]
async fn graph_incremental_passes_follow_group_delta(pool: PgPool) {
    use crate::graph::{Sim, group_and_people};
    let sim = Sim::start().await;
    // Small pages, so a first round spans several.
    sim.config(json!({ "delta_page_size": 2 })).await;
    let (group, people) = group_and_people(&sim, 5).await;
    let entitlement = seed::entitlement_on(
        &pool,
        "contoso-cloud",
        "graph",
        json!({ "kind": "entra_group" }),
        &group,
    )
    .await;
    let mut connectors = Connectors::default();
    let graph = Arc::new(sim.connector());
    connectors.insert("contoso-cloud", graph.clone());
    let by_hand = async |person: &str, add: bool| {
        let lease = leasegate::server::connectors::Lease {
            account: person.to_string(),
            starts_at: Utc::now(),
            ends_at: Utc::now() + TimeDelta::hours(1),
            reason: String::new(),
            source: None,
        };
        let access = leasegate::domain::access::Access::EntraGroup;
        if add {
            graph.grant(&access, &group, &[lease]).await.unwrap();
        } else {
            graph
                .revoke(&access, &group, &[person.to_string()])
                .await
                .unwrap();
        }
    };
    for person in &people[..3] {
        by_hand(person, true).await;
    }
    sim.clear_log().await;
    let first = incremental(&pool, &connectors, entitlement).await;
    assert_eq!((first.holders, first.opened), (3, 3), "{first:?}");
    let log = sim.log().await;
    assert!(
        log.iter()
            .filter(|(_, path, _)| path.contains("groups/delta"))
            .count()
            >= 2,
        "a first round over several pages: {log:?}"
    );

    // Nothing changed: one delta call, nothing opened or closed.
    sim.clear_log().await;
    let quiet = incremental(&pool, &connectors, entitlement).await;
    assert_eq!(
        (quiet.holders, quiet.opened, quiet.closed),
        (3, 0, 0),
        "{quiet:?}"
    );
    let log = sim.log().await;
    assert!(
        log.iter().any(|(_, path, _)| path.contains("deltatoken")),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|(_, path, _)| path.contains("/members")),
        "{log:?}"
    );

    // One added and one removed in Entra directly.
    by_hand(&people[3], true).await;
    by_hand(&people[0], false).await;
    let changed = incremental(&pool, &connectors, entitlement).await;
    assert_eq!(
        (changed.holders, changed.opened, changed.closed),
        (3, 1, 1),
        "{changed:?}"
    );
    let open: Vec<String> = sqlx::query_scalar(
        "select account_ref from findings where entitlement_id = $1 and closed_at is null
          order by account_ref",
    )
    .bind(entitlement)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected = vec![people[1].clone(), people[2].clone(), people[3].clone()];
    expected.sort();
    assert_eq!(open, expected);

    // The cursor expires (Graph: syncStateNotFound): a complete round, the same answer.
    sim.config(json!({ "delta_tokens_expired": true })).await;
    let again = incremental(&pool, &connectors, entitlement).await;
    assert_eq!(
        (again.holders, again.opened, again.closed),
        (3, 0, 0),
        "{again:?}"
    );
    sim.config(json!({ "delta_tokens_expired": false })).await;
    by_hand(&people[4], true).await;
    let last = incremental(&pool, &connectors, entitlement).await;
    assert_eq!((last.holders, last.opened), (4, 1), "{last:?}");
}
