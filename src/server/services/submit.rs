//! Submitting a request: parse the form, apply the policy, resolve the approvers, store it
//! (and grant at once when the policy needs no approval).

use crate::domain::audit::AuditAction;
use crate::domain::step::Lifecycle as _;
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::api::types::requests::Submitted;
use crate::domain::access::Access;
use crate::domain::grant::plan_grant;
use crate::domain::input::{EntitlementKey, Justification, Ticket, Upn};
use crate::domain::network::SourcePrefix;
use crate::domain::problem::{Notice, Problem};
use crate::domain::request::{RequestEvent, RequestState};
use crate::domain::violation::Violation;
use crate::domain::window::{RequestedEnd, Window, WindowRequest, resolve_window};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::connectors::{Account, Connectors};
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog::Entry;
use crate::server::db::requests::{NewRequest, Snapshot, StoredHint};
use crate::server::db::{catalog, grants, requests};
use crate::server::services::{ToGrant, grant_all, people, window_at_approval};

/// A request as the service takes it: read from the form and checked for shape at the edge,
/// not yet against the policy.
#[derive(Debug, Clone)]
pub struct Submission {
    pub entitlement: EntitlementKey,
    pub window: WindowRequest,
    pub justification: Justification,
    pub ticket: Ticket,
    pub on_behalf_of: Option<Upn>,
    pub client_token: Uuid,
    /// Where the person connects from, as typed (checked against the entry when it is
    /// known).
    pub source_address: String,
}

/// The address a request for `access` opens it to: the entry's fixed one, else the one the
/// person gave, which must be theirs to give (one address, or a narrow prefix). `None` for
/// access that is not opened to an address.
fn source_for(access: &Access, given: &str) -> Result<Option<String>, AppError> {
    let Access::AzureVmPort { source: fixed, .. } = access else {
        return Ok(None);
    };
    if let Some(fixed) = fixed {
        return Ok(Some(fixed.clone()));
    }
    if given.is_empty() {
        return Err(AppError::invalid(
            "source_address",
            Problem::SourceAddressNeeded,
        ));
    }
    SourcePrefix::parse_for_person(given)
        .map(|prefix| Some(prefix.to_string()))
        .map_err(|problem| AppError::invalid("source_address", Problem::SourceAddress(problem)))
}

/// Where a submission runs: the database and the connected systems.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub pool: &'a sqlx::PgPool,
    pub connectors: &'a Connectors,
}

/// Who submits: a signed-in person, or the portal itself on a person's own behalf (a joiner's
/// or mover's bundle), recorded in the trail as the portal.
#[derive(Debug, Clone)]
pub struct Submitter {
    pub principal_id: Uuid,
    pub upn: Upn,
    pub actor: Actor,
    /// An application with the automation role (a ticketing system, a pipeline): it asks for
    /// any person the portal knows, never for itself, and its request is approved as the
    /// policy says, like anyone's.
    pub for_anyone: bool,
}

impl Submitter {
    pub fn person(caller: &SessionUser) -> Self {
        Self {
            principal_id: caller.principal_id,
            upn: caller.upn.clone(),
            actor: Actor::person(caller.principal_id, &caller.display_name),
            for_anyone: false,
        }
    }

    /// An application calling the REST API with the automation role.
    pub fn application(caller: &SessionUser) -> Self {
        Self {
            for_anyone: true,
            ..Self::person(caller)
        }
    }
}

pub async fn submit(
    state: &AppState,
    caller: &SessionUser,
    submission: Submission,
) -> Result<Submitted, AppError> {
    let services = Services {
        pool: &state.pool,
        connectors: &state.connectors,
    };
    submit_by(services, &Submitter::person(caller), submission).await
}

/// Submits for `caller`; a replayed form (the same client token) answers with its first
/// request.
pub async fn submit_by(
    services: Services<'_>,
    caller: &Submitter,
    submission: Submission,
) -> Result<Submitted, AppError> {
    let token = submission.client_token;
    // A replayed form (double click, back-and-resubmit) finds its first request.
    if let Some(first) = replayed(services, caller, token).await? {
        return Ok(first);
    }
    match submit_new(services, caller, submission).await {
        // Another submission of the same form won a race with this one: answer with its
        // request, as if this one had come second.
        Err(AppError::Conflict(problem)) => match replayed(services, caller, token).await? {
            Some(first) => Ok(first),
            None => Err(AppError::Conflict(problem)),
        },
        other => other,
    }
}

