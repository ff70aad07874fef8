use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::audit::AuditAction;
use crate::domain::person::PrincipalStatus;
use crate::server::db::audit::{self, Actor, Subject};

use crate::domain::role::Role;
use crate::server::app::auth::oidc::VerifiedIdentity;

/// What the person's Entra tenant says names them on premises, read at sign-in from a
/// connector that reads that tenant's people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceAnchor {
    /// The tenant answered: the anchor of a user synced from on premises, or none.
    Read(Option<String>),
    /// A connector reads the tenant but gave no answer: it failed, was too slow, or does not
    /// list the user yet (Graph replicates new users within minutes).
    Unanswered,
    /// Not read: the portal knows them with an anchor already, or no connector reads their
    /// tenant.
    NotRead,
}

/// What a sign-in came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    Person(Uuid),
    /// Someone who has left; nothing was stored.
    Barred,
    /// Someone the portal may know from an on-premises directory, whose anchor could not be
    /// read just now: binding them by name would be a guess, and making a person of their own
    /// would split them. Nothing was stored; a sign-in in a few minutes settles it.
    TryLater,
}

/// Whether the person signing in with this identity is known with a source anchor already
/// (nothing to look up then).
pub async fn anchored(pool: &PgPool, tenant: &str, object_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from principals
                           where tenant_id = $1 and object_id = $2 and anchor is not null)
           as "anchored!""#,
        tenant,
        object_id
    )
    .fetch_one(pool)
    .await
}

/// Creates or refreshes the person identified by tenant and object id.
///
/// A person the people sync knows only from an on-premises directory becomes this identity
/// only through their source anchor (`anchor`), never through a matching name: Entra lets
/// administrators change and reuse names, and a name that matched would hand one human's
/// leases, approvals and manager to another. Names only ever refuse or delay a sign-in.
pub async fn record_sign_in(
    pool: &PgPool,
    identity: &VerifiedIdentity,
    roles: &[Role],
    anchor: &SourceAnchor,
) -> Result<SignIn, sqlx::Error> {
    // A people sync storing the same anchor at the same moment makes the first attempt fail
    // on the anchor's unique index; the second sees it.
    match sign_in_once(pool, identity, roles, anchor).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            sign_in_once(pool, identity, roles, anchor).await
        }
        other => other,
    }
}

async fn sign_in_once(
    pool: &PgPool,
    identity: &VerifiedIdentity,
    roles: &[Role],
    anchor: &SourceAnchor,
) -> Result<SignIn, sqlx::Error> {
    let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_string()).collect();
    let unanswered = *anchor == SourceAnchor::Unanswered;
    let anchor = match anchor {
        SourceAnchor::Read(anchor) => anchor.as_deref().filter(|a| !a.is_empty()),
        SourceAnchor::Unanswered | SourceAnchor::NotRead => None,
    };
    let mut tx = pool.begin().await?;
    // Someone the people sync offboarded stays out, whatever row the sign-in would have made:
    // Entra does not enforce AD's `accountExpires`, and a fresh row would be an active person
    // with nothing to say they left. Known by their anchor, whichever row holds it (a person
    // split before their anchor was read is caught too). Someone the portal knows neither by
    // this identity nor by an anchor is also refused when a leaver known only on premises has
    // the name and no current person does: refusing binds nothing (a cloud user given a
    // leaver's name is refused until the name is someone current's; docs/security.md).
    let check = sqlx::query!(
        r#"
        select coalesce($4::text is not null
                        and exists (select 1 from principals
                                     where anchor = $4 and left_at is not null), false)
               or (not exists (select 1 from principals where tenant_id = $1 and object_id = $2)
                   and not exists (select 1 from principals where anchor = $4)
                   and exists (select 1 from principals
                                where tenant_id is null and lower(upn) = lower($3)
                                  and left_at is not null)
                   and not exists (select 1 from principals
                                    where lower(upn) = lower($3) and left_at is null))
               as "leaver!",
               not exists (select 1 from principals where tenant_id = $1 and object_id = $2)
               and exists (select 1 from principals
                            where tenant_id is null and lower(upn) = lower($3)
                              and left_at is null)
               as "unbound_namesake!"
        "#,
        identity.tenant_id,
        identity.object_id,
        identity.upn,
        anchor,
    )
    .fetch_one(&mut *tx)
    .await?;
    if check.leaver {
        return Ok(SignIn::Barred);
    }
    if unanswered && check.unbound_namesake {
        return Ok(SignIn::TryLater);
    }
    // The person the people sync knows from an on-premises directory by this anchor is this
    // person: the first sign-in gives them their identity.
    if let Some(anchor) = anchor {
        sqlx::query!(
            r#"
            update principals set tenant_id = $1, object_id = $2, updated_at = now()
             where anchor = $3 and tenant_id is null and left_at is null
               and not exists (select 1 from principals where tenant_id = $1 and object_id = $2)
            "#,
            identity.tenant_id,
            identity.object_id,
            anchor,
        )
        .execute(&mut *tx)
        .await?;
    }
    // The anchor is kept, so an on-premises account the sync reads later is theirs (the sync
    // correlates by it), unless another person holds it already.
    let row = sqlx::query!(
        r#"
        insert into principals (tenant_id, object_id, upn, display_name, email, portal_roles,
                                last_sign_in_at, anchor)
        values ($1, $2, $3, $4, $5, $6, now(),
                (select $7::text where not exists (select 1 from principals where anchor = $7)))
        on conflict (tenant_id, object_id) do update
           set upn = excluded.upn,
               display_name = excluded.display_name,
               email = excluded.email,
               portal_roles = excluded.portal_roles,
               anchor = coalesce(principals.anchor, excluded.anchor),
               last_sign_in_at = now(),
               updated_at = now()
        returning id, anchor
        "#,
        identity.tenant_id,
        identity.object_id,
        identity.upn,
        identity.display_name,
        identity.email,
        &roles,
        anchor,
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(anchor) = anchor
        && row.anchor.as_deref() != Some(anchor)
    {
        // Two rows for one human: the sync's (by anchor) and this identity's, made when the
        // anchor could not be read. Not merged by guess; the sync's accounts stay theirs, and
        // grants needing them are refused until an administrator settles it.
        tracing::warn!(principal = %row.id, anchor,
            "the person's source anchor belongs to another person in the portal; \
             an administrator must settle which is theirs");
    }
    // Approvals waiting on this name since before anyone the portal knew held it are theirs
    // from now on, by id (`request_approvers`).
    sqlx::query!("select claim_approver_name($1, $2)", row.id, identity.upn)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(SignIn::Person(row.id))
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
        if active {
            PrincipalStatus::Active
        } else {
            PrincipalStatus::Disabled
        } as PrincipalStatus
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
        r#"select status as "status: PrincipalStatus", portal_roles from principals where id = $1"#,
        principal
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.status == PrincipalStatus::Active, r.portal_roles)))
}

