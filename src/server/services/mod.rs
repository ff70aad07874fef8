//! The access service: what the server functions call. Each operation checks who may do it,
//! applies the domain rules, talks to the directory where it must, and writes the change and
//! its audit event in one transaction.

pub mod access_reviews;
pub mod admin;
pub mod catalog;
pub mod catalog_edits;
pub mod changes;
pub mod contractors;
pub mod dashboard;
pub mod decide;
pub mod delegation;
pub mod emergency;
pub mod evidence;
pub mod evidence_file;
pub mod findings;
pub mod holdings;
pub mod lifecycle;
pub mod people;
pub mod person;
pub mod settings;
pub mod submit;
pub mod views;

use crate::domain::audit::AuditAction;
use crate::domain::step::Lifecycle as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::grant::{GrantEvent, GrantPlan, plan_grant};
use crate::domain::problem::{Grants, Problem};
use crate::domain::window::Window;
use crate::error::AppError;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::{catalog as stored_catalog, grants};

/// What an approved request did to the person's leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    Created(Uuid),
    Extended(Uuid),
    /// Nothing to do: already covered, or the window passed while the request waited.
    Nothing(Problem),
}

/// What an approval grants: the entry itself, or each part of a bundle (a grant per part,
/// remembering the bundle), with the person's live grant of each, locked.
pub(crate) struct ToGrant {
    pub bundle: Option<Uuid>,
    /// In the bundle's order.
    pub parts: Vec<(Uuid, Option<grants::LiveGrant>)>,
}

impl ToGrant {
    /// Locks the beneficiary's live grants of what `entitlement` gives (its parts, when it is
    /// a bundle; refused when one was taken out of the catalog). Call it *before* the transaction writes its first audit event
    /// (see [`grant_approved`]); rows are locked in id order, so two approvals of bundles
    /// that share a part cannot deadlock.
    pub async fn lock(
        conn: &mut PgConnection,
        beneficiary: Uuid,
        entitlement: Uuid,
    ) -> Result<Self, AppError> {
        let (bundle, ids) = match stored_catalog::parts_of(conn, entitlement).await? {
            None => (None, vec![entitlement]),
            Some(parts) if parts.iter().any(|(_, enabled)| !enabled) => {
                return Err(AppError::Conflict(Problem::BundlePartGone));
            }
            Some(parts) => (
                Some(entitlement),
                parts.into_iter().map(|(id, _)| id).collect(),
            ),
        };
        let mut sorted = ids.clone();
        sorted.sort();
        let mut live = Vec::new();
        for id in &sorted {
            live.push((*id, grants::live_for_update(conn, beneficiary, *id).await?));
        }
        let parts = ids
            .iter()
            .map(|id| {
                let at = live
                    .iter()
                    .position(|(l, _)| l == id)
                    .expect("locked above");
                live.swap_remove(at)
            })
            .collect();
        Ok(Self { bundle, parts })
    }

    /// The one live grant of an entry that is not a bundle.
    pub fn single(&self) -> Option<&grants::LiveGrant> {
        match (self.bundle, self.parts.as_slice()) {
            (None, [(_, live)]) => live.as_ref(),
            _ => None,
        }
    }
}

