//! Bundles through the server functions, against the real Samba AD DC and the Graph simulator:
//! one request for an AD group, an Entra group and a Team, approved once by the manager,
//! granted part by part (a part whose system refuses is shown and retried on its own while the
//! others hold), each read back in its own system, extended and given back together. Refusals
//! (a system that does not answer, an account missing in one system, someone else's lease)
//! leave nothing behind.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use leasegate::server::app::config::Secret;
use leasegate::server::connectors::graph::GraphTenant;
use leasegate::server::connectors::{Connector, Connectors};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::{samba, unique};
use crate::engine::{Running, eventually};
use crate::graph::{CLIENT, SECRET, Sim, TENANT};
use crate::harness::{Options, TestApp};
use crate::seed;

const AD: &str = "test-directory";
const CLOUD: &str = "contoso-cloud";
/// A Graph connector whose service does not answer (nothing listens on its port).
const DOWN: &str = "down-cloud";

/// The catalog file: the three entries, the bundle of them, and a bundle with a part in a
/// system that does not answer.
fn catalog_text(ad_group: &str, portal: &str, team: &str, down_group: &str) -> String {
    let dir = samba();
    format!(
        r#"
[connectors.{AD}]
kind = "ldap"
url = "{url}"
ca_file = "{ca}"
bind_dn = "{admin}"
password_env = "LEASEGATE_SECRET_TEST_DIRECTORY"
user_base = "{people}"
group_base = "{groups}"

[connectors.{CLOUD}]
kind = "graph"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "LEASEGATE_SECRET_GRAPH"

[connectors.{DOWN}]
kind = "graph"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "LEASEGATE_SECRET_GRAPH"

[policies.manager]
name = "Manager approval"
durations = {{ default_minutes = 60, max_minutes = 480 }}
stages = [{{ approvers = "manager" }}]

[[entitlements]]
key = "falcon-files"
connector = "{AD}"
group = "{ad_group}"
name = "Falcon files"
policy = "manager"

[[entitlements]]
key = "falcon-portal"
connector = "{CLOUD}"
kind = "entra_group"
target = "{portal}"
name = "Falcon portal"
policy = "manager"

[[entitlements]]
key = "falcon-team"
connector = "{CLOUD}"
kind = "team"
role = "member"
target = "{team}"
name = "Falcon team"
policy = "manager"

[[entitlements]]
key = "elsewhere"
connector = "{DOWN}"
kind = "entra_group"
target = "{down_group}"
name = "Somewhere else"
policy = "manager"

[[bundles]]
key = "falcon-member"
name = "Project Falcon member"
items = ["falcon-files", "falcon-portal", "falcon-team"]
policy = "manager"

[[bundles]]
key = "half-reachable"
name = "Half reachable"
items = ["falcon-files", "elsewhere"]
policy = "manager"
"#,
        url = dir.url,
        ca = dir.ca_file,
        admin = dir.admin_dn,
        people = dir.people,
        groups = dir.groups,
    )
}

/// A grant of the bundle's, as stored.
#[derive(Debug, sqlx::FromRow)]
struct Part {
    id: Uuid,
    key: String,
    state: String,
    ends_at: DateTime<Utc>,
    bundle: Option<Uuid>,
    last_error: Option<String>,
}

async fn parts(pool: &PgPool) -> Vec<Part> {
    sqlx::query_as(
        "select g.id, e.key, g.state, g.ends_at, g.bundle_id as bundle, g.last_error
           from grants g join entitlements e on e.id = g.entitlement_id
          order by e.key",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn request_id(body: &Value) -> String {
    body["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request id in {body}"))
        .to_string()
}

