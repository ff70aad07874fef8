//! Catalog as code: connectors, policies and entitlements declared in one TOML file, validated
//! with the line of every problem, and written to the database in one audited transaction.
//!
//! - [`spec`]: the file's shape, as written, and the access each entry gives;
//! - [`validate`]: reading it and checking it whole, and building its connectors;
//! - [`store`]: writing it, refusing a change that would retarget live leases.

pub mod spec;
pub mod store;
pub mod validate;

/// How contractors are handled, as the catalog declares it and the database keeps it.
pub use crate::server::db::catalog::ContractorSpec;
pub use spec::*;
pub use store::*;
pub use validate::*;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::domain::access::{Access, GroupRole, SiteRole};

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
