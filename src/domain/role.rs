use serde::{Deserialize, Serialize};

/// A portal-wide role, granted through Entra ID app roles. Approver rights are not roles: they
/// come from data (being someone's manager or a resource's owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Manages the catalog, policies and connectors; sees everything an auditor sees.
    Admin,
    /// Reads the governance view and exports evidence; changes nothing.
    Auditor,
    /// Security operations, where the organisation names such an app role: sees the governance
    /// view and may take live access away (one lease, or a whole account's during an
    /// incident); administers nothing else.
    Security,
}

/// The Entra app-role values that make someone a portal administrator, an auditor, or (when the
/// organisation names one) a member of security operations. Compared as Entra does: exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoleNames {
    pub admin: String,
    pub auditor: String,
    pub security: Option<String>,
}

impl Role {
    const ALL: [Role; 3] = [Role::Admin, Role::Auditor, Role::Security];

    /// Maps the app-role values of an ID token to portal roles, given the configured names.
    pub fn from_app_roles(app_roles: &[String], names: &AppRoleNames) -> Vec<Role> {
        Self::ALL
            .into_iter()
            .filter(|role| {
                let name = match role {
                    Role::Admin => Some(&names.admin),
                    Role::Auditor => Some(&names.auditor),
                    Role::Security => names.security.as_ref(),
                };
                name.is_some_and(|name| app_roles.contains(name))
            })
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Security => "security",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// May this set of roles open the governance view?
pub fn can_view_governance(roles: &[Role]) -> bool {
    roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Auditor | Role::Security))
}

/// May this set of roles take someone's live access away before its end (with a reason)?
/// Auditors may not: they change nothing.
pub fn can_revoke(roles: &[Role]) -> bool {
    roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Security))
}

/// May this set of roles open the admin area?
pub fn can_administer(roles: &[Role]) -> bool {
    roles.contains(&Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn configured(admin: &str, auditor: &str, security: Option<&str>) -> AppRoleNames {
        AppRoleNames {
            admin: admin.into(),
            auditor: auditor.into(),
            security: security.map(str::to_string),
        }
    }

    #[test]
    fn maps_configured_names_only() {
        let standard = configured("Leasegate.Admin", "Leasegate.Auditor", None);
        let roles =
            Role::from_app_roles(&names(&["Leasegate.Auditor", "Other.App.Admin"]), &standard);
        assert_eq!(roles, vec![Role::Auditor]);
        let roles = Role::from_app_roles(
            &names(&["JIT.Admin"]),
            &configured("JIT.Admin", "JIT.Auditor", None),
        );
        assert_eq!(roles, vec![Role::Admin]);
        assert!(Role::from_app_roles(&[], &standard).is_empty());
    }

    #[test]
    fn security_operations_is_a_role_only_where_it_is_named() {
        let token = names(&["Leasegate.Security"]);
        let unnamed = configured("Leasegate.Admin", "Leasegate.Auditor", None);
        assert!(Role::from_app_roles(&token, &unnamed).is_empty());
        let named = configured(
            "Leasegate.Admin",
            "Leasegate.Auditor",
            Some("Leasegate.Security"),
        );
        assert_eq!(Role::from_app_roles(&token, &named), vec![Role::Security]);
        for role in [Role::Admin, Role::Auditor, Role::Security] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn role_names_are_case_sensitive_like_entra() {
        assert!(
            Role::from_app_roles(
                &names(&["leasegate.admin"]),
                &configured("Leasegate.Admin", "x", None)
            )
            .is_empty()
        );
    }

    #[test]
    fn area_access() {
        assert!(!can_view_governance(&[]));
        assert!(can_view_governance(&[Role::Auditor]));
        assert!(can_view_governance(&[Role::Admin]));
        assert!(can_view_governance(&[Role::Security]));
        assert!(!can_administer(&[Role::Auditor]));
        assert!(!can_administer(&[Role::Security]));
        assert!(can_administer(&[Role::Admin]));
    }

    #[test]
    fn auditors_take_nothing_away() {
        assert!(!can_revoke(&[]));
        assert!(!can_revoke(&[Role::Auditor]));
        assert!(can_revoke(&[Role::Admin]));
        assert!(can_revoke(&[Role::Security]));
    }
}