/// Someone the identity provider names, as the portal knows them: what the REST API needs to
/// act for the bearer of an access token.
#[derive(Debug, Clone)]
pub struct Known {
    pub id: Uuid,
    pub upn: String,
    pub display_name: String,
    /// `member`, `guest` or `service` (an application).
    pub kind: String,
    /// Not barred, and not offboarded.
    pub active: bool,
    pub language: Option<String>,
    /// The portal roles last recorded (at sign-in, or a session's re-check).
    pub portal_roles: Vec<String>,
    /// The last sign-in, or use of the REST API (counted hourly).
    pub last_sign_in_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The principal with this Entra identity, if the portal knows it.
pub async fn by_identity(
    pool: &PgPool,
    tenant: &str,
    object_id: &str,
) -> Result<Option<Known>, sqlx::Error> {
    sqlx::query_as!(
        Known,
        r#"
        select id, upn, display_name, kind,
               status = 'active' and left_at is null as "active!", language, portal_roles,
               last_sign_in_at as "last_sign_in_at: chrono::DateTime<chrono::Utc>"
          from principals
         where tenant_id = $1 and object_id = $2
        "#,
        tenant,
        object_id
    )
    .fetch_optional(pool)
    .await
}

/// The principal of an application calling the REST API with its own token, recorded the first
/// time it calls (kind `service`, named by its client id), so that the trail can name it as the
/// actor of what it does. Read first, so a known application's call writes nothing. A row of
/// another kind with the same identity is returned as it is: the caller refuses it.
pub async fn record_application(
    pool: &PgPool,
    tenant: &str,
    object_id: &str,
    client_id: &str,
) -> Result<Known, sqlx::Error> {
    if let Some(known) = by_identity(pool, tenant, object_id).await? {
        return Ok(known);
    }
    // `.invalid` is reserved (RFC 2606): the name can never be a person's sign-in name.
    let upn = format!("{}@application.invalid", client_id.to_lowercase());
    let name = format!("Application {client_id}");
    sqlx::query!(
        r#"
        insert into principals (tenant_id, object_id, kind, upn, display_name)
        values ($1, $2, 'service', $3, $4)
        on conflict on constraint principals_identity_unique do nothing
        "#,
        tenant,
        object_id,
        upn,
        name
    )
    .execute(pool)
    .await?;
    by_identity(pool, tenant, object_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// Counts a person's use of the REST API as a sign-in, at most once an hour (the write is
/// skipped while the last one is recent): the account watch follows the people who signed in
/// lately, and someone who only uses the API must not slip out of it.
pub async fn seen_through_api(pool: &PgPool, known: &Known) -> Result<(), sqlx::Error> {
    let recent = known
        .last_sign_in_at
        .is_some_and(|at| chrono::Utc::now() - at < chrono::Duration::hours(1));
    if recent {
        return Ok(());
    }
    sqlx::query!(
        "update principals set last_sign_in_at = now() where id = $1",
        known.id
    )
    .execute(pool)
    .await?;
    Ok(())
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
         where pa.connector_id = $2 and pa.manager_ref is not null
           and lower(pa.manager_ref) = (select lower(mine.account_ref)
                                          from principal_accounts mine
                                         where mine.principal_id = $1 and mine.connector_id = $2)
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
