//! The mail outbox and what the notifier reads to fill it: the trail after its cursor, the
//! facts a mail names, and who receives it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::mail::{Language, MailKind, MailState};
use crate::domain::person::PrincipalStatus;
use crate::domain::request::RequestState;
use crate::server::db::delivery::Claim;

/// One event of the trail, as the notifier reads it.
#[derive(Debug, Clone)]
pub struct TrailEvent {
    pub position: i64,
    pub occurred_at: DateTime<Utc>,
    /// None for an action this build does not know (written by a newer replica).
    pub action: Option<AuditAction>,
    pub request_id: Option<Uuid>,
    pub grant_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub details: Value,
}

/// Takes the cursor for this transaction (one notifier at a time across replicas; the others
/// skip) and returns where it stands. None: another replica holds it.
pub async fn take_cursor(conn: &mut PgConnection) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "select position from notification_cursor where only_row for update skip locked"
    )
    .fetch_optional(conn)
    .await
}

pub async fn move_cursor(conn: &mut PgConnection, position: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update notification_cursor set position = $1, moved_at = now() where only_row",
        position
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The events after `position`, oldest first. Positions are given under the chain head's lock,
/// held until commit, so a later position is never visible before an earlier one.
pub async fn events_after(
    conn: &mut PgConnection,
    position: i64,
    limit: i64,
) -> Result<Vec<TrailEvent>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select position, occurred_at as "occurred_at: DateTime<Utc>", action, request_id, grant_id, subject_id, details
          from audit_events
         where position > $1
         order by position
         limit $2
        "#,
        position,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TrailEvent {
            position: r.position,
            occurred_at: r.occurred_at,
            action: AuditAction::parse(&r.action),
            request_id: r.request_id,
            grant_id: r.grant_id,
            subject_id: r.subject_id,
            details: r.details,
        })
        .collect())
}

/// Someone a mail goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub id: Option<Uuid>,
    pub name: String,
    pub address: String,
    pub language: Language,
}

/// A request with the names and people a mail about it needs.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub id: Uuid,
    pub state: RequestState,
    pub stage: i32,
    pub entitlement_key: String,
    pub entitlement: String,
    pub requester: Recipient,
    pub beneficiary: Recipient,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub justification: String,
    pub ticket: Option<String>,
    /// The Teams channel of the policy (or `approvals` when it names none).
    pub teams_channel: Option<String>,
}

fn recipient(
    id: Uuid,
    name: String,
    upn: String,
    email: Option<String>,
    language: Option<Language>,
) -> Recipient {
    Recipient {
        id: Some(id),
        name,
        address: email.filter(|e| !e.trim().is_empty()).unwrap_or(upn),
        language: language.unwrap_or(Language::English),
    }
}

pub async fn request_facts(
    conn: &mut PgConnection,
    request: Uuid,
) -> Result<Option<RequestFacts>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select r.id, r.state as "state: RequestState", r.stage, e.key, e.name as entitlement,
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.expires_at as "expires_at: DateTime<Utc>", r.justification, r.ticket,
               coalesce(r.policy->'policy'->>'teams_channel', 'approvals') as "teams_channel?",
               q.id as q_id, q.display_name as q_name, q.upn as q_upn, q.email as q_email,
               q.language as "q_language: Language",
               b.id as b_id, b.display_name as b_name, b.upn as b_upn, b.email as b_email,
               b.language as "b_language: Language"
          from access_requests r
          join entitlements e on e.id = r.entitlement_id
          join principals q on q.id = r.requester_id
          join principals b on b.id = r.beneficiary_id
         where r.id = $1
        "#,
        request
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| RequestFacts {
        id: r.id,
        state: r.state,
        stage: r.stage,
        entitlement_key: r.key,
        entitlement: r.entitlement,
        requester: recipient(r.q_id, r.q_name, r.q_upn, r.q_email, r.q_language),
        beneficiary: recipient(r.b_id, r.b_name, r.b_upn, r.b_email, r.b_language),
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        expires_at: r.expires_at,
        justification: r.justification,
        ticket: r.ticket,
        teams_channel: r.teams_channel,
    }))
}