#[sqlx::test]
async fn a_bundle_is_asked_for_once_granted_part_by_part_and_ends_together(pool: PgPool) {
    let dir = samba();
    crate::access::people(dir).await;
    let mut admin = dir.admin().await;
    let ad_group = dir
        .add_group(&mut admin, &format!("Falcon files {}", unique()), &[])
        .await;
    let sim = Sim::start().await;
    let ids = sim
        .seed(json!({
            "users": [
                { "userPrincipalName": "megan.bowen@contoso.test", "displayName": "Megan Bowen" },
                { "userPrincipalName": "adele.vance@contoso.test", "displayName": "Adele Vance",
                  "manager": "megan.bowen@contoso.test" },
            ],
            "groups": [
                { "displayName": "Falcon portal", "securityEnabled": true, "mailEnabled": false },
                { "displayName": "Falcon team", "team": true },
            ],
        }))
        .await;
    let adele_id = ids["users"]["adele.vance@contoso.test"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let portal = ids["groups"]["Falcon portal"].as_str().unwrap().to_string();
    let team = ids["groups"]["Falcon team"].as_str().unwrap().to_string();

    let text = catalog_text(&ad_group, &portal, &team, &Uuid::new_v4().to_string());
    seed::catalog(&pool, &text).await;
    let mut down = sim.settings();
    down.authority_url = "http://127.0.0.1:9".into();
    down.graph_url = "http://127.0.0.1:9/v1.0".into();
    let mut connectors = Connectors::default();
    connectors.insert(AD, Arc::new(dir.connector()));
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    connectors.insert(
        DOWN,
        Arc::new(GraphTenant::new(DOWN, down, Secret::new(SECRET)).unwrap()),
    );
    let app = TestApp::spawn_with(
        pool.clone(),
        Options {
            connectors: connectors.clone(),
            ..Options::default()
        },
    )
    .await;
    let adele = app.person("adele").await;
    let megan = app.person("megan").await;
    let irvin = app.person("irvin").await;
    let requests = || seed::count(&pool, "select count(*) from access_requests");

    // The bundle's page lists its parts in their systems.
    let (status, page) = app
        .call(&adele, "entitlement", &[("key", "falcon-member")])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let listed: Vec<(&str, &str)> = page["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap(), p["system"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("falcon-files", AD),
            ("falcon-portal", CLOUD),
            ("falcon-team", CLOUD)
        ]
    );
    assert_eq!(page["access"]["kind"], "bundle");

    // Refusals name the system and leave nothing behind.
    let (status, body) = app.request(&adele, "half-reachable", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["SystemUnavailable"]["system"], DOWN, "{body}");
    let (status, body) = app.request(&irvin, "falcon-member", &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        crate::harness::said(&body).contains("no account in contoso-cloud"),
        "Irvin is in AD only: {body}"
    );
    assert_eq!(requests().await, 0, "no request was stored");

    // Asked for once, approved once by the manager.
    let (status, body) = app.request(&adele, "falcon-member", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "pending");
    let request = request_id(&body);
    let (_, inbox) = app.call(&megan, "approvals", &[]).await;
    let waiting = inbox["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{inbox}");
    let system = waiting[0]["system"].as_str().unwrap();
    for part in ["Falcon files", "Falcon portal", "Falcon team", AD, CLOUD] {
        assert!(system.contains(part), "the approver sees {part}: {system}");
    }
    // The Entra group's membership fails for a while; the other parts go ahead.
    sim.fault(json!({
        "match": { "method": "PATCH", "path": format!("/v1.0/groups/{portal}") },
        "respond": { "status": 503 }, "count": 1000
    }))
    .await;
    let (status, body) = app
        .call(
            &megan,
            "approvals/decide",
            &[
                ("request_id", &request),
                ("outcome", "approve"),
                ("comment", "ok"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap().contains("All 3 parts"), "{body}");
    let stored = parts(&pool).await;
    assert_eq!(stored.len(), 3);
    let bundle: Uuid =
        sqlx::query_scalar("select id from entitlements where key = 'falcon-member'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(stored.iter().all(|p| p.bundle == Some(bundle)));
    assert!(
        stored.iter().all(|p| p.ends_at == stored[0].ends_at),
        "one end"
    );

    let engine = Running::start(&pool, connectors.clone(), Duration::from_secs(30));
    eventually(
        Duration::from_secs(60),
        "the AD group and the team granted, the Entra group retried",
        || async {
            let now = parts(&pool).await;
            let state = |key: &str| now.iter().find(|p| p.key == key).unwrap().state.clone();
            state("falcon-files") == "active"
                && state("falcon-team") == "active"
                && state("falcon-portal") == "scheduled"
                && now
                    .iter()
                    .any(|p| p.key == "falcon-portal" && p.last_error.is_some())
        },
    )
    .await;
    // My access: one card for the bundle, each part with its state, the failing one saying why.
    let (_, mine) = app.call(&adele, "my-access", &[]).await;
    let leases = mine["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 1, "{mine}");
    assert_eq!(leases[0]["entitlement"], "Project Falcon member");
    let shown: Vec<(&str, &str, bool)> = leases[0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["entitlement"].as_str().unwrap(),
                p["state"].as_str().unwrap(),
                p["problem"].is_string(),
            )
        })
        .collect();
    assert!(
        shown.contains(&("Falcon files", "active", false)),
        "{shown:?}"
    );
    assert!(
        shown.contains(&("Falcon team", "active", false)),
        "{shown:?}"
    );
    assert!(
        shown.contains(&("Falcon portal", "scheduled", true)),
        "{shown:?}"
    );
    assert_eq!(
        leases[0]["state"], "scheduled",
        "as far as its slowest part"
    );

    // Graph answers again: the part is retried and granted; every part reads back.
    sim.clear_faults().await;
    sqlx::query("update grants set next_due_at = now() where state = 'scheduled'")
        .execute(&pool)
        .await
        .unwrap();
    eventually(Duration::from_secs(60), "every part active", || async {
        parts(&pool).await.iter().all(|p| p.state == "active")
    })
    .await;
    let account = dir
        .connector()
        .find_account("adele.vance@contoso.test")
        .await
        .unwrap()
        .unwrap();
    assert!(
        dir.is_member(&mut admin, &ad_group, &account.reference)
            .await
    );
    assert!(sim.members(&portal).await.contains(&adele_id));
    assert!(sim.members(&team).await.contains(&adele_id));

    // More time for the bundle: one request, approved once, every part lasts longer.
    let first_end = parts(&pool).await[0].ends_at;
    let grant = parts(&pool).await[1].id.to_string();
    let token = Uuid::new_v4().to_string();
    let (status, body) = app
        .call(
            &adele,
            "lease/extend",
            &[
                ("grant_id", &grant),
                ("minutes", "60"),
                ("justification", "The migration runs late"),
                ("client_token", &token),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            &megan,
            "approvals/decide",
            &[
                ("request_id", &request_id(&body)),
                ("outcome", "approve"),
                ("comment", "fine"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let extended = parts(&pool).await;
    assert!(
        extended
            .iter()
            .all(|p| p.ends_at > first_end && p.ends_at == extended[0].ends_at),
        "{extended:?}"
    );

    // Only the holder gives it back; then every part goes, in every system, read back.
    let (status, _) = app
        .call(&megan, "lease/give-back", &[("grant_id", &grant)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(parts(&pool).await.iter().all(|p| p.state == "active"));
    let (status, body) = app
        .call(&adele, "lease/give-back", &[("grant_id", &grant)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually(
        Duration::from_secs(60),
        "every part removed and read back",
        || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoked' and removal = 'verified' \
                 and revoke_reason = 'returned'",
            )
            .await
                == 3
        },
    )
    .await;
    engine.shut_down().await;
    assert!(
        !dir.is_member(&mut admin, &ad_group, &account.reference)
            .await
    );
    assert!(!sim.members(&portal).await.contains(&adele_id));
    assert!(!sim.members(&team).await.contains(&adele_id));
    // The trail: each part created, granted and given back as the bundle's.
    for part in parts(&pool).await {
        for action in ["grant.created", "grant.returned", "grant.revoked"] {
            assert_eq!(seed::events(&pool, part.id, action).await, 1, "{action}");
        }
        let details: Value = sqlx::query_scalar(
            "select details from audit_events where grant_id = $1 and action = 'grant.returned'",
        )
        .bind(part.id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(details["bundle"], bundle.to_string());
    }
}
