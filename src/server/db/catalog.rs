//! The catalog as stored: entries, policies, and what the Admin page reads and writes of them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use sqlx::types::Json;

use crate::api::types::admin::AdminEntitlement;
use crate::domain::access::{Access, ConnectorKind, EntitlementKind};
use crate::domain::policy::Policy;

/// An enabled entitlement with its policy and connector.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub description: String,
    pub target: String,
    /// What the entry gives (its kind, with a role, scope or port where the kind has one).
    pub access: Access,
    pub owners: Vec<String>,
    pub tags: Vec<String>,
    /// The entry's system; `None` for a bundle.
    pub connector_id: Option<Uuid>,
    /// The system's name; for a bundle, its parts' systems ("contoso-ad, contoso-cloud").
    pub connector: String,
    pub policy: Policy,
    /// A bundle's parts in their order, each with the bundle's policy and owners (a part is
    /// asked for and decided as the bundle); empty for an entry of a system. Filled by
    /// [`by_key`] only.
    pub items: Vec<Part>,
}

/// One part of a bundle.
#[derive(Debug, Clone)]
pub struct Part {
    pub entry: Entry,
    /// Whether the part is still offered; a bundle with a part taken out of the catalog
    /// cannot be requested.
    pub enabled: bool,
}

impl Entry {
    pub fn is_bundle(&self) -> bool {
        self.access == Access::Bundle
    }
}

struct Row {
    id: Uuid,
    key: String,
    name: String,
    description: String,
    target_ref: String,
    access: Json<Access>,
    owners: Vec<String>,
    tags: Vec<String>,
    connector_id: Option<Uuid>,
    connector: String,
    rules: serde_json::Value,
}

fn entry(row: Row) -> Result<Entry, sqlx::Error> {
    let policy: Policy = serde_json::from_value(row.rules).map_err(|e| {
        sqlx::Error::Decode(format!("policy of entitlement {}: {e}", row.key).into())
    })?;
    Ok(Entry {
        id: row.id,
        key: row.key,
        name: row.name,
        description: row.description,
        target: row.target_ref,
        access: row.access.0,
        owners: row.owners,
        tags: row.tags,
        connector_id: row.connector_id,
        connector: row.connector,
        policy,
        items: Vec::new(),
    })
}