/// The approvers of a request's stage who have not decided on it, never its requester or
/// beneficiary. An approver who never signed in is written to at their sign-in name.
///
/// `first_asked`: only those the stage asked first, not deputies or escalation backups, who
/// are told by their own mail.
pub async fn undecided_approvers(
    conn: &mut PgConnection,
    request: Uuid,
    stage: i32,
    first_asked: bool,
) -> Result<Vec<Recipient>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select coalesce(p.upn, a.approver_upn) as "approver_upn!", p.id as "id?", p.display_name as "name?", p.email,
               p.language as "language: Language"
          -- Someone who could fill only seats already filled has nothing to decide.
          from (select distinct x.request_id, x.stage, x.holder, x.approver_id, x.approver_upn
                  from request_approvers x
                 where x.request_id = $1 and x.stage = $2
                   and holds_open_seat(x.request_id, x.stage, x.holder)) a
          join access_requests r on r.id = a.request_id
          left join principals p on p.id = a.approver_id and p.status = $4
         -- A person who cannot act now (disabled) is not written to; a name nobody holds yet
         -- is written to at that name.
         where (p.id is not null or a.approver_id is null)
           and p.id is distinct from r.requester_id
           and p.id is distinct from r.beneficiary_id
           and not exists (select 1 from approval_decisions d
                            where d.request_id = a.request_id and d.stage = a.stage
                              and d.approver_id = p.id)
           and not ($3 and (exists (select 1 from request_delegations rd
                                     where rd.request_id = a.request_id and rd.stage = a.stage
                                       and rd.to_holder = a.holder)
                        or exists (select 1 from request_escalations e
                                    where e.request_id = a.request_id and e.stage = a.stage
                                      and a.holder = any(e.added))))
         order by 1
        "#,
        request,
        stage,
        first_asked,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Recipient {
            id: r.id,
            name: r.name.unwrap_or_else(|| r.approver_upn.clone()),
            address: r
                .email
                .filter(|e| !e.trim().is_empty())
                .unwrap_or(r.approver_upn),
            language: r.language.unwrap_or(Language::English),
        })
        .collect())
}

/// The last comment of a request's decisions with this outcome (`approve` or `deny`).
pub async fn decision_comment(
    conn: &mut PgConnection,
    request: Uuid,
    outcome: &str,
) -> Result<String, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        r#"
        select comment from approval_decisions
         where request_id = $1 and outcome = $2
         order by decided_at desc
         limit 1
        "#,
        request,
        outcome
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or_default())
}

/// A grant with the names a mail about it needs.
#[derive(Debug, Clone)]
pub struct GrantFacts {
    pub id: Uuid,
    pub request_id: Option<Uuid>,
    /// The entry's name, with its bundle's where it is part of one.
    pub entitlement: String,
    pub holder: Recipient,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

pub async fn grant_facts(
    conn: &mut PgConnection,
    grant: Uuid,
) -> Result<Option<GrantFacts>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select g.id, g.request_id, g.starts_at as "starts_at: DateTime<Utc>",
               g.ends_at as "ends_at: DateTime<Utc>", e.name, b.name as "bundle?",
               p.id as p_id, p.display_name, p.upn, p.email,
               p.language as "language: Language"
          from grants g
          join entitlements e on e.id = g.entitlement_id
          left join entitlements b on b.id = g.bundle_id
          join principals p on p.id = g.principal_id
         where g.id = $1
        "#,
        grant
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| GrantFacts {
        id: r.id,
        request_id: r.request_id,
        entitlement: match r.bundle {
            Some(bundle) => format!("{} ({bundle})", r.name),
            None => r.name,
        },
        holder: recipient(r.p_id, r.display_name, r.upn, r.email, r.language),
        starts_at: r.starts_at,
        ends_at: r.ends_at,
    }))
}

