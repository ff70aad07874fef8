//! The people sync's source in Entra: `users/delta` rounds through the simulator. The first
//! pass lists everyone (read whole, with the manager and the on-premises anchor) across pages;
//! a later pass only who changed (a new manager and department, a disabled account) and who
//! was deleted; an expired token starts a complete pass; `$expand` is never sent to delta.

use leasegate::server::connectors::{Connector, DirectoryPerson, PeoplePass};
use serde_json::json;

use super::Sim;

fn person<'a>(pass: &'a PeoplePass, id: &str) -> Option<&'a DirectoryPerson> {
    pass.changed
        .iter()
        .find(|p| p.account.stable_id.as_deref() == Some(id))
}

#[tokio::test]
async fn entra_people_are_synced_by_delta_rounds() {
    let sim = Sim::start().await;
    sim.config(json!({ "delta_page_size": 2 })).await;
    let ids = sim
        .seed(json!({ "users": [
            { "userPrincipalName": "megan@contoso.test", "displayName": "Megan" },
            { "userPrincipalName": "nestor@contoso.test", "displayName": "Nestor" },
            { "userPrincipalName": "adele@contoso.test", "displayName": "Adele",
              "manager": "megan@contoso.test", "department": "Sales", "jobTitle": "Analyst",
              "onPremisesImmutableId": "q83vASNFZ4mrze8BI0VniQ==" },
            { "userPrincipalName": "irvin@contoso.test", "displayName": "Irvin" },
            { "userPrincipalName": "carl@contoso.test", "displayName": "Carl" },
            { "userPrincipalName": "pat_fabrikam.test#EXT#@contoso.test", "displayName": "Pat",
              "userType": "Guest" },
        ] }))
        .await;
    let id = |upn: &str| ids["users"][upn].as_str().unwrap().to_lowercase();
    let graph = sim.connector();

    let first = graph.people(None).await.unwrap();
    assert!(first.complete);
    assert_eq!(first.changed.len(), 6, "everyone, across three pages");
    let adele = person(&first, &id("adele@contoso.test")).unwrap();
    assert_eq!(
        adele.account.manager.as_deref(),
        Some(id("megan@contoso.test").as_str())
    );
    assert_eq!(adele.account.department.as_deref(), Some("Sales"));
    assert_eq!(adele.job_title.as_deref(), Some("Analyst"));
    assert_eq!(adele.anchor.as_deref(), Some("q83vASNFZ4mrze8BI0VniQ=="));
    assert!(
        person(&first, &id("pat_fabrikam.test#EXT#@contoso.test"))
            .unwrap()
            .guest
    );

    // An administrator changes Adele's manager and department, disables Irvin, deletes Carl.
    sim.change_user(
        "adele@contoso.test",
        json!({ "manager": "nestor@contoso.test", "department": "Marketing" }),
    )
    .await;
    sim.change_user("irvin@contoso.test", json!({ "accountEnabled": false }))
        .await;
    sim.delete_user("carl@contoso.test").await;
    let second = graph.people(Some(&first.cursor)).await.unwrap();
    assert!(!second.complete);
    let mut changed: Vec<String> = second
        .changed
        .iter()
        .filter_map(|p| p.account.stable_id.clone())
        .collect();
    changed.sort();
    let mut expected = vec![id("adele@contoso.test"), id("irvin@contoso.test")];
    expected.sort();
    assert_eq!(changed, expected, "only who changed");
    let adele = person(&second, &id("adele@contoso.test")).unwrap();
    assert_eq!(
        adele.account.manager.as_deref(),
        Some(id("nestor@contoso.test").as_str())
    );
    assert_eq!(adele.account.department.as_deref(), Some("Marketing"));
    assert!(
        !person(&second, &id("irvin@contoso.test"))
            .unwrap()
            .account
            .enabled
    );
    assert_eq!(second.removed, vec![id("carl@contoso.test")]);

    let quiet = graph.people(Some(&second.cursor)).await.unwrap();
    assert!(quiet.changed.is_empty() && quiet.removed.is_empty() && !quiet.complete);

    // Graph no longer knows the token (seven days passed): a complete pass, without Carl.
    sim.config(json!({ "delta_tokens_expired": true })).await;
    let again = graph.people(Some(&quiet.cursor)).await.unwrap();
    assert!(again.complete);
    assert_eq!(again.changed.len(), 5);
    assert!(person(&again, &id("carl@contoso.test")).is_none());

    let log = sim.log().await;
    let deltas: Vec<&String> = log
        .iter()
        .map(|(_, path, _)| path)
        .filter(|p| p.contains("/users/delta"))
        .collect();
    assert!(deltas.len() >= 6, "{deltas:?}");
    assert!(
        deltas.iter().all(|p| !p.contains("expand")),
        "delta ignores $expand; manager is selected instead: {deltas:?}"
    );
}

/// A cursor from another Graph address (the connector was repointed) is not followed: the
/// pass starts over, complete.
#[tokio::test]
async fn a_cursor_from_another_address_starts_over() {
    let sim = Sim::start().await;
    sim.seed(json!({ "users": [{ "userPrincipalName": "megan@contoso.test" }] }))
        .await;
    let graph = sim.connector();
    let elsewhere = "http://127.0.0.1:9/v1.0/users/delta?$deltatoken=abc";
    let pass = graph.people(Some(elsewhere)).await.unwrap();
    assert!(pass.complete);
    assert_eq!(pass.changed.len(), 1);
    assert!(pass.cursor.starts_with(&sim.base), "{}", pass.cursor);
}
