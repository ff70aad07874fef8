//! Access reviews (docs/access-reviews.md): administrators open a campaign over chosen entries;
//! the entries' owners (or the holders' managers) answer each standing holder and each open
//! shadow-access finding, keep (declared a standing holder until a day, with a reason) or
//! remove (through the connector, read back); the campaign's default answers the rest at the
//! deadline. Reminders and escalation go through the notifier, from the trail's `review.*`
//! events.
//!
//! Who may do what: administrators open campaigns; the governance roles and a campaign's
//! creator see all of it and download its report; a reviewer (and a backup standing in for
//! one) sees and answers only their own items, never an item of their own access.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::api::types::access_reviews::{CampaignReport, Campaigns};
use crate::domain::audit::AuditAction;
use crate::domain::problem::Problem;
use crate::domain::reconcile::{Closure, FindingKind};
use crate::domain::review::{ClosedHow, ReviewDecision, ReviewOutcome, Reviewers};
use crate::domain::role::{can_administer, can_view_governance};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::connectors::Connectors;
use crate::server::db::access_reviews::{self as reviews, Answer, Locked, NewCampaign};
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::findings::{self, Declare, Seen};
use crate::server::jobs::reconcile::{self, Removal};

/// What an administrator asks for when opening a campaign (the form, read).
pub struct NewReview {
    pub name: String,
    pub entries: Vec<String>,
    pub reviewers: Reviewers,
    pub default_action: ReviewDecision,
    pub deadline: DateTime<Utc>,
}

/// A reviewer's answer (the form, read): remove, or keep until a time, each with a reason.
pub struct Verdict {
    pub decision: ReviewDecision,
    pub reason: String,
    pub keep_until: Option<DateTime<Utc>>,
}

pub async fn list(state: &AppState, caller: &SessionUser) -> Result<Campaigns, AppError> {
    let mut conn = state.pool.acquire().await?;
    let everything = can_view_governance(&caller.roles);
    let campaigns = reviews::list(&mut conn, caller.principal_id, everything).await?;
    let may_open = can_administer(&caller.roles);
    let reviewable = if may_open {
        reviews::reviewable(&mut conn).await?
    } else {
        Vec::new()
    };
    Ok(Campaigns {
        campaigns,
        reviewable,
        may_open,
    })
}

/// How many items of open campaigns wait for the caller's answer.
pub async fn waiting(state: &AppState, caller: &SessionUser) -> Result<i64, AppError> {
    let mut conn = state.pool.acquire().await?;
    Ok(reviews::waiting_on(&mut conn, caller.principal_id).await?)
}

