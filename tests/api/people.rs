//! The people sync's sources against real directories: a first pass lists everyone (with
//! manager, department, status and the anchor that names the same human in Entra), a later
//! pass only who changed since (Active Directory's `uSNChanged`), and a cursor from another
//! database starts over.

use std::collections::HashSet;

use base64::Engine as _;
use leasegate::server::connectors::{Connector, DirectoryPerson, PeoplePass};

use crate::directory::{openldap, samba, unique};

fn found(pass: &PeoplePass, dn: &str) -> Option<DirectoryPerson> {
    pass.changed
        .iter()
        .find(|p| p.account.reference.eq_ignore_ascii_case(dn))
        .cloned()
}

fn same_dn(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

pub(crate) async fn replace(ldap: &mut ldap3::Ldap, dn: &str, changes: &[(&str, &str)]) {
    let mods = changes
        .iter()
        .map(|(attr, value)| ldap3::Mod::Replace(*attr, HashSet::from([*value])))
        .collect();
    ldap.modify(dn, mods).await.unwrap().success().unwrap();
}

#[tokio::test]
async fn active_directory_people_are_synced_by_change_number() {
    let dir = samba();
    let mut admin = dir.admin().await;
    let id = unique();
    let mut add = async |name: &str, manager: Option<&str>| {
        dir.add_user(
            &mut admin,
            &format!("{name} {id}"),
            &format!("{}.{id}@contoso.test", name.to_lowercase()),
            manager,
            Some("Sales"),
        )
        .await
    };
    let boss = add("Boss", None).await;
    let next_boss = add("Nextboss", None).await;
    let worker = add("Worker", Some(&boss)).await;
    let steady = add("Steady", Some(&boss)).await;
    let leaver = add("Leaver", None).await;
    let mut admin = dir.admin().await;
    for dn in [&boss, &next_boss, &worker, &steady, &leaver] {
        dir.wait_for(&mut admin, dn).await;
    }
    let connector = dir.connector();

    let first = connector.people(None).await.unwrap();
    assert!(first.complete, "the first pass lists everyone");
    let w = found(&first, &worker).expect("the worker is listed");
    assert!(same_dn(w.account.manager.as_deref(), &boss), "{w:?}");
    assert_eq!(w.account.department.as_deref(), Some("Sales"));
    assert!(w.account.enabled);
    // The anchor is the objectGUID's bytes in base64: what Entra keeps as the synced user's
    // onPremisesImmutableId.
    let anchor = base64::engine::general_purpose::STANDARD
        .decode(w.anchor.as_deref().unwrap())
        .unwrap();
    let guid = uuid::Uuid::from_bytes_le(anchor.try_into().unwrap());
    assert_eq!(
        Some(guid.hyphenated().to_string()),
        w.account.stable_id,
        "anchor and stable id name the same object"
    );

    // A new manager and department for the worker; the leaver is disabled.
    replace(
        &mut admin,
        &worker,
        &[("manager", &next_boss), ("department", "Marketing")],
    )
    .await;
    replace(&mut admin, &leaver, &[("userAccountControl", "546")]).await;
    let second = connector.people(Some(&first.cursor)).await.unwrap();
    assert!(!second.complete);
    let w = found(&second, &worker).expect("the worker changed");
    assert!(same_dn(w.account.manager.as_deref(), &next_boss), "{w:?}");
    assert_eq!(w.account.department.as_deref(), Some("Marketing"));
    assert!(
        !found(&second, &leaver)
            .expect("the leaver changed")
            .account
            .enabled
    );
    assert!(
        found(&second, &steady).is_none(),
        "someone unchanged is not in an incremental pass"
    );

    let third = connector.people(Some(&second.cursor)).await.unwrap();
    assert!(found(&third, &worker).is_none() && found(&third, &leaver).is_none());

    // A cursor of another database (a restored domain controller) starts over.
    let other = connector
        .people(Some("ad-usn:00000000-0000-4000-8000-000000000000:1"))
        .await
        .unwrap();
    assert!(other.complete);
    assert!(found(&other, &steady).is_some());
}

#[tokio::test]
async fn other_ldap_directories_are_read_whole_each_time() {
    let dir = openldap();
    let mut admin = dir.admin().await;
    let id = unique();
    let boss = dir
        .add_user(
            &mut admin,
            &format!("Boss {id}"),
            &format!("boss.{id}@contoso.test"),
            None,
            None,
        )
        .await;
    let worker = dir
        .add_user(
            &mut admin,
            &format!("Worker {id}"),
            &format!("worker.{id}@contoso.test"),
            Some(&boss),
            Some("Sales"),
        )
        .await;
    dir.wait_for(&mut admin, &worker).await;
    let connector = dir.connector();
    let first = connector.people(None).await.unwrap();
    let again = connector.people(Some(&first.cursor)).await.unwrap();
    for pass in [&first, &again] {
        assert!(pass.complete);
        let w = found(pass, &worker).expect("listed");
        assert!(same_dn(w.account.manager.as_deref(), &boss));
        assert_eq!(w.account.department.as_deref(), Some("Sales"));
        assert_eq!(w.anchor, None, "no objectGUID outside Active Directory");
    }
}