/// Grants every part of an approved request (see [`grant_approved`]), and says what was done
/// for the person who approved or asked.
pub(crate) async fn grant_all(
    conn: &mut PgConnection,
    request: Uuid,
    beneficiary: Uuid,
    to_grant: ToGrant,
    window: Window,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Grants, AppError> {
    let bundle = to_grant.bundle;
    let mut outcomes = Vec::new();
    for (entitlement, live) in to_grant.parts {
        outcomes.push(
            grant_approved(
                conn,
                &Approved {
                    request,
                    beneficiary,
                    entitlement,
                    bundle,
                },
                live,
                window,
                actor,
                now,
            )
            .await?,
        );
    }
    Ok(match (bundle, outcomes.as_slice()) {
        (None, [Granted::Created(_)]) => Grants::Created,
        (None, [Granted::Extended(_)]) => Grants::Extended,
        (None, [Granted::Nothing(reason)]) => Grants::Nothing(reason.clone()),
        _ => {
            let given = outcomes
                .iter()
                .filter(|o| !matches!(o, Granted::Nothing(_)))
                .count() as u32;
            match outcomes.iter().find_map(|o| match o {
                Granted::Nothing(reason) => Some(reason),
                _ => None,
            }) {
                None => Grants::AllParts { given },
                Some(reason) if given == 0 => Grants::Nothing(reason.clone()),
                Some(reason) => Grants::SomeParts {
                    given,
                    of: outcomes.len() as u32,
                    reason: reason.clone(),
                },
            }
        }
    })
}

/// One part of an approved request: the entitlement granted, and the bundle it came with.
pub(crate) struct Approved {
    pub request: Uuid,
    pub beneficiary: Uuid,
    pub entitlement: Uuid,
    pub bundle: Option<Uuid>,
}

/// Turns an approved window into a lease: a new grant, or a later end for the live one (which,
/// for a bundle's part, then belongs to the bundle and ends with it).
///
/// `live` is the person's live grant of the entitlement, locked with
/// [`grants::live_for_update`] *before* the transaction wrote its first audit event. Writers
/// take locks in one order, request, then grant, then the audit chain's head (which every
/// audit insert takes), as the engine does; taking the grant after the head would deadlock
/// against a removal being recorded.
pub(crate) async fn grant_approved(
    conn: &mut PgConnection,
    approved: &Approved,
    live: Option<grants::LiveGrant>,
    window: Window,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Granted, AppError> {
    let Approved {
        request,
        beneficiary,
        entitlement,
        bundle,
    } = *approved;
    let subject = Subject {
        request: Some(request),
        entitlement: Some(entitlement),
        principal: Some(beneficiary),
        grant: None,
    };
    if window.ends_at <= now {
        audit::record(
            conn,
            actor,
            AuditAction::RequestWindowPassed,
            &subject,
            json!({}),
        )
        .await?;
        return Ok(Granted::Nothing(Problem::WindowEnded));
    }
    let window = Window {
        starts_at: window.starts_at.max(now),
        ends_at: window.ends_at,
    };
    let plan = plan_grant(
        live.as_ref().map(|l| Window {
            starts_at: l.starts_at,
            ends_at: l.ends_at,
        }),
        window,
    );
    match plan {
        Ok(GrantPlan::Create(w)) => {
            let id = grants::create(
                conn,
                &grants::NewGrant {
                    principal: beneficiary,
                    entitlement,
                    request,
                    bundle,
                    starts_at: w.starts_at,
                    ends_at: w.ends_at,
                },
            )
            .await
            .map_err(live_grant_race)?;
            audit::record(
                conn,
                actor,
                AuditAction::GrantCreated,
                &Subject {
                    grant: Some(id),
                    ..subject
                },
                json!({ "starts_at": w.starts_at, "ends_at": w.ends_at, "bundle": bundle }),
            )
            .await?;
            Ok(Granted::Created(id))
        }
        Ok(GrantPlan::Extend { ends_at }) => {
            let live = live.expect("an extension has a live grant");
            let step = live
                .state
                .step(GrantEvent::Extended)
                .map_err(|refused| AppError::Conflict(Problem::GrantAlready(refused.state)))?;
            if !grants::extend(conn, live.id, step, ends_at, bundle).await? {
                return Err(AppError::Conflict(Problem::GrantChanged));
            }
            audit::record(
                conn,
                actor,
                AuditAction::GrantExtended,
                &Subject {
                    grant: Some(live.id),
                    ..subject
                },
                json!({ "from": live.ends_at, "to": ends_at, "bundle": bundle }),
            )
            .await?;
            Ok(Granted::Extended(live.id))
        }
        Err(violation) => {
            let reason = violation.to_string();
            audit::record(
                conn,
                actor,
                AuditAction::RequestNothingToGrant,
                &subject,
                json!({ "reason": reason }),
            )
            .await?;
            Ok(Granted::Nothing(Problem::Rule(violation)))
        }
    }
}

/// Two approvals for one person and entitlement raced to create a lease: one wins, the other
/// is told to try again (it will then extend the winner's lease).
fn live_grant_race(error: sqlx::Error) -> AppError {
    match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("grants_one_live") => {
            AppError::Conflict(Problem::GrantedConcurrently)
        }
        _ => error.into(),
    }
}

/// The window a request stands for once approved now.
pub(crate) fn window_at_approval(
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    start_on_approval: bool,
    requested_minutes: Option<i32>,
    now: DateTime<Utc>,
) -> Window {
    match (start_on_approval, requested_minutes) {
        (true, Some(m)) if m > 0 => Window {
            starts_at: now,
            ends_at: now + chrono::TimeDelta::minutes(i64::from(m)),
        },
        _ => Window { starts_at, ends_at },
    }
}

/// The governance roles (or an application with the auditor role, which the REST API makes an
/// auditor): the one check in front of every reading of the trail, for the pages and the API.
pub fn may_read_trail(
    caller: &crate::server::app::auth::session::SessionUser,
) -> Result<(), AppError> {
    if crate::domain::role::can_view_governance(&caller.roles) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}
