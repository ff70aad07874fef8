//! The people sync: each directory of the catalog's `[people]` is read on its schedule (or when
//! an administrator asks), incrementally where the directory allows and completely at least
//! every `complete_every_hours`. What it says is correlated into one person per human (Entra
//! identity, then the source anchor; never the sign-in name, which is changed and reused) and
//! stored with the cursor of the next pass in one transaction: a crash repeats a pass, never
//! skips one.
//!
//! A person whose account on a source is disabled or deleted has left: in the same transaction
//! every live lease of theirs is ended (the engine removes it at once and reads it back), their
//! pending requests are withdrawn, what waits on their decision goes to their manager, and the
//! portal bars them (their sessions end at the next re-check). A pass that would offboard more
//! people than the source's `max_leavers` is refused until an administrator forces it.

use std::collections::BTreeSet;

use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::grant::{GrantEvent, RevokeReason};
use crate::domain::request::RequestEvent;
use crate::domain::step::Lifecycle as _;
use crate::server::connectors::{ConnectorError, Connectors, DirectoryPerson};
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::people::{self, Leaver, Source};
use crate::server::db::{grants, moves, requests};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub complete: bool,
    /// People the directory described.
    pub read: usize,
    /// Of them, people the portal did not know yet.
    pub created: usize,
    /// Accounts without a sign-in name (built-in and service accounts): not people here.
    pub skipped: usize,
    /// Accounts deleted at the source.
    pub gone: usize,
    /// People whose department, title or manager changed.
    pub changed: usize,
    /// People offboarded, with the leases ended and requests withdrawn for them.
    pub left: usize,
    pub leases_ended: usize,
    pub requests_withdrawn: usize,
    pub approvals_rerouted: usize,
    /// People offboarded before whose accounts are all enabled again.
    pub returned: usize,
    /// Joiners (first described with a department or job title) and movers (either changed).
    pub moved: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("`{0}` is not a people source of the catalog")]
    NotASource(String),
    #[error("another replica is reading `{0}` now")]
    Busy(String),
    #[error("the directory: {0}")]
    Directory(#[from] ConnectorError),
    #[error(
        "refused: this pass would offboard {leavers} people at once (more than max_leavers = \
         {max}); a directory answering wrongly is likelier than so many leavers. Check the \
         directory, then force the pass from the administration page"
    )]
    Refused { leavers: usize, max: usize },
    #[error(
        "refused: this is not the directory the people were read from (it was {known}, it is \
         {found} now: re-provisioned, migrated, or the connector points elsewhere), so nobody is \
         offboarded by it. Check the connector; if this is the right directory now, confirm it \
         from the administration page"
    )]
    OtherDirectory { known: String, found: String },
    #[error("the database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Runs the passes of the sources that are due, until `stopping` turns true.
pub async fn run_due(
    pool: &PgPool,
    connectors: &Connectors,
    stopping: &watch::Receiver<bool>,
) -> Result<(), sqlx::Error> {
    for source in people::sources(pool).await?.iter().filter(|s| is_due(s)) {
        if *stopping.borrow() {
            break;
        }
        match pass(pool, connectors, &source.connector, source.requested_forced).await {
            Ok(outcome) => {
                tracing::info!(source = %source.connector, ?outcome, "people sync: pass applied")
            }
            Err(SyncError::Busy(_)) => {}
            // Recorded on the source, which the administration page shows.
            Err(e) => {
                tracing::warn!(source = %source.connector, error = %e, "people sync: pass not applied")
            }
        }
    }
    Ok(())
}

fn is_due(source: &Source) -> bool {
    source.requested_at.is_some()
        || source.last_pass_at.is_none_or(|at| {
            chrono::Utc::now() - at >= chrono::TimeDelta::seconds(i64::from(source.every_seconds))
        })
}

