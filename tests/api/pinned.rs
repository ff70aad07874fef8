//! Pinned grants: removal acts on exactly the target and account a grant was provisioned on,
//! finds a renamed or moved account by its stable id, and never records "verified" without a
//! read-back. The fast tier (an in-memory directory) covers the engine's logic; a real Samba
//! AD DC covers the rename and move through LDAP.

use leasegate::domain::step::Lifecycle as _;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use leasegate::domain::grant::{GrantEvent, GrantState, RevokeReason};
use leasegate::server::catalog::{self, StoreError, Trust};
use leasegate::server::connectors::Connectors;
use leasegate::server::connectors::ldap::LdapDirectory;
use leasegate::server::connectors::memory::MemoryDirectory;
use leasegate::server::db::audit::Actor;
use leasegate::server::db::grants;
use leasegate::server::jobs::grants::{Engine, Pass};
use sqlx::PgPool;
use uuid::Uuid;

use crate::directory::{samba, unique};
use crate::seed;

const MEMORY: &str = "memory";

fn engine(
    pool: &PgPool,
    name: &str,
    connector: Arc<dyn leasegate::server::connectors::Connector>,
) -> Engine {
    let mut connectors = Connectors::default();
    connectors.insert(name, connector);
    Engine::new(
        pool.clone(),
        connectors,
        crate::seed::engine_settings(std::time::Duration::from_secs(30)),
    )
}

struct Lease {
    dir: Arc<MemoryDirectory>,
    engine: Engine,
    grant: Uuid,
    group: String,
    account: String,
}

/// A person with a lease on a fresh group in an in-memory directory, already provisioned.
async fn provisioned_lease(pool: &PgPool) -> Lease {
    let dir = Arc::new(MemoryDirectory::new());
    let id = unique();
    let upn = format!("pinned.{id}@contoso.test");
    let account = dir.add_person(&upn, "Pinned Person", None).reference;
    let group = format!("cn=pinned-{id},ou=groups");
    dir.add_group(&group);
    let principal = seed::principal(pool, &upn, "Pinned Person").await;
    let entitlement = seed::entitlement(pool, MEMORY, &group).await;
    let now = Utc::now();
    let grant = seed::grant(pool, principal, entitlement, now, now + TimeDelta::hours(1)).await;
    let engine = engine(pool, MEMORY, dir.clone());
    let pass = engine.run_once().await.unwrap();
    assert_eq!(pass.provisioned, 1, "{pass:?}");
    assert_eq!(dir.members(&group), vec![account.clone()]);
    Lease {
        dir,
        engine,
        grant,
        group,
        account,
    }
}

/// Makes the lease due for removal now, as its end arriving would.
async fn end_now(pool: &PgPool, grant: Uuid) {
    sqlx::query(
        "update grants set starts_at = now() - interval '2 hours',
                ends_at = now() - interval '1 second', next_due_at = now() where id = $1",
    )
    .bind(grant)
    .execute(pool)
    .await
    .unwrap();
}

#[derive(Debug, sqlx::FromRow)]
struct Ended {
    state: String,
    removal: Option<String>,
    verified: bool,
    attention: Option<String>,
    overdue: bool,
    account_id: Option<String>,
}

