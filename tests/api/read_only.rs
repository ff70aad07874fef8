//! The auditor's role adds no power to change anything. Every server function is named in one
//! table here (a new one fails the test until it is classified), and every one that changes
//! something is called by an auditor on things that are not theirs: each is refused and
//! nothing in the database moves. What an auditor may still change is their own (their
//! language, their Teams chat, their deputy, their own requests, a contractor they sponsor):
//! an auditor is an employee too, and those change nothing of anyone else's.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::{manager_policy, request_id, world};

/// What a server function does, as far as an auditor is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Reads only.
    Reads,
    /// Changes what the caller owns and nothing else; it takes no one else's things to act on.
    OwnOnly,
    /// Changes what others own, or the portal itself: refused to an auditor.
    Changes,
}

/// A server function's endpoint, what it does, and the form an auditor sends it.
type Entry<'a> = (&'a str, Kind, Vec<(&'a str, &'a str)>);

/// What the database holds that any change would move: every row count and every state.
async fn fingerprint(pool: &PgPool) -> String {
    sqlx::query_scalar(
        r#"
        select concat_ws(' ',
            (select count(*) from audit_events),
            (select string_agg(state || ':' || coalesce(revoke_reason, ''), ',' order by id) from grants),
            (select string_agg(state, ',' order by id) from access_requests),
            (select count(*) from approval_decisions),
            (select count(*) from delegations),
            (select count(*) from contractors),
            (select count(*) from catalog_changes),
            (select string_agg(key || ':' || enabled, ',' order by key) from entitlements),
            (select string_agg(upn || ':' || status, ',' order by upn) from principals),
            (select count(*) from findings),
            (select count(*) from standing_holders),
            (select count(*) from reconcile_passes),
            (select count(*) from review_campaigns),
            (select count(*) from review_items where decision is not null))
        "#,
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn an_auditor_changes_nothing_that_is_not_theirs(pool: PgPool) {
    let w = world(pool, manager_policy(), &["alex.wilber@contoso.test"]).await;
    let (adele, megan) = (w.person("adele").await, w.person("megan").await);
    let irvin = w.person("irvin").await;
    // Adele holds one lease and waits for a second request's decision.
    let (_, body) = w.request(&adele, &[]).await;
    w.decide(&megan, &request_id(&body), "approve").await;
    w.run_engine().await;
    let grant: String = sqlx::query_scalar("select id::text from grants")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    let second = w.second_entry(manager_policy()).await;
    let (_, body) = w.app.request(&adele, &second, &[]).await;
    let pending = request_id(&body);
    let adele_id: String = sqlx::query_scalar(
        "select id::text from principals where upn = 'adele.vance@contoso.test'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    let someone = Uuid::new_v4().to_string();
    let token = Uuid::new_v4().to_string();
    let reason = "An auditor trying to change things";

    let until = (chrono::Utc::now() + chrono::TimeDelta::days(30))
        .format("%Y-%m-%d")
        .to_string();
    use Kind::*;
    let table: Vec<Entry> = vec![
        ("catalog", Reads, vec![]),
        ("entitlement", Reads, vec![]),
        ("my-access", Reads, vec![]),
        ("approvals", Reads, vec![]),
        ("approvals/count", Reads, vec![]),
        ("contractors", Reads, vec![]),
        ("emergency/to-review", Reads, vec![]),
        ("governance", Reads, vec![]),
        ("governance/trail", Reads, vec![]),
        ("governance/verify", Reads, vec![]),
        ("governance/events", Reads, vec![]),
        ("governance/emergency", Reads, vec![]),
        ("governance/holdings", Reads, vec![]),
        ("governance/findings", Reads, vec![]),
        ("governance/reviews", Reads, vec![]),
        ("governance/review", Reads, vec![]),
        ("governance/reviews-waiting", Reads, vec![]),
        ("governance/owned-findings", Reads, vec![]),
        ("governance/dashboard", Reads, vec![]),
        ("governance/people", Reads, vec![]),
        ("governance/person", Reads, vec![]),
        ("me", Reads, vec![]),
        ("me/settings", Reads, vec![]),
        ("admin", Reads, vec![]),
        ("admin/jobs", Reads, vec![]),
        ("admin/mail", Reads, vec![]),
        ("me/language", OwnOnly, vec![]),
        ("me/teams", OwnOnly, vec![]),
        ("me/deputy", OwnOnly, vec![]),
        ("contractors/onboard", OwnOnly, vec![]),
        (
            "request",
            Changes,
            vec![
                ("form[entitlement]", w.entitlement.as_str()),
                ("form[duration]", "60"),
                ("form[justification]", "For someone whose manager I am not"),
                ("form[on_behalf_of]", "megan.bowen@contoso.test"),
                ("form[client_token]", token.as_str()),
            ],
        ),
        (
            "request/cancel",
            Changes,
            vec![("request_id", pending.as_str())],
        ),
        (
            "lease/give-back",
            Changes,
            vec![("grant_id", grant.as_str())],
        ),
        (
            "lease/extend",
            Changes,
            vec![
                ("grant_id", grant.as_str()),
                ("minutes", "60"),
                ("justification", "Longer for Adele, says the auditor"),
                ("client_token", token.as_str()),
            ],
        ),
        (
            "approvals/decide",
            Changes,
            vec![
                ("request_id", pending.as_str()),
                ("outcome", "approve"),
                ("comment", ""),
            ],
        ),
        (
            "emergency/review",
            Changes,
            vec![
                ("request_id", pending.as_str()),
                ("verdict", "justified"),
                ("note", reason),
            ],
        ),
        (
            "me/deputy/end",
            Changes,
            vec![("delegation_id", someone.as_str())],
        ),
        (
            "contractors/password",
            Changes,
            vec![("contractor_id", someone.as_str())],
        ),
        (
            "contractors/extend",
            Changes,
            vec![
                ("form[contractor_id]", someone.as_str()),
                ("form[ends_at]", "2030-01-01T00:00"),
                ("form[justification]", reason),
                ("form[client_token]", token.as_str()),
            ],
        ),
        (
            "governance/revoke",
            Changes,
            vec![("grant_id", grant.as_str()), ("reason", reason)],
        ),
        (
            "governance/contain",
            Changes,
            vec![("person_id", adele_id.as_str()), ("reason", reason)],
        ),
        (
            "governance/reconcile",
            Changes,
            vec![("entitlement", w.entitlement.as_str())],
        ),
        (
            "governance/declare",
            Changes,
            vec![
                ("finding_id", someone.as_str()),
                ("reason", reason),
                ("until", until.as_str()),
                ("offset", "0"),
            ],
        ),
        (
            "governance/withdraw-declaration",
            Changes,
            vec![("declaration_id", someone.as_str())],
        ),
        (
            "governance/remove-finding",
            Changes,
            vec![("finding_id", someone.as_str())],
        ),
        (
            "governance/open-review",
            Changes,
            vec![
                ("name", "An auditor's review"),
                ("entries[0]", w.entitlement.as_str()),
                ("reviewers", "owners"),
                ("default_action", "remove"),
                ("deadline", until.as_str()),
                ("offset", "0"),
            ],
        ),
        (
            "governance/decide-review",
            Changes,
            vec![
                ("item_id", someone.as_str()),
                ("decision", "remove"),
                ("reason", reason),
            ],
        ),
        ("admin/reload-catalog", Changes, vec![]),
        (
            "admin/entitlement",
            Changes,
            vec![("key", w.entitlement.as_str()), ("enabled", "false")],
        ),
        (
            "admin/entitlement/edit",
            Changes,
            vec![
                ("key", w.entitlement.as_str()),
                ("name", "Renamed by an auditor"),
                ("description", ""),
                ("owners", "irvin.sayers@contoso.test"),
                ("tags", ""),
                ("policy", "x"),
            ],
        ),
        (
            "admin/policy/edit",
            Changes,
            vec![("key", "x"), ("rules", "")],
        ),
        (
            "admin/change/approve",
            Changes,
            vec![("change_id", someone.as_str())],
        ),
        (
            "admin/change/reject",
            Changes,
            vec![("change_id", someone.as_str()), ("comment", reason)],
        ),
        (
            "admin/people-sync",
            Changes,
            vec![("connector", "test-directory"), ("how", "complete")],
        ),
        (
            "admin/resolve-removal",
            Changes,
            vec![("grant_id", grant.as_str()), ("note", reason)],
        ),
        (
            "admin/contractors/adopt",
            Changes,
            vec![("contractor_id", someone.as_str()), ("note", reason)],
        ),
        (
            "admin/contractors/close",
            Changes,
            vec![("contractor_id", someone.as_str()), ("note", reason)],
        ),
    ];

    // The table names every server function the portal serves, and nothing else.
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    let named: BTreeSet<String> = table.iter().map(|(e, _, _)| e.to_string()).collect();
    assert_eq!(
        registered, named,
        "every server function is classified here (left: served, right: named)"
    );

    let before = fingerprint(&w.app.pool).await;
    for (endpoint, kind, form) in &table {
        if *kind != Changes {
            continue;
        }
        let (status, body) = w.call(&irvin, endpoint, form).await;
        assert!(
            matches!(
                status,
                StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY
            ),
            "{endpoint}: an auditor was answered {status}: {body}"
        );
        assert_eq!(
            fingerprint(&w.app.pool).await,
            before,
            "{endpoint} changed something for an auditor"
        );
    }
    // The plain handlers that change something: the lab's clock (not even served outside a
    // lab) and the language switch (the caller's own cookie and preference, as `me/language`).
    let response = w
        .app
        .post_same_origin(&irvin, "/lab/clock")
        .form(&[("minutes", "60")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(fingerprint(&w.app.pool).await, before);
}
