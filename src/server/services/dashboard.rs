//! The governance dashboard: the estate at a glance for auditors, administrators and security
//! operations (docs/governance.md, "Dashboard"). Read-only; every figure comes from the
//! database in one query each, narrowed by the page's filters.

use chrono::Utc;

use crate::api::types::dashboard::{Dashboard, DashboardQuery, RANGES};
use crate::domain::input::EntitlementKey;
use crate::domain::problem::Problem;
use crate::domain::role::can_view_governance;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::dashboard::{self, Filter};

/// The most requested entries the dashboard lists.
const TOP: i64 = 10;

pub async fn dashboard(
    state: &AppState,
    caller: &SessionUser,
    query: &DashboardQuery,
) -> Result<Dashboard, AppError> {
    if !can_view_governance(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let days = match query.days.trim() {
        "" => RANGES[0],
        days => days
            .parse::<i64>()
            .ok()
            .filter(|d| RANGES.contains(d))
            .ok_or_else(|| AppError::invalid("days", Problem::ChooseRange))?,
    };
    let entitlement = match query.entitlement.trim() {
        "" => None,
        key => Some(
            EntitlementKey::parse(key)
                .map_err(|_| AppError::invalid("entitlement", Problem::NoSuchEntry))?,
        ),
    };
    let system = Some(query.system.trim()).filter(|s| !s.is_empty());
    let department = Some(query.department.trim()).filter(|d| !d.is_empty());

    let mut conn = state.pool.begin().await?;
    dashboard::snapshot(&mut conn).await?;
    let (system_names, departments) = dashboard::choices(&mut conn).await?;
    let system = match system {
        None => None,
        Some(name) => Some(
            dashboard::system(&mut conn, name)
                .await?
                .ok_or_else(|| AppError::invalid("system", Problem::NoSuchSystem))?,
        ),
    };
    let entitlement = match &entitlement {
        None => None,
        Some(key) => Some(
            crate::server::db::holdings::entry(&mut conn, key.as_str())
                .await?
                .ok_or_else(|| AppError::invalid("entitlement", Problem::NoSuchEntry))?
                .0,
        ),
    };
    let filter = Filter {
        system,
        entitlement,
        department,
    };
    let until = Utc::now();
    let from = dashboard::range_start(until, days);
    let grace = state.settings.engine.removal_grace.as_secs_f64();
    let board = Dashboard {
        days,
        from,
        until,
        live_leases: dashboard::live_leases(&mut conn, &filter).await?,
        days_series: dashboard::days(&mut conn, &filter, from, until).await?,
        approval: dashboard::approval_times(&mut conn, &filter, from, until).await?,
        most_requested: dashboard::most_requested(&mut conn, &filter, from, until, TOP).await?,
        removals: dashboard::removals(&mut conn, &filter, from, until, grace).await?,
        removal_grace_seconds: state.settings.engine.removal_grace.as_secs(),
        findings: dashboard::findings(&mut conn, &filter, from, until).await?,
        reviews_due: dashboard::reviews_due(&mut conn, &filter).await?,
        systems: dashboard::systems(&mut conn, &filter).await?,
        system_names,
        departments,
    };
    conn.commit().await?;
    Ok(board)
}