async fn ended(pool: &PgPool, grant: Uuid) -> Ended {
    sqlx::query_as(
        "select state, removal, verified_at is not null as verified, attention,
                overdue_since is not null as overdue, account_id
           from grants where id = $1",
    )
    .bind(grant)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn a_renamed_account_is_removed_where_it_is_now(pool: PgPool) {
    let lease = provisioned_lease(&pool).await;
    let provisioned: serde_json::Value = sqlx::query_scalar(
        "select details from audit_events where grant_id = $1 and action = 'grant.provisioned'",
    )
    .bind(lease.grant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        provisioned["account_id"].is_string() && provisioned["target_id"].is_string(),
        "the trail records the stable ids: {provisioned}"
    );
    assert!(
        ended(&pool, lease.grant).await.account_id.is_some(),
        "the account is pinned by id"
    );
    let moved = format!("cn=renamed,ou=elsewhere,{}", unique());
    lease.dir.rename_account(&lease.account, &moved);
    end_now(&pool, lease.grant).await;
    let pass = lease.engine.run_once().await.unwrap();
    assert_eq!(pass.revoked, 1, "{pass:?}");
    assert!(
        lease.dir.members(&lease.group).is_empty(),
        "removed from the renamed account"
    );
    let e = ended(&pool, lease.grant).await;
    assert_eq!(
        (e.state.as_str(), e.removal.as_deref(), e.verified),
        ("revoked", Some("verified"), true)
    );
    let account: String = sqlx::query_scalar(
        "select details->>'account' from audit_events where grant_id = $1 and action = 'grant.revoked'",
    )
    .bind(lease.grant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(account, moved, "the trail names where the removal acted");
}

#[sqlx::test]
async fn a_catalog_change_cannot_move_where_a_live_lease_is_removed_from(pool: PgPool) {
    let lease = provisioned_lease(&pool).await;
    let other = format!("cn=other-{},ou=groups", unique());
    lease.dir.add_group(&other);
    lease.dir.add_member(&other, &lease.account);
    // Whatever changes the entry's target (an admin, a script), the lease keeps its own.
    sqlx::query("update entitlements set target_ref = $1")
        .bind(&other)
        .execute(&pool)
        .await
        .unwrap();
    end_now(&pool, lease.grant).await;
    assert_eq!(lease.engine.run_once().await.unwrap().revoked, 1);
    assert!(
        lease.dir.members(&lease.group).is_empty(),
        "removed from the pinned group"
    );
    assert_eq!(
        lease.dir.members(&other),
        vec![lease.account.clone()],
        "the entry's new group was not touched"
    );
}

#[sqlx::test]
async fn nothing_is_verified_without_a_read_back(pool: PgPool) {
    let lease = provisioned_lease(&pool).await;
    lease.dir.ignore_removals(true);
    end_now(&pool, lease.grant).await;
    let pass = lease.engine.run_once().await.unwrap();
    assert_eq!((pass.revoked, pass.failed), (0, 1), "{pass:?}");
    let e = ended(&pool, lease.grant).await;
    assert_eq!((e.state.as_str(), e.verified), ("revoking", false));
    assert_eq!(lease.dir.members(&lease.group), vec![lease.account.clone()]);

    // The directory behaves again: the retry removes it and proves it.
    lease.dir.ignore_removals(false);
    sqlx::query("update grants set next_due_at = now() where id = $1")
        .bind(lease.grant)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(lease.engine.run_once().await.unwrap().revoked, 1);
    assert!(ended(&pool, lease.grant).await.verified);
}

#[sqlx::test]
async fn a_lease_that_never_started_ends_unverified_and_untouched(pool: PgPool) {
    let dir = Arc::new(MemoryDirectory::new());
    let upn = format!("later.{}@contoso.test", unique());
    dir.add_person(&upn, "Later", None);
    let group = format!("cn=later-{},ou=groups", unique());
    dir.add_group(&group);
    let principal = seed::principal(&pool, &upn, "Later").await;
    let entitlement = seed::entitlement(&pool, MEMORY, &group).await;
    let now = Utc::now();
    let grant = seed::grant(
        &pool,
        principal,
        entitlement,
        now + TimeDelta::hours(1),
        now + TimeDelta::hours(2),
    )
    .await;
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        grants::withdraw(
            &mut conn,
            grant,
            GrantState::Scheduled.step(GrantEvent::Withdrawn).unwrap(),
            RevokeReason::Returned
        )
        .await
        .unwrap()
    );
    let engine = engine(&pool, MEMORY, dir.clone());
    let calls = dir.calls();
    assert_eq!(engine.run_once().await.unwrap().revoked, 1);
    let e = ended(&pool, grant).await;
    assert_eq!(
        (e.state.as_str(), e.removal.as_deref(), e.verified),
        ("revoked", Some("never_provisioned"), false),
        "nothing was added, so nothing is claimed verified"
    );
    assert_eq!(
        seed::events(&pool, grant, "grant.ended_unprovisioned").await,
        1
    );
    assert_eq!(seed::events(&pool, grant, "grant.revoked").await, 0);
    assert!(dir.calls() - calls <= 1, "at most the target was read");
}

#[sqlx::test]
async fn a_vanished_account_needs_a_person_and_is_never_called_verified(pool: PgPool) {
    let lease = provisioned_lease(&pool).await;
    lease.dir.delete_account(&lease.account);
    end_now(&pool, lease.grant).await;
    let pass = lease.engine.run_once().await.unwrap();
    assert_eq!((pass.revoked, pass.failed), (0, 1), "{pass:?}");
    let e = ended(&pool, lease.grant).await;
    assert_eq!(e.state, "revoking");
    assert_eq!(e.attention.as_deref(), Some("account_missing"));
    assert!(e.overdue, "raised like an overdue removal");
    // Tried again later, still missing: flagged once in the trail, not on every attempt.
    sqlx::query("update grants set next_due_at = now() where id = $1")
        .bind(lease.grant)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        lease.engine.run_once().await.unwrap(),
        Pass {
            provisioned: 0,
            revoked: 0,
            failed: 1
        }
    );
    assert_eq!(
        seed::events(&pool, lease.grant, "grant.account_missing").await,
        1
    );

    // A person closes it; it ends revoked but never verified.
    let admin = seed::principal(&pool, &format!("admin.{}@contoso.test", unique()), "Admin").await;
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        grants::resolve_missing(
            &mut conn,
            lease.grant,
            GrantState::Revoking
                .step(GrantEvent::ClosedByPerson)
                .unwrap(),
            &Actor::person(admin, "Admin"),
            "account deleted by HR"
        )
        .await
        .unwrap()
    );
    let e = ended(&pool, lease.grant).await;
    assert_eq!(
        (
            e.state.as_str(),
            e.removal.as_deref(),
            e.verified,
            e.attention
        ),
        ("revoked", Some("resolved"), false, None)
    );
    assert_eq!(
        seed::events(&pool, lease.grant, "grant.removal_resolved").await,
        1
    );
}

