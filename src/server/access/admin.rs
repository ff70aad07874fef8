//! Administration: connector health, the catalog as stored, reloading the file.

use serde_json::json;

use crate::api::admin::{AdminEntitlement, AdminOverview, ConnectorView};
use crate::error::AppError;
use crate::server::auth::session::SessionUser;
use crate::server::catalog;
use crate::server::connectors::Health;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::state::AppState;

pub async fn overview(state: &AppState) -> Result<AdminOverview, AppError> {
    let rows =
        sqlx::query!(r#"select name, settings->>'url' as url from connectors order by name"#)
            .fetch_all(&state.pool)
            .await?;
    let mut connectors = Vec::with_capacity(rows.len());
    for row in rows {
        let (health, detail) = match state.connectors.get(&row.name) {
            Some(connector) => {
                match tokio::time::timeout(std::time::Duration::from_secs(10), connector.health())
                    .await
                {
                    Ok(Health::Healthy) => ("healthy", None),
                    Ok(Health::Down(detail)) => ("down", Some(detail)),
                    Err(_) => ("down", Some("no answer within 10 seconds".to_string())),
                }
            }
            None => (
                "unknown",
                Some("not configured in this process".to_string()),
            ),
        };
        let checked_at = sqlx::query_scalar!(
            r#"
            update connectors set health = $2, health_detail = $3, health_checked_at = now()
             where name = $1
            returning health_checked_at as "checked_at: chrono::DateTime<chrono::Utc>"
            "#,
            row.name,
            health,
            detail
        )
        .fetch_one(&state.pool)
        .await?;
        connectors.push(ConnectorView {
            name: row.name,
            url: row.url.unwrap_or_default(),
            health: health.to_string(),
            detail,
            checked_at,
        });
    }
    let entitlements = sqlx::query!(
        r#"
        select e.key, e.name, c.name as connector, e.target_ref, p.name as policy, e.owners,
               e.enabled,
               (select count(*) from grants g where g.entitlement_id = e.id
                  and g.state in ('scheduled', 'active', 'revoking')) as "live!"
          from entitlements e
          join connectors c on c.id = e.connector_id
          join policies p on p.id = e.policy_id
         order by e.enabled desc, e.name
        "#
    )
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(|r| AdminEntitlement {
        key: r.key,
        name: r.name,
        connector: r.connector,
        target: r.target_ref,
        policy: r.policy,
        owners: r.owners,
        enabled: r.enabled,
        live_grants: r.live,
    })
    .collect();
    Ok(AdminOverview {
        catalog_file: state
            .settings
            .catalog_file
            .as_ref()
            .map(|p| p.display().to_string()),
        connectors,
        entitlements,
    })
}

pub async fn reload(state: &AppState, caller: &SessionUser) -> Result<String, AppError> {
    let Some(path) = &state.settings.catalog_file else {
        return Err(AppError::Conflict(
            "No catalog file is configured (LEASEGATE_CATALOG).".into(),
        ));
    };
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| AppError::Internal {
        reference: crate::error::reference_for(&format!("reading {origin}: {e}")),
    })?;
    let parsed = catalog::parse(&text, &origin)
        .map_err(|e| AppError::invalid("catalog", e.problems.join("\n")))?;
    let unknown: Vec<&String> = parsed
        .connectors
        .keys()
        .filter(|name| state.connectors.get(name).is_none())
        .collect();
    let loaded = catalog::store(
        &state.pool,
        &parsed,
        &origin,
        &text,
        &Actor::person(caller.principal_id, &caller.display_name),
    )
    .await?;
    let mut message = format!(
        "Catalog reloaded: {} entitlements, {} policies; {} disabled.",
        loaded.entitlements, loaded.policies, loaded.disabled
    );
    if !unknown.is_empty() {
        message.push_str(" New or changed connectors take effect when the portal restarts.");
    }
    Ok(message)
}

pub async fn set_enabled(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    enabled: bool,
) -> Result<String, AppError> {
    let mut tx = state.pool.begin().await?;
    let id = sqlx::query_scalar!(
        "update entitlements set enabled = $2, updated_at = now() where key = $1 returning id",
        key.trim(),
        enabled
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    audit::record(
        &mut tx,
        &Actor::person(caller.principal_id, &caller.display_name),
        if enabled {
            "catalog.entitlement_enabled"
        } else {
            "catalog.entitlement_disabled"
        },
        &Subject {
            entitlement: Some(id),
            ..Subject::default()
        },
        json!({ "key": key.trim() }),
    )
    .await?;
    tx.commit().await?;
    Ok(if enabled {
        format!("{key} is offered again.")
    } else {
        format!("{key} is no longer offered. Leases already granted run to their end.")
    })
}
