//! SharePoint sites shared through their document library (matrix 9 of
//! `../shared/docs/microsoft-apis.md` §11.5): a site without a Microsoft 365 group, and read
//! access to any site, are given by `invite` on the library's root without relying on
//! `expirationDateTime` (the engine deletes the share), taken back role by role so standing
//! shares survive, and a change made between the connector's read and its write (a stale
//! `If-Match`, 412) is read again instead of overwritten.

use leasegate::domain::access::{Access, SiteRole};
use leasegate::server::connectors::{Connector, ConnectorError};
use serde_json::{Value, json};

use super::{Sim, leases, writes};

const VISITOR: Access = Access::SharepointSite {
    role: SiteRole::Visitor,
};
const MEMBER: Access = Access::SharepointSite {
    role: SiteRole::Member,
};
const OWNER: Access = Access::SharepointSite {
    role: SiteRole::Owner,
};

struct Seeded {
    site: String,
    group_site: String,
    people: Vec<String>,
}

/// Irvin and Adele, Megan with a standing read share of the legal site (which has no group),
/// and the Microsoft 365 group "Audit 2026" with its team site.
async fn seed(sim: &Sim) -> Seeded {
    let ids = sim
        .seed(json!({
            "users": [
                { "userPrincipalName": "irvin@contoso.test" },
                { "userPrincipalName": "adele@contoso.test" },
                { "userPrincipalName": "megan@contoso.test" },
            ],
            "groups": [
                { "displayName": "Audit 2026", "mailEnabled": true, "groupTypes": ["Unified"] },
            ],
            "sites": [
                { "name": "legal", "displayName": "Legal archive",
                  "shares": [{ "user": "megan@contoso.test", "roles": ["read"] }] },
            ],
        }))
        .await;
    let id = |upn: &str| ids["users"][upn].as_str().unwrap().to_lowercase();
    Seeded {
        site: ids["sites"]["legal"].as_str().unwrap().to_string(),
        group_site: ids["groups"]["Audit 2026"].as_str().unwrap().to_lowercase(),
        people: ["irvin", "adele", "megan"]
            .iter()
            .map(|n| id(&format!("{n}@contoso.test")))
            .collect(),
    }
}

