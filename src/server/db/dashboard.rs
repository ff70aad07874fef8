//! The governance dashboard's figures, each one query over the whole estate, narrowed by the
//! same filters: a system (connector), a catalog entry and a department (of the person the
//! access is for). A filter left open (`None`) narrows nothing, and costs nothing: the
//! department is looked up only when one is asked for (`exists`), and rows are read by their
//! own time indexes, never joined to the people or the catalog for the whole range.
//! `make bench-governance` times every query here at a million grants and requests
//! (docs/benchmarks.md).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::api::types::dashboard::{
    ApprovalTimes, Day, FindingCounts, Removals, Requested, SystemHealth,
};

/// What every figure is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub system: Option<Uuid>,
    pub entitlement: Option<Uuid>,
    pub department: Option<&'a str>,
}

/// Readies a transaction for the dashboard's queries: one snapshot for every figure (they add
/// up), read only, and plans made for the filters at hand. Every filter may be absent, and a
/// plan cached for any value (`$2 is null or g.entitlement_id = $2`) cannot use the index of
/// one that is present: after five runs PostgreSQL would switch to such a plan.
pub async fn snapshot(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *conn)
        .await?;
    sqlx::query("set local plan_cache_mode = force_custom_plan")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Live leases now: added to their target and not yet removed.
pub async fn live_leases(conn: &mut PgConnection, f: &Filter<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select count(*) as "n!"
          from grants g
         where g.state in ('active', 'revoking')
           and ($1::uuid is null or g.connector_id = $1)
           and ($2::uuid is null or g.entitlement_id = $2)
           and ($3::text is null or exists (select 1 from principals p
                                              where p.id = g.principal_id and p.department = $3))
        "#,
        f.system,
        f.entitlement,
        f.department
    )
    .fetch_one(conn)
    .await
}

/// The requests submitted on each day (UTC) of `[from, until]`, by how they stand now; every
/// day of the range, those without requests as zeros.
pub async fn days(
    conn: &mut PgConnection,
    f: &Filter<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Day>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        with asked as (
            select (r.submitted_at at time zone 'UTC')::date as day,
                   count(*) filter (where r.state = 'approved') as approved,
                   count(*) filter (where r.state = 'denied') as denied,
                   count(*) filter (where r.state = 'pending') as pending,
                   count(*) filter (where r.state in ('cancelled', 'expired')) as other
              from access_requests r
             where r.submitted_at >= $4 and r.submitted_at <= $5
               and ($1::uuid is null or exists (select 1 from entitlements e
                                                  where e.id = r.entitlement_id
                                                    and e.connector_id = $1))
               and ($2::uuid is null or r.entitlement_id = $2)
               and ($3::text is null or exists (select 1 from principals p
                                                  where p.id = r.beneficiary_id
                                                    and p.department = $3))
             group by 1
        )
        select d.day::date as "day!: NaiveDate",
               coalesce(a.approved, 0) as "approved!", coalesce(a.denied, 0) as "denied!",
               coalesce(a.pending, 0) as "pending!", coalesce(a.other, 0) as "other!"
          from generate_series(($4 at time zone 'UTC')::date, ($5 at time zone 'UTC')::date,
                               interval '1 day') as d(day)
          left join asked a on a.day = d.day::date
         order by d.day
        "#,
        f.system,
        f.entitlement,
        f.department,
        from as DateTime<Utc>,
        until as DateTime<Utc>
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Day {
            day: r.day,
            approved: r.approved,
            denied: r.denied,
            pending: r.pending,
            other: r.other,
        })
        .collect())
}

/// From submission to approval, over the requests approved in `[from, until]` that a person
/// decided: any decision on record (an approved request has only approvals; a denial ends a
/// request).
pub async fn approval_times(
    conn: &mut PgConnection,
    f: &Filter<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<ApprovalTimes, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select count(*) as "approved!",
               percentile_cont(array[0.5, 0.9]) within group
                   (order by extract(epoch from r.closed_at - r.submitted_at)::float8) as times
          from access_requests r
         where r.state = 'approved' and r.closed_at >= $4 and r.closed_at <= $5
           and exists (select 1 from approval_decisions d where d.request_id = r.id)
           and ($1::uuid is null or exists (select 1 from entitlements e
                                              where e.id = r.entitlement_id
                                                and e.connector_id = $1))
           and ($2::uuid is null or r.entitlement_id = $2)
           and ($3::text is null or exists (select 1 from principals p
                                              where p.id = r.beneficiary_id
                                                and p.department = $3))
        "#,
        f.system,
        f.entitlement,
        f.department,
        from as DateTime<Utc>,
        until as DateTime<Utc>
    )
    .fetch_one(conn)
    .await?;
    let times = row.times.unwrap_or_default();
    Ok(ApprovalTimes {
        approved: row.approved,
        median_seconds: times.first().copied(),
        p90_seconds: times.get(1).copied(),
    })
}

