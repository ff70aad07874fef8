//! The catalog as people see it.

use crate::api::types::catalog::{BundlePart, CatalogItem, EntitlementDetail, Person};
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::{catalog, principals};

pub async fn list(state: &AppState, query: &str) -> Result<Vec<CatalogItem>, AppError> {
    let mut conn = state.pool.acquire().await?;
    Ok(catalog::search(&mut conn, query)
        .await?
        .into_iter()
        .map(|e| CatalogItem {
            approval: crate::text::approval_summary(&e.policy),
            max_minutes: e.policy.durations.max_minutes,
            key: e.key,
            name: e.name,
            description: e.description,
            access: e.access,
            system: e.connector,
            tags: e.tags,
        })
        .collect())
}

pub async fn detail(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    seen: Option<std::net::IpAddr>,
) -> Result<EntitlementDetail, AppError> {
    let mut conn = state.pool.acquire().await?;
    let entry = catalog::by_key(&mut conn, key.trim())
        .await?
        .ok_or(AppError::NotFound)?;
    let held_until = catalog::held(&mut conn, caller.principal_id, entry.id)
        .await?
        .map(|held| held.ends_at);
    // Direct reports the portal knows, for on-behalf requests: people whose remembered
    // directory manager is the caller's account on this connector (a bundle's first part's).
    let connector = entry
        .connector_id
        .or_else(|| entry.items.first().and_then(|p| p.entry.connector_id));
    let reports = match connector {
        Some(connector) => principals::reports_of(&mut conn, caller.principal_id, connector)
            .await?
            .into_iter()
            .map(|(upn, name)| Person { upn, name })
            .collect(),
        None => Vec::new(),
    };
    let parts = entry
        .items
        .iter()
        .map(|part| BundlePart {
            key: part.entry.key.clone(),
            name: part.entry.name.clone(),
            access: part.entry.access.clone(),
            system: part.entry.connector.clone(),
            withdrawn: !part.enabled,
        })
        .collect();
    let policy = &entry.policy;
    Ok(EntitlementDetail {
        rules: crate::text::policy_in_words(policy, &entry.owners),
        default_minutes: policy.durations.default_minutes,
        max_minutes: policy.durations.max_minutes,
        min_minutes: policy.durations.min_minutes,
        presets_minutes: policy.durations.offered_presets(),
        max_start_delay_minutes: policy.durations.max_start_delay_minutes,
        justification_required: policy.justification.required,
        ticket_required: policy.ticket.required,
        ticket_hint: policy
            .ticket
            .hint
            .clone()
            .or_else(|| policy.ticket.pattern.clone()),
        held_until,
        reports,
        client_token: uuid::Uuid::new_v4().to_string(),
        asks_source: matches!(
            entry.access,
            crate::domain::access::Access::AzureVmPort { source: None, .. }
        ),
        seen_address: seen.map(|ip| ip.to_string()),
        parts,
        key: entry.key,
        name: entry.name,
        description: entry.description,
        access: entry.access,
        system: entry.connector,
        target: entry.target,
        owners: entry.owners,
        tags: entry.tags,
    })
}
