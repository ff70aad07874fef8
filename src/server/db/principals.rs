use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::server::db::audit::{self, Actor, Subject};

use crate::domain::role::Role;
use crate::server::auth::oidc::VerifiedIdentity;

/// Creates or refreshes the person identified by tenant and object id, and returns their id;
/// `None` when the sign-in names someone who has left and is not known by this identity (see
/// below), for whom nothing is stored.
pub async fn record_sign_in(
    pool: &PgPool,
    identity: &VerifiedIdentity,
    roles: &[Role],
) -> Result<Option<Uuid>, sqlx::Error> {
    let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_string()).collect();
    let mut tx = pool.begin().await?;
    // Someone the people sync offboarded before they ever signed in (known only from an
    // on-premises directory, so without an Entra identity) stays out: Entra does not enforce
    // AD's `accountExpires`, and a fresh row would be an active person with nothing to say
    // they left. Refused whatever row the sign-in would have made, unless this identity is a
    // person the portal knows already (their own row says whether they may come in) or a
    // current person holds the name.
    let leaver = sqlx::query_scalar!(
        r#"
        select exists (select 1 from principals
                        where tenant_id is null and lower(upn) = lower($3)
                          and left_at is not null)
           and not exists (select 1 from principals where tenant_id = $1 and object_id = $2)
           and not exists (select 1 from principals
                            where lower(upn) = lower($3) and left_at is null)
           as "leaver!"
        "#,
        identity.tenant_id,
        identity.object_id,
        identity.upn,
    )
    .fetch_one(&mut *tx)
    .await?;
    if leaver {
        return Ok(None);
    }
    // Someone the people sync knows only from an on-premises directory (no Entra identity yet)
    // is this person when the sign-in names them: the first sign-in gives them their identity.
    sqlx::query!(
        r#"
        update principals set tenant_id = $1, object_id = $2, updated_at = now()
         where id = (select id from principals
                      where tenant_id is null and lower(upn) = lower($3) and left_at is null
                      order by created_at limit 1)
           and not exists (select 1 from principals where tenant_id = $1 and object_id = $2)
        "#,
        identity.tenant_id,
        identity.object_id,
        identity.upn,
    )
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query!(
        r#"
        insert into principals (tenant_id, object_id, upn, display_name, email, portal_roles, last_sign_in_at)
        values ($1, $2, $3, $4, $5, $6, now())
        on conflict (tenant_id, object_id) do update
           set upn = excluded.upn,
               display_name = excluded.display_name,
               email = excluded.email,
               portal_roles = excluded.portal_roles,
               last_sign_in_at = now(),
               updated_at = now()
        returning id
        "#,
        identity.tenant_id,
        identity.object_id,
        identity.upn,
        identity.display_name,
        identity.email,
        &roles,
    )
    .fetch_one(&mut *tx)
    .await?;
    // Approvals waiting on this name since before anyone the portal knew held it are theirs
    // from now on, by id (`request_approvers`).
    sqlx::query!("select claim_approver_name($1, $2)", row.id, identity.upn)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(row.id))
}

/// A person's account in one connector, as the account watch checks it.
pub struct WatchedAccount {
    pub principal_id: Uuid,
    pub upn: String,
    pub connector_id: Uuid,
    pub connector: String,
    pub account_ref: Option<String>,
    pub account_id: Option<String>,
}

/// The people who may hold a session now (signed in within `window`), with the account each
/// connector remembers for them, if any.
pub async fn signed_in_recently(
    pool: &PgPool,
    window_seconds: f64,
) -> Result<Vec<WatchedAccount>, sqlx::Error> {
    sqlx::query_as!(
        WatchedAccount,
        r#"
        select p.id as "principal_id!", p.upn as "upn!", c.id as "connector_id!",
               c.name as "connector!",
               pa.account_ref as "account_ref?", pa.account_id as "account_id?"
          from principals p
         cross join connectors c
          left join principal_accounts pa on pa.principal_id = p.id and pa.connector_id = c.id
         where p.last_sign_in_at > now() - make_interval(secs => $1)
         order by p.id
        "#,
        window_seconds
    )
    .fetch_all(pool)
    .await
}