/// The active people who own the entry a grant is of (the catalog's `owners`, by sign-in name).
pub async fn owners_of_grant(
    conn: &mut PgConnection,
    grant: Uuid,
) -> Result<Vec<Recipient>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select p.id, p.display_name, p.upn, p.email, p.language as "language: Language"
          from grants g
          join entitlements e on e.id = g.entitlement_id
          join principals p on p.upn = any(e.owners)
         where g.id = $1 and p.status = $2
         order by p.upn
        "#,
        grant,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| recipient(r.id, r.display_name, r.upn, r.email, r.language))
        .collect())
}

/// A catalog entry's name and owners (sign-in names), by key.
pub async fn entry_owners(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<(String, Vec<String>)>, sqlx::Error> {
    let row = sqlx::query!("select name, owners from entitlements where key = $1", key)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| (r.name, r.owners)))
}

/// A person's sign-in name.
pub async fn upn_of(conn: &mut PgConnection, person: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!("select upn from principals where id = $1", person)
        .fetch_optional(conn)
        .await
}

/// The portal's active administrators.
pub async fn administrators(conn: &mut PgConnection) -> Result<Vec<Recipient>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select id, display_name, upn, email, language as "language: Language"
          from principals
         where 'admin' = any(portal_roles) and status = $1
         order by upn
        "#,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| recipient(r.id, r.display_name, r.upn, r.email, r.language))
        .collect())
}

/// A contractor's name, end and sponsor.
pub async fn contractor_facts(
    conn: &mut PgConnection,
    principal: Uuid,
) -> Result<Option<(String, DateTime<Utc>, Recipient)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select c.display_name as contractor, c.ends_at as "ends_at: DateTime<Utc>", s.id, s.display_name, s.upn, s.email,
               s.language as "language: Language"
          from contractors c
          join principals s on s.id = c.sponsor_id
         where c.principal_id = $1
        "#,
        principal
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| {
        (
            r.contractor,
            r.ends_at,
            recipient(r.id, r.display_name, r.upn, r.email, r.language),
        )
    }))
}

/// Active leases whose ending notice is due and not yet written, with the policy's lead time:
/// (grant, notice topic).
pub async fn expiring_unnoticed(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select g.id, 'grant:' || g.id || ':ending:' || extract(epoch from g.ends_at)::bigint as "topic!"
          from grants g
          join access_requests r on r.id = g.request_id
          cross join lateral (
                select least(make_interval(mins => coalesce((r.policy->'policy'->>'expiry_notice_minutes')::int, 1440)),
                             (g.ends_at - g.starts_at) / 2) as lead) l
         where g.state = 'active'
           and g.ends_at > now()
           and coalesce((r.policy->'policy'->>'expiry_notice_minutes')::int, 1440) > 0
           and g.ends_at - l.lead <= now()
           and not exists (select 1 from mail_outbox o
                            where o.topic = 'grant:' || g.id || ':ending:' || extract(epoch from g.ends_at)::bigint)
         order by g.ends_at
         limit $1
        "#,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.topic)).collect())
}

/// Pending requests that lapse within a day (or within a quarter of their waiting time, when
/// that is shorter) and whose requester has not been told: (request, notice topic).
pub async fn lapsing_unnoticed(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select r.id, 'request:' || r.id || ':lapsing' as "topic!"
          from access_requests r
         where r.state = 'pending'
           and r.expires_at > now()
           and r.expires_at - least(interval '1 day', (r.expires_at - r.submitted_at) / 4) <= now()
           and not exists (select 1 from mail_outbox o where o.topic = 'request:' || r.id || ':lapsing')
         order by r.expires_at
         limit $1
        "#,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.topic)).collect())
}

/// Pending requests whose current stage began longer ago than the policy's
/// `remind_after_minutes` (by `now`, the reminders' clock) and whose approvers were not reminded
/// for this stage: (request, stage, notice topic).
pub async fn reminders_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, i32, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select r.id, r.stage, 'request:' || r.id || ':stage:' || r.stage || ':reminder' as "topic!"
          from access_requests r
          cross join lateral (
                select coalesce((r.policy->'policy'->>'remind_after_minutes')::int, 1440) as after) p
         where r.state = 'pending'
           and p.after > 0
           and r.stage_since + make_interval(mins => p.after) <= $1
           and not exists (select 1 from mail_outbox o
                            where o.topic = 'request:' || r.id || ':stage:' || r.stage || ':reminder')
         order by r.stage_since
         limit $2
        "#,
        now as DateTime<Utc>,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.stage, r.topic)).collect())
}