/// Enabled entries whose name, description, key, system or tags contain `query` (any case).
pub async fn search(conn: &mut PgConnection, query: &str) -> Result<Vec<Entry>, sqlx::Error> {
    let pattern = super::contains_pattern(query.trim());
    let rows = sqlx::query_as!(
        Row,
        r#"
        select e.id, e.key, e.name, e.description, e.target_ref,
               e.access as "access: Json<Access>", e.owners, e.tags,
               e.connector_id, s.systems as "connector!", p.rules
          from entitlements e
          join policies p on p.id = e.policy_id
          cross join lateral (select coalesce(
                  (select c.name from connectors c where c.id = e.connector_id),
                  (select string_agg(distinct c.name, ', ')
                     from bundle_items b
                     join entitlements i on i.id = b.item_id
                     join connectors c on c.id = i.connector_id
                    where b.bundle_id = e.id), '') as systems) s
         where e.enabled
           and (e.name ilike $1 or e.description ilike $1 or e.key ilike $1
                or s.systems ilike $1
                or exists (select 1 from unnest(e.tags) t where t ilike $1))
         order by e.name
         limit 500
        "#,
        pattern
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(entry).collect()
}

/// The enabled entry `key`, with its parts when it is a bundle.
pub async fn by_key(conn: &mut PgConnection, key: &str) -> Result<Option<Entry>, sqlx::Error> {
    let row = sqlx::query_as!(
        Row,
        r#"
        select e.id, e.key, e.name, e.description, e.target_ref,
               e.access as "access: Json<Access>", e.owners, e.tags,
               e.connector_id, coalesce(c.name, '') as "connector!", p.rules
          from entitlements e
          left join connectors c on c.id = e.connector_id
          join policies p on p.id = e.policy_id
         where e.key = $1 and e.enabled
        "#,
        key
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut bundle) = row.map(entry).transpose()? else {
        return Ok(None);
    };
    if !bundle.is_bundle() {
        return Ok(Some(bundle));
    }
    let parts = sqlx::query!(
        r#"
        select e.id, e.key, e.name, e.description, e.target_ref,
               e.access as "access: Json<Access>", e.tags, e.enabled,
               e.connector_id as "connector_id!", c.name as connector
          from bundle_items b
          join entitlements e on e.id = b.item_id
          join connectors c on c.id = e.connector_id
         where b.bundle_id = $1
         order by b.position
        "#,
        bundle.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut systems: Vec<String> = Vec::new();
    bundle.items = parts
        .into_iter()
        .map(|p| {
            if !systems.contains(&p.connector) {
                systems.push(p.connector.clone());
            }
            Part {
                enabled: p.enabled,
                entry: Entry {
                    id: p.id,
                    key: p.key,
                    name: p.name,
                    description: p.description,
                    target: p.target_ref,
                    access: p.access.0,
                    owners: bundle.owners.clone(),
                    tags: p.tags,
                    connector_id: Some(p.connector_id),
                    connector: p.connector,
                    policy: bundle.policy.clone(),
                    items: Vec::new(),
                },
            }
        })
        .collect();
    systems.sort();
    bundle.connector = systems.join(", ");
    Ok(Some(bundle))
}

/// A bundle's parts in order, each with whether it is still offered; `None` when
/// `entitlement` is not a bundle.
pub async fn parts_of(
    conn: &mut PgConnection,
    entitlement: Uuid,
) -> Result<Option<Vec<(Uuid, bool)>>, sqlx::Error> {
    let kind = sqlx::query_scalar!(
        r#"select kind as "kind: EntitlementKind" from entitlements where id = $1"#,
        entitlement
    )
    .fetch_optional(&mut *conn)
    .await?;
    if kind != Some(EntitlementKind::Bundle) {
        return Ok(None);
    }
    let parts = sqlx::query!(
        r#"select b.item_id, e.enabled from bundle_items b join entitlements e on e.id = b.item_id
            where b.bundle_id = $1
            order by b.position"#,
        entitlement
    )
    .fetch_all(conn)
    .await?;
    Ok(Some(
        parts.into_iter().map(|p| (p.item_id, p.enabled)).collect(),
    ))
}

/// The person's live grant of this entitlement (of a bundle: the part that ends first), if
/// they hold one.
pub struct Held {
    pub grant: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

pub async fn held(
    conn: &mut PgConnection,
    principal: Uuid,
    entitlement: Uuid,
) -> Result<Option<Held>, sqlx::Error> {
    sqlx::query_as!(
        Held,
        r#"
        select id as grant, starts_at as "starts_at: DateTime<Utc>",
               ends_at as "ends_at: DateTime<Utc>"
          from grants
         where principal_id = $1 and (entitlement_id = $2 or bundle_id = $2)
           and grant_is_live(state)
         order by ends_at
         limit 1
        "#,
        principal,
        entitlement
    )
    .fetch_optional(conn)
    .await
}

/// The entries as the Admin page lists them, with their counts of live and ending leases.
pub async fn all_entries(pool: &PgPool) -> Result<Vec<AdminEntitlement>, sqlx::Error> {
    sqlx::query_as!(
        AdminEntitlement,
        r#"
        select e.key, e.name, e.description, e.tags, p.key as policy_key,
               coalesce(c.name, 'bundle') as "connector!", e.target_ref as target,
               p.name as policy, e.owners, e.enabled,
               (select count(*) from grants g where (g.entitlement_id = e.id or g.bundle_id = e.id)
                  and grant_is_held(g.state)) as "live_grants!"
          from entitlements e
          left join connectors c on c.id = e.connector_id
          join policies p on p.id = e.policy_id
         order by e.enabled desc, e.name
        "#
    )
    .fetch_all(pool)
    .await
}

/// A policy as the Admin page lists it, with how many enabled entries use it.
pub struct AdminPolicy {
    pub key: String,
    pub name: String,
    pub rules: serde_json::Value,
    pub used_by: i64,
}

pub async fn all_policies(pool: &PgPool) -> Result<Vec<AdminPolicy>, sqlx::Error> {
    sqlx::query_as!(
        AdminPolicy,
        r#"
        select p.key, p.name, p.rules,
               (select count(*) from entitlements e where e.policy_id = p.id and e.enabled) as "used_by!"
          from policies p
         order by p.name
        "#
    )
    .fetch_all(pool)
    .await
}

/// Offers an entry again or stops offering it; its id, `None` when there is no such entry.
pub async fn set_enabled(
    conn: &mut PgConnection,
    key: &str,
    enabled: bool,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "update entitlements set enabled = $2, updated_at = now() where key = $1 returning id",
        key,
        enabled
    )
    .fetch_optional(conn)
    .await
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

pub async fn entry_values(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<EntryValues>, sqlx::Error> {
    sqlx::query_as!(
        EntryValues,
        r#"select e.name, e.description, e.owners, e.tags, p.key as policy
             from entitlements e join policies p on p.id = e.policy_id
            where e.key = $1"#,
        key
    )
    .fetch_optional(conn)
    .await
}

/// Writes an entry's values; its id, `None` when there is no such entry or policy.
pub async fn write_entry(
    conn: &mut PgConnection,
    key: &str,
    values: &EntryValues,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"update entitlements e set name = $2, description = $3, owners = $4, tags = $5,
                  policy_id = p.id, updated_at = now()
             from policies p
            where e.key = $1 and p.key = $6
        returning e.id"#,
        key,
        values.name,
        values.description,
        &values.owners,
        &values.tags,
        values.policy
    )
    .fetch_optional(conn)
    .await
}

/// A policy's rules as stored (the domain's `Policy` as JSON).
pub async fn policy_rules(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar!("select rules from policies where key = $1", key)
        .fetch_optional(conn)
        .await
}

/// An enabled entry under the policy `key` with fewer than `owners` owners, if there is one.
pub async fn entry_with_fewer_owners(
    conn: &mut PgConnection,
    key: &str,
    owners: u32,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select e.key from entitlements e join policies p on p.id = e.policy_id
            where p.key = $1 and e.enabled and cardinality(e.owners) < $2 limit 1"#,
        key,
        i32::try_from(owners).unwrap_or(i32::MAX)
    )
    .fetch_optional(conn)
    .await
}

pub async fn write_policy(
    conn: &mut PgConnection,
    key: &str,
    name: &str,
    rules: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update policies set name = $2, rules = $3, updated_at = now() where key = $1",
        key,
        name,
        rules
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Serialises catalog loads until the transaction ends.
pub async fn lock_for_load(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("lock table entitlements in share row exclusive mode")
        .execute(conn)
        .await?;
    Ok(())
}

/// Where a stored entry points, and the leases that run on it.
pub struct LiveOnEntry {
    pub key: String,
    /// `None` for a bundle.
    pub connector: Option<String>,
    pub target_ref: String,
    pub access: Json<Access>,
    /// Live or ending leases.
    pub live: i64,
    /// The first five holders' UPNs, soonest end first.
    pub holders: Vec<String>,
}

pub async fn live_on_entries(
    conn: &mut PgConnection,
    keys: &[String],
) -> Result<Vec<LiveOnEntry>, sqlx::Error> {
    sqlx::query_as!(
        LiveOnEntry,
        r#"
        select e.key, c.name as "connector?", e.target_ref, e.access as "access: Json<Access>",
               (select count(*) from grants g where g.entitlement_id = e.id
                  and grant_is_held(g.state)) as "live!",
               array(select p.upn from grants g join principals p on p.id = g.principal_id
                      where g.entitlement_id = e.id
                        and grant_is_held(g.state)
                      order by g.ends_at limit 5) as "holders!"
          from entitlements e left join connectors c on c.id = e.connector_id
         where e.key = any($1)
        "#,
        keys
    )
    .fetch_all(conn)
    .await
}

/// Declares or updates a connector (its settings never hold secrets).
pub async fn put_connector(
    conn: &mut PgConnection,
    name: &str,
    kind: ConnectorKind,
    settings: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into connectors (name, kind, settings) values ($1, $2, $3)
        on conflict (name) do update
           set kind = excluded.kind, settings = excluded.settings, updated_at = now()
        "#,
        name,
        kind as ConnectorKind,
        settings
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn put_policy(
    conn: &mut PgConnection,
    key: &str,
    name: &str,
    rules: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into policies (key, name, rules) values ($1, $2, $3)
        on conflict (key) do update
           set name = excluded.name, rules = excluded.rules, updated_at = now()
        "#,
        key,
        name,
        rules
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An entry as the catalog file declares it.
pub struct EntitlementSpec<'a> {
    pub key: &'a str,
    pub connector: &'a str,
    pub access: &'a Access,
    pub target: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    /// Lower-case UPNs.
    pub owners: &'a [String],
    pub tags: &'a [String],
    pub policy: &'a str,
}

/// Declares or updates an entry, and offers it (again).
pub async fn put_entitlement(
    conn: &mut PgConnection,
    e: &EntitlementSpec<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        insert into entitlements (key, connector_id, kind, access, target_ref, name, description,
                                  owners, tags, policy_id, enabled)
        select $1, c.id, $9, $10, $3, $4, $5, $6, $7, p.id, true
          from connectors c, policies p
         where c.name = $2 and p.key = $8
        on conflict (key) do update
           set connector_id = excluded.connector_id, target_ref = excluded.target_ref,
               kind = excluded.kind, access = excluded.access,
               name = excluded.name, description = excluded.description,
               owners = excluded.owners, tags = excluded.tags,
               policy_id = excluded.policy_id, enabled = true,
               for_departments = '{}', for_job_titles = '{}', mover_grace_seconds = 0,
               updated_at = now()
        "#,
        e.key,
        e.connector,
        e.target,
        e.name,
        e.description,
        e.owners,
        e.tags,
        e.policy,
        e.access.kind() as EntitlementKind,
        Json(e.access) as _
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Temporary identities for external people: who approves them, which bundles they may be
/// given, where their identities are made, and how long they may last.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContractorSpec {
    /// The policy an identity with its bundle is approved under; `manager` there is the
    /// sponsor's manager, `owners` the bundle's owners. Its eligibility rule says who may
    /// sponsor.
    pub policy: String,
    /// The bundles a contractor can be given.
    pub bundles: Vec<String>,
    /// A Graph connector: each contractor is invited there as a B2B guest.
    pub entra: String,
    /// An LDAP connector to Active Directory: each contractor also gets an account there
    /// (for bundles with AD groups), in `ad_base`, named `x-<name>-<tag>@<ad_upn_suffix>`, with
    /// `accountExpires` at their end and a first password their sponsor issues.
    #[serde(default)]
    pub ad: Option<String>,
    #[serde(default)]
    pub ad_base: Option<String>,
    #[serde(default)]
    pub ad_upn_suffix: Option<String>,
    /// The longest a contractor's identity may last, in days.
    #[serde(default = "ContractorSpec::default_max_days")]
    pub max_days: u32,
    /// How long a disabled identity is kept (for audits and a return) before it is deleted,
    /// as an ISO 8601 duration (default `P30D`, at most a year).
    #[serde(default = "ContractorSpec::default_retention")]
    pub retention: String,
    /// Days before the end the sponsor is told it is coming.
    #[serde(default = "ContractorSpec::default_remind_days")]
    pub remind_days: u32,
    /// Where the invitation lands the guest once redeemed.
    #[serde(default = "ContractorSpec::default_redirect")]
    pub redirect_url: String,
}

impl ContractorSpec {
    fn default_max_days() -> u32 {
        180
    }
    fn default_retention() -> String {
        "P30D".into()
    }

    /// The retention (`parse` checked it).
    pub fn retention(&self) -> Option<chrono::TimeDelta> {
        crate::domain::iso_duration::parse(&self.retention)
            .filter(|d| *d >= chrono::TimeDelta::zero() && *d <= chrono::TimeDelta::days(366))
    }
    fn default_remind_days() -> u32 {
        14
    }
    fn default_redirect() -> String {
        "https://myapps.microsoft.com".into()
    }
}

/// A bundle as the catalog file declares it.
pub struct BundleSpec<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    /// Lower-case UPNs.
    pub owners: &'a [String],
    pub tags: &'a [String],
    pub policy: &'a str,
    /// The parts' keys, in order (entries already written).
    pub items: &'a [String],
    /// Joiner/mover: requested for people of these departments or job titles.
    pub departments: &'a [String],
    pub job_titles: &'a [String],
    pub grace_seconds: i32,
}

/// Declares or updates a bundle and its parts, and offers it (again).
pub async fn put_bundle(conn: &mut PgConnection, b: &BundleSpec<'_>) -> Result<(), sqlx::Error> {
    let id = sqlx::query_scalar!(
        r#"
        insert into entitlements (key, connector_id, kind, access, target_ref, name, description,
                                  owners, tags, policy_id, enabled, for_departments,
                                  for_job_titles, mover_grace_seconds)
        select $1, null, 'bundle', '{"kind": "bundle"}', '', $2, $3, $4, $5, p.id, true, $7, $8, $9
          from policies p
         where p.key = $6
        on conflict (key) do update
           set connector_id = null, target_ref = '', kind = 'bundle', access = excluded.access,
               name = excluded.name, description = excluded.description,
               owners = excluded.owners, tags = excluded.tags,
               policy_id = excluded.policy_id, enabled = true,
               for_departments = excluded.for_departments,
               for_job_titles = excluded.for_job_titles,
               mover_grace_seconds = excluded.mover_grace_seconds, updated_at = now()
        returning id
        "#,
        b.key,
        b.name,
        b.description,
        b.owners,
        b.tags,
        b.policy,
        b.departments,
        b.job_titles,
        b.grace_seconds
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!("delete from bundle_items where bundle_id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        r#"
        insert into bundle_items (bundle_id, item_id, position)
        select $1, e.id, (k.n - 1)::int
          from unnest($2::text[]) with ordinality as k(key, n)
          join entitlements e on e.key = k.key
        "#,
        id,
        b.items
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A bundle given by department or job title (a joiner/mover template).
#[derive(Debug, Clone)]
pub struct Template {
    pub id: Uuid,
    pub key: String,
    pub name: String,
    pub departments: Vec<String>,
    pub job_titles: Vec<String>,
    pub grace_seconds: i32,
    /// The bundle's policy's usual duration: what an automatic request asks for.
    pub default_minutes: i32,
}

impl Template {
    /// Whether a person of this department and job title gets the bundle.
    pub fn fits(&self, department: Option<&str>, job_title: Option<&str>) -> bool {
        let any = |list: &[String], value: Option<&str>| {
            value.is_some_and(|v| list.iter().any(|l| l.trim().eq_ignore_ascii_case(v.trim())))
        };
        any(&self.departments, department) || any(&self.job_titles, job_title)
    }
}

/// The offered bundles given by department or job title.
pub async fn templates(conn: &mut PgConnection) -> Result<Vec<Template>, sqlx::Error> {
    sqlx::query_as!(
        Template,
        r#"select e.id, e.key, e.name, e.for_departments as departments,
                  e.for_job_titles as job_titles, e.mover_grace_seconds as grace_seconds,
                  coalesce((p.rules #>> '{durations,default_minutes}')::int, 60) as "default_minutes!"
             from entitlements e join policies p on p.id = e.policy_id
            where e.kind = 'bundle' and e.enabled
              and (cardinality(e.for_departments) > 0 or cardinality(e.for_job_titles) > 0)
            order by e.key"#
    )
    .fetch_all(conn)
    .await
}

/// Stores the catalog's `[contractors]` (none: contractors cannot be asked for).
pub async fn put_contractor_settings(
    conn: &mut PgConnection,
    spec: Option<&ContractorSpec>,
) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from contractor_settings")
        .execute(&mut *conn)
        .await?;
    if let Some(spec) = spec {
        let settings = serde_json::to_value(spec).expect("settings serialise");
        sqlx::query!(
            "insert into contractor_settings (settings) values ($1)",
            settings
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The `[contractors]` settings as last loaded.
pub async fn contractor_settings(
    conn: &mut PgConnection,
) -> Result<Option<ContractorSpec>, sqlx::Error> {
    let stored = sqlx::query_scalar!("select settings from contractor_settings")
        .fetch_optional(conn)
        .await?;
    stored
        .map(|value| {
            serde_json::from_value(value)
                .map_err(|e| sqlx::Error::Decode(format!("contractor settings: {e}").into()))
        })
        .transpose()
}

/// Stops offering every enabled entry not in `keys`; how many.
pub async fn disable_all_but(conn: &mut PgConnection, keys: &[String]) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "update entitlements set enabled = false, updated_at = now() where enabled and key <> all($1)",
        keys
    )
    .execute(conn)
    .await?
    .rows_affected())
}
