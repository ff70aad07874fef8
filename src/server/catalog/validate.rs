//! Reading a catalog file and checking it whole: every problem with its line, before anything
//! is stored; and building the connectors it declares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::domain::access::{
    EntitlementKind, SiteRole, is_object_id, is_site_id, is_vm_resource_id,
};
use crate::domain::policy::{ApproverSource, Policy};
use crate::server::app::config::Secret;
use crate::server::connectors::{self, ConnectorSettings, Connectors, SecretSource};
use crate::server::db::catalog::ContractorSpec;

use super::spec::{BundleSpec, CatalogFile, MAX_BUNDLE_ITEMS, PeopleSpec};

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

pub(super) fn line_of(text: &str, needle: &str) -> Option<usize> {
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