/// Reads one source and applies what it says. `forced` applies a pass past `max_leavers`.
pub async fn pass(
    pool: &PgPool,
    connectors: &Connectors,
    name: &str,
    forced: bool,
) -> Result<Outcome, SyncError> {
    let mut tx = pool.begin().await?;
    let Some(source) = people::lock_source(&mut tx, name).await? else {
        let known = people::sources(pool)
            .await?
            .iter()
            .any(|s| s.connector == name);
        return Err(if known {
            SyncError::Busy(name.to_string())
        } else {
            SyncError::NotASource(name.to_string())
        });
    };
    let Some(connector) = connectors.get(name) else {
        return Err(SyncError::NotASource(name.to_string()));
    };
    let complete_due = source.cursor.is_none()
        || source.requested_complete
        || source.last_complete_at.is_none_or(|at| {
            chrono::Utc::now() - at
                >= chrono::TimeDelta::seconds(i64::from(source.complete_every_seconds))
        });
    let cursor = if complete_due {
        None
    } else {
        source.cursor.as_deref()
    };
    let applied = match connector.people(cursor).await {
        Ok(read) => match same_directory(&source, &read) {
            Ok(()) => apply(&mut tx, &source, &read, forced).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(SyncError::Directory(e)),
    };
    match applied {
        Ok(outcome) => {
            tx.commit().await?;
            Ok(outcome)
        }
        Err(e) => {
            drop(tx);
            let found = match &e {
                SyncError::OtherDirectory { found, .. } => Some(found.as_str()),
                _ => None,
            };
            people::record_failure(pool, &source, &e.to_string(), found).await?;
            let refused = match &e {
                SyncError::Refused { leavers, max } => {
                    Some(json!({ "connector": name, "leavers": leavers, "max_leavers": max }))
                }
                // Said once per directory found, not on every pass that finds it again.
                SyncError::OtherDirectory { known, found }
                    if source.found_identity.as_deref() != Some(found.as_str()) =>
                {
                    Some(
                        json!({ "connector": name, "directory_was": known, "directory_is": found }),
                    )
                }
                _ => None,
            };
            if let Some(details) = refused {
                let mut conn = pool.acquire().await?;
                audit::record(
                    &mut conn,
                    &Actor::system("people sync"),
                    AuditAction::PeopleSyncRefused,
                    &Subject::default(),
                    details,
                )
                .await?;
            }
            Err(e)
        }
    }
}

/// A pass applies only from the directory the people were read from, or one an administrator
/// confirmed: a directory that is another one (re-provisioned, migrated, a connector pointed
/// elsewhere) would make everyone it does not know look like a leaver.
fn same_directory(
    source: &Source,
    read: &crate::server::connectors::PeoplePass,
) -> Result<(), SyncError> {
    match (&source.directory_identity, &read.directory) {
        (Some(known), Some(found))
            if !known.eq_ignore_ascii_case(found)
                && !source
                    .accept_identity
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(found)) =>
        {
            Err(SyncError::OtherDirectory {
                known: known.clone(),
                found: found.clone(),
            })
        }
        _ => Ok(()),
    }
}

