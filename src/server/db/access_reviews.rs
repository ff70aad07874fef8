//! Access review campaigns, their items and who answers them (docs/access-reviews.md).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::api::types::access_reviews::{Campaign, Item, Reviewable};
use crate::domain::review::{ClosedHow, ItemSource, ReviewDecision, ReviewOutcome, Reviewers};

/// The entries a campaign may review: enabled entries of systems, with what a campaign would
/// find on each now (live declarations and open findings of access held).
pub async fn reviewable(conn: &mut PgConnection) -> Result<Vec<Reviewable>, sqlx::Error> {
    sqlx::query_as!(
        Reviewable,
        r#"
        select e.key, e.name, c.name as system,
               (select count(*) from standing_holders s
                 where s.entitlement_id = e.id and s.withdrawn_at is null and s.until > now())
             + (select count(*) from findings f
                 where f.entitlement_id = e.id and f.closed_at is null
                   and f.kind <> 'drift_absent') as "standing!"
          from entitlements e
          join connectors c on c.id = e.connector_id
         where e.enabled and e.kind <> 'bundle'
         order by e.name, e.key
        "#
    )
    .fetch_all(conn)
    .await
}

/// The ids of the enabled entries of systems with these keys, by key.
pub async fn entries(
    conn: &mut PgConnection,
    keys: &[String],
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    let rows = sqlx::query!(
        "select key, id from entitlements
          where key = any($1) and enabled and kind <> 'bundle' order by key",
        keys
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key, r.id)).collect())
}

/// A campaign to open.
pub struct NewCampaign<'a> {
    pub name: &'a str,
    pub reviewers: Reviewers,
    pub default_action: ReviewDecision,
    pub deadline: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    pub escalate_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: Uuid,
    pub entries: &'a [Uuid],
}

