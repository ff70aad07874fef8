//! The real portal binary killed with SIGKILL while removals fall due, then started again:
//! every membership is removed from the directory, and each removal is recorded exactly once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use leasegate::server::catalog;
use leasegate::server::db::audit::Actor;
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::{openldap, unique};
use crate::seed::count;

const GRANTS: usize = 500;
const GROUPS: usize = 5;

fn start_portal(database_url: &str, catalog_file: &str, password: &str) -> Child {
    portal(database_url, catalog_file, password)
        .spawn()
        .expect("starting the portal binary")
}

/// The portal binary's command, its secret in `LEASEGATE_SECRET_FAULT_DIRECTORY`.
pub(crate) fn portal(database_url: &str, catalog_file: &str, password: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leasegate"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("LEASEGATE_OIDC_ISSUER", "http://127.0.0.1:9")
        .env("LEASEGATE_OIDC_CLIENT_ID", "c")
        .env("LEASEGATE_OIDC_CLIENT_SECRET", "s")
        .env("LEASEGATE_LISTEN", "127.0.0.1:0")
        .env("LEASEGATE_CATALOG", catalog_file)
        .env("LEASEGATE_SECRET_FAULT_DIRECTORY", password)
        .env("LEASEGATE_ENGINE_LEASE", "3s")
        .env("LEASEGATE_ENGINE_BATCH", "50")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[sqlx::test]
async fn a_killed_portal_finishes_every_removal_once(pool: PgPool) {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let id = unique();

    // 500 people holding one of five groups, as if the portal had granted it.
    let mut people = Vec::new();
    for i in 0..GRANTS {
        let upn = format!("kill.{id}.{i}@contoso.test");
        let dn = dir
            .add_user(&mut admin, &format!("Kill {id} {i}"), &upn, None, None)
            .await;
        people.push((upn, dn));
    }
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        // groupOfNames cannot be empty: a placeholder member stays behind.
        let mut members = vec![format!("cn=keeper-{id},{}", dir.people)];
        members.extend(
            people
                .iter()
                .skip(g)
                .step_by(GROUPS)
                .map(|(_, dn)| dn.clone()),
        );
        groups.push(
            dir.add_group(&mut admin, &format!("Kill {id} {g}"), &members)
                .await,
        );
    }

    // The catalog the binary loads, stored once here so the grants can name its entries.
    let work = std::env::temp_dir().join(format!("leasegate-kill-{id}"));
    std::fs::create_dir_all(&work).unwrap();
    let mut text = format!(
        "[connectors.fault-directory]\nkind = \"ldap\"\nurl = \"{}\"\nca_file = \"{}\"\n\
         bind_dn = \"{}\"\npassword_env = \"LEASEGATE_SECRET_FAULT_DIRECTORY\"\nuser_base = \"{}\"\ngroup_base = \"{}\"\n\
         account_attribute = \"mail\"\n\n[policies.auto]\nname = \"Auto\"\n\
         durations = {{ default_minutes = 60, max_minutes = 480 }}\n\n",
        dir.url, dir.ca_file, dir.admin_dn, dir.people, dir.groups
    );
    for (g, group) in groups.iter().enumerate() {
        text.push_str(&format!(
            "[[entitlements]]\nkey = \"kill-{g}\"\nconnector = \"fault-directory\"\ngroup = \"{group}\"\n\
             name = \"Kill {g}\"\npolicy = \"auto\"\n\n"
        ));
    }
    let catalog_file = work.join("catalog.toml");
    std::fs::write(&catalog_file, &text).unwrap();
    crate::seed::catalog(&pool, &text).await;

    // Their grants end one after another over four seconds, starting three seconds from now.
    let first_end = Utc::now() + TimeDelta::seconds(3);
    for (i, (upn, _)) in people.iter().enumerate() {
        let principal: Uuid = sqlx::query_scalar(
            "insert into principals (tenant_id, object_id, upn, display_name)
             values ('t', $1, $2, $2) returning id",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(upn)
        .fetch_one(&pool)
        .await
        .unwrap();
        let ends_at = first_end + TimeDelta::milliseconds(8 * i as i64);
        sqlx::query(
            "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                                 provisioned_at, next_due_at, connector_id, target_ref)
             select $1, id, now() - interval '1 hour', $2, 'active', now() - interval '1 hour', $2,
                    connector_id, target_ref
               from entitlements where key = $3",
        )
        .bind(principal)
        .bind(ends_at)
        .bind(format!("kill-{}", i % GROUPS))
        .execute(&pool)
        .await
        .unwrap();
    }

    let database_url = database_url(&pool).await;
    let catalog_path = catalog_file.to_string_lossy().into_owned();

    // Kill it halfway through the removals.
    let mut portal = start_portal(&database_url, &catalog_path, &dir.admin_password);
    let kill_at = first_end + TimeDelta::seconds(2);
    tokio::time::sleep((kill_at - Utc::now()).to_std().unwrap_or_default()).await;
    portal.kill().expect("SIGKILL");
    portal.wait().unwrap();
    let done_before = count(&pool, "select count(*) from grants where state = 'revoked'").await;
    assert!(
        done_before > 0 && done_before < GRANTS as i64,
        "the kill should land mid-way; {done_before} of {GRANTS} were done"
    );

    // Started again, it finishes the rest, including the claims the dead process held.
    let mut portal = start_portal(&database_url, &catalog_path, &dir.admin_password);
    let started = Instant::now();
    while count(&pool, "select count(*) from grants where state = 'revoked'").await < GRANTS as i64
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every grant was removed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(&mut portal);

    for (_, dn) in &people {
        for group in &groups {
            assert!(
                !dir.is_member(&mut admin, group, dn).await,
                "{dn} still in {group}"
            );
        }
    }
    assert_eq!(
        count(
            &pool,
            "select count(*) from (select grant_id from audit_events where action = 'grant.revoked'
                                    group by grant_id having count(*) = 1) once"
        )
        .await,
        GRANTS as i64,
        "each removal is recorded exactly once"
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from audit_events where action = 'grant.revoked'"
        )
        .await,
        GRANTS as i64
    );
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        leasegate::server::db::audit::first_break(&mut conn)
            .await
            .unwrap(),
        None
    );
    std::fs::remove_dir_all(&work).ok();
}