const CATALOG: &str = r#"
[connectors.memory]
kind = "ldap"
url = "ldaps://unused.test"
bind_dn = "cn=x"
password_env = "LEASEGATE_SECRET_UNUSED"
user_base = "ou=people"
group_base = "ou=groups"

[policies.auto]
name = "Auto"
durations = { default_minutes = 60, max_minutes = 480 }

[[entitlements]]
key = "ops"
connector = "memory"
group = "@GROUP@"
name = "Operations"
policy = "auto"
"#;

#[sqlx::test]
async fn a_reload_that_retargets_a_live_lease_is_refused(pool: PgPool) {
    let store = |group: &str| {
        let text = CATALOG.replace("@GROUP@", group);
        let pool = pool.clone();
        async move {
            let parsed = catalog::parse(&text, "catalog.toml", &Trust::default()).unwrap();
            catalog::store(
                &pool,
                &parsed,
                "catalog.toml",
                &text,
                &Actor::system("test"),
            )
            .await
        }
    };
    store("cn=ops,ou=groups").await.unwrap();
    let entitlement: Uuid = sqlx::query_scalar("select id from entitlements where key = 'ops'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let principal = seed::principal(&pool, "holder@contoso.test", "Holder").await;
    let now = Utc::now();
    let grant = seed::grant(
        &pool,
        principal,
        entitlement,
        now,
        now + TimeDelta::hours(1),
    )
    .await;

    match store("cn=ops-new,ou=groups").await {
        Err(StoreError::Refused(problems)) => {
            let text = problems.join("\n");
            assert!(
                text.contains("catalog.toml:15"),
                "names the entry's line: {text}"
            );
            assert!(
                text.contains("`ops`") && text.contains("holder@contoso.test"),
                "{text}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let target: String =
        sqlx::query_scalar("select target_ref from entitlements where key = 'ops'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(target, "cn=ops,ou=groups", "nothing was written");

    // Once the lease has ended, the entry may move.
    sqlx::query("update grants set state = 'revoked', removal = 'verified', verified_at = now(), next_due_at = null where id = $1")
        .bind(grant)
        .execute(&pool)
        .await
        .unwrap();
    store("cn=ops-new,ou=groups").await.unwrap();
}

/// The rename-and-move that the in-memory test models, on a real Active Directory, out of the
/// connector's `user_base` (as AD administrators move someone who changes team or leaves): AD
/// updates the group's member value itself, and the engine finds the account by its objectGUID
/// anywhere in the domain and removes it on time.
#[sqlx::test]
async fn samba_an_account_renamed_and_moved_during_a_lease_is_removed_by_guid(pool: PgPool) {
    let dir = samba();
    let mut ldap = dir.admin().await;
    let id = unique();
    let upn = format!("mover.{id}@contoso.test");
    let dn = dir
        .add_user(&mut ldap, &format!("Mover {id}"), &upn, None, None)
        .await;
    let group = dir.add_group(&mut ldap, &format!("Pinned {id}"), &[]).await;
    // The connector reads people from their OU only; the move below leaves it.
    let settings = dir.settings();
    assert!(
        !dir.groups
            .to_lowercase()
            .ends_with(&settings.user_base.to_lowercase())
    );
    let connector = Arc::new(
        LdapDirectory::new(
            "samba-pinned",
            settings,
            leasegate::server::app::config::Secret::new(dir.admin_password.clone()),
        )
        .unwrap(),
    );
    let principal = seed::principal(&pool, &upn, "Mover").await;
    let entitlement = seed::entitlement(&pool, "samba-pinned", &group).await;
    let now = Utc::now();
    let grant = seed::grant(
        &pool,
        principal,
        entitlement,
        now,
        now + TimeDelta::hours(1),
    )
    .await;
    let engine = engine(&pool, "samba-pinned", connector);
    let pass = engine.run_once().await.unwrap();
    let error: Option<String> = sqlx::query_scalar("select last_error from grants where id = $1")
        .bind(grant)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pass.provisioned, 1, "{pass:?}: {error:?}");
    assert!(dir.is_member(&mut ldap, &group, &dn).await);
    let pinned = ended(&pool, grant)
        .await
        .account_id
        .expect("objectGUID pinned");

    // Renamed and moved to another OU while the lease runs.
    let new_rdn = format!("CN=Moved {id}");
    ldap.modifydn(&dn, &new_rdn, true, Some(&dir.groups))
        .await
        .unwrap()
        .success()
        .unwrap();
    let moved = format!("{new_rdn},{}", dir.groups);
    dir.wait_for(&mut ldap, &moved).await;
    assert!(
        dir.is_member(&mut ldap, &group, &moved).await,
        "AD keeps the membership on the moved account"
    );

    end_now(&pool, grant).await;
    let pass = engine.run_once().await.unwrap();
    assert_eq!(pass.revoked, 1, "{pass:?}");
    assert!(
        !dir.is_member(&mut ldap, &group, &moved).await,
        "really gone (read as admin)"
    );
    assert_eq!(dir.member_count(&mut ldap, &group).await, 0);
    let e = ended(&pool, grant).await;
    assert_eq!((e.removal.as_deref(), e.verified), (Some("verified"), true));
    let details: serde_json::Value = sqlx::query_scalar(
        "select details from audit_events where grant_id = $1 and action = 'grant.revoked'",
    )
    .bind(grant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(details["account_id"], pinned.as_str());
    assert!(
        details["account"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .starts_with(&new_rdn.to_lowercase()),
        "{details}"
    );
}
