//! Escalation: a stage nobody decided within its policy's `escalate_after_minutes` goes, once,
//! to backups as well: each undecided approver's manager (the people sync's, else the
//! directory's), or the people the policy names. Each backup stands in the seat of the approver
//! they back up (a named backup in every undecided seat), so they decide exactly as the others
//! do (never on their own request) without adding a vote (`domain::approval`), and the
//! escalation is audited; the notifier mails them. The time follows the reminders' clock
//! (`server::app::clock`).

use std::collections::BTreeSet;

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::approval::{Progress, Seat, holder_id, holders, open_seats, progress};
use crate::domain::audit::AuditAction;
use crate::domain::policy::EscalateTo;
use crate::server::app::clock::Clock;
use crate::server::connectors::Connectors;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::{people, requests};

/// Escalates every stage that is due; returns how many were escalated.
pub async fn run_due(
    pool: &PgPool,
    connectors: &Connectors,
    clock: &Clock,
) -> Result<usize, sqlx::Error> {
    let mut escalated = 0;
    for (request, stage) in requests::escalations_due(pool, clock.now(), 50).await? {
        if escalate(pool, connectors, request, stage).await? {
            escalated += 1;
        }
    }
    Ok(escalated)
}

/// Who the stage waits on, as read under the request's lock.
struct Waiting {
    stage: u32,
    /// The seats nobody filled yet (`domain::approval`'s holders).
    undecided: Vec<String>,
    /// Everyone who may decide at the stage already (holders).
    holders: Vec<String>,
    escalate_to: EscalateTo,
    excluded: [String; 2],
}

async fn waiting(pool: &PgPool, request: Uuid) -> Result<Option<Waiting>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(locked) = requests::lock(&mut tx, request).await? else {
        return Ok(None);
    };
    if locked.state.is_final() {
        return Ok(None);
    }
    let decisions = requests::decisions(&mut tx, request).await?;
    let Progress::Waiting { stage, .. } = progress(&locked.snapshot.stages, &decisions) else {
        return Ok(None);
    };
    let undecided = open_seats(&locked.snapshot.stages, &decisions, stage);
    Ok(Some(Waiting {
        stage,
        undecided,
        holders: locked.snapshot.stages[stage as usize].approvers.clone(),
        escalate_to: locked.snapshot.policy.escalate_to.clone(),
        excluded: locked.parties(),
    }))
}

async fn escalate(
    pool: &PgPool,
    connectors: &Connectors,
    request: Uuid,
    due_stage: i32,
) -> Result<bool, sqlx::Error> {
    let Some(before) = waiting(pool, request).await? else {
        return Ok(false);
    };
    if before.stage as i32 != due_stage {
        return Ok(false);
    }
    // The backups are looked up outside any transaction: directories can be slow. Each is
    // (the seat they back up, their name); the names become holders in one query.
    let mut named: Vec<(String, String)> = Vec::new();
    for seat in &before.undecided {
        let names: Vec<String> = match &before.escalate_to {
            EscalateTo::Users(users) => users.clone(),
            EscalateTo::Managers => manager_of(pool, connectors, seat)
                .await?
                .into_iter()
                .collect(),
        };
        named.extend(
            names
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
                .map(|n| (seat.clone(), n.to_string())),
        );
    }
    let names: Vec<String> = named.iter().map(|(_, name)| name.clone()).collect();
    let resolved = requests::holders_for_names(&mut *pool.acquire().await?, &names).await?;
    let mut backups: BTreeSet<Seat> = named
        .into_iter()
        .zip(resolved)
        .map(|((seat, _), holder)| Seat { seat, holder })
        .collect();
    backups.retain(|b| !before.excluded.contains(&b.holder) && !before.holders.contains(&b.holder));
    let backups: Vec<Seat> = backups.into_iter().collect();
    let added = holders(&backups);

    let mut tx = pool.begin().await?;
    let Some(locked) = requests::lock(&mut tx, request).await? else {
        return Ok(false);
    };
    let decisions = requests::decisions(&mut tx, request).await?;
    let still = !locked.state.is_final()
        && matches!(progress(&locked.snapshot.stages, &decisions), Progress::Waiting { stage, .. } if stage == before.stage);
    if !still
        || !requests::record_escalation(&mut tx, request, before.stage, &before.undecided, &backups)
            .await?
    {
        return Ok(false);
    }
    // The trail names people as they are called now.
    let undecided = requests::names_of_holders(&mut tx, &before.undecided).await?;
    let added_names = requests::names_of_holders(&mut tx, &added).await?;
    audit::record(
        &mut tx,
        &Actor::system("escalation"),
        AuditAction::RequestEscalated,
        &Subject {
            request: Some(request),
            entitlement: Some(locked.entitlement_id),
            principal: Some(locked.beneficiary_id),
            grant: None,
        },
        json!({ "stage": before.stage + 1, "undecided": undecided, "added": added_names }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%request, stage = before.stage + 1, added = ?added_names, "request escalated");
    Ok(true)
}

/// The sign-in name of a seat's person's manager: the people sync's when it describes them,
/// else the first connected directory that knows the person and their manager.
async fn manager_of(
    pool: &PgPool,
    connectors: &Connectors,
    seat: &str,
) -> Result<Option<String>, sqlx::Error> {
    let upn = match holder_id(seat) {
        Some(person) => {
            if let Some(synced) = people::synced(pool, person).await? {
                return Ok(synced.manager_upn());
            }
            let mut conn = pool.acquire().await?;
            match people::upn_of(&mut conn, person).await? {
                Some((upn, _)) => upn,
                None => return Ok(None),
            }
        }
        // A name nobody held at submission: the directory may know it.
        None => seat.to_string(),
    };
    for (name, connector) in connectors.all() {
        let account = match connector.find_account(&upn).await {
            Ok(Some(account)) => account,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(connector = %name, error = %e, "no manager lookup here");
                continue;
            }
        };
        match crate::server::services::people::manager_upn(None, connector.as_ref(), &account).await
        {
            Ok(Some(manager)) => return Ok(Some(manager)),
            Ok(None) => {}
            Err(e) => tracing::warn!(connector = %name, error = %e, "cannot read a manager"),
        }
    }
    Ok(None)
}
