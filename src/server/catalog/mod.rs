//! Catalog as code: connectors, policies and entitlements declared in one TOML file, validated
//! with the line of every problem, and written to the database in one audited transaction.

use crate::domain::audit::AuditAction;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use crate::domain::access::{
    Access, EntitlementKind, GroupRole, SiteRole, is_object_id, is_site_id, is_vm_resource_id,
};
use crate::domain::network::SourcePrefix;
use crate::domain::policy::{ApproverSource, Policy};
use crate::server::app::config::Secret;
use crate::server::connectors::{self, ConnectorSettings, Connectors, SecretSource};
use crate::server::db::audit::{self, Actor, Subject};
use crate::server::db::catalog as db;
/// How contractors are handled, as the catalog declares it and the database keeps it.
pub use crate::server::db::catalog::ContractorSpec;
use crate::server::db::people;

/// The file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorSettings>,
    #[serde(default)]
    pub policies: BTreeMap<String, Policy>,
    #[serde(default)]
    pub entitlements: Vec<EntitlementSpec>,
    /// Entries that give several entitlements together.
    #[serde(default)]
    pub bundles: Vec<BundleSpec>,
    /// Where people (managers, departments, who left) are read from.
    #[serde(default)]
    pub people: Option<PeopleSpec>,
    /// Temporary identities for external people.
    #[serde(default)]
    pub contractors: Option<ContractorSpec>,
}

/// The people sync: the directories people are read from, first the one that describes a
/// person known to several, and how often.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeopleSpec {
    /// Connector names, in precedence order.
    pub sources: Vec<String>,
    /// Minutes between passes (incremental where the directory allows).
    #[serde(default = "PeopleSpec::default_every")]
    pub every_minutes: u32,
    /// Hours between complete passes (deletions in AD show only in those; Entra's delta
    /// tokens also expire).
    #[serde(default = "PeopleSpec::default_complete_every")]
    pub complete_every_hours: u32,
    /// A pass that would offboard more people than this at once is refused until an
    /// administrator forces it (like Entra Connect's accidental-deletion threshold).
    #[serde(default = "PeopleSpec::default_max_leavers")]
    pub max_leavers: u32,
}

impl PeopleSpec {
    fn default_every() -> u32 {
        15
    }
    fn default_complete_every() -> u32 {
        24
    }
    fn default_max_leavers() -> u32 {
        20
    }
}

/// The most parts a bundle may have: a bundle is a role's access, not a directory's.
pub const MAX_BUNDLE_ITEMS: usize = 20;

/// A bundle: several entries of the file (in any systems) requested, approved and ended
/// together, under the bundle's own policy and owners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSpec {
    /// Stable identifier, in the same space as the entries' keys.
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The keys of the entries it gives, in the order they are shown and granted.
    pub items: Vec<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub policy: String,
    /// Joiner/mover: requested automatically (under the bundle's policy) for people the
    /// people sync first describes in, or sees move to, one of these departments...
    #[serde(default)]
    pub departments: Vec<String>,
    /// ...or job titles (compared without regard to case).
    #[serde(default)]
    pub job_titles: Vec<String>,
    /// How long a mover keeps the bundle after leaving its departments and titles, as an
    /// ISO 8601 duration (`P7D`; default `PT0S`: it ends at once).
    #[serde(default)]
    pub mover_grace: Option<String>,
}

/// The longest grace a mover may keep a role's bundle.
pub const MAX_MOVER_GRACE_DAYS: i64 = 90;

impl BundleSpec {
    /// The mover's grace in seconds (`parse` checked it).
    pub fn grace_seconds(&self) -> Result<i32, String> {
        let Some(text) = &self.mover_grace else {
            return Ok(0);
        };
        crate::domain::iso_duration::parse(text)
            .filter(|d| *d <= chrono::TimeDelta::days(MAX_MOVER_GRACE_DAYS))
            .and_then(|d| i32::try_from(d.num_seconds()).ok())
            .ok_or_else(|| {
                format!(
                    "mover_grace `{text}` must be an ISO 8601 duration of at most \
                     {MAX_MOVER_GRACE_DAYS} days, such as P7D or PT12H"
                )
            })
    }
}

impl CatalogFile {
    /// Every key the file offers, entries and bundles.
    pub fn keys(&self) -> Vec<String> {
        self.entitlements
            .iter()
            .map(|e| e.key.clone())
            .chain(self.bundles.iter().map(|b| b.key.clone()))
            .collect()
    }
}

/// One catalog entry: what it gives (`kind`, with a role, scope or port where the kind needs
/// one), where (`connector`, `target`), and under which policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementSpec {
    /// Stable identifier; renaming it makes a new entry.
    pub key: String,
    pub connector: String,
    #[serde(default = "EntitlementSpec::default_kind")]
    pub kind: EntitlementKind,
    /// What access is given to: an AD group's distinguished name; an Entra group's, a team's
    /// or a role definition's object id; a SharePoint site's id; an Azure VM's resource id.
    #[serde(alias = "group")]
    pub target: String,
    /// `member` or `owner`, for `pim_group`, `team` and `sharepoint_site`, which also has
    /// `visitor` (default `member`).
    #[serde(default)]
    pub role: Option<SiteRole>,
    /// Where an `entra_role` applies: `/` (the directory, the default) or
    /// `/administrativeUnits/{id}`.
    #[serde(default)]
    pub directory_scope: Option<String>,
    /// The port an `azure_vm_port` opens (22 for SSH, 3389 for RDP).
    #[serde(default)]
    pub port: Option<u16>,
    /// For an `azure_vm_port`: the address or prefix the port is always opened to (a VPN's
    /// egress), instead of asking each requester where they connect from.
    #[serde(default)]
    pub source: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// UPNs of the people who own the resource (and approve where the policy says "owners").
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub policy: String,
}

impl EntitlementSpec {
    fn default_kind() -> EntitlementKind {
        EntitlementKind::AdGroup
    }

