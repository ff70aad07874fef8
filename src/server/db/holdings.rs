//! Who held which access when: the grants' held periods (`grants.held`, from the access being
//! added to its removal being read back), read through their GiST indexes.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::api::types::holdings::{HeldWithoutLease, Holding};
use crate::domain::grant::{GrantState, RevokeReason};
use crate::domain::reconcile::{Closure, FindingKind};

/// The grants whose access was in its target at some instant of `[from, until]` (a moment when
/// the two are equal), of one entitlement and/or one person (either may be left open), oldest
/// first, at most `limit`.
pub async fn held(
    conn: &mut PgConnection,
    entitlement: Option<Uuid>,
    principal: Option<Uuid>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Holding>, sqlx::Error> {
    sqlx::query_as!(
        Holding,
        r#"
        select g.id as grant_id, g.request_id, p.id as holder_id, p.display_name as holder,
               p.upn, e.key as entitlement_key, e.name as entitlement,
               g.state as "state: GrantState",
               lower(g.held) as "from!: DateTime<Utc>",
               upper(g.held) as "until: DateTime<Utc>",
               g.revoke_reason as "reason: RevokeReason"
          from grants g
          join principals p on p.id = g.principal_id
          join entitlements e on e.id = g.entitlement_id
         where g.held && tstzrange($3, $4, '[]')
           and ($1::uuid is null or g.entitlement_id = $1)
           and ($2::uuid is null or g.principal_id = $2)
         order by lower(g.held), p.display_name, g.id
         limit $5
        "#,
        entitlement,
        principal,
        from as DateTime<Utc>,
        until as DateTime<Utc>,
        limit
    )
    .fetch_all(conn)
    .await
}

/// What the target systems held without a lease at some instant of `[from, until]`, of one
/// entitlement and/or one person, oldest first, at most `limit`: the findings' periods (from
/// the pass that first saw the access to its close) and the declared standing holders'
/// (from the declaration to its end or withdrawal).
pub async fn without_lease(
    conn: &mut PgConnection,
    entitlement: Option<Uuid>,
    principal: Option<Uuid>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<HeldWithoutLease>, sqlx::Error> {
    sqlx::query_as!(
        HeldWithoutLease,
        r#"
        select held.id as "finding_id!", held.kind as "kind?: FindingKind",
               held.principal_id as "holder_id?", p.display_name as "holder?",
               held.account_ref as "account_ref!", held.account_label as "account_label!",
               e.key as "entitlement_key!", e.name as "entitlement!",
               lower(held.period) as "from!: DateTime<Utc>",
               upper(held.period) as "until?: DateTime<Utc>",
               held.closed_reason as "closed_reason?: Closure"
          from (select f.id, f.kind, f.principal_id, f.account_ref, f.account_label,
                       f.entitlement_id, f.held as period, f.closed_reason
                  from findings f
                 where f.kind <> 'drift_absent'
                   and f.held && tstzrange($3, $4, '[]')
                   and ($1::uuid is null or f.entitlement_id = $1)
                   and ($2::uuid is null or f.principal_id = $2)
                union all
                select s.id, null, s.principal_id, s.account_ref, s.account_label,
                       s.entitlement_id,
                       tstzrange(s.declared_at, least(s.until, s.withdrawn_at), '[)'), null
                  from standing_holders s
                 where tstzrange(s.declared_at, least(s.until, s.withdrawn_at), '[)')
                       && tstzrange($3, $4, '[]')
                   and ($1::uuid is null or s.entitlement_id = $1)
                   and ($2::uuid is null or s.principal_id = $2)) held
          join entitlements e on e.id = held.entitlement_id
          left join principals p on p.id = held.principal_id
         order by lower(held.period), held.account_ref, held.id
         limit $5
        "#,
        entitlement,
        principal,
        from as DateTime<Utc>,
        until as DateTime<Utc>,
        limit
    )
    .fetch_all(conn)
    .await
}

/// A catalog entry's id and name, by its key, enabled or not: history is asked about entries
/// taken out of the catalog too (`catalog::by_key` finds only the enabled ones people may ask
/// for).
pub async fn entry(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    let row = sqlx::query!("select id, name from entitlements where key = $1", key)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| (r.id, r.name)))
}

/// A person's id and name, by their id or their (case-folded) sign-in name.
pub async fn person(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    upn: Option<&str>,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    let row = sqlx::query!(
        "select id, display_name from principals where id = $1 or upn = $2 limit 1",
        id,
        upn
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.display_name)))
}
