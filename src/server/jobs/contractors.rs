//! The life of a contractor's identity after its request: made once approved (an Entra B2B
//! guest, the bundle granted to it), the sponsor reminded before the end, everything ended at
//! the end (leases withdrawn, the account disabled at once), the account deleted after the
//! retention. Each step is due at a time (`contractors.next_due_at`), claimed by one replica,
//! and repeated until it succeeds: the directory's writes are idempotent (an invitation asked
//! again answers the same account; disabling or deleting twice is done).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::domain::audit::AuditAction;
use crate::domain::contractor::{ContractorEvent, ContractorEvent as E, ContractorState};
use crate::domain::grant::{GrantEvent, RevokeReason};
use crate::domain::request::RequestState;
use crate::domain::step::Lifecycle as _;
use crate::domain::window::Window;
use crate::server::catalog::ContractorSpec;
use crate::server::services::{ToGrant, grant_all};
use std::sync::Arc;

use crate::server::connectors::{
    Connector, ConnectorError, Connectors, ExternalIdentities, Identity, NewIdentity,
};
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::contractors::{self, Due};
use crate::server::db::{catalog, grants, people};
use crate::server::jobs::backoff::retry_delay;

const BATCH: i64 = 20;
const CLAIM: Duration = Duration::from_secs(300);

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Worked {
    pub made: usize,
    pub reminded: usize,
    pub ended: usize,
    pub deleted: usize,
    pub closed: usize,
    /// Stopped because an identity to be made was someone else's.
    pub stopped: usize,
    pub failed: usize,
}

fn actor() -> Actor {
    Actor::system("contractors")
}

/// Acts on the contractors whose next step is due.
pub async fn run_due(pool: &PgPool, connectors: &Connectors) -> Result<Worked, sqlx::Error> {
    let mut worked = Worked::default();
    let Some(spec) = catalog::contractor_settings(&mut *pool.acquire().await?).await? else {
        return Ok(worked);
    };
    let systems = match systems(&spec, connectors) {
        Ok(systems) => systems,
        Err(problem) => {
            tracing::warn!(problem, "contractors: not handled");
            return Ok(worked);
        }
    };
    // Contractors made before guests were bound by object id at creation are bound now (by
    // the guest linked to them, never by name).
    if let Some(entra) = systems.iter().find(|s| s.signs_in)
        && let Some(tenant) = entra.connector.tenant()
    {
        let bound = contractors::bind_guests(pool, &entra.name, &tenant).await?;
        if bound > 0 {
            tracing::info!(bound, "contractors: guests bound to their sign-in identity");
        }
    }
    for due in contractors::claim_due(pool, BATCH, CLAIM.as_secs_f64()).await? {
        let step = step(pool, &spec, &systems, &due, &mut worked).await;
        if let Err(Failure::Moved) = step {
            tracing::info!(contractor = %due.id, state = %due.state, "contractor moved on meanwhile");
        } else if let Err(error) = step {
            worked.failed += 1;
            let wait = match &error {
                Failure::Directory(ConnectorError::Permanent(_)) => Duration::from_secs(3600),
                Failure::Directory(ConnectorError::Throttled { retry_after, .. }) => *retry_after,
                _ => retry_delay(
                    u32::try_from(due.attempts).unwrap_or(1),
                    Duration::from_secs(300),
                ),
            };
            tracing::warn!(contractor = %due.id, state = %due.state, error = %error, "contractor step failed");
            contractors::failed(
                pool,
                due.id,
                &error.to_string(),
                Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::minutes(5)),
            )
            .await?;
        }
    }
    Ok(worked)
}

/// A system contractors get an identity in.
struct System {
    name: String,
    connector: Arc<dyn Connector>,
    /// The identity people sign in with (Entra's guest), as opposed to a further account.
    signs_in: bool,
}

impl System {
    fn identities(&self) -> &dyn ExternalIdentities {
        self.connector
            .identities()
            .expect("checked when the systems were chosen")
    }
}

