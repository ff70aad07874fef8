//! `MemoryDirectory`: a directory kept in memory, for the fast test tier (engine and service
//! tests that do not need LDAP). It follows the trait's contract as the real directory does
//! (idempotent adds and removes, stable ids that survive renames) and takes scripted faults:
//! fail the next calls, throttle, slow every call down, or acknowledge removals without doing
//! them. Everything that talks LDAP is still tested against real directories.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{Account, Connector, ConnectorError, Health, Lease, Receipt, Target};
use crate::domain::access::Access;

/// Which calls a scripted fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    Any,
    Grant,
    Revoke,
    /// Finding and reading accounts and targets.
    Lookup,
}

#[derive(Debug, Default)]
struct Group {
    stable_id: String,
    /// Account references, lower-cased.
    members: BTreeSet<String>,
}

#[derive(Debug)]
struct Fault {
    calls: Calls,
    remaining: u32,
    error: ConnectorError,
}

#[derive(Debug, Default)]
struct State {
    /// By lower-cased reference.
    accounts: BTreeMap<String, Account>,
    groups: BTreeMap<String, Group>,
    faults: Vec<Fault>,
    delay: Duration,
    removals_ignored: bool,
    calls: u64,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    state: Mutex<State>,
}

fn key(reference: &str) -> String {
    reference.trim().to_lowercase()
}

