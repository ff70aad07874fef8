//! Access requests, their approvers and their decisions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::approval::{Decision, Outcome, ResolvedStage, Seat, holders};
use crate::domain::input::Upn;
use crate::domain::person::PrincipalStatus;
use crate::domain::policy::Policy;
use crate::domain::request::{RequestEvent, RequestState, RequestStep};

/// The rules a request was submitted under, kept with it so later catalog edits do not change
/// how it is decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub policy: Policy,
    pub stages: Vec<ResolvedStage>,
}

pub struct NewRequest<'a> {
    pub requester: Uuid,
    pub beneficiary: Uuid,
    pub entitlement: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub start_on_approval: bool,
    pub requested_minutes: Option<i32>,
    pub justification: &'a str,
    pub ticket: Option<&'a str>,
    pub snapshot: &'a Snapshot,
    pub expires_at: DateTime<Utc>,
    pub extends_grant: Option<Uuid>,
    pub client_token: Uuid,
    pub hints: &'a [StoredHint],
    /// Where the person connects from, for access opened to an address.
    pub source_address: Option<&'a str>,
}

/// What approvers are told about a request, found in the directory when it was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredHint {
    /// The beneficiary already holds the access through this nested group.
    Nested { group: String },
    /// The directory did not answer, so nested membership was not checked.
    DirectoryUnavailable,
}

/// Makes concurrent submissions of one form (a double click) wait for each other until the
/// end of the transaction.
pub async fn lock_form(
    conn: &mut PgConnection,
    requester: Uuid,
    token: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 0))",
        requester.to_string(),
        token.to_string()
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts the request and its approvers. `None` when this requester already used the
/// client token (a replayed form): the caller then answers with the first request.
pub async fn insert(
    conn: &mut PgConnection,
    r: &NewRequest<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let snapshot = serde_json::to_value(r.snapshot).expect("snapshots serialise");
    let hints = serde_json::to_value(r.hints).expect("hints serialise");
    let id = sqlx::query_scalar!(
        r#"
        insert into access_requests (requester_id, beneficiary_id, entitlement_id, starts_at,
                                     ends_at, start_on_approval, requested_minutes, justification,
                                     ticket, policy, expires_at, extends_grant, client_token,
                                     hints, source_address)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        on conflict (requester_id, client_token) do nothing
        returning id
        "#,
        r.requester,
        r.beneficiary,
        r.entitlement,
        r.starts_at as DateTime<Utc>,
        r.ends_at as DateTime<Utc>,
        r.start_on_approval,
        r.requested_minutes,
        r.justification,
        r.ticket,
        snapshot,
        r.expires_at as DateTime<Utc>,
        r.extends_grant,
        r.client_token,
        hints,
        r.source_address,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    let (stages, approvers): (Vec<i32>, Vec<String>) = r
        .snapshot
        .stages
        .iter()
        .enumerate()
        .flat_map(|(stage, resolved)| {
            resolved
                .approvers
                .iter()
                .map(move |approver| (stage as i32, approver.clone()))
        })
        .unzip();
    sqlx::query!(
        r#"
        insert into request_approvers (request_id, stage, seat, approver_upn, approver_id)
        select $1, s, coalesce(p::text, lower(a)), lower(a), p
          from unnest($2::int4[], $3::text[]) as t(s, a)
          cross join lateral principal_for_name(a) as p
        "#,
        id,
        &stages,
        &approvers
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(id))
}

/// The request a replayed form refers to.
pub async fn by_client_token(
    conn: &mut PgConnection,
    requester: Uuid,
    token: Uuid,
) -> Result<Option<(Uuid, RequestState)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select id, state as "state: RequestState" from access_requests
            where requester_id = $1 and client_token = $2"#,
        requester,
        token
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.state)))
}

/// A pending request of this person for this entitlement, if there is one.
pub async fn pending_for(
    conn: &mut PgConnection,
    beneficiary: Uuid,
    entitlement: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select id from access_requests
         where beneficiary_id = $1 and entitlement_id = $2 and state = 'pending'
         limit 1
        "#,
        beneficiary,
        entitlement
    )
    .fetch_optional(conn)
    .await
}

/// A request as a decision needs it, locked until the transaction ends.
pub struct Locked {
    pub id: Uuid,
    pub state: RequestState,
    pub requester_id: Uuid,
    pub beneficiary_id: Uuid,
    pub entitlement_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub start_on_approval: bool,
    pub requested_minutes: Option<i32>,
    pub snapshot: Snapshot,
    /// When the request stops waiting for decisions (the engine may not have closed it yet).
    pub expires_at: DateTime<Utc>,
    /// False once the entry was taken out of the catalog.
    pub entitlement_enabled: bool,
}

