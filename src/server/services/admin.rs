//! Administration: connector health, the catalog as stored, reloading the file.

use crate::domain::audit::AuditAction;
use crate::domain::step::Lifecycle as _;
use serde_json::json;

use crate::api::types::admin::{
    AdminOverview, AdminPolicy, ConnectorView, JobView, MailOverview, MailProblem,
    PeopleSourceView, StoppedContractor, StuckRemoval,
};
use crate::domain::grant::GrantEvent;
use crate::domain::health::ConnectorHealth;
use crate::domain::policy::Policy;
use crate::domain::problem::{Notice, Problem};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::catalog;
use crate::server::connectors::Health;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog as catalog_db;
pub use crate::server::db::people::PassRequest;
use crate::server::db::{connectors, grants};
use crate::server::services::catalog_edits::{
    EntitlementChange, apply_entry, current_entry, current_policy, validate_entry, validate_policy,
};
use crate::server::services::changes;

/// Mail delivery as administrators watch it: the server, what waits, and what was refused.
pub async fn mail_overview(state: &AppState) -> Result<MailOverview, AppError> {
    let (pending, sent_last_day, refused_last_month) =
        crate::server::db::outbox::counts(&state.pool).await?;
    let problems = crate::server::db::outbox::undelivered(&state.pool, 50)
        .await?
        .into_iter()
        .map(|m| MailProblem {
            address: m.address,
            subject: m.subject,
            state: m.state,
            attempts: m.attempts,
            answer: m.last_error.unwrap_or_default(),
            written_at: m.created_at,
            refused_at: m.refused_at,
            request_id: m.request_id,
        })
        .collect();
    Ok(MailOverview {
        server: state
            .settings
            .mail
            .smtp
            .as_ref()
            .map(|s| format!("{}:{}", s.host, s.port)),
        pending,
        sent_last_day,
        refused_last_month,
        problems,
    })
}

/// Every background job as its last run (on any replica) left it.
pub async fn jobs(state: &AppState) -> Result<Vec<JobView>, AppError> {
    let now = chrono::Utc::now();
    Ok(crate::server::db::jobs::all(&state.pool)
        .await?
        .into_iter()
        .map(|run| JobView {
            late: run.is_late(now),
            job: run.job,
            worker: run.worker,
            last_run: run.finished_at,
            last_ok: run.ok_at,
            error: run.error,
            failures: run.failures,
            next_due: run.next_due_at,
        })
        .collect())
}

/// How long a connector has to answer a health check.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks every declared connector whether it answers, and records what each said (the Admin
/// page shows it, the dashboard's system health reads it). The `connector-health` job runs this
/// every few minutes, and the Admin page on each visit.
pub async fn check_health(
    pool: &sqlx::PgPool,
    known: &crate::server::connectors::Connectors,
) -> Result<Vec<ConnectorView>, sqlx::Error> {
    let rows = connectors::declared(pool).await?;
    let mut checked = Vec::with_capacity(rows.len());
    for row in rows {
        let (health, detail) = match known.get(&row.name) {
            Some(connector) => match tokio::time::timeout(HEALTH_TIMEOUT, connector.health()).await
            {
                Ok(Health::Healthy) => (ConnectorHealth::Healthy, None),
                Ok(Health::Down(detail)) => (ConnectorHealth::Down, Some(detail)),
                Err(_) => (
                    ConnectorHealth::Down,
                    Some(format!(
                        "no answer within {} seconds",
                        HEALTH_TIMEOUT.as_secs()
                    )),
                ),
            },
            None => (
                ConnectorHealth::Unknown,
                Some("not configured in this process".to_string()),
            ),
        };
        let checked_at =
            connectors::record_health(pool, &row.name, health, detail.as_deref()).await?;
        checked.push(ConnectorView {
            name: row.name,
            url: row.url.unwrap_or_default(),
            health,
            detail,
            checked_at,
        });
    }
    Ok(checked)
}