/// Opens a campaign over its entries and snapshots their standing access as its items:
/// every live declaration and every open finding of access held (a finding of an account that
/// is also declared counts once). In a managers' campaign an item goes to the holder's active
/// manager; without one, to the entry's owners. Answers the campaign's id and how many items
/// it has.
pub async fn open(
    conn: &mut PgConnection,
    c: &NewCampaign<'_>,
) -> Result<(Uuid, u64), sqlx::Error> {
    let id = sqlx::query_scalar!(
        r#"
        insert into review_campaigns (name, reviewers, default_action, deadline, remind_at,
                                      escalate_at, created_by, created_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        returning id
        "#,
        c.name,
        c.reviewers as Reviewers,
        c.default_action as ReviewDecision,
        c.deadline as DateTime<Utc>,
        c.remind_at as DateTime<Utc>,
        c.escalate_at as DateTime<Utc>,
        c.created_by,
        c.created_at as DateTime<Utc>
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "insert into review_campaign_entries (campaign_id, entitlement_id)
         select $1, unnest($2::uuid[])",
        id,
        c.entries
    )
    .execute(&mut *conn)
    .await?;
    let managers = c.reviewers == Reviewers::Managers;
    let declared = sqlx::query!(
        r#"
        insert into review_items (campaign_id, entitlement_id, source, declaration_id,
                                  account_ref, account_label, principal_id, declared_reason,
                                  declared_until, reviewer_id, owners)
        select $1, s.entitlement_id, 'declared', s.id, s.account_ref, s.account_label,
               s.principal_id, s.reason, s.until,
               case when $3 then m.id end, e.owners
          from standing_holders s
          join entitlements e on e.id = s.entitlement_id
          left join principals p on p.id = s.principal_id
          left join principals m on m.id = p.manager_id and m.status = 'active' and m.id <> p.id
         where s.entitlement_id = any($2) and s.withdrawn_at is null and s.until > now()
        "#,
        id,
        c.entries,
        managers
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let found = sqlx::query!(
        r#"
        insert into review_items (campaign_id, entitlement_id, source, finding_id, account_ref,
                                  account_label, principal_id, reviewer_id, owners)
        select distinct on (f.entitlement_id, f.account_ref)
               $1, f.entitlement_id, 'finding', f.id, f.account_ref, f.account_label,
               f.principal_id, case when $3 then m.id end, e.owners
          from findings f
          join entitlements e on e.id = f.entitlement_id
          left join principals p on p.id = f.principal_id
          left join principals m on m.id = p.manager_id and m.status = 'active' and m.id <> p.id
         where f.entitlement_id = any($2) and f.closed_at is null and f.kind <> 'drift_absent'
         order by f.entitlement_id, f.account_ref, f.first_seen
        on conflict (campaign_id, entitlement_id, account_ref) do nothing
        "#,
        id,
        c.entries,
        managers
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((id, declared + found))
}

/// Everyone who is to answer at least one item of the campaign (unanswered ones only, when
/// `undecided`), by id.
pub async fn reviewers(
    conn: &mut PgConnection,
    campaign: Uuid,
    undecided: bool,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select distinct d.reviewer_id as "id!"
          from review_duties d join review_items i on i.id = d.item_id
         where d.campaign_id = $1 and (not $2 or i.decision is null)
        "#,
        campaign,
        undecided
    )
    .fetch_all(conn)
    .await
}

/// The campaigns the caller sees, open ones (soonest deadline) first: every campaign for the
/// governance roles (`everything`); else those they opened, review, or back a reviewer up in.
/// Counts are of the items the caller sees.
pub async fn list(
    conn: &mut PgConnection,
    caller: Uuid,
    everything: bool,
) -> Result<Vec<Campaign>, sqlx::Error> {
    sqlx::query_as!(
        Campaign,
        r#"
        with answerable as (
            select d.item_id from review_duties d where d.reviewer_id = $1
            union
            select d.item_id from review_duties d
              join review_backups b on b.campaign_id = d.campaign_id
                                   and b.reviewer_id = d.reviewer_id
             where b.backup_id = $1
        ),
        seen as (
            select i.*, (a.item_id is not null) as mine
              from review_items i
              join review_campaigns c on c.id = i.campaign_id
              left join answerable a on a.item_id = i.id
             where $2 or c.created_by = $1 or a.item_id is not null
        )
        select c.id, c.name, c.reviewers as "reviewers: Reviewers",
               c.default_action as "default_action: ReviewDecision",
               c.deadline as "deadline: DateTime<Utc>", p.display_name as created_by,
               c.created_at as "created_at: DateTime<Utc>",
               c.closed_at as "closed_at: DateTime<Utc>",
               c.closed_how as "closed_how: ClosedHow",
               count(s.id) as "items!",
               count(s.id) filter (where s.decision is null) as "undecided!",
               count(s.id) filter (where s.decision is null and s.mine
                                     and s.principal_id is distinct from $1) as "mine!"
          from review_campaigns c
          join principals p on p.id = c.created_by
          join seen s on s.campaign_id = c.id
         group by c.id, p.display_name
         order by c.closed_at is not null, c.deadline, c.id
         limit 500
        "#,
        caller,
        everything
    )
    .fetch_all(conn)
    .await
}

/// One campaign's items, each with whether `caller` may answer it now, for the caller: every
/// item (`whole`), or only those they are to answer.
pub async fn items(
    conn: &mut PgConnection,
    campaign: Uuid,
    caller: Uuid,
    whole: bool,
) -> Result<Vec<Item>, sqlx::Error> {
    sqlx::query_as!(
        Item,
        r#"
        with answerable as (
            select d.item_id from review_duties d
             where d.campaign_id = $1 and d.reviewer_id = $2
            union
            select d.item_id from review_duties d
              join review_backups b on b.campaign_id = d.campaign_id
                                   and b.reviewer_id = d.reviewer_id
             where d.campaign_id = $1 and b.backup_id = $2
        )
        select i.id, e.key as entitlement_key, e.name as entitlement, c.name as system,
               i.source as "source: ItemSource", i.account_ref, i.account_label,
               i.principal_id as holder_id, h.display_name as "holder?",
               i.declared_reason, i.declared_until as "declared_until: DateTime<Utc>",
               r.display_name as "reviewer?",
               i.decision as "decision: ReviewDecision", i.reason,
               i.keep_until as "keep_until: DateTime<Utc>", d.display_name as "decided_by?",
               i.decided_at as "decided_at: DateTime<Utc>",
               i.outcome as "outcome: ReviewOutcome", i.outcome_error,
               (a.item_id is not null and i.decision is null and k.closed_at is null
                and k.deadline > now() and i.principal_id is distinct from $2) as "may_decide!",
               coalesce(i.principal_id = $2, false) as "own!"
          from review_items i
          join review_campaigns k on k.id = i.campaign_id
          join entitlements e on e.id = i.entitlement_id
          join connectors c on c.id = e.connector_id
          left join principals h on h.id = i.principal_id
          left join principals r on r.id = i.reviewer_id
          left join principals d on d.id = i.decided_by
          left join answerable a on a.item_id = i.id
         where i.campaign_id = $1 and ($3 or a.item_id is not null)
         order by e.name, e.key, i.account_label, i.account_ref
        "#,
        campaign,
        caller,
        whole
    )
    .fetch_all(conn)
    .await
}

/// One campaign, as the list shows it, without counts.
pub async fn campaign(conn: &mut PgConnection, id: Uuid) -> Result<Option<Campaign>, sqlx::Error> {
    sqlx::query_as!(
        Campaign,
        r#"
        select c.id, c.name, c.reviewers as "reviewers: Reviewers",
               c.default_action as "default_action: ReviewDecision",
               c.deadline as "deadline: DateTime<Utc>", p.display_name as created_by,
               c.created_at as "created_at: DateTime<Utc>",
               c.closed_at as "closed_at: DateTime<Utc>",
               c.closed_how as "closed_how: ClosedHow",
               0::bigint as "items!", 0::bigint as "undecided!", 0::bigint as "mine!"
          from review_campaigns c join principals p on p.id = c.created_by
         where c.id = $1
        "#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Who opened a campaign.
pub async fn creator(conn: &mut PgConnection, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("select created_by from review_campaigns where id = $1", id)
        .fetch_optional(conn)
        .await
}

/// The names of a campaign's entries.
pub async fn entry_names(
    conn: &mut PgConnection,
    campaign: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select e.name from review_campaign_entries r join entitlements e on e.id = r.entitlement_id
          where r.campaign_id = $1 order by e.name",
        campaign
    )
    .fetch_all(conn)
    .await
}

/// Whether `caller` is to answer the item: a reviewer of it, or a backup of one.
pub async fn answers(
    conn: &mut PgConnection,
    item: Uuid,
    caller: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select exists (
            select 1 from review_duties d
             where d.item_id = $1
               and (d.reviewer_id = $2
                    or exists (select 1 from review_backups b
                                where b.campaign_id = d.campaign_id
                                  and b.reviewer_id = d.reviewer_id and b.backup_id = $2))
        ) as "answers!"
        "#,
        item,
        caller
    )
    .fetch_one(conn)
    .await
}

/// Locks a campaign to close it once its items are answered. `true` while it is open.
pub async fn lock_campaign(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let open = sqlx::query_scalar!(
        r#"select (closed_at is null) as "open!" from review_campaigns where id = $1 for update"#,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(open.unwrap_or(false))
}

/// An item locked for answering it, with its campaign's state.
#[derive(Debug, Clone)]
pub struct Locked {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub campaign: String,
    pub campaign_closed: bool,
    pub entitlement_id: Uuid,
    pub entitlement_key: String,
    pub source: ItemSource,
    pub declaration_id: Option<Uuid>,
    pub finding_id: Option<Uuid>,
    pub account_ref: String,
    pub account_label: String,
    pub principal_id: Option<Uuid>,
    pub decision: Option<ReviewDecision>,
}

/// Locks an item for answering it. `campaign_closed`: its campaign closed, or its deadline
/// passed by `now` (the deadline's default answers what is left). The holder is the item's
/// person, else the one its finding or the portal's account link names by now, so an account
/// linked to a person after the campaign opened is still theirs.
pub async fn lock_item(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Locked>, sqlx::Error> {
    sqlx::query_as!(
        Locked,
        r#"
        select i.id, i.campaign_id, k.name as campaign,
               (k.closed_at is not null or k.deadline <= $2) as "campaign_closed!",
               i.entitlement_id, e.key as entitlement_key, i.source as "source: ItemSource",
               i.declaration_id, i.finding_id, i.account_ref, i.account_label,
               coalesce(i.principal_id, f.principal_id,
                        (select pa.principal_id from principal_accounts pa
                          where pa.connector_id = e.connector_id
                            and lower(pa.account_ref) = lower(i.account_ref)
                          limit 1)) as "principal_id?",
               i.decision as "decision: ReviewDecision"
          from review_items i
          join review_campaigns k on k.id = i.campaign_id
          join entitlements e on e.id = i.entitlement_id
          left join findings f on f.id = i.finding_id
         where i.id = $1
           for update of i
        "#,
        id,
        now as DateTime<Utc>
    )
    .fetch_optional(conn)
    .await
}

/// A campaign's unanswered items, for its default to answer them one by one.
pub async fn undecided_items(
    conn: &mut PgConnection,
    campaign: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "select id from review_items where campaign_id = $1 and decision is null
          order by entitlement_id, account_ref",
        campaign
    )
    .fetch_all(conn)
    .await
}

/// An item's answer and what it did.
pub struct Answer<'a> {
    pub item: Uuid,
    pub decision: ReviewDecision,
    pub reason: Option<&'a str>,
    pub keep_until: Option<DateTime<Utc>>,
    /// `None`: the campaign's default.
    pub by: Option<Uuid>,
    pub outcome: ReviewOutcome,
    pub error: Option<&'a str>,
}

pub async fn answer(conn: &mut PgConnection, a: &Answer<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update review_items
            set decision = $2, reason = $3, keep_until = $4, decided_by = $5, decided_at = now(),
                outcome = $6, outcome_error = $7
          where id = $1 and decision is null",
        a.item,
        a.decision as ReviewDecision,
        a.reason,
        a.keep_until as Option<DateTime<Utc>>,
        a.by,
        a.outcome as ReviewOutcome,
        a.error
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks an open campaign; `None` when it closed (or another worker holds it).
pub async fn lock_open(conn: &mut PgConnection, id: Uuid) -> Result<Option<Campaign>, sqlx::Error> {
    let locked = sqlx::query_scalar!(
        "select id from review_campaigns where id = $1 and closed_at is null
            for update skip locked",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    match locked {
        Some(id) => campaign(conn, id).await,
        None => Ok(None),
    }
}

/// How many of the campaign's items are unanswered.
pub async fn undecided(conn: &mut PgConnection, campaign: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from review_items where campaign_id = $1 and decision is null"#,
        campaign
    )
    .fetch_one(conn)
    .await
}

/// How a campaign's answers came out: `(kept, removed, gone, failed, by default)`.
pub async fn tally(
    conn: &mut PgConnection,
    campaign: Uuid,
) -> Result<(i64, i64, i64, i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select count(*) filter (where outcome = 'kept') as "kept!",
               count(*) filter (where outcome = 'removed') as "removed!",
               count(*) filter (where outcome = 'gone') as "gone!",
               count(*) filter (where outcome = 'remove_failed') as "failed!",
               count(*) filter (where decision is not null and decided_by is null) as "defaulted!"
          from review_items where campaign_id = $1
        "#,
        campaign
    )
    .fetch_one(conn)
    .await?;
    Ok((row.kept, row.removed, row.gone, row.failed, row.defaulted))
}

pub async fn close(conn: &mut PgConnection, id: Uuid, how: ClosedHow) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update review_campaigns set closed_at = now(), closed_how = $2
          where id = $1 and closed_at is null",
        id,
        how as ClosedHow
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Open campaigns whose deadline, reminder or escalation time has come: `(id, deadline
/// passed, remind now, escalate now)`.
pub async fn due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, bool, bool, bool)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select id, (deadline <= $1) as "closing!",
               (reminded_at is null and remind_at <= $1) as "remind!",
               (escalated_at is null and escalate_at <= $1) as "escalate!"
          from review_campaigns
         where closed_at is null
           and (deadline <= $1 or (reminded_at is null and remind_at <= $1)
                or (escalated_at is null and escalate_at <= $1))
         order by deadline
         limit 100
        "#,
        now as DateTime<Utc>
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.closing, r.remind, r.escalate))
        .collect())
}

