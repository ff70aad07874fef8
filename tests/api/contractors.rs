//! Contractors through the server functions, against the Graph simulator: a sponsor asks for
//! an identity with an end and a bundle, their manager approves it in the inbox, the portal
//! invites the guest and grants the bundle to it (read back in Entra), reminds the sponsor,
//! ends everything at the end (the account disabled at once, the leases removed and read
//! back) and deletes the account after the retention. Bad input (a member's address, an end
//! past the policy, a bundle not offered, a second identity for one address, a non-employee
//! sponsor) is refused with its field and leaves nothing behind.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use leasegate::server::connectors::{Connector, Connectors};
use leasegate::server::jobs::contractors::run_due;
use leasegate::server::jobs::people_sync;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::engine::{Running, eventually};
use crate::graph::{CLIENT, Sim, TENANT};
use crate::harness::{Options, TestApp};
use crate::people_sync::sources;
use crate::seed;

const CLOUD: &str = "contoso-cloud";

fn catalog_text(portal: &str, team: &str) -> String {
    format!(
        r#"
[connectors.{CLOUD}]
kind = "graph"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "LEASEGATE_SECRET_GRAPH"

[policies.manager]
name = "Manager approval"
durations = {{ default_minutes = 60, max_minutes = 480 }}
justification = {{ required = true, min_chars = 10 }}
stages = [{{ approvers = "manager" }}]

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

[[bundles]]
key = "falcon-guest"
name = "Project Falcon guest"
items = ["falcon-portal", "falcon-team"]
policy = "manager"

[[bundles]]
key = "not-for-guests"
name = "Not for guests"
items = ["falcon-portal"]
policy = "manager"

[contractors]
policy = "manager"
bundles = ["falcon-guest"]
entra = "{CLOUD}"
max_days = 90
retention = "PT1S"
"#
    )
}

/// The portal with a Graph connector to `sim`, read as a people source.
async fn portal_with(pool: &PgPool, sim: &Sim) -> (TestApp, Connectors) {
    let mut connectors = Connectors::default();
    connectors.insert(CLOUD, Arc::new(sim.connector()));
    sources(pool, &[(CLOUD, "graph")], 10).await;
    let app = TestApp::spawn_with(
        pool.clone(),
        Options {
            connectors: connectors.clone(),
            ..Options::default()
        },
    )
    .await;
    (app, connectors)
}

fn at(time: chrono::DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M").to_string()
}

