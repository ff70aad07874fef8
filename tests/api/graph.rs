//! Contract tests: the Graph connector against the Microsoft Graph simulator (`leasegate::sim`,
//! written from Microsoft's documentation; see docs/connectors.md). Each test starts its own
//! simulator in this process on a free port and checks what the connector did through the
//! simulator's control plane (its state and its request log), never through the connector.

use std::time::{Duration, Instant};

use leasegate::domain::access::Access;
use leasegate::server::app::config::Secret;
use leasegate::server::connectors::graph::{GraphSettings, GraphTenant};
use leasegate::server::connectors::{Connector, ConnectorError, Lease};
use serde_json::{Value, json};

/// The identity provider's tenant (end2end/idp/accounts.mjs): the portal reads the people of
/// the tenant they sign in to, so a sign-in's object id is the one the simulator knows.
pub const TENANT: &str = "5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11";
/// The identity provider's people and their object ids (end2end/idp/accounts.mjs).
pub const PROVIDER_PEOPLE: [(&str, &str); 6] = [
    (
        "adele.vance@contoso.test",
        "0a1b2c3d-0001-4000-8000-000000000001",
    ),
    (
        "megan.bowen@contoso.test",
        "0a1b2c3d-0002-4000-8000-000000000002",
    ),
    (
        "alex.wilber@contoso.test",
        "0a1b2c3d-0003-4000-8000-000000000003",
    ),
    (
        "irvin.sayers@contoso.test",
        "0a1b2c3d-0004-4000-8000-000000000004",
    ),
    (
        "nestor.wilke@contoso.test",
        "0a1b2c3d-0005-4000-8000-000000000005",
    ),
    (
        "diego.siciliani@contoso.test",
        "0a1b2c3d-0006-4000-8000-000000000006",
    ),
];
pub const CLIENT: &str = "0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b";
pub const SECRET: &str = "sim-client-secret";

/// The application permissions of the connector's app registration.
pub(crate) const ROLES: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "User.Read.All",
    "TeamMember.ReadWrite.All",
    "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
    "RoleAssignmentSchedule.ReadWrite.Directory",
    "Sites.ReadWrite.All",
    "Directory.Read.All",
];