fn systems(spec: &ContractorSpec, connectors: &Connectors) -> Result<Vec<System>, String> {
    let mut systems = Vec::new();
    for (name, signs_in) in
        std::iter::once((&spec.entra, true)).chain(spec.ad.iter().map(|a| (a, false)))
    {
        let connector = connectors
            .get(name)
            .filter(|c| c.identities().is_some())
            .ok_or_else(|| {
                format!("connector `{name}` is not configured or makes no identities")
            })?;
        systems.push(System {
            name: name.clone(),
            connector,
            signs_in,
        });
    }
    Ok(systems)
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Directory(#[from] ConnectorError),
    #[error("the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Refused(String),
    /// The contractor moved on while this step ran (an administrator settled it, another
    /// replica's claim); nothing of the step was kept.
    #[error("the contractor moved on meanwhile")]
    Moved,
}

impl From<crate::error::AppError> for Failure {
    fn from(error: crate::error::AppError) -> Self {
        Failure::Refused(error.to_string())
    }
}

async fn step(
    pool: &PgPool,
    spec: &ContractorSpec,
    systems: &[System],
    due: &Due,
    worked: &mut Worked,
) -> Result<(), Failure> {
    let now = Utc::now();
    let subject = Subject {
        request: Some(due.request_id),
        entitlement: Some(due.bundle_id),
        principal: Some(due.principal_id),
        grant: None,
    };
    match due.state {
        ContractorState::Requested => {
            let mut tx = pool.begin().await?;
            match due.request_state {
                RequestState::Pending => {
                    let later = Some(now + TimeDelta::minutes(5));
                    advance(&mut tx, due, E::StillRequested, later).await?
                }
                RequestState::Approved => advance(&mut tx, due, E::Approved, Some(now)).await?,
                RequestState::Denied | RequestState::Cancelled | RequestState::Expired => {
                    advance(&mut tx, due, E::NotApproved, None).await?;
                    worked.closed += 1;
                }
            }
            tx.commit().await?;
        }
        ContractorState::Making => {
            let new = NewIdentity {
                contractor: due.id,
                number: due.number,
                email: &due.email,
                display_name: &due.display_name,
                ends_at: due.ends_at,
                redirect: &spec.redirect_url,
                base: spec.ad_base.as_deref(),
                upn_suffix: spec.ad_upn_suffix.as_deref(),
                invited_since: Some(contractors::invited_since(pool, due.id).await?),
                adopt: due.adopt_id.as_deref(),
            };
            // Made one after the other, outside any transaction; asking again answers the same
            // identity, so a step that failed halfway is simply repeated. A name that is
            // someone else's stops the onboarding: nothing of theirs is touched.
            let mut made = Vec::new();
            for system in systems {
                match system.identities().make_identity(&new).await? {
                    Identity::Made(identity) => made.push((system, identity)),
                    Identity::Taken {
                        name,
                        existing,
                        adoptable,
                    } => {
                        let taken = Taken {
                            connector: &system.name,
                            name: &name,
                            existing: &existing,
                            adoptable: adoptable.as_deref(),
                        };
                        return stop(pool, due, &subject, &taken, worked).await;
                    }
                }
            }
            let mut tx = pool.begin().await?;
            for (system, identity) in &made {
                let linked = contractors::link_account(
                    &mut tx,
                    due.principal_id,
                    &system.name,
                    identity,
                    system
                        .signs_in
                        .then(|| system.connector.tenant())
                        .flatten()
                        .as_deref(),
                )
                .await?;
                if !linked {
                    tx.rollback().await?;
                    let taken = Taken {
                        connector: &system.name,
                        name: &identity.upn,
                        existing: "an account another person holds in the portal",
                        adoptable: None,
                    };
                    return stop(pool, due, &subject, &taken, worked).await;
                }
                if let Some(url) = &identity.redeem_url {
                    contractors::set_redeem_url(&mut tx, due.id, url).await?;
                }
            }
            let to_grant = ToGrant::lock(&mut tx, due.principal_id, due.bundle_id).await?;
            for (system, identity) in &made {
                audit::record(
                    &mut tx,
                    &actor(),
                    AuditAction::ContractorMade,
                    &subject,
                    json!({ "upn": identity.upn, "object_id": identity.id,
                            "connector": system.name, "reference": identity.reference }),
                )
                .await?;
            }
            let granted = grant_all(
                &mut tx,
                due.request_id,
                due.principal_id,
                to_grant,
                Window {
                    starts_at: now,
                    ends_at: due.ends_at,
                },
                &actor(),
                now,
            )
            .await?;
            contractors::pin_accounts(&mut tx, due.principal_id).await?;
            tracing::info!(contractor = %due.id, ?granted, "contractor made");
            let next_at = reminder(spec, due).unwrap_or(due.ends_at);
            advance(&mut tx, due, E::Made, Some(next_at)).await?;
            tx.commit().await?;
            worked.made += 1;
        }
        ContractorState::Active if now >= due.ends_at => {
            let accounts =
                contractors::accounts(&mut *pool.acquire().await?, due.principal_id).await?;
            for system in systems {
                for (_, id) in accounts.iter().filter(|(name, _)| *name == system.name) {
                    system.identities().set_account_enabled(id, false).await?;
                }
            }
            let listed = listed(systems, &accounts);
            let delete_after = now + spec.retention().unwrap_or(TimeDelta::days(30));
            let mut tx = pool.begin().await?;
            for grant in people::live_grants(&mut tx, due.principal_id).await? {
                let Ok(step) = grant.state.step(GrantEvent::Withdrawn) else {
                    continue;
                };
                grants::withdraw(&mut tx, grant.id, step, RevokeReason::Expired).await?;
            }
            sqlx::query!(
                "update principals set status = $2, updated_at = now() where id = $1",
                due.principal_id,
                crate::domain::person::PrincipalStatus::Disabled
                    as crate::domain::person::PrincipalStatus
            )
            .execute(&mut *tx)
            .await?;
            contractors::set_delete_after(&mut tx, due.id, delete_after).await?;
            audit::record(
                &mut tx,
                &actor(),
                AuditAction::ContractorEnded,
                &subject,
                json!({ "accounts": listed, "delete_after": delete_after }),
            )
            .await?;
            advance(&mut tx, due, E::EndReached, Some(delete_after)).await?;
            tx.commit().await?;
            worked.ended += 1;
        }
        ContractorState::Active => {
            // The end as it stands now (an extension moves it), told to systems that end
            // accounts themselves.
            let accounts =
                contractors::accounts(&mut *pool.acquire().await?, due.principal_id).await?;
            for system in systems.iter().filter(|s| !s.signs_in) {
                for (_, id) in accounts.iter().filter(|(name, _)| *name == system.name) {
                    system.identities().set_expiry(id, due.ends_at).await?;
                }
            }
            let mut tx = pool.begin().await?;
            if due.reminded_at.is_none() && reminder(spec, due).is_some_and(|at| at <= now) {
                contractors::mark_reminded(&mut tx, due.id).await?;
                audit::record(
                    &mut tx,
                    &actor(),
                    AuditAction::ContractorEndingSoon,
                    &subject,
                    json!({ "ends_at": due.ends_at, "sponsor": due.sponsor_id }),
                )
                .await?;
                worked.reminded += 1;
            }
            let next_at = match reminder(spec, due) {
                Some(at) if at > now => at,
                _ => due.ends_at,
            };
            advance(&mut tx, due, E::Checked, Some(next_at)).await?;
            tx.commit().await?;
        }
        ContractorState::Ended if due.delete_after.is_some_and(|at| at <= now) => {
            let accounts =
                contractors::accounts(&mut *pool.acquire().await?, due.principal_id).await?;
            for system in systems {
                for (_, id) in accounts.iter().filter(|(name, _)| *name == system.name) {
                    system.identities().delete_user(id).await?;
                }
            }
            let listed = listed(systems, &accounts);
            let mut tx = pool.begin().await?;
            audit::record(
                &mut tx,
                &actor(),
                AuditAction::ContractorDeleted,
                &subject,
                json!({ "accounts": listed }),
            )
            .await?;
            advance(&mut tx, due, E::Deleted, None).await?;
            tx.commit().await?;
            worked.deleted += 1;
        }
        ContractorState::Ended => {
            let mut tx = pool.begin().await?;
            advance(&mut tx, due, E::Retained, due.delete_after).await?;
            tx.commit().await?;
        }
        state @ (ContractorState::Closed | ContractorState::Stopped | ContractorState::Deleted) => {
            tracing::error!(contractor = %due.id, %state, "a contractor in a state with nothing due");
        }
    }
    Ok(())
}

/// Writes the step `event` takes the claimed contractor through, `where state = from`. A
/// contractor that moved on meanwhile is [`Failure::Moved`]: the caller's transaction is rolled
/// back and nothing of this step is kept.
async fn advance(
    tx: &mut sqlx::PgConnection,
    due: &Due,
    event: ContractorEvent,
    next_due: Option<DateTime<Utc>>,
) -> Result<(), Failure> {
    let step = due
        .state
        .step(event)
        .map_err(|refused| Failure::Refused(refused.to_string()))?;
    if contractors::advance(tx, due.id, step, next_due).await? {
        Ok(())
    } else {
        Err(Failure::Moved)
    }
}

/// An identity the onboarding would have made, found to be someone else's.
struct Taken<'a> {
    connector: &'a str,
    name: &'a str,
    existing: &'a str,
    adoptable: Option<&'a str>,
}

