//! Reconciliation: for each managed target, who holds it in the system itself, compared with the
//! leases (docs/reconciliation.md).
//!
//! A pass of one entry reads the target's direct holders, then the entry's leases, and records
//! each difference as a finding: shadow access (listed, no lease, not declared), or drift (a
//! lease says removed and the target lists the account; a lease says added and it does not).
//! A finding a later pass no longer sees is closed with the reason. Where the entry's policy
//! says `remove`, shadow access and access a lease says was removed are removed through the
//! connector and read back. Leases the engine is working on, or that changed within the
//! removal grace of the pass, are left for the next pass: the engine's own work in flight, and
//! a directory replicating it, are never reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::grant::GrantState;
use crate::domain::reconcile::{
    Closure, Expect, FindingAction, FindingKind, LeaseSays, Reconcile, compare,
};
use crate::server::connectors::{Connector, ConnectorError, Connectors, OutsideChange};
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::findings::{self, Managed, Passed, Seen};

/// The NOTIFY channel that wakes the job (an administrator asked for passes).
pub use crate::server::db::findings::CHANNEL;

/// Leases that ended longer ago than this are not read: a holder seen on such an old lease's
/// account is shadow access, not drift.
const ENDED_WITHIN: TimeDelta = TimeDelta::days(7);

/// How far back a later read of a target's changes goes from the newest one kept: records a
/// target writes late are still read; the ones kept already are not told twice.
const CHANGES_OVERLAP: TimeDelta = TimeDelta::days(1);
/// How far back the first read goes: PIM keeps its history for 30 days.
const CHANGES_FIRST_READ: TimeDelta = TimeDelta::days(30);

/// What one pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Accounts the target listed.
    pub holders: usize,
    pub opened: usize,
    pub closed: usize,
    pub removed: usize,
    pub removal_failed: usize,
    /// Accounts left for the next pass (a lease of theirs was changing).
    pub unsettled: usize,
    /// Changes made outside the portal, read from the target and told in the trail.
    pub outside_changes: usize,
    /// The target's change mark, its leases and its declarations were as the last complete
    /// read left them: nothing was read, and the findings stand (seen again).
    pub unchanged: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("another worker is reconciling {0} now")]
    Busy(String),
    /// The target could not be read (recorded on the entry's pass).
    #[error("{0}")]
    System(String),
    /// The connector cannot list holders of this kind (recorded on the entry's pass).
    #[error("{0}")]
    Unreadable(String),
    #[error("the database: {0}")]
    Database(#[from] sqlx::Error),
}

/// How passes run: the removal grace (docs/configuration.md) and who asked.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Leases changed this recently are left for the next pass.
    pub grace: Duration,
    /// The longest a target is trusted unchanged by its change mark before its holders are read
    /// in full again; zero: always read in full.
    pub complete_every: Duration,
}

/// Passes every due entry (never passed, asked for, or last passed `every` ago), until
/// `stopping` turns true.
pub async fn run_due(
    pool: &PgPool,
    connectors: &Connectors,
    every: Duration,
    settings: Settings,
    stopping: &watch::Receiver<bool>,
) -> Result<(), sqlx::Error> {
    for entry in findings::due(pool, every).await? {
        if *stopping.borrow() {
            break;
        }
        match pass(pool, connectors, &entry, settings).await {
            Ok(outcome)
                if outcome.opened + outcome.closed + outcome.removed + outcome.outside_changes
                    > 0 =>
            {
                tracing::info!(entry = %entry.key, ?outcome, "reconciled")
            }
            Ok(_) | Err(PassError::Busy(_) | PassError::Unreadable(_)) => {}
            // Recorded on the entry's pass, which the findings page shows.
            Err(PassError::System(why)) => {
                tracing::warn!(entry = %entry.key, error = %why, "reconciliation could not read the target")
            }
            Err(PassError::Database(e)) => return Err(e),
        }
    }
    Ok(())
}