/// The address of the test's own database, for a portal process.
pub(crate) async fn database_url(pool: &PgPool) -> String {
    let database: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL for the tests");
    format!("{}/{database}", server.rsplit_once('/').unwrap().0)
}

/// Stops the portal the way an operator would (SIGTERM), so it exits cleanly.
pub(crate) fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// The same against Microsoft Graph: the portal (a child process) removes 200 Entra group
/// memberships through the Graph simulator (in this process, 20 ms a call), is killed with
/// SIGKILL half-way and started again: every membership is gone and each removal is recorded
/// once.
#[sqlx::test]
async fn a_killed_portal_finishes_every_graph_removal_once(pool: PgPool) {
    const PEOPLE: usize = 200;
    let sim = crate::graph::Sim::start().await;
    sim.config(serde_json::json!({ "latency_ms": 20 })).await;
    let upns: Vec<String> = (0..PEOPLE)
        .map(|i| format!("kill{i}@contoso.test"))
        .collect();
    let users: Vec<serde_json::Value> = upns
        .iter()
        .map(|u| serde_json::json!({ "userPrincipalName": u }))
        .collect();
    let ids = sim
        .seed(serde_json::json!({
            "users": users,
            "groups": [{ "displayName": "Kill", "securityEnabled": true, "mailEnabled": false,
                         "members": upns }],
        }))
        .await;
    let group = ids["groups"]["Kill"].as_str().unwrap().to_string();
    assert_eq!(sim.members(&group).await.len(), PEOPLE);

    let id = unique();
    let work = std::env::temp_dir().join(format!("leasegate-kill-graph-{id}"));
    std::fs::create_dir_all(&work).unwrap();
    let text = format!(
        "[connectors.fault-cloud]\nkind = \"graph\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\n\
         client_secret_env = \"LEASEGATE_SECRET_FAULT_DIRECTORY\"\nauthority_url = \"{}\"\n\
         graph_url = \"{}/v1.0\"\n\n[policies.auto]\nname = \"Auto\"\n\
         durations = {{ default_minutes = 60, max_minutes = 480 }}\n\n\
         [[entitlements]]\nkey = \"kill-cloud\"\nconnector = \"fault-cloud\"\nkind = \"entra_group\"\n\
         target = \"{group}\"\nname = \"Kill\"\npolicy = \"auto\"\n",
        crate::graph::TENANT,
        crate::graph::CLIENT,
        sim.base,
        sim.base
    );
    let catalog_file = work.join("catalog.toml");
    std::fs::write(&catalog_file, &text).unwrap();
    let trust = catalog::Trust {
        secrets_dir: None,
        lab_mode: true,
    };
    let parsed = catalog::parse(&text, "catalog.toml", &trust).unwrap();
    catalog::store(
        &pool,
        &parsed,
        "catalog.toml",
        &text,
        &Actor::system("test"),
    )
    .await
    .unwrap();

    // Active grants pinned to each person's Entra object id, ending over four seconds.
    let first_end = Utc::now() + TimeDelta::seconds(3);
    for (i, upn) in upns.iter().enumerate() {
        let oid = ids["users"][upn].as_str().unwrap().to_lowercase();
        let principal: Uuid = sqlx::query_scalar(
            "insert into principals (tenant_id, object_id, upn, display_name)
             values ('t', $1, $2, $2) returning id",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(upn)
        .fetch_one(&pool)
        .await
        .unwrap();
        let ends_at = first_end + TimeDelta::milliseconds(20 * i as i64);
        sqlx::query(
            "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                                 provisioned_at, next_due_at, connector_id, target_ref, access,
                                 account_ref, account_id)
             select $1, id, now() - interval '1 hour', $2, 'active', now() - interval '1 hour', $2,
                    connector_id, target_ref, access, $3, $3
               from entitlements where key = 'kill-cloud'",
        )
        .bind(principal)
        .bind(ends_at)
        .bind(&oid)
        .execute(&pool)
        .await
        .unwrap();
    }

    let database_url = database_url(&pool).await;
    let catalog_path = catalog_file.to_string_lossy().into_owned();
    let start = || {
        portal(&database_url, &catalog_path, crate::graph::SECRET)
            .env("LEASEGATE_LAB_MODE", "true")
            .spawn()
            .expect("starting the portal binary")
    };

    let mut portal = start();
    let kill_at = first_end + TimeDelta::seconds(2);
    tokio::time::sleep((kill_at - Utc::now()).to_std().unwrap_or_default()).await;
    portal.kill().expect("SIGKILL");
    portal.wait().unwrap();
    let done_before = count(&pool, "select count(*) from grants where state = 'revoked'").await;
    assert!(
        done_before > 0 && done_before < PEOPLE as i64,
        "the kill should land mid-way; {done_before} of {PEOPLE} were done"
    );

    let mut portal = start();
    let started = Instant::now();
    while count(&pool, "select count(*) from grants where state = 'revoked'").await < PEOPLE as i64
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every grant was removed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(&mut portal);

    assert!(
        sim.members(&group).await.is_empty(),
        "every membership gone"
    );
    assert_eq!(
        count(
            &pool,
            "select count(*) from (select grant_id from audit_events where action = 'grant.revoked'
                                    group by grant_id having count(*) = 1) once"
        )
        .await,
        PEOPLE as i64,
        "each removal is recorded exactly once"
    );
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        leasegate::server::db::audit::first_break(&mut conn)
            .await
            .unwrap(),
        None
    );
    std::fs::remove_dir_all(&work).ok();
}