/// People by sign-in name, as mail recipients (their own address and language when they have
/// signed in or been synced; their sign-in name otherwise).
pub async fn recipients(
    conn: &mut PgConnection,
    upns: &[String],
) -> Result<Vec<Recipient>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select u.upn as "upn!", p.id as "id?", p.display_name as "name?", p.email,
               p.language as "language: Language"
          from unnest($1::text[]) as u(upn)
          left join lateral (
                select id, display_name, email, language from principals
                 where lower(upn) = lower(u.upn) and status = $2
                 order by last_sign_in_at desc nulls last
                 limit 1) p on true
         order by u.upn
        "#,
        upns,
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Recipient {
            id: r.id,
            name: r.name.unwrap_or_else(|| r.upn.clone()),
            address: r.email.filter(|e| !e.trim().is_empty()).unwrap_or(r.upn),
            language: r.language.unwrap_or(Language::English),
        })
        .collect())
}

/// A mail to write.
#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    pub topic: &'a str,
    pub kind: MailKind,
    pub recipient: &'a Recipient,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub request: Option<Uuid>,
    pub grant: Option<Uuid>,
}

/// Writes a mail unless one with the same topic went to the same address. True when written.
pub async fn enqueue(conn: &mut PgConnection, mail: &NewMail<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        insert into mail_outbox (topic, kind, recipient_id, address, language, subject,
                                 text_body, html_body, request_id, grant_id)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        on conflict (topic, address) do nothing
        "#,
        mail.topic,
        mail.kind as MailKind,
        mail.recipient.id,
        mail.recipient.address,
        mail.recipient.language as Language,
        mail.subject,
        mail.text,
        mail.html,
        mail.request,
        mail.grant,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A mail claimed for delivery ([`super::delivery::claim`]).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: Uuid,
    pub address: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// The claimed mail's message. None if it is gone (it never is: mails are not deleted).
pub async fn outgoing(pool: &PgPool, claim: &Claim) -> Result<Option<Outgoing>, sqlx::Error> {
    let row = sqlx::query!(
        "select address, subject, text_body, html_body from mail_outbox where id = $1",
        claim.id
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Outgoing {
        id: claim.id,
        address: r.address,
        subject: r.subject,
        text_body: r.text_body,
        html_body: r.html_body,
        attempts: claim.attempts,
        created_at: claim.created_at,
    }))
}

/// A mail as the administrators' page shows it.
#[derive(Debug, Clone)]
pub struct MailRow {
    pub address: String,
    pub kind: MailKind,
    pub subject: String,
    pub state: MailState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub refused_at: Option<DateTime<Utc>>,
    pub request_id: Option<Uuid>,
}

/// Mail the server refused or that still waits after a failure, newest first; and how many
/// mails are pending and sent in the last day.
pub async fn undelivered(pool: &PgPool, limit: i64) -> Result<Vec<MailRow>, sqlx::Error> {
    sqlx::query_as!(
        MailRow,
        r#"
        select address, kind as "kind: MailKind", subject, state as "state: MailState",
               attempts, last_error, created_at as "created_at: DateTime<Utc>",
               refused_at as "refused_at: DateTime<Utc>", request_id
          from mail_outbox
         where state = 'refused' or (state = 'pending' and last_error is not null)
         order by coalesce(refused_at, created_at) desc
         limit $1
        "#,
        limit
    )
    .fetch_all(pool)
    .await
}

/// (pending, sent in the last 24 hours, refused in the last 30 days).
pub async fn counts(pool: &PgPool) -> Result<(i64, i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select count(*) filter (where state = 'pending') as "pending!",
               count(*) filter (where state = 'sent' and sent_at > now() - interval '1 day') as "sent!",
               count(*) filter (where state = 'refused' and refused_at > now() - interval '30 days') as "refused!"
          from mail_outbox
        "#
    )
    .fetch_one(pool)
    .await?;
    Ok((row.pending, row.sent, row.refused))
}
