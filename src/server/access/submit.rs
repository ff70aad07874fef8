//! Submitting a request: parse the form, apply the policy, resolve the approvers, store it
//! (and grant at once when the policy needs no approval).

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::api::requests::{RequestForm, Submitted};
use crate::domain::grant::plan_grant;
use crate::domain::violation::Violation;
use crate::domain::window::{RequestedEnd, Window, WindowRequest, resolve_window};
use crate::error::AppError;
use crate::server::access::{Granted, grant_approved, people, window_at_approval};
use crate::server::auth::session::SessionUser;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::requests::{NewRequest, Snapshot};
use crate::server::db::{catalog, requests};
use crate::server::state::AppState;

/// The form, read and checked for shape (not yet against the policy).
pub struct Parsed {
    pub entitlement: String,
    pub window: WindowRequest,
    pub justification: String,
    pub ticket: String,
    pub on_behalf_of: Option<String>,
    pub client_token: Uuid,
}

pub fn parse(form: &RequestForm) -> Result<Parsed, AppError> {
    let client_token = Uuid::parse_str(form.client_token.trim()).map_err(|_| {
        AppError::invalid(
            "client_token",
            "This form has expired. Reload the page and try again.",
        )
    })?;
    let entitlement = form.entitlement.trim().to_string();
    if entitlement.is_empty() || entitlement.len() > 100 {
        return Err(AppError::invalid(
            "entitlement",
            "Choose something to request.",
        ));
    }
    let offset: i64 = match form.utc_offset_minutes.trim() {
        "" => 0,
        text => text
            .parse()
            .ok()
            .filter(|m: &i64| m.abs() <= 14 * 60)
            .ok_or_else(|| AppError::invalid("utc_offset_minutes", "Unknown time zone offset."))?,
    };
    let start = match form.start.trim() {
        "" | "now" => None,
        "later" => Some(local_time(&form.start_at, offset, "start_at")?),
        _ => return Err(AppError::invalid("start", "Choose to start now or later.")),
    };
    let end = match form.duration.trim() {
        "custom" => RequestedEnd::Until(local_time(&form.end, offset, "end")?),
        text => RequestedEnd::For {
            minutes: text
                .parse()
                .map_err(|_| AppError::invalid("duration", "Choose how long you need it."))?,
        },
    };
    let on_behalf_of = Some(form.on_behalf_of.trim().to_lowercase()).filter(|s| !s.is_empty());
    if on_behalf_of.as_ref().is_some_and(|u| u.len() > 256) {
        return Err(AppError::invalid(
            "on_behalf_of",
            "That is not a sign-in name.",
        ));
    }
    Ok(Parsed {
        entitlement,
        window: WindowRequest { start, end },
        justification: form.justification.trim().to_string(),
        ticket: form.ticket.trim().to_string(),
        on_behalf_of,
        client_token,
    })
}

/// `YYYY-MM-DDTHH:MM[:SS]` in a zone `offset` minutes east of UTC.
fn local_time(text: &str, offset: i64, field: &str) -> Result<DateTime<Utc>, AppError> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::invalid(field, "Enter a date and time."))?;
    Ok(naive.and_utc() - TimeDelta::minutes(offset))
}