/// Stops the onboarding: the sponsor sees why on their page, the administrators are alerted
/// (the trail's `contractor.stopped`), and nothing is due until one of them settles it.
async fn stop(
    pool: &PgPool,
    due: &Due,
    subject: &Subject,
    taken: &Taken<'_>,
    worked: &mut Worked,
) -> Result<(), Failure> {
    let why = format!(
        "{} in `{}` is already {}, which the portal did not make for this contractor: nothing \
         was made or changed, and the administrators have been told.",
        taken.name, taken.connector, taken.existing
    );
    tracing::error!(contractor = %due.id, connector = taken.connector, name = taken.name,
        existing = taken.existing, "contractor onboarding stopped: the identity is someone else's");
    let mut tx = pool.begin().await?;
    let step = due
        .state
        .step(E::FoundTaken)
        .map_err(|refused| Failure::Refused(refused.to_string()))?;
    if !contractors::stop(&mut tx, due.id, step, &why, taken.adoptable).await? {
        return Err(Failure::Moved);
    }
    audit::record(
        &mut tx,
        &actor(),
        AuditAction::ContractorStopped,
        subject,
        json!({ "connector": taken.connector, "name": taken.name,
                "existing": taken.existing, "adoptable": taken.adoptable }),
    )
    .await?;
    tx.commit().await?;
    worked.stopped += 1;
    Ok(())
}

/// The accounts of the contractors' systems, for the trail.
fn listed(systems: &[System], accounts: &[(String, String)]) -> Vec<serde_json::Value> {
    accounts
        .iter()
        .filter(|(name, _)| systems.iter().any(|s| s.name == *name))
        .map(|(name, id)| json!({ "connector": name, "id": id }))
        .collect()
}

/// When the sponsor is to be told the end is near, if it is still to come.
fn reminder(spec: &ContractorSpec, due: &Due) -> Option<DateTime<Utc>> {
    if due.reminded_at.is_some() {
        return None;
    }
    Some(due.ends_at - TimeDelta::days(i64::from(spec.remind_days)))
}
