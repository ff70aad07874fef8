//! The catalog file's shape, as written: connectors, policies, entitlements, bundles, people
//! sources and contractors, and the access each entry gives.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::access::{Access, EntitlementKind, GroupRole, SiteRole};
use crate::domain::network::SourcePrefix;
use crate::domain::policy::Policy;
use crate::server::connectors::ConnectorSettings;
use crate::server::db::catalog::ContractorSpec;

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