    /// The typed access this entry gives, or what is wrong with its fields for its kind.
    pub fn access(&self) -> Result<Access, String> {
        let kind = self.kind;
        let no = |field: &str, present: bool| {
            if present {
                Err(format!("`{field}` does not apply to a {kind} entry"))
            } else {
                Ok(())
            }
        };
        let site_role = self.role.unwrap_or(SiteRole::Member);
        let role = match kind {
            EntitlementKind::SharepointSite => GroupRole::Member,
            EntitlementKind::PimGroup | EntitlementKind::Team => match site_role {
                SiteRole::Member => GroupRole::Member,
                SiteRole::Owner => GroupRole::Owner,
                SiteRole::Visitor => {
                    return Err(format!(
                        "a {kind} entry's role is `member` or `owner`; `visitor` is for \
                         sharepoint_site entries"
                    ));
                }
            },
            _ => {
                no("role", self.role.is_some())?;
                GroupRole::Member
            }
        };
        if kind != EntitlementKind::EntraRole {
            no("directory_scope", self.directory_scope.is_some())?;
        }
        if kind != EntitlementKind::AzureVmPort {
            no("port", self.port.is_some())?;
            no("source", self.source.is_some())?;
        }
        Ok(match kind {
            EntitlementKind::AdGroup => Access::AdGroup,
            EntitlementKind::EntraGroup => Access::EntraGroup,
            EntitlementKind::PimGroup => Access::PimGroup { role },
            EntitlementKind::Team => Access::Team { role },
            EntitlementKind::EntraRole => {
                let scope = self.directory_scope.clone().unwrap_or_else(|| "/".into());
                if !scope.starts_with('/') {
                    return Err(format!(
                        "directory_scope `{scope}` must be `/` or `/administrativeUnits/<id>`"
                    ));
                }
                Access::EntraRole {
                    directory_scope: scope,
                }
            }
            EntitlementKind::SharepointSite => Access::SharepointSite { role: site_role },
            EntitlementKind::Bundle => {
                return Err("a bundle is declared under [[bundles]], with its items".into());
            }
            EntitlementKind::AzureVmPort => {
                let source = match &self.source {
                    None => None,
                    Some(text) => Some(
                        SourcePrefix::parse(text)
                            .map_err(|problem| format!("source: {problem}"))?
                            .to_string(),
                    ),
                };
                match self.port {
                    Some(port) if port > 0 => Access::AzureVmPort { port, source },
                    _ => return Err("an azure_vm_port entry needs its `port`".into()),
                }
            }
        })
    }
}

/// Problems of a Microsoft app registration's settings (Graph and Azure connectors; Azure's
/// are its Graph settings plus ARM's URL in `more_urls`).
fn microsoft_problems(
    here: &str,
    name: &str,
    trust: &Trust,
    app: &connectors::graph::GraphSettings,
    more_urls: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    if app.uses_certificate()
        && (app.client_secret_env.is_some() || app.client_secret_file.is_some())
    {
        problems.push(format!(
            "{here}: connector `{name}`: give a client secret or a client certificate, not both"
        ));
    }
    if !is_object_id(app.tenant_id.trim()) || !is_object_id(app.client_id.trim()) {
        problems.push(format!(
            "{here}: connector `{name}`: tenant_id and client_id are GUIDs (the directory id \
             and the application id)"
        ));
    }
    for url in app.urls().iter().chain(more_urls) {
        match url::Url::parse(url) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u) if u.scheme() == "http" && trust.lab_mode => {}
            Ok(_) => problems.push(format!(
                "{here}: connector `{name}`: {url} must use https:// (http:// is allowed only \
                 in a lab, LEASEGATE_LAB_MODE=true, for the simulator)"
            )),
            Err(e) => problems.push(format!(
                "{here}: connector `{name}`: {url} is not a URL: {e}"
            )),
        }
    }
    problems
}

/// The longest a JIT request may open a VM port ("maximum 1 day", Defender for Cloud's
/// `maxRequestAccessDuration`).
const AZURE_JIT_LONGEST_MINUTES: u32 = 24 * 60;

/// Every problem in a catalog file, each with its line where one can be named.
#[derive(Debug, thiserror::Error)]
#[error("the catalog is not valid:\n  {}", .problems.join("\n  "))]
pub struct CatalogError {
    pub problems: Vec<String>,
}

/// Where connector secrets may come from, and whether lab switches are allowed.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub secrets_dir: Option<PathBuf>,
    pub lab_mode: bool,
}

/// The only environment variables a connector may read its secret from: a catalog must not be
/// able to send `DATABASE_URL` or the sign-in secret to a server of its choosing.
pub const SECRET_ENV_PREFIX: &str = "LEASEGATE_SECRET_";

impl Trust {
    pub fn from_settings(settings: &crate::server::app::config::Settings) -> Self {
        Self {
            secrets_dir: settings.secrets_dir.clone(),
            lab_mode: settings.lab_mode,
        }
    }

    /// Where a `password_file` may be read: inside the secrets directory, never outside it
    /// (no `..`, no absolute path elsewhere).
    fn secret_path(&self, file: &str) -> Result<PathBuf, String> {
        let Some(dir) = &self.secrets_dir else {
            return Err(format!(
                "password_file `{file}` needs a secrets directory (LEASEGATE_SECRETS_DIR)"
            ));
        };
        let path = Path::new(file);
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("password_file `{file}` must not contain `..`"));
        }
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            dir.join(path)
        };
        if !path.starts_with(dir) {
            return Err(format!(
                "password_file `{file}` lies outside the secrets directory {}",
                dir.display()
            ));
        }
        Ok(path)
    }

    /// Reads a connector's secret from where the catalog says, within the allowed sources.
    fn read_secret(&self, name: &str, source: SecretSource<'_>) -> Result<Secret, String> {
        let env_key = source.env_key;
        match (source.env, source.file) {
            (Some(var), _) if !var.starts_with(SECRET_ENV_PREFIX) => Err(format!(
                "connector `{name}`: {env_key} must name a {SECRET_ENV_PREFIX}* variable, not {var}"
            )),
            (Some(var), _) => std::env::var(var)
                .map(Secret::new)
                .map_err(|_| format!("connector `{name}`: environment variable {var} is not set")),
            (None, Some(file)) => {
                let path = self
                    .secret_path(file)
                    .map_err(|e| format!("connector `{name}`: {e}"))?;
                // Resolve links before reading: a link inside the directory must not lead out.
                let real = std::fs::canonicalize(&path).map_err(|e| {
                    format!("connector `{name}`: cannot read {}: {e}", path.display())
                })?;
                let dir = self
                    .secrets_dir
                    .as_ref()
                    .and_then(|d| std::fs::canonicalize(d).ok());
                if !dir.is_some_and(|d| real.starts_with(d)) {
                    return Err(format!(
                        "connector `{name}`: {} leads outside the secrets directory",
                        path.display()
                    ));
                }
                std::fs::read_to_string(&real)
                    .map(|s| Secret::new(s.trim_end_matches(['\r', '\n'])))
                    .map_err(|e| format!("connector `{name}`: cannot read {}: {e}", path.display()))
            }
            (None, None) => Err(format!("connector `{name}` has no {} source", source.what)),
        }
    }
}

