//! A grants table filled with history, shared by the benchmarks.

use sqlx::PgPool;
use uuid::Uuid;

/// `rows` grants of the past (removed leases) and of the far future (10,000 long leases not
/// due), for 2,000 people on 100 old entries: what a table looks like after years of use.
pub async fn fill(pool: &PgPool, connector: Uuid, policy: Uuid, rows: i64) {
    sqlx::query(
        "insert into principals (tenant_id, object_id, upn, display_name)
         select 'bench', 'history-' || n, 'history' || n || '@contoso.test', 'History ' || n
           from generate_series(1, 2000) n",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into entitlements (key, connector_id, kind, target_ref, name, policy_id)
         select 'history-' || n, $1, 'ad_group', 'CN=History ' || n || ',OU=Old', 'History ' || n, $2
           from generate_series(1, 100) n",
    )
    .bind(connector)
    .bind(policy)
    .execute(pool)
    .await
    .unwrap();
    // Removed leases: 990,000; live far-future leases: 10,000 (one per person and entitlement).
    sqlx::query(
        "with p as (select array_agg(id order by id) a from principals where tenant_id = 'bench'),
              e as (select array_agg(id order by id) a from entitlements where key like 'history-%')
         insert into grants (principal_id, entitlement_id, starts_at, ends_at, state, revoked_at,
                             verified_at, revoke_reason, next_due_at, connector_id, target_ref,
                             removal)
         select p.a[1 + n % 2000], e.a[1 + n % 100],
                now() - make_interval(mins => n::int) - interval '1 hour',
                now() - make_interval(mins => n::int), 'revoked',
                now() - make_interval(mins => n::int), now() - make_interval(mins => n::int),
                'expired', null, $2, 'CN=History,OU=Old', 'verified'
           from generate_series(1, $1) n, p, e",
    )
    .bind(rows - 10_000)
    .bind(connector)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into grants (principal_id, entitlement_id, starts_at, ends_at, state,
                             provisioned_at, next_due_at, connector_id, target_ref)
         select p.id, e.id, now(), now() + interval '30 days', 'active', now(),
                now() + interval '30 days', e.connector_id, e.target_ref
           from (select id from principals where tenant_id = 'bench') p
           cross join (select id, connector_id, target_ref from entitlements
                        where key like 'history-%'
                        order by id limit 5) e",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("analyze grants").execute(pool).await.unwrap();
}