/// Marks the campaign reminded; `false` when it was already (another replica did it).
pub async fn mark_reminded(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "update review_campaigns set reminded_at = now()
          where id = $1 and reminded_at is null returning id",
        id
    )
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// Marks the campaign escalated; `false` when it was already.
pub async fn mark_escalated(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "update review_campaigns set escalated_at = now()
          where id = $1 and escalated_at is null returning id",
        id
    )
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// The undecided reviewers of a campaign and who backs each up: their manager where the
/// portal knows an active one (who is not the reviewer), else every active administrator
/// (but the reviewer). `(reviewer, reviewer's name, backup)`.
pub async fn backups_for(
    conn: &mut PgConnection,
    campaign: Uuid,
) -> Result<Vec<(Uuid, String, Uuid)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        with late as (
            select distinct d.reviewer_id
              from review_duties d join review_items i on i.id = d.item_id
             where d.campaign_id = $1 and i.decision is null
        )
        select l.reviewer_id as "reviewer!", p.display_name as "name!", b.id as "backup!"
          from late l
          join principals p on p.id = l.reviewer_id
          left join principals m on m.id = p.manager_id and m.status = 'active'
                                and m.id <> p.id
          join principals b
            on (m.id is not null and b.id = m.id)
            or (m.id is null and 'admin' = any(b.portal_roles) and b.status = 'active'
                and b.id <> p.id)
         order by p.display_name, b.id
        "#,
        campaign
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.reviewer, r.name, r.backup))
        .collect())
}

