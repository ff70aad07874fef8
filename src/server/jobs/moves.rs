//! Joiner/mover templates. A bundle that names departments or job titles is requested for a
//! person, under the bundle's own policy, when the people sync first describes them there (a
//! joiner) or sees them move there (a mover); a mover's bundles of the role they left end when
//! the bundle's grace has passed. The sync records each joiner and mover in its pass's
//! transaction (`people_moves`); this acts on them afterwards, because requesting asks the
//! directories, which no transaction may wait on. A system that does not answer leaves the move
//! to be tried again; a refusal (no account in a part's system, a policy the person does not
//! meet) is recorded in the trail and the move is done.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::grant::GrantEvent;
use crate::domain::input::{EntitlementKey, Justification, Ticket, Upn};
use crate::domain::request::RequestEvent;
use crate::domain::step::Lifecycle as _;
use crate::domain::window::{RequestedEnd, WindowRequest};
use crate::error::AppError;
use crate::server::connectors::Connectors;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog::{self, Template};
use crate::server::db::moves::{self, Move};
use crate::server::db::{grants, requests};
use crate::server::services::submit::{Services, Submission, Submitter, submit_by};

/// Moves claimed at a time.
const BATCH: i64 = 50;
/// How long a claim holds before another replica may take the move.
const CLAIM: Duration = Duration::from_secs(300);
/// When a move waits for a system that did not answer.
const RETRY: Duration = Duration::from_secs(60);

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Handled {
    pub moves: usize,
    /// Bundles requested for joiners and movers.
    pub requested: usize,
    /// Parts of a left role's bundles whose end moved to the end of the grace.
    pub shortened: usize,
    /// Pending requests for a left role's bundles, cancelled.
    pub cancelled: usize,
    /// Requests the portal could not make (recorded in the trail).
    pub refused: usize,
    /// Moves left for later: a system did not answer.
    pub waiting: usize,
}

fn actor() -> Actor {
    Actor::system("joiner/mover")
}

/// "department Sales → Finance, job title Analyst": what changed, for the trail.
fn why(m: &Move) -> String {
    let part = |what: &str, from: &Option<String>, to: &Option<String>| match (from, to) {
        (a, b) if a == b => None,
        (None, Some(to)) => Some(format!("{what} {to}")),
        (Some(from), None) => Some(format!("{what} {from} → none")),
        (Some(from), Some(to)) => Some(format!("{what} {from} → {to}")),
        (None, None) => None,
    };
    let changes: Vec<String> = [
        part("department", &m.from_department, &m.to_department),
        part("job title", &m.from_job_title, &m.to_job_title),
    ]
    .into_iter()
    .flatten()
    .collect();
    let joined = m.from_department.is_none() && m.from_job_title.is_none();
    format!(
        "{} ({})",
        if joined { "joined" } else { "moved" },
        changes.join(", ")
    )
}

