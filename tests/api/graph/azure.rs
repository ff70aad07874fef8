//! Azure VM just-in-time access through the simulator's Azure Resource Manager (matrix 11 of
//! `../shared/docs/microsoft-apis.md` §11.5): a port opened to each lease's address until its
//! end, leases of several people on one port kept together (Azure supersedes older
//! requests), an early end without a revoke API, expiry on Azure's clock, the policy's
//! maximum, read-modify-write of a managed policy, and ARM's own token audience.

use chrono::{TimeDelta, Utc};
use leasegate::domain::access::Access;
use leasegate::server::app::config::Secret;
use leasegate::server::connectors::azure::{AzureJit, AzureSettings, ManagedPolicy};
use leasegate::server::connectors::{Connector, ConnectorError, Lease};
use serde_json::{Value, json};

use super::{CLIENT, SECRET, Sim, TENANT, group_and_people};

const SUBSCRIPTION: &str = "5e6f7a8b-0000-4000-8000-00000000a2e1";
const JIT: &[&str] = &[
    "Microsoft.Security/locations/jitNetworkAccessPolicies/read",
    "Microsoft.Security/locations/jitNetworkAccessPolicies/write",
    "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
    "User.Read.All",
    "Group.Read.All",
];

fn vm(name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-ops/providers/Microsoft.Compute/virtualMachines/{name}"
    )
}

fn policy_id() -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-ops/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"
    )
}

fn ssh() -> Access {
    Access::AzureVmPort {
        port: 22,
        source: None,
    }
}

fn settings(sim: &Sim) -> AzureSettings {
    AzureSettings {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        client_secret_env: None,
        client_secret_file: None,
        client_certificate_env: None,
        client_certificate_file: None,
        authority_url: sim.base.clone(),
        arm_url: sim.base.clone(),
        graph_url: format!("{}/v1.0", sim.base),
        timeout_seconds: 5,
        manage_policy: None,
        closing_source: "192.0.2.1".into(),
    }
}

fn azure(sim: &Sim) -> AzureJit {
    AzureJit::new("contoso-azure", settings(sim), Secret::new(SECRET)).unwrap()
}

/// A simulator with one VM whose SSH port (at most three hours) is in the resource group's
/// JIT policy, and a second VM in no policy.
async fn start() -> Sim {
    let sim = Sim::with_roles(JIT).await;
    sim.seed(json!({
        "virtualMachines": [vm("jump-01"), vm("build-02")],
        "jitPolicies": [{
            "id": policy_id(),
            "virtualMachines": [{
                "id": vm("jump-01"),
                "ports": [{ "number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*",
                            "maxRequestAccessDuration": "PT3H" }],
            }],
        }],
    }))
    .await;
    sim
}

fn lease(account: &str, source: &str, ends_in: TimeDelta) -> Lease {
    Lease {
        account: account.into(),
        starts_at: Utc::now(),
        ends_at: Utc::now() + ends_in,
        reason: "patch night".into(),
        source: Some(source.into()),
    }
}

/// A simulator whose jump host opens SSH only to 198.51.100.0/24.
async fn restricted() -> Sim {
    let sim = Sim::with_roles(JIT).await;
    sim.seed(json!({
        "jitPolicies": [{
            "id": policy_id(),
            "virtualMachines": [{
                "id": vm("jump-01"),
                "ports": [{ "number": 22, "protocol": "TCP",
                            "allowedSourceAddressPrefixes": ["198.51.100.0/24"],
                            "maxRequestAccessDuration": "PT3H" }],
            }],
        }],
    }))
    .await;
    sim
}

