//! The engine: adds access at `starts_at`, removes it at `ends_at`, and proves the removal.
//!
//! Time is data: every live grant carries the instant the engine must next act on it. The
//! engine sleeps until the earliest such instant or until PostgreSQL notifies it of new work
//! (an approval, an early return); there is no polling interval to wait out. Work is claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease, so any number of replicas share it and a crashed
//! replica's claims come back when the lease passes. Connector calls are idempotent and run
//! outside the claiming transaction; outcomes are recorded only under a claim still held.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt as _;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::domain::access::Access;
use crate::domain::grant::{Attention, GrantEvent, GrantState, GrantStep};
use crate::domain::step::Lifecycle as _;
use crate::server::app::config::EngineSettings;
use crate::server::app::metrics::Metrics;
use crate::server::connectors::{Connector, ConnectorError, Connectors, Lease};
use crate::server::db::grants::{self, ActedOn, Retry, Work};

/// The longest wait between two looks for something that is only late (replication).
const REPLICATION_POLL: Duration = Duration::from_secs(10);

pub use super::backoff::retry_delay;

/// The channel the database triggers notify on.
pub const CHANNEL: &str = "leasegate_engine";
/// Even with no notification, look again this often (a backstop, not the schedule).
pub const BACKSTOP: Duration = Duration::from_secs(60);
/// Connector calls in flight at once (one per target group).
const PARALLEL_TARGETS: usize = 16;

#[derive(Clone)]
pub struct Engine {
    pool: PgPool,
    connectors: Connectors,
    settings: EngineSettings,
    worker: String,
    metrics: Metrics,
}

/// What one pass did, for tests and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub provisioned: usize,
    pub revoked: usize,
    pub failed: usize,
}

