//! Read models: the queries behind the pages, which join several aggregates. They only read;
//! `server/services/views.rs` turns their rows into what the pages show.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::types::approvals::DecidedItem;
use crate::api::types::governance::LiveGrant;
use crate::domain::approval::Outcome;
use crate::domain::grant::GrantState;
use crate::domain::request::RequestState;

/// A lease its holder still has (or that is being removed), and a bundle's part that could
/// not be granted while the rest of its bundle is held.
pub struct Lease {
    pub id: Uuid,
    pub name: String,
    pub key: String,
    pub state: GrantState,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub overdue: bool,
    /// The bundle it came with, and its name.
    pub bundle_id: Option<Uuid>,
    pub bundle: Option<String>,
    pub system: String,
    /// The last failed attempt's error (a part still being granted says why).
    pub last_error: Option<String>,
}

pub async fn leases_of(pool: &PgPool, person: Uuid) -> Result<Vec<Lease>, sqlx::Error> {
    sqlx::query_as!(
        Lease,
        r#"
        select g.id, e.name, e.key, g.state as "state: GrantState",
               g.starts_at as "starts_at: DateTime<Utc>", g.ends_at as "ends_at: DateTime<Utc>",
               g.overdue_since is not null as "overdue!",
               g.bundle_id, bundle.name as "bundle?", c.name as system, g.last_error
          from grants g
          join entitlements e on e.id = g.entitlement_id
          join connectors c on c.id = g.connector_id
          left join entitlements bundle on bundle.id = g.bundle_id
          left join bundle_items bi on bi.bundle_id = g.bundle_id and bi.item_id = g.entitlement_id
         where g.principal_id = $1
           and (grant_is_held(g.state)
                or (g.state = 'failed' and g.bundle_id is not null
                    and exists (select 1 from grants s
                                 where s.principal_id = g.principal_id
                                   and s.bundle_id = g.bundle_id and s.request_id = g.request_id
                                   and grant_is_live(s.state))))
         order by g.ends_at, bundle.name, bi.position, g.created_at
        "#,
        person
    )
    .fetch_all(pool)
    .await
}

/// A request of the person (by them or for them) that waits for approval.
pub struct Waiting {
    pub id: Uuid,
    pub name: String,
    pub beneficiary: String,
    pub stage: i32,
    pub policy: serde_json::Value,
    pub submitted_at: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Approvals so far at the current stage.
    pub approvals: i64,
}

pub async fn waiting_of(pool: &PgPool, person: Uuid) -> Result<Vec<Waiting>, sqlx::Error> {
    sqlx::query_as!(
        Waiting,
        r#"
        select r.id, e.name, b.display_name as beneficiary, r.stage, r.policy,
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.expires_at as "expires_at: DateTime<Utc>",
               (select count(*) from approval_decisions d
                 where d.request_id = r.id and d.stage = r.stage and d.outcome = 'approve') as "approvals!"
          from access_requests r
          join entitlements e on e.id = r.entitlement_id
          join principals b on b.id = r.beneficiary_id
         where (r.requester_id = $1 or r.beneficiary_id = $1) and r.state = 'pending'
         order by r.submitted_at desc
        "#,
        person
    )
    .fetch_all(pool)
    .await
}