/// Passes one entry: reads its target, records the differences, removes what its policy says
/// to remove. The pass holds the entry's row in `reconcile_passes` throughout, so two workers
/// never pass one entry at once.
pub async fn pass(
    pool: &PgPool,
    connectors: &Connectors,
    entry: &Managed,
    settings: Settings,
) -> Result<Outcome, PassError> {
    let mut tx = pool.begin().await?;
    if !findings::lock_pass(&mut tx, entry.id).await? {
        return Err(PassError::Busy(entry.key.clone()));
    }
    let Some(connector) = connectors.get(&entry.connector) else {
        let why = format!("no connector `{}` is configured", entry.connector);
        findings::record_pass(&mut tx, entry.id, Passed::Failed(&why)).await?;
        tx.commit().await?;
        return Err(PassError::System(why));
    };
    if !connector.lists_holders_of(&entry.access) {
        // Said on the page; not an error worth a log line every pass.
        let why = format!(
            "`{}` cannot list who holds {} access yet",
            entry.connector,
            entry.access.kind()
        );
        findings::record_pass(&mut tx, entry.id, Passed::Unreadable(&why)).await?;
        tx.commit().await?;
        return Err(PassError::Unreadable(why));
    }
    let began = Utc::now();
    let grace = TimeDelta::from_std(settings.grace).unwrap_or(TimeDelta::minutes(2));
    // The target's change mark, read before its holders: a change after this read is in the
    // holders read below, and changes the next pass's mark. A mark that cannot be read means
    // a complete read (which says why, if the target is down).
    let version = connector
        .holders_version(&entry.access, &entry.target)
        .await
        .ok()
        .flatten();
    if let Some(version) = &version
        && let Ok(trust) = TimeDelta::from_std(settings.complete_every)
        && trust > TimeDelta::zero()
        && findings::unchanged_since_complete(&mut tx, entry.id, version, began - trust, grace)
            .await?
    {
        let holders = findings::record_unchanged(&mut tx, entry.id).await?;
        tx.commit().await?;
        return Ok(Outcome {
            holders: holders as usize,
            unchanged: true,
            ..Outcome::default()
        });
    }
    let trust = TimeDelta::from_std(settings.complete_every)
        .ok()
        .filter(|t| *t > TimeDelta::zero());
    let read = read_holders(&mut tx, connector.as_ref(), entry, began, trust).await?;
    let (listed, cursor, complete) = match read {
        Ok(holders) => (holders.listed, holders.cursor, holders.complete),
        Err(e) => {
            let why = e.to_string();
            findings::record_pass(&mut tx, entry.id, Passed::Failed(&why)).await?;
            tx.commit().await?;
            return Err(PassError::System(why));
        }
    };
    let changes = outside_changes(&mut tx, connector.as_ref(), entry, began).await?;
    let mut outcome = Outcome {
        holders: listed.len(),
        ..Outcome::default()
    };
    let key = |reference: &str| connector.account_key(reference);
    // The target's holders by key; the first spelling of each is the one acted on.
    let mut listed_by_key: BTreeMap<String, String> = BTreeMap::new();
    for reference in listed {
        listed_by_key.entry(key(&reference)).or_insert(reference);
    }
    let rows =
        findings::leases(&mut tx, entry.id, entry.connector_id, began - ENDED_WITHIN).await?;
    let mut leases: Vec<(LeaseSays, &findings::LeaseRow)> = rows
        .iter()
        .filter_map(|row| {
            let expect = expectation(row, began, grace)?;
            let account = key(row.account_ref.as_deref()?);
            Some((
                LeaseSays {
                    grant: row.id,
                    account,
                    expect,
                },
                row,
            ))
        })
        .collect();
    let standing: BTreeSet<String> = findings::standing(&mut tx, entry.id, began)
        .await?
        .iter()
        .map(|r| key(r))
        .collect();

    // Accounts listed that no lease or declaration names by reference: read them, for their
    // stable ids (a lease's account renamed or moved since is the same account) and their names.
    let named: BTreeSet<&str> = leases
        .iter()
        .map(|(l, _)| l.account.as_str())
        .chain(standing.iter().map(String::as_str))
        .collect();
    let mut unknown: Vec<String> = listed_by_key
        .iter()
        .filter(|(k, _)| !named.contains(k.as_str()))
        .map(|(_, r)| r.clone())
        .collect();
    let changed: BTreeSet<&str> = changes.iter().map(|c| c.account.as_str()).collect();
    unknown.extend(
        changed
            .iter()
            .filter(|a| !listed_by_key.contains_key(&key(a)) && !named.contains(key(a).as_str()))
            .map(|a| a.to_string()),
    );
    let accounts = read_accounts(connector.as_ref(), &unknown).await;
    let by_stable_id: HashMap<&str, String> = accounts
        .values()
        .filter_map(|a| Some((a.stable_id.as_deref()?, key(&a.reference))))
        .collect();
    for (lease, row) in &mut leases {
        if !listed_by_key.contains_key(&lease.account)
            && let Some(listed_key) = row
                .account_id
                .as_deref()
                .and_then(|id| by_stable_id.get(id))
        {
            lease.account = listed_key.clone();
        }
    }

    let says: Vec<LeaseSays> = leases.iter().map(|(l, _)| l.clone()).collect();
    let listed_keys: BTreeSet<String> = listed_by_key.keys().cloned().collect();
    let comparison = compare(&listed_keys, &says, &standing);
    outcome.unsettled = comparison.unsettled.len();

    // The people behind the accounts: a lease's person, or the portal's link to the account.
    let lease_person: HashMap<Uuid, Uuid> = rows.iter().map(|r| (r.id, r.principal_id)).collect();
    let lease_ref: HashMap<Uuid, &str> = rows
        .iter()
        .filter_map(|r| Some((r.id, r.account_ref.as_deref()?)))
        .collect();
    let mut shadow_refs: Vec<String> = comparison
        .differences
        .iter()
        .filter(|d| d.grant.is_none())
        .filter_map(|d| listed_by_key.get(&d.account).cloned())
        .collect();
    shadow_refs.extend(changed.iter().map(|a| a.to_string()));
    let mut linked: HashMap<String, Uuid> =
        findings::people_of_accounts(&mut tx, entry.connector_id, &shadow_refs)
            .await?
            .into_iter()
            .map(|(reference, person)| (key(&reference), person))
            .collect();
    // Accounts the portal never linked: their person by the sign-in name the system gives,
    // as the engine finds a person's account.
    let by_upn: HashMap<String, String> = comparison
        .differences
        .iter()
        .filter(|d| d.grant.is_none())
        .map(|d| d.account.clone())
        .chain(changed.iter().map(|a| key(a)))
        .filter(|account| !linked.contains_key(account))
        .filter_map(|account| {
            let upn = accounts.get(&account)?.upn.as_deref()?;
            Some((upn.to_lowercase(), account))
        })
        .collect();
    if !by_upn.is_empty() {
        let upns: Vec<String> = by_upn.keys().cloned().collect();
        for (upn, person) in findings::people_by_upn(&mut tx, &upns).await? {
            if let Some(account) = by_upn.get(&upn) {
                linked.insert(account.clone(), person);
            }
        }
    }

    let subject = Subject {
        entitlement: Some(entry.id),
        ..Subject::default()
    };
    let actor = Actor::system("reconciliation");
    for change in &changes {
        let account = key(&change.account);
        let principal = linked.get(&account).copied();
        let label = accounts.get(&account).map(label_of).unwrap_or_default();
        let kept = findings::outside_change(
            &mut tx,
            &findings::OutsideRecord {
                entitlement: entry.id,
                source_id: &change.id,
                occurred_at: change.at,
                account_ref: &change.account,
                principal,
                action: &change.action,
                status: &change.status,
                made_by: &change.made_by,
                justification: change.justification.as_deref(),
                starts_at: change.starts_at,
                ends_at: change.ends_at,
            },
        )
        .await?;
        if kept {
            outcome.outside_changes += 1;
            audit::record(
                &mut tx,
                &actor,
                AuditAction::ReconcileOutsideChange,
                &Subject {
                    principal,
                    ..subject.clone()
                },
                json!({
                    "record": change.id,
                    "occurred_at": change.at,
                    "account": change.account,
                    "label": label,
                    "action": change.action,
                    "status": change.status,
                    "made_by": change.made_by,
                    "justification": change.justification,
                    "starts_at": change.starts_at,
                    "ends_at": change.ends_at,
                    "system": entry.connector,
                    "target": entry.target,
                }),
            )
            .await?;
        }
    }
    let mut still_open: BTreeSet<(FindingKind, String)> = BTreeSet::new();
    let mut to_remove: Vec<(Uuid, String, Option<Uuid>, String)> = Vec::new();
    for difference in &comparison.differences {
        let reference = match difference.kind {
            FindingKind::DriftAbsent => difference
                .grant
                .and_then(|g| lease_ref.get(&g).map(|r| r.to_string()))
                .unwrap_or_else(|| difference.account.clone()),
            _ => listed_by_key
                .get(&difference.account)
                .cloned()
                .unwrap_or_else(|| difference.account.clone()),
        };
        let account = accounts.get(&difference.account);
        let label = account.map(label_of).unwrap_or_default();
        let principal = difference
            .grant
            .and_then(|g| lease_person.get(&g).copied())
            .or_else(|| linked.get(&difference.account).copied());
        let (id, new) = findings::seen(
            &mut tx,
            &Seen {
                entitlement: entry.id,
                kind: difference.kind,
                account_ref: &reference,
                account_id: account.and_then(|a| a.stable_id.as_deref()),
                account_label: &label,
                principal,
                grant: difference.grant,
            },
        )
        .await?;
        still_open.insert((difference.kind, difference.account.clone()));
        if new {
            outcome.opened += 1;
            audit::record(
                &mut tx,
                &actor,
                AuditAction::ReconcileFound,
                &Subject {
                    grant: difference.grant,
                    principal,
                    ..subject.clone()
                },
                json!({
                    "finding": id,
                    "kind": difference.kind,
                    "account": reference,
                    "label": label,
                    "system": entry.connector,
                    "target": entry.target,
                }),
            )
            .await?;
        }
        if difference.kind != FindingKind::DriftAbsent
            && entry.policy.reconcile == Reconcile::Remove
        {
            to_remove.push((id, reference, principal, label));
        }
    }

    // Findings this pass no longer sees: closed, with why.
    for open in findings::open_of(&mut tx, entry.id).await? {
        let account = key(&open.account_ref);
        if still_open.contains(&(open.kind, account.clone()))
            || comparison.unsettled.contains(&account)
        {
            continue;
        }
        let reason = if open.kind != FindingKind::DriftAbsent
            && comparison.declared.contains(&account)
        {
            Closure::Declared
        } else if open.kind != FindingKind::DriftAbsent && comparison.covered.contains(&account) {
            Closure::Covered
        } else {
            Closure::Gone
        };
        if findings::close(&mut tx, open.id, reason).await? {
            outcome.closed += 1;
            audit::record(
                &mut tx,
                &actor,
                AuditAction::ReconcileClosed,
                &Subject {
                    principal: open.principal_id,
                    ..subject.clone()
                },
                json!({
                    "finding": open.id,
                    "kind": open.kind,
                    "account": open.account_ref,
                    "reason": reason,
                }),
            )
            .await?;
        }
    }

    for (finding, reference, principal, label) in to_remove {
        let removed = remove(
            &mut tx,
            connector.as_ref(),
            entry,
            began,
            Removal {
                finding,
                reference: &reference,
                principal,
                label: &label,
                by: None,
            },
        )
        .await?;
        match removed {
            Some(true) => outcome.removed += 1,
            Some(false) => outcome.removal_failed += 1,
            None => {}
        }
    }

    findings::record_pass(&mut tx, entry.id, Passed::Read(outcome.holders as i32)).await?;
    if complete {
        findings::record_complete(&mut tx, entry.id, version.as_deref()).await?;
    }
    let kept: Option<Vec<String>> = cursor
        .is_some()
        .then(|| listed_by_key.values().cloned().collect());
    findings::record_tracked(&mut tx, entry.id, cursor.as_deref(), kept.as_deref()).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// How a pass read the target's holders.
struct Holders {
    listed: Vec<String>,
    /// The change tracking's cursor for the next round, where the system has one.
    cursor: Option<String>,
    /// Every holder was listed by the system (not worked out from the last list and changes).
    complete: bool,
}

/// The target's holders: through the system's change tracking where it has one (the list the
/// last round left, with this round's changes applied; a complete round when there is no
/// cursor, or the last complete listing is older than `trust`), else read whole.
async fn read_holders(
    conn: &mut PgConnection,
    connector: &dyn Connector,
    entry: &Managed,
    began: DateTime<Utc>,
    trust: Option<TimeDelta>,
) -> Result<Result<Holders, ConnectorError>, sqlx::Error> {
    let tracked = findings::tracked(conn, entry.id).await?;
    // A cursor is followed only with the list its round left, and within the trust.
    let kept = tracked.and_then(|t| {
        let recent = match (trust, t.last_complete_at) {
            (Some(trust), Some(at)) => at > began - trust,
            _ => false,
        };
        match (t.cursor, t.holders) {
            (Some(cursor), Some(holders)) if recent => Some((cursor, holders)),
            _ => None,
        }
    });
    let cursor = kept.as_ref().map(|(c, _)| c.as_str());
    match connector
        .holders_delta(&entry.access, &entry.target, cursor)
        .await
    {
        Ok(Some(delta)) => {
            let listed = if delta.complete {
                delta.added
            } else {
                let mut holders: BTreeSet<String> = kept
                    .map(|(_, holders)| holders.into_iter().collect())
                    .unwrap_or_default();
                for gone in &delta.removed {
                    holders.remove(gone);
                }
                holders.extend(delta.added);
                holders.into_iter().collect()
            };
            Ok(Ok(Holders {
                listed,
                cursor: Some(delta.cursor),
                complete: delta.complete,
            }))
        }
        Ok(None) => Ok(connector
            .holders_of(&entry.access, &entry.target)
            .await
            .map(|listed| Holders {
                listed,
                cursor: None,
                complete: true,
            })),
        Err(e) => Ok(Err(e)),
    }
}

/// The changes made to the entry's target outside the portal since the newest one kept (a day
/// back, for records the target writes late; a month back on the first read), where the
/// connector can read them. A failed read is logged and left for the next pass: the holders
/// the pass compares come from the target's state, not from these records.
async fn outside_changes(
    tx: &mut PgConnection,
    connector: &dyn Connector,
    entry: &Managed,
    began: DateTime<Utc>,
) -> Result<Vec<OutsideChange>, sqlx::Error> {
    if !connector.records_changes_of(&entry.access) {
        return Ok(Vec::new());
    }
    let since = match findings::newest_outside_change(tx, entry.id).await? {
        Some(newest) => newest - CHANGES_OVERLAP,
        None => began - CHANGES_FIRST_READ,
    };
    match connector
        .outside_changes(&entry.access, &entry.target, since)
        .await
    {
        Ok(changes) => Ok(changes),
        Err(e) => {
            tracing::warn!(entry = %entry.key, error = %e, "reconciliation could not read the changes made outside the portal");
            Ok(Vec::new())
        }
    }
}

/// What a lease says of its account now, or `None` when it says nothing yet (a lease that
/// starts later has added nothing, and holds nothing against shadow access either).
fn expectation(row: &findings::LeaseRow, began: DateTime<Utc>, grace: TimeDelta) -> Option<Expect> {
    let settled_before = began - grace;
    let claimed = row.locked_until.is_some_and(|until| until > began);
    Some(match row.state {
        GrantState::Scheduled if claimed || row.starts_at <= began + grace => Expect::Unsettled,
        GrantState::Scheduled => return None,
        GrantState::Active => match row.provisioned_at {
            Some(at) if at <= settled_before && !claimed => Expect::Present,
            _ => Expect::Unsettled,
        },
        GrantState::Revoking => Expect::Unsettled,
        GrantState::Revoked => match row.revoked_at {
            Some(at) if at <= settled_before => Expect::Absent,
            None if row.updated_at <= settled_before => Expect::Absent,
            _ => Expect::Unsettled,
        },
        GrantState::Failed if row.updated_at <= settled_before => Expect::Absent,
        GrantState::Failed => Expect::Unsettled,
    })
}

/// The accounts among `references` the system can read, by key; missing ones (a nested group,
/// an account deleted since) are left out, and a failed read leaves them all out: names are a
/// courtesy of the page, never a reason to skip a finding.
async fn read_accounts(
    connector: &dyn Connector,
    references: &[String],
) -> HashMap<String, crate::server::connectors::Account> {
    if references.is_empty() {
        return HashMap::new();
    }
    match connector.accounts(references).await {
        Ok(accounts) => accounts
            .into_iter()
            .map(|a| (connector.account_key(&a.reference), a))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reconciliation could not read the accounts it found");
            HashMap::new()
        }
    }
}