impl Engine {
    pub fn new(pool: PgPool, connectors: Connectors, settings: EngineSettings) -> Self {
        let worker = format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            pool,
            connectors,
            settings,
            worker,
            metrics: Metrics::default(),
        }
    }

    /// The engine recording its removal lag in `metrics` (`/metrics`).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn connectors(&self) -> &Connectors {
        &self.connectors
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Brings removals that were due while no engine ran to the front (start-up).
    pub async fn bring_overdue_forward(&self) {
        match grants::bring_overdue_forward(&self.pool).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                count = n,
                "overdue removals found at start-up; they go first"
            ),
            Err(e) => tracing::error!(error = %e, "could not look for overdue removals"),
        }
    }

    /// Claims and works off everything due now, batch by batch; returns in how many seconds
    /// the next grant falls due, if any does.
    pub async fn run_due(
        &self,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Option<f64>, sqlx::Error> {
        grants::expire_pending_requests(&self.pool).await?;
        loop {
            let pass = self.run_once().await?;
            if pass == Pass::default() || *shutdown.borrow() {
                return grants::seconds_until_next_due(&self.pool).await;
            }
        }
    }

    /// One claim and its work. Public so tests and benchmarks can drive the engine by hand.
    pub async fn run_once(&self) -> Result<Pass, sqlx::Error> {
        let lease = self.settings.lease.as_secs_f64();
        let work = grants::claim_due(&self.pool, &self.worker, lease, self.settings.batch).await?;
        if work.is_empty() {
            return Ok(Pass::default());
        }
        // One connector call per pinned target, access and direction: removals that fall due
        // together on the same group become one modify with many values.
        let mut batches: BTreeMap<(bool, String, String, Access), Vec<Work>> = BTreeMap::new();
        for item in work {
            let revoke = match item.state {
                GrantState::Scheduled => false,
                GrantState::Revoking => true,
                // Extended past the end its target keeps: given again with the new end.
                GrantState::Active if item.told_until.is_some_and(|t| t < item.ends_at) => false,
                GrantState::Active | GrantState::Revoked | GrantState::Failed => {
                    // Claimed but not due after all (moved by an extension meanwhile).
                    grants::release(&self.pool, &self.worker, item.id).await?;
                    continue;
                }
            };
            let target = item
                .target_id
                .clone()
                .unwrap_or_else(|| item.target_ref.clone());
            batches
                .entry((
                    revoke,
                    item.connector.clone(),
                    target,
                    item.access.0.clone(),
                ))
                .or_default()
                .push(item);
        }
        let results: Vec<Result<Pass, sqlx::Error>> =
            futures::stream::iter(batches.into_iter().map(
                |((revoke, connector, _, access), items)| {
                    self.work_batch(revoke, connector, access, items)
                },
            ))
            .buffer_unordered(PARALLEL_TARGETS)
            .collect()
            .await;
        let mut pass = Pass::default();
        for result in results {
            let p = result?;
            pass.provisioned += p.provisioned;
            pass.revoked += p.revoked;
            pass.failed += p.failed;
        }
        Ok(pass)
    }

    /// Grants that share a connector, a pinned target and access, all to add or all to remove.
    async fn work_batch(
        &self,
        revoke: bool,
        connector_name: String,
        access: Access,
        items: Vec<Work>,
    ) -> Result<Pass, sqlx::Error> {
        let mut pass = Pass::default();
        let Some(connector) = self.connectors.get(&connector_name) else {
            let error = ConnectorError::Permanent(format!(
                "connector `{connector_name}` is not configured"
            ));
            self.fail_all(items.iter(), &error, revoke, &mut pass)
                .await?;
            return Ok(pass);
        };
        // The target as the directory names it now, found by its stable id once pinned.
        let mut items = items;
        let target = match self.current_target(connector.as_ref(), &mut items).await {
            Ok(Some(target)) => target,
            Ok(None) => {
                let what = format!("the target {}", items[0].target_ref);
                for item in &items {
                    if revoke {
                        self.missing_or_late(item, &what, Attention::TargetMissing, &mut pass)
                            .await?;
                    } else {
                        self.not_found(item, &what, &mut pass).await?;
                    }
                }
                return Ok(pass);
            }
            Err(error) => {
                self.fail_all(items.iter(), &error, revoke, &mut pass)
                    .await?;
                return Ok(pass);
            }
        };
        if revoke {
            self.remove(connector.as_ref(), &access, &target, items, &mut pass)
                .await?;
        } else {
            self.add(connector.as_ref(), &access, &target, items, &mut pass)
                .await?;
        }
        Ok(pass)
    }

    async fn current_target(
        &self,
        connector: &dyn Connector,
        items: &mut [Work],
    ) -> Result<Option<String>, ConnectorError> {
        let first = &items[0];
        if let Some(id) = &first.target_id {
            return Ok(connector
                .target_by_id(&first.access.0, id)
                .await?
                .map(|t| t.reference));
        }
        let Some(target) = connector.target(&first.access.0, &first.target_ref).await? else {
            return Ok(None);
        };
        if let Some(id) = &target.stable_id {
            let ids: Vec<uuid::Uuid> = items.iter().map(|w| w.id).collect();
            match grants::pin_target(&self.pool, &self.worker, &ids, id).await {
                Ok(()) => items
                    .iter_mut()
                    .for_each(|w| w.target_id = Some(id.clone())),
                Err(e) => tracing::warn!(error = %e, "could not pin a target's stable id"),
            }
        }
        Ok(Some(target.reference))
    }

    /// Provisioning: find each account, pin it, then add them all in one call. Active grants
    /// come here too when their target must be told a new end; giving access again is
    /// idempotent and carries the new end.
    async fn add(
        &self,
        connector: &dyn Connector,
        access: &Access,
        target: &str,
        items: Vec<Work>,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        let mut ready: Vec<(Work, String)> = Vec::new();
        for mut item in items {
            let found = match &item.account_id {
                // Pinned by an earlier attempt: the same account, wherever it is now.
                Some(id) => connector.account_by_id(id).await,
                None => connector.find_account(&item.upn).await,
            };
            match found {
                // Moved out of the part of the directory people are read from (a leavers' OU,
                // another team's tree): the same account, but not one to give access to until
                // a person looks.
                Ok(Some(account)) if !account.in_scope => {
                    let error = ConnectorError::Permanent(format!(
                        "the account of {} in `{}` has moved out of the people the directory \
                         is read from (now {}); a person must look before it is given access",
                        item.upn, item.connector, account.reference
                    ));
                    self.fail(&item, &error, false, pass).await?;
                }
                Ok(Some(account)) if account.enabled => {
                    if item.account_ref.is_none() && item.state == GrantState::Scheduled {
                        // Found just now by name: remembered once, and never granted when the
                        // account is already another person's.
                        if !grants::remember_account(
                            &self.pool,
                            item.principal_id,
                            item.connector_id,
                            &account,
                        )
                        .await?
                        {
                            let error = ConnectorError::Permanent(format!(
                                "the account {} found for {} in `{}` is another person's in the \
                                 portal; an administrator must settle whose it is",
                                account.reference, item.upn, item.connector
                            ));
                            self.fail(&item, &error, false, pass).await?;
                            continue;
                        }
                        if !grants::pin_account(&self.pool, &self.worker, item.id, &account).await?
                        {
                            continue; // the claim was lost
                        }
                        item.account_ref = Some(account.reference.clone());
                        item.account_id = account.stable_id.clone();
                    }
                    ready.push((item, account.reference));
                }
                Ok(Some(_)) => {
                    let error = ConnectorError::Permanent(format!(
                        "the account of {} in `{}` is disabled",
                        item.upn, item.connector
                    ));
                    self.fail(&item, &error, false, pass).await?;
                }
                Ok(None) => {
                    let what = format!("the account of {} in `{}`", item.upn, item.connector);
                    self.not_found(&item, &what, pass).await?;
                }
                Err(error) => self.fail(&item, &error, false, pass).await?,
            }
        }
        if ready.is_empty() {
            return Ok(());
        }
        let leases: Vec<Lease> = ready
            .iter()
            .map(|(work, account)| Lease {
                account: account.clone(),
                starts_at: work.starts_at,
                ends_at: work.ends_at,
                reason: work.reason.clone(),
                source: work.source.clone(),
            })
            .collect();
        let receipts = match connector.grant(access, target, &leases).await {
            Ok(receipts) => receipts,
            Err(error) => {
                self.fail_all(ready.iter().map(|(w, _)| w), &error, false, pass)
                    .await?;
                return Ok(());
            }
        };
        for (work, account) in &ready {
            let acted = ActedOn {
                work,
                target,
                account,
                receipt: receipts
                    .iter()
                    .find(|r| &r.account == account)
                    .map(|r| &r.detail),
            };
            if work.state == GrantState::Active {
                grants::mark_end_told(&self.pool, &self.worker, &acted).await?;
                continue;
            }
            let Some(step) = step(work.state, GrantEvent::Provisioned) else {
                continue;
            };
            if grants::mark_provisioned(&self.pool, &self.worker, step, &acted).await? {
                pass.provisioned += 1;
            }
        }
        Ok(())
    }

    /// Removal: from the pinned account (found again by its stable id after a rename or a
    /// move), then a read-back of the target. Only what the read-back shows absent is recorded
    /// as removed.
    async fn remove(
        &self,
        connector: &dyn Connector,
        access: &Access,
        target: &str,
        items: Vec<Work>,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        let (unprovisioned, pinned): (Vec<Work>, Vec<Work>) = items
            .into_iter()
            .partition(|w| w.account_ref.is_none() && !w.provisioned);
        // Every item of a removal batch is in removal (see `run_once`).
        let (Some(nothing_to_remove), Some(confirmed)) = (
            step(GrantState::Revoking, GrantEvent::NothingToRemove),
            step(GrantState::Revoking, GrantEvent::RemovalConfirmed),
        ) else {
            return Ok(());
        };
        let unprovisioned: Vec<&Work> = unprovisioned.iter().collect();
        pass.revoked += grants::mark_never_provisioned(
            &self.pool,
            &self.worker,
            nothing_to_remove,
            &unprovisioned,
        )
        .await?;
        // The pinned accounts as the directory names them now: one lookup for the batch.
        let ids: Vec<String> = pinned.iter().filter_map(|w| w.account_id.clone()).collect();
        let current: HashMap<String, String> = if ids.is_empty() {
            HashMap::new()
        } else {
            match connector.accounts_by_id(&ids).await {
                Ok(found) => found
                    .into_iter()
                    .filter_map(|a| Some((a.stable_id?, a.reference)))
                    .collect(),
                Err(error) => {
                    self.fail_all(pinned.iter(), &error, true, pass).await?;
                    return Ok(());
                }
            }
        };
        let mut ready: Vec<(Work, String)> = Vec::new();
        for item in pinned {
            let account = match (&item.account_id, &item.account_ref) {
                (Some(id), _) => match current.get(id) {
                    Some(reference) => reference.clone(),
                    None => {
                        let what = format!("the account {id}");
                        self.missing_or_late(&item, &what, Attention::AccountMissing, pass)
                            .await?;
                        continue;
                    }
                },
                // A directory without stable ids: the reference pinned at provisioning.
                (None, Some(reference)) => reference.clone(),
                // Provisioned before grants were pinned: the account as found now.
                (None, None) => match connector.find_account(&item.upn).await {
                    Ok(Some(account)) => account.reference,
                    Ok(None) => {
                        let what = format!("the account of {}", item.upn);
                        self.missing_or_late(&item, &what, Attention::AccountMissing, pass)
                            .await?;
                        continue;
                    }
                    Err(error) => {
                        self.fail(&item, &error, true, pass).await?;
                        continue;
                    }
                },
            };
            ready.push((item, account));
        }
        if ready.is_empty() {
            return Ok(());
        }
        let accounts: Vec<String> = ready.iter().map(|(_, a)| a.clone()).collect();
        if let Err(error) = connector.revoke(access, target, &accounts).await {
            self.fail_all(ready.iter().map(|(w, _)| w), &error, true, pass)
                .await?;
            return Ok(());
        }
        // The references pinned at provisioning, where the account has since been renamed.
        // Directories that keep references intact (AD) no longer list them; others (OpenLDAP
        // without referential integrity) still do, and such a stale value must go too.
        let stale: Vec<String> = ready
            .iter()
            .filter_map(|(w, current)| w.account_ref.clone().filter(|p| p != current))
            .collect();
        let mut asked = accounts.clone();
        asked.extend(stale.iter().cloned());
        // Prove it: read the target back.
        let mut still = match connector.holding(access, target, &asked).await {
            Ok(still) => still,
            Err(error) => {
                self.fail_all(ready.iter().map(|(w, _)| w), &error, true, pass)
                    .await?;
                return Ok(());
            }
        };
        let stale_held: Vec<String> = stale.into_iter().filter(|s| still.contains(s)).collect();
        if !stale_held.is_empty() {
            let again = match connector.revoke(access, target, &stale_held).await {
                Ok(()) => connector.holding(access, target, &asked).await,
                Err(error) => Err(error),
            };
            match again {
                Ok(now) => still = now,
                Err(error) => {
                    self.fail_all(ready.iter().map(|(w, _)| w), &error, true, pass)
                        .await?;
                    return Ok(());
                }
            }
        }
        let mut gone = Vec::with_capacity(ready.len());
        for (work, account) in &ready {
            let pinned_held = work.account_ref.as_ref().is_some_and(|p| still.contains(p));
            if still.contains(account) || pinned_held {
                let error = ConnectorError::Transient(
                    "the membership was still present when read back after removal".into(),
                );
                self.fail(work, &error, true, pass).await?;
            } else {
                gone.push(ActedOn {
                    work,
                    target,
                    account,
                    receipt: None,
                });
            }
        }
        let recorded =
            grants::mark_revoked_many(&self.pool, &self.worker, confirmed, &gone).await?;
        pass.revoked += recorded.len();
        let now = chrono::Utc::now();
        for done in gone.iter().filter(|d| recorded.contains(&d.work.id)) {
            let lag = (now - done.work.ends_at).to_std().unwrap_or_default();
            self.metrics.removed(&done.work.connector, lag);
        }
        Ok(())
    }

    /// A system answered "not found" for something a grant needs since its start: within the
    /// replication window it is looked for again every few seconds (new objects reach every
    /// replica of Entra, Azure or AD only after a while), and the trail says so; after it, the
    /// grant fails for good.
    async fn not_found(&self, item: &Work, what: &str, pass: &mut Pass) -> Result<(), sqlx::Error> {
        let window = self.settings.replication_window;
        let until =
            item.starts_at + chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::MAX);
        if chrono::Utc::now() < until {
            let error = ConnectorError::Transient(format!(
                "{what} is not found yet: waiting for it to replicate, looked for again until \
                 {} (LEASEGATE_REPLICATION_WINDOW)",
                until.format("%Y-%m-%d %H:%M:%S UTC")
            ));
            return self.wait(item, &error, false, pass).await;
        }
        let error = ConnectorError::Permanent(format!(
            "{what} was not found, also after the replication window of {} s",
            window.as_secs()
        ));
        self.fail(item, &error, false, pass).await
    }

    /// What a removal must act on is not found: within the grace after the end it may only be
    /// seen late (replication), so it is tried again without an alarm; after it, a person
    /// must look.
    async fn missing_or_late(
        &self,
        item: &Work,
        what: &str,
        attention: Attention,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        let grace = chrono::TimeDelta::from_std(self.settings.removal_grace)
            .unwrap_or(chrono::TimeDelta::MAX);
        if chrono::Utc::now() < item.ends_at + grace {
            let error = ConnectorError::Transient(format!(
                "{what} is not visible yet: waiting out replication before asking a person \
                 (LEASEGATE_REMOVAL_GRACE)"
            ));
            return self.wait(item, &error, true, pass).await;
        }
        self.missing(item, attention, pass).await
    }

    async fn missing(
        &self,
        item: &Work,
        what: Attention,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        let attempt = u32::try_from(item.attempts).unwrap_or(0) + 1;
        let retry = retry_delay(attempt, Duration::from_secs(300));
        tracing::error!(
            grant = %item.id, connector = %item.connector, target = %item.target_ref,
            account = ?item.account_ref, what = %what,
            "removal cannot find what it must remove from; a person must resolve it"
        );
        if grants::mark_missing(&self.pool, &self.worker, item, what, retry.as_secs_f64()).await? {
            pass.failed += 1;
        }
        Ok(())
    }

    async fn fail_all<'a>(
        &self,
        items: impl Iterator<Item = &'a Work>,
        error: &ConnectorError,
        revoke: bool,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        for item in items {
            self.fail(item, error, revoke, pass).await?;
        }
        Ok(())
    }

    async fn fail(
        &self,
        item: &Work,
        error: &ConnectorError,
        revoke: bool,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        let attempt = u32::try_from(item.attempts).unwrap_or(0) + 1;
        let retry = match error {
            ConnectorError::Throttled { retry_after, .. } => Retry::In(retry_after.as_secs_f64()),
            // A removal never gives up; it keeps trying and shows as overdue. Nor does telling
            // an active grant's target its new end: until it succeeds the target ends the
            // access early, which is safe.
            ConnectorError::Permanent(_) if revoke || item.state == GrantState::Active => {
                Retry::In(retry_delay(attempt, Duration::from_secs(300)).as_secs_f64())
            }
            ConnectorError::Permanent(_) => {
                match step(item.state, GrantEvent::ProvisioningFailed) {
                    Some(step) => Retry::Never(step),
                    None => return Ok(()),
                }
            }
            ConnectorError::Transient(_) if revoke => {
                Retry::In(retry_delay(attempt, Duration::from_secs(30)).as_secs_f64())
            }
            ConnectorError::Transient(_) => {
                Retry::In(retry_delay(attempt, Duration::from_secs(300)).as_secs_f64())
            }
        };
        self.record_failure(item, error, retry, revoke, pass).await
    }

    /// Something is only late (replication): looked at again every few seconds, up to
    /// `REPLICATION_POLL` apart, rather than with the backoff of a failing system.
    async fn wait(
        &self,
        item: &Work,
        error: &ConnectorError,
        revoke: bool,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        let attempt = u32::try_from(item.attempts).unwrap_or(0) + 1;
        let retry = Retry::In(retry_delay(attempt, REPLICATION_POLL).as_secs_f64());
        self.record_failure(item, error, retry, revoke, pass).await
    }

    async fn record_failure(
        &self,
        item: &Work,
        error: &ConnectorError,
        retry: Retry,
        revoke: bool,
        pass: &mut Pass,
    ) -> Result<(), sqlx::Error> {
        tracing::warn!(
            grant = %item.id, connector = %item.connector, target = %item.target_ref,
            attempts = item.attempts + 1, error = %error, ?retry,
            "{} failed", if revoke { "removal" } else { "provisioning" }
        );
        let grace = self.settings.removal_grace.as_secs_f64();
        if grants::mark_failed(
            &self.pool,
            &self.worker,
            item,
            &error.to_string(),
            retry,
            grace,
        )
        .await?
        {
            pass.failed += 1;
        }
        Ok(())
    }
}

/// The step `event` takes a grant in `state`; `None`, logged as the bug it is, when the state
/// machine refuses it (the claim then lapses and the grant is looked at again).
fn step(state: GrantState, event: GrantEvent) -> Option<GrantStep> {
    state
        .step(event)
        .inspect_err(|e| tracing::error!(error = %e, "the engine tried a refused transition"))
        .ok()
}

/// Waits for a notification; false when the listener broke (it is then rebuilt).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}