/// The open rules on a VM's port: `(sources, until)`.
async fn open(sim: &Sim, vm: &str, port: u16) -> Vec<(Vec<String>, String)> {
    sim.state().await["jit"]["open"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["vm"].as_str().unwrap().eq_ignore_ascii_case(vm) && o["port"] == json!(port))
        .map(|o| {
            let mut sources: Vec<String> = o["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            sources.sort();
            (sources, o["until"].as_str().unwrap().to_string())
        })
        .collect()
}

fn at(text: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A lease opens the port to its address until its end (Azure's 202 `Initiating` taken as
/// open); a second person's lease keeps the first one's address open too; ending the first
/// lease early leaves the second; ending the last early points the port at the closing
/// address; each step is read back from Azure's request history.
#[tokio::test]
async fn leases_on_one_port_open_it_to_each_address_until_they_end() {
    let sim = start().await;
    let azure = azure(&sim);
    let target = azure.target(&ssh(), &vm("jump-01")).await.unwrap().unwrap();
    assert_eq!(
        target.stable_id.as_deref(),
        Some(vm("jump-01").to_lowercase().as_str())
    );
    assert!(
        azure
            .target(&ssh(), &vm("build-02"))
            .await
            .unwrap()
            .is_none(),
        "a VM in no policy is not a target unless the connector manages the policy"
    );

    let alice = lease("a1", "203.0.113.7/32", TimeDelta::hours(1));
    let receipts = azure
        .grant(&ssh(), &vm("jump-01"), std::slice::from_ref(&alice))
        .await
        .unwrap();
    assert_eq!(receipts[0].detail["jit_status"], json!("Initiating"));
    assert_eq!(receipts[0].detail["jit_source"], json!("203.0.113.7/32"));
    let rules = open(&sim, &vm("jump-01"), 22).await;
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].0, ["203.0.113.7/32"]);
    assert!((at(&rules[0].1) - alice.ends_at).num_seconds().abs() <= 1);

    // Bob's lease runs longer: one request for both, open until Bob's end.
    let bob = lease("b2", "198.51.100.0/24", TimeDelta::hours(2));
    azure
        .grant(&ssh(), &vm("jump-01"), std::slice::from_ref(&bob))
        .await
        .unwrap();
    let rules = open(&sim, &vm("jump-01"), 22).await;
    assert_eq!(rules.len(), 1, "the newer request superseded the older one");
    assert_eq!(rules[0].0, ["198.51.100.0/24", "203.0.113.7/32"]);
    assert!((at(&rules[0].1) - bob.ends_at).num_seconds().abs() <= 1);
    let people = vec!["a1".to_string(), "b2".to_string(), "c3".to_string()];
    assert_eq!(
        azure
            .holding(&ssh(), &vm("jump-01"), &people)
            .await
            .unwrap(),
        ["a1", "b2"]
    );

    // Alice gives it back early: Bob keeps his address open.
    azure
        .revoke(&ssh(), &vm("jump-01"), &["a1".into()])
        .await
        .unwrap();
    assert_eq!(
        azure
            .holding(&ssh(), &vm("jump-01"), &people)
            .await
            .unwrap(),
        ["b2"]
    );
    let rules = open(&sim, &vm("jump-01"), 22).await;
    assert_eq!(rules[0].0, ["198.51.100.0/24"]);
    // Removing someone who holds nothing changes nothing.
    let before = sim.log().await.len();
    azure
        .revoke(&ssh(), &vm("jump-01"), &["a1".into()])
        .await
        .unwrap();
    assert!(
        !sim.log().await[before..]
            .iter()
            .any(|(method, _, _)| method == "POST"),
        "no request for someone who holds nothing"
    );

    // Bob's ends early too: there is no revoke, so a short request to the closing address
    // supersedes his.
    azure
        .revoke(&ssh(), &vm("jump-01"), &["b2".into()])
        .await
        .unwrap();
    closed_early(&sim, &azure, &people, "192.0.2.1/32").await;
}

/// Nobody of `people` holds the jump host's SSH port, which is open only to `closing` for a
/// minute or two: an early end without a revoke API.
async fn closed_early(sim: &Sim, azure: &AzureJit, people: &[String], closing: &str) {
    assert!(
        azure
            .holding(&ssh(), &vm("jump-01"), people)
            .await
            .unwrap()
            .is_empty()
    );
    let rules = open(sim, &vm("jump-01"), 22).await;
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].0, [closing]);
    assert!(at(&rules[0].1) <= Utc::now() + TimeDelta::minutes(2));
}