pub async fn overview(state: &AppState, caller: &SessionUser) -> Result<AdminOverview, AppError> {
    let connectors = check_health(&state.pool, &state.connectors).await?;
    let entitlements = catalog_db::all_entries(&state.pool).await?;
    let policies = catalog_db::all_policies(&state.pool)
        .await?
        .into_iter()
        .map(|r| AdminPolicy {
            rules_toml: serde_json::from_value::<Policy>(r.rules)
                .ok()
                .and_then(|p| toml::to_string(&p).ok())
                .unwrap_or_default(),
            key: r.key,
            name: r.name,
            used_by: r.used_by,
        })
        .collect();
    let stuck = grants::needing_a_person(&state.pool)
        .await?
        .into_iter()
        .map(|r| StuckRemoval {
            grant_id: r.id,
            holder: r.holder,
            entitlement: r.entitlement,
            connector: r.connector,
            target: r.target_ref,
            account: r.account_ref,
            attention: r.attention,
            overdue_since: r.overdue_since,
        })
        .collect();
    let people_sources = crate::server::db::people::sources(&state.pool)
        .await?
        .into_iter()
        .map(|s| PeopleSourceView {
            result: s.last_result.as_ref().map(crate::text::people_sync_result),
            refused: s
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("refused: this pass would offboard")),
            other_directory: s.found_identity.is_some()
                && s.last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("refused: this is not the directory")),
            error: s.last_error,
            requested: s.requested_at.is_some(),
            connector: s.connector,
            last_pass_at: s.last_pass_at,
            last_complete_at: s.last_complete_at,
        })
        .collect();
    let stopped_contractors = crate::server::db::contractors::stopped(&state.pool)
        .await?
        .into_iter()
        .map(|c| StoppedContractor {
            contractor_id: c.id,
            display_name: c.display_name,
            email: c.email,
            sponsor: c.sponsor,
            last_error: c.last_error.unwrap_or_default(),
            found_holder: c.found_holder.clone(),
            adoptable: c.found_id.filter(|_| c.found_holder.is_none()),
        })
        .collect();
    Ok(AdminOverview {
        people_sources,
        changes: changes::waiting(state, caller).await?,
        stuck,
        stopped_contractors,
        policies,
        catalog_file: state
            .settings
            .catalog_file
            .as_ref()
            .map(|p| p.display().to_string()),
        connectors,
        entitlements,
    })
}

pub async fn reload(state: &AppState, caller: &SessionUser) -> Result<Notice, AppError> {
    let Some(path) = &state.settings.catalog_file else {
        return Err(AppError::Conflict(Problem::NoCatalogFile));
    };
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| AppError::Internal {
        reference: crate::error::reference_for(&format!("reading {origin}: {e}")),
    })?;
    let parsed = catalog::parse(
        &text,
        &origin,
        &catalog::Trust::from_settings(&state.settings),
    )
    .map_err(|e| AppError::invalid("catalog", Problem::Catalog(e.problems)))?;
    let unknown: Vec<&String> = parsed
        .connectors
        .keys()
        .filter(|name| state.connectors.get(name).is_none())
        .collect();
    let loaded = catalog::store(
        &state.pool,
        &parsed,
        &origin,
        &text,
        &Actor::person(caller.principal_id, &caller.display_name),
    )
    .await
    .map_err(|e| match e {
        catalog::StoreError::Refused(problems) => {
            AppError::invalid("catalog", Problem::Catalog(problems))
        }
        catalog::StoreError::Database(e) => e.into(),
    })?;
    Ok(Notice::CatalogReloaded {
        entitlements: loaded.entitlements as u32,
        policies: loaded.policies as u32,
        disabled: loaded.disabled as u32,
        restart_needed: !unknown.is_empty(),
    })
}

pub async fn set_enabled(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    enabled: bool,
) -> Result<Notice, AppError> {
    let mut tx = state.pool.begin().await?;
    let id = catalog_db::set_enabled(&mut tx, key.trim(), enabled)
        .await?
        .ok_or(AppError::NotFound)?;
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        if enabled {
            AuditAction::CatalogEntitlementEnabled
        } else {
            AuditAction::CatalogEntitlementDisabled
        },
        &Subject {
            entitlement: Some(id),
            ..Subject::default()
        },
        json!({ "key": key.trim() }),
    )
    .await?;
    tx.commit().await?;
    Ok(if enabled {
        Notice::OfferedAgain {
            key: key.to_string(),
        }
    } else {
        Notice::NoLongerOffered {
            key: key.to_string(),
        }
    })
}

/// Changes an entry. Its words and tags change at once; a change of its owners or its policy
/// waits for a second administrator (four eyes).
pub async fn edit_entitlement(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    change: EntitlementChange,
) -> Result<Notice, AppError> {
    let mut conn = state.pool.acquire().await?;
    let after = validate_entry(&mut conn, change).await?;
    let before = current_entry(&mut conn, key)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    if after.owners == before.owners && after.policy == before.policy {
        let mut tx = state.pool.begin().await?;
        apply_entry(&mut tx, &actor(caller), key, &before, &after, None).await?;
        tx.commit().await?;
        return Ok(Notice::EntrySaved { name: after.name });
    }
    let impact = changes::entry_impact(&state.pool, key, &before, &after).await?;
    changes::propose(
        state,
        caller,
        changes::Kind::Entitlement,
        key,
        &before,
        &after,
        impact,
    )
    .await
}

/// Proposes new rules for a policy; they take effect when a second administrator approves.
pub async fn edit_policy(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    text: &str,
) -> Result<Notice, AppError> {
    let mut conn = state.pool.acquire().await?;
    let after = validate_policy(&mut conn, key, text).await?;
    let before = current_policy(&mut conn, key)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    let impact = changes::policy_impact(&state.pool, key, &before, &after).await?;
    changes::propose(
        state,
        caller,
        changes::Kind::Policy,
        key,
        &before,
        &after,
        impact,
    )
    .await
}

fn actor(caller: &SessionUser) -> Actor {
    Actor::person(caller.principal_id, &caller.display_name)
}

