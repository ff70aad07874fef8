//! Requesting, approving and governing access through the server functions, as signed-in
//! people, against a real directory: the rules, the refusals, and the races.

use std::sync::Arc;

use leasegate::server::connectors::{Connector as _, Connectors};
use leasegate::server::jobs::grants::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::{Directory, openldap, unique};
use crate::harness::{Options, TestApp};
use crate::seed;

const CONNECTOR: &str = "test-directory";

/// The demo people, in the directory with the same sign-in names the identity provider uses.
/// Adele reports to Megan.
pub(crate) async fn people(dir: &Directory) -> Vec<String> {
    let mut ldap = dir.admin().await;
    let megan = dir
        .add_user(
            &mut ldap,
            "Megan Bowen",
            "megan.bowen@contoso.test",
            None,
            Some("Sales"),
        )
        .await;
    let adele = dir
        .add_user(
            &mut ldap,
            "Adele Vance",
            "adele.vance@contoso.test",
            Some(&megan),
            Some("Finance"),
        )
        .await;
    let mut dns = vec![adele, megan];
    for (cn, upn) in [
        ("Alex Wilber", "alex.wilber@contoso.test"),
        ("Irvin Sayers", "irvin.sayers@contoso.test"),
        ("Nestor Wilke", "nestor.wilke@contoso.test"),
    ] {
        dns.push(dir.add_user(&mut ldap, cn, upn, None, None).await);
    }
    dns
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    dir: &'static Directory,
    group: String,
    pub(crate) entitlement: String,
}

/// A portal with one entitlement (a fresh group) under `rules`, owned by `owners`.
pub(crate) async fn world(pool: PgPool, rules: Value, owners: &[&str]) -> World {
    world_with(pool, rules, owners, Options::default()).await
}

