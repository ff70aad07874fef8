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
use crate::error::AppError;
use crate::server::access::catalog_edits::{
    EntitlementChange, apply_entry, current_entry, current_policy, validate_entry, validate_policy,
};
use crate::server::access::changes;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::catalog;
use crate::server::connectors::Health;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog as catalog_db;
pub use crate::server::db::people::PassRequest;
use crate::server::db::{connectors, grants};
use crate::text::lang::pick;

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

pub async fn overview(state: &AppState, caller: &SessionUser) -> Result<AdminOverview, AppError> {
    let rows = connectors::declared(&state.pool).await?;
    let mut connectors = Vec::with_capacity(rows.len());
    for row in rows {
        let (health, detail) = match state.connectors.get(&row.name) {
            Some(connector) => {
                match tokio::time::timeout(std::time::Duration::from_secs(10), connector.health())
                    .await
                {
                    Ok(Health::Healthy) => (ConnectorHealth::Healthy, None),
                    Ok(Health::Down(detail)) => (ConnectorHealth::Down, Some(detail)),
                    Err(_) => (
                        ConnectorHealth::Down,
                        Some("no answer within 10 seconds".to_string()),
                    ),
                }
            }
            None => (
                ConnectorHealth::Unknown,
                Some("not configured in this process".to_string()),
            ),
        };
        let checked_at =
            connectors::record_health(&state.pool, &row.name, health, detail.as_deref()).await?;
        connectors.push(ConnectorView {
            name: row.name,
            url: row.url.unwrap_or_default(),
            health,
            detail,
            checked_at,
        });
    }
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
            problem: match &c.found_holder {
                Some(holder) => pick(
                    format!(
                        "{} The user found is {holder} in the portal already (read by the \
                         people sync), so it cannot be adopted for a new contractor: close \
                         this onboarding.",
                        c.last_error.as_deref().unwrap_or_default()
                    ),
                    format!(
                        "{} Das gefundene Konto ist im Portal bereits {holder} (vom \
                         Personenabgleich gelesen) und kann daher nicht für eine neue externe \
                         Person übernommen werden: Schließen Sie dieses Onboarding.",
                        c.last_error.as_deref().unwrap_or_default()
                    ),
                ),
                None => c.last_error.unwrap_or_default(),
            },
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

pub async fn reload(state: &AppState, caller: &SessionUser) -> Result<String, AppError> {
    let Some(path) = &state.settings.catalog_file else {
        return Err(AppError::Conflict(
            pick(
                "No catalog file is configured (LEASEGATE_CATALOG).",
                "Es ist keine Katalogdatei konfiguriert (LEASEGATE_CATALOG).",
            )
            .into(),
        ));
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
    .map_err(|e| AppError::invalid("catalog", e.problems.join("\n")))?;
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
        catalog::StoreError::Refused(problems) => AppError::invalid("catalog", problems.join("\n")),
        catalog::StoreError::Database(e) => e.into(),
    })?;
    let mut message = pick(
        format!(
            "Catalog reloaded: {} entitlements, {} policies; {} disabled.",
            loaded.entitlements, loaded.policies, loaded.disabled
        ),
        format!(
            "Katalog neu geladen: {} Berechtigungen, {} Richtlinien; {} deaktiviert.",
            loaded.entitlements, loaded.policies, loaded.disabled
        ),
    );
    if !unknown.is_empty() {
        message.push_str(pick(
            " New or changed connectors take effect when the portal restarts.",
            " Neue oder geänderte Konnektoren werden beim Neustart des Portals wirksam.",
        ));
    }
    Ok(message)
}

pub async fn set_enabled(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    enabled: bool,
) -> Result<String, AppError> {
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
        pick(
            format!("{key} is offered again."),
            format!("{key} wird wieder angeboten."),
        )
    } else {
        pick(
            format!("{key} is no longer offered. Leases already granted run to their end."),
            format!(
                "{key} wird nicht mehr angeboten. Bereits erteilte Zugriffe laufen bis zu ihrem \
                 Ende."
            ),
        )
    })
}

