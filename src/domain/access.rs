//! What an entitlement gives in its system: the kind of access and what that kind needs besides
//! the target (a role in the group, a directory scope, a port). One enum, so a connector, the
//! catalog, the pages and the words all see the same closed set.

use serde::{Deserialize, Serialize};

use super::named::named;

named! {
    /// The kinds of access the catalog can offer.
    pub enum EntitlementKind {
        /// Membership of an on-premises Active Directory (or LDAP) group.
        AdGroup = "ad_group",
        /// Direct membership of an Entra ID security or Microsoft 365 group.
        EntraGroup = "entra_group",
        /// Time-bound membership or ownership of an Entra group through PIM for Groups.
        PimGroup = "pim_group",
        /// An Entra ID directory role, assigned for the lease through PIM.
        EntraRole = "entra_role",
        /// Membership or ownership of a Microsoft Teams team.
        Team = "team",
        /// Access to a SharePoint Online site: through its Microsoft 365 group (members edit,
        /// owners have full control), or by sharing its document library (visitors read,
        /// members edit), which also reaches sites without a group.
        SharepointSite = "sharepoint_site",
        /// An administration port on an Azure VM, opened by Defender for Cloud's JIT access.
        AzureVmPort = "azure_vm_port",
        /// Several entries requested, approved and ended together (across systems); each
        /// part is granted in its own system.
        Bundle = "bundle",
    }
}

named! {
    /// The role a person gets in a group or team.
    pub enum GroupRole {
        Member = "member",
        Owner = "owner",
    }
}

named! {
    /// The role a person gets on a SharePoint site, in SharePoint's own words.
    pub enum SiteRole {
        /// Reads the site's documents: a read share of its document library.
        Visitor = "visitor",
        /// Edits: the group's membership, or a write share of the library on a site without
        /// a group.
        Member = "member",
        /// Full control: the group's ownership (sites with a group only).
        Owner = "owner",
    }
}

named! {
    /// The kinds of connected system.
    pub enum ConnectorKind {
        /// An LDAP directory: Active Directory, Samba AD, OpenLDAP.
        Ldap = "ldap",
        /// A Microsoft Entra ID tenant and Microsoft 365, through Microsoft Graph.
        Graph = "graph",
        /// Azure subscriptions, through Azure Resource Manager.
        Azure = "azure",
    }
}

/// The access an entitlement gives, with what its kind needs. Stored as JSON with the
/// entitlement and pinned on each grant, so a grant is removed as it was given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Access {
    AdGroup,
    EntraGroup,
    PimGroup {
        role: GroupRole,
    },
    EntraRole {
        /// `/` for the whole directory, or `/administrativeUnits/{id}`.
        directory_scope: String,
    },
    Team {
        role: GroupRole,
    },
    SharepointSite {
        role: SiteRole,
    },
    AzureVmPort {
        port: u16,
        /// The address or prefix the port is opened to for everyone (a VPN's egress); when
        /// absent, each request names its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// A bundle of other entries. Never granted itself (the database refuses a grant of
    /// it): approving one grants each part.
    Bundle,
}

impl Access {
    pub fn kind(&self) -> EntitlementKind {
        match self {
            Access::AdGroup => EntitlementKind::AdGroup,
            Access::EntraGroup => EntitlementKind::EntraGroup,
            Access::PimGroup { .. } => EntitlementKind::PimGroup,
            Access::EntraRole { .. } => EntitlementKind::EntraRole,
            Access::Team { .. } => EntitlementKind::Team,
            Access::SharepointSite { .. } => EntitlementKind::SharepointSite,
            Access::AzureVmPort { .. } => EntitlementKind::AzureVmPort,
            Access::Bundle => EntitlementKind::Bundle,
        }
    }

    /// Whether the access is membership of a group (a team is its group): then it can also
    /// be held through a nested group, which approvers are told about.
    pub fn is_membership(&self) -> bool {
        matches!(
            self,
            Access::AdGroup
                | Access::EntraGroup
                | Access::PimGroup { .. }
                | Access::Team { .. }
                | Access::SharepointSite {
                    role: SiteRole::Member | SiteRole::Owner
                }
        )
    }

    /// What the target system holds for this access, in a few words: two entries on one
    /// target with the same holding give the same thing (`entra_group`, `team` member and
    /// `sharepoint_site` member are all the group's membership).
    pub fn holding(&self) -> String {
        match self {
            Access::AdGroup | Access::EntraGroup => "membership".into(),
            Access::PimGroup { role } | Access::Team { role } => match role {
                GroupRole::Member => "membership".into(),
                GroupRole::Owner => "ownership".into(),
            },
            Access::SharepointSite { role } => match role {
                SiteRole::Visitor => "read access".into(),
                SiteRole::Member => "membership".into(),
                SiteRole::Owner => "ownership".into(),
            },
            Access::EntraRole { directory_scope } => format!("role in scope {directory_scope}"),
            Access::AzureVmPort { port, .. } => format!("port {port}"),
            Access::Bundle => "parts".into(),
        }
    }
}

/// Whether `value` is an Entra object id: a GUID in its 36-character form, any case.
pub fn is_object_id(value: &str) -> bool {
    value.len() == 36 && uuid::Uuid::parse_str(value).is_ok()
}

