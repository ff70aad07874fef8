use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::role::Role;
use crate::server::auth::oidc::VerifiedIdentity;

/// Creates or refreshes the person identified by tenant and object id, and returns their id.
pub async fn record_sign_in(
    pool: &PgPool,
    identity: &VerifiedIdentity,
    roles: &[Role],
) -> Result<Uuid, sqlx::Error> {
    let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_string()).collect();
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
    .fetch_one(pool)
    .await?;
    Ok(row.id)
}