/// A [`world`] whose portal starts with `options` (its connectors are the world's own).
pub(crate) async fn world_with(
    pool: PgPool,
    rules: Value,
    owners: &[&str],
    options: Options,
) -> World {
    let dir = openldap();
    people(dir).await;
    let mut ldap = dir.admin().await;
    let group = dir
        .add_group(&mut ldap, &format!("Access {}", unique()), &[])
        .await;
    let id = seed::entitlement_with(&pool, CONNECTOR, &group, rules, owners).await;
    let entitlement: String = sqlx::query_scalar("select key from entitlements where id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut connectors = Connectors::default();
    connectors.insert(CONNECTOR, Arc::new(dir.connector()));
    let app = TestApp::spawn_with(
        pool,
        Options {
            connectors,
            ..options
        },
    )
    .await;
    World {
        app,
        dir,
        group,
        entitlement,
    }
}

pub(crate) fn manager_policy() -> Value {
    json!({
        "name": "Manager approval",
        "durations": { "default_minutes": 60, "max_minutes": 240, "max_start_delay_minutes": 1440 },
        "justification": { "required": true, "min_chars": 10 },
        "stages": [{ "approvers": "manager" }]
    })
}

impl World {
    /// The distinguished name of the directory account with this sign-in name.
    pub(crate) async fn dir_account(&self, upn: &str) -> String {
        self.dir
            .connector()
            .find_account(upn)
            .await
            .unwrap()
            .expect("an account")
            .reference
    }

    /// Adds an account to the world's group with the directory's administrator, as someone
    /// would by hand: no lease, no request.
    pub(crate) async fn add_by_hand(&self, account: &str) {
        let values = std::collections::HashSet::from([account]);
        self.dir
            .admin()
            .await
            .modify(&self.group, vec![ldap3::Mod::Add("member", values)])
            .await
            .unwrap()
            .success()
            .unwrap();
    }

    pub(crate) async fn person(&self, account: &str) -> reqwest::Client {
        self.app.person(account).await
    }

    /// Calls a server function as a form post from the portal's own page.
    pub(crate) async fn call(
        &self,
        browser: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.app.call(browser, endpoint, form).await
    }

    pub(crate) async fn request(
        &self,
        browser: &reqwest::Client,
        extra: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.app.request(browser, &self.entitlement, extra).await
    }

    pub(crate) async fn decide(
        &self,
        browser: &reqwest::Client,
        request: &str,
        outcome: &str,
    ) -> (StatusCode, Value) {
        self.call(
            browser,
            "approvals/decide",
            &[
                ("request_id", request),
                ("outcome", outcome),
                ("comment", "ok"),
            ],
        )
        .await
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    pub(crate) async fn run_engine(&self) {
        let mut connectors = Connectors::default();
        connectors.insert(CONNECTOR, Arc::new(self.dir.connector()));
        let engine = Engine::new(
            self.app.pool.clone(),
            connectors,
            crate::seed::engine_settings(std::time::Duration::from_secs(30)),
        );
        engine.run_once().await.unwrap();
    }

    /// A second entry, on a fresh group of the same directory: its key.
    pub(crate) async fn second_entry(&self, rules: Value) -> String {
        let mut ldap = self.dir.admin().await;
        let group = self
            .dir
            .add_group(&mut ldap, &format!("Access {}", unique()), &[])
            .await;
        let id = seed::entitlement_with(&self.app.pool, CONNECTOR, &group, rules, &[]).await;
        sqlx::query_scalar("select key from entitlements where id = $1")
            .bind(id)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    /// Another portal on the same database and directory, with extra settings.
    pub(crate) async fn another_portal(&self, extra: &[(&'static str, &str)]) -> TestApp {
        let mut connectors = Connectors::default();
        connectors.insert(CONNECTOR, Arc::new(self.dir.connector()));
        TestApp::spawn_with(
            self.app.pool.clone(),
            Options {
                connectors,
                extra: extra.iter().map(|(k, v)| (*k, v.to_string())).collect(),
                ..Options::default()
            },
        )
        .await
    }

    pub(crate) async fn is_member(&self, upn: &str) -> bool {
        let account =
            leasegate::server::connectors::Connector::find_account(&self.dir.connector(), upn)
                .await
                .unwrap()
                .unwrap();
        self.dir
            .is_member(&mut self.dir.admin().await, &self.group, &account.reference)
            .await
    }
}

pub(crate) fn request_id(body: &Value) -> String {
    body["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request id in {body}"))
        .to_string()
}

#[sqlx::test]
async fn the_manager_approves_and_the_membership_appears(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let alex = w.person("alex").await;

    let (status, body) = w.request(&adele, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "pending");
    let id = request_id(&body);

    // The manager sees it, with its details; others do not.
    let (_, inbox) = w.call(&megan, "approvals", &[]).await;
    assert_eq!(inbox["waiting"].as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox["waiting"][0]["beneficiary"], "Adele Vance");
    assert_eq!(
        inbox["waiting"][0]["justification"],
        "Quarter-end close needs the ledger"
    );
    let (_, alex_inbox) = w.call(&alex, "approvals", &[]).await;
    assert!(alex_inbox["waiting"].as_array().unwrap().is_empty());
    // The navigation's count says the same.
    assert_eq!(w.call(&megan, "approvals/count", &[]).await.1, 1);
    assert_eq!(w.call(&alex, "approvals/count", &[]).await.1, 0);

    // Nobody else decides: not a stranger, not the requester.
    assert_eq!(
        w.decide(&alex, &id, "approve").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.decide(&adele, &id, "approve").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(w.count("select count(*) from approval_decisions").await, 0);

    let (status, body) = w.decide(&megan, &id, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        w.count("select count(*) from grants where state = 'scheduled'")
            .await,
        1
    );
    // Decided once; a second decision is refused.
    assert_eq!(
        w.decide(&megan, &id, "approve").await.0,
        StatusCode::CONFLICT
    );

    assert!(!w.is_member("adele.vance@contoso.test").await);
    w.run_engine().await;
    assert!(w.is_member("adele.vance@contoso.test").await);

    let (_, mine) = w.call(&adele, "my-access", &[]).await;
    assert_eq!(mine["leases"][0]["state"], "active", "{mine}");
    let minutes = {
        let starts: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(mine["leases"][0]["starts_at"].clone()).unwrap();
        let ends: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(mine["leases"][0]["ends_at"].clone()).unwrap();
        (ends - starts).num_minutes()
    };
    assert_eq!(
        minutes, 60,
        "a start-now lease runs its full length from approval"
    );

    // Given back: removed from the directory by the engine.
    let grant = mine["leases"][0]["grant_id"].as_str().unwrap().to_string();
    assert_eq!(
        w.call(&megan, "lease/give-back", &[("grant_id", &grant)])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = w
        .call(&adele, "lease/give-back", &[("grant_id", &grant)])
        .await;
    assert_eq!(status, StatusCode::OK);
    w.run_engine().await;
    assert!(!w.is_member("adele.vance@contoso.test").await);
    let reason: String = sqlx::query_scalar("select revoke_reason from grants")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(reason, "returned");
}

#[sqlx::test]
async fn a_denial_ends_the_request(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let (_, body) = w.request(&adele, &[]).await;
    let id = request_id(&body);
    assert_eq!(w.decide(&megan, &id, "deny").await.0, StatusCode::OK);
    assert_eq!(
        w.count("select count(*) from access_requests where state = 'denied'")
            .await,
        1
    );
    assert_eq!(w.count("select count(*) from grants").await, 0);
    assert_eq!(
        w.decide(&megan, &id, "approve").await.0,
        StatusCode::CONFLICT
    );
}

#[sqlx::test]
async fn a_replayed_form_makes_one_request(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let token = Uuid::new_v4().to_string();
    let same = [("form[client_token]", token.as_str())];
    let (first, second) = tokio::join!(w.request(&adele, &same), w.request(&adele, &same));
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    assert_eq!(request_id(&first.1), request_id(&second.1));
    assert_eq!(w.count("select count(*) from access_requests").await, 1);
    // A new form for the same thing while one waits: refused, not duplicated.
    let (status, body) = w.request(&adele, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

/// Form fields that replace the defaults of a request.
type Fields<'a> = Vec<(&'a str, &'a str)>;

#[sqlx::test]
async fn bad_input_is_refused_and_changes_nothing(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let long = "x".repeat(2001);
    let cases: Vec<(Fields, StatusCode, &str)> = vec![
        (
            vec![("form[duration]", "241")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 4 hours",
        ),
        (
            vec![("form[duration]", "0")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "after the start",
        ),
        (
            vec![("form[duration]", "soon")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "how long",
        ),
        (
            vec![("form[duration]", "99999999999")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "how long",
        ),
        (
            vec![("form[justification]", "")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "why",
        ),
        (
            vec![("form[justification]", "because")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least 10",
        ),
        (
            vec![("form[justification]", &long)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "under 2000",
        ),
        (
            vec![("form[client_token]", "replay-me")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "expired",
        ),
        (
            vec![("form[entitlement]", "no-such-thing")],
            StatusCode::NOT_FOUND,
            "",
        ),
        (
            vec![
                ("form[start]", "later"),
                ("form[start_at]", "2020-01-01T00:00"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "in the past",
        ),
        (
            vec![
                ("form[start]", "later"),
                ("form[start_at]", "2999-01-01T00:00"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 1 day",
        ),
        (
            vec![("form[duration]", "custom"), ("form[end]", "noon")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "date and time",
        ),
        (
            vec![("form[on_behalf_of]", "megan.bowen@contoso.test")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "sign-in name",
        ),
    ];
    for (fields, expected, words) in cases {
        let (status, body) = w.request(&adele, &fields).await;
        assert_eq!(status, expected, "{fields:?}: {body}");
        assert!(
            crate::harness::said(&body).contains(words),
            "{fields:?}: {body}"
        );
    }
    // A body that is not the function's shape at all.
    let (status, _) = w.call(&adele, "request", &[("nonsense", "1")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(w.count("select count(*) from access_requests").await, 0);

    for (endpoint, form) in [
        (
            "approvals/decide",
            vec![
                ("request_id", "not-an-id"),
                ("outcome", "approve"),
                ("comment", ""),
            ],
        ),
        ("request/cancel", vec![("request_id", "42")]),
        ("lease/give-back", vec![("grant_id", "")]),
    ] {
        let (status, body) = w.call(&adele, endpoint, &form).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint}: {body}"
        );
    }
    let unknown = Uuid::new_v4().to_string();
    let (status, _) = w.decide(&adele, &unknown, "approve").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .call(
            &adele,
            "approvals/decide",
            &[
                ("request_id", &unknown),
                ("outcome", "maybe"),
                ("comment", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        w.count("select count(*) from audit_events where action <> 'catalog.loaded'")
            .await,
        0
    );
}

#[sqlx::test]
async fn approvers_racing_make_one_grant(pool: PgPool) {
    let rules = json!({
        "name": "Any owner",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "owners", "required": 1 }]
    });
    let w = world(
        pool,
        rules,
        &["megan.bowen@contoso.test", "alex.wilber@contoso.test"],
    )
    .await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let alex = w.person("alex").await;
    let (_, body) = w.request(&adele, &[]).await;
    let id = request_id(&body);
    let (a, b) = tokio::join!(
        w.decide(&megan, &id, "approve"),
        w.decide(&alex, &id, "approve")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        a.1,
        b.1
    );
    assert_eq!(w.count("select count(*) from grants").await, 1);
    assert_eq!(w.count("select count(*) from approval_decisions").await, 1);
}

#[sqlx::test]
async fn a_double_submitted_approval_counts_once(pool: PgPool) {
    let rules = json!({
        "name": "Two owners",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "owners", "required": 2 }]
    });
    let owners = [
        "megan.bowen@contoso.test",
        "alex.wilber@contoso.test",
        "nestor.wilke@contoso.test",
    ];
    let w = world(pool, rules, &owners).await;
    let adele = w.person("adele").await;
    let alex = w.person("alex").await;
    let nestor = w.person("nestor").await;
    let (_, body) = w.request(&adele, &[]).await;
    let id = request_id(&body);
    let (a, b) = tokio::join!(
        w.decide(&alex, &id, "approve"),
        w.decide(&alex, &id, "approve")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(
        w.count("select count(*) from grants").await,
        0,
        "one approval of two"
    );
    assert_eq!(w.decide(&nestor, &id, "approve").await.0, StatusCode::OK);
    assert_eq!(w.count("select count(*) from grants").await, 1);
}

#[sqlx::test]
async fn two_stages_need_different_people(pool: PgPool) {
    let rules = json!({
        "name": "Manager then owner",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "manager" }, { "approvers": "owners" }]
    });
    let w = world(
        pool,
        rules,
        &["megan.bowen@contoso.test", "alex.wilber@contoso.test"],
    )
    .await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let alex = w.person("alex").await;
    let (_, body) = w.request(&adele, &[]).await;
    let id = request_id(&body);
    // The owner cannot skip ahead of the manager.
    assert_eq!(
        w.decide(&alex, &id, "approve").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(w.decide(&megan, &id, "approve").await.0, StatusCode::OK);
    let (_, mine) = w.call(&adele, "my-access", &[]).await;
    assert!(
        mine["pending"][0]["progress"]
            .as_str()
            .unwrap()
            .starts_with("Step 2 of 2"),
        "{mine}"
    );
    // Megan approved step 1; step 2 needs someone else.
    assert_eq!(
        w.decide(&megan, &id, "approve").await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(w.decide(&alex, &id, "approve").await.0, StatusCode::OK);
    assert_eq!(w.count("select count(*) from grants").await, 1);
}

#[sqlx::test]
async fn auto_approval_and_extension_keep_one_lease(pool: PgPool) {
    let rules = json!({
        "name": "Auto",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "justification": { "required": false },
        "ticket": { "required": true, "pattern": "CHG[0-9]{7}", "hint": "CHG and 7 digits" }
    });
    let w = world(pool, rules, &[]).await;
    let adele = w.person("adele").await;
    let (status, body) = w.request(&adele, &[("form[ticket]", "INC1")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        crate::harness::said(&body).contains("CHG and 7 digits"),
        "{body}"
    );
    let (status, body) = w.request(&adele, &[("form[ticket]", "CHG0012345")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "approved");
    assert_eq!(
        w.count("select count(*) from grants where state = 'scheduled'")
            .await,
        1
    );
    // The same again, longer: the one lease is extended.
    let (status, body) = w
        .request(
            &adele,
            &[("form[ticket]", "CHG0012345"), ("form[duration]", "120")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.count("select count(*) from grants").await, 1);
    let minutes: f64 = sqlx::query_scalar(
        "select extract(epoch from ends_at - starts_at)::float8 / 60 from grants",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert!((minutes - 120.0).abs() < 1.0, "{minutes}");
    // Asking for less than held adds nothing.
    let (status, body) = w
        .request(
            &adele,
            &[("form[ticket]", "CHG0012345"), ("form[duration]", "30")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        crate::harness::said(&body).contains("already hold"),
        "{body}"
    );
}

#[sqlx::test]
async fn managers_request_for_their_reports_only(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await; // known to the portal once signed in
    let megan = w.person("megan").await;
    let (status, body) = w
        .request(
            &megan,
            &[("form[on_behalf_of]", "adele.vance@contoso.test")],
        )
        .await;
    // Megan asks for Adele; Adele's manager (Megan) cannot approve her own request.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        crate::harness::said(&body).contains("cannot be approved"),
        "{body}"
    );
    let (status, _) = w
        .request(
            &adele,
            &[("form[on_behalf_of]", "megan.bowen@contoso.test")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test]
async fn eligibility_by_department(pool: PgPool) {
    let rules = json!({
        "name": "Finance only",
        "eligible": { "department": "Finance" },
        "durations": { "default_minutes": 60, "max_minutes": 240 },
    });
    let w = world(pool, rules, &[]).await;
    let adele = w.person("adele").await; // Finance
    let megan = w.person("megan").await; // Sales
    assert_eq!(w.request(&adele, &[]).await.0, StatusCode::OK);
    let (status, body) = w.request(&megan, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        crate::harness::said(&body).contains("not eligible"),
        "{body}"
    );
}

#[sqlx::test]
async fn people_act_only_on_their_own_items(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let alex = w.person("alex").await;
    let (_, body) = w.request(&adele, &[]).await;
    let id = request_id(&body);
    assert_eq!(
        w.call(&alex, "request/cancel", &[("request_id", &id)])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.call(&adele, "request/cancel", &[("request_id", &id)])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        w.call(&adele, "request/cancel", &[("request_id", &id)])
            .await
            .0,
        StatusCode::CONFLICT
    );
}

#[sqlx::test]
async fn governance_is_for_auditors_and_admins(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    let irvin = w.person("irvin").await; // auditor
    let nestor = w.person("nestor").await; // admin
    let (_, body) = w.request(&adele, &[]).await;
    let id = request_id(&body);
    w.decide(&megan, &id, "approve").await;
    w.run_engine().await;

    for who in [&adele, &megan] {
        assert_eq!(
            w.call(who, "governance", &[]).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            w.call(who, "governance/trail", &[("request_id", &id)])
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    for who in [&irvin, &nestor] {
        let (status, overview) = w.call(who, "governance", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(overview["live"].as_array().unwrap().len(), 1);
    }
    let (status, trail) = w
        .call(&irvin, "governance/trail", &[("request_id", &id)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "request.submitted",
            "decision.approved",
            "request.approved",
            "grant.created",
            "grant.provisioned"
        ]
    );
}

#[sqlx::test]
async fn every_function_needs_a_signed_in_caller(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let anonymous = w.app.browser();
    let id = Uuid::new_v4().to_string();
    for (endpoint, form) in [
        ("catalog", vec![("query", "")]),
        ("entitlement", vec![("key", w.entitlement.as_str())]),
        (
            "request",
            vec![
                ("form[entitlement]", w.entitlement.as_str()),
                ("form[duration]", "60"),
                ("form[client_token]", id.as_str()),
            ],
        ),
        ("request/cancel", vec![("request_id", id.as_str())]),
        ("my-access", vec![]),
        ("lease/give-back", vec![("grant_id", id.as_str())]),
        (
            "lease/extend",
            vec![
                ("grant_id", id.as_str()),
                ("minutes", "60"),
                ("justification", "x"),
                ("client_token", id.as_str()),
            ],
        ),
        ("approvals", vec![]),
        ("approvals/count", vec![]),
        (
            "approvals/decide",
            vec![
                ("request_id", id.as_str()),
                ("outcome", "approve"),
                ("comment", ""),
            ],
        ),
        ("governance", vec![]),
        ("governance/trail", vec![("request_id", id.as_str())]),
        ("governance/events", vec![("query[who]", "")]),
        ("admin", vec![]),
        ("admin/jobs", vec![]),
        ("admin/reload-catalog", vec![]),
        (
            "admin/entitlement/edit",
            vec![
                ("key", w.entitlement.as_str()),
                ("name", "x"),
                ("description", ""),
                ("owners", ""),
                ("tags", ""),
                ("policy", "x"),
            ],
        ),
        ("admin/policy/edit", vec![("key", "x"), ("rules", "")]),
        (
            "admin/entitlement",
            vec![("key", w.entitlement.as_str()), ("enabled", "false")],
        ),
    ] {
        let (status, body) = w.call(&anonymous, endpoint, &form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{endpoint}: {body}");
    }
    assert_eq!(w.count("select count(*) from access_requests").await, 0);
}

#[sqlx::test]
async fn the_catalog_lists_and_explains_entries(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let (status, list) = w.call(&adele, "catalog", &[("query", "")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["approval"], "your manager");
    let (_, none) = w
        .call(&adele, "catalog", &[("query", "no such words")])
        .await;
    assert!(none.as_array().unwrap().is_empty());
    // Wildcards in the query are text, not patterns.
    let (_, none) = w.call(&adele, "catalog", &[("query", "%_%")]).await;
    assert!(none.as_array().unwrap().is_empty());
    let (status, detail) = w
        .call(&adele, "entitlement", &[("key", &w.entitlement)])
        .await;
    assert_eq!(status, StatusCode::OK);
    let rules = detail["rules"].to_string();
    assert!(rules.contains("up to 4 hours"), "{rules}");
    assert!(rules.contains("Approved by your manager"), "{rules}");
    assert_eq!(detail["presets_minutes"], json!([60, 240]));
    let (status, _) = w.call(&adele, "entitlement", &[("key", "nope")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn the_admin_area_is_for_administrators(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let irvin = w.person("irvin").await; // auditor: reads governance, administers nothing
    let nestor = w.person("nestor").await; // admin
    let toggle = [("key", w.entitlement.as_str()), ("enabled", "false")];
    for who in [&adele, &irvin] {
        assert_eq!(w.call(who, "admin", &[]).await.0, StatusCode::FORBIDDEN);
        assert_eq!(
            w.call(who, "admin/jobs", &[]).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            w.call(who, "admin/reload-catalog", &[]).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            w.call(who, "admin/entitlement", &toggle).await.0,
            StatusCode::FORBIDDEN
        );
    }
    let (status, overview) = w.call(&nestor, "admin", &[]).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["connectors"][0]["health"], "healthy", "{overview}");
    assert_eq!(overview["entitlements"][0]["enabled"], true);

    // Taken out of the catalog: not listed, not requestable; audited with who did it.
    assert_eq!(
        w.call(&nestor, "admin/entitlement", &toggle).await.0,
        StatusCode::OK
    );
    let (_, list) = w.call(&adele, "catalog", &[("query", "")]).await;
    assert!(list.as_array().unwrap().is_empty());
    assert_eq!(w.request(&adele, &[]).await.0, StatusCode::NOT_FOUND);
    let actor: String = sqlx::query_scalar(
        "select actor_label from audit_events where action = 'catalog.entitlement_disabled'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(actor, "Nestor Wilke");
    let (status, _) = w
        .call(
            &nestor,
            "admin/entitlement",
            &[("key", w.entitlement.as_str()), ("enabled", "maybe")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = w
        .call(
            &nestor,
            "admin/entitlement",
            &[("key", "no-such-entry"), ("enabled", "true")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // No catalog file in this portal: reloading says so.
    assert_eq!(
        w.call(&nestor, "admin/reload-catalog", &[]).await.0,
        StatusCode::CONFLICT
    );
}

#[sqlx::test]
async fn the_inbox_says_when_someone_already_holds_it_through_a_nested_group(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let megan = w.person("megan").await;
    // Adele is in "Oncall", which is inside the entitlement's group.
    let mut ldap = w.dir.admin().await;
    let account = leasegate::server::connectors::Connector::find_account(
        &w.dir.connector(),
        "adele.vance@contoso.test",
    )
    .await
    .unwrap()
    .unwrap();
    let inner = w
        .dir
        .add_group(
            &mut ldap,
            &format!("Oncall {}", unique()),
            &[account.reference],
        )
        .await;
    ldap.modify(
        &w.group,
        vec![ldap3::Mod::Add(
            "member",
            std::collections::HashSet::from([inner.as_str()]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();

    let (status, body) = w.request(&adele, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, inbox) = w.call(&megan, "approvals", &[]).await;
    let hints = inbox["waiting"][0]["hints"].to_string();
    assert!(
        hints.contains("Already has it through group Oncall"),
        "{hints}"
    );
}

#[sqlx::test]
async fn administrators_edit_entries_and_policies_with_an_audit_trail(pool: PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let adele = w.person("adele").await;
    let nestor = w.person("nestor").await;
    let (_, overview) = w.call(&nestor, "admin", &[]).await;
    let policy_key = overview["policies"][0]["key"].as_str().unwrap().to_string();
    let rules = overview["policies"][0]["rules_toml"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rules.contains("manager"), "{rules}");

    let edit = |name: &'static str, owners: &'static str| {
        vec![
            ("key", w.entitlement.clone()),
            ("name", name.to_string()),
            ("description", "Ledger administration".to_string()),
            ("owners", owners.to_string()),
            ("tags", "finance, ledger".to_string()),
            ("policy", policy_key.clone()),
        ]
    };
    let as_pairs = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };
    let form = as_pairs(&edit("Ledger admins", "alex.wilber@contoso.test"));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        w.call(&adele, "admin/entitlement/edit", &form).await.0,
        StatusCode::FORBIDDEN
    );
    // A change of owners waits for a second administrator; its author cannot approve it.
    let (status, body) = w.call(&nestor, "admin/entitlement/edit", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        crate::harness::said(&body).contains("another administrator"),
        "{body}"
    );
    let (_, list) = w.call(&adele, "catalog", &[("query", "ledger")]).await;
    assert_eq!(list, json!([]), "not in effect yet: {list}");
    let (_, overview) = w.call(&nestor, "admin", &[]).await;
    let change = overview["changes"][0].clone();
    assert_eq!(change["mine"], true, "{overview}");
    assert!(
        change["impact"]
            .to_string()
            .contains("Owners added: alex.wilber@contoso.test"),
        "{change}"
    );
    let id = change["change_id"].as_str().unwrap().to_string();
    let (status, _) = w
        .call(&nestor, "admin/change/approve", &[("change_id", &id)])
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "nobody approves their own change"
    );
    let (status, _) = w
        .call(&adele, "admin/change/approve", &[("change_id", &id)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let diego = w.person("diego").await;
    let (status, body) = w
        .call(&diego, "admin/change/approve", &[("change_id", &id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = w
        .call(&diego, "admin/change/approve", &[("change_id", &id)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "once");
    let (_, list) = w.call(&adele, "catalog", &[("query", "ledger")]).await;
    assert_eq!(list[0]["name"], "Ledger admins", "{list}");
    let details: Value = sqlx::query_scalar(
        "select details from audit_events where action = 'catalog.entitlement_changed'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(
        details["after"]["owners"],
        json!(["alex.wilber@contoso.test"])
    );
    assert!(
        details["before"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Group ")
    );
    // Words alone change at once.
    let words = as_pairs(&edit("Ledger administrators", "alex.wilber@contoso.test"));
    let words: Vec<(&str, &str)> = words.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = w.call(&nestor, "admin/entitlement/edit", &words).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = w.call(&adele, "catalog", &[("query", "ledger")]).await;
    assert_eq!(list[0]["name"], "Ledger administrators", "{list}");

    let bad = as_pairs(&edit("", "not-a-upn"));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        w.call(&nestor, "admin/entitlement/edit", &bad).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Rules as in the file: a mistake names its line; a good edit applies to new requests.
    let broken = rules.replace("max_minutes = 240", "max_minutes = \"long\"");
    let (status, body) = w
        .call(
            &nestor,
            "admin/policy/edit",
            &[("key", policy_key.as_str()), ("rules", broken.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(crate::harness::said(&body).contains("line"), "{body}");
    let shorter = rules
        .replace("max_minutes = 240", "max_minutes = 30")
        .replace("default_minutes = 60", "default_minutes = 30");
    let (status, body) = w
        .call(
            &nestor,
            "admin/policy/edit",
            &[("key", policy_key.as_str()), ("rules", shorter.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, overview) = w.call(&diego, "admin", &[]).await;
    let change = overview["changes"][0].clone();
    assert!(
        change["impact"]
            .to_string()
            .contains("Longest lease: 4 hours → 30 minutes"),
        "{change}"
    );
    assert!(
        change["after"]
            .as_str()
            .unwrap()
            .contains("max_minutes = 30"),
        "{change}"
    );
    assert_eq!(
        w.count("select count(*) from audit_events where action = 'catalog.policy_changed'")
            .await,
        0,
        "not in effect until approved"
    );
    let id = change["change_id"].as_str().unwrap().to_string();
    let (status, body) = w
        .call(&diego, "admin/change/approve", &[("change_id", &id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = w.request(&adele, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        crate::harness::said(&body).contains("at most 30 minutes"),
        "{body}"
    );
    assert_eq!(
        w.count("select count(*) from audit_events where action = 'catalog.policy_changed'")
            .await,
        1
    );
}