/// Whether `value` is a SharePoint site's Graph id, `{hostname},{site-collection-id},{web-id}`
/// (the form `GET /sites/{id}` answers with), which names a site whether or not it has a
/// Microsoft 365 group.
pub fn is_site_id(value: &str) -> bool {
    let parts: Vec<&str> = value.split(',').collect();
    matches!(
        parts.as_slice(),
        [host, collection, web]
            if !host.is_empty()
                && host.len() <= 253
                && host.contains('.')
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && is_object_id(collection)
                && is_object_id(web)
    )
}

/// Whether `value` is an Azure VM's resource id:
/// `/subscriptions/{guid}/resourceGroups/{name}/providers/Microsoft.Compute/virtualMachines/{name}`
/// (ARM compares it without regard to case).
pub fn is_vm_resource_id(value: &str) -> bool {
    let parts: Vec<&str> = value.split('/').collect();
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 90
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
    };
    matches!(
        parts.as_slice(),
        ["", subscriptions, subscription, resource_groups, group, providers, compute, machines, vm]
            if subscriptions.eq_ignore_ascii_case("subscriptions")
                && is_object_id(subscription)
                && resource_groups.eq_ignore_ascii_case("resourceGroups")
                && name_ok(group)
                && providers.eq_ignore_ascii_case("providers")
                && compute.eq_ignore_ascii_case("Microsoft.Compute")
                && machines.eq_ignore_ascii_case("virtualMachines")
                && name_ok(vm)
    )
}

impl EntitlementKind {
    /// The connector kind that can give this access; `None` for a bundle, whose parts are
    /// given by theirs.
    pub fn connector(self) -> Option<ConnectorKind> {
        match self {
            EntitlementKind::AdGroup => Some(ConnectorKind::Ldap),
            EntitlementKind::EntraGroup
            | EntitlementKind::PimGroup
            | EntitlementKind::EntraRole
            | EntitlementKind::Team
            | EntitlementKind::SharepointSite => Some(ConnectorKind::Graph),
            EntitlementKind::AzureVmPort => Some(ConnectorKind::Azure),
            EntitlementKind::Bundle => None,
        }
    }

    /// Whether the target system ends the access itself at the lease's end (a PIM schedule,
    /// a JIT request's `endTimeUtc`), so access ends even while the portal is down. The
    /// engine removes it on time and reads it back all the same.
    pub fn target_enforces_end(self) -> bool {
        matches!(
            self,
            EntitlementKind::PimGroup | EntitlementKind::EntraRole | EntitlementKind::AzureVmPort
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_is_stored_tagged_by_kind() {
        let access = Access::PimGroup {
            role: GroupRole::Owner,
        };
        let json = serde_json::to_value(&access).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "pim_group", "role": "owner"})
        );
        assert_eq!(serde_json::from_value::<Access>(json).unwrap(), access);
        assert_eq!(
            serde_json::from_value::<Access>(serde_json::json!({"kind": "ad_group"})).unwrap(),
            Access::AdGroup
        );
        assert!(
            serde_json::from_value::<Access>(serde_json::json!({"kind": "team"})).is_err(),
            "a team needs its role"
        );
    }

    #[test]
    fn site_ids_are_recognised() {
        let id = "contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573fdeaf2,\
                  2d2244c3-251a-49ea-93a8-39e7c4b6a1f5";
        assert!(is_site_id(id));
        assert!(!is_site_id("2c712604-1370-44e7-a1f5-426573fdeaf2"));
        assert!(!is_site_id(&id.replace("contoso.sharepoint.com", "")));
        assert!(!is_site_id(
            &id.replace("contoso.sharepoint.com", "contoso/x")
        ));
        assert!(!is_site_id(&format!("{id},extra")));
        assert!(!is_site_id(&id.replace("2c712604-1370", "not-a-guid")));
        // Stored before site roles had visitors: the JSON is the same.
        assert_eq!(
            serde_json::from_value::<Access>(
                serde_json::json!({"kind": "sharepoint_site", "role": "member"})
            )
            .unwrap(),
            Access::SharepointSite {
                role: SiteRole::Member
            }
        );
    }

    #[test]
    fn vm_resource_ids_are_recognised() {
        let id = "/subscriptions/6f1c2d3e-0000-4000-8000-000000000001/resourceGroups/rg-ops/\
                  providers/Microsoft.Compute/virtualMachines/jump-01";
        assert!(is_vm_resource_id(id));
        assert!(is_vm_resource_id(&id.to_lowercase()));
        assert!(!is_vm_resource_id("jump-01"));
        assert!(!is_vm_resource_id(&id.replace("virtualMachines", "disks")));
        assert!(!is_vm_resource_id(&format!("{id}/extra")));
        assert!(!is_vm_resource_id(
            &id.replace("6f1c2d3e-0000", "not-a-guid")
        ));
    }

    #[test]
    fn every_kind_has_one_connector_kind_and_its_name() {
        for kind in EntitlementKind::ALL {
            assert_eq!(EntitlementKind::parse(kind.as_str()), Some(*kind));
            let _ = kind.connector();
        }
        assert_eq!(
            EntitlementKind::Team.connector(),
            Some(ConnectorKind::Graph)
        );
        assert_eq!(
            EntitlementKind::AzureVmPort.connector(),
            Some(ConnectorKind::Azure)
        );
        assert_eq!(EntitlementKind::Bundle.connector(), None);
        assert_eq!(Access::Bundle.kind(), EntitlementKind::Bundle);
        assert!(EntitlementKind::EntraRole.target_enforces_end());
        assert!(!EntitlementKind::EntraGroup.target_enforces_end());
    }
}