/// Azure closes the port by itself at the request's end (the simulator's clock): the
/// connector reads it as gone with no call of its own.
#[tokio::test]
async fn azure_closes_the_port_at_the_end_by_itself() {
    let sim = start().await;
    let azure = azure(&sim);
    sim.config(json!({ "jit_initiate_status": "Initiated" }))
        .await;
    azure
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("a1", "203.0.113.7", TimeDelta::minutes(30))],
        )
        .await
        .unwrap();
    assert_eq!(
        azure
            .holding(&ssh(), &vm("jump-01"), &["a1".into()])
            .await
            .unwrap(),
        ["a1"]
    );
    sim.advance(31 * 60).await;
    assert!(
        azure
            .holding(&ssh(), &vm("jump-01"), &["a1".into()])
            .await
            .unwrap()
            .is_empty()
    );
    let history = sim.state().await["jit"]["policies"][0]["properties"]["requests"].clone();
    assert_eq!(
        history[0]["virtualMachines"][0]["ports"][0]["statusReason"],
        json!("Expired")
    );
}

/// The policy's rules are Azure's: a lease longer than the port's maximum, a port the policy
/// does not have, a source the rule does not allow are refused with what to change, and
/// nothing is opened.
#[tokio::test]
async fn the_policy_s_limits_are_refused_with_what_to_change() {
    let sim = start().await;
    let azure = azure(&sim);
    let too_long = azure
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("a1", "203.0.113.7", TimeDelta::hours(4))],
        )
        .await;
    match too_long {
        Err(ConnectorError::Permanent(message)) => {
            assert!(message.contains("at most 180 minutes"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let rdp = Access::AzureVmPort {
        port: 3389,
        source: None,
    };
    match azure
        .grant(
            &rdp,
            &vm("jump-01"),
            &[lease("a1", "203.0.113.7", TimeDelta::hours(1))],
        )
        .await
    {
        Err(ConnectorError::Permanent(message)) => {
            assert!(message.contains("Defender for Cloud"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(open(&sim, &vm("jump-01"), 22).await.is_empty());
    assert!(
        !sim.log()
            .await
            .iter()
            .any(|(m, p, _)| m == "POST" && p.contains("/initiate")),
        "nothing was asked of Azure that it would refuse"
    );

    // Azure's own refusal of a too long request (the connector's check skipped by asking
    // the simulator directly) is ARM's CloudError, a 400.
    let token = sim.token("https://management.azure.com/.default").await;
    let initiate = format!(
        "{}{}/initiate?api-version=2020-01-01",
        sim.base,
        policy_id()
    );
    let body = json!({ "virtualMachines": [{ "id": vm("jump-01"), "ports": [{
        "number": 22, "endTimeUtc": (Utc::now() + TimeDelta::hours(5)).to_rfc3339(),
        "allowedSourceAddressPrefix": "203.0.113.7" }] }], "justification": "x" });
    let answer = reqwest::Client::new()
        .post(&initiate)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], json!("BadRequest"));
    assert!(
        error["error"].get("innerError").is_none(),
        "ARM's envelope, not Graph's"
    );
    // Without api-version, ARM refuses before anything else.
    let answer = reqwest::Client::new()
        .post(initiate.replace("?api-version=2020-01-01", ""))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"]["code"],
        json!("MissingApiVersionParameter")
    );
}

/// A lease without an address cannot be opened; a rule that allows only some sources
/// refuses others.
#[tokio::test]
async fn a_port_opens_only_to_an_address_the_rule_allows() {
    let sim = restricted().await;
    let azure = azure(&sim);
    let mut no_address = lease("a1", "x", TimeDelta::hours(1));
    no_address.source = None;
    assert!(matches!(
        azure.grant(&ssh(), &vm("jump-01"), &[no_address]).await,
        Err(ConnectorError::Permanent(m)) if m.contains("no source address")
    ));
    assert!(matches!(
        azure.grant(&ssh(), &vm("jump-01"), &[lease("a1", "203.0.113.7", TimeDelta::hours(1))]).await,
        Err(ConnectorError::Permanent(m)) if m.contains("198.51.100.0/24")
    ));
    azure
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("a1", "198.51.100.7", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    // An entry's fixed source (a VPN's egress) is used when the lease names none.
    let fixed = Access::AzureVmPort {
        port: 22,
        source: Some("198.51.100.0/24".into()),
    };
    let mut from_vpn = lease("b2", "x", TimeDelta::hours(1));
    from_vpn.source = None;
    azure
        .grant(&fixed, &vm("jump-01"), &[from_vpn])
        .await
        .unwrap();
    assert_eq!(
        open(&sim, &vm("jump-01"), 22).await[0].0,
        ["198.51.100.0/24", "198.51.100.7/32"]
    );
}

/// With `manage_policy`, a VM in no policy is added by read-modify-write: the policy keeps
/// the VMs it had, and a second VM in another resource group page (ARM `nextLink`) is
/// found.
#[tokio::test]
async fn a_managed_policy_is_read_modified_and_written_whole() {
    let sim = start().await;
    // A second policy in the group, so the list comes in two pages (ARM's `nextLink`).
    sim.seed(json!({ "jitPolicies": [{
        "id": policy_id().replace("westeurope", "northeurope"),
        "virtualMachines": [{ "id": vm("north-03"), "ports": [{ "number": 3389,
            "protocol": "*", "allowedSourceAddressPrefix": "*",
            "maxRequestAccessDuration": "PT1H" }] }],
    }] }))
    .await;
    sim.config(json!({ "arm_page_size": 1 })).await;
    let mut settings = settings(&sim);
    settings.manage_policy = Some(ManagedPolicy {
        location: "westeurope".into(),
        name: "default".into(),
        max_request_access_duration: "PT2H".into(),
    });
    let azure = AzureJit::new("contoso-azure", settings, Secret::new(SECRET)).unwrap();
    assert!(
        azure
            .target(&ssh(), &vm("build-02"))
            .await
            .unwrap()
            .is_some()
    );
    azure
        .grant(
            &ssh(),
            &vm("build-02"),
            &[lease("a1", "203.0.113.7", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    let state = sim.state().await;
    let policy = state["jit"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["location"] == json!("westeurope"))
        .unwrap();
    let machines: Vec<&str> = policy["properties"]["virtualMachines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        machines,
        [vm("jump-01"), vm("build-02")],
        "jump-01 was kept"
    );
    assert_eq!(open(&sim, &vm("build-02"), 22).await.len(), 1);
    assert!(
        sim.log()
            .await
            .iter()
            .any(|(_, p, _)| p.contains("skipToken")),
        "the second page was read"
    );
    assert_eq!(
        sim.log()
            .await
            .iter()
            .filter(|(m, p, _)| m == "PUT" && p.contains("jitNetworkAccessPolicies"))
            .count(),
        1
    );
    // The next lease finds the port in the policy: no second write.
    azure
        .grant(
            &ssh(),
            &vm("build-02"),
            &[lease("b2", "203.0.113.8", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    assert_eq!(
        sim.log()
            .await
            .iter()
            .filter(|(m, _, _)| m == "PUT")
            .count(),
        1
    );
}

/// ARM throttling (429 with `Retry-After`) is waited out; a 503 after the request was
/// recorded is sent again and leaves one open request with the same holders; a Graph token
/// is not an ARM token.
#[tokio::test]
async fn throttling_and_lost_answers_are_survived() {
    let sim = start().await;
    let azure = azure(&sim);
    sim.fault(
        json!({ "match": { "method": "POST", "path": "/subscriptions/**" }, "nth": 1,
                      "respond": { "status": 429, "retry_after": "1" } }),
    )
    .await;
    sim.fault(
        json!({ "match": { "method": "POST", "path": "/subscriptions/**" }, "nth": 2,
                      "after_write": true, "respond": { "status": 503 } }),
    )
    .await;
    azure
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("a1", "203.0.113.7", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    let rules = open(&sim, &vm("jump-01"), 22).await;
    assert_eq!(rules.len(), 1, "one open request: {rules:?}");
    assert_eq!(rules[0].0, ["203.0.113.7/32"]);
    let statuses: Vec<u16> = sim
        .log()
        .await
        .iter()
        .filter(|(m, p, _)| m == "POST" && p.contains("/initiate"))
        .map(|(_, _, s)| *s)
        .collect();
    assert_eq!(statuses, [429, 503, 202]);

    // People come from Graph, with a Graph token; JIT from ARM, with an ARM token.
    let (_, people) = group_and_people(&sim, 1).await;
    let account = azure.account(&people[0]).await.unwrap().unwrap();
    assert!(account.enabled);
    let graph_token_on_arm = sim
        .log()
        .await
        .iter()
        .any(|(_, p, s)| p.starts_with("/subscriptions") && *s == 401);
    assert!(!graph_token_on_arm, "each service got a token for itself");
}

/// An early end on a port whose rule allows only some sources cannot point it at the closing
/// address (Azure would refuse it): it closes to the allowed network's own address, which no
/// host uses.
#[tokio::test]
async fn an_early_end_on_a_restricted_port_closes_to_an_address_its_rule_allows() {
    let sim = restricted().await;
    let azure = azure(&sim);
    azure
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("a1", "198.51.100.7", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    azure
        .revoke(&ssh(), &vm("jump-01"), &["a1".into()])
        .await
        .unwrap();
    closed_early(&sim, &azure, &["a1".into()], "198.51.100.0/32").await;
}

/// Someone takes the port out of the JIT policy while a lease holds it: Azure keeps the open
/// request until its end, so the lease is still read back as held, and its removal says
/// when Azure closes it instead of claiming it is gone.
#[tokio::test]
async fn a_port_taken_out_of_its_policy_is_read_back_until_azure_closes_it() {
    let sim = start().await;
    let azure = azure(&sim);
    let alice = lease("a1", "203.0.113.7", TimeDelta::hours(1));
    azure
        .grant(&ssh(), &vm("jump-01"), std::slice::from_ref(&alice))
        .await
        .unwrap();
    let token = sim.token("https://management.azure.com/.default").await;
    let answer = reqwest::Client::new()
        .put(format!(
            "{}{}?api-version=2020-01-01",
            sim.base,
            policy_id()
        ))
        .bearer_auth(token)
        .json(
            &json!({ "kind": "Basic", "properties": { "virtualMachines": [{
            "id": vm("jump-01"),
            "ports": [{ "number": 3389, "protocol": "*", "allowedSourceAddressPrefix": "*",
                        "maxRequestAccessDuration": "PT3H" }],
        }] } }),
        )
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());

    let held = azure
        .holding(&ssh(), &vm("jump-01"), &["a1".into()])
        .await
        .unwrap();
    assert_eq!(held, ["a1"], "Azure still keeps the port open");
    let refused = azure
        .revoke(&ssh(), &vm("jump-01"), &["a1".into()])
        .await
        .unwrap_err();
    let ConnectorError::Transient(message) = &refused else {
        panic!("{refused:?}");
    };
    assert!(
        message.contains("no longer in a JIT policy") && message.contains("Azure closes"),
        "{message}"
    );
    // Azure's own end closes it, and the read-back sees that.
    sim.advance(3600 + 60).await;
    assert!(
        azure
            .holding(&ssh(), &vm("jump-01"), &["a1".into()])
            .await
            .unwrap()
            .is_empty()
    );
    azure
        .revoke(&ssh(), &vm("jump-01"), &["a1".into()])
        .await
        .unwrap();
}

/// Starts Bob's grant and, once his first read of the port is answered, Alice's removal, with
/// the connectors given.
async fn grant_and_remove_at_once(
    sim: &Sim,
    granting: &AzureJit,
    removing: &AzureJit,
) -> (Result<(), ConnectorError>, Result<(), ConnectorError>) {
    sim.clear_log().await;
    let bob = lease("b2", "198.51.100.9", TimeDelta::hours(1));
    let grant = async {
        granting
            .grant(&ssh(), &vm("jump-01"), std::slice::from_ref(&bob))
            .await
            .map(|_| ())
    };
    let remove = async {
        sim.answered(|method, path| method == "GET" && path.contains("jitNetworkAccessPolicies"))
            .await;
        removing
            .revoke(&ssh(), &vm("jump-01"), &["a1".into()])
            .await
    };
    tokio::join!(grant, remove)
}

/// Bob's grant and the end of Alice's lease on one port at the same time, in one process:
/// Bob's request is held back by Azure; without one change per port at a time, Alice's
/// removal would read the port before Bob's request and its request (no holders) or Bob's
/// (still naming Alice) would undo the other. Both must hold: Bob open, Alice not.
#[tokio::test]
async fn a_grant_and_a_removal_on_one_port_at_once_keep_each_other() {
    let sim = start().await;
    let azure = azure(&sim);
    azure
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("a1", "203.0.113.7", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    sim.fault(
        json!({ "match": { "method": "POST", "path": "/subscriptions/**" },
                      "delay_ms": 600 }),
    )
    .await;
    let (granted, removed) = grant_and_remove_at_once(&sim, &azure, &azure).await;
    granted.unwrap();
    removed.unwrap();
    assert_eq!(
        azure
            .holding(&ssh(), &vm("jump-01"), &["a1".into(), "b2".into()])
            .await
            .unwrap(),
        ["b2"]
    );
    assert_eq!(
        open(&sim, &vm("jump-01"), 22).await[0].0,
        ["198.51.100.9/32"]
    );
}

/// The same race between two replicas (two connectors, so no shared lock): Alice's removal
/// lands after Bob's request and drops him; Bob's grant reads the port back, finds himself
/// missing and says so (the engine tries again), and the second try opens it for him only.
#[tokio::test]
async fn a_grant_overtaken_by_another_replica_is_read_back_and_tried_again() {
    let sim = start().await;
    let first = azure(&sim);
    let second = azure(&sim);
    first
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("a1", "203.0.113.7", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    // Both have their tokens before the race, so only the delays below order it.
    second
        .holding(&ssh(), &vm("jump-01"), &["a1".into()])
        .await
        .unwrap();
    let list = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-ops/providers/Microsoft.Security/jitNetworkAccessPolicies"
    );
    // Alice's removal starts once Bob's read is answered; Bob's request lands 0.4 s after it
    // was sent, Alice's (her read still naming only her) 0.8 s after, and Bob's read-back
    // 1.5 s after it was sent. (The engine keeps two replicas off one port; this is the
    // connector's own line of defence.)
    for (method, path, nth, delay) in [
        ("POST", "/subscriptions/**", 1, 400),
        ("POST", "/subscriptions/**", 2, 800),
        ("GET", list.as_str(), 3, 1500),
    ] {
        sim.fault(
            json!({ "match": { "method": method, "path": path }, "nth": nth,
                          "delay_ms": delay }),
        )
        .await;
    }
    let (granted, removed) = grant_and_remove_at_once(&sim, &first, &second).await;
    removed.unwrap();
    let overtaken = granted.unwrap_err();
    assert!(
        matches!(&overtaken, ConnectorError::Transient(m) if m.contains("changed at the same time")),
        "{overtaken:?}"
    );
    // The engine's next try.
    first
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease("b2", "198.51.100.9", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .holding(&ssh(), &vm("jump-01"), &["a1".into(), "b2".into()])
            .await
            .unwrap(),
        ["b2"]
    );
}

/// A port opened in Azure directly (by another application here; a person in the Azure
/// portal is another requestor just the same) supersedes the portal's request, as Azure does:
/// reconciliation's read names its requestor as the port's holder, and the lease's holder no
/// more (drift, for the pass to report); the request is a change made outside the portal,
/// with its justification and period. The portal's own request is neither.
#[tokio::test]
async fn a_port_opened_in_azure_directly_is_held_by_its_requestor() {
    const OTHER: &str = "1b2c3d4e-0000-4000-8000-0000000000aa";
    let sim = start().await;
    let azure = azure(&sim);
    let (_, people) = group_and_people(&sim, 1).await;
    let before = Utc::now() - TimeDelta::seconds(1);
    azure
        .grant(
            &ssh(),
            &vm("jump-01"),
            &[lease(&people[0], "203.0.113.7", TimeDelta::hours(1))],
        )
        .await
        .unwrap();
    assert!(azure.lists_holders_of(&ssh()) && azure.records_changes_of(&ssh()));
    assert_eq!(
        azure.holders_of(&ssh(), &vm("jump-01")).await.unwrap(),
        vec![people[0].clone()]
    );
    assert_eq!(
        azure
            .outside_changes(&ssh(), &vm("jump-01"), before)
            .await
            .unwrap(),
        vec![],
        "the portal's own request"
    );

    sim.register_app(OTHER, "other-secret", JIT).await;
    let token = sim
        .token_of(
            OTHER,
            "other-secret",
            "https://management.azure.com/.default",
        )
        .await;
    let end = Utc::now() + TimeDelta::hours(2);
    let answer = reqwest::Client::new()
        .post(format!(
            "{}{}/initiate?api-version=2020-01-01",
            sim.base,
            policy_id()
        ))
        .bearer_auth(token)
        .json(&json!({
            "virtualMachines": [{ "id": vm("jump-01"), "ports": [{
                "number": 22, "endTimeUtc": end.to_rfc3339(),
                "allowedSourceAddressPrefix": "198.51.100.9" }] }],
            "justification": "Debugging the agent",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());

    assert_eq!(
        azure.holders_of(&ssh(), &vm("jump-01")).await.unwrap(),
        vec![OTHER.to_string()],
        "the newer request superseded the portal's"
    );
    let changes = azure
        .outside_changes(&ssh(), &vm("jump-01"), before)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].account, OTHER);
    assert_eq!(changes[0].made_by, format!("requestor {OTHER}"));
    assert_eq!(
        changes[0].justification.as_deref(),
        Some("Debugging the agent")
    );
    assert!((changes[0].ends_at.unwrap() - end).num_seconds().abs() <= 1);
    assert!(
        azure
            .outside_changes(&ssh(), &vm("jump-01"), Utc::now() + TimeDelta::minutes(1))
            .await
            .unwrap()
            .is_empty(),
        "nothing since"
    );

    // Removing it (reconciliation's `remove`): a newer request to the closing address takes
    // its place, read back with nobody holding the port.
    azure
        .revoke(&ssh(), &vm("jump-01"), &[OTHER.to_string()])
        .await
        .unwrap();
    assert_eq!(
        azure
            .holding(&ssh(), &vm("jump-01"), &[OTHER.to_string()])
            .await
            .unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        azure.holders_of(&ssh(), &vm("jump-01")).await.unwrap(),
        Vec::<String>::new()
    );
}
