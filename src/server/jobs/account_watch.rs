//! The account watch: the people who may hold a session are looked up in every connected
//! directory now and then. Someone whose account was disabled or deleted there is barred at
//! once (`principals.status`), which ends their sessions at the next request once the session
//! re-check falls due (`LEASEGATE_SESSION_RECHECK`); someone enabled again is let back in. A
//! directory that does not answer gives no verdict: nobody is barred because a server is down.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::server::connectors::{Account, Connector, Connectors};
use crate::server::db::grants;
use crate::server::db::principals::{self, WatchedAccount};

/// Lookups by sign-in name in flight at once, per connector.
const PARALLEL_LOOKUPS: usize = 8;

/// What one look found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    pub checked: usize,
    pub barred: usize,
    pub restored: usize,
}

/// A directory's verdict on one person.
enum Verdict {
    Fine,
    Barred { account: String, why: &'static str },
}

/// Checks everyone who signed in within `window` (the longest a session may last).
pub async fn check(
    pool: &PgPool,
    connectors: &Connectors,
    window: Duration,
) -> Result<Watched, sqlx::Error> {
    let rows = principals::signed_in_recently(pool, window.as_secs_f64()).await?;
    let mut by_connector: BTreeMap<String, Vec<WatchedAccount>> = BTreeMap::new();
    for row in rows {
        by_connector
            .entry(row.connector.clone())
            .or_default()
            .push(row);
    }
    let mut verdicts: HashMap<Uuid, Vec<(String, Verdict)>> = HashMap::new();
    for (name, rows) in by_connector {
        let Some(connector) = connectors.get(&name) else {
            continue;
        };
        match look_up(pool, connector.as_ref(), &rows).await {
            Ok(found) => {
                for (principal, verdict) in found {
                    verdicts
                        .entry(principal)
                        .or_default()
                        .push((name.clone(), verdict));
                }
            }
            Err(e) => {
                tracing::warn!(connector = %name, error = %e, "account watch: directory did not answer; no verdicts from it")
            }
        }
    }
    let mut watched = Watched {
        checked: verdicts.len(),
        ..Watched::default()
    };
    for (principal, said) in verdicts {
        let barred = said.iter().find_map(|(connector, verdict)| match verdict {
            Verdict::Barred { account, why } => Some(json!({
                "connector": connector, "account": account, "why": why,
            })),
            Verdict::Fine => None,
        });
        match barred {
            Some(details) => {
                if principals::set_status(pool, principal, false, details).await? {
                    tracing::warn!(%principal, "account watch: barred a person disabled in a directory");
                    watched.barred += 1;
                }
            }
            None => {
                let details = json!({ "connector": said.first().map(|(c, _)| c.clone()) });
                if principals::set_status(pool, principal, true, details).await? {
                    watched.restored += 1;
                }
            }
        }
    }
    Ok(watched)
}

/// One connector's verdicts: accounts known by stable id in one batched call, the others found
/// by sign-in name (and remembered, so the next look is by id). People without an account in
/// this directory get no verdict from it.
async fn look_up(
    pool: &PgPool,
    connector: &dyn Connector,
    rows: &[WatchedAccount],
) -> Result<Vec<(Uuid, Verdict)>, crate::server::connectors::ConnectorError> {
    let ids: Vec<String> = rows.iter().filter_map(|r| r.account_id.clone()).collect();
    let by_id: HashMap<String, Account> = if ids.is_empty() {
        HashMap::new()
    } else {
        connector
            .accounts_by_id(&ids)
            .await?
            .into_iter()
            .filter_map(|a| Some((a.stable_id.clone()?, a)))
            .collect()
    };
    // Most of the known accounts gone at once is not a wave of leavers but a directory that
    // answers wrongly (repointed, restored from backup, half-replicated): no verdicts.
    let missing = ids.iter().filter(|id| !by_id.contains_key(*id)).count();
    if missing > 2 && missing * 2 > ids.len() {
        return Err(crate::server::connectors::ConnectorError::Transient(
            format!(
                "{missing} of {} known accounts are missing at once",
                ids.len()
            ),
        ));
    }
    let mut verdicts = Vec::with_capacity(rows.len());
    let unknown: Vec<&WatchedAccount> = rows.iter().filter(|r| r.account_id.is_none()).collect();
    for row in rows.iter().filter(|r| r.account_id.is_some()) {
        let id = row.account_id.as_deref().unwrap_or_default();
        let verdict = match by_id.get(id) {
            Some(account) if account.enabled => Verdict::Fine,
            Some(account) => Verdict::Barred {
                account: account.reference.clone(),
                why: "disabled",
            },
            None => Verdict::Barred {
                account: row.account_ref.clone().unwrap_or_default(),
                why: "deleted",
            },
        };
        verdicts.push((row.principal_id, verdict));
    }
    let upns: Vec<String> = unknown.iter().map(|r| r.upn.clone()).collect();
    let found: Vec<Result<Option<Account>, _>> = futures::stream::iter(upns)
        .map(|upn| async move { connector.find_account(&upn).await })
        .buffered(PARALLEL_LOOKUPS)
        .collect()
        .await;
    for (row, account) in unknown.into_iter().zip(found) {
        let Some(account) = account? else {
            continue;
        };
        // An account that is another person's is not this person's to watch.
        match grants::remember_account(pool, row.principal_id, row.connector_id, &account).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(principal = %row.principal_id, account = %account.reference,
                    "the account found by name is another person's; not watched");
                continue;
            }
            Err(e) => tracing::warn!(error = %e, "could not remember an account reference"),
        }
        let verdict = if account.enabled {
            Verdict::Fine
        } else {
            Verdict::Barred {
                account: account.reference,
                why: "disabled",
            }
        };
        verdicts.push((row.principal_id, verdict));
    }
    Ok(verdicts)
}