pub async fn submit(
    state: &AppState,
    caller: &SessionUser,
    form: RequestForm,
) -> Result<Submitted, AppError> {
    let parsed = parse(&form)?;
    let mut conn = state.pool.acquire().await?;
    // A replayed form (double click, back-and-resubmit) finds its first request.
    if let Some((id, state)) =
        requests::by_client_token(&mut conn, caller.principal_id, parsed.client_token).await?
    {
        return Ok(Submitted {
            request_id: id,
            message: message_for(&state),
            state,
        });
    }
    let entry = catalog::by_key(&mut conn, &parsed.entitlement)
        .await?
        .ok_or(AppError::NotFound)?;
    let policy = &entry.policy;
    let connector = people::connector_of(state, &entry)?;
    let caller_upn = caller.upn.to_lowercase();

    // Whom it is for; a manager may ask for a direct report.
    let (beneficiary_id, beneficiary_upn) = match &parsed.on_behalf_of {
        None => (caller.principal_id, caller_upn.clone()),
        Some(upn) if *upn == caller_upn => (caller.principal_id, caller_upn.clone()),
        Some(upn) => {
            let (id, _) = requests::principal_by_upn(&mut conn, upn)
                .await?
                .ok_or_else(|| {
                    AppError::invalid(
                        "on_behalf_of",
                        "No one with that sign-in name has used the portal yet.",
                    )
                })?;
            (id, upn.clone())
        }
    };
    let account = people::account(
        connector.as_ref(),
        &entry,
        &beneficiary_upn,
        if beneficiary_id == caller.principal_id {
            "You have"
        } else {
            "This person has"
        },
    )
    .await?;
    if beneficiary_id != caller.principal_id {
        let manager = people::manager_upn(connector.as_ref(), &account).await?;
        if manager.as_deref().map(str::to_lowercase) != Some(caller_upn.clone()) {
            return Err(AppError::invalid(
                "on_behalf_of",
                "You can request access on behalf of your direct reports only.",
            ));
        }
    }

    // The policy's rules; the first one broken is answered, naming its field.
    let now = Utc::now();
    let window = resolve_window(&policy.durations, &parsed.window, now)?;
    if let Some(v) = policy
        .check_texts(&parsed.justification, &parsed.ticket)
        .into_iter()
        .next()
    {
        return Err(v.into());
    }
    let facts = people::facts(connector.as_ref(), policy, &account).await?;
    if !policy.eligible.admits(&facts) {
        return Err(Violation::NotEligible.into());
    }
    let extends_grant = match catalog::held(&mut conn, beneficiary_id, entry.id).await? {
        Some(held) => {
            plan_grant(
                Some(Window {
                    starts_at: held.starts_at,
                    ends_at: held.ends_at,
                }),
                window,
            )?;
            Some(held.grant)
        }
        None => None,
    };
    if requests::pending_for(&mut conn, beneficiary_id, entry.id)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(ALREADY_PENDING.into()));
    }
    let stages = people::resolve_stages(
        connector.as_ref(),
        &entry,
        &account,
        &caller_upn,
        &beneficiary_upn,
    )
    .await?;
    let snapshot = Snapshot {
        policy: policy.clone(),
        stages,
    };
    let start_on_approval = parsed.window.start.is_none();
    let requested_minutes = match parsed.window.end {
        RequestedEnd::For { minutes } if start_on_approval => i32::try_from(minutes).ok(),
        _ => None,
    };

    let mut tx = state.pool.begin().await?;
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
            justification: &parsed.justification,
            ticket: Some(parsed.ticket.as_str()).filter(|t| !t.is_empty()),
            snapshot: &snapshot,
            expires_at: policy.pending_deadline(now),
            extends_grant,
            client_token: parsed.client_token,
        },
    )
    .await
    .map_err(already_pending)?
    else {
        // The same form was submitted twice at once; the first one won.
        drop(tx);
        let (id, state) =
            requests::by_client_token(&mut conn, caller.principal_id, parsed.client_token)
                .await?
                .ok_or(AppError::Conflict("Please submit the form again.".into()))?;
        return Ok(Submitted {
            request_id: id,
            message: message_for(&state),
            state,
        });
    };
    let actor = Actor::person(caller.principal_id, &caller.display_name);
    let subject = Subject {
        request: Some(id),
        entitlement: Some(entry.id),
        principal: Some(beneficiary_id),
        grant: None,
    };
    audit::record(
        &mut tx,
        &actor,
        "request.submitted",
        &subject,
        json!({
            "entitlement": entry.key, "for": beneficiary_upn,
            "starts_at": window.starts_at, "ends_at": window.ends_at,
            "justification": parsed.justification, "ticket": parsed.ticket,
            "approvers": snapshot.stages,
        }),
    )
    .await?;
    let mut state_after = "pending".to_string();
    if snapshot.stages.is_empty() {
        requests::close(&mut tx, id, "approved").await?;
        audit::record(
            &mut tx,
            &Actor::system("policy"),
            "request.approved",
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
        let granted = grant_approved(
            &mut tx,
            id,
            beneficiary_id,
            entry.id,
            window,
            &Actor::system("policy"),
            now,
        )
        .await?;
        if let Granted::Nothing(reason) = granted {
            tracing::info!(request = %id, reason, "auto-approved request granted nothing");
        }
        state_after = "approved".into();
    }
    tx.commit().await?;
    if let Err(e) = crate::server::db::grants::remember_account(
        &state.pool,
        beneficiary_id,
        entry.connector_id,
        &account.reference,
        account.manager.as_deref(),
    )
    .await
    {
        tracing::warn!(error = %e, "could not remember an account reference");
    }
    Ok(Submitted {
        request_id: id,
        message: message_for(&state_after),
        state: state_after,
    })
}

const ALREADY_PENDING: &str = "A request for this access is already waiting for approval. \
                               Cancel it first to ask for something different.";

fn already_pending(error: sqlx::Error) -> AppError {
    match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("access_requests_one_pending") => {
            AppError::Conflict(ALREADY_PENDING.into())
        }
        _ => error.into(),
    }
}

fn message_for(state: &str) -> String {
    match state {
        "approved" => "Approved. The access is being granted now.".into(),
        "pending" => "Submitted. Your approvers have been asked.".into(),
        other => format!("This request is {other}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> RequestForm {
        RequestForm {
            entitlement: "sql-admins".into(),
            duration: "120".into(),
            client_token: Uuid::new_v4().to_string(),
            ..RequestForm::default()
        }
    }

    #[test]
    fn a_plain_form_starts_now() {
        let parsed = parse(&form()).unwrap();
        assert_eq!(parsed.window.start, None);
        assert_eq!(parsed.window.end, RequestedEnd::For { minutes: 120 });
    }

    #[test]
    fn local_times_use_the_browser_offset() {
        let mut f = form();
        f.duration = "custom".into();
        f.end = "2026-11-27T15:30".into();
        f.utc_offset_minutes = "60".into();
        let parsed = parse(&f).unwrap();
        assert_eq!(
            parsed.window.end,
            RequestedEnd::Until("2026-11-27T14:30:00Z".parse().unwrap())
        );
    }

    #[test]
    fn bad_shapes_name_their_field() {
        let field = |f: RequestForm| match parse(&f) {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected invalid, got {:?}", other.map(|_| ())),
        };
        let mut f = form();
        f.client_token = "not-a-uuid".into();
        assert_eq!(field(f), "client_token");
        let mut f = form();
        f.duration = "two hours".into();
        assert_eq!(field(f), "duration");
        let mut f = form();
        f.duration = "-5".into();
        assert_eq!(field(f), "duration");
        let mut f = form();
        f.duration = "custom".into();
        f.end = "tomorrow".into();
        assert_eq!(field(f), "end");
        let mut f = form();
        f.start = "later".into();
        assert_eq!(field(f), "start_at");
        let mut f = form();
        f.start = "yesterday".into();
        assert_eq!(field(f), "start");
        let mut f = form();
        f.utc_offset_minutes = "100000".into();
        assert_eq!(field(f), "utc_offset_minutes");
        let mut f = form();
        f.entitlement = " ".into();
        assert_eq!(field(f), "entitlement");
    }
}
