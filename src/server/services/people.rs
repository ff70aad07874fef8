//! What the directory says about people: their account, manager, department and groups, and
//! who the approvers of each stage are.

use std::sync::Arc;

use crate::domain::approval::ResolvedStage;
use crate::domain::policy::{ApproverSource, Policy, RequesterFacts, eligible_approvers};
use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::connectors::{Account, Connector, Connectors};
use crate::server::db::catalog::Entry;
use crate::server::db::people::Synced;
use crate::server::db::requests::StoredHint;

/// Most members of an approver group that are looked up; larger groups are a policy smell.
const MAX_GROUP_APPROVERS: usize = 200;

pub fn connector_of(
    connectors: &Connectors,
    entry: &Entry,
) -> Result<Arc<dyn Connector>, AppError> {
    connectors
        .get(&entry.connector)
        .ok_or_else(|| AppError::Unavailable {
            reference: crate::error::reference_for(&format!(
                "connector `{}` of entitlement `{}` is not configured",
                entry.connector, entry.key
            )),
        })
}

/// The person's account in the entitlement's system; a clear refusal when there is none,
/// worded for the person themselves (`for_self`) or for someone asking on their behalf.
pub async fn account(
    connector: &dyn Connector,
    entry: &Entry,
    upn: &str,
    for_self: bool,
) -> Result<Account, AppError> {
    connector
        .find_account(upn)
        .await
        .map_err(|e| AppError::from_system(&entry.connector, e))?
        .ok_or_else(|| {
            AppError::invalid(
                "entitlement",
                Problem::NoAccount {
                    for_self,
                    system: entry.connector.clone(),
                    upn: upn.to_string(),
                },
            )
        })
}

/// Department (the people sync's when it describes the person) and groups, for eligibility.
/// Groups are read only when the policy needs them.
pub async fn facts(
    synced: Option<&Synced>,
    connector: &dyn Connector,
    policy: &Policy,
    account: &Account,
) -> Result<RequesterFacts, AppError> {
    let groups = match policy.eligible {
        crate::domain::policy::Eligibility::Group(_) => {
            connector.groups_of(&account.reference).await?
        }
        _ => Vec::new(),
    };
    Ok(RequesterFacts {
        department: match synced {
            Some(synced) => synced.department.clone(),
            None => account.department.clone(),
        },
        groups,
    })
}

/// The manager's UPN: the people sync's when it describes the person (it follows a change of
/// manager at the next pass, whichever directory the entitlement lives in), else read from
/// the entitlement's directory through the account's `manager` reference.
pub async fn manager_upn(
    synced: Option<&Synced>,
    connector: &dyn Connector,
    account: &Account,
) -> Result<Option<String>, AppError> {
    if let Some(synced) = synced {
        return Ok(synced.manager_upn());
    }
    let Some(manager) = &account.manager else {
        return Ok(None);
    };
    // A disabled manager cannot sign in to decide; better to say so at submission.
    Ok(connector
        .account(manager)
        .await?
        .filter(|m| m.enabled)
        .and_then(|m| m.upn))
}

/// Resolves every stage to the people who may decide it, without the requester or the
/// beneficiary, and refuses a request that no one could approve.
pub async fn resolve_stages(
    synced: Option<&Synced>,
    connector: &dyn Connector,
    entry: &Entry,
    beneficiary: &Account,
    requester_upn: &str,
    beneficiary_upn: &str,
) -> Result<Vec<ResolvedStage>, AppError> {
    let mut stages = Vec::new();
    for (index, stage) in entry.policy.stages.iter().enumerate() {
        let candidates: Vec<String> = match &stage.approvers {
            ApproverSource::Manager => manager_upn(synced, connector, beneficiary)
                .await?
                .into_iter()
                .collect(),
            ApproverSource::Owners => entry.owners.clone(),
            ApproverSource::Users(users) => users.clone(),
            ApproverSource::Group(group) => {
                let members: Vec<String> = connector
                    .holders(group)
                    .await?
                    .into_iter()
                    .take(MAX_GROUP_APPROVERS)
                    .collect();
                // One batched read (bounded concurrency), not one call after the other.
                connector
                    .accounts(&members)
                    .await?
                    .into_iter()
                    .filter(|a| a.enabled)
                    .filter_map(|a| a.upn)
                    .collect()
            }
        };
        let approvers = eligible_approvers(
            index as u32,
            stage,
            &candidates,
            requester_upn,
            beneficiary_upn,
        )?;
        stages.push(ResolvedStage::new(approvers, stage.required));
    }
    Ok(stages)
}

/// What approvers should know from the directory: groups through which the beneficiary already
/// holds the access. Found once at submission and stored with the request, so the inbox never
/// asks the directory while it loads. A directory that does not answer is said, not fatal.
pub async fn hints(connector: &dyn Connector, entry: &Entry, account: &Account) -> Vec<StoredHint> {
    if !entry.access.is_membership() {
        return Vec::new();
    }
    match connector
        .indirect_paths(&entry.target, &account.reference)
        .await
    {
        Ok(paths) => paths
            .into_iter()
            .map(|group| StoredHint::Nested { group })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "nested-group hint unavailable");
            vec![StoredHint::DirectoryUnavailable]
        }
    }
}
