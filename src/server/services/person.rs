//! The people pages' data: a person, their accounts in each system, their managers and
//! reports, their leases and their history.

use uuid::Uuid;

use crate::api::types::people::{
    AccountView, LeaseView, PersonDetail, PersonLink, PersonRow, Standing,
};
use crate::error::AppError;
use crate::server::app::state::AppState;
use crate::server::db::audit;
use crate::server::db::people::{self, Listed};
use crate::server::services::views::event_view;

/// How far up a manager chain is followed.
const CHAIN_DEPTH: i32 = 10;
const MAX_LISTED: i64 = 100;
const MAX_LEASES: i64 = 100;
const MAX_EVENTS: i64 = 200;

pub async fn find(state: &AppState, query: &str) -> Result<Vec<PersonRow>, AppError> {
    Ok(people::find(&state.pool, query, MAX_LISTED)
        .await?
        .into_iter()
        .map(row)
        .collect())
}

pub async fn detail(state: &AppState, id: Uuid) -> Result<PersonDetail, AppError> {
    let listed = people::listed(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (left_at, synced_at, last_sign_in_at) =
        (listed.left_at, listed.synced_at, listed.last_sign_in_at);
    let accounts = people::accounts_of(&state.pool, id)
        .await?
        .into_iter()
        .map(|a| AccountView {
            connector: a.connector,
            reference: a.account_ref,
            stable_id: a.account_id,
            upn: a.upn,
            enabled: a.enabled,
            gone_at: a.gone_at,
            synced_at: a.synced_at,
        })
        .collect();
    let link = |(id, display_name): (Uuid, String)| PersonLink { id, display_name };
    let managers = people::manager_chain(&state.pool, id, CHAIN_DEPTH)
        .await?
        .into_iter()
        .map(link)
        .collect();
    let reports = people::reports_of(&state.pool, id)
        .await?
        .into_iter()
        .map(link)
        .collect();
    let leases = people::leases_of(&state.pool, id, MAX_LEASES)
        .await?
        .into_iter()
        .map(|l| LeaseView {
            grant_id: l.id,
            request_id: l.request_id,
            entitlement: l.entitlement,
            state: l.state,
            starts_at: l.starts_at,
            ends_at: l.ends_at,
            revoke_reason: l.revoke_reason,
        })
        .collect();
    let mut conn = state.pool.acquire().await?;
    let events = audit::about_principal(&mut conn, id, MAX_EVENTS)
        .await?
        .into_iter()
        .map(event_view)
        .collect();
    Ok(PersonDetail {
        person: row(listed),
        left_at,
        synced_at,
        last_sign_in_at,
        accounts,
        managers,
        reports,
        leases,
        events,
    })
}

fn row(p: Listed) -> PersonRow {
    PersonRow {
        standing: if p.left_at.is_some() {
            Standing::Left
        } else if p.status == crate::domain::person::PrincipalStatus::Active {
            Standing::Active
        } else {
            Standing::Barred
        },
        guest: p.kind == "guest",
        id: p.id,
        display_name: p.display_name,
        upn: p.upn,
        department: p.department,
        job_title: p.job_title,
        live_leases: p.live_leases,
    }
}