/// A request of the person that was decided, cancelled or timed out.
pub struct Closed {
    pub id: Uuid,
    pub name: String,
    pub state: RequestState,
    pub justification: String,
    pub submitted_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub async fn closed_of(pool: &PgPool, person: Uuid) -> Result<Vec<Closed>, sqlx::Error> {
    sqlx::query_as!(
        Closed,
        r#"
        select r.id, e.name, r.state as "state: RequestState", r.justification,
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.closed_at as "closed_at: DateTime<Utc>"
          from access_requests r join entitlements e on e.id = r.entitlement_id
         where (r.requester_id = $1 or r.beneficiary_id = $1) and r.state <> 'pending'
         order by r.submitted_at desc
         limit 50
        "#,
        person
    )
    .fetch_all(pool)
    .await
}

/// A request that waits for this approver's decision at its current stage.
pub struct ToDecide {
    pub id: Uuid,
    pub requester: String,
    pub beneficiary: String,
    pub entitlement: String,
    /// The system; for a bundle, its parts and their systems.
    pub system: String,
    pub bundle: bool,
    pub justification: String,
    pub ticket: Option<String>,
    pub stage: i32,
    pub policy: serde_json::Value,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub start_on_approval: bool,
    pub requested_minutes: Option<i32>,
    pub approvals: i64,
    /// Other requests of the beneficiary for this entry in the last 30 days.
    pub recent: i64,
    /// The end of the beneficiary's live lease of this entry, if they hold one.
    pub held_until: Option<DateTime<Utc>>,
    /// What the directory said at submission (`StoredHint`s as JSON).
    pub hints: serde_json::Value,
    /// Where the access would be opened to (a VM's port).
    pub source_address: Option<String>,
}

pub async fn to_decide(pool: &PgPool, approver: Uuid) -> Result<Vec<ToDecide>, sqlx::Error> {
    sqlx::query_as!(
        ToDecide,
        r#"
        select r.id, q.display_name as requester, b.display_name as beneficiary,
               e.name as entitlement,
               coalesce(c.name, (select string_agg(i.name || ' (' || ic.name || ')', ', '
                                                   order by bi.position)
                                   from bundle_items bi
                                   join entitlements i on i.id = bi.item_id
                                   join connectors ic on ic.id = i.connector_id
                                  where bi.bundle_id = e.id), '') as "system!",
               e.connector_id is null as "bundle!",
               r.justification, r.ticket, r.stage, r.policy,
               r.starts_at as "starts_at: DateTime<Utc>", r.ends_at as "ends_at: DateTime<Utc>",
               r.submitted_at as "submitted_at: DateTime<Utc>",
               r.start_on_approval, r.requested_minutes,
               (select count(*) from approval_decisions d
                 where d.request_id = r.id and d.stage = r.stage and d.outcome = 'approve') as "approvals!",
               (select count(*) from access_requests o
                 where o.beneficiary_id = r.beneficiary_id and o.entitlement_id = r.entitlement_id
                   and o.id <> r.id and o.submitted_at > now() - interval '30 days') as "recent!",
               (select min(g.ends_at) from grants g
                 where g.principal_id = r.beneficiary_id
                   and (g.entitlement_id = r.entitlement_id or g.bundle_id = r.entitlement_id)
                   and grant_is_live(g.state)) as "held_until: DateTime<Utc>",
               r.hints, r.source_address
          from access_requests r
          join principals q on q.id = r.requester_id
          join principals b on b.id = r.beneficiary_id
          join entitlements e on e.id = r.entitlement_id
          left join connectors c on c.id = e.connector_id
         where r.state = 'pending'
           and r.requester_id <> $1 and r.beneficiary_id <> $1
           and not exists (select 1 from approval_decisions d
                            where d.request_id = r.id and d.approver_id = $1)
           and holds_open_seat(r.id, r.stage, $1::uuid::text)
         order by r.submitted_at
         limit 200
        "#,
        approver
    )
    .fetch_all(pool)
    .await
}

/// How many requests wait for this approver's decision: the rows [`to_decide`] lists (without
/// its limit), counted for the navigation.
pub async fn to_decide_count(pool: &PgPool, approver: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select count(*) as "waiting!"
          from access_requests r
         where r.state = 'pending'
           and r.requester_id <> $1 and r.beneficiary_id <> $1
           and not exists (select 1 from approval_decisions d
                            where d.request_id = r.id and d.approver_id = $1)
           and holds_open_seat(r.id, r.stage, $1::uuid::text)
        "#,
        approver
    )
    .fetch_one(pool)
    .await
}

/// The decisions this approver made, with where each request is now.
pub async fn decided_by(pool: &PgPool, approver: Uuid) -> Result<Vec<DecidedItem>, sqlx::Error> {
    sqlx::query_as!(
        DecidedItem,
        r#"
        select d.request_id, e.name as entitlement, b.display_name as beneficiary,
               d.outcome as "outcome: Outcome", d.comment,
               d.decided_at as "decided_at: DateTime<Utc>",
               r.state as "request_state: RequestState"
          from approval_decisions d
          join access_requests r on r.id = d.request_id
          join entitlements e on e.id = r.entitlement_id
          join principals b on b.id = r.beneficiary_id
         where d.approver_id = $1
         order by d.decided_at desc
         limit 50
        "#,
        approver
    )
    .fetch_all(pool)
    .await
}

/// Up to 500 leases, overdue removals first.
pub async fn held(pool: &PgPool) -> Result<Vec<LiveGrant>, sqlx::Error> {
    sqlx::query_as!(
        LiveGrant,
        r#"
        select g.id as grant_id, g.request_id, p.id as holder_id, p.display_name as holder,
               e.name as entitlement, bundle.name as "bundle?",
               g.state as "state: GrantState",
               g.starts_at as "starts_at: DateTime<Utc>", g.ends_at as "ends_at: DateTime<Utc>",
               g.overdue_since as "overdue_since: DateTime<Utc>", g.last_error
          from grants g
          join principals p on p.id = g.principal_id
          join entitlements e on e.id = g.entitlement_id
          left join entitlements bundle on bundle.id = g.bundle_id
         where grant_is_held(g.state)
         order by g.overdue_since nulls last, g.ends_at
         limit 500
        "#
    )
    .fetch_all(pool)
    .await
}

pub async fn pending_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from access_requests where state = 'pending'"#)
        .fetch_one(pool)
        .await
}

/// A request as its trail's page heads it.
pub struct TrailHead {
    pub id: Uuid,
    pub requester: String,
    pub beneficiary: String,
    pub entitlement: String,
    pub state: RequestState,
    pub justification: String,
    pub ticket: Option<String>,
}

pub async fn trail_head(pool: &PgPool, request: Uuid) -> Result<Option<TrailHead>, sqlx::Error> {
    sqlx::query_as!(
        TrailHead,
        r#"
        select r.id, q.display_name as requester, b.display_name as beneficiary,
               e.name as entitlement, r.state as "state: RequestState", r.justification, r.ticket
          from access_requests r
          join principals q on q.id = r.requester_id
          join principals b on b.id = r.beneficiary_id
          join entitlements e on e.id = r.entitlement_id
         where r.id = $1
        "#,
        request
    )
    .fetch_optional(pool)
    .await
}
