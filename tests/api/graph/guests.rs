//! Guests for external people through the simulator: an invitation makes the account at once
//! (a `#EXT#` sign-in name, `userType` Guest), inviting the address again answers with the same
//! account, a member's address is found before anyone is invited, the account is disabled and
//! deleted at the end (and reported removed by `users/delta`), and an app without the
//! permissions, or a tenant that restricts invitations, is refused for good.

use leasegate::server::connectors::{Connector, ConnectorError};
use serde_json::json;

use super::Sim;

const REDIRECT: &str = "https://myapps.microsoft.com";

fn permanent(error: ConnectorError) -> String {
    assert!(error.is_permanent(), "{error}");
    error.to_string()
}

#[tokio::test]
async fn a_guest_is_invited_disabled_and_deleted() {
    let sim = Sim::with_guests().await;
    sim.seed(json!({ "users": [
        { "userPrincipalName": "megan@contoso.test", "displayName": "Megan" },
    ] }))
    .await;
    let graph = sim.connector();

    // A member's address is known before anyone is invited.
    let megan = graph
        .user_by_mail("MEGAN@contoso.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(megan.user_type, "Member");
    assert_eq!(graph.user_by_mail("pat@fabrikam.test").await.unwrap(), None);

    let guest = graph
        .invite_guest("pat@fabrikam.test", "Pat Contractor", REDIRECT)
        .await
        .unwrap();
    assert_eq!(guest.status, "PendingAcceptance");
    assert!(
        guest
            .redeem_url
            .starts_with("https://login.microsoftonline.com/redeem")
    );
    let account = graph
        .find_account("pat_fabrikam.test#EXT#@contoso.test")
        .await
        .unwrap()
        .expect("the guest account exists at once");
    assert_eq!(account.stable_id.as_deref(), Some(guest.id.as_str()));
    assert!(account.enabled);
    let known = graph
        .user_by_mail("pat@fabrikam.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (known.id.as_str(), known.user_type.as_str()),
        (guest.id.as_str(), "Guest")
    );
    // Asked again (an answer lost on the way): the same account.
    let again = graph
        .invite_guest("pat@fabrikam.test", "Pat Contractor", REDIRECT)
        .await
        .unwrap();
    assert_eq!(again.id, guest.id);

    // The end of the project: disabled at once, deleted after the retention.
    let first = graph.people(None).await.unwrap();
    graph.set_account_enabled(&guest.id, false).await.unwrap();
    let disabled = graph
        .accounts(std::slice::from_ref(&guest.id))
        .await
        .unwrap();
    assert!(!disabled[0].enabled);
    graph.delete_user(&guest.id).await.unwrap();
    graph.delete_user(&guest.id).await.unwrap();
    assert!(graph.find_account(&guest.id).await.unwrap().is_none());
    let after = graph.people(Some(&first.cursor)).await.unwrap();
    assert!(after.removed.contains(&guest.id), "{:?}", after.removed);

    // Bad input and refusals are permanent, with Graph's words.
    let bad = graph
        .invite_guest("not-an-address", "X", REDIRECT)
        .await
        .unwrap_err();
    assert!(permanent(bad).contains("invitedUserEmailAddress"));
    let missing = graph
        .set_account_enabled("00000000-0000-4000-8000-000000000000", false)
        .await
        .unwrap_err();
    assert!(permanent(missing).contains("404"));
    sim.config(json!({ "invitations_restricted": true })).await;
    let restricted = graph
        .invite_guest("sam@fabrikam.test", "Sam", REDIRECT)
        .await
        .unwrap_err();
    assert!(permanent(restricted).contains("Guest invitations not allowed"));
}

#[tokio::test]
async fn an_app_without_the_permissions_invites_nobody() {
    let sim = Sim::start().await;
    let graph = sim.connector();
    let refused = graph
        .invite_guest("pat@fabrikam.test", "Pat", REDIRECT)
        .await
        .unwrap_err();
    assert!(permanent(refused).contains("403"));
    sim.seed(json!({ "users": [
        { "userPrincipalName": "megan@contoso.test", "displayName": "Megan" },
    ] }))
    .await;
    let megan = graph
        .user_by_mail("megan@contoso.test")
        .await
        .unwrap()
        .unwrap();
    assert!(permanent(graph.delete_user(&megan.id).await.unwrap_err()).contains("403"));
    assert!(
        graph
            .user_by_mail("megan@contoso.test")
            .await
            .unwrap()
            .is_some()
    );
}