/// Sets whether the person may use the portal, with an audit event when it changes. Returns
/// whether it changed.
pub async fn set_status(
    pool: &PgPool,
    principal: Uuid,
    active: bool,
    details: serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query_scalar!(
        r#"
        update principals set status = $2, updated_at = now()
         where id = $1 and status <> $2
           -- Someone the people sync offboarded comes back only through the sync.
           and ($2 = 'disabled' or left_at is null)
        returning id
        "#,
        principal,
        if active { "active" } else { "disabled" }
    )
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    if changed {
        audit::record(
            &mut tx,
            &Actor::system("account watch"),
            if active {
                AuditAction::PrincipalEnabled
            } else {
                AuditAction::PrincipalDisabled
            },
            &Subject {
                principal: Some(principal),
                ..Subject::default()
            },
            details,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Whether a session's person may still use the portal, and their roles as last recorded.
pub async fn standing(
    pool: &PgPool,
    principal: Uuid,
) -> Result<Option<(bool, Vec<String>)>, sqlx::Error> {
    let row = sqlx::query!(
        "select status, portal_roles from principals where id = $1",
        principal
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.status == "active", r.portal_roles)))
}

/// True when the person was barred (disabled) by the account watch or an administrator.
pub async fn is_disabled(pool: &PgPool, principal: Uuid) -> Result<bool, sqlx::Error> {
    Ok(standing(pool, principal)
        .await?
        .is_some_and(|(active, _)| !active))
}

/// People the portal knows whose remembered directory manager, on `connector`, is `manager`'s
/// account there: (UPN, display name), by name.
pub async fn reports_of(
    conn: &mut PgConnection,
    manager: Uuid,
    connector: Uuid,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select p.upn, p.display_name
          from principal_accounts pa
          join principals p on p.id = pa.principal_id
          join principal_accounts mine
            on mine.connector_id = pa.connector_id and mine.principal_id = $1
         where pa.connector_id = $2 and lower(pa.manager_ref) = lower(mine.account_ref)
         order by p.display_name
        "#,
        manager,
        connector
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.upn, r.display_name)).collect())
}

/// The person's tenant and object id, as the identity provider names them.
pub async fn identity(
    pool: &PgPool,
    principal: Uuid,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let row = sqlx::query!(
        "select tenant_id, object_id from principals where id = $1",
        principal
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| r.tenant_id.zip(r.object_id)))
}

/// Records the portal roles the identity provider names now, with an audit event when they
/// changed.
pub async fn record_roles(
    pool: &PgPool,
    principal: Uuid,
    roles: &[Role],
) -> Result<bool, sqlx::Error> {
    let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_string()).collect();
    let mut tx = pool.begin().await?;
    let before = sqlx::query_scalar!(
        r#"
        update principals p set portal_roles = $2, updated_at = now()
          from (select id, portal_roles from principals where id = $1 for update) old
         where p.id = old.id and p.portal_roles is distinct from $2
        returning old.portal_roles
        "#,
        principal,
        &roles
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(false);
    };
    audit::record(
        &mut tx,
        &Actor::system("identity provider"),
        AuditAction::PrincipalRolesChanged,
        &Subject {
            principal: Some(principal),
            ..Subject::default()
        },
        serde_json::json!({ "before": before, "after": roles }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The language a person's mail is written in, as they chose it.
pub async fn set_language(
    pool: &PgPool,
    principal: Uuid,
    language: crate::domain::mail::Language,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update principals set language = $2, updated_at = now() where id = $1",
        principal,
        language as crate::domain::mail::Language
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A person's language and whether they connected a Teams chat.
pub async fn preferences(
    pool: &PgPool,
    principal: Uuid,
) -> Result<(Option<crate::domain::mail::Language>, bool), sqlx::Error> {
    let row = sqlx::query!(
        r#"select language as "language: crate::domain::mail::Language",
                  teams_webhook is not null as "teams!"
             from principals where id = $1"#,
        principal
    )
    .fetch_one(pool)
    .await?;
    Ok((row.language, row.teams))
}
