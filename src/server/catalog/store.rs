//! Writing a valid catalog to the database in one audited transaction, refusing a change that
//! would retarget live leases.

use serde_json::json;
use sqlx::PgPool;

use super::spec::CatalogFile;
use super::validate::line_of;
use crate::domain::audit::AuditAction;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog as db;
use crate::server::db::people;

/// Why a valid catalog was not stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// It would change what live leases point at.
    #[error("the catalog was not loaded:\n  {}", .0.join("\n  "))]
    Refused(Vec<String>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Entries whose system or target the file changes while leases run on them. Grants are
/// pinned to where they were provisioned, so such a change would not strand them; it is
/// refused anyway, because the catalog would then say one thing while live access is another.
async fn retargeted_with_live_leases(
    conn: &mut sqlx::PgConnection,
    catalog: &CatalogFile,
    text: &str,
    origin: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let stored = db::live_on_entries(conn, &catalog.keys()).await?;
    let mut problems = Vec::new();
    for row in stored.into_iter().filter(|r| r.live > 0) {
        let here = || match line_of(text, &format!("key = \"{}\"", row.key)) {
            Some(line) => format!("{origin}:{line}"),
            None => origin.to_string(),
        };
        if catalog.bundles.iter().any(|b| b.key == row.key) {
            problems.push(format!(
                "{}: `{}` would become a bundle while {} lease(s) run on it (held by {}); let \
                 them end or revoke them first, or give the bundle a new key",
                here(),
                row.key,
                row.live,
                row.holders.join(", ")
            ));
            continue;
        }
        let Some(spec) = catalog.entitlements.iter().find(|e| e.key == row.key) else {
            continue;
        };
        let row_connector = row.connector.clone().unwrap_or_default();
        let moved = spec.connector != row_connector
            || spec.access().ok().as_ref() != Some(&row.access.0)
            || crate::domain::policy::normalise_dn(&spec.target)
                != crate::domain::policy::normalise_dn(&row.target_ref);
        if moved {
            problems.push(format!(
                "{}: entitlement `{}` would move from {} `{}` to {} `{}` while {} lease(s) \
                 run on it (held by {}); let them end or revoke them first, or give the new \
                 target a new key",
                here(),
                row.key,
                row_connector,
                row.target_ref,
                spec.connector,
                spec.target,
                row.live,
                row.holders.join(", ")
            ));
        }
    }
    Ok(problems)
}

/// What a load changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub connectors: usize,
    pub policies: usize,
    pub entitlements: usize,
    pub disabled: usize,
}

/// Writes the catalog to the database in one transaction, with one audit event. Entries that
/// left the file are disabled, never deleted: their history stays.
pub async fn store(
    pool: &PgPool,
    catalog: &CatalogFile,
    origin: &str,
    text: &str,
    actor: &Actor,
) -> Result<Loaded, StoreError> {
    let mut tx = pool.begin().await?;
    // Serialises loads, so the check below sees what the other load wrote.
    db::lock_for_load(&mut tx).await?;
    let refused = retargeted_with_live_leases(&mut tx, catalog, text, origin).await?;
    if !refused.is_empty() {
        return Err(StoreError::Refused(refused));
    }
    for (name, c) in &catalog.connectors {
        db::put_connector(&mut tx, name, c.kind(), &c.public()).await?;
    }
    for (key, policy) in &catalog.policies {
        let rules = serde_json::to_value(policy).expect("policies serialise");
        db::put_policy(&mut tx, key, &policy.name, &rules).await?;
    }
    for e in &catalog.entitlements {
        let owners: Vec<String> = e.owners.iter().map(|o| o.trim().to_lowercase()).collect();
        // `parse` checked every entry's access.
        let access = e
            .access()
            .map_err(|problem| StoreError::Refused(vec![problem]))?;
        db::put_entitlement(
            &mut tx,
            &db::EntitlementSpec {
                key: &e.key,
                connector: &e.connector,
                access: &access,
                target: e.target.trim(),
                name: &e.name,
                description: &e.description,
                owners: &owners,
                tags: &e.tags,
                policy: &e.policy,
            },
        )
        .await?;
    }
    for b in &catalog.bundles {
        let owners: Vec<String> = b.owners.iter().map(|o| o.trim().to_lowercase()).collect();
        db::put_bundle(
            &mut tx,
            &db::BundleSpec {
                key: &b.key,
                name: &b.name,
                description: &b.description,
                owners: &owners,
                tags: &b.tags,
                policy: &b.policy,
                items: &b.items,
                departments: &b.departments,
                job_titles: &b.job_titles,
                // `parse` checked it.
                grace_seconds: b.grace_seconds().unwrap_or(0),
            },
        )
        .await?;
    }
    let disabled = db::disable_all_but(&mut tx, &catalog.keys()).await? as usize;
    let sources: Vec<people::SourceSpec> = catalog
        .people
        .iter()
        .flat_map(|p| {
            p.sources
                .iter()
                .enumerate()
                .map(move |(i, name)| people::SourceSpec {
                    connector: name,
                    precedence: i as i32,
                    every_seconds: (p.every_minutes * 60) as i32,
                    complete_every_seconds: (p.complete_every_hours * 3600) as i32,
                    max_leavers: p.max_leavers.min(i32::MAX as u32) as i32,
                })
        })
        .collect();
    people::put_sources(&mut tx, &sources).await?;
    db::put_contractor_settings(&mut tx, catalog.contractors.as_ref()).await?;
    let loaded = Loaded {
        connectors: catalog.connectors.len(),
        policies: catalog.policies.len(),
        entitlements: catalog.entitlements.len() + catalog.bundles.len(),
        disabled,
    };
    let digest: String = ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    audit::record(
        &mut tx,
        actor,
        AuditAction::CatalogLoaded,
        &Subject::default(),
        json!({
            "origin": origin, "sha256": digest,
            "connectors": loaded.connectors, "policies": loaded.policies,
            "entitlements": loaded.entitlements, "disabled": loaded.disabled,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(loaded)
}
