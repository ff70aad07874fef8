//! The governance dashboard through its server function: its figures against what happened
//! (requests approved and denied, a lease live, removals on time and late, shadow access
//! found), each filter narrowing them, bad filters refused by field, and the page refused to
//! everyone but the governance roles.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::access::{World, manager_policy, request_id, world};

async fn board(
    w: &World,
    browser: &reqwest::Client,
    query: &[(&str, &str)],
) -> (StatusCode, Value) {
    // Every field, as the page sends them: those not given empty.
    let form: Vec<(String, &str)> = ["days", "system", "entitlement", "department"]
        .iter()
        .map(|name| {
            let value = query
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| *v);
            (format!("query[{name}]"), value)
        })
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    w.call(browser, "governance/dashboard", &form).await
}

fn today(answer: &Value) -> &Value {
    answer["days_series"]
        .as_array()
        .unwrap_or_else(|| panic!("no days in {answer}"))
        .last()
        .unwrap()
}

#[sqlx::test]
async fn the_dashboard_counts_what_happened_and_narrows_by_every_filter(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let (adele, megan, irvin) = (
        w.person("adele").await,
        w.person("megan").await,
        w.person("irvin").await,
    );
    sqlx::query(
        "update principals set department = 'Finance' where upn = 'adele.vance@contoso.test'",
    )
    .execute(&w.app.pool)
    .await
    .unwrap();
    // Adele asks twice: approved (and added), then denied on a second entry; Megan, her
    // manager, decides both.
    let (status, body) = w.request(&adele, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.decide(&megan, &request_id(&body), "approve").await;
    w.run_engine().await;
    let second = w.second_entry(manager_policy()).await;
    let (status, body) = w.app.request(&adele, &second, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.decide(&megan, &request_id(&body), "deny").await;

    let (status, all) = board(&w, &irvin, &[]).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["days"], 30);
    assert_eq!(
        all["days_series"].as_array().unwrap().len(),
        30,
        "every day of the range"
    );
    assert_eq!(all["live_leases"], 1);
    assert_eq!(
        (
            today(&all)["approved"].as_i64(),
            today(&all)["denied"].as_i64()
        ),
        (Some(1), Some(1)),
        "{all}"
    );
    assert_eq!(all["approval"]["approved"], 1);
    assert!(all["approval"]["median_seconds"].as_f64().unwrap() >= 0.0);
    let top: Vec<&str> = all["most_requested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(top.len(), 2, "{all}");
    assert!(top.contains(&w.entitlement.as_str()) && top.contains(&second.as_str()));
    assert_eq!(all["systems"][0]["name"], "test-directory");
    assert_eq!(all["systems"][0]["live"], 1);
    // Health as the connector-health job records it, without anyone opening the Admin page:
    // unknown before the first check, then the directory's answer.
    assert_eq!(all["systems"][0]["health"], "unknown", "{all}");
    let checked =
        leasegate::server::services::admin::check_health(&w.app.pool, &w.app.state.connectors)
            .await
            .unwrap();
    assert_eq!(checked.len(), 1);
    let (_, all) = board(&w, &irvin, &[]).await;
    assert_eq!(all["systems"][0]["health"], "healthy", "{all}");
    assert!(all["systems"][0]["checked_at"].is_string(), "{all}");
    assert_eq!(all["departments"], serde_json::json!(["Finance"]));

    // Narrowed to the first entry: its request only.
    let (_, one) = board(&w, &irvin, &[("entitlement", &w.entitlement)]).await;
    assert_eq!(
        (
            today(&one)["approved"].as_i64(),
            today(&one)["denied"].as_i64()
        ),
        (Some(1), Some(0))
    );
    // To a department nobody asking is in: nothing; to Adele's: everything.
    let (_, elsewhere) = board(&w, &irvin, &[("department", "Research")]).await;
    assert_eq!(elsewhere["live_leases"], 0);
    assert_eq!(elsewhere["most_requested"], serde_json::json!([]));
    let (_, finance) = board(&w, &irvin, &[("department", "Finance"), ("days", "7")]).await;
    assert_eq!(finance["live_leases"], 1);
    assert_eq!(finance["days_series"].as_array().unwrap().len(), 7);
    let (_, system) = board(&w, &irvin, &[("system", "test-directory")]).await;
    assert_eq!(system["live_leases"], 1);

    // The lease ends: removed by the engine at once, on time. Another lease, moved to have
    // been removed ten minutes after its end, is late; a third, past its end and still in
    // the target, is overdue now.
    sqlx::query(
        "update grants set starts_at = now() - interval '2 hours', ends_at = now() - interval '1 second',
                           next_due_at = now()",
    )
    .execute(&w.app.pool)
    .await
    .unwrap();
    w.run_engine().await;
    let (_, after) = board(&w, &irvin, &[]).await;
    assert_eq!(after["live_leases"], 0, "{after}");
    assert_eq!(after["removals"]["on_time"], 1, "{after}");
    assert_eq!(after["removals"]["late"], 0);
    sqlx::query("update grants set revoked_at = ends_at + interval '10 minutes'")
        .execute(&w.app.pool)
        .await
        .unwrap();
    let (_, late) = board(&w, &irvin, &[]).await;
    assert_eq!(
        (
            late["removals"]["on_time"].as_i64(),
            late["removals"]["late"].as_i64()
        ),
        (Some(0), Some(1))
    );

    // Shadow access, as reconciliation records it: open now, found in the range.
    sqlx::query(
        "insert into findings (entitlement_id, kind, account_ref)
         select id, 'shadow', 'cn=someone' from entitlements where key = $1",
    )
    .bind(&w.entitlement)
    .execute(&w.app.pool)
    .await
    .unwrap();
    let (_, found) = board(&w, &irvin, &[]).await;
    assert_eq!(found["findings"]["open_shadow"], 1, "{found}");
    assert_eq!(found["findings"]["opened"], 1);
    let (_, other) = board(&w, &irvin, &[("entitlement", &second)]).await;
    assert_eq!(other["findings"]["open_shadow"], 0);
}

#[sqlx::test]
async fn bad_filters_are_refused_by_field_and_only_governance_roles_see_it(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let (adele, irvin, nestor) = (
        w.person("adele").await,
        w.person("irvin").await,
        w.person("nestor").await,
    );
    for (field, value) in [
        ("days", "12"),
        ("days", "thirty"),
        ("system", "no-such-system"),
        ("entitlement", "no-such-entry"),
        ("entitlement", "not a key!"),
    ] {
        let (status, body) = board(&w, &irvin, &[(field, value)]).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}: {body}"
        );
        assert_eq!(body["Invalid"]["field"], field, "{body}");
    }
    let (status, _) = board(&w, &adele, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an employee");
    let (status, _) = board(&w, &nestor, &[]).await;
    assert_eq!(status, StatusCode::OK, "an administrator");
    let (status, _) = board(&w, &w.app.browser(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "nobody signed in");
}
