//! The engine against a real database and real directories: access appears at the start, is
//! gone after the end (read back from the directory), survives outages, and is shared safely
//! between replicas.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use leasegate::server::connectors::Connectors;
use leasegate::server::jobs::grants::Engine;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::directory::{Directory, openldap, private_openldap, samba, unique};
use crate::seed;

const CONNECTOR: &str = "test-directory";

fn connectors(dir: &Directory) -> Connectors {
    let mut c = Connectors::default();
    c.insert(CONNECTOR, Arc::new(dir.connector()));
    c
}

/// An engine running in this process, as the portal runs it.
pub(crate) struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(crate) fn start(pool: &PgPool, connectors: Connectors, lease: Duration) -> Self {
        let (stop, stopping) = watch::channel(false);
        let engine = Engine::new(pool.clone(), connectors, seed::engine_settings(lease));
        let task = tokio::spawn(leasegate::server::jobs::run_engine(engine, stopping));
        Self { stop, task }
    }

    pub(crate) async fn shut_down(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the engine stops when asked")
            .unwrap();
    }
}

/// Repeats `round` as often as a busy replica does, until the count query `pending` answers 0
/// or 90 seconds pass.
pub(crate) async fn until_done<F, Fut>(pool: PgPool, pending: &str, round: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(90) {
        round().await;
        if seed::count(&pool, pending).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` every 50 ms until it holds or `within` passes.
pub(crate) async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn person(pool: &PgPool, dir: &Directory, ldap: &mut ldap3::Ldap) -> (Uuid, String) {
    let id = unique();
    let upn = format!("eng.{id}@contoso.test");
    let dn = dir
        .add_user(ldap, &format!("Eng {id}"), &upn, None, None)
        .await;
    (seed::principal(pool, &upn, &format!("Eng {id}")).await, dn)
}

async fn grant_appears_then_goes(pool: PgPool, dir: &Directory) {
    let mut admin = dir.admin().await;
    let (who, dn) = person(&pool, dir, &mut admin).await;
    let group = dir
        .add_group(&mut admin, &format!("Lease {}", unique()), &[])
        .await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let starts_at = Utc::now() + TimeDelta::milliseconds(500);
    let ends_at = starts_at + TimeDelta::seconds(3);
    let grant = seed::grant(&pool, who, entitlement, starts_at, ends_at).await;
    let engine = Running::start(&pool, connectors(dir), Duration::from_secs(30));

    assert!(
        !dir.is_member(&mut admin, &group, &dn).await,
        "not before the start"
    );
    eventually(Duration::from_secs(10), "membership added", || async {
        dir.is_member(&mut dir.admin().await, &group, &dn).await
    })
    .await;
    assert!(Utc::now() >= starts_at, "added before its start");
    eventually(
        Duration::from_secs(5),
        "grant recorded as active",
        || async { seed::grant_state(&pool, grant).await == "active" },
    )
    .await;

    eventually(Duration::from_secs(10), "membership removed", || async {
        !dir.is_member(&mut dir.admin().await, &group, &dn).await
    })
    .await;
    assert!(Utc::now() >= ends_at, "removed before its end");
    eventually(
        Duration::from_secs(5),
        "grant recorded as revoked",
        || async { seed::grant_state(&pool, grant).await == "revoked" },
    )
    .await;
    let (revoked_at, verified_at, reason): (chrono::DateTime<Utc>, chrono::DateTime<Utc>, String) =
        sqlx::query_as("select revoked_at, verified_at, revoke_reason from grants where id = $1")
            .bind(grant)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(revoked_at >= ends_at && verified_at >= ends_at);
    assert_eq!(reason, "expired");
    assert_eq!(seed::events(&pool, grant, "grant.provisioned").await, 1);
    assert_eq!(seed::events(&pool, grant, "grant.revoked").await, 1);
    engine.shut_down().await;
}

#[sqlx::test]
async fn samba_membership_follows_the_lease(pool: PgPool) {
    grant_appears_then_goes(pool, samba()).await;
}

#[sqlx::test]
async fn openldap_membership_follows_the_lease(pool: PgPool) {
    grant_appears_then_goes(pool, openldap()).await;
}

/// Many grants ending together on a few groups: all removed, each recorded once.
#[sqlx::test]
async fn removals_due_together_are_all_done_once(pool: PgPool) {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let mut groups = Vec::new();
    for _ in 0..3 {
        let group = dir
            .add_group(&mut admin, &format!("Batch {}", unique()), &[])
            .await;
        let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
        groups.push((group, entitlement));
    }
    let now = Utc::now();
    let mut grants = Vec::new();
    let mut members = Vec::new();
    for i in 0..60 {
        let (who, dn) = person(&pool, dir, &mut admin).await;
        let (group, entitlement) = &groups[i % 3];
        let entitlement = *entitlement;
        grants.push(seed::grant(&pool, who, entitlement, now, now + TimeDelta::seconds(4)).await);
        members.push((group.clone(), dn));
    }
    let engine = Running::start(&pool, connectors(dir), Duration::from_secs(30));
    eventually(Duration::from_secs(20), "every grant revoked", || async {
        seed::count(
            &pool,
            "select count(*) from grants where state <> 'revoked'",
        )
        .await
            == 0
    })
    .await;
    for (group, dn) in &members {
        assert!(!dir.is_member(&mut admin, group, dn).await);
    }
    for grant in grants {
        assert_eq!(seed::events(&pool, grant, "grant.provisioned").await, 1);
        assert_eq!(seed::events(&pool, grant, "grant.revoked").await, 1);
    }
    engine.shut_down().await;
}

/// The directory goes away while grants fall due: they become overdue, with an audit event,
/// and are removed once it is back.
#[sqlx::test]
async fn removal_waits_out_a_directory_outage(pool: PgPool) {
    let dir = private_openldap();
    let mut admin = dir.admin().await;
    let group = dir
        .add_group(&mut admin, &format!("Outage {}", unique()), &[])
        .await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let mut grants = Vec::new();
    let mut dns = Vec::new();
    let now = Utc::now();
    for _ in 0..5 {
        let (who, dn) = person(&pool, &dir, &mut admin).await;
        grants.push(seed::grant(&pool, who, entitlement, now, now + TimeDelta::seconds(3)).await);
        dns.push(dn);
    }
    let engine = Running::start(&pool, connectors(&dir), Duration::from_secs(30));
    eventually(Duration::from_secs(10), "all provisioned", || async {
        seed::count(&pool, "select count(*) from grants where state = 'active'").await == 5
    })
    .await;
    drop(admin);
    dir.stop();
    eventually(Duration::from_secs(20), "grants marked overdue", || async {
        seed::count(
            &pool,
            "select count(*) from grants where state = 'revoking' and overdue_since is not null",
        )
        .await
            == 5
    })
    .await;
    for grant in &grants {
        assert_eq!(seed::events(&pool, *grant, "grant.overdue").await, 1);
    }
    dir.start();
    eventually(
        Duration::from_secs(60),
        "removed after the directory returned",
        || async {
            seed::count(
                &pool,
                "select count(*) from grants where state <> 'revoked'",
            )
            .await
                == 0
        },
    )
    .await;
    let mut admin = dir.admin().await;
    for dn in &dns {
        assert!(!dir.is_member(&mut admin, &group, dn).await);
    }
    for grant in &grants {
        assert_eq!(seed::events(&pool, *grant, "grant.revoked").await, 1);
    }
    engine.shut_down().await;
}

/// Two engines on one database: every grant provisioned and removed, none recorded twice.
#[sqlx::test]
async fn two_engines_share_the_work(pool: PgPool) {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let group = dir
        .add_group(&mut admin, &format!("Shared {}", unique()), &[])
        .await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let now = Utc::now();
    let mut grants = Vec::new();
    let mut dns = Vec::new();
    for i in 0..100 {
        let (who, dn) = person(&pool, dir, &mut admin).await;
        dns.push(dn);
        let start = now + TimeDelta::milliseconds(10 * i);
        grants.push(
            seed::grant(
                &pool,
                who,
                entitlement,
                start,
                start + TimeDelta::seconds(3),
            )
            .await,
        );
    }
    let a = Running::start(&pool, connectors(dir), Duration::from_secs(30));
    let b = Running::start(&pool, connectors(dir), Duration::from_secs(30));
    eventually(Duration::from_secs(30), "every grant revoked", || async {
        seed::count(
            &pool,
            "select count(*) from grants where state <> 'revoked'",
        )
        .await
            == 0
    })
    .await;
    a.shut_down().await;
    b.shut_down().await;
    for grant in &grants {
        assert_eq!(seed::events(&pool, *grant, "grant.provisioned").await, 1);
        assert_eq!(seed::events(&pool, *grant, "grant.revoked").await, 1);
    }
    for dn in &dns {
        assert!(!dir.is_member(&mut admin, &group, dn).await);
    }
}

/// A claim left by a crashed replica comes back once its lease has passed.
#[sqlx::test]
async fn abandoned_claims_come_back(pool: PgPool) {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let (who, dn) = person(&pool, dir, &mut admin).await;
    let group = dir
        .add_group(&mut admin, &format!("Crash {}", unique()), &[])
        .await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let now = Utc::now();
    let grant = seed::grant(&pool, who, entitlement, now, now + TimeDelta::hours(1)).await;
    // A replica claimed it and died.
    sqlx::query(
        "update grants set locked_by = 'dead-replica', locked_until = now() + interval '2 seconds'
         where id = $1",
    )
    .bind(grant)
    .execute(&pool)
    .await
    .unwrap();
    let engine = Running::start(&pool, connectors(dir), Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        seed::grant_state(&pool, grant).await,
        "scheduled",
        "the lease is respected"
    );
    eventually(
        Duration::from_secs(10),
        "provisioned after the lease",
        || async { seed::grant_state(&pool, grant).await == "active" },
    )
    .await;
    assert!(dir.is_member(&mut admin, &group, &dn).await);
    engine.shut_down().await;
}

/// Another replica holds a claim on one grant of a group: the engine does not work on a second
/// grant of the same group meanwhile (targets such as a VM port are rewritten whole, and two
/// replicas at once could undo each other), and does once that claim is given up. A grant of
/// another group is not held up.
#[sqlx::test]
async fn a_target_is_worked_on_by_one_replica_at_a_time(pool: PgPool) {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let (first, _) = person(&pool, dir, &mut admin).await;
    let (second, second_dn) = person(&pool, dir, &mut admin).await;
    let group = dir
        .add_group(&mut admin, &format!("Busy {}", unique()), &[])
        .await;
    let other = dir
        .add_group(&mut admin, &format!("Free {}", unique()), &[])
        .await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let elsewhere = seed::entitlement(&pool, CONNECTOR, &other).await;
    let now = Utc::now();
    let held = seed::grant(&pool, first, entitlement, now, now + TimeDelta::hours(1)).await;
    let waiting = seed::grant(&pool, second, entitlement, now, now + TimeDelta::hours(1)).await;
    let free = seed::grant(&pool, second, elsewhere, now, now + TimeDelta::hours(1)).await;
    sqlx::query(
        "update grants set locked_by = 'other-replica', locked_until = now() + interval '5 seconds'
         where id = $1",
    )
    .bind(held)
    .execute(&pool)
    .await
    .unwrap();
    let engine = Running::start(&pool, connectors(dir), Duration::from_secs(30));
    eventually(
        Duration::from_secs(10),
        "the other group's grant",
        || async { seed::grant_state(&pool, free).await == "active" },
    )
    .await;
    assert_eq!(
        seed::grant_state(&pool, waiting).await,
        "scheduled",
        "not while another replica works on the group"
    );
    assert!(!dir.is_member(&mut admin, &group, &second_dn).await);
    eventually(
        Duration::from_secs(15),
        "both provisioned once the claim lapsed",
        || async {
            seed::grant_state(&pool, waiting).await == "active"
                && seed::grant_state(&pool, held).await == "active"
        },
    )
    .await;
    assert!(dir.is_member(&mut admin, &group, &second_dn).await);
    engine.shut_down().await;
}

/// The trail the engine wrote is intact and cannot be edited.
#[sqlx::test]
async fn the_audit_trail_is_chained_and_insert_only(pool: PgPool) {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let (who, _) = person(&pool, dir, &mut admin).await;
    let group = dir
        .add_group(&mut admin, &format!("Audit {}", unique()), &[])
        .await;
    let entitlement = seed::entitlement(&pool, CONNECTOR, &group).await;
    let now = Utc::now();
    let grant = seed::grant(&pool, who, entitlement, now, now + TimeDelta::seconds(1)).await;
    let engine = Running::start(&pool, connectors(dir), Duration::from_secs(30));
    eventually(Duration::from_secs(10), "revoked", || async {
        seed::grant_state(&pool, grant).await == "revoked"
    })
    .await;
    engine.shut_down().await;

    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        leasegate::server::db::audit::first_break(&mut conn)
            .await
            .unwrap(),
        None
    );
    for statement in [
        "update audit_events set actor_label = 'someone else'",
        "delete from audit_events",
        "truncate audit_events",
    ] {
        let err = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(
            err.to_string().contains("insert-only"),
            "{statement}: {err}"
        );
    }
    // Tampering that bypasses the trigger (as the table owner could) is detected.
    sqlx::query("alter table audit_events disable trigger audit_events_no_change")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("update audit_events set details = '{\"forged\": true}' where position = 1")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        leasegate::server::db::audit::first_break(&mut conn)
            .await
            .unwrap(),
        Some(1)
    );
}

/// The engine's wake-up time, checked against its definition written the plain way (every due
/// grant, each waiting for its own claim and for the latest claim on its target): free grants,
/// a grant held by its own claim, a grant whose target another grant's claim holds, and a
/// request deadline.
#[sqlx::test]
async fn the_wake_up_time_waits_for_claims_on_the_target(pool: PgPool) {
    const DEFINITION: &str = "
        select extract(epoch from (least(
                 (select min(greatest(
                           g.next_due_at,
                           case when g.locked_until >= now() then g.locked_until end,
                           (select max(o.locked_until) from grants o
                             where o.connector_id = g.connector_id
                               and o.target_ref = g.target_ref and o.id <> g.id
                               and o.locked_by is not null and o.locked_until >= now())))
                    from grants g where g.next_due_at is not null),
                 (select min(expires_at) from access_requests where state = 'pending')
               ) - now()))::float8";
    let check = |situation: &'static str| {
        let pool = pool.clone();
        async move {
            let fast = leasegate::server::db::grants::seconds_until_next_due(&pool)
                .await
                .unwrap();
            let plain: Option<f64> = sqlx::query_scalar(DEFINITION)
                .fetch_one(&pool)
                .await
                .unwrap();
            match (fast, plain) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1.0, "{situation}: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "{situation}"),
            }
            fast
        }
    };
    assert_eq!(check("nothing at all").await, None);

    let group = seed::entitlement(&pool, "corp", "CN=Shared,OU=Groups").await;
    let other = seed::entitlement(&pool, "corp-2", "CN=Other,OU=Groups").await;
    let now = Utc::now();
    let mut people = Vec::new();
    for n in 0..4 {
        people.push(seed::principal(&pool, &format!("p{n}@contoso.test"), &format!("P {n}")).await);
    }
    let soon = seed::grant(
        &pool,
        people[0],
        group,
        now + TimeDelta::minutes(1),
        now + TimeDelta::hours(1),
    )
    .await;
    let later = seed::grant(
        &pool,
        people[1],
        group,
        now + TimeDelta::minutes(3),
        now + TimeDelta::hours(1),
    )
    .await;
    let elsewhere = seed::grant(
        &pool,
        people[2],
        other,
        now + TimeDelta::minutes(2),
        now + TimeDelta::hours(1),
    )
    .await;
    let wake = check("three free grants").await.unwrap();
    assert!(
        (50.0..70.0).contains(&wake),
        "the first is due in a minute: {wake}"
    );

    let claim = |id: Uuid, minutes: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "update grants set locked_by = 'w', locked_until = now() + make_interval(mins => $2::int) where id = $1",
            )
            .bind(id)
            .bind(minutes as i32)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    // The first is claimed for ten minutes: the grant elsewhere (due in 2) is next, and the
    // other grant of the held target waits for the claim too.
    claim(soon, 10).await;
    let wake = check("the first held by its claim").await.unwrap();
    assert!((110.0..130.0).contains(&wake), "{wake}");
    claim(elsewhere, 5).await;
    let wake = check("both targets held").await.unwrap();
    assert!(
        (290.0..310.0).contains(&wake),
        "the target elsewhere frees in 5: {wake}"
    );
    // A claim that has lapsed holds nothing back.
    sqlx::query("update grants set locked_until = now() - interval '1 minute' where id = $1")
        .bind(elsewhere)
        .execute(&pool)
        .await
        .unwrap();
    let wake = check("a lapsed claim").await.unwrap();
    assert!(wake < 130.0, "{wake}");
    // Nothing else due for a day: the claim on the held grant decides.
    sqlx::query("update grants set next_due_at = now() + interval '1 day' where id = any($1)")
        .bind(vec![elsewhere, later])
        .execute(&pool)
        .await
        .unwrap();
    let wake = check("only the held grant").await.unwrap();
    assert!((590.0..610.0).contains(&wake), "{wake}");
}
