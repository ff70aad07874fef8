//! `LdapDirectory` against real directories: a Samba AD domain controller and OpenLDAP. Every
//! claim is checked by reading the directory with a separate administrator connection.

use leasegate::server::config::Secret;
use leasegate::server::connectors::ldap::LdapDirectory;
use leasegate::server::connectors::{Connector, ConnectorError, Health};

use crate::directory::{Directory, openldap, samba, unique};

async fn grants_and_revokes_idempotently(dir: &Directory) {
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = format!("pat.{id}@contoso.test");
    let pat = dir
        .add_user(&mut admin, &format!("Pat {id}"), &upn, None, None)
        .await;
    let kim = dir
        .add_user(
            &mut admin,
            &format!("Kim {id}"),
            &format!("kim.{id}@contoso.test"),
            None,
            None,
        )
        .await;
    let group = dir
        .add_group(&mut admin, &format!("JIT Ops {id}"), &[])
        .await;
    let connector = dir.connector();

    let account = connector.find_account(&upn).await.unwrap().expect("found");
    assert!(leasegate::domain::policy::same_dn(&account.reference, &pat));
    assert_eq!(account.upn.as_deref(), Some(upn.as_str()));
    assert_eq!(
        connector
            .find_account(&format!("nobody.{id}@contoso.test"))
            .await
            .unwrap(),
        None
    );

    connector
        .grant(&group, std::slice::from_ref(&pat))
        .await
        .unwrap();
    assert!(dir.is_member(&mut admin, &group, &pat).await);
    // Already a member, alongside a new one: success, both members.
    connector
        .grant(&group, &[pat.clone(), kim.clone()])
        .await
        .unwrap();
    assert!(dir.is_member(&mut admin, &group, &kim).await);
    assert_eq!(
        connector
            .holding(&group, &[pat.clone(), kim.clone()])
            .await
            .unwrap()
            .len(),
        2
    );

    connector
        .revoke(&group, std::slice::from_ref(&pat))
        .await
        .unwrap();
    assert!(!dir.is_member(&mut admin, &group, &pat).await);
    assert!(dir.is_member(&mut admin, &group, &kim).await);
    // Already gone, alongside one still there: success, both gone.
    connector
        .revoke(&group, &[pat.clone(), kim.clone()])
        .await
        .unwrap();
    assert!(!dir.is_member(&mut admin, &group, &kim).await);
    assert!(
        connector
            .holding(&group, &[pat, kim])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(connector.health().await, Health::Healthy);
}

async fn escaped_names_work(dir: &Directory) {
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = format!("jane.obrien.{id}@contoso.test");
    let jane = dir
        .add_user(&mut admin, &format!("O'Brien, Jane {id}"), &upn, None, None)
        .await;
    assert!(
        leasegate::domain::policy::same_dn(
            &jane,
            &format!(r"CN=O'Brien\, Jane {id},{}", dir.people)
        ),
        "{jane}"
    );
    let group = dir
        .add_group(&mut admin, &format!("Finance (EU), Readers #{id}"), &[])
        .await;
    let connector = dir.connector();
    let account = connector.find_account(&upn).await.unwrap().expect("found");
    connector
        .grant(&group, std::slice::from_ref(&account.reference))
        .await
        .unwrap();
    assert!(dir.is_member(&mut admin, &group, &jane).await);
    assert_eq!(
        connector
            .holding(&group, std::slice::from_ref(&jane))
            .await
            .unwrap()
            .len(),
        1
    );
    connector
        .revoke(&group, &[account.reference])
        .await
        .unwrap();
    assert!(!dir.is_member(&mut admin, &group, &jane).await);
}

async fn nested_groups_are_reported(dir: &Directory) {
    let mut admin = dir.admin().await;
    let id = unique();
    let upn = format!("lee.{id}@contoso.test");
    let lee = dir
        .add_user(&mut admin, &format!("Lee {id}"), &upn, None, None)
        .await;
    let inner = dir
        .add_group(
            &mut admin,
            &format!("DBA Oncall {id}"),
            std::slice::from_ref(&lee),
        )
        .await;
    let middle = dir
        .add_group(
            &mut admin,
            &format!("DBA All {id}"),
            std::slice::from_ref(&inner),
        )
        .await;
    let target = dir
        .add_group(
            &mut admin,
            &format!("SQL Admins {id}"),
            std::slice::from_ref(&middle),
        )
        .await;
    let unrelated = dir.add_group(&mut admin, &format!("Other {id}"), &[]).await;
    let connector = dir.connector();

    let paths = connector.indirect_paths(&target, &lee).await.unwrap();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(
        leasegate::domain::policy::same_dn(&paths[0], &inner),
        "{paths:?}"
    );
    assert!(
        connector
            .indirect_paths(&unrelated, &lee)
            .await
            .unwrap()
            .is_empty()
    );

    let groups = connector.groups_of(&lee).await.unwrap();
    for expected in [&inner, &middle, &target] {
        assert!(
            groups
                .iter()
                .any(|g| leasegate::domain::policy::same_dn(g, expected)),
            "{expected} missing from {groups:?}"
        );
    }
    assert!(
        !groups
            .iter()
            .any(|g| leasegate::domain::policy::same_dn(g, &unrelated))
    );
}

async fn large_groups_are_read_completely(dir: &Directory, size: usize) {
    let mut admin = dir.admin().await;
    let id = unique();
    let mut members = Vec::with_capacity(size);
    for i in 0..size {
        members.push(
            dir.add_user(
                &mut admin,
                &format!("Bulk {id} {i:05}"),
                &format!("bulk.{id}.{i}@contoso.test"),
                None,
                None,
            )
            .await,
        );
    }
    let group = dir
        .add_group(&mut admin, &format!("Everyone {id}"), &members)
        .await;
    assert_eq!(dir.member_count(&mut admin, &group).await, size);
    let connector = dir.connector();
    let holders = connector.holders(&group).await.unwrap();
    assert_eq!(holders.len(), size);
    // Removal of 100 at once, proved by reading all members back.
    let leaving: Vec<String> = members[..100].to_vec();
    connector.revoke(&group, &leaving).await.unwrap();
    assert!(
        connector
            .holding(&group, &leaving)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        connector
            .holding(&group, &members[100..200])
            .await
            .unwrap()
            .len(),
        100
    );
    assert_eq!(dir.member_count(&mut admin, &group).await, size - 100);
}

async fn failures_are_classified(dir: &Directory) {
    let wrong_password =
        LdapDirectory::new("bad", dir.settings(), Secret::new("not-the-password")).unwrap();
    match wrong_password.find_account("x@contoso.test").await {
        Err(ConnectorError::Permanent(detail)) => assert!(detail.contains("49"), "{detail}"),
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    assert!(matches!(wrong_password.health().await, Health::Down(_)));

    let mut unreachable = dir.settings();
    unreachable.url = "ldaps://127.0.0.1:1".into();
    unreachable.timeout_seconds = 2;
    let unreachable = LdapDirectory::new("gone", unreachable, Secret::new("x")).unwrap();
    assert!(matches!(
        unreachable.grant("cn=g", &["cn=u".into()]).await,
        Err(ConnectorError::Transient(_))
    ));

    // A certificate from a CA we do not trust is refused: the system store does not know the
    // lab CA.
    let mut untrusted = dir.settings();
    untrusted.ca_file = None;
    let untrusted = LdapDirectory::new(
        "untrusted",
        untrusted,
        Secret::new(dir.admin_password.clone()),
    )
    .unwrap();
    match untrusted.find_account("x@contoso.test").await {
        Err(ConnectorError::Permanent(detail)) => {
            assert!(detail.contains("certificate"), "{detail}")
        }
        other => panic!("expected the certificate to be refused, got {other:?}"),
    }

    // Missing group: refused for good, not retried forever.
    let connector = dir.connector();
    let missing = format!("CN=Missing {},{}", unique(), dir.groups);
    let mut admin = dir.admin().await;
    let someone = dir
        .add_user(
            &mut admin,
            &format!("Sam {}", unique()),
            &format!("sam.{}@contoso.test", unique()),
            None,
            None,
        )
        .await;
    match connector.grant(&missing, &[someone]).await {
        Err(ConnectorError::Permanent(_)) => {}
        other => panic!("expected a permanent failure for a missing group, got {other:?}"),
    }
}

#[tokio::test]
async fn samba_grants_and_revokes_idempotently() {
    grants_and_revokes_idempotently(samba()).await;
}

#[tokio::test]
async fn samba_escaped_names() {
    escaped_names_work(samba()).await;
}

#[tokio::test]
async fn samba_nested_groups() {
    nested_groups_are_reported(samba()).await;
}

#[tokio::test]
async fn samba_group_of_5000() {
    large_groups_are_read_completely(samba(), 5000).await;
}

#[tokio::test]
async fn samba_failures() {
    failures_are_classified(samba()).await;
}

#[tokio::test]
async fn openldap_grants_and_revokes_idempotently() {
    grants_and_revokes_idempotently(openldap()).await;
}

#[tokio::test]
async fn openldap_escaped_names() {
    escaped_names_work(openldap()).await;
}

#[tokio::test]
async fn openldap_nested_groups() {
    nested_groups_are_reported(openldap()).await;
}

#[tokio::test]
async fn openldap_group_of_5000() {
    large_groups_are_read_completely(openldap(), 5000).await;
}

#[tokio::test]
async fn openldap_failures() {
    failures_are_classified(openldap()).await;
}
