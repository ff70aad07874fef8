//! The access service: what the server functions call. Each operation checks who may do it,
//! applies the domain rules, talks to the directory where it must, and writes the change and
//! its audit event in one transaction.

pub mod admin;
pub mod catalog;
pub mod changes;
pub mod decide;
pub mod lifecycle;
pub mod people;
pub mod person;
pub mod submit;
pub mod views;

use crate::domain::audit::AuditAction;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::grant::{GrantEvent, GrantPlan, plan_grant};
use crate::domain::window::Window;
use crate::error::AppError;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::grants;

/// What an approved request did to the person's leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    Created(Uuid),
    Extended(Uuid),
    /// Nothing to do: already covered, or the window passed while the request waited.
    Nothing(String),
}

/// Turns an approved window into a lease: a new grant, or a later end for the live one.
///
/// `live` is the person's live grant of the entitlement, locked with
/// [`grants::live_for_update`] *before* the transaction wrote its first audit event. Writers
/// take locks in one order, request, then grant, then the audit chain's head (which every
/// audit insert takes), as the engine does; taking the grant after the head would deadlock
/// against a removal being recorded.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn grant_approved(
    conn: &mut PgConnection,
    request: Uuid,
    beneficiary: Uuid,
    entitlement: Uuid,
    live: Option<grants::LiveGrant>,
    window: Window,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Granted, AppError> {
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
        return Ok(Granted::Nothing(
            "The requested window ended before the request was approved.".into(),
        ));
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
                beneficiary,
                entitlement,
                request,
                w.starts_at,
                w.ends_at,
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
                json!({ "starts_at": w.starts_at, "ends_at": w.ends_at }),
            )
            .await?;
            Ok(Granted::Created(id))
        }
        Ok(GrantPlan::Extend { ends_at }) => {
            let live = live.expect("an extension has a live grant");
            let step = live.state.step(GrantEvent::Extended).map_err(|refused| {
                AppError::Conflict(format!("The access is already {}.", refused.state))
            })?;
            if !grants::extend(conn, live.id, step, ends_at).await? {
                return Err(AppError::Conflict(
                    "The access changed meanwhile. Please try again.".into(),
                ));
            }
            audit::record(
                conn,
                actor,
                AuditAction::GrantExtended,
                &Subject {
                    grant: Some(live.id),
                    ..subject
                },
                json!({ "from": live.ends_at, "to": ends_at }),
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
            Ok(Granted::Nothing(reason))
        }
    }
}

/// Two approvals for one person and entitlement raced to create a lease: one wins, the other
/// is told to try again (it will then extend the winner's lease).
fn live_grant_race(error: sqlx::Error) -> AppError {
    match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("grants_one_live") => {
            AppError::Conflict(
                "This access was granted by another approval at the same moment. Please try again."
                    .into(),
            )
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
