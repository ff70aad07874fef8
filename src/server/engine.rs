//! The engine: adds access at `starts_at`, removes it at `ends_at`, and proves the removal.
//!
//! Time is data: every live grant carries the instant the engine must next act on it. The
//! engine sleeps until the earliest such instant or until PostgreSQL notifies it of new work
//! (an approval, an early return); there is no polling interval to wait out. Work is claimed
//! with `FOR UPDATE SKIP LOCKED` and a lease, so any number of replicas share it and a crashed
//! replica's claims come back when the lease passes. Connector calls are idempotent and run
//! outside the claiming transaction; outcomes are recorded only under a claim still held.

mod backoff;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::server::config::EngineSettings;
use crate::server::connectors::{Connector, ConnectorError, Connectors};
use crate::server::db::grants::{self, Work};

pub use backoff::retry_delay;

/// The channel the database triggers notify on.
pub const CHANNEL: &str = "leasegate_engine";
/// Even with no notification, look again this often (a backstop, not the schedule).
const BACKSTOP: Duration = Duration::from_secs(60);
/// Connector calls in flight at once (one per target group).
const PARALLEL_TARGETS: usize = 16;

#[derive(Clone)]
pub struct Engine {
    pool: PgPool,
    connectors: Connectors,
    settings: EngineSettings,
    worker: String,
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
        }
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Runs until `shutdown` turns true; finishes the work it has claimed before returning.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.worker, "engine started");
        match grants::bring_overdue_forward(&self.pool).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                count = n,
                "overdue removals found at start-up; they go first"
            ),
            Err(e) => tracing::error!(error = %e, "could not look for overdue removals"),
        }
        let mut listener = None;
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            if listener.is_none() {
                listener = self.listen().await;
            }
            let wait = match self.run_due(&shutdown).await {
                Ok(()) => {
                    failures = 0;
                    match grants::seconds_until_next_due(&self.pool).await {
                        Ok(Some(s)) if s <= 0.0 => continue,
                        Ok(Some(s)) => Duration::from_secs_f64(s).min(BACKSTOP),
                        Ok(None) => BACKSTOP,
                        Err(e) => {
                            tracing::error!(error = %e, "engine cannot read its schedule");
                            Duration::from_secs(1)
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    let wait = retry_delay(failures, Duration::from_secs(10));
                    tracing::error!(error = %e, retry_in = ?wait, "engine pass failed");
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                notified = recv(&mut listener) => {
                    if !notified {
                        listener = None;
                    }
                }
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.worker, "engine stopped");
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "engine cannot listen for notifications; relying on its schedule");
                return None;
            }
        };
        match listener.listen(CHANNEL).await {
            Ok(()) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "engine cannot listen for notifications");
                None
            }
        }
    }

    /// Claims and works off everything due now, batch by batch.
    async fn run_due(&self, shutdown: &watch::Receiver<bool>) -> Result<(), sqlx::Error> {
        grants::expire_pending_requests(&self.pool).await?;
        loop {
            let pass = self.run_once().await?;
            if pass == Pass::default() || *shutdown.borrow() {
                return Ok(());
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
        // One connector call per target and direction: removals that fall due together on the
        // same group become one modify with many values.
        let mut batches: BTreeMap<(bool, String, String), Vec<Work>> = BTreeMap::new();
        let mut pass = Pass::default();
        for item in work {
            match item.state.as_str() {
                "scheduled" => batches
                    .entry((false, item.connector.clone(), item.target.clone()))
                    .or_default()
                    .push(item),
                "revoking" => batches
                    .entry((true, item.connector.clone(), item.target.clone()))
                    .or_default()
                    .push(item),
                _ => {
                    // Claimed but not due after all (moved by an extension meanwhile).
                    grants::release(&self.pool, &self.worker, item.id).await?;
                }
            }
        }
        let results: Vec<Result<Pass, sqlx::Error>> =
            futures::stream::iter(batches.into_iter().map(
                |((revoke, connector, target), items)| {
                    self.work_batch(revoke, connector, target, items)
                },
            ))
            .buffer_unordered(PARALLEL_TARGETS)
            .collect()
            .await;
        for result in results {
            let p = result?;
            pass.provisioned += p.provisioned;
            pass.revoked += p.revoked;
            pass.failed += p.failed;
        }
        Ok(pass)
    }

    async fn work_batch(
        &self,
        revoke: bool,
        connector_name: String,
        target: String,
        items: Vec<Work>,
    ) -> Result<Pass, sqlx::Error> {
        let mut pass = Pass::default();
        let Some(connector) = self.connectors.get(&connector_name) else {
            let error = format!("connector `{connector_name}` is not configured");
            for item in &items {
                self.fail(
                    item,
                    &ConnectorError::Permanent(error.clone()),
                    revoke,
                    &mut pass,
                )
                .await?;
            }
            return Ok(pass);
        };
        // Accounts first: found once, then remembered.
        let mut ready: Vec<(Work, String)> = Vec::new();
        for mut item in items {
            match self.account_of(connector.as_ref(), &item).await {
                Ok(Some(account)) => {
                    item.account = Some(account.clone());
                    ready.push((item, account));
                }
                Ok(None) if revoke => {
                    // No account means nothing to remove: the target cannot hold it.
                    pass.revoked +=
                        grants::mark_revoked_many(&self.pool, &self.worker, &[&item]).await?;
                }
                Ok(None) => {
                    let error = ConnectorError::Permanent(format!(
                        "no account for {} in `{}`",
                        item.upn, item.connector
                    ));
                    self.fail(&item, &error, revoke, &mut pass).await?;
                }
                Err(error) => self.fail(&item, &error, revoke, &mut pass).await?,
            }
        }
        if ready.is_empty() {
            return Ok(pass);
        }
        let accounts: Vec<String> = ready.iter().map(|(_, a)| a.clone()).collect();
        let outcome = if revoke {
            connector.revoke(&target, &accounts).await
        } else {
            connector.grant(&target, &accounts).await
        };
        if let Err(error) = outcome {
            for (item, _) in &ready {
                self.fail(item, &error, revoke, &mut pass).await?;
            }
            return Ok(pass);
        }
        if !revoke {
            for (item, _) in &ready {
                if grants::mark_provisioned(&self.pool, &self.worker, item).await? {
                    pass.provisioned += 1;
                }
            }
            return Ok(pass);
        }
        // Prove it: read the group back.
        let still = match connector.holding(&target, &accounts).await {
            Ok(still) => still,
            Err(error) => {
                for (item, _) in &ready {
                    self.fail(item, &error, revoke, &mut pass).await?;
                }
                return Ok(pass);
            }
        };
        let mut gone = Vec::with_capacity(ready.len());
        for (item, account) in &ready {
            if still.contains(account) {
                let error = ConnectorError::Transient(
                    "the membership was still present when read back after removal".into(),
                );
                self.fail(item, &error, revoke, &mut pass).await?;
            } else {
                gone.push(item);
            }
        }
        pass.revoked += grants::mark_revoked_many(&self.pool, &self.worker, &gone).await?;
        Ok(pass)
    }

    async fn account_of(
        &self,
        connector: &dyn Connector,
        item: &Work,
    ) -> Result<Option<String>, ConnectorError> {
        if let Some(account) = &item.account {
            return Ok(Some(account.clone()));
        }
        let Some(account) = connector.find_account(&item.upn).await? else {
            return Ok(None);
        };
        if let Err(e) = grants::remember_account(
            &self.pool,
            item.principal_id,
            item.connector_id,
            &account.reference,
            account.manager.as_deref(),
        )
        .await
        {
            tracing::warn!(error = %e, "could not remember an account reference");
        }
        Ok(Some(account.reference))
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
            ConnectorError::Throttled { retry_after, .. } => Some(*retry_after),
            // A removal never gives up; it keeps trying and shows as overdue.
            ConnectorError::Permanent(_) if revoke => {
                Some(retry_delay(attempt, Duration::from_secs(300)))
            }
            ConnectorError::Permanent(_) => None,
            ConnectorError::Transient(_) if revoke => {
                Some(retry_delay(attempt, Duration::from_secs(30)))
            }
            ConnectorError::Transient(_) => Some(retry_delay(attempt, Duration::from_secs(300))),
        };
        tracing::warn!(
            grant = %item.id, connector = %item.connector, target = %item.target,
            attempt, error = %error, retry_in = ?retry,
            "{} failed", if revoke { "removal" } else { "provisioning" }
        );
        if grants::mark_failed(
            &self.pool,
            &self.worker,
            item,
            &error.to_string(),
            retry.map(|d| d.as_secs_f64()),
        )
        .await?
        {
            pass.failed += 1;
        }
        Ok(())
    }
}

/// Waits for a notification; false when the listener broke (it is then rebuilt).
async fn recv(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(l) => match l.recv().await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "engine lost its notification connection");
                false
            }
        },
        None => std::future::pending().await,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}
