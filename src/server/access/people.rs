//! What the directory says about people: their account, manager, department and groups, and
//! who the approvers of each stage are.

use std::sync::Arc;

use crate::domain::approval::ResolvedStage;
use crate::domain::policy::{ApproverSource, Policy, RequesterFacts, eligible_approvers};
use crate::error::AppError;
use crate::server::connectors::{Account, Connector};
use crate::server::db::catalog::Entry;
use crate::server::state::AppState;

/// Most members of an approver group that are looked up; larger groups are a policy smell.
const MAX_GROUP_APPROVERS: usize = 200;

pub fn connector_of(state: &AppState, entry: &Entry) -> Result<Arc<dyn Connector>, AppError> {
    state
        .connectors
        .get(&entry.connector)
        .ok_or_else(|| AppError::Unavailable {
            reference: crate::error::reference_for(&format!(
                "connector `{}` of entitlement `{}` is not configured",
                entry.connector, entry.key
            )),
        })
}

/// The person's account in the entitlement's system; a clear refusal when there is none.
pub async fn account(
    connector: &dyn Connector,
    entry: &Entry,
    upn: &str,
    whose: &str,
) -> Result<Account, AppError> {
    connector.find_account(upn).await?.ok_or_else(|| {
        AppError::invalid(
            "entitlement",
            format!(
                "{whose} no account in {} that matches {upn}, so this access cannot be granted. \
                 Ask the directory's administrators to link the account.",
                entry.connector
            ),
        )
    })
}

/// Department and groups, for eligibility. Groups are read only when the policy needs them.
pub async fn facts(
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
        department: account.department.clone(),
        groups,
    })
}

/// The manager's UPN, read from the directory through the account's `manager` reference.
pub async fn manager_upn(
    connector: &dyn Connector,
    account: &Account,
) -> Result<Option<String>, AppError> {
    let Some(manager) = &account.manager else {
        return Ok(None);
    };
    Ok(connector.account(manager).await?.and_then(|m| m.upn))
}

/// Resolves every stage to the people who may decide it, without the requester or the
/// beneficiary, and refuses a request that no one could approve.
pub async fn resolve_stages(
    connector: &dyn Connector,
    entry: &Entry,
    beneficiary: &Account,
    requester_upn: &str,
    beneficiary_upn: &str,
) -> Result<Vec<ResolvedStage>, AppError> {
    let mut stages = Vec::new();
    for (index, stage) in entry.policy.stages.iter().enumerate() {
        let candidates: Vec<String> = match &stage.approvers {
            ApproverSource::Manager => manager_upn(connector, beneficiary)
                .await?
                .into_iter()
                .collect(),
            ApproverSource::Owners => entry.owners.clone(),
            ApproverSource::Users(users) => users.clone(),
            ApproverSource::Group(group) => {
                let mut upns = Vec::new();
                for member in connector
                    .holders(group)
                    .await?
                    .into_iter()
                    .take(MAX_GROUP_APPROVERS)
                {
                    if let Some(upn) = connector.account(&member).await?.and_then(|a| a.upn) {
                        upns.push(upn);
                    }
                }
                upns
            }
        };
        let approvers = eligible_approvers(
            index as u32,
            stage,
            &candidates,
            requester_upn,
            beneficiary_upn,
        )?;
        stages.push(ResolvedStage {
            approvers,
            required: stage.required,
        });
    }
    Ok(stages)
}