async fn replayed(
    services: Services<'_>,
    caller: &Submitter,
    token: Uuid,
) -> Result<Option<Submitted>, AppError> {
    let mut conn = services.pool.acquire().await?;
    Ok(
        requests::by_client_token(&mut conn, caller.principal_id, token)
            .await?
            .map(|(id, state)| Submitted {
                request_id: id,
                done: Notice::Submitted(state),
                state,
            }),
    )
}

/// What the directory says, gathered before any database connection is taken: a slow
/// directory must never hold a pooled connection.
struct DirectoryFacts {
    /// The beneficiary's account in each system the request gives access in.
    accounts: Vec<(Uuid, Account)>,
    stages: Vec<crate::domain::approval::ResolvedStage>,
    hints: Vec<StoredHint>,
}

async fn submit_new(
    services: Services<'_>,
    caller: &Submitter,
    submission: Submission,
) -> Result<Submitted, AppError> {
    let caller_upn = caller.upn.as_str();
    let (entry, beneficiary_id, beneficiary_upn) = {
        let mut conn = services.pool.acquire().await?;
        let entry = catalog::by_key(&mut conn, submission.entitlement.as_str())
            .await?
            .ok_or(AppError::NotFound)?;
        // Whom it is for; a manager may ask for a direct report.
        let (id, upn) = match &submission.on_behalf_of {
            for_itself
                if caller.for_anyone && for_itself.as_ref().is_none_or(|u| *u == caller.upn) =>
            {
                return Err(AppError::invalid("on_behalf_of", Problem::OnBehalfOfNeeded));
            }
            None => (caller.principal_id, caller_upn.to_string()),
            Some(upn) if *upn == caller.upn => (caller.principal_id, caller_upn.to_string()),
            Some(upn) => {
                let (id, _) = requests::principal_by_upn(&mut conn, upn)
                    .await?
                    .ok_or_else(|| {
                        AppError::invalid("on_behalf_of", Problem::NobodyWithSignInName)
                    })?;
                (id, upn.to_string())
            }
        };
        (entry, id, upn)
    };
    // What the request gives: the entry, or each part of a bundle (all still offered).
    let parts: Vec<&Entry> = if entry.is_bundle() {
        if let Some(gone) = entry.items.iter().find(|p| !p.enabled) {
            return Err(AppError::Conflict(Problem::BundlePartWithdrawn {
                name: gone.entry.name.clone(),
            }));
        }
        entry.items.iter().map(|p| &p.entry).collect()
    } else {
        vec![&entry]
    };
    if parts.is_empty() {
        return Err(AppError::Conflict(Problem::BundleEmpty));
    }
    let policy = &entry.policy;
    // An application's request always waits for people: what is granted without an approval
    // (self-service, break-glass) is not for an application to ask for, whoever it names.
    if caller.for_anyone && policy.stages.is_empty() {
        return Err(AppError::Conflict(Problem::ApplicationNeedsApprovers));
    }
    let now = Utc::now();
    // The rules that need no directory first; the first one broken is answered, naming its
    // field.
    let window = resolve_window(&policy.durations, &submission.window, now)?;
    let source_address = source_for(&entry.access, &submission.source_address)?;
    if let Some(v) = policy
        .check_texts(
            submission.justification.as_str(),
            submission.ticket.as_str(),
        )
        .into_iter()
        .next()
    {
        return Err(v.into());
    }
    let facts = directory_facts(
        services,
        caller,
        &entry,
        &parts,
        beneficiary_id,
        &beneficiary_upn,
        caller_upn,
    )
    .await?;
    let snapshot = Snapshot {
        policy: policy.clone(),
        stages: facts.stages,
    };
    let start_on_approval = submission.window.start.is_none();
    let requested_minutes = match submission.window.end {
        RequestedEnd::For { minutes } if start_on_approval => i32::try_from(minutes).ok(),
        _ => None,
    };

    let mut tx = services.pool.begin().await?;
    // Submissions of one form queue here, so the second sees what the first wrote.
    requests::lock_form(&mut tx, caller.principal_id, submission.client_token).await?;
    if let Some((id, state)) =
        requests::by_client_token(&mut tx, caller.principal_id, submission.client_token).await?
    {
        return Ok(Submitted {
            request_id: id,
            done: Notice::Submitted(state),
            state,
        });
    }
    // Locked before the first audit event (see `grant_approved`).
    let to_grant = ToGrant::lock(&mut tx, beneficiary_id, entry.id).await?;
    let extends_grant = to_grant.single().map(|held| held.id);
    // The window must add something to what the person holds: to the one lease, or to at
    // least one part of a bundle (and no part may need a second lease).
    let planned: Vec<_> = to_grant
        .parts
        .iter()
        .map(|(_, live)| {
            plan_grant(
                live.as_ref().map(|held| Window {
                    starts_at: held.starts_at,
                    ends_at: held.ends_at,
                }),
                window,
            )
        })
        .collect();
    if let Some(later) = planned.iter().find_map(|p| match p {
        Err(v @ Violation::LaterThanLiveGrant { .. }) => Some(v.clone()),
        _ => None,
    }) {
        return Err(later.into());
    }
    if let Some(Err(covered)) = planned.first()
        && planned.iter().all(Result::is_err)
    {
        return Err(covered.clone().into());
    }
    if requests::pending_for(&mut tx, beneficiary_id, entry.id)
        .await?
        .is_some()
    {
        return Err(waiting_already());
    }
    let Some(id) = requests::insert(
        &mut tx,
        &NewRequest {
            requester: caller.principal_id,
            beneficiary: beneficiary_id,
            entitlement: entry.id,
            starts_at: window.starts_at,
            ends_at: window.ends_at,
            start_on_approval,
            requested_minutes,
            justification: submission.justification.as_str(),
            ticket: submission.ticket.given(),
            snapshot: &snapshot,
            expires_at: policy.pending_deadline(now),
            extends_grant,
            client_token: submission.client_token,
            hints: &facts.hints,
            source_address: source_address.as_deref(),
        },
    )
    .await
    .map_err(already_pending)?
    else {
        // The same form was submitted at the same moment and the other one won.
        return Err(waiting_already());
    };
    let actor = caller.actor.clone();
    let subject = Subject {
        request: Some(id),
        entitlement: Some(entry.id),
        principal: Some(beneficiary_id),
        grant: None,
    };
    audit::record(
        &mut tx,
        &actor,
        AuditAction::RequestSubmitted,
        &subject,
        json!({
            "entitlement": entry.key, "for": beneficiary_upn,
            "starts_at": window.starts_at, "ends_at": window.ends_at,
            "justification": submission.justification.as_str(), "ticket": submission.ticket.as_str(),
            "approvers": snapshot.stages, "source_address": source_address,
        }),
    )
    .await?;
    let mut state_after = RequestState::Pending;
    if snapshot.stages.is_empty() {
        let step = RequestState::Pending
            .step(RequestEvent::FullyApproved)
            .map_err(crate::server::services::decide::refused)?;
        requests::close(&mut tx, id, step).await?;
        audit::record(
            &mut tx,
            &Actor::system("policy"),
            AuditAction::RequestApproved,
            &subject,
            json!({ "by": "policy: no approval needed" }),
        )
        .await?;
        let now = Utc::now();
        let window = window_at_approval(
            window.starts_at,
            window.ends_at,
            start_on_approval,
            requested_minutes,
            now,
        );
        let granted = grant_all(
            &mut tx,
            id,
            beneficiary_id,
            to_grant,
            window,
            &Actor::system("policy"),
            now,
        )
        .await?;
        tracing::info!(request = %id, ?granted, "request approved by its policy");
        state_after = step.to();
        if policy.emergency {
            crate::server::db::reviews::open(&mut tx, id).await?;
            audit::record(
                &mut tx,
                &actor,
                AuditAction::BreakGlassUsed,
                &subject,
                json!({
                    "who": beneficiary_upn, "entitlement": entry.key,
                    "ends_at": window.ends_at, "justification": submission.justification.as_str(),
                }),
            )
            .await?;
            tracing::warn!(request = %id, who = %beneficiary_upn, entitlement = %entry.key, "emergency access taken");
        }
    }
    tx.commit().await?;
    for (connector, account) in &facts.accounts {
        match grants::remember_account(services.pool, beneficiary_id, *connector, account).await {
            Ok(true) => {}
            // The engine refuses to grant to it, with the reason on the grant.
            Ok(false) => tracing::warn!(principal = %beneficiary_id, account = %account.reference,
                "the account found by name is another person's; not linked"),
            Err(e) => tracing::warn!(error = %e, "could not remember an account reference"),
        }
    }
    Ok(Submitted {
        request_id: id,
        done: if policy.emergency && state_after == RequestState::Approved {
            Notice::EmergencyGranted
        } else {
            Notice::Submitted(state_after)
        },
        state: state_after,
    })
}