/// Changes an entry. Its words and tags change at once; a change of its owners or its policy
/// waits for a second administrator (four eyes).
pub async fn edit_entitlement(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    change: EntitlementChange,
) -> Result<String, AppError> {
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
        return Ok(pick(
            format!(
                "{} saved. Put the change in the catalog file too, or the next load undoes it.",
                after.name
            ),
            format!(
                "{} gespeichert. Übernehmen Sie die Änderung auch in die Katalogdatei, sonst macht \
                 das nächste Laden sie rückgängig.",
                after.name
            ),
        ));
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
) -> Result<String, AppError> {
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
) -> Result<String, AppError> {
    if note.chars().count() < 10 || note.chars().count() > 1000 {
        return Err(AppError::invalid(
            "note",
            pick(
                "Say in 10 to 1000 characters what you checked in the directory.",
                "Beschreiben Sie in 10 bis 1000 Zeichen, was Sie im Verzeichnis geprüft haben.",
            ),
        ));
    }
    let mut tx = state.pool.begin().await?;
    let actor = Actor::person(caller.principal_id, &caller.display_name);
    let not_needed = || {
        AppError::Conflict(
            pick(
                "This removal does not need a person (any more).",
                "Für diese Entfernung ist kein Eingreifen (mehr) nötig.",
            )
            .into(),
        )
    };
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
    Ok(pick(
        "Closed. The trail records it as handled by you, not as verified.",
        "Abgeschlossen. Der Verlauf hält sie als von Ihnen erledigt fest, nicht als verifiziert.",
    )
    .into())
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
) -> Result<String, AppError> {
    if note.chars().count() < 10 || note.chars().count() > 1000 {
        return Err(AppError::invalid(
            "note",
            pick(
                "Say in 10 to 1000 characters what you checked and found.",
                "Beschreiben Sie in 10 bis 1000 Zeichen, was Sie geprüft und festgestellt \
                 haben.",
            ),
        ));
    }
    let mut tx = state.pool.begin().await?;
    if matches!(how, Settle::Adopt)
        && let Some(holder) =
            crate::server::db::contractors::holder_of_found(&mut tx, contractor).await?
    {
        return Err(AppError::Conflict(pick(
            format!(
                "The user found is {holder} in the portal already (read by the people sync); \
                 one account belongs to one person, so it cannot become this contractor. Close \
                 this onboarding instead."
            ),
            format!(
                "Das gefundene Konto ist im Portal bereits {holder} (vom Personenabgleich \
                 gelesen); ein Konto gehört einer Person, es kann daher nicht diese externe \
                 Person werden. Schließen Sie stattdessen dieses Onboarding."
            ),
        )));
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
        return Err(AppError::Conflict(
            match how {
                Settle::Adopt => pick(
                    "This contractor is not stopped on a user that can be adopted (any more).",
                    "Diese externe Person wartet nicht (mehr) auf ein übernehmbares Konto.",
                ),
                Settle::Close => pick(
                    "This contractor's onboarding is not stopped (any more).",
                    "Das Onboarding dieser externen Person ist nicht (mehr) angehalten.",
                ),
            }
            .into(),
        ));
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
        Settle::Adopt => pick(
            format!("Adopted {user}. The onboarding goes on within a minute."),
            format!("{user} übernommen. Das Onboarding geht innerhalb einer Minute weiter."),
        ),
        Settle::Close => pick(
            "Closed. Nothing was made; the address is free for a new onboarding.".to_string(),
            "Abgeschlossen. Es wurde nichts angelegt; die Adresse ist für ein neues Onboarding \
             frei."
                .to_string(),
        ),
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
) -> Result<String, AppError> {
    if !crate::server::db::people::request_pass(&state.pool, connector, how).await? {
        let problem = if how == PassRequest::AcceptDirectory {
            pick(
                format!("No pass of {connector} found another directory to confirm."),
                format!(
                    "Kein Abgleich von {connector} hat ein anderes Verzeichnis gefunden, das \
                     zu bestätigen wäre."
                ),
            )
        } else {
            pick(
                format!("{connector} is not a people source of the catalog."),
                format!("{connector} ist keine Personenquelle des Katalogs."),
            )
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
    Ok(match how {
        PassRequest::Now => pick(
            format!("A pass of {connector} starts within seconds."),
            format!("Ein Abgleich von {connector} beginnt in wenigen Sekunden."),
        ),
        PassRequest::Complete => pick(
            format!(
                "A complete pass of {connector} starts within seconds: everyone is read, and \
                 anyone no longer there is acted on."
            ),
            format!(
                "Ein vollständiger Abgleich von {connector} beginnt in wenigen Sekunden: Alle \
                 werden gelesen, und wer nicht mehr da ist, wird behandelt."
            ),
        ),
        PassRequest::Forced => pick(
            format!(
                "A pass of {connector} starts within seconds and is applied whatever it finds."
            ),
            format!(
                "Ein Abgleich von {connector} beginnt in wenigen Sekunden und wird übernommen, \
                 was immer er findet."
            ),
        ),
        PassRequest::AcceptDirectory => pick(
            format!(
                "Confirmed: the next pass of {connector} reads the directory it found, and \
                 remembers it from then on."
            ),
            format!(
                "Bestätigt: Der nächste Abgleich von {connector} liest das gefundene \
                 Verzeichnis und merkt es sich von da an."
            ),
        ),
    })
}