/// Each person's direct roles on the library of `site` (a site id or a group id), sorted.
async fn shares(sim: &Sim, site: &str) -> Vec<(String, Vec<String>)> {
    let state = sim.state().await;
    let Some(library) = state["sharepoint"]["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["site"].as_str() == Some(site.to_lowercase().as_str()))
        .cloned()
    else {
        return Vec::new();
    };
    let mut shares: Vec<(String, Vec<String>)> = library["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["user"].as_str().unwrap().to_string(),
                s["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    shares.sort();
    shares
}

fn with(person: &str, roles: &[&str]) -> (String, Vec<String>) {
    (
        person.to_string(),
        roles.iter().map(|r| r.to_string()).collect(),
    )
}

fn sorted(mut shares: Vec<(String, Vec<String>)>) -> Vec<(String, Vec<String>)> {
    shares.sort();
    shares
}

#[tokio::test]
async fn a_site_without_a_group_is_shared_and_taken_back_role_by_role() {
    let sim = Sim::start().await;
    let Seeded { site, people, .. } = seed(&sim).await;
    let [irvin, adele, megan] = [&people[0], &people[1], &people[2]];
    let graph = sim.connector();

    let target = graph.target(&MEMBER, &site).await.unwrap().unwrap();
    assert_eq!(target.reference, site.to_lowercase());
    let last = if site.ends_with('0') { '1' } else { '0' };
    let unknown = format!("{}{last}", &site[..site.len() - 1]);
    assert!(graph.target(&MEMBER, &unknown).await.unwrap().is_none());

    // Edit for Irvin and Adele, twice (a repeat after a lost answer changes nothing). The
    // simulator refuses `expirationDateTime` as SharePoint does, so these succeeding show the
    // connector never relies on it.
    let editors = vec![irvin.clone(), adele.clone()];
    for _ in 0..2 {
        let receipts = graph
            .grant(&MEMBER, &site, &leases(&editors))
            .await
            .unwrap();
        assert_eq!(receipts.len(), 2);
        assert!(receipts[0].detail["sharepoint_permission_id"].is_string());
    }
    // Read for Megan, who holds it already, and for Irvin.
    graph
        .grant(&VISITOR, &site, &leases(&[megan.clone(), irvin.clone()]))
        .await
        .unwrap();
    assert_eq!(
        shares(&sim, &site).await,
        sorted(vec![
            with(irvin, &["read", "write"]),
            with(adele, &["write"]),
            with(megan, &["read"]),
        ])
    );
    let everyone = vec![irvin.clone(), adele.clone(), megan.clone()];
    assert_eq!(
        graph.holding(&MEMBER, &site, &everyone).await.unwrap(),
        editors
    );
    assert_eq!(
        graph.holding(&VISITOR, &site, &everyone).await.unwrap(),
        vec![irvin.clone(), megan.clone()]
    );
    // Reconciliation's read: everyone shared with directly in the role, whoever shared it
    // (Megan's standing share included).
    assert!(graph.lists_holders_of(&VISITOR));
    let mut readers = graph.holders_of(&VISITOR, &site).await.unwrap();
    readers.sort();
    let mut expected = vec![irvin.clone(), megan.clone()];
    expected.sort();
    assert_eq!(readers, expected);
    let mut writers = graph.holders_of(&MEMBER, &site).await.unwrap();
    writers.sort();
    let mut expected = editors.clone();
    expected.sort();
    assert_eq!(writers, expected);

    // Irvin's edit lease ends: his read lease keeps its role (the permission is patched).
    // Adele's ends: her only permission goes. A repeat finds nothing to do.
    sim.clear_log().await;
    for _ in 0..2 {
        graph.revoke(&MEMBER, &site, &editors).await.unwrap();
    }
    assert_eq!(
        shares(&sim, &site).await,
        sorted(vec![with(irvin, &["read"]), with(megan, &["read"])])
    );
    assert!(
        graph
            .holding(&MEMBER, &site, &everyone)
            .await
            .unwrap()
            .is_empty()
    );
    let changes: Vec<(String, u16)> = writes(&sim.log().await)
        .into_iter()
        .map(|(method, _, status)| (method, status))
        .collect();
    assert_eq!(
        changes,
        vec![("PATCH".to_string(), 200), ("DELETE".to_string(), 204)],
        "one change each, nothing on the repeat"
    );
    // Irvin's read lease ends; Megan's standing share, which no lease gave, stays.
    graph
        .revoke(&VISITOR, &site, std::slice::from_ref(irvin))
        .await
        .unwrap();
    assert_eq!(shares(&sim, &site).await, vec![with(megan, &["read"])]);

    // Owners of a site without a group are a SharePoint group Graph cannot write.
    let refused = graph
        .grant(&OWNER, &site, &leases(std::slice::from_ref(irvin)))
        .await
        .unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    assert!(
        refused.to_string().contains("SharePoint site group"),
        "{refused}"
    );
}

#[tokio::test]
async fn read_access_to_a_group_site_is_a_library_share_not_membership() {
    let sim = Sim::start().await;
    let Seeded {
        group_site, people, ..
    } = seed(&sim).await;
    let irvin = std::slice::from_ref(&people[0]);
    let graph = sim.connector();
    assert!(graph.target(&VISITOR, &group_site).await.unwrap().is_some());
    // The same site named by its site id: refused, since its members and owners are the
    // group's and `member` would otherwise quietly become a library share.
    let token = sim.token("https://graph.microsoft.com/.default").await;
    let site: Value = reqwest::Client::new()
        .get(format!("{}/v1.0/groups/{group_site}/sites/root", sim.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_site_id = graph
        .target(&MEMBER, site["id"].as_str().unwrap())
        .await
        .unwrap_err();
    assert!(
        by_site_id.is_permanent() && by_site_id.to_string().contains("use the group's id"),
        "{by_site_id}"
    );
    // The invite happens but its answer is lost (503 after the write): asked again, one share.
    sim.fault(json!({
        "match": { "method": "POST", "path": "/v1.0/drives/*/items/root/invite" },
        "respond": { "status": 503 }, "after_write": true
    }))
    .await;
    graph
        .grant(&VISITOR, &group_site, &leases(irvin))
        .await
        .unwrap();
    assert_eq!(
        shares(&sim, &group_site).await,
        vec![with(&people[0], &["read"])]
    );
    assert!(
        sim.members(&group_site).await.is_empty(),
        "a visitor is not made a member of the group"
    );
    assert_eq!(
        graph.holding(&VISITOR, &group_site, irvin).await.unwrap(),
        irvin
    );
    graph.revoke(&VISITOR, &group_site, irvin).await.unwrap();
    assert!(shares(&sim, &group_site).await.is_empty());
    assert!(
        graph
            .holding(&VISITOR, &group_site, irvin)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Whether SharePoint adds an invite's role to a person's permission or replaces its roles is
/// not documented. With replacing, the connector puts back what the person held before, so the
/// end of an edit lease leaves Megan's standing read share as it was.
#[tokio::test]
async fn standing_access_survives_an_invite_that_replaces_roles() {
    let sim = Sim::start().await;
    sim.config(json!({ "invite_replaces_roles": true })).await;
    let Seeded { site, people, .. } = seed(&sim).await;
    let megan = std::slice::from_ref(&people[2]);
    let graph = sim.connector();
    let receipts = graph.grant(&MEMBER, &site, &leases(megan)).await.unwrap();
    assert_eq!(
        receipts[0].detail["sharepoint_roles"],
        json!(["read", "write"])
    );
    assert_eq!(
        shares(&sim, &site).await,
        vec![with(&people[2], &["read", "write"])]
    );
    graph.revoke(&MEMBER, &site, megan).await.unwrap();
    assert_eq!(shares(&sim, &site).await, vec![with(&people[2], &["read"])]);
    assert_eq!(graph.holding(&VISITOR, &site, megan).await.unwrap(), megan);
    assert!(
        graph
            .holding(&MEMBER, &site, megan)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Someone shares the library with Irvin for reading between the connector's read and its
/// removal of his edit share: the removal's `If-Match` is stale (412), so the connector reads
/// again and takes out only `write`, leaving the new read share.
#[tokio::test]
async fn a_change_between_read_and_write_is_read_again_not_overwritten() {
    let sim = Sim::start().await;
    let Seeded { site, people, .. } = seed(&sim).await;
    let irvin = std::slice::from_ref(&people[0]);
    let graph = sim.connector();
    graph.grant(&MEMBER, &site, &leases(irvin)).await.unwrap();
    let drive = sim.state().await["sharepoint"]["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["site"] == site.to_lowercase())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The connector's first read of the permissions is held back while another app shares.
    sim.fault(json!({
        "match": { "method": "GET", "path": "/v1.0/drives/*/items/root/permissions" },
        "delay_ms": 1500,
    }))
    .await;
    let token = sim.token("https://graph.microsoft.com/.default").await;
    let invite = |body: Value| {
        let token = token.clone();
        let url = format!("{}/v1.0/drives/{drive}/items/root/invite", sim.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    sim.clear_log().await;
    let someone_else = async {
        // Once the connector has read the root's eTag, before it reads the permissions.
        sim.answered(|method, path| method == "GET" && path.contains("/items/root?"))
            .await;
        let answer = invite(json!({ "recipients": [{ "objectId": people[0] }],
            "roles": ["read"], "requireSignIn": true, "sendInvitation": false }))
        .await;
        assert_eq!(answer.status(), 200);
    };
    let (removed, ()) = tokio::join!(graph.revoke(&MEMBER, &site, irvin), someone_else);
    removed.unwrap();
    assert_eq!(shares(&sim, &site).await, {
        let mut expected = vec![with(&people[0], &["read"]), with(&people[2], &["read"])];
        expected.sort();
        expected
    });
    let statuses: Vec<u16> = writes(&sim.log().await)
        .into_iter()
        .filter(|(_, path, _)| path.contains("/permissions/"))
        .map(|(_, _, status)| status)
        .collect();
    assert_eq!(statuses, vec![412, 200], "stale, then patched");

    // SharePoint refuses an expiry on an invite; the simulator says so as it does.
    let refused = invite(json!({ "recipients": [{ "objectId": people[1] }],
        "roles": ["read"], "requireSignIn": true,
        "expirationDateTime": "2030-01-01T00:00:00Z" }))
    .await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalidRequest");
}

/// Without the drive permissions the connector's refusal is SharePoint's own `accessDenied`,
/// kept for the trail, and permanent.
#[tokio::test]
async fn a_missing_files_permission_is_said() {
    let sim = Sim::with_roles(&["User.Read.All", "Group.Read.All", "Sites.Read.All"]).await;
    let Seeded { site, people, .. } = seed(&sim).await;
    let graph = sim.connector();
    let error = graph
        .grant(&MEMBER, &site, &leases(&people[..1]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConnectorError::Permanent(m) if m.contains("accessDenied")),
        "{error}"
    );
}
