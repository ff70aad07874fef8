//! Reconciliation: what a target system lists, compared with what the leases say it should.
//!
//! A pass reads who holds a target, then the leases of its entry, then compares them account by
//! account. A lease that changed while the pass read (added, removed, being worked on) is
//! *unsettled*: its account is left for the next pass, so the engine's own work in flight is
//! never reported as a difference.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::named::named;

named! {
    /// What kind of difference a finding is.
    pub enum FindingKind {
        /// The target lists an account that no lease covers and nobody declared.
        Shadow = "shadow",
        /// A lease says the access was removed, and the target still lists the account.
        DriftPresent = "drift_present",
        /// A lease says the access is there, and the target does not list the account.
        DriftAbsent = "drift_absent",
    }
}

named! {
    /// Why a finding was closed.
    pub enum Closure {
        /// A later pass no longer saw it.
        Gone = "gone",
        /// The portal removed the access and read the removal back.
        Removed = "removed",
        /// An owner or an administrator declared the account a standing holder.
        Declared = "declared",
        /// A lease covers the account now.
        Covered = "covered",
    }
}

named! {
    /// What the portal did about a finding.
    pub enum FindingAction {
        Reported = "reported",
        Removed = "removed",
        RemoveFailed = "remove_failed",
    }
}

/// What an entry's policy does with shadow access and with access a lease says was removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reconcile {
    /// Records a finding and tells nobody but the pages and the trail.
    #[default]
    Report,
    /// Also removes the access through the connector, reads the removal back, and mails the
    /// person and the entry's owners.
    Remove,
}

impl Reconcile {
    pub fn is_report(&self) -> bool {
        *self == Reconcile::Report
    }
}

/// What a lease says of its account in the target, as the pass read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Added before the pass began, and not being removed: the target should list it.
    Present,
    /// Removed (and read back) before the pass began, or never added: the target should not
    /// list it on this lease's account.
    Absent,
    /// Changing while the pass read, or being worked on by the engine: no verdict this pass.
    Unsettled,
}

/// One lease of the entry, with the account it was given to (as the connector's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSays {
    pub grant: Uuid,
    pub account: String,
    pub expect: Expect,
}

/// One difference a pass found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Difference {
    pub kind: FindingKind,
    /// The account's key (the connector's normal form of its reference).
    pub account: String,
    /// The lease the target disagrees with (drift only).
    pub grant: Option<Uuid>,
}

/// What one pass makes of the target's holders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub differences: Vec<Difference>,
    /// Accounts left for the next pass (a lease of theirs was changing).
    pub unsettled: BTreeSet<String>,
    /// Accounts listed that a lease covers now.
    pub covered: BTreeSet<String>,
    /// Accounts listed that a live declaration covers.
    pub declared: BTreeSet<String>,
}