/// Parses and checks a catalog. Nothing is written unless the whole file is valid.
pub fn parse(text: &str, origin: &str, trust: &Trust) -> Result<CatalogFile, CatalogError> {
    let catalog: CatalogFile = toml::from_str(text).map_err(|e| CatalogError {
        problems: vec![format!("{origin}: {}", e.to_string().trim_end())],
    })?;
    let mut problems = Vec::new();
    let at = |needle: &str| match line_of(text, needle) {
        Some(line) => format!("{origin}:{line}"),
        None => origin.to_string(),
    };
    for (name, connector) in &catalog.connectors {
        let here = at(&format!("[connectors.{name}]"));
        let source = connector.secret_source();
        if source.env.is_none() && source.file.is_none() {
            problems.push(format!(
                "{here}: connector `{name}` needs {} or {}",
                source.env_key, source.file_key
            ));
        }
        if let Some(var) = source.env
            && !var.starts_with(SECRET_ENV_PREFIX)
        {
            problems.push(format!(
                "{here}: connector `{name}`: {} must name a {SECRET_ENV_PREFIX}* \
                 variable, not {var}",
                source.env_key
            ));
        }
        if let Some(file) = source.file
            && let Err(problem) = trust.secret_path(file)
        {
            problems.push(format!("{here}: connector `{name}`: {problem}"));
        }
        match connector {
            ConnectorSettings::Ldap(connector) => {
                if !connector.url.starts_with("ldaps://") && !connector.starttls {
                    problems.push(format!(
                        "{here}: connector `{name}` must use ldaps:// or starttls = true"
                    ));
                }
                if connector.tls_skip_verify && !trust.lab_mode {
                    problems.push(format!(
                        "{here}: connector `{name}`: tls_skip_verify is allowed only in a lab \
                         (LEASEGATE_LAB_MODE=true); give the directory's CA in ca_file instead"
                    ));
                }
                if connector.account_attribute.drops_domain() && connector.upn_domains.is_empty() {
                    problems.push(format!(
                        "{here}: connector `{name}`: account_attribute {:?} keeps only the part \
                         of the UPN before @; list the UPN domains of this directory in \
                         upn_domains",
                        connector.account_attribute
                    ));
                }
            }
            ConnectorSettings::Graph(connector) => {
                problems.extend(microsoft_problems(&here, name, trust, connector, &[]))
            }
            ConnectorSettings::Azure(connector) => {
                problems.extend(microsoft_problems(
                    &here,
                    name,
                    trust,
                    &connector.graph_settings(),
                    &[&connector.arm_url],
                ));
                for problem in connector.problems() {
                    problems.push(format!("{here}: connector `{name}`: {problem}"));
                }
            }
        }
    }
    for (key, policy) in &catalog.policies {
        let here = at(&format!("[policies.{key}]"));
        for problem in policy.problems() {
            problems.push(format!("{here}: policy `{key}`: {problem}"));
        }
    }
    let mut keys = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for entitlement in &catalog.entitlements {
        let here = at(&format!("key = \"{}\"", entitlement.key));
        let key = &entitlement.key;
        problems.extend(offer_problems(
            &here,
            &Offer {
                key,
                name: &entitlement.name,
                owners: &entitlement.owners,
                policy: &entitlement.policy,
            },
            &catalog.policies,
            &mut keys,
        ));
        let kind = entitlement.kind;
        match catalog.connectors.get(&entitlement.connector) {
            None => problems.push(format!(
                "{here}: entitlement `{key}` names connector `{}`, which is not declared",
                entitlement.connector
            )),
            Some(_) if kind == EntitlementKind::Bundle => problems.push(format!(
                "{here}: entitlement `{key}`: a bundle is declared under [[bundles]], with its \
                 items"
            )),
            Some(connector) if Some(connector.kind()) != kind.connector() => {
                problems.push(format!(
                    "{here}: entitlement `{key}` is a {kind} entry, which a {} connector \
                     gives; `{}` is a {} connector",
                    kind.connector().map(|k| k.as_str()).unwrap_or("other"),
                    entitlement.connector,
                    connector.kind()
                ))
            }
            Some(connector) if !connector.gives(kind) => problems.push(format!(
                "{here}: entitlement `{key}`: {kind} entries are not available yet in this \
                 version (see docs/connectors.md)"
            )),
            Some(_) => {}
        }
        let access = entitlement.access();
        if let Err(problem) = &access {
            problems.push(format!("{here}: entitlement `{key}`: {problem}"));
        }
        let target = entitlement.target.trim();
        match kind {
            EntitlementKind::AdGroup if target.is_empty() || !target.contains('=') => problems
                .push(format!(
                    "{here}: entitlement `{key}` needs the group's distinguished name"
                )),
            EntitlementKind::EntraGroup
            | EntitlementKind::PimGroup
            | EntitlementKind::Team
            | EntitlementKind::EntraRole
                if !is_object_id(target) =>
            {
                problems.push(format!(
                    "{here}: entitlement `{key}`: the target of a {kind} entry is its object id \
                     (a GUID), not `{target}`"
                ))
            }
            EntitlementKind::AzureVmPort if !is_vm_resource_id(target) => problems.push(format!(
                "{here}: entitlement `{key}`: the target of an azure_vm_port entry is the VM's \
                 resource id (/subscriptions/<id>/resourceGroups/<group>/providers/\
                 Microsoft.Compute/virtualMachines/<name>), not `{target}`"
            )),
            EntitlementKind::SharepointSite if !is_object_id(target) && !is_site_id(target) => {
                problems.push(format!(
                    "{here}: entitlement `{key}`: the target of a sharepoint_site entry is the \
                     object id (a GUID) of the site's Microsoft 365 group, or the site's id \
                     (<hostname>,<site collection id>,<web id>) for a site without a group, not \
                     `{target}`"
                ))
            }
            EntitlementKind::SharepointSite
                if is_site_id(target) && entitlement.role == Some(SiteRole::Owner) =>
            {
                problems.push(format!(
                    "{here}: entitlement `{key}`: a site without a Microsoft 365 group has its \
                     owners in a SharePoint site group, which Graph cannot change; offer \
                     `member` (edit) or `visitor` (read) on it, or use its group's id if it has one"
                ))
            }
            _ if target.is_empty() => {
                problems.push(format!("{here}: entitlement `{key}` needs its target"))
            }
            _ => {}
        }
        let same_target = match kind {
            EntitlementKind::AdGroup => crate::domain::policy::normalise_dn(target),
            _ => target.to_lowercase(),
        };
        // What the system holds, not how it is asked for: an Entra group's membership is one
        // thing whether it comes as a group, a team or a site, and one lease's end would end
        // another's.
        if let Ok(access) = access
            && !groups.insert((entitlement.connector.clone(), same_target, access.holding()))
        {
            problems.push(format!(
                "{here}: entitlement `{key}`: another entry already gives this access (the same \
                 {} of the same target, so one lease's end would end the other's)",
                access.holding()
            ));
        }
        if let Some(policy) = catalog.policies.get(&entitlement.policy)
            && kind == EntitlementKind::AzureVmPort
            && policy.durations.max_minutes > AZURE_JIT_LONGEST_MINUTES
        {
            problems.push(format!(
                "{here}: entitlement `{key}`: policy `{}` allows leases of {} minutes, \
                 but Azure opens a VM port for at most a day ({AZURE_JIT_LONGEST_MINUTES} \
                 minutes); use a policy with a shorter maximum",
                entitlement.policy, policy.durations.max_minutes
            ));
        }
    }
    for bundle in &catalog.bundles {
        let here = at(&format!("key = \"{}\"", bundle.key));
        problems.extend(offer_problems(
            &here,
            &Offer {
                key: &bundle.key,
                name: &bundle.name,
                owners: &bundle.owners,
                policy: &bundle.policy,
            },
            &catalog.policies,
            &mut keys,
        ));
        problems.extend(bundle_problems(&here, bundle, &catalog));
    }
    if let Some(contractors) = &catalog.contractors {
        problems.extend(contractor_problems(
            contractors,
            &catalog,
            &at("[contractors]"),
        ));
    }
    if let Some(people) = &catalog.people {
        problems.extend(people_problems(
            people,
            &catalog.connectors,
            &at("[people]"),
        ));
    }
    if problems.is_empty() {
        Ok(catalog)
    } else {
        Err(CatalogError { problems })
    }
}