#[sqlx::test]
async fn a_sponsor_onboards_a_contractor_who_is_ended_and_deleted_on_time(pool: PgPool) {
    let sim = Sim::with_guests().await;
    let ids = sim
        .seed(json!({
            "users": [
                { "userPrincipalName": "megan.bowen@contoso.test", "displayName": "Megan Bowen" },
                { "userPrincipalName": "adele.vance@contoso.test", "displayName": "Adele Vance",
                  "manager": "megan.bowen@contoso.test" },
                { "userPrincipalName": "irvin.sayers@contoso.test", "displayName": "Irvin Sayers" },
            ],
            "groups": [
                { "displayName": "Falcon portal", "securityEnabled": true, "mailEnabled": false },
                { "displayName": "Falcon team", "team": true },
            ],
        }))
        .await;
    let portal = ids["groups"]["Falcon portal"].as_str().unwrap().to_string();
    let team = ids["groups"]["Falcon team"].as_str().unwrap().to_string();
    let text = catalog_text(&portal, &team);
    seed::catalog(&pool, &text).await;
    let (app, connectors) = portal_with(&pool, &sim).await;
    let adele = app.person("adele").await;
    let megan = app.person("megan").await;
    people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();

    let (status, page) = app.call(&adele, "contractors", &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["offered"], true);
    assert_eq!(page["bundles"][0]["key"], "falcon-guest");

    let onboard = |email: &'static str, ends: String, bundle: &'static str, token: String| {
        let app = &app;
        let adele = &adele;
        async move {
            app.call(
                adele,
                "contractors/onboard",
                &[
                    ("form[display_name]", "Pat Contractor"),
                    ("form[email]", email),
                    ("form[company]", "Fabrikam"),
                    ("form[ends_at]", &ends),
                    ("form[utc_offset_minutes]", "0"),
                    ("form[bundle]", bundle),
                    (
                        "form[justification]",
                        "Builds the Falcon partner integration",
                    ),
                    ("form[client_token]", &token),
                ],
            )
            .await
        }
    };
    let soon = Utc::now() + TimeDelta::minutes(30);
    let field = |body: &Value| body["Invalid"]["field"].as_str().unwrap_or("").to_string();
    // Refusals, each naming its field, none leaving anything behind.
    for (email, ends, bundle, expected) in [
        (
            "megan.bowen@contoso.test",
            at(soon),
            "falcon-guest",
            "email",
        ),
        ("not an address", at(soon), "falcon-guest", "email"),
        (
            "pat@fabrikam.test",
            at(soon + TimeDelta::days(91)),
            "falcon-guest",
            "ends_at",
        ),
        (
            "pat@fabrikam.test",
            at(Utc::now() - TimeDelta::hours(1)),
            "falcon-guest",
            "ends_at",
        ),
        ("pat@fabrikam.test", at(soon), "not-for-guests", "bundle"),
    ] {
        let (status, body) = onboard(email, ends, bundle, uuid::Uuid::new_v4().to_string()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email}: {body}");
        assert_eq!(field(&body), expected, "{body}");
    }
    let (status, body) = onboard(
        "megan.bowen@contoso.test",
        at(soon),
        "falcon-guest",
        uuid::Uuid::new_v4().to_string(),
    )
    .await;
    assert!(
        crate::harness::said(&body).contains("belongs to a member"),
        "{status} {body}"
    );
    // Only an active member of the organisation sponsors: not a guest, not someone who left.
    for change in [
        "update principals set kind = 'guest' where upn = 'adele.vance@contoso.test'",
        "update principals set kind = 'member', left_at = now() where upn = 'adele.vance@contoso.test'",
    ] {
        sqlx::query(change).execute(&pool).await.unwrap();
        let (status, body) = onboard(
            "pat@fabrikam.test",
            at(soon),
            "falcon-guest",
            uuid::Uuid::new_v4().to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{change}: {body}");
    }
    sqlx::query("update principals set left_at = null where upn = 'adele.vance@contoso.test'")
        .execute(&pool)
        .await
        .unwrap();
    let count = |sql: &'static str| seed::count(&pool, sql);
    assert_eq!(count("select count(*) from contractors").await, 0);
    assert_eq!(count("select count(*) from access_requests").await, 0);
    assert_eq!(
        count("select count(*) from principals where kind = 'guest'").await,
        0
    );

    // Asked for; the same form again finds it; a second identity for the address is refused.
    let token = uuid::Uuid::new_v4().to_string();
    let (status, first) =
        onboard("pat@fabrikam.test", at(soon), "falcon-guest", token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, again) = onboard("pat@fabrikam.test", at(soon), "falcon-guest", token).await;
    assert_eq!(again["contractor_id"], first["contractor_id"]);
    let (status, body) = onboard(
        "PAT@fabrikam.test",
        at(soon),
        "falcon-guest",
        uuid::Uuid::new_v4().to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        crate::harness::said(&body).contains("already has an identity"),
        "{body}"
    );
    assert!(
        sim.connector()
            .find_account("pat_fabrikam.test#EXT#@contoso.test")
            .await
            .unwrap()
            .is_none(),
        "nobody is invited before approval"
    );

    // Megan, Adele's manager, approves it in her inbox.
    let (_, inbox) = app.call(&megan, "approvals", &[]).await;
    let waiting = inbox["waiting"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{inbox}");
    assert_eq!(waiting[0]["beneficiary"], "Pat Contractor (Fabrikam)");
    assert_eq!(waiting[0]["requester"], "Adele Vance");
    let request = first["request_id"].as_str().unwrap();
    let body = approve_as(&app, &megan, request).await;
    assert!(
        body.as_str().unwrap().contains("identity is being made"),
        "{body}"
    );

    // The guest is made and the bundle granted to it, read back in Entra.
    let worked = run_due(&pool, &connectors).await.unwrap();
    assert_eq!(worked.made, 1, "{worked:?}");
    let guest = sim
        .connector()
        .find_account("pat_fabrikam.test#EXT#@contoso.test")
        .await
        .unwrap()
        .expect("the guest exists");
    let guest_id = guest.stable_id.clone().unwrap();
    // A contractor never sponsors, whatever a directory later says of their kind.
    sqlx::query("update principals set kind = 'member' where kind = 'guest'")
        .execute(&pool)
        .await
        .unwrap();
    let person: uuid::Uuid = sqlx::query_scalar("select principal_id from contractors")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !leasegate::server::db::contractors::is_employee(
            &mut pool.acquire().await.unwrap(),
            person
        )
        .await
        .unwrap()
    );
    // Pat signs in with the guest: the contractor, known by the guest's object id (not by
    // the name, which the portal never binds on).
    let pat = format!("pat{}", crate::directory::unique());
    crate::harness::at_provider(
        &pat,
        json!({ "upn": "pat_fabrikam.test#EXT#@contoso.test", "oid": guest_id,
                "name": "Pat Contractor", "roles": [] }),
    )
    .await;
    let (signed_in, _) = app.sign_in(&app.browser(), &pat).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let signed_in_as: Vec<uuid::Uuid> =
        sqlx::query_scalar("select id from principals where lower(object_id) = lower($1)")
            .bind(&guest_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(signed_in_as, vec![person]);
    let engine = Running::start(&pool, connectors.clone(), Duration::from_secs(30));
    eventually(
        Duration::from_secs(30),
        "the bundle granted to the guest",
        || async {
            sim.members(&portal).await.contains(&guest_id)
                && sim.members(&team).await.contains(&guest_id)
        },
    )
    .await;
    // The end is within the reminder's lead time: the sponsor is told at once.
    let worked = run_due(&pool, &connectors).await.unwrap();
    assert_eq!(worked.reminded, 1, "{worked:?}");
    let (_, page) = app.call(&adele, "contractors", &[]).await;
    let mine = &page["contractors"][0];
    assert_eq!(mine["standing"], "Active", "{page}");
    assert_eq!(mine["ending_soon"], true);
    assert!(mine["redeem_url"].as_str().unwrap().starts_with("https://"));
    // Megan sees none of Adele's contractors on her own page.
    let (_, hers) = app.call(&megan, "contractors", &[]).await;
    assert!(hers["contractors"].as_array().unwrap().is_empty());

    // Adele leaves (disabled in Entra): Megan, her manager, sponsors Pat from now on.
    sim.change_user(
        "adele.vance@contoso.test",
        json!({ "accountEnabled": false }),
    )
    .await;
    let left = people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    assert_eq!(left.left, 1, "{left:?}");
    let sponsor: String = sqlx::query_scalar(
        "select p.upn from contractors c join principals p on p.id = c.sponsor_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(sponsor, "megan.bowen@contoso.test");
    let (_, hers) = app.call(&megan, "contractors", &[]).await;
    assert_eq!(hers["contractors"].as_array().unwrap().len(), 1, "{hers}");

    // The clock reaches the end (moved forward here rather than waited for).
    sqlx::query("update contractors set ends_at = now(), next_due_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let worked = run_due(&pool, &connectors).await.unwrap();
    assert_eq!(worked.ended, 1, "{worked:?}");
    let disabled = sim
        .connector()
        .accounts(std::slice::from_ref(&guest_id))
        .await
        .unwrap();
    assert!(!disabled[0].enabled, "disabled at once");
    eventually(
        Duration::from_secs(30),
        "the leases removed and read back",
        || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoked' and removal = 'verified'",
            )
            .await
                == 2
        },
    )
    .await;
    engine.shut_down().await;
    assert!(!sim.members(&portal).await.contains(&guest_id));
    assert!(!sim.members(&team).await.contains(&guest_id));
    // After the retention the account is deleted.
    eventually(Duration::from_secs(30), "the guest deleted", || async {
        run_due(&pool, &connectors).await.unwrap();
        seed::count(
            &pool,
            "select count(*) from contractors where state = 'deleted'",
        )
        .await
            == 1
    })
    .await;
    assert!(
        sim.connector()
            .find_account(&guest_id)
            .await
            .unwrap()
            .is_none()
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where action like 'contractor.%' order by position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "contractor.requested",
            "contractor.made",
            "contractor.ending_soon",
            "contractor.sponsor_changed",
            "contractor.ended",
            "contractor.deleted"
        ]
    );
}

/// Entra already has a guest for the address, one the portal did not invite: the onboarding
/// stops before anything is invited or granted, and goes on with that guest only when an
/// administrator adopts it (audited with their note).
#[sqlx::test]
async fn an_existing_guest_is_adopted_only_by_an_administrator(pool: PgPool) {
    let sim = Sim::with_guests().await;
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
    let portal = ids["groups"]["Falcon portal"].as_str().unwrap().to_string();
    let team = ids["groups"]["Falcon team"].as_str().unwrap().to_string();
    seed::catalog(&pool, &catalog_text(&portal, &team)).await;
    let (app, connectors) = portal_with(&pool, &sim).await;
    let adele = app.person("adele").await;
    let megan = app.person("megan").await;
    let nestor = app.person("nestor").await;
    people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    // A guest invited long ago by someone else, which the portal has not met as a person (a
    // guest it knows as a person is that person, and is never adopted for a contractor).
    let guest = sim
        .seed(json!({ "users": [
            { "userPrincipalName": "pat_fabrikam.test#EXT#@contoso.test",
              "displayName": "Pat Contractor", "mail": "pat@fabrikam.test",
              "userType": "Guest", "createdDateTime": "2026-01-05T09:00:00Z" },
        ] }))
        .await["users"]["pat_fabrikam.test#EXT#@contoso.test"]
        .as_str()
        .unwrap()
        .to_string();
    onboard_approved(&app, &adele, &megan, "Pat Contractor", "pat@fabrikam.test").await;
    let worked = run_due(&pool, &connectors).await.unwrap();
    assert_eq!((worked.made, worked.stopped), (0, 1), "{worked:?}");
    assert_eq!(seed::count(&pool, "select count(*) from grants").await, 0);
    assert_eq!(
        seed::count(&pool, "select count(*) from principal_accounts where principal_id = (select principal_id from contractors)").await,
        0
    );
    // The sponsor is told it stopped, not whose account is in the way; the administrators
    // see that, and can adopt that very guest.
    let (_, page) = app.call(&adele, "contractors", &[]).await;
    let problem = page["contractors"][0]["problem"]
        .as_str()
        .unwrap_or_default();
    assert!(problem.contains("administrators"), "{page}");
    assert!(!problem.contains(&guest), "{page}");
    let (_, overview) = app.call(&nestor, "admin", &[]).await;
    assert_eq!(
        overview["stopped_contractors"][0]["adoptable"],
        guest.as_str()
    );

    let contractor = body_contractor(&pool).await;
    let adopt = |who: &reqwest::Client, note: &'static str| {
        let app = &app;
        let who = who.clone();
        let contractor = contractor.clone();
        async move {
            app.call(
                &who,
                "admin/contractors/adopt",
                &[("contractor_id", contractor.as_str()), ("note", note)],
            )
            .await
        }
    };
    let (status, _) = adopt(&adele, "It is my contractor, trust me").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a sponsor adopts nothing");
    let (status, body) = adopt(&nestor, "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(run_due(&pool, &connectors).await.unwrap().made, 0);
    let (status, body) = adopt(&nestor, "Pat confirmed the guest by phone, ticket 4711").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = adopt(&nestor, "Pat confirmed the guest by phone, ticket 4711").await;
    assert_eq!(status, StatusCode::CONFLICT, "adopted once");
    let worked = run_due(&pool, &connectors).await.unwrap();
    assert_eq!(worked.made, 1, "{worked:?}");
    let linked: String = sqlx::query_scalar(
        "select account_id from principal_accounts
          where principal_id = (select principal_id from contractors)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(linked, guest);
    let (actor, note): (String, String) = sqlx::query_as(
        "select actor_label, details->>'note' from audit_events where action = 'contractor.adopted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(actor.contains("Nestor"), "{actor}");
    assert!(note.contains("4711"));

    // A guest the people sync has read is a person in the portal already: it is not offered
    // for adoption, and adopting it is refused with whose it is (one account, one person).
    sim.seed(json!({ "users": [
        { "userPrincipalName": "kim_fabrikam.test#EXT#@contoso.test",
          "displayName": "Kim Known", "mail": "kim@fabrikam.test",
          "userType": "Guest", "createdDateTime": "2026-02-05T09:00:00Z" },
    ] }))
    .await;
    people_sync::pass(&pool, &connectors, CLOUD, false)
        .await
        .unwrap();
    onboard_approved(&app, &adele, &megan, "Kim Contractor", "kim@fabrikam.test").await;
    assert_eq!(run_due(&pool, &connectors).await.unwrap().stopped, 1);
    let (_, overview) = app.call(&nestor, "admin", &[]).await;
    let stopped = &overview["stopped_contractors"][0];
    assert_eq!(stopped["adoptable"], Value::Null, "{overview}");
    assert!(
        stopped["found_holder"]
            .as_str()
            .unwrap()
            .contains("Kim Known"),
        "{overview}"
    );
    let kim: String =
        sqlx::query_scalar("select id::text from contractors where email = 'kim@fabrikam.test'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (status, body) = app
        .call(
            &nestor,
            "admin/contractors/adopt",
            &[
                ("contractor_id", kim.as_str()),
                ("note", "Kim is surely ours, ticket 4712"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(crate::harness::said(&body).contains("Kim Known"), "{body}");
    assert_eq!(run_due(&pool, &connectors).await.unwrap().made, 0);
}

/// `sponsor` asks for an identity for `who` (name, address) from Fabrikam with `bundle` until
/// `ends`: the answer, which must be a success.
async fn ask_for_identity(
    app: &TestApp,
    sponsor: &reqwest::Client,
    (name, email): (&str, &str),
    bundle: &str,
    ends: chrono::DateTime<Utc>,
    why: &str,
) -> Value {
    let (status, body) = app
        .call(
            sponsor,
            "contractors/onboard",
            &[
                ("form[display_name]", name),
                ("form[email]", email),
                ("form[company]", "Fabrikam"),
                ("form[ends_at]", &at(ends)),
                ("form[utc_offset_minutes]", "0"),
                ("form[bundle]", bundle),
                ("form[justification]", why),
                ("form[client_token]", &uuid::Uuid::new_v4().to_string()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Adele sponsors a Fabrikam guest with the Falcon guest bundle, for 300 minutes, and Megan
/// approves.
async fn onboard_approved(
    app: &TestApp,
    adele: &reqwest::Client,
    megan: &reqwest::Client,
    name: &str,
    email: &str,
) {
    let body = ask_for_identity(
        app,
        adele,
        (name, email),
        "falcon-guest",
        Utc::now() + TimeDelta::minutes(300),
        "Builds the Falcon partner integration",
    )
    .await;
    approve_as(app, megan, body["request_id"].as_str().unwrap()).await;
}

/// `approver` approves `request`, which must succeed: the answer.
async fn approve_as(app: &TestApp, approver: &reqwest::Client, request: &str) -> Value {
    let (status, body) = app
        .call(
            approver,
            "approvals/decide",
            &[
                ("request_id", request),
                ("outcome", "approve"),
                ("comment", "ok"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A catalog with an AD connector to the real Samba AD DC next to the Graph simulator, a bundle
/// of an AD group and an Entra group, and contractors made in both.
struct AdCase {
    sim: Sim,
    dir: &'static crate::directory::Directory,
    admin: ldap3::Ldap,
    group: String,
    email: String,
    directory: Arc<leasegate::server::connectors::ldap::LdapDirectory>,
    connectors: Connectors,
    app: TestApp,
    adele: reqwest::Client,
    megan: reqwest::Client,
    ends: chrono::DateTime<Utc>,
}

impl AdCase {
    async fn new(pool: &PgPool) -> AdCase {
        let dir = crate::directory::samba();
        crate::access::people(dir).await;
        let mut admin = dir.admin().await;
        let id = crate::directory::unique();
        let group = dir
            .add_group(&mut admin, &format!("Falcon files {id}"), &[])
            .await;
        let sim = Sim::with_guests().await;
        let ids = sim
            .seed(json!({
                "users": [
                    { "userPrincipalName": "megan.bowen@contoso.test", "displayName": "Megan Bowen" },
                    { "userPrincipalName": "adele.vance@contoso.test", "displayName": "Adele Vance",
                      "manager": "megan.bowen@contoso.test" },
                ],
                "groups": [
                    { "displayName": "Falcon portal", "securityEnabled": true, "mailEnabled": false },
                ],
            }))
            .await;
        let portal = ids["groups"]["Falcon portal"].as_str().unwrap().to_string();
        let email = format!("sam.{id}@fabrikam.test");
        let text = format!(
            r#"
[connectors.test-directory]
kind = "ldap"
url = "{url}"
ca_file = "{ca}"
bind_dn = "{admin_dn}"
password_env = "LEASEGATE_SECRET_TEST_DIRECTORY"
user_base = "{people}"
group_base = "{groups}"

[connectors.{CLOUD}]
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
connector = "test-directory"
group = "{group}"
name = "Falcon files"
policy = "manager"

[[entitlements]]
key = "falcon-portal"
connector = "{CLOUD}"
kind = "entra_group"
target = "{portal}"
name = "Falcon portal"
policy = "manager"

[[bundles]]
key = "falcon-contractor"
name = "Project Falcon contractor"
items = ["falcon-files", "falcon-portal"]
policy = "manager"

[contractors]
policy = "manager"
bundles = ["falcon-contractor"]
entra = "{CLOUD}"
ad = "test-directory"
ad_base = "{people}"
ad_upn_suffix = "contoso.test"
retention = "PT1S"
"#,
            url = dir.url,
            ca = dir.ca_file,
            admin_dn = dir.admin_dn,
            people = dir.people,
            groups = dir.groups,
        );
        seed::catalog(pool, &text).await;
        let directory = Arc::new(dir.connector());
        let mut connectors = Connectors::default();
        connectors.insert("test-directory", directory.clone());
        connectors.insert(CLOUD, Arc::new(sim.connector()));
        sources(pool, &[(CLOUD, "graph")], 10).await;
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
        people_sync::pass(pool, &connectors, CLOUD, false)
            .await
            .unwrap();
        AdCase {
            sim,
            dir,
            admin,
            group,
            email,
            directory,
            connectors,
            app,
            adele,
            megan,
            ends: Utc::now() + TimeDelta::days(20),
        }
    }

    /// Adele sponsors "Sam Builder" with the bundle; answers the request.
    async fn onboard(&self) -> String {
        let body = ask_for_identity(
            &self.app,
            &self.adele,
            ("Sam Builder", &self.email),
            "falcon-contractor",
            self.ends,
            "Builds the Falcon file share scripts",
        )
        .await;
        body["request_id"].as_str().unwrap().to_string()
    }

    async fn approve(&self, request: &str) {
        approve_as(&self.app, &self.megan, request).await;
    }
}

/// With `ad` set, a contractor also gets an account in Active Directory (the real Samba AD
/// DC): made in the contractors' container with `accountExpires` at their end and a first
/// password that must be changed, used for the bundle's AD group, disabled at the end and
/// deleted after the retention, like the guest.
#[sqlx::test]
async fn a_contractor_gets_an_ad_account_for_the_bundle_s_ad_groups(pool: PgPool) {
    use leasegate::server::connectors::ExternalIdentities;

    let case = AdCase::new(&pool).await;
    let request = case.onboard().await;
    case.approve(&request).await;
    let AdCase {
        sim: _sim,
        dir,
        mut admin,
        group,
        email,
        directory,
        connectors,
        app,
        adele: _,
        megan,
        ends,
    } = case;
    let worked = run_due(&pool, &connectors).await.unwrap();
    assert_eq!(worked.made, 1, "{worked:?}");

    // The AD account: its own sign-in name, expiring with the contract.
    let (account_ref, account_id): (String, String) = sqlx::query_as(
        "select pa.account_ref, pa.account_id from principal_accounts pa
           join connectors c on c.id = pa.connector_id
          where c.name = 'test-directory'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let made = directory
        .account(&account_ref)
        .await
        .unwrap()
        .expect("made in AD");
    assert!(made.enabled);
    assert!(
        made.upn.as_deref().unwrap().starts_with("x-sam."),
        "{made:?}"
    );
    let found = directory
        .user_by_mail(&email)
        .await
        .unwrap()
        .expect("by address");
    assert_eq!(found.id, account_id);
    let person = directory
        .people(None)
        .await
        .unwrap()
        .changed
        .into_iter()
        .find(|p| p.account.stable_id.as_deref() == Some(account_id.as_str()))
        .expect("listed");
    let expires = person.leaves_at.expect("accountExpires is set");
    assert!(
        (expires - ends).num_seconds().abs() < 120,
        "{expires} vs {ends}"
    );
    // A first password for the sponsor to hand over, new each time it is asked for.
    let first = directory
        .issue_password(&account_id)
        .await
        .unwrap()
        .unwrap();
    let second = directory
        .issue_password(&account_id)
        .await
        .unwrap()
        .unwrap();
    assert!(first.len() == 24 && first != second);

    // More time: only the sponsor asks, the manager approves, and AD is told the new end.
    let contractor = body_contractor(&pool).await;
    let later = ends + TimeDelta::days(10);
    let extension = |who: &'static str| {
        let app = &app;
        let contractor = contractor.clone();
        let later = at(later);
        async move {
            let person = app.person(who).await;
            app.call(
                &person,
                "contractors/extend",
                &[
                    ("form[contractor_id]", contractor.as_str()),
                    ("form[ends_at]", later.as_str()),
                    ("form[justification]", "The share migration runs late"),
                    ("form[client_token]", &uuid::Uuid::new_v4().to_string()),
                ],
            )
            .await
        }
    };
    let (status, _) = extension("megan").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only the sponsor asks");
    let (status, body) = extension("adele").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    approve_as(&app, &megan, body["request_id"].as_str().unwrap()).await;
    let moved: chrono::DateTime<Utc> = sqlx::query_scalar("select ends_at from contractors")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        (moved - later).num_seconds().abs() < 120,
        "{moved} vs {later}"
    );
    run_due(&pool, &connectors).await.unwrap();
    let told = directory
        .people(None)
        .await
        .unwrap()
        .changed
        .into_iter()
        .find(|p| p.account.stable_id.as_deref() == Some(account_id.as_str()))
        .and_then(|p| p.leaves_at)
        .unwrap();
    assert!(
        (told - later).num_seconds().abs() < 120,
        "AD expires {told}, not {later}"
    );

    let engine = Running::start(&pool, connectors.clone(), Duration::from_secs(30));
    eventually(
        Duration::from_secs(30),
        "the AD group and the Entra group",
        || async {
            seed::count(&pool, "select count(*) from grants where state = 'active'").await == 2
        },
    )
    .await;
    assert!(dir.is_member(&mut admin, &group, &account_ref).await);

    sqlx::query("update contractors set ends_at = now(), next_due_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let worked = run_due(&pool, &connectors).await.unwrap();
    assert_eq!(worked.ended, 1, "{worked:?}");
    assert!(
        !directory
            .account(&account_ref)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    eventually(
        Duration::from_secs(30),
        "both leases removed and read back",
        || async {
            seed::count(
                &pool,
                "select count(*) from grants where state = 'revoked' and removal = 'verified'",
            )
            .await
                == 2
        },
    )
    .await;
    engine.shut_down().await;
    assert!(!dir.is_member(&mut admin, &group, &account_ref).await);
    eventually(Duration::from_secs(30), "both accounts deleted", || async {
        run_due(&pool, &connectors).await.unwrap();
        seed::count(
            &pool,
            "select count(*) from contractors where state = 'deleted'",
        )
        .await
            == 1
    })
    .await;
    assert!(directory.account(&account_ref).await.unwrap().is_none());
    assert!(directory.user_by_mail(&email).await.unwrap().is_none());
}

/// The name the portal gives a contractor's AD account is found taken, by an account that
/// copies the contractor's display name (so the very same DN) and was not made for them: the
/// onboarding stops, the administrators see it, and the other account is not linked, not
/// granted, not changed in any way.
#[sqlx::test]
async fn a_colliding_ad_account_is_never_taken_over(pool: PgPool) {
    use ldap3::{Scope, SearchEntry};
    use leasegate::server::connectors::ldap::contractor_sam;

    let mut case = AdCase::new(&pool).await;
    let request = case.onboard().await;
    let number: i64 = sqlx::query_scalar("select number from contractors")
        .fetch_one(&pool)
        .await
        .unwrap();
    // The victim: an account with the contractor's name, display name and address.
    let sam = contractor_sam(&case.email, number);
    let victim = format!("CN=Sam Builder ({sam}),{}", case.dir.people);
    let added = case
        .admin
        .add(
            &victim,
            vec![
                ("objectClass", std::collections::HashSet::from(["user"])),
                (
                    "userAccountControl",
                    std::collections::HashSet::from(["544"]),
                ),
                (
                    "sAMAccountName",
                    std::collections::HashSet::from([sam.as_str()]),
                ),
                (
                    "userPrincipalName",
                    std::collections::HashSet::from(["victim.builder@contoso.test"]),
                ),
                (
                    "displayName",
                    std::collections::HashSet::from(["Sam Builder"]),
                ),
                (
                    "mail",
                    std::collections::HashSet::from([case.email.as_str()]),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(added.rc, 0, "{added}");
    let usn = |ldap: &mut ldap3::Ldap| {
        let victim = victim.clone();
        let mut ldap = ldap.clone();
        async move {
            let (entries, _) = ldap
                .search(&victim, Scope::Base, "(objectClass=*)", vec!["uSNChanged"])
                .await
                .unwrap()
                .success()
                .unwrap();
            SearchEntry::construct(entries.into_iter().next().expect("the victim exists"))
                .attrs["uSNChanged"][0]
                .clone()
        }
    };
    let before = usn(&mut case.admin).await;

    case.approve(&request).await;
    let worked = run_due(&pool, &case.connectors).await.unwrap();
    assert_eq!((worked.made, worked.stopped), (0, 1), "{worked:?}");
    let (state, problem): (String, String) =
        sqlx::query_as("select state, last_error from contractors")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "stopped");
    assert!(
        problem.contains(&sam) && problem.contains("did not make"),
        "{problem}"
    );
    // Asked again, nothing more happens: a stopped onboarding waits for a person.
    let worked = run_due(&pool, &case.connectors).await.unwrap();
    assert_eq!((worked.made, worked.stopped), (0, 0), "{worked:?}");
    assert_eq!(
        seed::count(&pool, "select count(*) from principal_accounts where principal_id = (select principal_id from contractors)").await,
        0,
        "nothing linked to the contractor"
    );
    assert_eq!(seed::count(&pool, "select count(*) from grants").await, 0);
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from audit_events where action = 'contractor.stopped'"
        )
        .await,
        1
    );
    assert_eq!(
        usn(&mut case.admin).await,
        before,
        "the victim's account is untouched"
    );
    assert!(
        !case
            .dir
            .is_member(&mut case.admin, &case.group, &victim)
            .await
    );

    // Administrators see it; an AD name is not theirs to adopt, and no one else may try.
    let nestor = case.app.person("nestor").await;
    let (status, overview) = case.app.call(&nestor, "admin", &[]).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let stopped = &overview["stopped_contractors"][0];
    assert_eq!(stopped["email"], case.email.as_str());
    assert_eq!(stopped["adoptable"], Value::Null);
    let contractor = body_contractor(&pool).await;
    for (who, expected) in [
        (&case.adele, StatusCode::FORBIDDEN),
        (&nestor, StatusCode::CONFLICT),
    ] {
        let (status, body) = case
            .app
            .call(
                who,
                "admin/contractors/adopt",
                &[
                    ("contractor_id", &contractor),
                    ("note", "Checked with the help desk"),
                ],
            )
            .await;
        assert_eq!(status, expected, "{body}");
    }
    // Closed by an administrator: nothing made, the address free for a new onboarding.
    let close = |who: &reqwest::Client| {
        let app = &case.app;
        let who = who.clone();
        let contractor = contractor.clone();
        async move {
            app.call(
                &who,
                "admin/contractors/close",
                &[
                    ("contractor_id", contractor.as_str()),
                    ("note", "The account is Sam Builder of accounting"),
                ],
            )
            .await
        }
    };
    assert_eq!(close(&case.adele).await.0, StatusCode::FORBIDDEN);
    let (status, body) = close(&nestor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(close(&nestor).await.0, StatusCode::CONFLICT, "closed once");
    assert_eq!(
        seed::count(
            &pool,
            "select count(*) from audit_events where action = 'contractor.closed'"
        )
        .await,
        1
    );
    case.onboard().await;
    assert_eq!(usn(&mut case.admin).await, before);
}

async fn body_contractor(pool: &PgPool) -> String {
    sqlx::query_scalar::<_, uuid::Uuid>("select id from contractors")
        .fetch_one(pool)
        .await
        .unwrap()
        .to_string()
}