/// Compares the accounts a target `listed` with what the `leases` say and the accounts declared
/// `standing` holders (all as the same keys).
pub fn compare(
    listed: &BTreeSet<String>,
    leases: &[LeaseSays],
    standing: &BTreeSet<String>,
) -> Comparison {
    let mut by_account: BTreeMap<&str, Vec<&LeaseSays>> = BTreeMap::new();
    for lease in leases {
        by_account.entry(&lease.account).or_default().push(lease);
    }
    let mut out = Comparison::default();
    let accounts: BTreeSet<&str> = listed
        .iter()
        .map(String::as_str)
        .chain(by_account.keys().copied())
        .collect();
    for account in accounts {
        let says = by_account.get(account).map(Vec::as_slice).unwrap_or(&[]);
        let is_listed = listed.contains(account);
        if says.iter().any(|l| l.expect == Expect::Unsettled) {
            out.unsettled.insert(account.to_string());
            continue;
        }
        let present = says.iter().find(|l| l.expect == Expect::Present);
        match (present, is_listed) {
            (Some(_), true) => {
                out.covered.insert(account.to_string());
            }
            (Some(lease), false) => out.differences.push(Difference {
                kind: FindingKind::DriftAbsent,
                account: account.to_string(),
                grant: Some(lease.grant),
            }),
            (None, true) if standing.contains(account) => {
                out.declared.insert(account.to_string());
            }
            (None, true) => {
                // The latest lease that says removed (leases come newest first).
                let removed = says.iter().find(|l| l.expect == Expect::Absent);
                out.differences.push(Difference {
                    kind: if removed.is_some() {
                        FindingKind::DriftPresent
                    } else {
                        FindingKind::Shadow
                    },
                    account: account.to_string(),
                    grant: removed.map(|l| l.grant),
                });
            }
            (None, false) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn lease(n: u128, account: &str, expect: Expect) -> LeaseSays {
        LeaseSays {
            grant: Uuid::from_u128(n),
            account: account.into(),
            expect,
        }
    }

    #[test]
    fn a_listed_account_without_a_lease_is_shadow_access() {
        let c = compare(
            &set(&["adele", "svc"]),
            &[lease(1, "adele", Expect::Present)],
            &set(&[]),
        );
        assert_eq!(
            c.differences,
            vec![Difference {
                kind: FindingKind::Shadow,
                account: "svc".into(),
                grant: None
            }]
        );
        assert_eq!(c.covered, set(&["adele"]));
    }

    #[test]
    fn a_declared_standing_holder_is_not_flagged() {
        let c = compare(&set(&["svc"]), &[], &set(&["svc"]));
        assert!(c.differences.is_empty());
        assert_eq!(c.declared, set(&["svc"]));
    }

    #[test]
    fn drift_is_found_both_ways() {
        let c = compare(
            &set(&["gone-but-listed"]),
            &[
                lease(1, "gone-but-listed", Expect::Absent),
                lease(2, "added-but-missing", Expect::Present),
                lease(3, "removed-and-absent", Expect::Absent),
            ],
            &set(&[]),
        );
        assert_eq!(
            c.differences,
            vec![
                Difference {
                    kind: FindingKind::DriftAbsent,
                    account: "added-but-missing".into(),
                    grant: Some(Uuid::from_u128(2)),
                },
                Difference {
                    kind: FindingKind::DriftPresent,
                    account: "gone-but-listed".into(),
                    grant: Some(Uuid::from_u128(1)),
                },
            ]
        );
    }

    #[test]
    fn a_declaration_does_not_hide_a_missing_lease() {
        // Declared standing, and a lease that says present, but the target does not list it.
        let c = compare(
            &set(&[]),
            &[lease(1, "svc", Expect::Present)],
            &set(&["svc"]),
        );
        assert_eq!(c.differences.len(), 1);
        assert_eq!(c.differences[0].kind, FindingKind::DriftAbsent);
    }

    #[test]
    fn an_unsettled_lease_leaves_its_account_for_the_next_pass() {
        let c = compare(
            &set(&["being-removed"]),
            &[
                lease(1, "being-removed", Expect::Unsettled),
                lease(2, "being-added", Expect::Unsettled),
                lease(3, "being-added", Expect::Present),
            ],
            &set(&[]),
        );
        assert!(c.differences.is_empty());
        assert_eq!(c.unsettled, set(&["being-added", "being-removed"]));
    }

    #[test]
    fn a_live_lease_beside_an_ended_one_covers_the_account() {
        let c = compare(
            &set(&["adele"]),
            &[
                lease(2, "adele", Expect::Present),
                lease(1, "adele", Expect::Absent),
            ],
            &set(&[]),
        );
        assert!(c.differences.is_empty());
        assert_eq!(c.covered, set(&["adele"]));
    }

    #[test]
    fn the_newest_removed_lease_is_the_one_named() {
        let c = compare(
            &set(&["adele"]),
            &[
                lease(9, "adele", Expect::Absent),
                lease(1, "adele", Expect::Absent),
            ],
            &set(&[]),
        );
        assert_eq!(c.differences[0].grant, Some(Uuid::from_u128(9)));
    }
}