/// Closes a removal the engine could not carry out; the note says what the person checked.
pub async fn resolve_removal(
    state: &AppState,
    caller: &SessionUser,
    grant: uuid::Uuid,
    note: &str,
) -> Result<Notice, AppError> {
    if note.chars().count() < 10 || note.chars().count() > 1000 {
        return Err(AppError::invalid(
            "note",
            Problem::ResolutionNote {
                min_chars: 10,
                max_chars: 1000,
            },
        ));
    }
    let mut tx = state.pool.begin().await?;
    let actor = Actor::person(caller.principal_id, &caller.display_name);
    let not_needed = || AppError::Conflict(Problem::RemovalNotNeeded);
    let held = grants::lock(&mut tx, grant)
        .await?
        .ok_or(AppError::NotFound)?;
    let step = held
        .state
        .step(GrantEvent::ClosedByPerson)
        .map_err(|_| not_needed())?;
    if !grants::resolve_missing(&mut tx, grant, step, &actor, note).await? {
        return Err(not_needed());
    }
    tx.commit().await?;
    Ok(Notice::RemovalClosed)
}

/// What an administrator does with a stopped contractor onboarding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Goes on with the Entra user found for the address, after making sure it is theirs.
    Adopt,
    /// Closes it without making anything: the account in the way is someone else's, and the
    /// address is free for a new onboarding.
    Close,
}

/// Adopts the user found for a stopped onboarding or closes it; the note (10 to 1000
/// characters) says what the administrator checked and goes into the trail.
pub async fn settle_stopped(
    state: &AppState,
    caller: &SessionUser,
    contractor: uuid::Uuid,
    note: &str,
    how: Settle,
) -> Result<Notice, AppError> {
    if note.chars().count() < 10 || note.chars().count() > 1000 {
        return Err(AppError::invalid(
            "note",
            Problem::SettleNote {
                min_chars: 10,
                max_chars: 1000,
            },
        ));
    }
    let mut tx = state.pool.begin().await?;
    if matches!(how, Settle::Adopt)
        && let Some(holder) =
            crate::server::db::contractors::holder_of_found(&mut tx, contractor).await?
    {
        return Err(AppError::Conflict(Problem::FoundUserHeld { holder }));
    }
    let settled = match how {
        Settle::Adopt => crate::server::db::contractors::adopt(&mut tx, contractor)
            .await?
            .map(|(user, principal)| (Some(user), principal)),
        Settle::Close => crate::server::db::contractors::close_stopped(&mut tx, contractor)
            .await?
            .map(|principal| (None, principal)),
    };
    let Some((user, principal)) = settled else {
        return Err(AppError::Conflict(match how {
            Settle::Adopt => Problem::NotStoppedOnUser,
            Settle::Close => Problem::OnboardingNotStopped,
        }));
    };
    let (action, details) = match how {
        Settle::Adopt => (
            AuditAction::ContractorAdopted,
            json!({ "user": user, "contractor": contractor, "note": note }),
        ),
        Settle::Close => (
            AuditAction::ContractorClosed,
            json!({ "contractor": contractor, "note": note }),
        ),
    };
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        action,
        &Subject {
            principal: Some(principal),
            ..Subject::default()
        },
        details,
    )
    .await?;
    tx.commit().await?;
    let user = user.unwrap_or_default();
    Ok(match how {
        Settle::Adopt => Notice::Adopted { user },
        Settle::Close => Notice::OnboardingClosed,
    })
}

/// Asks for a pass of a people source now (the engine starts it within seconds): incremental,
/// complete (every person read, anyone missing acted on), forced past `max_leavers` (each
/// person it offboards is audited as usual), or from the other directory a refused pass found.
pub async fn sync_people(
    state: &AppState,
    caller: &SessionUser,
    connector: &str,
    how: PassRequest,
) -> Result<Notice, AppError> {
    if !crate::server::db::people::request_pass(&state.pool, connector, how).await? {
        let connector = connector.to_string();
        let problem = if how == PassRequest::AcceptDirectory {
            Problem::NothingToConfirm { connector }
        } else {
            Problem::NotAPeopleSource { connector }
        };
        return Err(AppError::invalid("connector", problem));
    }
    tracing::info!(%connector, ?how, by = %caller.upn, "people sync asked for");
    if how == PassRequest::AcceptDirectory {
        let mut conn = state.pool.acquire().await?;
        audit::record(
            &mut conn,
            &Actor::person(caller.principal_id, &caller.display_name),
            AuditAction::PeopleSyncDirectoryConfirmed,
            &Subject::default(),
            json!({ "connector": connector }),
        )
        .await?;
    }
    let connector = connector.to_string();
    Ok(match how {
        PassRequest::Now => Notice::PassNow { connector },
        PassRequest::Complete => Notice::PassComplete { connector },
        PassRequest::Forced => Notice::PassForced { connector },
        PassRequest::AcceptDirectory => Notice::DirectoryAccepted { connector },
    })
}