/// What entries and bundles share: a key, a name, owners and a policy.
struct Offer<'a> {
    key: &'a str,
    name: &'a str,
    owners: &'a [String],
    policy: &'a str,
}

/// Problems of what every offer has; `keys` collects the keys seen so far (entries and
/// bundles share one space).
fn offer_problems(
    here: &str,
    offer: &Offer<'_>,
    policies: &BTreeMap<String, Policy>,
    keys: &mut BTreeSet<String>,
) -> Vec<String> {
    let key = offer.key;
    let mut problems = Vec::new();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        problems.push(format!(
            "{here}: entitlement key `{key}` must be lower-case letters, digits and dashes"
        ));
    }
    if !keys.insert(key.to_string()) {
        problems.push(format!("{here}: entitlement key `{key}` appears twice"));
    }
    if offer.name.trim().is_empty() {
        problems.push(format!("{here}: entitlement `{key}` needs a name"));
    }
    match policies.get(offer.policy) {
        None => problems.push(format!(
            "{here}: entitlement `{key}` names policy `{}`, which is not declared",
            offer.policy
        )),
        Some(policy) => {
            for (i, stage) in policy.stages.iter().enumerate() {
                if stage.approvers == ApproverSource::Owners
                    && (offer.owners.len() as u64) < u64::from(stage.required)
                {
                    problems.push(format!(
                        "{here}: entitlement `{key}`: stage {} of policy `{}` needs {} \
                         owner approval(s) but the entry lists {} owner(s)",
                        i + 1,
                        offer.policy,
                        stage.required,
                        offer.owners.len()
                    ));
                }
            }
        }
    }
    for owner in offer.owners {
        if !owner.contains('@') {
            problems.push(format!(
                "{here}: entitlement `{key}`: owner `{owner}` is not a UPN (name@domain)"
            ));
        }
    }
    problems
}

/// A bundle's parts: entries of this file, each once, none a bundle, few enough.
fn bundle_problems(here: &str, bundle: &BundleSpec, catalog: &CatalogFile) -> Vec<String> {
    let key = &bundle.key;
    let mut problems = Vec::new();
    if bundle.items.is_empty() {
        problems.push(format!(
            "{here}: bundle `{key}` needs its items (the keys of the entries it gives)"
        ));
    }
    if bundle.items.len() > MAX_BUNDLE_ITEMS {
        problems.push(format!(
            "{here}: bundle `{key}` has {} items; a bundle gives at most {MAX_BUNDLE_ITEMS}",
            bundle.items.len()
        ));
    }
    let mut seen = BTreeSet::new();
    for item in &bundle.items {
        if !seen.insert(item) {
            problems.push(format!("{here}: bundle `{key}` lists `{item}` twice"));
            continue;
        }
        if catalog.bundles.iter().any(|b| &b.key == item) {
            problems.push(format!(
                "{here}: bundle `{key}`: `{item}` is a bundle, and bundles do not nest; list \
                 its items instead"
            ));
            continue;
        }
        match catalog.entitlements.iter().find(|e| &e.key == item) {
            None => problems.push(format!(
                "{here}: bundle `{key}` names `{item}`, which is not an entry of this catalog"
            )),
            Some(entry) if entry.kind == EntitlementKind::AzureVmPort => problems.push(format!(
                "{here}: bundle `{key}`: `{item}` is a VM port, which opens for hours to one \
                 address; request it on its own"
            )),
            Some(_) => {}
        }
    }
    if let Err(problem) = bundle.grace_seconds() {
        problems.push(format!("{here}: bundle `{key}`: {problem}"));
    }
    for value in bundle.departments.iter().chain(&bundle.job_titles) {
        if value.trim().is_empty() {
            problems.push(format!(
                "{here}: bundle `{key}`: an empty department or job title would match everyone \
                 the directory says nothing of"
            ));
        }
    }
    if bundle.mover_grace.is_some() && bundle.departments.is_empty() && bundle.job_titles.is_empty()
    {
        problems.push(format!(
            "{here}: bundle `{key}`: mover_grace applies to bundles given by department or job \
             title; name them in departments or job_titles"
        ));
    }
    problems
}