async fn apply(
    tx: &mut PgConnection,
    source: &Source,
    read: &crate::server::connectors::PeoplePass,
    forced: bool,
) -> Result<Outcome, SyncError> {
    // The transaction's start: every account this pass describes is stamped with it.
    let started = sqlx::query_scalar!(r#"select now() as "now!: chrono::DateTime<chrono::Utc>""#)
        .fetch_one(&mut *tx)
        .await?;
    let mut outcome = Outcome {
        complete: read.complete,
        read: read.changed.len(),
        ..Outcome::default()
    };
    let mut touched = BTreeSet::new();
    for person in &read.changed {
        let Some(upn) = person
            .account
            .upn
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            outcome.skipped += 1;
            continue;
        };
        let principal = match people::known_account(
            tx,
            source.connector_id,
            person.account.stable_id.as_deref(),
            &person.account.reference,
        )
        .await?
        {
            Some(principal) => principal,
            None => match correlate(tx, read.tenant.as_deref(), person).await? {
                Some(principal) => principal,
                // A disabled account of nobody the portal knows has nothing to lose here.
                None if !person.account.enabled => {
                    outcome.skipped += 1;
                    continue;
                }
                None => {
                    outcome.created += 1;
                    let identity = read
                        .tenant
                        .as_deref()
                        .zip(person.account.stable_id.as_deref());
                    people::create(tx, person, upn, identity).await?
                }
            },
        };
        if !people::put_account(tx, principal, source.connector_id, person).await? {
            tracing::warn!(%principal, account = %person.account.reference,
                "the account is another person's in the portal; not linked");
            outcome.skipped += 1;
            continue;
        }
        if let Some((tenant, object_id)) = read
            .tenant
            .as_deref()
            .zip(person.account.stable_id.as_deref())
        {
            people::give_identity(tx, principal, tenant, object_id).await?;
        }
        touched.insert(principal);
    }
    let gone = if read.complete {
        people::mark_gone(tx, source.connector_id, &[], Some(started)).await?
    } else {
        people::mark_gone(tx, source.connector_id, &read.removed, None).await?
    };
    outcome.gone = gone.len();
    touched.extend(gone.iter().map(|(principal, _)| *principal));
    touched.extend(people::expired_on(tx, source.connector_id).await?);
    let touched: Vec<Uuid> = touched.into_iter().collect();

    // Described only once every account of the pass is stored, so a manager read later in the
    // pass than their report is found.
    for principal in &touched {
        let described = people::describe(tx, *principal).await?;
        // Joiners and movers, for the bundles given by department or job title (handled
        // once the pass is committed: `moves::handle`).
        let moved = described.moved();
        if let Some((department, title)) = moved {
            moves::record(tx, *principal, &department, &title).await?;
            outcome.moved += 1;
        }
        if !described.is_empty() {
            outcome.changed += 1;
            let manager = match described.manager {
                Some((before, after)) => Some(json!([
                    display_name(tx, before).await?,
                    display_name(tx, after).await?
                ])),
                None => None,
            };
            audit::record(
                tx,
                &Actor::system("people sync"),
                AuditAction::PersonChanged,
                &Subject {
                    principal: Some(*principal),
                    ..Subject::default()
                },
                json!({
                    "connector": source.connector,
                    "department": described.department.map(|(a, b)| json!([a, b])),
                    "job_title": described.job_title.map(|(a, b)| json!([a, b])),
                    "manager": manager,
                }),
            )
            .await?;
        }
    }

    let leavers = people::leavers(tx, &touched).await?;
    let max = usize::try_from(source.max_leavers).unwrap_or(0);
    if leavers.len() > max && !forced {
        return Err(SyncError::Refused {
            leavers: leavers.len(),
            max,
        });
    }
    for leaver in &leavers {
        offboard(tx, leaver, &mut outcome).await?;
    }
    for principal in people::returners(tx, &touched).await? {
        if people::mark_returned(tx, principal).await? {
            outcome.returned += 1;
            audit::record(
                tx,
                &Actor::system("people sync"),
                AuditAction::PrincipalEnabled,
                &Subject {
                    principal: Some(principal),
                    ..Subject::default()
                },
                json!({ "connector": source.connector, "returned": true }),
            )
            .await?;
        }
    }
    let result = serde_json::to_value(&outcome).expect("an outcome serialises");
    people::finish_pass(
        tx,
        source,
        &read.cursor,
        read.complete,
        read.directory.as_deref(),
        &result,
    )
    .await?;
    Ok(outcome)
}

async fn display_name(
    tx: &mut PgConnection,
    principal: Option<Uuid>,
) -> Result<Option<String>, sqlx::Error> {
    match principal {
        Some(id) => people::display_name(tx, id).await,
        None => Ok(None),
    }
}

/// The person an account the sync has not linked yet belongs to: the same Entra identity or
/// the same source anchor. Never the same sign-in name: names are changed and reused, and a
/// name that matched would give one human's leases and approvals to another (a person who
/// signed in before the sync read them gets their anchor at sign-in).
async fn correlate(
    tx: &mut PgConnection,
    tenant: Option<&str>,
    person: &DirectoryPerson,
) -> Result<Option<Uuid>, sqlx::Error> {
    if let Some((tenant, object_id)) = tenant.zip(person.account.stable_id.as_deref())
        && let Some(found) = people::by_identity(tx, tenant, object_id).await?
    {
        return Ok(Some(found));
    }
    match person.anchor.as_deref().filter(|a| !a.is_empty()) {
        Some(anchor) => people::by_anchor(tx, anchor).await,
        None => Ok(None),
    }
}