/// A simulator serving on a free port for the length of a test.
pub struct Sim {
    pub base: String,
    /// The control plane's token.
    token: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sim {
    pub async fn start() -> Sim {
        Self::with_roles(ROLES).await
    }

    /// Registers a certificate (PEM) on the app, for client assertions.
    pub async fn add_certificate(&self, pem: &str) {
        self.control(
            reqwest::Method::POST,
            "apps",
            Some(
                json!({ "client_id": CLIENT, "client_secret": SECRET, "roles": ROLES,
                         "certificate": pem }),
            ),
        )
        .await;
    }

    /// A simulator whose app may also invite, disable and delete guests (contractors).
    pub async fn with_guests() -> Sim {
        let roles: Vec<&str> = ROLES
            .iter()
            .copied()
            .chain(["User.Invite.All", "User.ReadWrite.All"])
            .collect();
        Self::with_roles(&roles).await
    }

    pub async fn with_roles(roles: &[&str]) -> Sim {
        let sim = graph_sim::Simulator::new(TENANT);
        sim.register_app(CLIENT, SECRET, roles);
        let token = sim.control_token();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = graph_sim::serve(listener, sim).await;
        });
        Sim {
            base,
            token,
            http: reqwest::Client::new(),
            task,
        }
    }

    pub fn settings(&self) -> GraphSettings {
        GraphSettings {
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            client_secret_env: None,
            client_secret_file: None,
            client_certificate_env: None,
            client_certificate_file: None,
            authority_url: self.base.clone(),
            graph_url: format!("{}/v1.0", self.base),
            timeout_seconds: 5,
            write_budget_per_150s: 2700,
        }
    }

    pub fn settings_with_certificate(&self) -> GraphSettings {
        GraphSettings {
            client_certificate_env: Some("LEASEGATE_SECRET_GRAPH_CERTIFICATE".into()),
            ..self.settings()
        }
    }

    pub fn connector(&self) -> GraphTenant {
        GraphTenant::new("contoso-cloud", self.settings(), Secret::new(SECRET)).unwrap()
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/__sim__/{path}", self.base))
            .header("x-sim-control-token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "control {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Seeds users and groups; returns `{"users": {upn: id}, "groups": {name: id}}`.
    /// Adds users and groups. The identity provider's people keep their object ids there
    /// (unless the fixture gives one), as one tenant's people do in Entra and at sign-in.
    pub async fn seed(&self, mut fixture: Value) -> Value {
        let users = fixture.get_mut("users").and_then(Value::as_array_mut);
        for user in users.into_iter().flatten() {
            let upn = user["userPrincipalName"]
                .as_str()
                .unwrap_or("")
                .to_lowercase();
            if user.get("id").is_none()
                && let Some((_, oid)) = PROVIDER_PEOPLE.iter().find(|(u, _)| *u == upn)
            {
                user["id"] = json!(oid);
            }
        }
        self.control(reqwest::Method::POST, "seed", Some(fixture))
            .await
    }

    pub async fn fault(&self, fault: Value) {
        self.control(reqwest::Method::POST, "faults", Some(fault))
            .await;
    }

    pub async fn config(&self, config: Value) {
        self.control(reqwest::Method::POST, "config", Some(config))
            .await;
    }

    pub async fn chaos(&self, chaos: Value) {
        self.control(reqwest::Method::POST, "chaos", Some(chaos))
            .await;
    }

    pub async fn advance(&self, seconds: u64) {
        self.control(
            reqwest::Method::POST,
            "clock",
            Some(json!({ "advance_seconds": seconds })),
        )
        .await;
    }

    /// The group's members as the simulator holds them (ids, lower-cased).
    pub async fn members(&self, group: &str) -> Vec<String> {
        let value = self
            .control(
                reqwest::Method::GET,
                &format!("groups/{group}/members"),
                None,
            )
            .await;
        let list = value.get("value").unwrap_or(&value);
        let mut ids: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str().or(m["id"].as_str()).map(str::to_lowercase))
            .collect();
        ids.sort();
        ids
    }

    /// The request log: `(method, path with query, status)`, oldest first.
    pub async fn log(&self) -> Vec<(String, String, u16)> {
        let value = self.control(reqwest::Method::GET, "requests", None).await;
        let list = value.get("value").unwrap_or(&value);
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["method"].as_str().unwrap_or_default().to_string(),
                    r["path"].as_str().unwrap_or_default().to_string(),
                    r["status"].as_u64().unwrap_or_default() as u16,
                )
            })
            .collect()
    }

    /// Users, groups and PIM schedules as the simulator holds them.
    pub async fn state(&self) -> Value {
        self.control(reqwest::Method::GET, "state", None).await
    }

    /// An app-only token for `scope`, straight from the simulator, for calls made beside the
    /// connector.
    pub async fn token(&self, scope: &str) -> String {
        self.token_of(CLIENT, SECRET, scope).await
    }

    /// Registers another application in the tenant (an administrator's script, the Entra
    /// admin center's own client), with the application roles `roles`.
    pub async fn register_app(&self, client: &str, secret: &str, roles: &[&str]) {
        self.control(
            reqwest::Method::POST,
            "apps",
            Some(json!({ "client_id": client, "client_secret": secret, "roles": roles })),
        )
        .await;
    }

    /// An app-only token of the application `client`.
    pub async fn token_of(&self, client: &str, secret: &str, scope: &str) -> String {
        self.http
            .post(format!("{}/{TENANT}/oauth2/v2.0/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits (up to ten seconds) until the request log holds a request `matches` picks: a
    /// request is logged once answered, so this orders a test's steps after it.
    pub async fn answered(&self, matches: impl Fn(&str, &str) -> bool) {
        let started = Instant::now();
        while !self.log().await.iter().any(|(m, p, _)| matches(m, p)) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no such request answered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Changes a user as an administrator would (`department`, `jobTitle`, `accountEnabled`,
    /// `manager`).
    pub async fn change_user(&self, user: &str, change: Value) {
        self.control(
            reqwest::Method::PATCH,
            &format!("users/{user}"),
            Some(change),
        )
        .await;
    }

    pub async fn delete_user(&self, user: &str) {
        self.control(reqwest::Method::DELETE, &format!("users/{user}"), None)
            .await;
    }

    pub async fn clear_log(&self) {
        self.control(reqwest::Method::DELETE, "requests", None)
            .await;
    }

    pub async fn clear_faults(&self) {
        self.control(reqwest::Method::DELETE, "faults", None).await;
    }
}

fn lease(account: &str) -> Lease {
    Lease {
        account: account.to_string(),
        starts_at: chrono::Utc::now(),
        ends_at: chrono::Utc::now() + chrono::Duration::hours(1),
        reason: "contract test".into(),
        source: None,
    }
}

fn leases(accounts: &[String]) -> Vec<Lease> {
    accounts.iter().map(|a| lease(a)).collect()
}

/// Seeds `n` users and one empty group; returns (group id, user ids).
pub(crate) async fn group_and_people(sim: &Sim, n: usize) -> (String, Vec<String>) {
    let users: Vec<Value> = (0..n)
        .map(|i| json!({ "userPrincipalName": format!("person{i}@contoso.test"), "displayName": format!("Person {i}") }))
        .collect();
    let ids = sim
        .seed(json!({ "users": users, "groups": [{ "displayName": "Falcon", "securityEnabled": true, "mailEnabled": false }] }))
        .await;
    let group = ids["groups"]["Falcon"].as_str().unwrap().to_string();
    let people = (0..n)
        .map(|i| {
            ids["users"][format!("person{i}@contoso.test")]
                .as_str()
                .unwrap()
                .to_lowercase()
        })
        .collect();
    (group, people)
}

fn writes(log: &[(String, String, u16)]) -> Vec<(String, String, u16)> {
    log.iter()
        .filter(|(m, p, _)| m != "GET" && !p.contains("/oauth2/") && !p.contains("getByIds"))
        .cloned()
        .collect()
}

/// Matrix 1: the client secret gets a token, a wrong one is a configuration error (one try,
/// not a retry loop), and an expired token is renewed once and the call succeeds.
#[tokio::test]
async fn tokens_are_fetched_cached_and_renewed() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 1).await;
    let graph = sim.connector();
    assert!(
        graph
            .target(&Access::EntraGroup, &group)
            .await
            .unwrap()
            .is_some()
    );
    assert!(graph.holders(&group).await.unwrap().is_empty());
    let tokens = |log: &[(String, String, u16)]| {
        log.iter()
            .filter(|(_, p, _)| p.contains("/oauth2/v2.0/token"))
            .count()
    };
    assert_eq!(tokens(&sim.log().await), 1, "one token for both calls");

    // Two hours on the simulator's clock: the cached token has expired there.
    sim.advance(7200).await;
    sim.clear_log().await;
    assert_eq!(
        graph
            .find_account("person0@contoso.test")
            .await
            .unwrap()
            .unwrap()
            .reference
            .to_lowercase(),
        people[0]
    );
    let log = sim.log().await;
    assert_eq!(tokens(&log), 1, "renewed once: {log:?}");
    assert!(
        log.iter().any(|(_, _, status)| *status == 401),
        "the expired token was refused first: {log:?}"
    );

    let wrong = GraphTenant::new("bad", sim.settings(), Secret::new("not-the-secret")).unwrap();
    sim.clear_log().await;
    match wrong.holders(&group).await {
        Err(ConnectorError::Permanent(detail)) => {
            assert!(detail.contains("invalid_client"), "{detail}")
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert_eq!(
        tokens(&sim.log().await),
        1,
        "no retry loop on bad credentials"
    );
}

/// A new certificate and its RSA key (PKCS#8), made by openssl: (key + certificate bundle,
/// certificate).
fn certificate() -> (String, String) {
    let dir = std::env::temp_dir().join(format!("leasegate-cert-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg("/CN=leasegate-test")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let (key, cert) = (
        std::fs::read_to_string(key).unwrap(),
        std::fs::read_to_string(cert).unwrap(),
    );
    std::fs::remove_dir_all(&dir).ok();
    (format!("{key}{cert}"), cert)
}

/// Matrix 1, the certificate (`private_key_jwt`): the connector signs a client assertion with
/// the certificate's key; the simulator checks it against the certificate registered on the
/// app (signature, `aud`, `iss`/`sub`, time range, each `jti` once). A renewal signs a new one
/// (the simulator refuses a `jti` it has seen).
/// A certificate that is not registered is refused once, as a configuration error.
#[tokio::test]
async fn a_certificate_gets_a_token() {
    let sim = Sim::start().await;
    // Tokens that live two seconds: the connector renews after one, with a new assertion.
    sim.config(json!({ "token_lifetime_seconds": 2 })).await;
    let (bundle, cert) = certificate();
    sim.add_certificate(&cert).await;
    let (_, people) = group_and_people(&sim, 1).await;
    let mut settings = sim.settings();
    settings.client_certificate_env = Some("LEASEGATE_SECRET_GRAPH_CERTIFICATE".into());
    let graph = GraphTenant::new("cert", settings.clone(), Secret::new(bundle)).unwrap();
    let found = graph.find_account("person0@contoso.test").await.unwrap();
    assert_eq!(found.unwrap().reference.to_lowercase(), people[0]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        graph
            .find_account("person0@contoso.test")
            .await
            .unwrap()
            .is_some()
    );
    let tokens: Vec<u16> = sim
        .log()
        .await
        .iter()
        .filter(|(_, p, _)| p.contains("/oauth2/v2.0/token"))
        .map(|(_, _, s)| *s)
        .collect();
    assert_eq!(
        tokens,
        vec![200, 200],
        "one token, renewed once with a new assertion"
    );

    let (stranger, _) = certificate();
    let unknown = GraphTenant::new("stranger", settings, Secret::new(stranger)).unwrap();
    sim.clear_log().await;
    match unknown.find_account("person0@contoso.test").await {
        Err(ConnectorError::Permanent(detail)) => {
            assert!(detail.contains("invalid_client"), "{detail}");
            assert!(detail.contains("700027"), "{detail}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert_eq!(sim.log().await.len(), 1, "asked once");
    // A bundle without its key is refused when the connector is built.
    assert!(
        GraphTenant::new("broken", sim.settings_with_certificate(), Secret::new(cert)).is_err()
    );
}

/// Accounts are found by UPN (guests' `#EXT#` names too), with their manager for manager
/// approval; a disabled account says so.
#[tokio::test]
async fn accounts_are_found_with_their_manager() {
    let sim = Sim::start().await;
    let ids = sim
        .seed(json!({ "users": [
            { "userPrincipalName": "megan@contoso.test", "displayName": "Megan" },
            { "userPrincipalName": "adele@contoso.test", "displayName": "Adele",
              "department": "Marketing", "manager": "megan@contoso.test" },
            { "userPrincipalName": "pat_fabrikam.test#EXT#@contoso.test", "displayName": "Pat",
              "userType": "Guest", "accountEnabled": false },
        ] }))
        .await;
    let graph = sim.connector();
    let adele = graph
        .find_account("Adele@contoso.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(adele.department.as_deref(), Some("Marketing"));
    assert_eq!(
        adele.manager.as_deref(),
        ids["users"]["megan@contoso.test"].as_str()
    );
    let megan = graph
        .account(adele.manager.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(megan.upn.as_deref(), Some("megan@contoso.test"));
    assert_eq!(megan.manager, None);
    let pat = graph
        .find_account("pat_fabrikam.test#EXT#@contoso.test")
        .await
        .unwrap()
        .unwrap();
    assert!(!pat.enabled);
    assert_eq!(
        graph.find_account("nobody@contoso.test").await.unwrap(),
        None
    );
}

/// Matrix 2: add, add again, remove, remove again; all succeed, each with its one effect.
#[tokio::test]
async fn group_membership_is_added_and_removed_idempotently() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 2).await;
    let graph = sim.connector();
    let access = Access::EntraGroup;

    graph
        .grant(&access, &group, &leases(&people))
        .await
        .unwrap();
    assert_eq!(sim.members(&group).await, {
        let mut p = people.clone();
        p.sort();
        p
    });
    // Again: Graph answers 400 "already exist"; the connector reads the group and is done.
    sim.clear_log().await;
    graph
        .grant(&access, &group, &leases(&people))
        .await
        .unwrap();
    let log = sim.log().await;
    assert!(
        log.iter().any(|(m, _, s)| m == "PATCH" && *s == 400),
        "{log:?}"
    );
    assert_eq!(writes(&log).len(), 1, "no second write: {log:?}");

    graph
        .revoke(&access, &group, std::slice::from_ref(&people[0]))
        .await
        .unwrap();
    assert_eq!(sim.members(&group).await, vec![people[1].clone()]);
    assert_eq!(
        graph.holding(&access, &group, &people).await.unwrap(),
        vec![people[1].clone()]
    );
    // Again: 404 inside the batch; the group exists, so "not a member": done.
    graph
        .revoke(&access, &group, std::slice::from_ref(&people[0]))
        .await
        .unwrap();
    // Removal always uses `$ref`: without it the simulator would delete the user itself.
    assert!(
        graph
            .find_account("person0@contoso.test")
            .await
            .unwrap()
            .is_some(),
        "the account still exists"
    );
    // From a group that does not exist: refused, not "done".
    let missing = "0e0e0e0e-0000-4000-8000-000000000000";
    assert!(matches!(
        graph.revoke(&access, missing, &people).await,
        Err(ConnectorError::Permanent(_))
    ));
    // Other kinds are refused until they are built.
    assert!(matches!(
        graph
            .grant(
                &Access::AzureVmPort {
                    port: 3389,
                    source: None
                },
                &group,
                &leases(&people)
            )
            .await,
        Err(ConnectorError::Permanent(_))
    ));
}

/// Accounts read by id in bulk (`getByIds`, as the engine and the account watch do) say
/// whether they are disabled: asked for with `$select`, and read one by one when the answer
/// lacks it (the simulator's switch for a service that ignores `$select` there).
#[tokio::test]
async fn accounts_read_by_id_say_whether_they_are_disabled() {
    let sim = Sim::start().await;
    let ids = sim
        .seed(json!({ "users": [
            { "userPrincipalName": "on@contoso.test" },
            { "userPrincipalName": "off@contoso.test", "accountEnabled": false },
        ] }))
        .await;
    let on = ids["users"]["on@contoso.test"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let off = ids["users"]["off@contoso.test"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let graph = sim.connector();
    for select in [true, false] {
        sim.config(json!({ "get_by_ids_select": select })).await;
        sim.clear_log().await;
        let mut found: Vec<(String, bool)> = graph
            .accounts_by_id(&[on.clone(), off.clone()])
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.reference.to_lowercase(), a.enabled))
            .collect();
        found.sort();
        let mut expected = vec![(on.clone(), true), (off.clone(), false)];
        expected.sort();
        assert_eq!(found, expected, "$select honoured: {select}");
        let single_reads = sim
            .log()
            .await
            .iter()
            .filter(|(m, p, _)| m == "GET" && p.starts_with("/v1.0/users/"))
            .count();
        assert_eq!(single_reads, if select { 0 } else { 2 });
    }
}

/// Matrix 2: the write happened, then Graph answered 503. The connector reconciles by reading:
/// exactly one member, and the add is not sent again.
#[tokio::test]
async fn a_write_that_succeeded_behind_a_503_counts_once() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 1).await;
    sim.fault(json!({
        "match": { "method": "PATCH", "path": "/v1.0/groups/*" },
        "respond": { "status": 503 }, "after_write": true
    }))
    .await;
    let graph = sim.connector();
    graph
        .grant(&Access::EntraGroup, &group, &leases(&people))
        .await
        .unwrap();
    assert_eq!(sim.members(&group).await, people);
    let log = sim.log().await;
    let patches: Vec<_> = log.iter().filter(|(m, _, _)| m == "PATCH").collect();
    assert_eq!(patches.len(), 1, "the add was sent once: {log:?}");
    assert_eq!(patches[0].2, 503);

    // The same for a removal: it happened, the batch answered 503; a repeat finds it gone.
    sim.fault(json!({
        "match": { "method": "POST", "path": "/v1.0/$batch" },
        "respond": { "status": 503 }, "after_write": true
    }))
    .await;
    graph
        .revoke(&Access::EntraGroup, &group, &people)
        .await
        .unwrap();
    assert!(sim.members(&group).await.is_empty());
}

/// Matrix 3: a group of 2,500 members is read across pages by following `@odata.nextLink`.
#[tokio::test]
async fn members_are_read_across_pages() {
    let sim = Sim::start().await;
    let ids = sim
        .seed(json!({ "groups": [{ "displayName": "Big", "generate_members": 2500 }] }))
        .await;
    let group = ids["groups"]["Big"].as_str().unwrap().to_string();
    sim.clear_log().await;
    let holders = sim.connector().holders(&group).await.unwrap();
    assert_eq!(holders.len(), 2500);
    let pages: Vec<_> = sim
        .log()
        .await
        .into_iter()
        .filter(|(m, p, _)| m == "GET" && p.contains("/members"))
        .collect();
    assert_eq!(pages.len(), 3, "999 + 999 + 502: {pages:?}");
    assert!(pages[1].1.contains("skiptoken"), "{pages:?}");
}

/// Matrix 4: 429 with a decimal `Retry-After` is waited out (and not retried early); without
/// the header the connector backs off; a long wait goes back to the engine as Throttled.
#[tokio::test]
async fn throttling_is_honoured() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 1).await;
    let graph = sim.connector();
    graph.holders(&group).await.unwrap();

    sim.fault(json!({
        "match": { "method": "GET", "path": "/v1.0/groups/*/members" },
        "respond": { "status": 429, "retry_after": "1.5" }
    }))
    .await;
    let started = Instant::now();
    graph.holders(&group).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "waited the decimal Retry-After"
    );

    sim.fault(json!({
        "match": { "method": "GET", "path": "/v1.0/groups/*/members" },
        "count": 2, "respond": { "status": 429 }
    }))
    .await;
    sim.config(json!({ "omit_retry_after": true })).await;
    graph.holders(&group).await.unwrap();
    sim.config(json!({ "omit_retry_after": false })).await;

    // Graph asks for a minute: not waited inside the call; the engine is told when.
    sim.fault(json!({
        "match": { "method": "PATCH", "path": "/v1.0/groups/*" },
        "respond": { "status": 429, "retry_after": "60" }
    }))
    .await;
    match graph
        .grant(&Access::EntraGroup, &group, &leases(&people))
        .await
    {
        Err(ConnectorError::Throttled { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(60))
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert!(sim.members(&group).await.is_empty(), "a 429 did nothing");
}

/// Matrix 4: the simulator's write budget (writes per 150 s) throttles a burst of adds; the
/// connector hands the wait back to the engine instead of hammering.
#[tokio::test]
async fn the_write_budget_is_respected() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 45).await;
    sim.config(json!({ "writes_per_150s": 2 })).await;
    let graph = sim.connector();
    match graph
        .grant(&Access::EntraGroup, &group, &leases(&people))
        .await
    {
        Err(ConnectorError::Throttled {
            retry_after,
            detail,
        }) => {
            assert!(retry_after > Duration::from_secs(10), "{retry_after:?}");
            assert!(detail.contains("TooManyRequests"), "{detail}");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    // Two PATCHes of 20 went through before the budget ran out.
    assert_eq!(sim.members(&group).await.len(), 40);
    // Graph's 429 closed the gate: the next write waits without asking Graph again.
    sim.clear_log().await;
    assert!(matches!(
        graph
            .revoke(&Access::EntraGroup, &group, &people[..1])
            .await,
        Err(ConnectorError::Throttled { .. })
    ));
    assert!(
        writes(&sim.log().await).is_empty(),
        "nothing sent while closed"
    );
}

/// Our own side of the budget: a connector allowed two writes per 150 s paces itself and hands
/// the wait to the engine before Graph ever answers 429.
#[tokio::test]
async fn the_connector_keeps_within_its_write_budget() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 45).await;
    let mut settings = sim.settings();
    settings.write_budget_per_150s = 2;
    let graph = GraphTenant::new("paced", settings, Secret::new(SECRET)).unwrap();
    match graph
        .grant(&Access::EntraGroup, &group, &leases(&people))
        .await
    {
        Err(ConnectorError::Throttled {
            retry_after,
            detail,
        }) => {
            assert!(retry_after > Duration::from_secs(100), "{retry_after:?}");
            assert!(detail.contains("write budget"), "{detail}");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(sim.members(&group).await.len(), 40);
    let log = sim.log().await;
    assert!(log.iter().all(|(_, _, status)| *status != 429), "{log:?}");
}

/// Matrix 5: removals go in `$batch`es of 20; an inner 429 is retried on its own after its
/// own Retry-After, an inner 5xx too; the others are not sent again.
#[tokio::test]
async fn batched_removals_honour_each_part() {
    let sim = Sim::start().await;
    let (group, people) = group_and_people(&sim, 45).await;
    let graph = sim.connector();
    graph
        .grant(&Access::EntraGroup, &group, &leases(&people))
        .await
        .unwrap();
    assert_eq!(sim.members(&group).await.len(), 45);
    sim.fault(json!({
        "match": { "method": "DELETE", "path": "/v1.0/groups/*/members/*/$ref" },
        "nth": 3, "respond": { "status": 429, "retry_after": "1" }
    }))
    .await;
    sim.fault(json!({
        "match": { "method": "DELETE", "path": "/v1.0/groups/*/members/*/$ref" },
        "nth": 30, "respond": { "status": 500 }
    }))
    .await;
    sim.clear_log().await;
    graph
        .revoke(&Access::EntraGroup, &group, &people)
        .await
        .unwrap();
    assert!(sim.members(&group).await.is_empty());
    let log = sim.log().await;
    let batches = log
        .iter()
        .filter(|(m, p, _)| m == "POST" && p.ends_with("$batch"))
        .count();
    assert_eq!(
        batches, 4,
        "3 batches (20 + 20 + 5), then 1 for the 2 retried: {log:?}"
    );
    let deletes = log
        .iter()
        .filter(|(m, p, _)| m == "DELETE" && p.ends_with("$ref"))
        .count();
    assert_eq!(
        deletes, 47,
        "each removal once, the two failed ones twice: {log:?}"
    );
}

/// Matrix 8: Teams. Adding is idempotent (201 for someone already in the team); a membership
/// is found by `$filter` on the user, never by parsing its id; an owner lease gives the owner
/// role and ends the membership; the last owner cannot be removed.
#[tokio::test]
async fn team_membership_and_ownership() {
    let sim = Sim::start().await;
    let ids = sim
        .seed(json!({
            "users": [
                { "userPrincipalName": "megan@contoso.test" },
                { "userPrincipalName": "adele@contoso.test" },
                { "userPrincipalName": "pat@contoso.test" },
            ],
            "groups": [{ "displayName": "Falcon", "team": true,
                         "owners": ["megan@contoso.test"], "members": ["megan@contoso.test"] }],
        }))
        .await;
    let team = ids["groups"]["Falcon"].as_str().unwrap().to_string();
    let id = |upn: &str| ids["users"][upn].as_str().unwrap().to_lowercase();
    let (megan, adele, pat) = (
        id("megan@contoso.test"),
        id("adele@contoso.test"),
        id("pat@contoso.test"),
    );
    let graph = sim.connector();
    let member = Access::Team {
        role: leasegate::domain::access::GroupRole::Member,
    };
    let owner = Access::Team {
        role: leasegate::domain::access::GroupRole::Owner,
    };

    let receipts = graph
        .grant(&member, &team, &leases(std::slice::from_ref(&adele)))
        .await
        .unwrap();
    assert!(
        receipts[0].detail["team_membership_id"].is_string(),
        "{receipts:?}"
    );
    graph
        .grant(&member, &team, &leases(std::slice::from_ref(&adele)))
        .await
        .unwrap();
    graph
        .grant(&owner, &team, &leases(std::slice::from_ref(&pat)))
        .await
        .unwrap();
    let mut expected = vec![megan.clone(), adele.clone(), pat.clone()];
    expected.sort();
    assert_eq!(sim.members(&team).await, expected, "one membership each");
    let both = vec![adele.clone(), pat.clone()];
    assert_eq!(
        graph.holding(&owner, &team, &both).await.unwrap(),
        vec![pat.clone()]
    );
    assert_eq!(graph.holding(&member, &team, &both).await.unwrap(), both);

    graph
        .revoke(&member, &team, std::slice::from_ref(&adele))
        .await
        .unwrap();
    graph
        .revoke(&owner, &team, std::slice::from_ref(&pat))
        .await
        .unwrap();
    // Again: nobody to remove, done.
    graph
        .revoke(&owner, &team, std::slice::from_ref(&pat))
        .await
        .unwrap();
    assert_eq!(sim.members(&team).await, vec![megan.clone()]);
    assert!(
        graph
            .holding(&member, &team, &both)
            .await
            .unwrap()
            .is_empty()
    );
    // The team's last owner stays: Teams refuses, and the removal is not recorded as done.
    assert!(matches!(
        graph
            .revoke(&owner, &team, std::slice::from_ref(&megan))
            .await,
        Err(ConnectorError::Permanent(_))
    ));
}

/// SharePoint (matrix 9, the common case): a site is reached through its Microsoft 365 group;
/// members can edit, owners have full control; a security group has no site to offer.
#[tokio::test]
async fn sharepoint_site_access_through_its_group() {
    use leasegate::domain::access::SiteRole;
    let sim = Sim::start().await;
    let ids = sim
        .seed(json!({
            "users": [
                { "userPrincipalName": "irvin@contoso.test" },
                { "userPrincipalName": "megan@contoso.test" },
            ],
            "groups": [
                { "displayName": "Audit 2026", "mailEnabled": true, "groupTypes": ["Unified"],
                  "owners": ["megan@contoso.test"] },
                { "displayName": "Plain", "securityEnabled": true, "mailEnabled": false },
            ],
        }))
        .await;
    let site = ids["groups"]["Audit 2026"].as_str().unwrap().to_lowercase();
    let plain = ids["groups"]["Plain"].as_str().unwrap().to_lowercase();
    let irvin = ids["users"]["irvin@contoso.test"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let megan = ids["users"]["megan@contoso.test"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let graph = sim.connector();
    let member = Access::SharepointSite {
        role: SiteRole::Member,
    };
    let owner = Access::SharepointSite {
        role: SiteRole::Owner,
    };
    assert!(graph.target(&member, &site).await.unwrap().is_some());
    assert!(
        graph.target(&member, &plain).await.unwrap().is_none(),
        "a security group has no site"
    );
    let who = std::slice::from_ref(&irvin);
    for _ in 0..2 {
        graph.grant(&member, &site, &leases(who)).await.unwrap();
        graph.grant(&owner, &site, &leases(who)).await.unwrap();
    }
    assert_eq!(sim.members(&site).await, vec![irvin.clone()]);
    assert_eq!(graph.holding(&owner, &site, who).await.unwrap(), who);
    let owners = |state: Value| -> Vec<String> {
        let group = state["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["displayName"] == "Audit 2026")
            .unwrap()
            .clone();
        let mut ids: Vec<String> = group["owners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_lowercase())
            .collect();
        ids.sort();
        ids
    };
    let mut both = vec![irvin.clone(), megan.clone()];
    both.sort();
    assert_eq!(owners(sim.state().await), both, "one ownership each");

    // The owner lease ends: full control goes, editing stays with the member lease.
    for _ in 0..2 {
        graph.revoke(&owner, &site, who).await.unwrap();
    }
    assert!(graph.holding(&owner, &site, who).await.unwrap().is_empty());
    assert_eq!(graph.holding(&member, &site, who).await.unwrap(), who);
    graph.revoke(&member, &site, who).await.unwrap();
    assert!(graph.holding(&member, &site, who).await.unwrap().is_empty());
    assert_eq!(owners(sim.state().await), vec![megan.clone()]);
}

/// Teams allows a few requests per second per team: ten people added to a team in one grant
/// meet its 429s, wait them out, and all end up in the team once.
#[tokio::test]
async fn a_busy_team_is_waited_for() {
    let sim = Sim::start().await;
    let users: Vec<Value> = (0..10)
        .map(|i| json!({ "userPrincipalName": format!("busy{i}@contoso.test") }))
        .collect();
    let ids = sim
        .seed(json!({ "users": users, "groups": [{ "displayName": "Busy", "team": true }] }))
        .await;
    let team = ids["groups"]["Busy"].as_str().unwrap().to_lowercase();
    let people: Vec<String> = (0..10)
        .map(|i| {
            ids["users"][format!("busy{i}@contoso.test")]
                .as_str()
                .unwrap()
                .to_lowercase()
        })
        .collect();
    let member = Access::Team {
        role: leasegate::domain::access::GroupRole::Member,
    };
    let graph = sim.connector();
    let receipts = graph.grant(&member, &team, &leases(&people)).await.unwrap();
    assert_eq!(receipts.len(), 10);
    let mut expected = people.clone();
    expected.sort();
    assert_eq!(sim.members(&team).await, expected);
    let log = sim.log().await;
    assert!(
        log.iter().any(|(m, _, s)| m == "POST" && *s == 429),
        "the team's limit was met: {log:?}"
    );
    assert_eq!(
        graph.holding(&member, &team, &people).await.unwrap().len(),
        10,
        "read back by listing the team (more than four people)"
    );
}

/// Replication lag: a group created a moment ago 404s for a while; the add is retried, not
/// failed.
#[tokio::test]
async fn a_fresh_object_is_waited_for() {
    let sim = Sim::start().await;
    sim.config(json!({ "lag_ms": 1500 })).await;
    let (group, people) = group_and_people(&sim, 1).await;
    sim.connector()
        .grant(&Access::EntraGroup, &group, &leases(&people))
        .await
        .unwrap();
    assert_eq!(sim.members(&group).await, people);
    let log = sim.log().await;
    assert!(
        log.iter().any(|(m, _, s)| m == "PATCH" && *s == 404),
        "the fresh group 404ed first: {log:?}"
    );
    // A member that does not exist at all is refused for good.
    let ghost = "0f0f0f0f-0000-4000-8000-000000000000".to_string();
    assert!(matches!(
        sim.connector()
            .grant(&Access::EntraGroup, &group, &leases(&[ghost]))
            .await,
        Err(ConnectorError::Permanent(_))
    ));
}

mod azure;
mod guests;
mod people;
mod pim;
mod sites;

// The engine with a Graph connector: the same promises as with a directory.

mod engine {
    use leasegate::domain::step::Lifecycle as _;
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{TimeDelta, Utc};
    use leasegate::server::connectors::Connectors;
    use serde_json::json;
    use sqlx::PgPool;

    use super::{Sim, group_and_people};
    use crate::engine::{Running, eventually};
    use crate::seed;

    const CONNECTOR: &str = "contoso-cloud";

    /// The engine with one Graph connector for the simulator.
    fn start(pool: &PgPool, sim: &Sim) -> Running {
        let mut connectors = Connectors::default();
        connectors.insert(CONNECTOR, Arc::new(sim.connector()));
        Running::start(pool, connectors, Duration::from_secs(30))
    }

    /// People in the database and in the simulator, each with a grant of one Entra group.
    async fn leases(
        pool: &PgPool,
        sim: &Sim,
        n: usize,
        ends_in: TimeDelta,
    ) -> (String, Vec<String>, Vec<uuid::Uuid>) {
        let (group, people) = group_and_people(sim, n).await;
        let entitlement = seed::entitlement_on(
            pool,
            CONNECTOR,
            "graph",
            json!({ "kind": "entra_group" }),
            &group,
        )
        .await;
        let start = Utc::now() + TimeDelta::milliseconds(300);
        let mut grants = Vec::new();
        for i in 0..n {
            let who = seed::principal(
                pool,
                &format!("person{i}@contoso.test"),
                &format!("Person {i}"),
            )
            .await;
            grants.push(seed::grant(pool, who, entitlement, start, start + ends_in).await);
        }
        (group, people, grants)
    }

    #[sqlx::test]
    async fn entra_group_membership_follows_the_lease(pool: PgPool) {
        let sim = Sim::start().await;
        let (group, people, grants) = leases(&pool, &sim, 3, TimeDelta::seconds(3)).await;
        let engine = start(&pool, &sim);
        eventually(Duration::from_secs(10), "members added", || async {
            sim.members(&group).await.len() == 3
        })
        .await;
        eventually(Duration::from_secs(10), "members removed", || async {
            sim.members(&group).await.is_empty()
        })
        .await;
        eventually(Duration::from_secs(5), "recorded as verified", || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoked' and removal = 'verified'",
            )
            .await
                == 3
        })
        .await;
        for grant in &grants {
            assert_eq!(seed::events(&pool, *grant, "grant.provisioned").await, 1);
            assert_eq!(seed::events(&pool, *grant, "grant.revoked").await, 1);
        }
        // The trail names the pinned access and the account by its Entra object id.
        let details: Vec<serde_json::Value> = sqlx::query_scalar(
            "select details from audit_events where action = 'grant.provisioned'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for d in &details {
            assert_eq!(d["access"]["kind"], "entra_group", "{d}");
            assert!(
                people.contains(&d["account"].as_str().unwrap().to_lowercase()),
                "{d}"
            );
        }
        engine.shut_down().await;
    }

    /// Graph answers 503 to everything while the leases end: they become overdue, and are
    /// removed and verified once it is back.
    #[sqlx::test]
    async fn removal_waits_out_a_graph_outage(pool: PgPool) {
        let sim = Sim::start().await;
        let (group, _, grants) = leases(&pool, &sim, 4, TimeDelta::seconds(3)).await;
        let engine = start(&pool, &sim);
        eventually(Duration::from_secs(10), "members added", || async {
            sim.members(&group).await.len() == 4
        })
        .await;
        sim.chaos(json!({ "rate": 1.0, "seed": 7, "statuses": [503] }))
            .await;
        eventually(Duration::from_secs(40), "grants marked overdue", || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoking' and overdue_since is not null",
            )
            .await
                == 4
        })
        .await;
        assert_eq!(
            sim.members(&group).await.len(),
            4,
            "nothing removed while down"
        );
        sim.chaos(json!({ "rate": 0.0 })).await;
        eventually(
            Duration::from_secs(90),
            "removed once Graph is back",
            || async {
                seed::count(
                    &pool,
                    "select count(*) from grants where state <> 'revoked'",
                )
                .await
                    == 0
            },
        )
        .await;
        assert!(sim.members(&group).await.is_empty());
        for grant in &grants {
            assert_eq!(seed::events(&pool, *grant, "grant.overdue").await, 1);
            assert_eq!(seed::events(&pool, *grant, "grant.revoked").await, 1);
        }
        engine.shut_down().await;
    }

    /// Two engines on one database and one tenant: every lease added and removed once.
    #[sqlx::test]
    async fn two_engines_share_graph_work(pool: PgPool) {
        let sim = Sim::start().await;
        let (group, _, grants) = leases(&pool, &sim, 40, TimeDelta::seconds(3)).await;
        let a = start(&pool, &sim);
        let b = start(&pool, &sim);
        eventually(Duration::from_secs(30), "every grant revoked", || async {
            seed::count(
                &pool,
                "select count(*) from grants where state <> 'revoked'",
            )
            .await
                == 0
        })
        .await;
        a.shut_down().await;
        b.shut_down().await;
        assert!(sim.members(&group).await.is_empty());
        for grant in &grants {
            assert_eq!(seed::events(&pool, *grant, "grant.provisioned").await, 1);
            assert_eq!(seed::events(&pool, *grant, "grant.revoked").await, 1);
        }
    }

    /// A PIM lease: Entra's schedule carries the lease's end; an extension is told to Entra
    /// at once, so Entra does not end the access at the old end; at the new end the engine
    /// removes it (PIM's five minutes have not passed, so through `$ref`) and reads it back.
    #[sqlx::test]
    async fn a_pim_lease_tells_entra_its_end_and_its_extension(pool: PgPool) {
        use leasegate::domain::grant::{GrantEvent, GrantState};
        let sim = Sim::start().await;
        let (group, people) = group_and_people(&sim, 1).await;
        let entitlement = seed::entitlement_on(
            &pool,
            CONNECTOR,
            "graph",
            json!({ "kind": "pim_group", "role": "member" }),
            &group,
        )
        .await;
        let who = seed::principal(&pool, "person0@contoso.test", "Person 0").await;
        let begin = Utc::now() + TimeDelta::milliseconds(300);
        let first_end = begin + TimeDelta::seconds(6);
        let grant = seed::grant(&pool, who, entitlement, begin, first_end).await;
        let engine = start(&pool, &sim);
        eventually(Duration::from_secs(10), "assigned and active", || async {
            sim.members(&group).await == people && seed::grant_state(&pool, grant).await == "active"
        })
        .await;
        let schedule_end = |state: serde_json::Value| {
            state["pim"][0]["endDateTime"]
                .as_str()
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                .map(|e| e.with_timezone(&Utc))
        };
        let told = schedule_end(sim.state().await).expect("a schedule");
        assert!((told - first_end).num_milliseconds().abs() < 1000, "{told}");

        let new_end = begin + TimeDelta::seconds(12);
        let mut conn = pool.acquire().await.unwrap();
        let step = GrantState::Active.step(GrantEvent::Extended).unwrap();
        assert!(
            leasegate::server::db::grants::extend(&mut conn, grant, step, new_end, None)
                .await
                .unwrap()
        );
        drop(conn);
        eventually(Duration::from_secs(5), "Entra told the new end", || async {
            schedule_end(sim.state().await)
                .is_some_and(|e| (e - new_end).num_milliseconds().abs() < 1000)
        })
        .await;
        // Recorded once the connector's call returned (just after Entra changed).
        eventually(Duration::from_secs(5), "the new end recorded", || async {
            seed::events(&pool, grant, "grant.end_told").await == 1
        })
        .await;
        // Past the first end: Entra kept the access, as the lease says.
        let wait = (first_end + TimeDelta::seconds(1) - Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(wait).await;
        assert_eq!(sim.members(&group).await, people, "held past the old end");

        eventually(Duration::from_secs(15), "removed and verified", || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoked' and removal = 'verified'",
            )
            .await
                == 1
        })
        .await;
        assert!(sim.members(&group).await.is_empty());
        assert!(sim.state().await["pim"].as_array().unwrap().is_empty());
        let provisioned: serde_json::Value = sqlx::query_scalar(
            "select details from audit_events where action = 'grant.provisioned'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(
            provisioned["system"]["pim_request_id"].is_string(),
            "the trail keeps Microsoft's ids: {provisioned}"
        );
        engine.shut_down().await;
    }

    /// Entra's replication lag, with the simulator hiding new objects for 20 seconds: a group
    /// made moments before its first grant is waited for (the trail says why) and granted once
    /// it appears, not failed for good; and a removal that finds the group briefly invisible is
    /// tried again without calling it overdue or missing.
    #[sqlx::test]
    async fn a_new_group_is_waited_for_and_a_late_removal_raises_no_alarm(pool: PgPool) {
        let sim = Sim::start().await;
        sim.config(json!({ "lag_ms": 20_000 })).await;
        // Long enough that the group appears well before the end, however slow the machine.
        let (group, people, grants) = leases(&pool, &sim, 2, TimeDelta::minutes(10)).await;
        let mut connectors = Connectors::default();
        connectors.insert(CONNECTOR, Arc::new(sim.connector()));
        let settings = leasegate::server::app::config::EngineSettings {
            replication_window: Duration::from_secs(120),
            removal_grace: Duration::from_secs(60),
            ..seed::engine_settings(Duration::from_secs(30))
        };
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let engine = tokio::spawn(leasegate::server::jobs::run_engine(
            leasegate::server::jobs::grants::Engine::new(pool.clone(), connectors, settings),
            stopping,
        ));
        eventually(Duration::from_secs(10), "the wait in the trail", || async {
            seed::count(
                &pool,
                "select count(*) from audit_events where action = 'grant.retrying'
                   and details->>'error' like '%not found yet: waiting for it to replicate%'",
            )
            .await
                >= 1
        })
        .await;
        assert!(sim.members(&group).await.is_empty(), "hidden yet");
        let started = std::time::Instant::now();
        loop {
            let active =
                seed::count(&pool, "select count(*) from grants where state = 'active'").await;
            if sim.members(&group).await.len() == 2 && active == 2 {
                break;
            }
            if started.elapsed() > Duration::from_secs(90) {
                let rows: Vec<(String, Option<String>, i32)> =
                    sqlx::query_as("select state, last_error, attempts from grants")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                panic!("not granted once the group appeared: {rows:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(grants.len(), 2);
        // At the end, the group is invisible for the first two reads.
        sim.clear_log().await;
        sim.fault(json!({
            "match": { "method": "GET", "path": format!("/v1.0/groups/{group}") },
            "count": 2,
            "respond": { "status": 404, "code": "Request_ResourceNotFound",
                         "message": "Resource does not exist." }
        }))
        .await;
        // The leases end now.
        sqlx::query("update grants set ends_at = now(), next_due_at = now()")
            .execute(&pool)
            .await
            .unwrap();
        eventually(Duration::from_secs(45), "removed and verified", || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoked' and removal = 'verified'",
            )
            .await
                == 2
        })
        .await;
        assert!(sim.members(&group).await.is_empty());
        assert!(people.len() == 2);
        assert_eq!(
            seed::count(
                &pool,
                "select count(*) from audit_events
                  where action in ('grant.overdue', 'grant.target_missing', 'grant.failed')",
            )
            .await,
            0,
            "no alarm for what was only late"
        );
        let log = sim.log().await;
        assert!(
            log.iter().any(|(m, path, s)| m == "GET"
                && path
                    .split('?')
                    .next()
                    .is_some_and(|p| p.ends_with(&format!("/groups/{group}")))
                && *s == 404),
            "the group was seen late: {log:?}"
        );
        stop.send(true).unwrap();
        engine.await.unwrap();
    }
}

/// The simulator's control plane (seed, reset, clock, faults) answers only its token: anything
/// else that reaches the port cannot reseed, rewind or fault it. The Graph side keeps taking
/// its own bearer tokens.
#[tokio::test]
async fn the_control_plane_takes_its_own_token() {
    let sim = Sim::start().await;
    let http = reqwest::Client::new();
    for token in [None, Some("wrong-token-of-enough-length"), Some("")] {
        let mut request = http
            .post(format!("{}/__sim__/reset", sim.base))
            .json(&json!({}));
        if let Some(token) = token {
            request = request.header("x-sim-control-token", token);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(
            answer.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "{token:?}"
        );
    }
    let page = http
        .get(format!("{}/__sim__/", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::UNAUTHORIZED);
    let page = http
        .get(format!("{}/__sim__/?token={}", sim.base, sim.token))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    // With the token, the control plane works (the helper sends it).
    let ids = sim
        .seed(json!({ "users": [{ "userPrincipalName": "a@contoso.test" }] }))
        .await;
    assert!(ids["users"]["a@contoso.test"].is_string());
}