impl Locked {
    /// The requester and the beneficiary as holders: people who never decide this request.
    pub fn parties(&self) -> [String; 2] {
        [
            self.requester_id.to_string(),
            self.beneficiary_id.to_string(),
        ]
    }
}

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<Locked>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select r.id, r.state as "state: RequestState", r.requester_id,
               r.beneficiary_id, r.entitlement_id,
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.start_on_approval, r.requested_minutes, r.policy,
               r.expires_at as "expires_at: DateTime<Utc>", e.enabled as entitlement_enabled
          from access_requests r
          join entitlements e on e.id = r.entitlement_id
         where r.id = $1
           for update of r
        "#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let mut snapshot: Snapshot = serde_json::from_value(r.policy)
        .map_err(|e| sqlx::Error::Decode(format!("request {id} policy: {e}").into()))?;
    // Who may decide each stage now: the approvers resolved at submission, in their seats, and
    // whoever stands in for them since (offboarding reroutes, escalation backups, deputies).
    // The table is the truth; the snapshot keeps what was resolved first, for the trail.
    let current = sqlx::query!(
        r#"
        select stage, seat, holder as "holder!" from request_approvers
         where request_id = $1
         order by stage, seat, holder
        "#,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    for (index, stage) in snapshot.stages.iter_mut().enumerate() {
        let seats = current
            .iter()
            .filter(|a| a.stage as usize == index)
            .map(|a| Seat {
                seat: a.seat.clone(),
                holder: a.holder.clone(),
            })
            .collect();
        *stage = ResolvedStage::seated(seats, stage.required);
    }
    Ok(Some(Locked {
        id: r.id,
        state: r.state,
        requester_id: r.requester_id,
        beneficiary_id: r.beneficiary_id,
        entitlement_id: r.entitlement_id,
        starts_at: r.starts_at,
        ends_at: r.ends_at,
        start_on_approval: r.start_on_approval,
        requested_minutes: r.requested_minutes,
        snapshot,
        expires_at: r.expires_at,
        entitlement_enabled: r.entitlement_enabled,
    }))
}

pub async fn decisions(
    conn: &mut PgConnection,
    request: Uuid,
) -> Result<Vec<Decision>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select d.stage, d.approver_id, d.seat, d.outcome as "outcome: Outcome"
          from approval_decisions d
         where d.request_id = $1
         order by d.decided_at
        "#,
        request
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Decision {
                stage: u32::try_from(r.stage).ok()?,
                approver: r.approver_id.to_string(),
                seat: r.seat,
                outcome: r.outcome,
            })
        })
        .collect())
}

/// Records a decision filling `seat`; false when this approver already decided this stage, or
/// the seat was filled meanwhile (a double submit that got past the first check).
pub async fn insert_decision(
    conn: &mut PgConnection,
    request: Uuid,
    stage: u32,
    seat: &str,
    approver: Uuid,
    outcome: Outcome,
    comment: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        r#"
        insert into approval_decisions (request_id, stage, seat, approver_id, outcome, comment)
        values ($1, $2, $3, $4, $5, $6)
        on conflict do nothing
        "#,
        request,
        stage as i32,
        seat,
        approver,
        outcome as Outcome,
        comment
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a request to the next stage of approval (`step` is its [`RequestEvent::StagePassed`]);
/// false when it was no longer in `step.from()`.
pub async fn set_stage(
    conn: &mut PgConnection,
    request: Uuid,
    step: RequestStep,
    stage: u32,
) -> Result<bool, sqlx::Error> {
    debug_assert_eq!(step.event(), RequestEvent::StagePassed);
    let done = sqlx::query!(
        r#"
        update access_requests set state = $4, stage = $2, stage_since = now(),
                                   version = version + 1
         where id = $1 and state = $3
        "#,
        request,
        stage as i32,
        step.from() as RequestState,
        step.to() as RequestState
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Closes a request: `step` takes it to a final state. False when it was no longer in
/// `step.from()`.
pub async fn close(
    conn: &mut PgConnection,
    request: Uuid,
    step: RequestStep,
) -> Result<bool, sqlx::Error> {
    debug_assert!(step.to().is_final());
    let done = sqlx::query!(
        r#"
        update access_requests set state = $3, closed_at = now(), version = version + 1
         where id = $1 and state = $2
        "#,
        request,
        step.from() as RequestState,
        step.to() as RequestState
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn principal_by_upn(
    conn: &mut PgConnection,
    upn: &Upn,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select id, display_name from principals
         where id = principal_for_name($1) and status = $2 and kind <> 'service'
        "#,
        upn.as_str(),
        PrincipalStatus::Active as PrincipalStatus
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.display_name)))
}

/// The holder each name stands for now: the person who holds it, else the name itself
/// (`domain::approval`), in the order given.
pub async fn holders_for_names(
    conn: &mut PgConnection,
    names: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select coalesce(principal_for_name(n)::text, lower(trim(n))) as "holder!"
          from unnest($1::text[]) with ordinality as t(n, i)
         order by i
        "#,
        names
    )
    .fetch_all(conn)
    .await
}

/// The sign-in name each holder goes by now, for people to read (the trail, mails), in the
/// order given.
pub async fn names_of_holders(
    conn: &mut PgConnection,
    holders: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select coalesce(lower(p.upn), h) as "name!"
          from unnest($1::text[]) with ordinality as t(h, i)
          left join principals p on p.id = holder_id(h)
         order by i
        "#,
        holders
    )
    .fetch_all(conn)
    .await
}

