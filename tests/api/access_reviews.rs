//! Access reviews against a real directory (OpenLDAP) through the server functions: an
//! administrator opens a campaign over an entry's shadow access, its owner keeps one account
//! and removes another (gone from the directory, read back), the campaign closes and its report
//! lists both; reminders, escalation and the deadline's default; and the abuse: nobody answers
//! their own access, twice, or someone else's items, and the auditor changes nothing.

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::{World, manager_policy, world};
use leasegate::server::services::access_reviews::{Due, run_due};

/// The owner's entry with accounts added to its group by hand, found by a pass, each known as
/// its person's (as the people sync links them).
async fn with_shadow_access(pool: PgPool, upns: &[&str]) -> (World, reqwest::Client) {
    let w = world(pool, manager_policy(), &["megan.bowen@contoso.test"]).await;
    for upn in upns {
        let dn = w.dir_account(upn).await;
        w.add_by_hand(&dn).await;
        w.person(upn.split('.').next().unwrap()).await;
    }
    let nestor = w.person("nestor").await;
    let (status, body) = w
        .call(
            &nestor,
            "governance/reconcile",
            &[("entitlement", &w.entitlement)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sqlx::query(
        "update findings f set principal_id = p.id from principals p
          where f.account_ref ilike 'cn=' || split_part(p.upn, '.', 1) || '%'",
    )
    .execute(&w.app.pool)
    .await
    .unwrap();
    (w, nestor)
}

fn in_days(days: i64) -> String {
    (Utc::now() + TimeDelta::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// Opens a campaign over the world's entry as `who`: the status and the answer.
async fn open(
    w: &World,
    who: &reqwest::Client,
    reviewers: &str,
    default: &str,
    deadline: &str,
) -> (StatusCode, Value) {
    w.call(
        who,
        "governance/open-review",
        &[
            ("name", "Quarterly review of the finance group"),
            ("entries[0]", w.entitlement.as_str()),
            ("reviewers", reviewers),
            ("default_action", default),
            ("deadline", deadline),
            ("offset", "0"),
        ],
    )
    .await
}

/// The campaign's items as `who` sees them, by account (lower-cased distinguished name).
async fn items(w: &World, who: &reqwest::Client, campaign: &str) -> Vec<Value> {
    let (status, body) = w
        .call(who, "governance/review", &[("campaign", campaign)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

fn item_of(items: &[Value], dn: &str) -> String {
    items
        .iter()
        .find(|i| i["account_ref"].as_str().unwrap().eq_ignore_ascii_case(dn))
        .unwrap_or_else(|| panic!("no item for {dn} in {items:?}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn answer(
    w: &World,
    who: &reqwest::Client,
    item: &str,
    decision: &str,
    reason: &str,
    until: &str,
) -> (StatusCode, Value) {
    w.call(
        who,
        "governance/decide-review",
        &[
            ("item_id", item),
            ("decision", decision),
            ("reason", reason),
            ("until", until),
            ("offset", "0"),
        ],
    )
    .await
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Projects the trail into mails: `(kind, address)` of every mail written, in order.
async fn mails(w: &World) -> Vec<(String, String)> {
    let mailbox = crate::mail::Mailbox::start(&[]).await;
    let notifier = leasegate::server::notify::Notifier::new(
        w.app.pool.clone(),
        url::Url::parse(&format!("{}/", w.app.base)).unwrap(),
        &mailbox.settings(),
    )
    .unwrap()
    .unwrap();
    notifier.project().await.unwrap();
    sqlx::query_as("select kind, address from mail_outbox order by created_at, address")
        .fetch_all(&w.app.pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn an_owner_keeps_one_account_and_removes_another(pool: PgPool) {
    let (w, nestor) = with_shadow_access(
        pool,
        &["alex.wilber@contoso.test", "adele.vance@contoso.test"],
    )
    .await;
    let (megan, adele, irvin) = (
        w.person("megan").await,
        w.person("adele").await,
        w.person("irvin").await,
    );
    let (alex_dn, adele_dn) = (
        w.dir_account("alex.wilber@contoso.test").await,
        w.dir_account("adele.vance@contoso.test").await,
    );

    // Only administrators open campaigns; a bad form is refused by its field, and nothing is
    // written for it.
    for who in [&megan, &irvin, &adele] {
        let (status, body) = open(&w, who, "owners", "keep", &in_days(14)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, body) = w
        .call(
            &nestor,
            "governance/open-review",
            &[
                ("name", "No entries"),
                ("reviewers", "owners"),
                ("default_action", "keep"),
                ("deadline", &in_days(14)),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["Invalid"]["field"], "entries", "{body}");
    let (status, body) = open(&w, &nestor, "owners", "keep", &in_days(-1)).await;
    assert_eq!(body["Invalid"]["field"], "deadline", "{status} {body}");
    let (status, body) = open(&w, &nestor, "owners", "keep", &in_days(120)).await;
    assert_eq!(body["Invalid"]["field"], "deadline", "{status} {body}");
    let (status, body) = open(&w, &nestor, "everyone", "keep", &in_days(14)).await;
    assert_eq!(body["Invalid"]["field"], "reviewers", "{status} {body}");
    assert_eq!(
        count(&w.app.pool, "select count(*) from review_campaigns").await,
        0
    );

    let (status, body) = open(&w, &nestor, "owners", "keep", &in_days(14)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let campaign = body.as_str().unwrap().to_string();

    // The owner sees the campaign and its three accounts (Alex, Adele and the placeholder
    // member the directory's groups keep); the holder Adele, who reviews nothing, sees none.
    let (_, list) = w.call(&megan, "governance/reviews", &[]).await;
    let listed = list["campaigns"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(
        (listed[0]["items"].clone(), listed[0]["mine"].clone()),
        (3.into(), 3.into())
    );
    assert_eq!(list["may_open"], false);
    let (_, list) = w.call(&adele, "governance/reviews", &[]).await;
    assert_eq!(list["campaigns"], serde_json::json!([]), "{list}");
    let (status, _) = w
        .call(&adele, "governance/review", &[("campaign", &campaign)])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, waiting) = w.call(&megan, "governance/reviews-waiting", &[]).await;
    assert_eq!(waiting, 3);

    let seen = items(&w, &megan, &campaign).await;
    assert!(seen.iter().all(|i| i["may_decide"] == true), "{seen:?}");
    let (alex_item, adele_item) = (item_of(&seen, &alex_dn), item_of(&seen, &adele_dn));
    let placeholder = seen
        .iter()
        .find(|i| i["id"] != alex_item.as_str() && i["id"] != adele_item.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Reaching in: the holder answers her own item (even once named an owner of the entry after
    // the review opened), the auditor and an unnamed administrator answer the owner's; none is
    // the item's reviewer.
    sqlx::query("update entitlements set owners = owners || '{adele.vance@contoso.test}'")
        .execute(&w.app.pool)
        .await
        .unwrap();
    for who in [&adele, &irvin, &nestor] {
        let (status, body) = answer(
            &w,
            who,
            &adele_item,
            "keep",
            "I still need this for month end",
            &in_days(30),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    // Keeping needs a reason and an end; removing a reason.
    let (status, body) = answer(&w, &megan, &alex_item, "keep", "svc", &in_days(30)).await;
    assert_eq!(body["Invalid"]["field"], "reason", "{status} {body}");
    let (status, body) = answer(
        &w,
        &megan,
        &alex_item,
        "keep",
        "Backup service account, CHG-7",
        "",
    )
    .await;
    assert_eq!(body["Invalid"]["field"], "until", "{status} {body}");
    let (status, body) = answer(
        &w,
        &megan,
        &alex_item,
        "keep",
        "Backup service account, CHG-7",
        &in_days(400),
    )
    .await;
    assert_eq!(body["Invalid"]["field"], "until", "{status} {body}");
    assert_eq!(
        count(
            &w.app.pool,
            "select count(*) from review_items where decision is not null"
        )
        .await,
        0
    );

    // Keep Alex: declared a standing holder until then, his finding closed as declared.
    let (status, body) = answer(
        &w,
        &megan,
        &alex_item,
        "keep",
        "Backup service account, CHG-7",
        &in_days(60),
    )
    .await;
    assert_eq!(
        (status, body.clone()),
        (StatusCode::OK, "kept".into()),
        "{body}"
    );
    let declared: (String, String) = sqlx::query_as(
        "select reason, lower(account_ref) from standing_holders where withdrawn_at is null",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(
        declared,
        (
            "Backup service account, CHG-7".into(),
            alex_dn.to_lowercase()
        )
    );
    assert_eq!(
        count(
            &w.app.pool,
            "select count(*) from findings where closed_reason = 'declared'"
        )
        .await,
        1
    );
    // One answer per item: a second, either way, is refused.
    let (status, body) = answer(
        &w,
        &megan,
        &alex_item,
        "remove",
        "Changed my mind about this",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Remove Adele: gone from the group, read back, and she and the owner are told.
    assert!(w.is_member("adele.vance@contoso.test").await);
    let (status, body) = answer(
        &w,
        &megan,
        &adele_item,
        "remove",
        "Left the finance team in May",
        "",
    )
    .await;
    assert_eq!(
        (status, body.clone()),
        (StatusCode::OK, "removed".into()),
        "{body}"
    );
    assert!(!w.is_member("adele.vance@contoso.test").await);
    assert!(w.is_member("alex.wilber@contoso.test").await);
    assert_eq!(
        count(
            &w.app.pool,
            "select count(*) from audit_events where action = 'reconcile.removed'
               and details->>'verified' = 'true'"
        )
        .await,
        1
    );

    // The last answer closes the campaign as complete.
    let (status, body) = answer(
        &w,
        &megan,
        &placeholder,
        "keep",
        "The placeholder member every group of names keeps",
        &in_days(30),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let closed: (Option<String>, i64) = sqlx::query_as(
        "select closed_how, (select count(*) from audit_events where action = 'review.closed')
           from review_campaigns",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(closed, (Some("complete".into()), 1));
    let (_, waiting) = w.call(&megan, "governance/reviews-waiting", &[]).await;
    assert_eq!(waiting, 0);

    // The report: for the governance roles and the creator, never for the reviewer alone.
    let report = |who: &reqwest::Client| {
        w.app
            .post_same_origin(who, &format!("/governance/reviews/{campaign}/report"))
            .send()
    };
    let refused = report(&megan).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let csv = report(&irvin).await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".csv")
    );
    let csv = csv.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[0].starts_with("campaign,entry_key"), "{csv}");
    let row_of = |dn: &str| {
        rows.iter()
            .find(|r| r.to_lowercase().contains(&dn.to_lowercase()))
            .unwrap_or_else(|| panic!("no row for {dn} in {csv}"))
            .to_string()
    };
    let (alex_row, adele_row) = (row_of(&alex_dn), row_of(&adele_dn));
    assert!(
        alex_row.contains(",keep,")
            && alex_row.contains("CHG-7")
            && alex_row.contains("Megan Bowen"),
        "{alex_row}"
    );
    assert!(alex_row.contains(",kept,"), "{alex_row}");
    assert!(
        adele_row.contains(",remove,") && adele_row.contains(",removed,"),
        "{adele_row}"
    );
    assert_eq!(
        count(
            &w.app.pool,
            "select count(*) from audit_events where action = 'review.report_exported'"
        )
        .await,
        1
    );

    // Mails: the owner when it opened; Adele and the owner when her access was removed.
    let sent = mails(&w).await;
    let kinds = |kind: &str| {
        sent.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, to)| to.split('@').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds("review_opened"), ["megan.bowen"], "{sent:?}");
    let mut away = kinds("reconciled_away");
    away.sort();
    assert_eq!(away, ["adele.vance", "megan.bowen"], "{sent:?}");
}

/// Sets a campaign's times as if it opened four days ago: `(reminder, escalation, deadline)`
/// in hours from now, in that order.
async fn age(pool: &PgPool, campaign: &str, remind: i64, escalate: i64, deadline: i64) {
    sqlx::query(
        "update review_campaigns
            set created_at = now() - interval '4 days',
                remind_at = now() + make_interval(hours => $2::int),
                escalate_at = now() + make_interval(hours => $3::int),
                deadline = now() + make_interval(hours => $4::int)
          where id = $1::uuid",
    )
    .bind(campaign)
    .bind(remind as i32)
    .bind(escalate as i32)
    .bind(deadline as i32)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test]
async fn slow_reviewers_are_reminded_then_backed_up_and_the_deadline_answers_the_rest(
    pool: PgPool,
) {
    let (w, nestor) = with_shadow_access(
        pool,
        &["alex.wilber@contoso.test", "megan.bowen@contoso.test"],
    )
    .await;
    let megan = w.person("megan").await;
    let (alex_dn, megan_dn) = (
        w.dir_account("alex.wilber@contoso.test").await,
        w.dir_account("megan.bowen@contoso.test").await,
    );
    // The owner declared the placeholder member OpenLDAP's groups keep a standing holder
    // before the review.
    let placeholder_dn = "cn=nobody".to_string();
    let (_, found) = w
        .call(&megan, "governance/findings", &[("query[state]", "open")])
        .await;
    let placeholder_finding = found["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["account_ref"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&placeholder_dn)
        })
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = w
        .call(
            &megan,
            "governance/declare",
            &[
                ("finding_id", placeholder_finding.as_str()),
                ("reason", "Every group of names keeps one member"),
                ("until", &in_days(30)),
                ("offset", "0"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = open(&w, &nestor, "owners", "remove", &in_days(7)).await;
    let campaign = body.as_str().unwrap().to_string();
    let seen = items(&w, &megan, &campaign).await;
    let megan_item = item_of(&seen, &megan_dn);
    let declared = seen
        .iter()
        .find(|i| {
            i["account_ref"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&placeholder_dn)
        })
        .unwrap();
    assert_eq!(declared["source"], "declared", "{declared}");
    assert_eq!(
        declared["declared_reason"],
        "Every group of names keeps one member"
    );

    // Nobody answers for their own access: the owner's own account waits for someone else.
    let (status, body) = answer(
        &w,
        &megan,
        &megan_item,
        "keep",
        "I need this to approve invoices",
        &in_days(30),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let own = seen
        .iter()
        .find(|i| i["id"] == megan_item.as_str())
        .unwrap();
    assert_eq!(
        (own["may_decide"].clone(), own["own"].clone()),
        (false.into(), true.into())
    );
    let (_, waiting) = w.call(&megan, "governance/reviews-waiting", &[]).await;
    assert_eq!(waiting, 2, "the placeholder and Alex, not her own");

    let connectors = w.app.state.connectors.clone();
    let run = async || run_due(&w.app.pool, &connectors, Utc::now()).await.unwrap();
    assert_eq!(run().await, Due::default(), "nothing is due yet");

    // Half-way: the owner is reminded, once.
    age(&w.app.pool, &campaign, -1, 24, 48).await;
    assert_eq!(
        run().await,
        Due {
            reminded: 1,
            ..Due::default()
        }
    );
    assert_eq!(run().await, Due::default());

    // Three quarters of the way: Megan has no manager, so the administrators back her up;
    // Nestor may now answer her items, her own account among them.
    age(&w.app.pool, &campaign, -48, -1, 48).await;
    assert_eq!(
        run().await,
        Due {
            escalated: 1,
            ..Due::default()
        }
    );
    assert_eq!(run().await, Due::default());
    let (_, waiting) = w.call(&nestor, "governance/reviews-waiting", &[]).await;
    assert_eq!(waiting, 3);
    let (status, body) = answer(
        &w,
        &nestor,
        &megan_item,
        "keep",
        "Owner of the group, approves invoices",
        &in_days(30),
    )
    .await;
    assert_eq!(
        (status, body.clone()),
        (StatusCode::OK, "kept".into()),
        "{body}"
    );

    let sent = mails(&w).await;
    let to = |kind: &str| {
        sent.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, to)| to.split('@').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(to("review_opened"), ["megan.bowen"], "{sent:?}");
    assert_eq!(to("review_reminder"), ["megan.bowen"], "{sent:?}");
    assert_eq!(to("review_escalated"), ["nestor.wilke"], "{sent:?}");

    // The deadline passed and the job has not run yet: nobody answers any more.
    assert!(w.is_member("alex.wilber@contoso.test").await);
    age(&w.app.pool, &campaign, -72, -48, -1).await;
    let (status, body) = answer(
        &w,
        &megan,
        &item_of(&seen, &alex_dn),
        "keep",
        "Answered a moment too late",
        &in_days(30),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let late = items(&w, &megan, &campaign).await;
    assert!(late.iter().all(|i| i["may_decide"] == false), "{late:?}");

    // The default removes what is left (Alex, and the placeholder whose declaration it
    // withdraws), read back.
    assert_eq!(
        run().await,
        Due {
            closed: 1,
            ..Due::default()
        }
    );
    assert!(!w.is_member("alex.wilber@contoso.test").await);
    assert!(w.is_member("megan.bowen@contoso.test").await);
    let answered: Vec<(String, String, Option<Uuid>, String)> = sqlx::query_as(
        "select lower(account_ref), decision, decided_by, outcome from review_items
          order by decided_at, account_ref",
    )
    .fetch_all(&w.app.pool)
    .await
    .unwrap();
    let alex_row = answered
        .iter()
        .find(|(account, ..)| *account == alex_dn.to_lowercase())
        .unwrap();
    assert_eq!(
        (alex_row.1.as_str(), alex_row.2, alex_row.3.as_str()),
        ("remove", None, "removed")
    );
    assert_eq!(answered.len(), 3, "{answered:?}");
    let placeholder = answered
        .iter()
        .find(|(account, ..)| *account == placeholder_dn.to_lowercase())
        .unwrap();
    assert_eq!(
        (
            placeholder.1.as_str(),
            placeholder.2,
            placeholder.3.as_str()
        ),
        ("remove", None, "removed"),
        "{answered:?}"
    );
    let live: i64 =
        sqlx::query_scalar("select count(*) from standing_holders where withdrawn_at is null")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    assert_eq!(
        live, 1,
        "Megan's kept account only; the placeholder's declaration withdrawn"
    );
    let how: String = sqlx::query_scalar("select closed_how from review_campaigns")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(how, "deadline");
    // A closed campaign takes no answers.
    let (status, _) = answer(
        &w,
        &nestor,
        &item_of(&items(&w, &nestor, &campaign).await, &alex_dn),
        "keep",
        "Too late for this one",
        &in_days(3),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[sqlx::test]
async fn managers_review_their_reports_and_owners_the_rest(pool: PgPool) {
    let (w, nestor) = with_shadow_access(
        pool,
        &["adele.vance@contoso.test", "alex.wilber@contoso.test"],
    )
    .await;
    let (megan, alex, adele) = (
        w.person("megan").await,
        w.person("alex").await,
        w.person("adele").await,
    );
    // Adele reports to Alex (as the people sync would say); Alex's manager is unknown.
    sqlx::query(
        "update principals set manager_id = (select id from principals where upn like 'alex%')
          where upn like 'adele%'",
    )
    .execute(&w.app.pool)
    .await
    .unwrap();
    let (status, body) = open(&w, &nestor, "managers", "keep", &in_days(7)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let campaign = body.as_str().unwrap().to_string();
    let (adele_dn, alex_dn) = (
        w.dir_account("adele.vance@contoso.test").await,
        w.dir_account("alex.wilber@contoso.test").await,
    );

    // Alex sees only Adele's item and may answer it; the owner sees the other two (Alex's own,
    // whose manager is unknown, and the placeholder's).
    let his = items(&w, &alex, &campaign).await;
    assert_eq!(his.len(), 1, "{his:?}");
    assert!(
        his[0]["account_ref"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&adele_dn)
    );
    let hers = items(&w, &megan, &campaign).await;
    assert_eq!(hers.len(), 2, "{hers:?}");
    item_of(&hers, &alex_dn);
    // Alex cannot reach his own item, nor the owner the manager's.
    let (status, _) = answer(
        &w,
        &alex,
        &item_of(&hers, &alex_dn),
        "keep",
        "I run the nightly backups with it",
        &in_days(30),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = answer(
        &w,
        &megan,
        &item_of(&his, &adele_dn),
        "remove",
        "Not in my team any more",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Adele is a holder, not a reviewer.
    let (status, _) = w
        .call(&adele, "governance/review", &[("campaign", &campaign)])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = answer(
        &w,
        &alex,
        &item_of(&his, &adele_dn),
        "remove",
        "Moved to another team last month",
        "",
    )
    .await;
    assert_eq!(
        (status, body.clone()),
        (StatusCode::OK, "removed".into()),
        "{body}"
    );
    assert!(!w.is_member("adele.vance@contoso.test").await);
    assert!(w.is_member("alex.wilber@contoso.test").await);
}
