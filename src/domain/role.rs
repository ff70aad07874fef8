use serde::{Deserialize, Serialize};

/// A portal-wide role, granted through Entra ID app roles. Approver rights are not roles: they
/// come from data (being someone's manager or a resource's owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Manages the catalog, policies and connectors; sees everything an auditor sees.
    Admin,
    /// Reads the governance view and exports evidence; changes nothing.
    Auditor,
}

impl Role {
    /// Maps the app-role values of an ID token to portal roles, given the configured names.
    pub fn from_app_roles(app_roles: &[String], admin_name: &str, auditor_name: &str) -> Vec<Role> {
        let mut roles = Vec::new();
        if app_roles.iter().any(|r| r == admin_name) {
            roles.push(Role::Admin);
        }
        if app_roles.iter().any(|r| r == auditor_name) {
            roles.push(Role::Auditor);
        }
        roles
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Role::Admin, Role::Auditor]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// May this set of roles open the governance view?
pub fn can_view_governance(roles: &[Role]) -> bool {
    roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Auditor))
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

    #[test]
    fn maps_configured_names_only() {
        let roles = Role::from_app_roles(
            &names(&["Leasegate.Auditor", "Other.App.Admin"]),
            "Leasegate.Admin",
            "Leasegate.Auditor",
        );
        assert_eq!(roles, vec![Role::Auditor]);
        let roles = Role::from_app_roles(&names(&["JIT.Admin"]), "JIT.Admin", "JIT.Auditor");
        assert_eq!(roles, vec![Role::Admin]);
        assert!(Role::from_app_roles(&[], "a", "b").is_empty());
    }

    #[test]
    fn role_names_are_case_sensitive_like_entra() {
        assert!(
            Role::from_app_roles(&names(&["leasegate.admin"]), "Leasegate.Admin", "x").is_empty()
        );
    }

    #[test]
    fn area_access() {
        assert!(!can_view_governance(&[]));
        assert!(can_view_governance(&[Role::Auditor]));
        assert!(can_view_governance(&[Role::Admin]));
        assert!(!can_administer(&[Role::Auditor]));
        assert!(can_administer(&[Role::Admin]));
    }
}
