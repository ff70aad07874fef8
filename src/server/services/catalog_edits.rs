//! Catalog edits made in the Admin page, checked and written: an entry's values and a policy's
//! rules, each audited with before and after. Used directly (no second administrator needed)
//! and when a waiting change is approved (`changes`).

use serde_json::json;
use sqlx::PgConnection;

use crate::domain::audit::AuditAction;
use crate::domain::input::Upn;
use crate::domain::policy::{ApproverSource, Policy};
use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog as catalog_db;

pub use crate::server::db::catalog::EntryValues;

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
            Problem::EntryName { max_chars: 200 },
        ));
    }
    if change.description.chars().count() > 2000 {
        return Err(AppError::invalid(
            "description",
            Problem::DescriptionTooLong { max_chars: 2000 },
        ));
    }
    let owners = list(&change.owners)
        .into_iter()
        .map(|o| {
            Upn::parse(&o)
                .map(String::from)
                .map_err(|_| AppError::invalid("owners", Problem::NotASignInNameListed { name: o }))
        })
        .collect::<Result<Vec<String>, AppError>>()?;
    let tags = list(&change.tags);
    if tags.len() > 20 || tags.iter().any(|t| t.chars().count() > 40) {
        return Err(AppError::invalid(
            "tags",
            Problem::Tags {
                max_tags: 20,
                max_chars: 40,
            },
        ));
    }
    let policy_key = change.policy.trim().to_string();
    let rules = current_policy(conn, &policy_key)
        .await?
        .ok_or_else(|| AppError::invalid("policy", Problem::ChoosePolicy))?;
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
                Problem::TooFewOwners {
                    stage: i as u32 + 1,
                    required: stage.required,
                },
            ));
        }
    }
    Ok(())
}

pub(crate) async fn current_entry(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<EntryValues>, AppError> {
    Ok(catalog_db::entry_values(conn, key).await?)
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
        .ok_or_else(|| AppError::invalid("policy", Problem::ChoosePolicy))?;
    check_owner_quorum(&rules, after.owners.len())?;
    let id = catalog_db::write_entry(&mut *conn, key, after)
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
        return Err(AppError::invalid("rules", Problem::RulesTooLong));
    }
    let policy: Policy = toml::from_str(text).map_err(|e| {
        AppError::invalid(
            "rules",
            Problem::Catalog(vec![e.to_string().trim_end().to_string()]),
        )
    })?;
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(AppError::invalid("rules", Problem::Catalog(problems)));
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
    let needed = policy
        .stages
        .iter()
        .filter(|s| s.approvers == ApproverSource::Owners)
        .map(|s| s.required)
        .max()
        .unwrap_or(0);
    let short = catalog_db::entry_with_fewer_owners(conn, key, needed).await?;
    match short {
        Some(entry) => Err(AppError::invalid(
            "rules",
            Problem::EntryShortOfOwners { entry },
        )),
        None => Ok(()),
    }
}

pub(crate) async fn current_policy(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<Policy>, AppError> {
    let rules = catalog_db::policy_rules(conn, key).await?;
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
    catalog_db::write_policy(&mut *conn, key, &after.name, &rules).await?;
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

/// A list typed into a form: one item a line or comma-separated.
fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}