fn contractor_problems(spec: &ContractorSpec, catalog: &CatalogFile, here: &str) -> Vec<String> {
    let mut problems = Vec::new();
    match catalog.policies.get(&spec.policy) {
        None => problems.push(format!(
            "{here}: [contractors] names policy `{}`, which is not declared",
            spec.policy
        )),
        Some(policy) => {
            if policy.stages.is_empty() {
                problems.push(format!(
                    "{here}: [contractors]: policy `{}` approves without anyone; an external \
                     person's identity needs at least one approval",
                    spec.policy
                ));
            }
            if policy
                .stages
                .iter()
                .any(|s| matches!(s.approvers, ApproverSource::Group(_)))
            {
                problems.push(format!(
                    "{here}: [contractors]: policy `{}` asks a group; name the sponsor's \
                     manager, the bundle's owners or people instead",
                    spec.policy
                ));
            }
        }
    }
    if spec.bundles.is_empty() {
        problems.push(format!(
            "{here}: [contractors] needs the bundles a contractor can be given"
        ));
    }
    for bundle in &spec.bundles {
        if !catalog.bundles.iter().any(|b| &b.key == bundle) {
            problems.push(format!(
                "{here}: [contractors] names `{bundle}`, which is not a bundle of this catalog"
            ));
        }
    }
    match catalog.connectors.get(&spec.entra) {
        Some(ConnectorSettings::Graph(_)) => {}
        _ => problems.push(format!(
            "{here}: [contractors]: entra = `{}` must name a graph connector of this catalog",
            spec.entra
        )),
    }
    if let Some(ad) = &spec.ad {
        if !matches!(catalog.connectors.get(ad), Some(ConnectorSettings::Ldap(_))) {
            problems.push(format!(
                "{here}: [contractors]: ad = `{ad}` must name an ldap connector of this catalog"
            ));
        }
        if spec.ad_base.as_deref().is_none_or(|b| !b.contains('=')) {
            problems.push(format!(
                "{here}: [contractors]: ad_base must be the distinguished name of the container \
                 contractors' accounts are made in"
            ));
        }
        if spec
            .ad_upn_suffix
            .as_deref()
            .is_none_or(|d| !d.contains('.') || d.contains('@'))
        {
            problems.push(format!(
                "{here}: [contractors]: ad_upn_suffix must be the domain of the accounts' sign-in \
                 names, such as contoso.com"
            ));
        }
    }
    if spec.max_days == 0 || spec.max_days > 3 * 365 {
        problems.push(format!(
            "{here}: [contractors]: max_days must be between 1 and 1095, not {}",
            spec.max_days
        ));
    }
    if spec.retention().is_none() {
        problems.push(format!(
            "{here}: [contractors]: retention `{}` must be an ISO 8601 duration of at most a \
             year, such as P30D",
            spec.retention
        ));
    }
    if !spec.redirect_url.starts_with("https://") {
        problems.push(format!(
            "{here}: [contractors]: redirect_url must be an https:// address"
        ));
    }
    problems
}

fn people_problems(
    people: &PeopleSpec,
    connectors: &BTreeMap<String, ConnectorSettings>,
    here: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for name in &people.sources {
        if !seen.insert(name) {
            problems.push(format!("{here}: people source `{name}` appears twice"));
        }
        match connectors.get(name) {
            None => problems.push(format!(
                "{here}: people source `{name}` is not a connector of this catalog"
            )),
            Some(ConnectorSettings::Azure(_)) => problems.push(format!(
                "{here}: people source `{name}` is an Azure connector, which lists no people; \
                 name an LDAP or Graph connector"
            )),
            Some(_) => {}
        }
    }
    if people.sources.is_empty() {
        problems.push(format!("{here}: [people] needs at least one source"));
    }
    // People read from an LDAP directory become one with their Entra sign-in only through the
    // source anchor, which the portal reads from Entra at sign-in (never by a matching name).
    let ldap = people
        .sources
        .iter()
        .find(|name| matches!(connectors.get(*name), Some(ConnectorSettings::Ldap(_))));
    let graph = connectors
        .values()
        .any(|c| matches!(c, ConnectorSettings::Graph(_)));
    if let Some(name) = ldap
        && !graph
    {
        problems.push(format!(
            "{here}: people source `{name}` is an LDAP directory, and its people are one with \
             their Entra sign-in only through their source anchor (onPremisesImmutableId), which \
             the portal reads from Entra: add a Graph connector for the tenant people sign in \
             to (it needs User.Read.All), or read people from Entra only"
        ));
    }
    if people.every_minutes == 0 || people.every_minutes > 24 * 60 {
        problems.push(format!(
            "{here}: every_minutes must be between 1 and 1440, not {}",
            people.every_minutes
        ));
    }
    if people.complete_every_hours == 0 || people.complete_every_hours > 24 * 7 {
        problems.push(format!(
            "{here}: complete_every_hours must be between 1 and 168, not {}",
            people.complete_every_hours
        ));
    }
    problems
}

fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.trim_start().starts_with(needle))
        .map(|i| i + 1)
}

