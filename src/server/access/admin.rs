//! Administration: connector health, the catalog as stored, reloading the file.

use crate::domain::audit::AuditAction;
use serde_json::json;
use sqlx::PgConnection;

use crate::api::admin::{
    AdminEntitlement, AdminOverview, AdminPolicy, ConnectorView, StuckRemoval,
};
use crate::domain::policy::{ApproverSource, Policy};
use crate::error::AppError;
use crate::server::access::changes;
use crate::server::auth::session::SessionUser;
use crate::server::catalog;
use crate::server::connectors::Health;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::state::AppState;

pub async fn overview(state: &AppState, caller: &SessionUser) -> Result<AdminOverview, AppError> {
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
        select e.key, e.name, e.description, e.tags, p.key as policy_key,
               c.name as connector, e.target_ref, p.name as policy, e.owners, e.enabled,
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
        description: r.description,
        tags: r.tags,
        policy_key: r.policy_key,
        connector: r.connector,
        target: r.target_ref,
        policy: r.policy,
        owners: r.owners,
        enabled: r.enabled,
        live_grants: r.live,
    })
    .collect();
    let policies = sqlx::query!(
        r#"
        select p.key, p.name, p.rules,
               (select count(*) from entitlements e where e.policy_id = p.id and e.enabled) as "used_by!"
          from policies p
         order by p.name
        "#
    )
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(|r| AdminPolicy {
        rules_toml: serde_json::from_value::<Policy>(r.rules)
            .ok()
            .and_then(|p| toml::to_string(&p).ok())
            .unwrap_or_default(),
        key: r.key,
        name: r.name,
        used_by: r.used_by,
    })
    .collect();
    let stuck = sqlx::query!(
        r#"
        select g.id, p.display_name as holder, e.name as entitlement, c.name as connector,
               g.target_ref, g.account_ref, g.attention as "attention!",
               g.overdue_since as "overdue_since: chrono::DateTime<chrono::Utc>"
          from grants g
          join principals p on p.id = g.principal_id
          join entitlements e on e.id = g.entitlement_id
          join connectors c on c.id = g.connector_id
         where g.attention is not null
         order by g.overdue_since
        "#
    )
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(|r| StuckRemoval {
        grant_id: r.id,
        holder: r.holder,
        entitlement: r.entitlement,
        connector: r.connector,
        target: r.target_ref,
        account: r.account_ref,
        attention: r.attention,
        overdue_since: r.overdue_since,
    })
    .collect();
    Ok(AdminOverview {
        changes: changes::waiting(state, caller).await?,
        stuck,
        policies,
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
    let parsed = catalog::parse(
        &text,
        &origin,
        &catalog::Trust::from_settings(&state.settings),
    )
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
    .await
    .map_err(|e| match e {
        catalog::StoreError::Refused(problems) => AppError::invalid("catalog", problems.join("\n")),
        catalog::StoreError::Database(e) => e.into(),
    })?;
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
            AuditAction::CatalogEntitlementEnabled
        } else {
            AuditAction::CatalogEntitlementDisabled
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

/// What the edit form sends for an entry.
pub struct EntitlementChange {
    pub name: String,
    pub description: String,
    /// Comma- or line-separated UPNs.
    pub owners: String,
    /// Comma-separated.
    pub tags: String,
    /// A policy key.
    pub policy: String,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// An entry's editable values, as stored and as proposed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntryValues {
    pub name: String,
    pub description: String,
    pub owners: Vec<String>,
    pub tags: Vec<String>,
    /// The policy's key.
    pub policy: String,
}

/// Changes an entry. Its words and tags change at once; a change of its owners or its policy
/// waits for a second administrator (four eyes).
pub async fn edit_entitlement(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    change: EntitlementChange,
) -> Result<String, AppError> {
    let mut conn = state.pool.acquire().await?;
    let after = validate_entry(&mut conn, change).await?;
    let before = current_entry(&mut conn, key)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    if after.owners == before.owners && after.policy == before.policy {
        let mut tx = state.pool.begin().await?;
        apply_entry(&mut tx, &actor(caller), key, &before, &after, None).await?;
        tx.commit().await?;
        return Ok(format!(
            "{} saved. Put the change in the catalog file too, or the next load undoes it.",
            after.name
        ));
    }
    let impact = changes::entry_impact(&state.pool, key, &before, &after).await?;
    changes::propose(
        state,
        caller,
        changes::Kind::Entitlement,
        key,
        &before,
        &after,
        impact,
    )
    .await
}

/// Proposes new rules for a policy; they take effect when a second administrator approves.
pub async fn edit_policy(
    state: &AppState,
    caller: &SessionUser,
    key: &str,
    text: &str,
) -> Result<String, AppError> {
    let mut conn = state.pool.acquire().await?;
    let after = validate_policy(&mut conn, key, text).await?;
    let before = current_policy(&mut conn, key)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    let impact = changes::policy_impact(&state.pool, key, &before, &after).await?;
    changes::propose(
        state,
        caller,
        changes::Kind::Policy,
        key,
        &before,
        &after,
        impact,
    )
    .await
}

fn actor(caller: &SessionUser) -> Actor {
    Actor::person(caller.principal_id, &caller.display_name)
}

/// Checks an entry's new values against the catalog (the policy exists, its owner stages can
/// reach their quorum).
pub(crate) async fn validate_entry(
    conn: &mut PgConnection,
    change: EntitlementChange,
) -> Result<EntryValues, AppError> {
    let name = change.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::invalid(
            "name",
            "Give the entry a name of at most 200 characters.",
        ));
    }
    if change.description.chars().count() > 2000 {
        return Err(AppError::invalid(
            "description",
            "Keep the description under 2000 characters.",
        ));
    }
    let owners: Vec<String> = list(&change.owners)
        .into_iter()
        .map(|o| o.to_lowercase())
        .collect();
    if let Some(bad) = owners.iter().find(|o| !o.contains('@') || o.len() > 256) {
        return Err(AppError::invalid(
            "owners",
            format!("`{bad}` is not a sign-in name (name@domain)."),
        ));
    }
    let tags = list(&change.tags);
    if tags.len() > 20 || tags.iter().any(|t| t.chars().count() > 40) {
        return Err(AppError::invalid(
            "tags",
            "At most 20 tags of at most 40 characters.",
        ));
    }
    let policy_key = change.policy.trim().to_string();
    let rules = current_policy(conn, &policy_key)
        .await?
        .ok_or_else(|| AppError::invalid("policy", "Choose one of the catalog's policies."))?;
    check_owner_quorum(&rules, owners.len())?;
    Ok(EntryValues {
        name,
        description: change.description.trim().to_string(),
        owners,
        tags,
        policy: policy_key,
    })
}

