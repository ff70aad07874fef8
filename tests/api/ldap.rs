//! `LdapDirectory` against real directories: a Samba AD domain controller and OpenLDAP. Every
//! claim is checked by reading the directory with a separate administrator connection.

use leasegate::domain::access::Access;
use leasegate::server::app::config::Secret;
use leasegate::server::connectors::ldap::LdapDirectory;
use leasegate::server::connectors::{Connector, ConnectorError, Health, Lease};

use crate::directory::{Directory, openldap, samba, unique};

/// Leases for these accounts: an hour from now, for the calls that take them.
fn leases(accounts: &[String]) -> Vec<Lease> {
    accounts
        .iter()
        .map(|account| Lease {
            account: account.clone(),
            starts_at: chrono::Utc::now(),
            ends_at: chrono::Utc::now() + chrono::Duration::hours(1),
            reason: String::new(),
            source: None,
        })
        .collect()
}

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
        .grant(
            &Access::AdGroup,
            &group,
            &leases(std::slice::from_ref(&pat)),
        )
        .await
        .unwrap();
    assert!(dir.is_member(&mut admin, &group, &pat).await);
    // Already a member, alongside a new one: success, both members.
    connector
        .grant(
            &Access::AdGroup,
            &group,
            &leases(&[pat.clone(), kim.clone()]),
        )
        .await
        .unwrap();
    assert!(dir.is_member(&mut admin, &group, &kim).await);
    assert_eq!(
        connector
            .holding(&Access::AdGroup, &group, &[pat.clone(), kim.clone()])
            .await
            .unwrap()
            .len(),
        2
    );

    connector
        .revoke(&Access::AdGroup, &group, std::slice::from_ref(&pat))
        .await
        .unwrap();
    assert!(!dir.is_member(&mut admin, &group, &pat).await);
    assert!(dir.is_member(&mut admin, &group, &kim).await);
    // Already gone, alongside one still there: success, both gone.
    connector
        .revoke(&Access::AdGroup, &group, &[pat.clone(), kim.clone()])
        .await
        .unwrap();
    assert!(!dir.is_member(&mut admin, &group, &kim).await);
    assert!(
        connector
            .holding(&Access::AdGroup, &group, &[pat, kim])
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
        .grant(
            &Access::AdGroup,
            &group,
            &leases(std::slice::from_ref(&account.reference)),
        )
        .await
        .unwrap();
    assert!(dir.is_member(&mut admin, &group, &jane).await);
    assert_eq!(
        connector
            .holding(&Access::AdGroup, &group, std::slice::from_ref(&jane))
            .await
            .unwrap()
            .len(),
        1
    );
    connector
        .revoke(&Access::AdGroup, &group, &[account.reference])
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
    connector
        .revoke(&Access::AdGroup, &group, &leaving)
        .await
        .unwrap();
    assert!(
        connector
            .holding(&Access::AdGroup, &group, &leaving)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        connector
            .holding(&Access::AdGroup, &group, &members[100..200])
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
        unreachable
            .grant(&Access::AdGroup, "cn=g", &leases(&["cn=u".into()]))
            .await,
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
    match connector
        .grant(&Access::AdGroup, &missing, &leases(&[someone]))
        .await
    {
        Err(ConnectorError::Permanent(_)) => {}
        other => panic!("expected a permanent failure for a missing group, got {other:?}"),
    }
}

/// Stable ids: found, looked up in a batch and one by one; people only (AD computer accounts
/// never match); disabled accounts read as disabled; short names only within `upn_domains`.
async fn accounts_are_found_by_stable_id(dir: &Directory) {
    let mut admin = dir.admin().await;
    let id = unique();
    let connector = dir.connector();
    let mut accounts = Vec::new();
    for n in 0..3 {
        let upn = format!("stable.{id}.{n}@contoso.test");
        dir.add_user(&mut admin, &format!("Stable {id} {n}"), &upn, None, None)
            .await;
        let account = connector.find_account(&upn).await.unwrap().expect("found");
        assert!(account.enabled, "{account:?}");
        accounts.push(account);
    }
    let ids: Vec<String> = accounts
        .iter()
        .map(|a| a.stable_id.clone().expect("a stable id"))
        .collect();
    let mut found = connector.accounts_by_id(&ids).await.unwrap();
    found.sort_by(|a, b| a.reference.cmp(&b.reference));
    let mut expected: Vec<String> = accounts.iter().map(|a| a.reference.clone()).collect();
    expected.sort();
    assert_eq!(
        found
            .iter()
            .map(|a| a.reference.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        connector
            .account_by_id(&ids[1])
            .await
            .unwrap()
            .map(|a| a.reference),
        Some(accounts[1].reference.clone())
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_eq!(connector.account_by_id(&unknown).await.unwrap(), None);
    let group = dir
        .add_group(&mut admin, &format!("Stable {id}"), &[])
        .await;
    let target = connector
        .target(&Access::AdGroup, &group)
        .await
        .unwrap()
        .expect("the group");
    let by_id = connector
        .target_by_id(
            &Access::AdGroup,
            target.stable_id.as_deref().expect("a group id"),
        )
        .await
        .unwrap()
        .expect("found by id");
    assert!(leasegate::domain::policy::same_dn(&by_id.reference, &group));
    assert_eq!(
        connector
            .target(&Access::AdGroup, &accounts[0].reference)
            .await
            .unwrap(),
        None,
        "not a group"
    );

    if dir.kind == crate::directory::Kind::Samba {
        // A computer with the same UPN is not a person; a disabled account reads as disabled.
        let upn = format!("pc.{id}@contoso.test");
        let sam = format!("pc{}$", &id[..10]);
        let dn = format!("CN=PC {id},{}", dir.people);
        admin
            .add(
                &dn,
                vec![
                    ("objectClass", std::collections::HashSet::from(["computer"])),
                    (
                        "sAMAccountName",
                        std::collections::HashSet::from([sam.as_str()]),
                    ),
                    (
                        "userPrincipalName",
                        std::collections::HashSet::from([upn.as_str()]),
                    ),
                ],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        dir.wait_for(&mut admin, &dn).await;
        assert_eq!(
            connector.find_account(&upn).await.unwrap(),
            None,
            "computers never match"
        );
        admin
            .modify(
                &accounts[2].reference,
                vec![ldap3::Mod::Replace(
                    "userAccountControl",
                    std::collections::HashSet::from(["546"]),
                )],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        let disabled = connector
            .account(&accounts[2].reference)
            .await
            .unwrap()
            .unwrap();
        assert!(!disabled.enabled, "{disabled:?}");

        // sAMAccountName keeps only the part before @: the UPN's domain must be declared.
        let mut settings = dir.settings();
        settings.account_attribute =
            leasegate::server::connectors::ldap::AccountAttribute::SamAccountName;
        settings.upn_domains = vec!["contoso.test".into()];
        let short =
            LdapDirectory::new("short", settings, Secret::new(dir.admin_password.clone())).unwrap();
        let sam_of_first: String = {
            let (entries, _) = admin
                .search(
                    &accounts[0].reference,
                    ldap3::Scope::Base,
                    "(objectClass=*)",
                    vec!["sAMAccountName"],
                )
                .await
                .unwrap()
                .success()
                .unwrap();
            ldap3::SearchEntry::construct(entries.into_iter().next().unwrap()).attrs
                ["sAMAccountName"][0]
                .clone()
        };
        let found = short
            .find_account(&format!("{sam_of_first}@contoso.test"))
            .await
            .unwrap();
        assert_eq!(
            found.map(|a| a.reference),
            Some(accounts[0].reference.clone())
        );
        assert_eq!(
            short
                .find_account(&format!("{sam_of_first}@fabrikam.test"))
                .await
                .unwrap(),
            None,
            "another domain's person with the same short name"
        );
    }
}

#[tokio::test]
async fn samba_accounts_by_stable_id() {
    accounts_are_found_by_stable_id(samba()).await;
}

#[tokio::test]
async fn openldap_accounts_by_stable_id() {
    accounts_are_found_by_stable_id(openldap()).await;
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
