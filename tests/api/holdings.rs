//! Who held which access at any moment, answered from the grants' history; and taking live
//! access away before its end (one lease, or a whole account's), through the engine, read back
//! from a real directory, refused to everyone but administrators and security operations.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::access::{World, manager_policy, request_id, world};
use crate::harness::at_provider;

const OWNER: &str = "alex.wilber@contoso.test";

/// Adele asks, Megan approves, the engine adds the membership: the live lease's id.
async fn lease(w: &World, adele: &reqwest::Client, megan: &reqwest::Client) -> String {
    let (status, body) = w.request(adele, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = w.decide(megan, &request_id(&body), "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.run_engine().await;
    let (_, mine) = w.call(adele, "my-access", &[]).await;
    assert_eq!(mine["leases"][0]["state"], "active", "{mine}");
    mine["leases"][0]["grant_id"].as_str().unwrap().to_string()
}

async fn who_held(
    w: &World,
    browser: &reqwest::Client,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    let form: Vec<(String, &str)> = query
        .iter()
        .map(|(name, value)| (format!("query[{name}]"), *value))
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    w.call(browser, "governance/holdings", &form).await
}

fn holders(answer: &Value) -> Vec<String> {
    answer["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {answer}"))
        .iter()
        .map(|r| r["holder"].as_str().unwrap().to_string())
        .collect()
}

#[sqlx::test]
async fn who_held_an_entry_at_a_moment_and_what_a_person_held_in_a_period(pool: PgPool) {
    let w = world(pool, manager_policy(), &[OWNER]).await;
    let (adele, megan) = (w.person("adele").await, w.person("megan").await);
    let irvin = w.person("irvin").await;
    let grant = lease(&w, &adele, &megan).await;

    // Now: Adele holds it, through this lease, since it was added and until further notice.
    let (status, now) = who_held(&w, &irvin, &[("entitlement", &w.entitlement)]).await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(holders(&now), ["Adele Vance"]);
    assert_eq!(now["rows"][0]["grant_id"], grant.as_str());
    assert_eq!(now["rows"][0]["until"], Value::Null, "still held");
    assert_eq!(now["may_revoke"], false, "an auditor takes nothing away");

    // Given back and removed; then its history is moved to last Tuesday, 13:00 to 15:00 UTC.
    let (status, body) = w
        .call(&adele, "lease/give-back", &[("grant_id", &grant)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.run_engine().await;
    assert!(!w.is_member("adele.vance@contoso.test").await);
    sqlx::query(
        "update grants set provisioned_at = '2026-11-24T13:00:00Z', revoked_at = '2026-11-24T15:00:00Z'",
    )
    .execute(&w.app.pool)
    .await
    .unwrap();

    let at = |moment: &'static str| [("entitlement", w.entitlement.as_str()), ("at", moment)];
    let (_, during) = who_held(&w, &irvin, &at("2026-11-24T14:00")).await;
    assert_eq!(holders(&during), ["Adele Vance"], "{during}");
    assert_eq!(during["rows"][0]["from"], "2026-11-24T13:00:00Z");
    assert_eq!(during["rows"][0]["until"], "2026-11-24T15:00:00Z");
    assert_eq!(during["rows"][0]["reason"], "returned");
    for (moment, why) in [
        ("2026-11-24T12:59", "before it was added"),
        ("2026-11-24T15:00", "the removal was read back at 15:00"),
    ] {
        let (_, answer) = who_held(&w, &irvin, &at(moment)).await;
        assert_eq!(holders(&answer), Vec::<String>::new(), "{why}: {answer}");
    }
    // The same moment asked in the asker's zone (UTC+1): 15:00 there is 14:00 UTC.
    let (_, zoned) = who_held(
        &w,
        &irvin,
        &[
            ("entitlement", &w.entitlement),
            ("at", "2026-11-24T15:00"),
            ("offset", "60"),
        ],
    )
    .await;
    assert_eq!(holders(&zoned), ["Adele Vance"], "{zoned}");
    let (_, now) = who_held(&w, &irvin, &[("entitlement", &w.entitlement)]).await;
    assert_eq!(holders(&now), Vec::<String>::new(), "nobody holds it now");

    // What did Adele hold between Monday and Wednesday (by sign-in name, any case)?
    let (_, period) = who_held(
        &w,
        &irvin,
        &[
            ("person", "Adele.Vance@contoso.test"),
            ("at", "2026-11-23T00:00"),
            ("until", "2026-11-25T23:59"),
        ],
    )
    .await;
    assert_eq!(period["rows"].as_array().unwrap().len(), 1, "{period}");
    assert_eq!(period["rows"][0]["entitlement_key"], w.entitlement.as_str());
    assert_eq!(period["person"][1], "Adele Vance");
    let (_, later) = who_held(
        &w,
        &irvin,
        &[
            ("person", "adele.vance@contoso.test"),
            ("at", "2026-11-26T00:00"),
            ("until", "2026-11-27T00:00"),
        ],
    )
    .await;
    assert_eq!(later["rows"], json!([]), "{later}");

    // What it cannot read is refused by field; nothing is answered to others.
    for (query, field) in [
        (vec![("entitlement", "no-such-entry")], "entitlement"),
        (vec![("person", "nobody@contoso.test")], "person"),
        (
            vec![("at", "2026-11-25T00:00"), ("until", "2026-11-24T00:00")],
            "until",
        ),
        (vec![("at", "last tuesday")], "at"),
    ] {
        let (status, body) = who_held(&w, &irvin, &query).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query:?}: {body}"
        );
        assert!(body.to_string().contains(field), "{query:?}: {body}");
    }
    for person in [&adele, &megan] {
        let (status, _) = who_held(&w, person, &[("entitlement", &w.entitlement)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

#[sqlx::test]
async fn an_administrator_takes_a_lease_away_and_the_directory_is_read_back(pool: PgPool) {
    let w = world(pool, manager_policy(), &[OWNER]).await;
    let (adele, megan) = (w.person("adele").await, w.person("megan").await);
    let (irvin, nestor) = (w.person("irvin").await, w.person("nestor").await);
    let alex = w.person("alex").await;
    let grant = lease(&w, &adele, &megan).await;
    assert!(w.is_member("adele.vance@contoso.test").await);
    let reason = "Suspected phishing of this account, INC-4711";
    let revoke = |browser: &reqwest::Client, reason: &str| {
        let form = [("grant_id", grant.clone()), ("reason", reason.to_string())];
        let browser = browser.clone();
        let w = &w;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
            w.call(&browser, "governance/revoke", &form).await
        }
    };

    // Nobody else takes it away: not the auditor, not the holder's manager, not the owner,
    // not the holder through this door.
    for (who, browser) in [
        ("auditor", &irvin),
        ("manager", &megan),
        ("owner", &alex),
        ("holder", &adele),
    ] {
        assert_eq!(
            revoke(browser, reason).await.0,
            StatusCode::FORBIDDEN,
            "{who}"
        );
    }
    // A reason is required.
    let (status, body) = revoke(&nestor, "because").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("reason"), "{body}");
    assert_eq!(
        crate::seed::count(
            &w.app.pool,
            "select count(*) from grants where state = 'active'"
        )
        .await,
        1,
        "refusals change nothing"
    );

    let (status, body) = revoke(&nestor, reason).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (state, why): (String, String) =
        sqlx::query_as("select state, revoke_reason from grants where id = $1::uuid")
            .bind(&grant)
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), why.as_str()), ("revoking", "revoked"));
    let (actor, details): (String, Value) = sqlx::query_as(
        "select actor_label, details from audit_events where action = 'grant.revoked_now'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(actor, "Nestor Wilke");
    assert_eq!(details["reason"], reason);
    // Taken away once: a second click is told it is already on its way out.
    assert_eq!(revoke(&nestor, reason).await.0, StatusCode::CONFLICT);

    // The engine removes it and reads the directory back.
    w.run_engine().await;
    assert!(!w.is_member("adele.vance@contoso.test").await);
    let verified: Value = sqlx::query_scalar(
        "select details from audit_events where action = 'grant.revoked' and grant_id = $1::uuid",
    )
    .bind(&grant)
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(verified["reason"], "revoked");
    assert_eq!(verified["verified"], true);
}

#[sqlx::test]
async fn security_operations_contain_an_account_and_every_live_lease_goes(pool: PgPool) {
    let w = world(pool.clone(), manager_policy(), &[OWNER]).await;
    // A second entry on another group of the same directory.
    let second = w.second_entry(manager_policy()).await;
    let (adele, megan) = (w.person("adele").await, w.person("megan").await);
    let irvin = w.person("irvin").await;
    lease(&w, &adele, &megan).await;
    let (status, body) = w.app.request(&adele, &second, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.decide(&megan, &request_id(&body), "approve").await;
    w.run_engine().await;
    assert_eq!(
        crate::seed::count(&pool, "select count(*) from grants where state = 'active'").await,
        2
    );
    let adele_id: String = sqlx::query_scalar(
        "select id::text from principals where upn = 'adele.vance@contoso.test'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let contain = |browser: reqwest::Client, person: String| {
        let w = &w;
        async move {
            w.call(
                &browser,
                "governance/contain",
                &[
                    ("person_id", &person),
                    ("reason", "Credential theft suspected, INC-4712"),
                ],
            )
            .await
        }
    };
    // Only where the organisation names a security role is there one: this portal names none,
    // so a person with that app role is an employee here.
    let lynne = crate::directory::unique();
    at_provider(
        &lynne,
        json!({
            "upn": format!("{lynne}@contoso.test"),
            "oid": uuid::Uuid::new_v4(),
            "name": "Lynne Robbins",
            "roles": ["Leasegate.Security"],
        }),
    )
    .await;
    let unnamed = w.person(&lynne).await;
    assert_eq!(
        contain(unnamed, adele_id.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        contain(irvin.clone(), adele_id.clone()).await.0,
        StatusCode::FORBIDDEN
    );

    let secured = w
        .another_portal(&[("LEASEGATE_ROLE_SECURITY", "Leasegate.Security")])
        .await;
    let lynne = secured.person(&lynne).await;
    let (status, body) = secured
        .call(
            &lynne,
            "governance/contain",
            &[
                ("person_id", &uuid::Uuid::new_v4().to_string()),
                ("reason", "Credential theft suspected, INC-4712"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = secured
        .call(
            &lynne,
            "governance/contain",
            &[
                ("person_id", &adele_id),
                ("reason", "Credential theft suspected, INC-4712"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["leases"], 2);
    assert_eq!(
        crate::seed::count(
            &pool,
            "select count(*) from grants where state = 'revoking' and revoke_reason = 'revoked'"
        )
        .await,
        2
    );
    let contained: Value =
        sqlx::query_scalar("select details from audit_events where action = 'principal.contained'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(contained["leases"], 2);
    // Security operations see governance but administer nothing.
    let (status, _) = secured.call(&lynne, "admin", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    w.run_engine().await;
    assert!(!w.is_member("adele.vance@contoso.test").await);
    assert_eq!(
        crate::seed::count(
            &pool,
            "select count(*) from grants where state = 'revoked' and removal = 'verified'"
        )
        .await,
        2
    );
}