/// Everything a leaver held ends now; everything waiting on them moves on. One transaction
/// with the pass that saw them leave.
async fn offboard(
    tx: &mut PgConnection,
    leaver: &Leaver,
    outcome: &mut Outcome,
) -> Result<(), SyncError> {
    if !people::mark_left(tx, leaver.principal_id).await? {
        return Ok(());
    }
    outcome.left += 1;
    let actor = Actor::system("people sync");
    let why = json!({
        "connector": leaver.connector, "account": leaver.account, "why": leaver.why,
    });
    audit::record(
        tx,
        &actor,
        AuditAction::PersonLeft,
        &Subject {
            principal: Some(leaver.principal_id),
            ..Subject::default()
        },
        why.clone(),
    )
    .await?;
    for grant in people::live_grants(tx, leaver.principal_id).await? {
        let Ok(step) = grant.state.step(GrantEvent::Withdrawn) else {
            continue;
        };
        if grants::withdraw(tx, grant.id, step, RevokeReason::Offboarding).await? {
            outcome.leases_ended += 1;
            audit::record(
                tx,
                &actor,
                AuditAction::GrantOffboarded,
                &Subject {
                    grant: Some(grant.id),
                    request: grant.request_id,
                    entitlement: Some(grant.entitlement_id),
                    principal: Some(leaver.principal_id),
                },
                why.clone(),
            )
            .await?;
        }
    }
    for request in people::pending_requests_of(tx, leaver.principal_id).await? {
        let Some(locked) = people::lock_request(tx, request).await? else {
            continue;
        };
        let Ok(step) = locked.state.step(RequestEvent::Cancelled) else {
            continue;
        };
        if requests::close(tx, request, step).await? {
            outcome.requests_withdrawn += 1;
            audit::record(
                tx,
                &actor,
                AuditAction::RequestWithdrawn,
                &Subject {
                    request: Some(request),
                    entitlement: Some(locked.entitlement_id),
                    principal: Some(locked.beneficiary_id),
                    grant: None,
                },
                json!({
                    "who": leaver.display_name, "connector": leaver.connector, "why": leaver.why,
                }),
            )
            .await?;
        }
    }
    let manager = match leaver.manager_id {
        Some(id) => people::upn_of(tx, id)
            .await?
            .filter(|(_, active)| *active)
            .map(|(upn, _)| (id, upn)),
        None => None,
    };
    // Their contractors go to their manager, who sponsors them from now on.
    if let Some((manager_id, manager_upn)) = &manager {
        for (contractor, person) in
            crate::server::db::contractors::hand_over(tx, leaver.principal_id, *manager_id).await?
        {
            audit::record(
                tx,
                &actor,
                AuditAction::ContractorSponsorChanged,
                &Subject {
                    principal: Some(person),
                    ..Subject::default()
                },
                json!({ "contractor": contractor, "from": leaver.upn, "to": manager_upn }),
            )
            .await?;
        }
    }
    for waiting in people::waiting_on(tx, leaver.principal_id).await? {
        // The manager decides in the leaver's place, unless the request is theirs.
        let instead = manager
            .as_ref()
            .map(|(id, _)| *id)
            .filter(|id| *id != waiting.requester_id && *id != waiting.beneficiary_id);
        people::reroute(
            tx,
            waiting.request_id,
            waiting.stage,
            leaver.principal_id,
            instead,
        )
        .await?;
        outcome.approvals_rerouted += 1;
        audit::record(
            tx,
            &actor,
            AuditAction::ApprovalRerouted,
            &Subject {
                request: Some(waiting.request_id),
                entitlement: Some(waiting.entitlement_id),
                principal: Some(waiting.beneficiary_id),
                grant: None,
            },
            json!({
                "from": leaver.upn,
                "to": instead.and(manager.as_ref().map(|(_, upn)| upn)),
                "stage": waiting.stage + 1,
                "why": "offboarding",
            }),
        )
        .await?;
    }
    Ok(())
}