/// The `limit` entries most requested in `[from, until]`, most first (then by key).
pub async fn most_requested(
    conn: &mut PgConnection,
    f: &Filter<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Requested>, sqlx::Error> {
    sqlx::query_as!(
        Requested,
        r#"
        select e.key, e.name, top.requests as "requests!"
          from (select r.entitlement_id, count(*) as requests
                  from access_requests r
                 where r.submitted_at >= $4 and r.submitted_at <= $5
                   and ($1::uuid is null or exists (select 1 from entitlements e
                                                      where e.id = r.entitlement_id
                                                        and e.connector_id = $1))
                   and ($2::uuid is null or r.entitlement_id = $2)
                   and ($3::text is null or exists (select 1 from principals p
                                                      where p.id = r.beneficiary_id
                                                        and p.department = $3))
                 group by r.entitlement_id) top
          join entitlements e on e.id = top.entitlement_id
         order by top.requests desc, e.key
         limit $6
        "#,
        f.system,
        f.entitlement,
        f.department,
        from as DateTime<Utc>,
        until as DateTime<Utc>,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Leases whose end came in `[from, until]` and that were removed at it: on time (read back
/// within `grace_seconds` of the end, never overdue) or late; and leases overdue now.
pub async fn removals(
    conn: &mut PgConnection,
    f: &Filter<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    grace_seconds: f64,
) -> Result<Removals, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        with ended as (
            select g.overdue_since is null
                   and g.revoked_at <= g.ends_at + make_interval(secs => $6) as on_time
              from grants g
             where g.ends_at >= $4 and g.ends_at <= $5
               and g.state = 'revoked' and g.revoke_reason = 'expired'
               and ($1::uuid is null or g.connector_id = $1)
               and ($2::uuid is null or g.entitlement_id = $2)
               and ($3::text is null or exists (select 1 from principals p
                                                  where p.id = g.principal_id
                                                    and p.department = $3))
        )
        select (select count(*) from ended where on_time) as "on_time!",
               (select count(*) from ended where not on_time) as "late!",
               (select count(*) from grants g
                 where g.state in ('active', 'revoking')
                   and (g.overdue_since is not null
                        or g.ends_at < now() - make_interval(secs => $6))
                   and ($1::uuid is null or g.connector_id = $1)
                   and ($2::uuid is null or g.entitlement_id = $2)
                   and ($3::text is null or exists (select 1 from principals p
                                                      where p.id = g.principal_id
                                                        and p.department = $3)))
                   as "overdue_now!"
        "#,
        f.system,
        f.entitlement,
        f.department,
        from as DateTime<Utc>,
        until as DateTime<Utc>,
        grace_seconds
    )
    .fetch_one(conn)
    .await?;
    Ok(Removals {
        on_time: row.on_time,
        late: row.late,
        overdue_now: row.overdue_now,
    })
}

/// Reconciliation's findings: open now by kind, and opened and closed in `[from, until]`.
pub async fn findings(
    conn: &mut PgConnection,
    f: &Filter<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<FindingCounts, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        select count(*) filter (where x.closed_at is null and x.kind = 'shadow') as "open_shadow!",
               count(*) filter (where x.closed_at is null and x.kind <> 'shadow') as "open_drift!",
               count(*) filter (where x.first_seen >= $4 and x.first_seen <= $5) as "opened!",
               count(*) filter (where x.closed_at >= $4 and x.closed_at <= $5) as "closed!"
          from findings x
         where (x.closed_at is null or x.closed_at >= $4)
           and ($1::uuid is null or exists (select 1 from entitlements e
                                              where e.id = x.entitlement_id
                                                and e.connector_id = $1))
           and ($2::uuid is null or x.entitlement_id = $2)
           and ($3::text is null or exists (select 1 from principals p
                                              where p.id = x.principal_id
                                                and p.department = $3))
        "#,
        f.system,
        f.entitlement,
        f.department,
        from as DateTime<Utc>,
        until as DateTime<Utc>
    )
    .fetch_one(conn)
    .await?;
    Ok(FindingCounts {
        open_shadow: row.open_shadow,
        open_drift: row.open_drift,
        opened: row.opened,
        closed: row.closed,
    })
}

/// Reviews still to answer: break-glass uses whose review is open, and the unanswered items
/// of open access review campaigns.
pub async fn reviews_due(conn: &mut PgConnection, f: &Filter<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select (select count(*)
                  from emergency_reviews v
                  join access_requests r on r.id = v.request_id
                  join entitlements e on e.id = r.entitlement_id
                  left join principals p on p.id = r.beneficiary_id
                 where v.closed_at is null
                   and ($1::uuid is null or e.connector_id = $1)
                   and ($2::uuid is null or e.id = $2)
                   and ($3::text is null or p.department = $3))
             + (select count(*)
                  from review_items i
                  join review_campaigns k on k.id = i.campaign_id
                  join entitlements e on e.id = i.entitlement_id
                  left join principals p on p.id = i.principal_id
                 where k.closed_at is null and i.decision is null
                   and ($1::uuid is null or e.connector_id = $1)
                   and ($2::uuid is null or e.id = $2)
                   and ($3::text is null or p.department = $3)) as "n!"
        "#,
        f.system,
        f.entitlement,
        f.department
    )
    .fetch_one(conn)
    .await
}