fn check_owner_quorum(rules: &Policy, owners: usize) -> Result<(), AppError> {
    for (i, stage) in rules.stages.iter().enumerate() {
        if stage.approvers == ApproverSource::Owners && (owners as u64) < u64::from(stage.required)
        {
            return Err(AppError::invalid(
                "owners",
                format!(
                    "Step {} of this policy needs {} owners; list at least that many.",
                    i + 1,
                    stage.required
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn current_entry(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<EntryValues>, AppError> {
    Ok(sqlx::query!(
        r#"select e.name, e.description, e.owners, e.tags, p.key as policy
             from entitlements e join policies p on p.id = e.policy_id
            where e.key = $1"#,
        key
    )
    .fetch_optional(conn)
    .await?
    .map(|r| EntryValues {
        name: r.name,
        description: r.description,
        owners: r.owners,
        tags: r.tags,
        policy: r.policy,
    }))
}

/// Writes an entry's values, audited with before and after (and who approved it, when a
/// second administrator did).
pub(crate) async fn apply_entry(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &str,
    before: &EntryValues,
    after: &EntryValues,
    approved_change: Option<uuid::Uuid>,
) -> Result<(), AppError> {
    let rules = current_policy(conn, &after.policy)
        .await?
        .ok_or_else(|| AppError::invalid("policy", "Choose one of the catalog's policies."))?;
    check_owner_quorum(&rules, after.owners.len())?;
    let id = sqlx::query_scalar!(
        r#"update entitlements e set name = $2, description = $3, owners = $4, tags = $5,
                  policy_id = p.id, updated_at = now()
             from policies p
            where e.key = $1 and p.key = $6
        returning e.id"#,
        key,
        after.name,
        after.description,
        &after.owners,
        &after.tags,
        after.policy
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    audit::record(
        conn,
        actor,
        AuditAction::CatalogEntitlementChanged,
        &Subject {
            entitlement: Some(id),
            ..Subject::default()
        },
        json!({ "key": key, "before": before, "after": after, "change": approved_change }),
    )
    .await?;
    Ok(())
}

/// Parses rules written as in the catalog file and checks them against the entries that use
/// the policy.
pub(crate) async fn validate_policy(
    conn: &mut PgConnection,
    key: &str,
    text: &str,
) -> Result<Policy, AppError> {
    if text.len() > 20_000 {
        return Err(AppError::invalid("rules", "The rules are too long."));
    }
    let policy: Policy = toml::from_str(text)
        .map_err(|e| AppError::invalid("rules", e.to_string().trim_end().to_string()))?;
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(AppError::invalid("rules", problems.join("\n")));
    }
    check_policy_owners(conn, key, &policy).await?;
    Ok(policy)
}

/// An owners stage must stay reachable for every entry that uses the policy.
async fn check_policy_owners(
    conn: &mut PgConnection,
    key: &str,
    policy: &Policy,
) -> Result<(), AppError> {
    let short = sqlx::query_scalar!(
        r#"select e.key from entitlements e join policies p on p.id = e.policy_id
            where p.key = $1 and e.enabled and cardinality(e.owners) < $2 limit 1"#,
        key,
        policy
            .stages
            .iter()
            .filter(|s| s.approvers == ApproverSource::Owners)
            .map(|s| s.required as i32)
            .max()
            .unwrap_or(0)
    )
    .fetch_optional(conn)
    .await?;
    match short {
        Some(entry) => Err(AppError::invalid(
            "rules",
            format!("Entry `{entry}` lists fewer owners than these rules need."),
        )),
        None => Ok(()),
    }
}

pub(crate) async fn current_policy(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<Policy>, AppError> {
    let rules = sqlx::query_scalar!("select rules from policies where key = $1", key)
        .fetch_optional(conn)
        .await?;
    rules
        .map(|r| {
            serde_json::from_value(r).map_err(|e| AppError::Internal {
                reference: crate::error::reference_for(&format!("policy {key}: {e}")),
            })
        })
        .transpose()
}

/// Writes a policy's rules, audited with before and after.
pub(crate) async fn apply_policy(
    conn: &mut PgConnection,
    actor: &Actor,
    key: &str,
    before: &Policy,
    after: &Policy,
    approved_change: Option<uuid::Uuid>,
) -> Result<(), AppError> {
    check_policy_owners(conn, key, after).await?;
    let rules = serde_json::to_value(after).expect("policies serialise");
    sqlx::query!(
        "update policies set name = $2, rules = $3, updated_at = now() where key = $1",
        key,
        after.name,
        rules
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        AuditAction::CatalogPolicyChanged,
        &Subject::default(),
        json!({ "key": key, "before": before, "after": rules, "change": approved_change }),
    )
    .await?;
    Ok(())
}

/// Closes a removal the engine could not carry out; the note says what the person checked.
pub async fn resolve_removal(
    state: &AppState,
    caller: &SessionUser,
    grant: uuid::Uuid,
    note: &str,
) -> Result<String, AppError> {
    if note.chars().count() < 10 || note.chars().count() > 1000 {
        return Err(AppError::invalid(
            "note",
            "Say in 10 to 1000 characters what you checked in the directory.",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let actor = Actor::person(caller.principal_id, &caller.display_name);
    if !crate::server::db::grants::resolve_missing(&mut tx, grant, &actor, note).await? {
        return Err(AppError::Conflict(
            "This removal does not need a person (any more).".into(),
        ));
    }
    tx.commit().await?;
    Ok("Closed. The trail records it as handled by you, not as verified.".into())
}