/// Builds the connectors the catalog declares, reading their passwords from the allowed
/// sources only.
pub fn connectors(catalog: &CatalogFile, trust: &Trust) -> Result<Connectors, CatalogError> {
    let mut out = Connectors::default();
    let mut problems = Vec::new();
    for (name, settings) in &catalog.connectors {
        match trust
            .read_secret(name, settings.secret_source())
            .and_then(|secret| {
                connectors::build(name, settings, secret)
                    .map_err(|e| format!("connector `{name}`: {e}"))
            }) {
            Ok(connector) => out.insert(name.clone(), connector),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(CatalogError { problems })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[connectors.corp-ad]
kind = "ldap"
url = "ldaps://dc1.contoso.test"
bind_dn = "CN=svc,DC=contoso,DC=test"
password_env = "LEASEGATE_SECRET_AD"
user_base = "DC=contoso,DC=test"
group_base = "OU=Groups,DC=contoso,DC=test"

[policies.manager]
name = "Manager approval"
durations = { default_minutes = 120, max_minutes = 480 }
stages = [{ approvers = "manager" }]

[policies.two-owners]
name = "Two of three owners"
durations = { default_minutes = 60, max_minutes = 240 }
ticket = { required = true, pattern = "CHG[0-9]{7}" }
stages = [{ approvers = "owners", required = 2 }]

[[entitlements]]
key = "sql-admins"
connector = "corp-ad"
group = "CN=SQL Admins,OU=Groups,DC=contoso,DC=test"
name = "SQL Server administrators"
owners = ["a@contoso.test", "b@contoso.test", "c@contoso.test"]
policy = "two-owners"
"#;

    fn plain() -> Trust {
        Trust::default()
    }

    #[test]
    fn secrets_come_only_from_allowed_places() {
        let trust = Trust {
            secrets_dir: Some(PathBuf::from("/run/secrets")),
            lab_mode: false,
        };
        let with = |replacement: &str| {
            GOOD.replace(r#"password_env = "LEASEGATE_SECRET_AD""#, replacement)
        };
        for (line, problem) in [
            (
                r#"password_env = "DATABASE_URL""#,
                "must name a LEASEGATE_SECRET_* variable",
            ),
            (
                r#"password_file = "/etc/shadow""#,
                "outside the secrets directory",
            ),
            (
                r#"password_file = "../../etc/shadow""#,
                "must not contain `..`",
            ),
        ] {
            let err = parse(&with(line), "c.toml", &trust)
                .unwrap_err()
                .to_string();
            assert!(err.contains(problem), "{line}: {err}");
            assert!(
                err.contains("c.toml:2:"),
                "names the connector's line: {err}"
            );
        }
        assert!(parse(&with(r#"password_file = "ad-bind""#), "c.toml", &trust).is_ok());
        assert!(
            parse(
                &with(r#"password_file = "/run/secrets/ad""#),
                "c.toml",
                &trust
            )
            .is_ok()
        );
        let err = parse(&with(r#"password_file = "ad-bind""#), "c.toml", &plain())
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a secrets directory"), "{err}");
    }

    #[test]
    fn skipping_tls_verification_needs_the_lab_switch() {
        let bad = GOOD.replace("kind = \"ldap\"", "kind = \"ldap\"\ntls_skip_verify = true");
        let err = parse(&bad, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("LEASEGATE_LAB_MODE"), "{err}");
        let trust = Trust {
            lab_mode: true,
            ..Trust::default()
        };
        assert!(parse(&bad, "c.toml", &trust).is_ok());
    }

    #[test]
    fn short_account_names_need_their_domains() {
        let bad = GOOD.replace(
            "kind = \"ldap\"",
            "kind = \"ldap\"\naccount_attribute = \"sAMAccountName\"",
        );
        let err = parse(&bad, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("upn_domains"), "{err}");
        let good = bad.replace(
            "account_attribute = \"sAMAccountName\"",
            "account_attribute = \"sAMAccountName\"\nupn_domains = [\"contoso.test\"]",
        );
        assert!(parse(&good, "c.toml", &plain()).is_ok());
    }

    #[test]
    fn a_good_catalog_parses() {
        let catalog = parse(GOOD, "catalog.toml", &plain()).unwrap();
        assert_eq!(catalog.entitlements.len(), 1);
        assert_eq!(catalog.policies["two-owners"].stages[0].required, 2);
    }

    #[test]
    fn people_sources_are_checked() {
        let alone = format!("{GOOD}\n[people]\nsources = [\"corp-ad\"]\n");
        let err = parse(&alone, "c.toml", &plain()).unwrap_err().to_string();
        assert!(
            err.contains("`corp-ad` is an LDAP directory") && err.contains("Graph connector"),
            "{err}"
        );
        let good = format!(
            "{GOOD}\n[connectors.cloud]\nkind = \"graph\"\ntenant_id = \"6f1c2a9e-0b1d-4c7e-9d3a-1f2e3d4c5b6a\"\nclient_id = \"0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b\"\n\
             client_secret_env = \"LEASEGATE_SECRET_GRAPH\"\n\n[people]\nsources = [\"corp-ad\"]\n"
        );
        let catalog = parse(&good, "c.toml", &plain()).unwrap();
        let people = catalog.people.unwrap();
        assert_eq!(
            (people.every_minutes, people.complete_every_hours),
            (15, 24)
        );
        assert_eq!(people.max_leavers, 20);
        let bad = format!(
            "{GOOD}\n[people]\nsources = [\"corp-ad\", \"hr\", \"corp-ad\"]\nevery_minutes = 0\n"
        );
        let err = parse(&bad, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("`hr` is not a connector"), "{err}");
        assert!(err.contains("`corp-ad` appears twice"), "{err}");
        assert!(
            err.contains("every_minutes must be between 1 and 1440"),
            "{err}"
        );
        let none = format!("{GOOD}\n[people]\nsources = []\n");
        let err = parse(&none, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("at least one source"), "{err}");
    }

    #[test]
    fn bundles_name_entries_of_the_file_once_and_do_not_nest() {
        let entry = |key: &str| {
            format!(
                "\n[[entitlements]]\nkey = \"{key}\"\nconnector = \"corp-ad\"\n\
                 group = \"CN={key},OU=Groups,DC=contoso,DC=test\"\nname = \"{key}\"\n\
                 policy = \"manager\"\n"
            )
        };
        let good = format!(
            "{GOOD}{}{}\n[[bundles]]\nkey = \"falcon\"\nname = \"Falcon\"\n\
             items = [\"files\", \"sql-admins\"]\npolicy = \"manager\"\n",
            entry("files"),
            entry("other")
        );
        let catalog = parse(&good, "c.toml", &plain()).unwrap();
        assert_eq!(catalog.bundles[0].items, ["files", "sql-admins"]);
        assert_eq!(catalog.keys().len(), 4);

        let bad = format!(
            "{GOOD}{}\n[[bundles]]\nkey = \"falcon\"\nname = \"Falcon\"\n\
             items = [\"files\", \"files\", \"nowhere\", \"inner\"]\npolicy = \"manager\"\n\
             \n[[bundles]]\nkey = \"inner\"\nname = \"Inner\"\nitems = []\npolicy = \"lax\"\n\
             \n[[bundles]]\nkey = \"sql-admins\"\nname = \"Clash\"\nitems = [\"files\"]\n\
             policy = \"two-owners\"\n",
            entry("files")
        );
        let err = parse(&bad, "c.toml", &plain()).unwrap_err().to_string();
        for expected in [
            "bundle `falcon` lists `files` twice",
            "bundle `falcon` names `nowhere`, which is not an entry of this catalog",
            "`inner` is a bundle, and bundles do not nest",
            "bundle `inner` needs its items",
            "entitlement `inner` names policy `lax`, which is not declared",
            "entitlement key `sql-admins` appears twice",
            "stage 1 of policy `two-owners` needs 2 owner approval(s)",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let many: Vec<String> = (0..=MAX_BUNDLE_ITEMS).map(|i| format!("e{i}")).collect();
        let big = format!(
            "{GOOD}{}\n[[bundles]]\nkey = \"big\"\nname = \"Big\"\nitems = {:?}\n\
             policy = \"manager\"\n",
            many.iter().map(|k| entry(k)).collect::<String>(),
            many
        );
        let err = parse(&big, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("a bundle gives at most 20"), "{err}");
        let template = |extra: &str| {
            format!(
                "{GOOD}{}\n[[bundles]]\nkey = \"starter\"\nname = \"Starter\"\n\
                 items = [\"files\"]\npolicy = \"manager\"\n{extra}\n",
                entry("files")
            )
        };
        let catalog = parse(
            &template("departments = [\"Finance\"]\nmover_grace = \"P7D\""),
            "c.toml",
            &plain(),
        )
        .unwrap();
        assert_eq!(catalog.bundles[0].grace_seconds(), Ok(7 * 24 * 3600));
        for (extra, expected) in [
            (
                "departments = [\"Finance\"]\nmover_grace = \"a week\"",
                "mover_grace `a week` must be an ISO 8601 duration",
            ),
            (
                "departments = [\"Finance\"]\nmover_grace = \"P91D\"",
                "at most 90 days",
            ),
            (
                "mover_grace = \"P1D\"",
                "name them in departments or job_titles",
            ),
            ("job_titles = [\" \"]", "an empty department or job title"),
        ] {
            let err = parse(&template(extra), "c.toml", &plain())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let kind = GOOD.replace(
            "policy = \"two-owners\"",
            "kind = \"bundle\"\npolicy = \"two-owners\"",
        );
        let err = parse(&kind, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("declared under [[bundles]]"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let bad = GOOD.replace("max_minutes = 480", "max_minutes = \"lots\"");
        let err = parse(&bad, "catalog.toml", &plain())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 12"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_line() {
        let bad = GOOD.replace("owners = [", "ownrs = [");
        let err = parse(&bad, "catalog.toml", &plain())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ownrs"), "{err}");
        assert!(err.contains("line 26"), "{err}");
    }

    #[test]
    fn semantic_problems_name_the_entry_and_line() {
        let bad = GOOD
            .replace(r#"policy = "two-owners""#, r#"policy = "nobody""#)
            .replace("default_minutes = 60,", "default_minutes = 600,");
        let err = parse(&bad, "catalog.toml", &plain()).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(
            err.problems[0].starts_with("catalog.toml:15: policy `two-owners`"),
            "{err}"
        );
        assert!(err.problems[1].starts_with("catalog.toml:22:"), "{err}");
        assert!(err.problems[1].contains("policy `nobody`"), "{err}");
    }

    #[test]
    fn owner_quorum_must_be_reachable() {
        let bad = GOOD.replace(
            r#"owners = ["a@contoso.test", "b@contoso.test", "c@contoso.test"]"#,
            r#"owners = ["a@contoso.test"]"#,
        );
        let err = parse(&bad, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("needs 2 owner approval(s)"), "{err}");
    }

    const CLOUD: &str = r#"
[connectors.contoso-cloud]
kind = "graph"
tenant_id = "6f1c2a9e-0b1d-4c7e-9d3a-1f2e3d4c5b6a"
client_id = "0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b"
client_secret_env = "LEASEGATE_SECRET_GRAPH"
authority_url = "http://127.0.0.1:8950"
graph_url = "http://127.0.0.1:8950/v1.0"

[[entitlements]]
key = "falcon-team-owner"
connector = "contoso-cloud"
kind = "team"
role = "owner"
target = "2b5d8f3a-1c4e-4d6f-9a8b-7c6d5e4f3a2b"
name = "Project Falcon team, as owner"
policy = "manager"

[[entitlements]]
key = "falcon-team"
connector = "contoso-cloud"
kind = "team"
target = "2b5d8f3a-1c4e-4d6f-9a8b-7c6d5e4f3a2b"
name = "Project Falcon team"
policy = "manager"

[[entitlements]]
key = "helpdesk-admin"
connector = "contoso-cloud"
kind = "entra_role"
target = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
name = "Helpdesk administrator"
policy = "manager"

[[entitlements]]
key = "audit-site"
connector = "contoso-cloud"
kind = "sharepoint_site"
target = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
name = "Audit site"
policy = "manager"
"#;

    const AZURE: &str = r#"
[connectors.contoso-azure]
kind = "azure"
tenant_id = "6f1c2a9e-0b1d-4c7e-9d3a-1f2e3d4c5b6a"
client_id = "0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b"
client_secret_env = "LEASEGATE_SECRET_AZURE"
authority_url = "http://127.0.0.1:8950"
arm_url = "http://127.0.0.1:8950"
graph_url = "http://127.0.0.1:8950/v1.0"

[policies.all-day]
name = "All day"
durations = { default_minutes = 60, max_minutes = 2880 }

[[entitlements]]
key = "jump-ssh"
connector = "contoso-azure"
kind = "azure_vm_port"
port = 22
target = "/subscriptions/5e6f7a8b-0000-4000-8000-00000000a2e1/resourceGroups/rg-ops/providers/Microsoft.Compute/virtualMachines/jump-01"
name = "Jump host"
policy = "manager"
"#;

    #[test]
    fn a_vm_port_entry_names_its_vm_its_port_and_a_day_at_most() {
        let text = format!("{GOOD}{AZURE}");
        let catalog = parse(&text, "c.toml", &lab()).unwrap();
        let entry = catalog.entitlements.last().unwrap();
        assert_eq!(
            entry.access().unwrap(),
            Access::AzureVmPort {
                port: 22,
                source: None
            }
        );
        let err = parse(&text, "c.toml", &plain()).unwrap_err().to_string();
        assert!(
            err.contains("http://127.0.0.1:8950 must use https://"),
            "{err}"
        );
        for (from, to, problem) in [
            (
                "virtualMachines/jump-01\"",
                "virtualMachines\"",
                "the VM's resource id",
            ),
            ("port = 22\n", "", "needs its `port`"),
            (
                "port = 22\n",
                "port = 22\nsource = \"10.1.2.3/33\"\n",
                "source: `10.1.2.3/33`",
            ),
            (
                "port = 22\n",
                "port = 22\nsource = \"198.51.100.0/24\"\n",
                "",
            ),
            (
                "policy = \"manager\"",
                "policy = \"all-day\"",
                "at most a day",
            ),
            (
                "graph_url",
                "closing_source = \"nowhere\"\ngraph_url",
                "closing_source",
            ),
            (
                "graph_url",
                "manage_policy = { location = \"westeurope\", max_request_access_duration = \"P3D\" }\ngraph_url",
                "from PT5M to P1D",
            ),
        ] {
            let bad = format!("{GOOD}{}", AZURE.replacen(from, to, 1));
            assert_ne!(bad, text, "{from}");
            match parse(&bad, "c.toml", &lab()) {
                Ok(_) => assert!(problem.is_empty(), "accepted, expected {problem}"),
                Err(err) => {
                    let err = err.to_string();
                    assert!(
                        !problem.is_empty() && err.contains(problem),
                        "{problem}: {err}"
                    );
                }
            }
        }
        // `source` belongs to VM ports only.
        let bad = format!("{GOOD}{CLOUD}").replacen(
            "kind = \"entra_role\"",
            "kind = \"entra_role\"\nsource = \"198.51.100.0/24\"",
            1,
        );
        let err = parse(&bad, "c.toml", &lab()).unwrap_err().to_string();
        assert!(err.contains("`source` does not apply"), "{err}");
    }

    fn lab() -> Trust {
        Trust {
            secrets_dir: None,
            lab_mode: true,
        }
    }

    #[test]
    fn entries_are_typed_by_kind() {
        let text = format!("{GOOD}{CLOUD}");
        let catalog = parse(&text, "c.toml", &lab()).unwrap();
        // A site without a group, by its site id, for reading or editing.
        for (role, expected) in [("visitor", SiteRole::Visitor), ("member", SiteRole::Member)] {
            let groupless = text.replacen(
                "target = \"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"",
                &format!(
                    "target = \"contoso.sharepoint.com,3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f,\
                     1a2b3c4d-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"\nrole = \"{role}\""
                ),
                1,
            );
            let catalog = parse(&groupless, "c.toml", &lab()).unwrap();
            assert_eq!(
                catalog.entitlements.last().unwrap().access().unwrap(),
                Access::SharepointSite { role: expected }
            );
        }
        let access: Vec<Access> = catalog
            .entitlements
            .iter()
            .map(|e| e.access().unwrap())
            .collect();
        assert_eq!(
            access,
            vec![
                Access::AdGroup,
                Access::Team {
                    role: GroupRole::Owner
                },
                Access::Team {
                    role: GroupRole::Member
                },
                Access::EntraRole {
                    directory_scope: "/".into()
                },
                Access::SharepointSite {
                    role: SiteRole::Member
                },
            ]
        );
        assert_eq!(
            catalog.connectors["contoso-cloud"].kind(),
            crate::domain::access::ConnectorKind::Graph
        );
        // The simulator's plain http is for labs only.
        let err = parse(&text, "c.toml", &plain()).unwrap_err().to_string();
        assert!(err.contains("must use https://"), "{err}");
    }

    #[test]
    fn an_entry_must_fit_its_kind_and_connector() {
        let text = format!("{GOOD}{CLOUD}");
        for (from, to, problem) in [
            (
                "kind = \"entra_role\"",
                "kind = \"entra_role\"\nrole = \"owner\"",
                "`role` does not apply to a entra_role entry",
            ),
            (
                "target = \"729827e3-9c14-49f7-bb1b-9608f156bbb8\"",
                "target = \"Helpdesk Administrator\"",
                "is its object id (a GUID)",
            ),
            (
                "connector = \"contoso-cloud\"\nkind = \"entra_role\"",
                "connector = \"corp-ad\"\nkind = \"entra_role\"",
                "which a graph connector gives; `corp-ad` is a ldap connector",
            ),
            (
                "role = \"owner\"\ntarget",
                "target",
                "another entry already gives this access",
            ),
            (
                "target = \"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"",
                "target = \"https://contoso.sharepoint.com/sites/audit\"",
                "or the site's id (<hostname>,<site collection id>,<web id>)",
            ),
            (
                "target = \"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"",
                "target = \"contoso.sharepoint.com,3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f,1a2b3c4d-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"\nrole = \"owner\"",
                "owners in a SharePoint site group, which Graph cannot change",
            ),
            (
                "kind = \"team\"\nrole = \"owner\"",
                "kind = \"team\"\nrole = \"visitor\"",
                "`visitor` is for sharepoint_site entries",
            ),
            (
                "kind = \"sharepoint_site\"\ntarget = \"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f\"",
                "kind = \"entra_group\"\ntarget = \"2b5d8f3a-1c4e-4d6f-9a8b-7c6d5e4f3a2b\"",
                "another entry already gives this access (the same membership",
            ),
            (
                "kind = \"team\"\nrole",
                "kind = \"tem\"\nrole",
                "unknown variant `tem`",
            ),
        ] {
            assert!(text.contains(from), "{from}");
            let bad = text.replacen(from, to, 1);
            let err = parse(&bad, "c.toml", &lab()).unwrap_err().to_string();
            assert!(err.contains(problem), "{problem}: {err}");
        }
    }
}