/// Every connected system (or the one filtered to), its last health check, its live leases
/// and its entries that reconciliation could not read.
pub async fn systems(
    conn: &mut PgConnection,
    f: &Filter<'_>,
) -> Result<Vec<SystemHealth>, sqlx::Error> {
    sqlx::query_as!(
        SystemHealth,
        r#"
        select c.name, c.health, c.health_detail as detail,
               c.health_checked_at as "checked_at: DateTime<Utc>",
               (select count(*) from grants g
                 where g.connector_id = c.id and g.state in ('active', 'revoking')
                   and ($2::uuid is null or g.entitlement_id = $2)
                   and ($3::text is null or exists (select 1 from principals p
                                                      where p.id = g.principal_id
                                                        and p.department = $3))) as "live!",
               (select count(*) from reconcile_passes r
                  join entitlements e on e.id = r.entitlement_id
                 where e.connector_id = c.id and e.enabled and r.readable
                   and r.last_error is not null
                   and ($2::uuid is null or e.id = $2)) as "failing_entries!"
          from connectors c
         where ($1::uuid is null or c.id = $1)
         order by c.name
        "#,
        f.system,
        f.entitlement,
        f.department
    )
    .fetch_all(conn)
    .await
}

/// A connected system's id, by its name.
pub async fn system(conn: &mut PgConnection, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!("select id from connectors where name = $1", name)
        .fetch_optional(conn)
        .await
}

/// What the filters offer: every system's name, and every department people are in.
pub async fn choices(conn: &mut PgConnection) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let systems = sqlx::query_scalar!("select name from connectors order by name")
        .fetch_all(&mut *conn)
        .await?;
    let departments = sqlx::query_scalar!(
        r#"select distinct department as "department!" from principals
            where department is not null and department <> '' order by 1"#
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((systems, departments))
}

/// The first day of a range of `days` ending on `until`'s day (UTC), at midnight.
pub fn range_start(until: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let first: NaiveDate = until.date_naive() - chrono::Days::new((days - 1).max(0) as u64);
    first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_starts_at_midnight_of_its_first_day() {
        let until: DateTime<Utc> = "2026-12-05T17:30:00Z".parse().unwrap();
        assert_eq!(
            range_start(until, 1).to_rfc3339(),
            "2026-12-05T00:00:00+00:00"
        );
        assert_eq!(
            range_start(until, 7).to_rfc3339(),
            "2026-11-29T00:00:00+00:00"
        );
        assert_eq!(
            range_start(until, 30).to_rfc3339(),
            "2026-11-06T00:00:00+00:00"
        );
    }
}
