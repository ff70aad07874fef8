//! The audit trail against its own database: the portal's role may only append to it, and a
//! rewrite of the whole chain by the table owner (hashes recomputed, so the chain itself looks
//! intact) is caught by the signed checkpoints.

use leasegate::domain::audit::AuditAction;
use leasegate::server::db::audit::{self, Actor, Subject};
use leasegate::server::jobs::checkpoints::{self, SigningKey};
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, PgConnection, PgPool};

use crate::directory::unique;

async fn record(pool: &PgPool, n: usize) {
    let mut conn = pool.acquire().await.unwrap();
    for i in 0..n {
        audit::record(
            &mut conn,
            &Actor::system("test"),
            AuditAction::CatalogLoaded,
            &Subject::default(),
            json!({ "origin": format!("event {i}"), "entitlements": i }),
        )
        .await
        .unwrap();
    }
}

/// SQLSTATE of a failed statement.
async fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match sqlx::query(sql).execute(&mut *conn).await {
        Ok(_) => panic!("the portal's role was allowed: {sql}"),
        Err(sqlx::Error::Database(e)) => e.code().unwrap_or_default().to_string(),
        Err(e) => panic!("{sql}: {e}"),
    }
}

#[sqlx::test]
async fn the_portal_role_may_only_append_to_the_trail(pool: PgPool) {
    let role = format!("lg_portal_{}", unique());
    sqlx::query(&format!("create role {role} login password 'portal'"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("select leasegate_grant_portal_role($1)")
        .bind(&role)
        .execute(&pool)
        .await
        .unwrap();
    record(&pool, 2).await;
    let options: PgConnectOptions = pool.connect_options().as_ref().clone();
    let mut portal = options
        .username(&role)
        .password("portal")
        .connect()
        .await
        .unwrap();

    // What the portal does: read and append; the chain advances.
    sqlx::query("insert into audit_events (actor_label, action, details) values ('portal', 'catalog.loaded', '{}')")
        .execute(&mut portal)
        .await
        .unwrap();
    let position: i64 = sqlx::query_scalar("select max(position) from audit_events")
        .fetch_one(&mut portal)
        .await
        .unwrap();
    assert_eq!(position, 3);
    sqlx::query("insert into principals (tenant_id, object_id, upn, display_name) values ('t', 'o', 'a@b', 'A')")
        .execute(&mut portal)
        .await
        .unwrap();

    // What it cannot do: 42501 is insufficient privilege; 42501 or 42P01-like ownership errors
    // for DDL ("must be owner").
    for sql in [
        "update audit_events set details = '{}' where position = 1",
        "delete from audit_events where position = 1",
        "truncate audit_events",
        "update audit_chain_head set hash = sha256('x'::bytea)",
        "delete from audit_checkpoints",
        "update audit_checkpoints set signature = ''",
    ] {
        assert_eq!(refused(&mut portal, sql).await, "42501", "{sql}");
    }
    for sql in [
        "alter table audit_events disable trigger audit_events_no_change",
        "alter table audit_events disable trigger all",
        "drop trigger audit_events_chain on audit_events",
        "create or replace function audit_events_refuse() returns trigger language plpgsql as $$ begin return new; end $$",
    ] {
        assert_eq!(refused(&mut portal, sql).await, "42501", "{sql}");
    }
    assert_eq!(
        sqlx::query_scalar::<_, Option<i64>>("select audit_chain_first_break()")
            .fetch_one(&mut portal)
            .await
            .unwrap(),
        None
    );
    portal.close().await.unwrap();
    sqlx::query(&format!("drop owned by {role}"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("drop role {role}"))
        .execute(&pool)
        .await
        .unwrap();
}

/// The owner rewrites the whole chain with recomputed hashes: the chain itself checks out, the
/// signed checkpoint does not.
#[sqlx::test]
async fn a_rewritten_chain_is_caught_by_the_signed_checkpoint(pool: PgPool) {
    let key = SigningKey::from_seed(&[42u8; 32]).unwrap();
    record(&pool, 5).await;
    assert_eq!(checkpoints::sign_head(&pool, &key).await.unwrap(), Some(5));
    assert_eq!(
        checkpoints::sign_head(&pool, &key).await.unwrap(),
        None,
        "signed once"
    );
    record(&pool, 2).await;
    let clean = checkpoints::verify(&pool, &key.public_key(), checkpoints::Scope::Whole)
        .await
        .unwrap();
    assert!(clean.intact(), "{clean:?}");
    assert_eq!(clean.checkpoints, 1);

    sqlx::query(
        r#"
        do $$
        declare
            e audit_events;
            prev bytea := sha256(''::bytea);
        begin
            alter table audit_events disable trigger audit_events_no_change;
            update audit_events set details = '{"origin": "forged"}' where position = 2;
            for e in select * from audit_events order by position loop
                e.prev_hash := prev;
                e.hash := sha256(prev || audit_canonical(e));
                update audit_events set prev_hash = e.prev_hash, hash = e.hash
                 where position = e.position;
                prev := e.hash;
            end loop;
            update audit_chain_head set hash = prev;
            alter table audit_events enable trigger audit_events_no_change;
        end $$
        "#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let first_break: Option<i64> = sqlx::query_scalar("select audit_chain_first_break()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(first_break, None, "the rewritten chain is self-consistent");
    let rewritten = checkpoints::verify(&pool, &key.public_key(), checkpoints::Scope::Whole)
        .await
        .unwrap();
    assert!(!rewritten.intact());
    assert_eq!(rewritten.mismatched, vec![5], "{rewritten:?}");

    // Re-signing with another key does not help the forger: the portal's key is checked.
    let forger = SigningKey::from_seed(&[1u8; 32]).unwrap();
    sqlx::query("alter table audit_checkpoints disable trigger audit_checkpoints_no_change")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("delete from audit_checkpoints")
        .execute(&pool)
        .await
        .unwrap();
    checkpoints::sign_head(&pool, &forger).await.unwrap();
    let forged = checkpoints::verify(&pool, &key.public_key(), checkpoints::Scope::Whole)
        .await
        .unwrap();
    assert_eq!(forged.mismatched, vec![7], "{forged:?}");
}

/// The page's and the exports' check starts at the last good signed checkpoint: every
/// checkpoint's signature and hash are checked, and only the events since it are recomputed. A
/// break after it is found; an edit below it that left the hashes alone is found by the whole
/// check, which stays available (and a rewrite that recomputed them is the checkpoint mismatch
/// of the test above).
#[sqlx::test]
async fn a_check_from_the_checkpoint_recomputes_what_came_since(pool: PgPool) {
    let key = SigningKey::from_seed(&[42u8; 32]).unwrap();
    record(&pool, 5).await;
    assert_eq!(checkpoints::sign_head(&pool, &key).await.unwrap(), Some(5));
    record(&pool, 3).await;
    let since = checkpoints::Scope::SinceCheckpoint;
    let clean = checkpoints::verify(&pool, &key.public_key(), since)
        .await
        .unwrap();
    assert!(clean.intact(), "{clean:?}");
    assert_eq!(clean.checked_after, Some(5));

    let edit = |position: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query(&format!(
                "do $$ begin
                   alter table audit_events disable trigger audit_events_no_change;
                   update audit_events set details = '{{\"origin\": \"forged\"}}'
                    where position = {position};
                   alter table audit_events enable trigger audit_events_no_change;
                 end $$"
            ))
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    edit(7).await;
    let after = checkpoints::verify(&pool, &key.public_key(), since)
        .await
        .unwrap();
    assert_eq!(after.first_break, Some(7), "{after:?}");

    // Below the checkpoint, hashes left alone: the whole check finds it.
    edit(2).await;
    let whole = checkpoints::verify(&pool, &key.public_key(), checkpoints::Scope::Whole)
        .await
        .unwrap();
    assert_eq!((whole.first_break, whole.checked_after), (Some(2), None));
}
