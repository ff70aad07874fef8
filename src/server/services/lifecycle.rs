//! What a person does with their own requests and leases: cancel, give back, extend.

use crate::domain::audit::AuditAction;
use crate::domain::step::Lifecycle as _;
use serde_json::json;
use uuid::Uuid;

use crate::api::types::requests::Submitted;
use crate::domain::grant::{GrantEvent, RevokeReason};
use crate::domain::input::{EntitlementKey, Justification, Ticket};
use crate::domain::problem::Problem;
use crate::domain::request::RequestEvent;
use crate::domain::window::{RequestedEnd, WindowRequest};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::{grants, requests};
use crate::server::services::submit::{Submission, submit};

/// Cancels a pending request; only its requester or the person it is for may.
pub async fn cancel(
    state: &AppState,
    caller: &SessionUser,
    request_id: Uuid,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let request = requests::lock(&mut tx, request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if request.requester_id != caller.principal_id && request.beneficiary_id != caller.principal_id
    {
        return Err(AppError::Forbidden);
    }
    crate::server::services::decide::close(&mut tx, &request, RequestEvent::Cancelled).await?;
    if let Some(contractor) =
        crate::server::db::contractors::of_request(&mut tx, request_id).await?
        && let Ok(step) = contractor
            .state
            .step(crate::domain::contractor::ContractorEvent::NotApproved)
    {
        crate::server::db::contractors::advance(&mut tx, contractor.id, step, None).await?;
    }
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        AuditAction::RequestCancelled,
        &Subject {
            request: Some(request_id),
            entitlement: Some(request.entitlement_id),
            principal: Some(request.beneficiary_id),
            grant: None,
        },
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Gives a live lease back early; the engine removes the access at once. A bundle's part is
/// given back with the rest of its bundle: the parts were asked for, approved and end together.
pub async fn give_back(
    state: &AppState,
    caller: &SessionUser,
    grant_id: Uuid,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let grant = grants::lock(&mut tx, grant_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if grant.principal_id != caller.principal_id {
        return Err(AppError::Forbidden);
    }
    let refused = |refused: crate::domain::grant::InvalidGrantTransition| {
        AppError::Conflict(Problem::GrantAlready(refused.state))
    };
    let mut parts = vec![grant];
    if let Some(bundle) = parts[0].bundle_id {
        // The clicked part is locked already; the others in id order.
        let others = grants::lock_bundle(&mut tx, caller.principal_id, bundle).await?;
        parts.extend(others.into_iter().filter(|g| g.id != grant_id));
    }
    for part in &parts {
        let step = part.state.step(GrantEvent::Withdrawn).map_err(refused)?;
        if !grants::withdraw(&mut tx, part.id, step, RevokeReason::Returned).await? {
            return Err(AppError::Conflict(Problem::GrantChanged));
        }
        audit::record(
            &mut tx,
            &Actor::person(caller.principal_id, &caller.display_name),
            AuditAction::GrantReturned,
            &Subject {
                grant: Some(part.id),
                request: part.request_id,
                entitlement: Some(part.entitlement_id),
                principal: Some(part.principal_id),
            },
            json!({ "bundle": part.bundle_id }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Asks for `minutes` more on a live lease: a request under the entitlement's policy for the
/// window from now to the new end.
pub async fn extend(
    state: &AppState,
    caller: &SessionUser,
    extension: Extension,
) -> Result<Submitted, AppError> {
    let grant = grants::for_extension(&state.pool, extension.grant)
        .await?
        .ok_or(AppError::NotFound)?;
    if grant.principal_id != caller.principal_id {
        return Err(AppError::Forbidden);
    }
    if grant.state.step(GrantEvent::Extended).is_err() {
        return Err(AppError::Conflict(Problem::OnlyHeldExtends));
    }
    let new_end = grant
        .ends_at
        .checked_add_signed(chrono::TimeDelta::minutes(i64::from(extension.minutes)))
        .ok_or_else(|| AppError::invalid("minutes", Problem::ChooseMoreTime))?;
    let submission = Submission {
        entitlement: EntitlementKey::from_catalog(grant.entitlement_key),
        window: WindowRequest {
            start: None,
            end: RequestedEnd::Until(new_end),
        },
        justification: extension.justification,
        ticket: Ticket::default(),
        on_behalf_of: None,
        client_token: extension.client_token,
        // An extension keeps the address the access was opened to.
        source_address: grants::source_address(&state.pool, extension.grant)
            .await?
            .unwrap_or_default(),
    };
    submit(state, caller, submission).await
}

/// An extension as the service takes it, read from the form at the edge (`api::forms`).
#[derive(Debug, Clone)]
pub struct Extension {
    pub grant: Uuid,
    /// At most a year: longer than any policy allows.
    pub minutes: u32,
    pub justification: Justification,
    pub client_token: Uuid,
}