fn label_of(account: &crate::server::connectors::Account) -> String {
    match (&account.display_name, &account.upn) {
        (Some(name), Some(upn)) => format!("{name} ({upn})"),
        (Some(name), None) => name.clone(),
        (None, Some(upn)) => upn.clone(),
        (None, None) => String::new(),
    }
}

/// A finding's access to remove.
pub struct Removal<'a> {
    pub finding: Uuid,
    pub reference: &'a str,
    pub principal: Option<Uuid>,
    /// How the target names the account (display and sign-in name), for the mails.
    pub label: &'a str,
    /// The person who asked; `None`: the entry's policy.
    pub by: Option<(Uuid, &'a str)>,
}

/// Removes a finding's access through the connector and reads the target back. `Some(true)`:
/// removed and read back absent (the finding is closed); `Some(false)`: the call failed or the
/// target still lists it (recorded, tried again next pass); `None`: a lease for the account
/// appeared since the pass began, so nothing was touched.
pub async fn remove(
    conn: &mut PgConnection,
    connector: &dyn Connector,
    entry: &Managed,
    began: DateTime<Utc>,
    removal: Removal<'_>,
) -> Result<Option<bool>, sqlx::Error> {
    // A lease given since the pass read (approved, being added) must not be taken away.
    if findings::lease_appeared(conn, entry.id, removal.reference, removal.principal, began).await?
    {
        return Ok(None);
    }
    let accounts = [removal.reference.to_string()];
    let result: Result<bool, ConnectorError> = async {
        connector
            .revoke(&entry.access, &entry.target, &accounts)
            .await?;
        let still = connector
            .holding(&entry.access, &entry.target, &accounts)
            .await?;
        Ok(still.is_empty())
    }
    .await;
    let (actor, by) = match removal.by {
        Some((id, name)) => (Actor::person(id, name), Some(id)),
        None => (Actor::system("reconciliation"), None),
    };
    let subject = Subject {
        entitlement: Some(entry.id),
        principal: removal.principal,
        ..Subject::default()
    };
    match result {
        Ok(true) => {
            findings::acted(conn, removal.finding, FindingAction::Removed, by, None).await?;
            findings::close(conn, removal.finding, Closure::Removed).await?;
            audit::record(
                conn,
                &actor,
                AuditAction::ReconcileRemoved,
                &subject,
                json!({
                    "finding": removal.finding,
                    "account": removal.reference,
                    "label": removal.label,
                    "entitlement_key": entry.key,
                    "system": entry.connector,
                    "target": entry.target,
                    "verified": true,
                    // Who asked, for the mails; empty: the entry's policy.
                    "by": removal.by.map(|(_, name)| name).unwrap_or_default(),
                }),
            )
            .await?;
            Ok(Some(true))
        }
        Ok(false) | Err(_) => {
            let why = match &result {
                Err(e) => e.to_string(),
                _ => "the target still lists the account after its removal".to_string(),
            };
            let first =
                findings::acted_on(conn, removal.finding).await? != FindingAction::RemoveFailed;
            findings::acted(
                conn,
                removal.finding,
                FindingAction::RemoveFailed,
                by,
                Some(&why),
            )
            .await?;
            if first {
                audit::record(
                    conn,
                    &actor,
                    AuditAction::ReconcileRemoveFailed,
                    &subject,
                    json!({
                        "finding": removal.finding,
                        "account": removal.reference,
                        "label": removal.label,
                        "system": entry.connector,
                        "error": why,
                    }),
                )
                .await?;
            }
            Ok(Some(false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: GrantState) -> findings::LeaseRow {
        let long_ago = Utc::now() - TimeDelta::hours(1);
        findings::LeaseRow {
            id: Uuid::nil(),
            principal_id: Uuid::nil(),
            state,
            account_ref: Some("cn=x".into()),
            account_id: None,
            starts_at: long_ago,
            provisioned_at: Some(long_ago),
            revoked_at: (state == GrantState::Revoked).then_some(long_ago),
            updated_at: long_ago,
            locked_until: None,
        }
    }

    #[test]
    fn settled_leases_say_present_or_absent() {
        let now = Utc::now();
        let grace = TimeDelta::minutes(2);
        assert_eq!(
            expectation(&row(GrantState::Active), now, grace),
            Some(Expect::Present)
        );
        assert_eq!(
            expectation(&row(GrantState::Revoked), now, grace),
            Some(Expect::Absent)
        );
        assert_eq!(
            expectation(&row(GrantState::Failed), now, grace),
            Some(Expect::Absent)
        );
    }

    #[test]
    fn leases_in_motion_are_unsettled() {
        let now = Utc::now();
        let grace = TimeDelta::minutes(2);
        assert_eq!(
            expectation(&row(GrantState::Revoking), now, grace),
            Some(Expect::Unsettled)
        );
        let just_added = findings::LeaseRow {
            provisioned_at: Some(now - TimeDelta::seconds(30)),
            ..row(GrantState::Active)
        };
        assert_eq!(
            expectation(&just_added, now, grace),
            Some(Expect::Unsettled)
        );
        let just_removed = findings::LeaseRow {
            revoked_at: Some(now - TimeDelta::seconds(30)),
            ..row(GrantState::Revoked)
        };
        assert_eq!(
            expectation(&just_removed, now, grace),
            Some(Expect::Unsettled)
        );
        let claimed = findings::LeaseRow {
            locked_until: Some(now + TimeDelta::seconds(30)),
            ..row(GrantState::Active)
        };
        assert_eq!(expectation(&claimed, now, grace), Some(Expect::Unsettled));
        let starting = findings::LeaseRow {
            starts_at: now + TimeDelta::seconds(30),
            provisioned_at: None,
            ..row(GrantState::Scheduled)
        };
        assert_eq!(expectation(&starting, now, grace), Some(Expect::Unsettled));
    }

    #[test]
    fn a_lease_that_starts_later_says_nothing() {
        let now = Utc::now();
        let later = findings::LeaseRow {
            starts_at: now + TimeDelta::days(1),
            provisioned_at: None,
            ..row(GrantState::Scheduled)
        };
        assert_eq!(expectation(&later, now, TimeDelta::minutes(2)), None);
    }
}
