//! Joiner/mover templates, against the Graph simulator as the people source and as the system
//! the bundles are granted in: a joiner of Sales gets the Sales bundle (no approval needed, so
//! granted and read back); when Entra moves them to Finance, the Sales bundle ends after its
//! grace (removed and read back) and the Finance bundle is requested under its own policy,
//! waiting for their manager. Retries make nothing twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use leasegate::server::connectors::Connectors;
use leasegate::server::jobs::{moves, people_sync};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::unique;
use crate::engine::{Running, eventually};
use crate::graph::{CLIENT, Sim, TENANT};
use crate::people_sync::sources;
use crate::seed;

const CLOUD: &str = "contoso-cloud";

fn catalog_text(sales: &str, finance: &str) -> String {
    format!(
        r#"
[connectors.{CLOUD}]
kind = "graph"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "LEASEGATE_SECRET_GRAPH"

[policies.automatic]
name = "No approval"
durations = {{ default_minutes = 480, max_minutes = 480 }}

[policies.manager]
name = "Manager approval"
durations = {{ default_minutes = 480, max_minutes = 480 }}
stages = [{{ approvers = "manager" }}]

[[entitlements]]
key = "sales-tools"
connector = "{CLOUD}"
kind = "entra_group"
target = "{sales}"
name = "Sales tools"
policy = "automatic"

[[entitlements]]
key = "finance-tools"
connector = "{CLOUD}"
kind = "entra_group"
target = "{finance}"
name = "Finance tools"
policy = "manager"

[[bundles]]
key = "sales-starter"
name = "Sales starter kit"
items = ["sales-tools"]
policy = "automatic"
departments = ["Sales"]
mover_grace = "PT3S"

[[bundles]]
key = "finance-starter"
name = "Finance starter kit"
items = ["finance-tools"]
policy = "manager"
departments = ["finance"]
"#
    )
}

async fn actions_about(pool: &PgPool, person: Uuid) -> Vec<(String, Value)> {
    sqlx::query_as(
        "select action, details from audit_events where subject_id = $1 order by position",
    )
    .bind(person)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn a_mover_loses_the_old_bundle_after_the_grace_and_the_new_one_is_requested(pool: PgPool) {
    let id = unique();
    let mover_upn = format!("mover.{id}@contoso.test");
    let boss_upn = format!("boss.{id}@contoso.test");
    let sim = Sim::start().await;
    let ids = sim
        .seed(json!({
            "users": [
                { "userPrincipalName": boss_upn, "displayName": "Boss" },
                { "userPrincipalName": mover_upn, "displayName": "Mover", "department": "Sales",
                  "manager": boss_upn },
            ],
            "groups": [
                { "displayName": "Sales tools", "securityEnabled": true, "mailEnabled": false },
                { "displayName": "Finance tools", "securityEnabled": true, "mailEnabled": false },
            ],
        }))
        .await;
    let mover_oid = ids["users"][&mover_upn].as_str().unwrap().to_lowercase();
    let sales = ids["groups"]["Sales tools"].as_str().unwrap().to_string();
    let finance = ids["groups"]["Finance tools"].as_str().unwrap().to_string();
    let text = catalog_text(&sales, &finance);
    seed::catalog(&pool, &text).await;
    let mut connectors = Connectors::default();
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    sources(&pool, &[(CLOUD, "graph")], 10).await;

    // The first pass: the mover joins Sales and gets the Sales kit, with no approval needed.
    let first = people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    assert_eq!(first.moved, 1, "only the mover has a department: {first:?}");
    let handled = moves::handle(&pool, &connectors).await.unwrap();
    assert_eq!((handled.moves, handled.requested), (1, 1), "{handled:?}");
    let mover: Uuid = sqlx::query_scalar("select id from principals where upn = $1")
        .bind(&mover_upn)
        .fetch_one(&pool)
        .await
        .unwrap();
    let engine = Running::start(&pool, connectors.clone(), Duration::from_secs(30));
    eventually(Duration::from_secs(30), "the Sales kit granted", || async {
        sim.members(&sales).await.contains(&mover_oid)
    })
    .await;
    let (sales_grant, sales_end): (Uuid, DateTime<Utc>) = sqlx::query_as(
        "select g.id, g.ends_at from grants g join entitlements e on e.id = g.bundle_id
          where e.key = 'sales-starter' and g.principal_id = $1",
    )
    .bind(mover)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(sales_end > Utc::now() + TimeDelta::hours(7), "a full lease");
    // Handled moves are not handled again.
    assert_eq!(moves::handle(&pool, &connectors).await.unwrap().moves, 0);

    // Entra moves them to Finance: the next pass sees it.
    sim.change_user(&mover_upn, json!({ "department": "Finance" }))
        .await;
    let second = people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    assert_eq!(second.moved, 1, "{second:?}");
    let moved_at = Utc::now();
    let handled = moves::handle(&pool, &connectors).await.unwrap();
    assert_eq!(
        (handled.moves, handled.shortened, handled.requested),
        (1, 1, 1),
        "{handled:?}"
    );
    // The Sales kit now ends at the end of the grace, and then goes, read back.
    let shortened: DateTime<Utc> = sqlx::query_scalar("select ends_at from grants where id = $1")
        .bind(sales_grant)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        shortened > moved_at && shortened < moved_at + TimeDelta::seconds(10),
        "ends {shortened}, moved {moved_at}"
    );
    assert!(
        sim.members(&sales).await.contains(&mover_oid),
        "kept during the grace"
    );
    eventually(
        Duration::from_secs(30),
        "the Sales kit removed and read back",
        || async {
            seed::grant_state(&pool, sales_grant).await == "revoked"
                && seed::count(
                    &pool,
                    "select count(*) from grants where removal = 'verified' and state = 'revoked'",
                )
                .await
                    == 1
        },
    )
    .await;
    engine.shut_down().await;
    assert!(!sim.members(&sales).await.contains(&mover_oid));
    assert!(!sim.members(&finance).await.contains(&mover_oid));

    // The Finance kit waits for their manager, requested by the portal with the reason.
    let (request, state, justification): (Uuid, String, String) = sqlx::query_as(
        "select r.id, r.state, r.justification from access_requests r
           join entitlements e on e.id = r.entitlement_id
          where e.key = 'finance-starter' and r.beneficiary_id = $1",
    )
    .bind(mover)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(state, "pending");
    assert!(
        justification.contains("department Sales → Finance"),
        "{justification}"
    );
    let approvers: Vec<String> =
        sqlx::query_scalar("select approver_upn from request_approvers where request_id = $1")
            .bind(request)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(approvers, vec![boss_upn.to_lowercase()]);

    // The trail: joined, requested and granted; moved, shortened, requested; all by the portal.
    let trail = actions_about(&pool, mover).await;
    let shortened_event = trail
        .iter()
        .find(|(action, _)| action == "grant.shortened")
        .expect("the shortening is in the trail");
    assert_eq!(shortened_event.1["bundle"], "sales-starter");
    assert_eq!(
        trail
            .iter()
            .filter(|(action, _)| action == "request.submitted")
            .count(),
        2
    );
    let by_portal: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'request.submitted'
           and actor_label = 'joiner/mover' and actor_id is null",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(by_portal, 2);
    // Nothing more on another round: one request per move and bundle.
    assert_eq!(moves::handle(&pool, &connectors).await.unwrap().moves, 0);
    assert_eq!(
        seed::count(&pool, "select count(*) from access_requests").await,
        2
    );
}