/// The form token of the automatic request for `bundle` on move `m`: the same on every try,
/// so a retried move finds the request it made before instead of making a second.
fn token(m: &Move, bundle: Uuid) -> Uuid {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        [m.id.as_bytes().as_slice(), bundle.as_bytes().as_slice()]
            .concat()
            .as_slice(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Acts on the joiners and movers the people sync recorded, a batch at a time.
pub async fn handle(pool: &PgPool, connectors: &Connectors) -> Result<Handled, sqlx::Error> {
    let mut handled = Handled::default();
    let claimed = moves::claim(pool, BATCH, CLAIM.as_secs_f64()).await?;
    if claimed.is_empty() {
        return Ok(handled);
    }
    let templates = catalog::templates(&mut *pool.acquire().await?).await?;
    for m in claimed {
        handled.moves += 1;
        let had: Vec<&Template> = templates
            .iter()
            .filter(|t| t.fits(m.from_department.as_deref(), m.from_job_title.as_deref()))
            .collect();
        let gets: Vec<&Template> = templates
            .iter()
            .filter(|t| t.fits(m.to_department.as_deref(), m.to_job_title.as_deref()))
            .collect();
        let leaving: Vec<&Template> = had
            .iter()
            .filter(|t| !gets.iter().any(|g| g.id == t.id))
            .copied()
            .collect();
        let joining: Vec<&Template> = gets
            .iter()
            .filter(|t| m.active && !had.iter().any(|h| h.id == t.id))
            .copied()
            .collect();
        let why = why(&m);
        let mut outcome = json!({ "why": why });
        if !leaving.is_empty() {
            let (shortened, cancelled) = leave(pool, &m, &leaving, &why).await?;
            handled.shortened += shortened;
            handled.cancelled += cancelled;
            outcome["shortened"] = json!(shortened);
        }
        let mut requested = Vec::new();
        let mut refused = Vec::new();
        let mut wait = false;
        for bundle in joining {
            match request(pool, connectors, &m, bundle, &why).await {
                Ok(()) => requested.push(bundle.key.clone()),
                Err(AppError::Unavailable { .. } | AppError::SystemUnavailable { .. })
                    if m.attempts < 60 =>
                {
                    wait = true;
                }
                Err(error) => {
                    let reason = error.to_string();
                    audit::record(
                        &mut *pool.acquire().await?,
                        &actor(),
                        AuditAction::RequestAutomaticRefused,
                        &Subject {
                            entitlement: Some(bundle.id),
                            principal: Some(m.principal_id),
                            ..Subject::default()
                        },
                        json!({ "who": m.display_name, "why": why, "reason": reason,
                                "bundle": bundle.key }),
                    )
                    .await?;
                    refused.push(json!({ "bundle": bundle.key, "reason": reason }));
                }
            }
        }
        handled.requested += requested.len();
        handled.refused += refused.len();
        if wait {
            handled.waiting += 1;
            moves::retry_in(pool, m.id, RETRY.as_secs_f64()).await?;
            continue;
        }
        outcome["requested"] = json!(requested);
        outcome["refused"] = json!(refused);
        moves::finish(pool, m.id, &outcome).await?;
    }
    Ok(handled)
}

/// The role's bundles the mover left: each live part ends at the end of the grace (never
/// later than it would have), and a request still waiting for them is cancelled.
async fn leave(
    pool: &PgPool,
    m: &Move,
    leaving: &[&Template],
    why: &str,
) -> Result<(usize, usize), sqlx::Error> {
    let (mut shortened, mut cancelled) = (0, 0);
    let mut tx = pool.begin().await?;
    for bundle in leaving {
        let end = Utc::now() + TimeDelta::seconds(i64::from(bundle.grace_seconds));
        // Locks in the one order (request, then grants) and before the first audit event, as
        // everywhere (see `grant_approved`).
        let pending = match requests::pending_for(&mut tx, m.principal_id, bundle.id).await? {
            Some(id) => requests::lock(&mut tx, id).await?,
            None => None,
        };
        let parts = grants::lock_bundle(&mut tx, m.principal_id, bundle.id).await?;
        for part in parts.iter().filter(|p| p.ends_at > end) {
            let Ok(step) = part.state.step(GrantEvent::Shortened) else {
                continue;
            };
            if grants::shorten(&mut tx, part.id, step, end).await? {
                shortened += 1;
                audit::record(
                    &mut tx,
                    &actor(),
                    AuditAction::GrantShortened,
                    &Subject {
                        grant: Some(part.id),
                        request: part.request_id,
                        entitlement: Some(part.entitlement_id),
                        principal: Some(m.principal_id),
                    },
                    json!({ "from": part.ends_at, "to": end, "why": why,
                            "bundle": bundle.key }),
                )
                .await?;
            }
        }
        if let Some(request) = pending
            && let Ok(step) = request.state.step(RequestEvent::Cancelled)
            && requests::close(&mut tx, request.id, step).await?
        {
            cancelled += 1;
            audit::record(
                &mut tx,
                &actor(),
                AuditAction::RequestCancelled,
                &Subject {
                    request: Some(request.id),
                    entitlement: Some(bundle.id),
                    principal: Some(m.principal_id),
                    grant: None,
                },
                json!({ "why": why }),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok((shortened, cancelled))
}

/// Requests `bundle` for the person, as the portal, under the bundle's policy.
async fn request(
    pool: &PgPool,
    connectors: &Connectors,
    m: &Move,
    bundle: &Template,
    why: &str,
) -> Result<(), AppError> {
    let submitter = Submitter {
        principal_id: m.principal_id,
        upn: Upn::from_directory(&m.upn),
        actor: actor(),
        for_anyone: false,
    };
    let submission = Submission {
        entitlement: EntitlementKey::from_catalog(bundle.key.clone()),
        window: WindowRequest {
            start: None,
            end: RequestedEnd::For {
                minutes: u32::try_from(bundle.default_minutes).unwrap_or(60),
            },
        },
        justification: Justification::by_portal(format!("Requested by the portal: {why}.")),
        ticket: Ticket::default(),
        on_behalf_of: None,
        client_token: token(m, bundle.id),
        source_address: String::new(),
    };
    submit_by(Services { pool, connectors }, &submitter, submission).await?;
    Ok(())
}