/// Opens a campaign and tells its reviewers (through the trail's `review.opened`).
pub async fn open(
    state: &AppState,
    caller: &SessionUser,
    new: &NewReview,
    now: DateTime<Utc>,
) -> Result<Uuid, AppError> {
    if !can_administer(&caller.roles) {
        return Err(AppError::Forbidden);
    }
    let mut tx = state.pool.begin().await?;
    let found = reviews::entries(&mut tx, &new.entries).await?;
    if found.len() != new.entries.len() {
        return Err(AppError::invalid("entries", Problem::NoSuchEntry));
    }
    let entries: Vec<Uuid> = found.iter().map(|(_, id)| *id).collect();
    let (remind_at, escalate_at) = crate::domain::review::milestones(now, new.deadline);
    let (id, items) = reviews::open(
        &mut tx,
        &NewCampaign {
            name: &new.name,
            reviewers: new.reviewers,
            default_action: new.default_action,
            deadline: new.deadline,
            remind_at,
            escalate_at,
            created_at: now,
            created_by: caller.principal_id,
            entries: &entries,
        },
    )
    .await?;
    if items == 0 {
        // Nothing is written: the transaction is dropped.
        return Err(AppError::invalid("entries", Problem::NothingToReview));
    }
    let reviewers = reviews::reviewers(&mut tx, id, false).await?;
    audit::record(
        &mut tx,
        &actor(caller),
        AuditAction::ReviewOpened,
        &Subject::default(),
        json!({
            "campaign": id,
            "name": new.name,
            "opened_by": caller.display_name,
            "entries": found.iter().map(|(key, _)| key).collect::<Vec<_>>(),
            "reviewers_are": new.reviewers,
            "default": new.default_action,
            "deadline": new.deadline,
            "items": items,
            "reviewers": reviewers,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// One campaign as the caller may see it.
pub async fn report(
    state: &AppState,
    caller: &SessionUser,
    id: Uuid,
) -> Result<CampaignReport, AppError> {
    let mut conn = state.pool.acquire().await?;
    let Some(campaign) = reviews::campaign(&mut conn, id).await? else {
        return Err(AppError::invalid("campaign", Problem::NoSuchReview));
    };
    let whole = sees_whole(&mut conn, caller, id).await?;
    let report = assemble(&mut conn, campaign, caller, whole).await?;
    if !whole && report.items.is_empty() {
        return Err(AppError::invalid("campaign", Problem::NoSuchReview));
    }
    Ok(report)
}

/// A campaign with the items the caller sees (all of them when `whole`), counted.
async fn assemble(
    conn: &mut sqlx::PgConnection,
    mut campaign: crate::api::types::access_reviews::Campaign,
    caller: &SessionUser,
    whole: bool,
) -> Result<CampaignReport, AppError> {
    let items = reviews::items(conn, campaign.id, caller.principal_id, whole).await?;
    campaign.items = items.len() as i64;
    campaign.undecided = items.iter().filter(|i| i.decision.is_none()).count() as i64;
    campaign.mine = items.iter().filter(|i| i.may_decide).count() as i64;
    let entries = reviews::entry_names(conn, campaign.id).await?;
    Ok(CampaignReport {
        campaign,
        entries,
        items,
        whole,
    })
}

/// The governance roles and the campaign's creator see all of a campaign.
async fn sees_whole(
    conn: &mut sqlx::PgConnection,
    caller: &SessionUser,
    id: Uuid,
) -> Result<bool, AppError> {
    Ok(can_view_governance(&caller.roles)
        || reviews::creator(conn, id).await? == Some(caller.principal_id))
}

/// Answers one item as its reviewer (or a reviewer's backup), and closes the campaign when it
/// was the last. A removal runs through the connector and is read back before this returns.
/// Only the item is locked while the connector works, so reviewers of one campaign do not wait
/// on each other; the item's lock makes each answer final, and the campaign closes in a short
/// transaction of its own once the answer is committed.
pub async fn decide(
    state: &AppState,
    caller: &SessionUser,
    item: Uuid,
    verdict: &Verdict,
) -> Result<ReviewOutcome, AppError> {
    let mut tx = state.pool.begin().await?;
    let Some(locked) = reviews::lock_item(&mut tx, item, state.clock.now()).await? else {
        return Err(AppError::invalid("item", Problem::NoSuchReview));
    };
    if !reviews::answers(&mut tx, item, caller.principal_id).await? {
        return Err(AppError::Forbidden);
    }
    if locked.principal_id == Some(caller.principal_id) {
        return Err(AppError::Conflict(Problem::OwnAccess));
    }
    // Answered already, closed, or past its deadline (the default answers what is left).
    if locked.campaign_closed || locked.decision.is_some() {
        return Err(AppError::Conflict(Problem::ReviewAnswered));
    }
    let by = (caller.principal_id, caller.display_name.as_str());
    let (outcome, error) = carry_out(
        &mut tx,
        &state.connectors,
        &locked,
        verdict.decision,
        Some((&verdict.reason, verdict.keep_until)),
        Some(by),
    )
    .await?;
    record(
        &mut tx,
        &actor(caller),
        &locked,
        verdict.decision,
        Some(&verdict.reason),
        verdict.keep_until,
        Some(caller.principal_id),
        (outcome, error.as_deref()),
    )
    .await?;
    tx.commit().await?;
    close_if_answered(
        &state.pool,
        &actor(caller),
        locked.campaign_id,
        &locked.campaign,
        ClosedHow::Complete,
    )
    .await?;
    Ok(outcome)
}

/// Closes the campaign if no item is left unanswered. Each answer's transaction commits first,
/// so of two last answers at once, the later check sees both.
async fn close_if_answered(
    pool: &sqlx::PgPool,
    actor: &Actor,
    campaign: Uuid,
    name: &str,
    how: ClosedHow,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if !reviews::lock_campaign(&mut tx, campaign).await?
        || reviews::undecided(&mut tx, campaign).await? > 0
    {
        return Ok(false);
    }
    close(&mut tx, actor, campaign, name, how).await?;
    tx.commit().await?;
    Ok(true)
}

/// What the review job did in one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub reminded: usize,
    pub escalated: usize,
    pub closed: usize,
}

/// Reminds, escalates and closes the campaigns whose time has come (the review job). A
/// campaign that fails is logged and left for the next run; the others go on.
pub async fn run_due(
    pool: &sqlx::PgPool,
    connectors: &Connectors,
    now: DateTime<Utc>,
) -> Result<Due, sqlx::Error> {
    let mut done = Due::default();
    let mut conn = pool.acquire().await?;
    let due = reviews::due(&mut conn, now).await?;
    drop(conn);
    for (id, closing, remind, escalate) in due {
        let result = if closing {
            answer_by_default(pool, connectors, id, now)
                .await
                .map(|closed| done.closed += usize::from(closed))
        } else {
            chase(pool, id, remind, escalate).await.map(|(r, e)| {
                done.reminded += usize::from(r);
                done.escalated += usize::from(e);
            })
        };
        if let Err(error) = result {
            tracing::warn!(campaign = %id, %error, "an access review's deadline or reminder failed; tried again next run");
        }
    }
    Ok(done)
}

/// At the deadline: the campaign's default answers each item left, one transaction per item
/// (a removal made is recorded at once, whatever happens to the next), then it closes.
async fn answer_by_default(
    pool: &sqlx::PgPool,
    connectors: &Connectors,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let system = Actor::system("access reviews");
    let mut conn = pool.acquire().await?;
    let Some(campaign) = reviews::campaign(&mut conn, id).await? else {
        return Ok(false);
    };
    if campaign.closed_at.is_some() {
        return Ok(false);
    }
    let left = reviews::undecided_items(&mut conn, id).await?;
    drop(conn);
    for item in left {
        let mut tx = pool.begin().await?;
        let Some(locked) = reviews::lock_item(&mut tx, item, now).await? else {
            continue;
        };
        if locked.decision.is_some() {
            continue;
        }
        let (outcome, error) = carry_out(
            &mut tx,
            connectors,
            &locked,
            campaign.default_action,
            None,
            None,
        )
        .await?;
        record(
            &mut tx,
            &system,
            &locked,
            campaign.default_action,
            None,
            None,
            None,
            (outcome, error.as_deref()),
        )
        .await?;
        tx.commit().await?;
    }
    close_if_answered(pool, &system, id, &campaign.name, ClosedHow::Deadline).await
}

/// Half-way: the reviewers with items left are reminded; three quarters of the way: each gets
/// backups. Each happens once, whichever replica gets there first. `(reminded, escalated)`.
async fn chase(
    pool: &sqlx::PgPool,
    id: Uuid,
    remind: bool,
    escalate: bool,
) -> Result<(bool, bool), sqlx::Error> {
    let system = Actor::system("access reviews");
    let mut tx = pool.begin().await?;
    let Some(campaign) = reviews::lock_open(&mut tx, id).await? else {
        return Ok((false, false));
    };
    let mut done = (false, false);
    if remind && reviews::mark_reminded(&mut tx, id).await? {
        let late = reviews::reviewers(&mut tx, id, true).await?;
        if !late.is_empty() {
            audit::record(
                &mut tx,
                &system,
                AuditAction::ReviewReminded,
                &Subject::default(),
                json!({
                    "campaign": id,
                    "name": campaign.name,
                    "deadline": campaign.deadline,
                    "reviewers": late,
                }),
            )
            .await?;
            done.0 = true;
        }
    }
    if escalate && reviews::mark_escalated(&mut tx, id).await? {
        let backups = reviews::backups_for(&mut tx, id).await?;
        for (reviewer, _, backup) in &backups {
            reviews::add_backup(&mut tx, id, *reviewer, *backup).await?;
        }
        if !backups.is_empty() {
            audit::record(
                &mut tx,
                &system,
                AuditAction::ReviewEscalated,
                &Subject::default(),
                json!({
                    "campaign": id,
                    "name": campaign.name,
                    "deadline": campaign.deadline,
                    "backups": backups.iter().map(|(reviewer, name, backup)| json!({
                        "reviewer": reviewer,
                        "reviewer_name": name,
                        "backup": backup,
                    })).collect::<Vec<_>>(),
                }),
            )
            .await?;
            done.1 = true;
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// What answering an item does: keep (declared until the answer's end; by default, left as it
/// is) or remove (any declaration withdrawn, then removed through the connector and read
/// back). Answers the outcome and, for a removal that did not hold, why.
async fn carry_out(
    tx: &mut sqlx::PgConnection,
    connectors: &Connectors,
    item: &Locked,
    decision: ReviewDecision,
    kept: Option<(&str, Option<DateTime<Utc>>)>,
    by: Option<(Uuid, &str)>,
) -> Result<(ReviewOutcome, Option<String>), sqlx::Error> {
    // The item's finding first, then the declarations: the order the findings page takes them.
    let finding = match item.finding_id {
        Some(id) => findings::lock_one(tx, id).await?,
        None => None,
    };
    match decision {
        ReviewDecision::Keep => {
            // Access found and gone since (a pass no longer saw it, or it was removed) is not
            // declared: a declaration would let it come back unremarked.
            if finding
                .as_ref()
                .is_some_and(|f| matches!(f.closed_reason, Some(Closure::Gone | Closure::Removed)))
            {
                return Ok((ReviewOutcome::Gone, None));
            }
            if let (Some((reason, Some(until))), Some((who, name))) = (kept, by) {
                keep(tx, item, finding.as_ref(), reason, until, (who, name)).await?;
            }
            Ok((ReviewOutcome::Kept, None))
        }
        ReviewDecision::Remove => remove(tx, connectors, item, finding.as_ref(), by).await,
    }
}

async fn keep(
    tx: &mut sqlx::PgConnection,
    item: &Locked,
    found: Option<&findings::Locked>,
    reason: &str,
    until: DateTime<Utc>,
    (who, name): (Uuid, &str),
) -> Result<(), sqlx::Error> {
    let open_finding = item
        .finding_id
        .zip(found.filter(|f| !f.closed))
        .map(|(finding, f)| (finding, f.kind));
    crate::server::services::findings::standing(
        tx,
        &Actor::person(who, name),
        &Declare {
            entitlement: item.entitlement_id,
            account_ref: &item.account_ref,
            account_label: &item.account_label,
            principal: item.principal_id,
            reason,
            until,
            by: who,
        },
        open_finding,
        json!({ "review_item": item.id, "finding": item.finding_id }),
    )
    .await?;
    Ok(())
}

async fn remove(
    tx: &mut sqlx::PgConnection,
    connectors: &Connectors,
    item: &Locked,
    finding: Option<&findings::Locked>,
    by: Option<(Uuid, &str)>,
) -> Result<(ReviewOutcome, Option<String>), sqlx::Error> {
    let began = Utc::now();
    let failed = |why: String| Ok((ReviewOutcome::RemoveFailed, Some(why)));
    // A lease given for the account since the campaign opened: the access is a lease's now,
    // and nothing is touched (no declaration withdrawn, no finding opened).
    if findings::lease_appeared(
        tx,
        item.entitlement_id,
        &item.account_ref,
        item.principal_id,
        began,
    )
    .await?
    {
        return Ok((
            ReviewOutcome::Kept,
            Some("a lease covers the account now".into()),
        ));
    }
    let Some(entry) = findings::managed(tx, &item.entitlement_key).await? else {
        return failed("the entry is disabled or no longer in the catalog".into());
    };
    let Some(connector) = connectors.get(&entry.connector) else {
        return failed(format!("the system {} is not configured", entry.connector));
    };
    if let Some(declaration) =
        reviews::withdraw_declared(tx, item.entitlement_id, &item.account_ref, by.map(|b| b.0))
            .await?
    {
        audit::record(
            tx,
            &by.map_or(Actor::system("access reviews"), |(id, name)| Actor::person(id, name)),
            AuditAction::ReconcileDeclarationWithdrawn,
            &Subject {
                entitlement: Some(item.entitlement_id),
                principal: item.principal_id,
                ..Subject::default()
            },
            json!({ "declaration": declaration, "account": item.account_ref, "review_item": item.id }),
        )
        .await?;
    }
    let accounts = [item.account_ref.clone()];
    match connector
        .holding(&entry.access, &entry.target, &accounts)
        .await
    {
        Err(e) => return failed(e.to_string()),
        Ok(held) if held.is_empty() => return Ok((ReviewOutcome::Gone, None)),
        Ok(_) => {}
    }
    let finding = match (item.finding_id, finding) {
        (Some(id), Some(f)) if !f.closed && f.kind != FindingKind::DriftAbsent => id,
        _ => {
            let (id, new) = findings::seen(
                tx,
                &Seen {
                    entitlement: item.entitlement_id,
                    kind: FindingKind::Shadow,
                    account_ref: &item.account_ref,
                    account_id: None,
                    account_label: &item.account_label,
                    principal: item.principal_id,
                    grant: None,
                },
            )
            .await?;
            if new {
                audit::record(
                    tx,
                    &Actor::system("access reviews"),
                    AuditAction::ReconcileFound,
                    &Subject {
                        entitlement: Some(item.entitlement_id),
                        principal: item.principal_id,
                        ..Subject::default()
                    },
                    json!({
                        "finding": id,
                        "kind": FindingKind::Shadow,
                        "account": item.account_ref,
                        "label": item.account_label,
                        "system": entry.connector,
                        "review_item": item.id,
                    }),
                )
                .await?;
            }
            id
        }
    };
    let removed = reconcile::remove(
        tx,
        connector.as_ref(),
        &entry,
        began,
        Removal {
            finding,
            reference: &item.account_ref,
            principal: item.principal_id,
            label: &item.account_label,
            by,
        },
    )
    .await?;
    match removed {
        Some(true) => Ok((ReviewOutcome::Removed, None)),
        Some(false) => {
            let why = findings::last_error(tx, finding).await?;
            failed(why.unwrap_or_else(|| "the removal could not be read back".into()))
        }
        // A lease was given for the account since: the access is a lease's now.
        None => Ok((
            ReviewOutcome::Kept,
            Some("a lease covers the account now".into()),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    item: &Locked,
    decision: ReviewDecision,
    reason: Option<&str>,
    keep_until: Option<DateTime<Utc>>,
    by: Option<Uuid>,
    (outcome, error): (ReviewOutcome, Option<&str>),
) -> Result<(), sqlx::Error> {
    reviews::answer(
        tx,
        &Answer {
            item: item.id,
            decision,
            reason,
            keep_until,
            by,
            outcome,
            error,
        },
    )
    .await?;
    audit::record(
        tx,
        actor,
        AuditAction::ReviewDecided,
        &Subject {
            entitlement: Some(item.entitlement_id),
            principal: item.principal_id,
            ..Subject::default()
        },
        json!({
            "campaign": item.campaign_id,
            "item": item.id,
            "source": item.source,
            "account": item.account_ref,
            "label": item.account_label,
            "entitlement_key": item.entitlement_key,
            "decision": decision,
            "by_default": by.is_none(),
            "reason": reason,
            "until": keep_until,
            "outcome": outcome,
            "error": error,
        }),
    )
    .await
}

async fn close(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    campaign: Uuid,
    name: &str,
    how: ClosedHow,
) -> Result<(), sqlx::Error> {
    reviews::close(tx, campaign, how).await?;
    let (kept, removed, gone, failed, defaulted) = reviews::tally(tx, campaign).await?;
    audit::record(
        tx,
        actor,
        AuditAction::ReviewClosed,
        &Subject::default(),
        json!({
            "campaign": campaign,
            "name": name,
            "how": how,
            "kept": kept,
            "removed": removed,
            "gone": gone,
            "remove_failed": failed,
            "by_default": defaulted,
        }),
    )
    .await
}

/// A campaign's report as CSV, one row per item, for the governance roles and its creator; the
/// download is audited.
pub async fn report_csv(
    state: &AppState,
    caller: &SessionUser,
    id: Uuid,
) -> Result<(String, Vec<u8>), AppError> {
    let mut conn = state.pool.acquire().await?;
    let Some(campaign) = reviews::campaign(&mut conn, id).await? else {
        return Err(AppError::invalid("campaign", Problem::NoSuchReview));
    };
    if !sees_whole(&mut conn, caller, id).await? {
        return Err(AppError::Forbidden);
    }
    let report = assemble(&mut conn, campaign, caller, true).await?;
    let mut out = Vec::new();
    let head = [
        "campaign",
        "entry_key",
        "entry",
        "system",
        "account",
        "account_label",
        "holder",
        "source",
        "declared_reason",
        "declared_until",
        "reviewer",
        "decision",
        "reason",
        "keep_until",
        "decided_by",
        "decided_at",
        "outcome",
        "outcome_error",
    ];
    crate::server::services::evidence::push_row(&mut out, head.iter().map(|h| h.to_string()));
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for i in &report.items {
        let decided_by = match (&i.decision, &i.decided_by) {
            (Some(_), Some(who)) => who.clone(),
            (Some(_), None) => "campaign default".into(),
            _ => String::new(),
        };
        let cells = [
            report.campaign.name.clone(),
            i.entitlement_key.clone(),
            i.entitlement.clone(),
            i.system.clone(),
            i.account_ref.clone(),
            i.account_label.clone(),
            i.holder.clone().unwrap_or_default(),
            i.source.to_string(),
            i.declared_reason.clone().unwrap_or_default(),
            time(i.declared_until),
            i.reviewer.clone().unwrap_or_else(|| "entry owners".into()),
            i.decision.map(|d| d.to_string()).unwrap_or_default(),
            i.reason.clone().unwrap_or_default(),
            time(i.keep_until),
            decided_by,
            time(i.decided_at),
            i.outcome.map(|o| o.to_string()).unwrap_or_default(),
            i.outcome_error.clone().unwrap_or_default(),
        ];
        crate::server::services::evidence::push_row(&mut out, cells.into_iter());
    }
    audit::record(
        &mut conn,
        &actor(caller),
        AuditAction::ReviewReportExported,
        &Subject::default(),
        json!({ "campaign": id, "rows": report.items.len(), "format": "csv" }),
    )
    .await?;
    let name = format!("leasegate-review-{}.csv", &id.to_string()[..8]);
    Ok((name, out))
}

fn actor(caller: &SessionUser) -> Actor {
    Actor::person(caller.principal_id, &caller.display_name)
}