/// The beneficiary's account in every system of the request (a bundle's parts may be in
/// several), the on-behalf and eligibility checks, the approvers of every stage and the
/// approvers' hints: everything the directories must answer, with no database connection held
/// meanwhile. A bundle's manager, eligibility and approver groups are read as the people sync
/// describes the person, else from its first part's system.
async fn directory_facts(
    services: Services<'_>,
    caller: &Submitter,
    entry: &Entry,
    parts: &[&Entry],
    beneficiary_id: Uuid,
    beneficiary_upn: &str,
    caller_upn: &str,
) -> Result<DirectoryFacts, AppError> {
    let for_self = beneficiary_id == caller.principal_id;
    let mut accounts = Vec::new();
    let mut first = None;
    for part in parts {
        let connector = people::connector_of(services.connectors, part)?;
        let account = people::account(connector.as_ref(), part, beneficiary_upn, for_self).await?;
        if !account.enabled {
            return Err(AppError::invalid(
                "entitlement",
                Problem::AccountDisabled {
                    for_self,
                    system: part.connector.clone(),
                },
            ));
        }
        if let Some(connector_id) = part.connector_id
            && !accounts.iter().any(|(c, _)| *c == connector_id)
        {
            accounts.push((connector_id, account.clone()));
        }
        if first.is_none() {
            first = Some((connector, account));
        }
    }
    let (connector, account) = first.expect("a request gives at least one part");
    let connector = connector.as_ref();
    let synced = crate::server::db::people::synced(services.pool, beneficiary_id).await?;
    let synced = synced.as_ref();
    if !for_self && !caller.for_anyone {
        // The synced manager is a person, compared by id; without a sync, the directory's
        // manager account is compared by the name it and the caller's sign-in carry now.
        let is_manager = match synced {
            Some(synced) => synced
                .manager
                .as_ref()
                .is_some_and(|(manager, _)| *manager == caller.principal_id),
            None => people::manager_upn(None, connector, &account)
                .await?
                .is_some_and(|manager| manager.to_lowercase() == caller_upn),
        };
        if !is_manager {
            return Err(AppError::invalid(
                "on_behalf_of",
                Problem::OnBehalfOfReportsOnly,
            ));
        }
    }
    let facts = people::facts(synced, connector, &entry.policy, &account).await?;
    if !entry.policy.eligible.admits(&facts) {
        return Err(Violation::NotEligible.into());
    }
    let stages = people::resolve_stages(
        synced,
        connector,
        entry,
        &account,
        caller_upn,
        beneficiary_upn,
    )
    .await?;
    let hints = if stages.is_empty() || entry.is_bundle() {
        Vec::new()
    } else {
        people::hints(connector, entry, &account).await
    };
    Ok(DirectoryFacts {
        accounts,
        stages,
        hints,
    })
}

/// A request for the same access waits already.
fn waiting_already() -> AppError {
    AppError::Conflict(Problem::AlreadyPending)
}

fn already_pending(error: sqlx::Error) -> AppError {
    match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("access_requests_one_pending") => {
            waiting_already()
        }
        _ => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vm_port_opens_to_the_given_address_or_the_entry_s_own() {
        let asked = Access::AzureVmPort {
            port: 22,
            source: None,
        };
        assert_eq!(
            source_for(&asked, "203.0.113.7").unwrap().as_deref(),
            Some("203.0.113.7/32")
        );
        for bad in ["", "0.0.0.0/0", "10.0.0.0/8", "my laptop", "127.0.0.1"] {
            match source_for(&asked, bad) {
                Err(AppError::Invalid { field, .. }) => assert_eq!(field, "source_address"),
                other => panic!("{bad}: expected invalid, got {:?}", other),
            }
        }
        let fixed = Access::AzureVmPort {
            port: 22,
            source: Some("198.51.100.0/24".into()),
        };
        assert_eq!(
            source_for(&fixed, "").unwrap().as_deref(),
            Some("198.51.100.0/24")
        );
        assert_eq!(source_for(&Access::AdGroup, "203.0.113.7").unwrap(), None);
    }
}