pub async fn add_backup(
    conn: &mut PgConnection,
    campaign: Uuid,
    reviewer: Uuid,
    backup: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into review_backups (campaign_id, reviewer_id, backup_id) values ($1, $2, $3)
         on conflict do nothing",
        campaign,
        reviewer,
        backup
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Withdraws the live declaration of an account on an entry, if any (a review removed it).
pub async fn withdraw_declared(
    conn: &mut PgConnection,
    entitlement: Uuid,
    account_ref: &str,
    by: Option<Uuid>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "update standing_holders set withdrawn_at = now(), withdrawn_by = $3
          where entitlement_id = $1 and account_ref = $2 and withdrawn_at is null
          returning id",
        entitlement,
        account_ref,
        by
    )
    .fetch_optional(conn)
    .await
}

/// The sign-in names of these people (the notifier addresses mails by them).
pub async fn upns_of(conn: &mut PgConnection, people: &[Uuid]) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select upn from principals where id = any($1) and status = 'active' order by upn",
        people
    )
    .fetch_all(conn)
    .await
}

/// How many items of open campaigns the caller is to answer (the approvals page's pointer).
pub async fn waiting_on(conn: &mut PgConnection, caller: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select count(distinct i.id) as "n!"
          from review_items i
          join review_campaigns k on k.id = i.campaign_id and k.closed_at is null
          join review_duties d on d.item_id = i.id
          left join review_backups b on b.campaign_id = d.campaign_id
                                    and b.reviewer_id = d.reviewer_id and b.backup_id = $1
         where i.decision is null and i.principal_id is distinct from $1
           and (d.reviewer_id = $1 or b.backup_id is not null)
        "#,
        caller
    )
    .fetch_one(conn)
    .await
}