/// Pending requests whose current stage began longer ago than their policy's
/// `escalate_after_minutes` (by `now`, the reminders' clock) and was not escalated yet.
pub async fn escalations_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, i32)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select r.id, r.stage
          from access_requests r
          cross join lateral (
                select coalesce((r.policy->'policy'->>'escalate_after_minutes')::int, 2880) as after) p
         where r.state = 'pending'
           and p.after > 0
           and r.stage_since + make_interval(mins => p.after) <= $1
           and not exists (select 1 from request_escalations e
                            where e.request_id = r.id and e.stage = r.stage)
         order by r.stage_since
         limit $2
        "#,
        now as DateTime<Utc>,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.stage)).collect())
}

/// Records a stage's escalation and seats each backup in the seat it stands in for. False when
/// the stage was escalated already (by another replica). `undecided` are the seats nobody had
/// filled; the trail's `added` are the backups.
pub async fn record_escalation(
    conn: &mut PgConnection,
    request: Uuid,
    stage: u32,
    undecided: &[String],
    backups: &[Seat],
) -> Result<bool, sqlx::Error> {
    let added = holders(backups);
    let done = sqlx::query!(
        r#"
        insert into request_escalations (request_id, stage, undecided, added)
        values ($1, $2, $3, $4)
        on conflict do nothing
        "#,
        request,
        stage as i32,
        undecided,
        &added
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let (seats, holders): (Vec<String>, Vec<String>) = backups
        .iter()
        .map(|b| (b.seat.clone(), b.holder.clone()))
        .unzip();
    sqlx::query!(
        r#"
        insert into request_approvers (request_id, stage, seat, approver_upn, approver_id)
        select $1, $2, s, coalesce(lower(p.upn), h), p.id
          from unnest($3::text[], $4::text[]) as t(s, h)
          left join principals p on p.id = holder_id(h)
        on conflict do nothing
        "#,
        request,
        stage as i32,
        &seats,
        &holders
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A request as the REST API shows it: who asked, for whom, for what and where it stands.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: Uuid,
    pub entitlement_key: String,
    pub entitlement: String,
    pub state: RequestState,
    pub requester_id: Uuid,
    pub requester: String,
    pub beneficiary_id: Uuid,
    pub beneficiary: String,
    pub submitted_at: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub justification: String,
    pub ticket: Option<String>,
    /// The lease it would extend, for an extension.
    pub extends_grant: Option<Uuid>,
}

/// One request, whoever it belongs to (the caller decides who may see it).
pub async fn listed(pool: &PgPool, id: Uuid) -> Result<Option<Listed>, sqlx::Error> {
    sqlx::query_as!(
        Listed,
        r#"
        select r.id, e.key as entitlement_key, e.name as entitlement,
               r.state as "state: RequestState",
               r.requester_id, rq.upn as requester, r.beneficiary_id, b.upn as beneficiary,
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.expires_at as "expires_at: DateTime<Utc>",
               r.closed_at as "closed_at: DateTime<Utc>", r.justification, r.ticket,
               r.extends_grant
          from access_requests r
          join entitlements e on e.id = r.entitlement_id
          join principals rq on rq.id = r.requester_id
          join principals b on b.id = r.beneficiary_id
         where r.id = $1
        "#,
        id
    )
    .fetch_optional(pool)
    .await
}

/// Requests `principal` asked for or that are for them, newest first: at most `limit`, those
/// submitted before `before` (a submission time and id, the previous page's last).
pub async fn of_principal(
    pool: &PgPool,
    principal: Uuid,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    let (before_at, before_id) = before.unzip();
    sqlx::query_as!(
        Listed,
        r#"
        select r.id, e.key as entitlement_key, e.name as entitlement,
               r.state as "state: RequestState",
               r.requester_id, rq.upn as requester, r.beneficiary_id, b.upn as beneficiary,
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.expires_at as "expires_at: DateTime<Utc>",
               r.closed_at as "closed_at: DateTime<Utc>", r.justification, r.ticket,
               r.extends_grant
          from access_requests r
          join entitlements e on e.id = r.entitlement_id
          join principals rq on rq.id = r.requester_id
          join principals b on b.id = r.beneficiary_id
         where (r.requester_id = $1 or r.beneficiary_id = $1)
           and ($2::timestamptz is null or (r.submitted_at, r.id) < ($2, $3::uuid))
         order by r.submitted_at desc, r.id desc
         limit $4
        "#,
        principal,
        before_at as _,
        before_id,
        limit
    )
    .fetch_all(pool)
    .await
}