impl MemoryDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("memory directory lock"))
    }

    /// Adds a person; their reference is `cn=<upn>,ou=people`.
    pub fn add_person(&self, upn: &str, name: &str, manager: Option<&str>) -> Account {
        let account = Account {
            reference: format!("cn={upn},ou=people"),
            stable_id: Some(uuid::Uuid::new_v4().to_string()),
            enabled: true,
            upn: Some(upn.to_string()),
            display_name: Some(name.to_string()),
            department: None,
            manager: manager.map(str::to_string),
            in_scope: true,
        };
        self.with(|s| s.accounts.insert(key(&account.reference), account.clone()));
        account
    }

    /// Adds an empty group.
    pub fn add_group(&self, reference: &str) -> Target {
        let stable_id = uuid::Uuid::new_v4().to_string();
        self.with(|s| {
            s.groups.insert(
                key(reference),
                Group {
                    stable_id: stable_id.clone(),
                    members: BTreeSet::new(),
                },
            )
        });
        Target {
            reference: reference.to_string(),
            stable_id: Some(stable_id),
        }
    }

    /// The group's members (lower-cased references).
    pub fn members(&self, group: &str) -> Vec<String> {
        self.with(|s| {
            s.groups
                .get(&key(group))
                .map(|g| g.members.iter().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// Puts a member into a group directly, as an administrator of the directory would.
    pub fn add_member(&self, group: &str, account: &str) {
        self.with(|s| {
            if let Some(g) = s.groups.get_mut(&key(group)) {
                g.members.insert(key(account));
            }
        });
    }

    /// Renames (or moves) an account; group memberships follow, as AD's linked values do.
    pub fn rename_account(&self, from: &str, to: &str) {
        self.with(|s| {
            if let Some(mut account) = s.accounts.remove(&key(from)) {
                account.reference = to.to_string();
                s.accounts.insert(key(to), account);
            }
            for group in s.groups.values_mut() {
                if group.members.remove(&key(from)) {
                    group.members.insert(key(to));
                }
            }
        });
    }

    /// Renames (or moves) a group.
    pub fn rename_group(&self, from: &str, to: &str) {
        self.with(|s| {
            if let Some(group) = s.groups.remove(&key(from)) {
                s.groups.insert(key(to), group);
            }
        });
    }

    /// Deletes an account and its memberships.
    pub fn delete_account(&self, reference: &str) {
        self.with(|s| {
            s.accounts.remove(&key(reference));
            for group in s.groups.values_mut() {
                group.members.remove(&key(reference));
            }
        });
    }

    pub fn set_enabled(&self, reference: &str, enabled: bool) {
        self.with(|s| {
            if let Some(a) = s.accounts.get_mut(&key(reference)) {
                a.enabled = enabled;
            }
        });
    }

    /// The next `count` calls of the kind fail with `error`.
    pub fn fail_next(&self, calls: Calls, count: u32, error: ConnectorError) {
        self.with(|s| {
            s.faults.push(Fault {
                calls,
                remaining: count,
                error,
            })
        });
    }

    /// Every call waits this long first (a slow directory).
    pub fn set_delay(&self, delay: Duration) {
        self.with(|s| s.delay = delay);
    }

    /// Removals answer success and change nothing (a directory that lies, or a replica that
    /// has not caught up): what the read-back after a removal is for.
    pub fn ignore_removals(&self, ignore: bool) {
        self.with(|s| s.removals_ignored = ignore);
    }

    /// How many calls the directory has answered or failed so far.
    pub fn calls(&self) -> u64 {
        self.with(|s| s.calls)
    }

    /// Counts the call, applies the delay, and fails it when a fault says so.
    async fn enter(&self, call: Calls) -> Result<(), ConnectorError> {
        let (delay, fault) = self.with(|s| {
            s.calls += 1;
            let fault = s
                .faults
                .iter_mut()
                .find(|f| f.remaining > 0 && (f.calls == Calls::Any || f.calls == call))
                .map(|f| {
                    f.remaining -= 1;
                    f.error.clone()
                });
            s.faults.retain(|f| f.remaining > 0);
            (s.delay, fault)
        });
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        fault.map_or(Ok(()), Err)
    }

    fn group<'a>(state: &'a mut State, target: &str) -> Result<&'a mut Group, ConnectorError> {
        state
            .groups
            .get_mut(&key(target))
            .ok_or_else(|| ConnectorError::Permanent(format!("no such group: {target}")))
    }
}

#[async_trait]
impl Connector for MemoryDirectory {
    async fn find_account(&self, upn: &str) -> Result<Option<Account>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(self.with(|s| {
            s.accounts
                .values()
                .find(|a| {
                    a.upn
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(upn.trim()))
                })
                .cloned()
        }))
    }

    async fn account(&self, reference: &str) -> Result<Option<Account>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(self.with(|s| s.accounts.get(&key(reference)).cloned()))
    }

    async fn accounts(&self, references: &[String]) -> Result<Vec<Account>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(self.with(|s| {
            references
                .iter()
                .filter_map(|r| s.accounts.get(&key(r)).cloned())
                .collect()
        }))
    }

    async fn accounts_by_id(&self, stable_ids: &[String]) -> Result<Vec<Account>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(self.with(|s| {
            s.accounts
                .values()
                .filter(|a| {
                    a.stable_id
                        .as_ref()
                        .is_some_and(|id| stable_ids.contains(id))
                })
                .cloned()
                .collect()
        }))
    }

    async fn target(
        &self,
        _access: &Access,
        reference: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(self.with(|s| {
            s.groups.get(&key(reference)).map(|g| Target {
                reference: reference.to_string(),
                stable_id: Some(g.stable_id.clone()),
            })
        }))
    }

    async fn target_by_id(
        &self,
        _access: &Access,
        stable_id: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(self.with(|s| {
            s.groups
                .iter()
                .find(|(_, g)| g.stable_id == stable_id)
                .map(|(reference, g)| Target {
                    reference: reference.clone(),
                    stable_id: Some(g.stable_id.clone()),
                })
        }))
    }

    async fn grant(
        &self,
        _access: &Access,
        target: &str,
        leases: &[Lease],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        self.enter(Calls::Grant).await?;
        self.with(|s| {
            let known: Vec<String> = leases
                .iter()
                .map(|l| key(&l.account))
                .filter(|a| s.accounts.contains_key(a))
                .collect();
            if known.len() < leases.len() {
                return Err(ConnectorError::Permanent(
                    "a member to add does not exist".into(),
                ));
            }
            Self::group(s, target)?.members.extend(known);
            Ok(Vec::new())
        })
    }

    async fn revoke(
        &self,
        _access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        self.enter(Calls::Revoke).await?;
        self.with(|s| {
            let ignored = s.removals_ignored;
            let group = Self::group(s, target)?;
            if !ignored {
                for account in accounts {
                    group.members.remove(&key(account));
                }
            }
            Ok(())
        })
    }

    async fn holding(
        &self,
        _access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        self.with(|s| {
            let group = Self::group(s, target)?;
            Ok(accounts
                .iter()
                .filter(|a| group.members.contains(&key(a)))
                .cloned()
                .collect())
        })
    }

    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        self.with(|s| Ok(Self::group(s, target)?.members.iter().cloned().collect()))
    }

    fn lists_holders_of(&self, _access: &Access) -> bool {
        true
    }

    async fn holders_of(
        &self,
        _access: &Access,
        target: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        self.holders(target).await
    }

    async fn indirect_paths(
        &self,
        _target: &str,
        _account: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(Vec::new())
    }

    async fn groups_of(&self, account: &str) -> Result<Vec<String>, ConnectorError> {
        self.enter(Calls::Lookup).await?;
        Ok(self.with(|s| {
            s.groups
                .iter()
                .filter(|(_, g)| g.members.contains(&key(account)))
                .map(|(reference, _)| reference.clone())
                .collect()
        }))
    }

    async fn health(&self) -> Health {
        match self.enter(Calls::Lookup).await {
            Ok(()) => Health::Healthy,
            Err(e) => Health::Down(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(account: &str) -> Lease {
        Lease {
            account: account.to_string(),
            starts_at: chrono::Utc::now(),
            ends_at: chrono::Utc::now() + chrono::Duration::hours(1),
            reason: String::new(),
            source: None,
        }
    }

    #[tokio::test]
    async fn memberships_follow_a_rename() {
        let dir = MemoryDirectory::new();
        let group = dir.add_group("cn=g");
        let adele = dir.add_person("adele@contoso.test", "Adele", None);
        dir.grant(&Access::AdGroup, "cn=g", &[lease(&adele.reference)])
            .await
            .unwrap();
        dir.rename_account(&adele.reference, "cn=adele2,ou=moved");
        let found = dir
            .account_by_id(adele.stable_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.reference, "cn=adele2,ou=moved");
        assert_eq!(dir.members("cn=g"), vec!["cn=adele2,ou=moved"]);
        assert_eq!(
            dir.target_by_id(&Access::AdGroup, group.stable_id.as_deref().unwrap())
                .await
                .unwrap()
                .unwrap()
                .reference,
            "cn=g"
        );
    }

    #[tokio::test]
    async fn scripted_faults_run_out() {
        let dir = MemoryDirectory::new();
        dir.add_group("cn=g");
        dir.fail_next(Calls::Revoke, 2, ConnectorError::Transient("down".into()));
        assert!(dir.revoke(&Access::AdGroup, "cn=g", &[]).await.is_err());
        assert!(
            dir.holders("cn=g").await.is_ok(),
            "lookups are not affected"
        );
        assert!(dir.revoke(&Access::AdGroup, "cn=g", &[]).await.is_err());
        assert!(dir.revoke(&Access::AdGroup, "cn=g", &[]).await.is_ok());
    }
}
