//! Connected systems, behind one trait named for what they do: add access, remove it, and say
//! who has it. Implementations are named for their technology ([`ldap::LdapDirectory`]).

pub mod azure;
pub mod graph;
pub mod ldap;
pub mod measured;
pub mod memory;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::access::{Access, ConnectorKind};
use crate::server::app::config::Secret;

/// A person's account in a connected system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// How the system names the account now (an LDAP DN); it changes when the account is
    /// renamed or moved.
    pub reference: String,
    /// What never changes (AD `objectGUID`, OpenLDAP `entryUUID`), when the system has it.
    pub stable_id: Option<String>,
    /// False for an account the system has disabled (or locked for good).
    pub enabled: bool,
    pub upn: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    /// The manager's account reference, when the system knows it.
    pub manager: Option<String>,
    /// Inside the part of the system people are read from (LDAP's `user_base`; always, where
    /// the system has no such part). An account moved out is still the same account: lookups
    /// by stable id find it wherever it went, removals go ahead on it, and new grants to it are
    /// refused until a person looks (`docs/connectors.md`, "Moved accounts").
    pub in_scope: bool,
}

/// A change made to a target outside this portal, as the target's own records tell it (a PIM
/// assignment or activation made in Entra directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideChange {
    /// The target's id of the record; the same record read twice is told once.
    pub id: String,
    /// When the target recorded it.
    pub at: DateTime<Utc>,
    /// The account it is about, as [`Connector::holding`] takes it.
    pub account: String,
    /// What was done and how it ended, in the target's words (`adminAssign`, `Provisioned`).
    pub action: String,
    pub status: String,
    /// Who made it, as the target names them (`user <id>`, `application <id>`).
    pub made_by: String,
    pub justification: Option<String>,
    /// The period of access it gave, where it gave one (`ends_at` open: no end).
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

/// A person as a directory describes them, for the people sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    /// The account: reference, stable id, enabled, UPN, name, department, manager.
    pub account: Account,
    pub mail: Option<String>,
    pub job_title: Option<String>,
    /// An Entra guest (`userType` Guest).
    pub guest: bool,
    /// What names the same human in Active Directory and Entra ID: AD's `objectGUID` in
    /// base64 (its bytes as stored), which Entra keeps as a synced user's
    /// `onPremisesImmutableId`.
    pub anchor: Option<String>,
    /// When the directory itself stops the account (AD's `accountExpires`): the person leaves
    /// then, although nothing in the directory changes at that moment.
    pub leaves_at: Option<DateTime<Utc>>,
}

/// One pass of the people sync: who changed since the cursor, who is gone, and where the next
/// pass starts. A complete pass lists everyone: whoever it does not list is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeoplePass {
    pub changed: Vec<DirectoryPerson>,
    /// Stable ids of people deleted since the cursor (incremental passes only).
    pub removed: Vec<String>,
    /// Where the next pass starts; opaque.
    pub cursor: String,
    pub complete: bool,
    /// The Entra tenant whose object ids the stable ids are (Entra sources): a person signs
    /// in with the same tenant and object id.
    pub tenant: Option<String>,
    /// Which directory this is: AD's domain `objectGUID`, an LDAP naming context's
    /// `entryUUID`, the Entra tenant id. A re-provisioned or migrated directory, or a
    /// connector pointed elsewhere, answers another one.
    pub directory: Option<String>,
}

/// A thing access is granted to (a group), as the system names it now and by its stable id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub reference: String,
    pub stable_id: Option<String>,
}

/// One lease as a connector sees it when it gives access: whose account, from when to when, and
/// why. Targets that can end access themselves (PIM schedules, VM JIT requests) are told the
/// end, so the access ends even while the portal is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The account's reference in the connected system.
    pub account: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The requester's justification, passed on where the system records one.
    pub reason: String,
    /// Where the person connects from (an address or prefix), for access opened to an
    /// address rather than an account (an Azure VM's port).
    pub source: Option<String>,
}

/// What the connected system said about one account's new access, for the audit trail: its
/// own ids (a PIM request and schedule, a Teams membership) and status.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub account: String,
    pub detail: serde_json::Value,
}

/// What the connector could say about its system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Down(String),
}

/// Why a call failed, and so what the engine does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying soon: the system is unreachable, busy or timed out.
    #[error("temporarily failed: {0}")]
    Transient(String),
    /// The system asked us to slow down.
    #[error("throttled for {retry_after:?}: {detail}")]
    Throttled {
        retry_after: Duration,
        detail: String,
    },
    /// Retrying will not help until a person changes something (rights, names, settings).
    #[error("refused: {0}")]
    Permanent(String),
}

impl ConnectorError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, ConnectorError::Permanent(_))
    }

    /// The refusal a connector gives for access of a kind it does not handle (the catalog's
    /// checks keep such entries out; this is the second guard).
    pub fn unsupported(connector: &str, access: &Access) -> Self {
        ConnectorError::Permanent(format!(
            "connector `{connector}` cannot give {} access",
            access.kind()
        ))
    }
}

/// One connected system: a directory, a tenant. Calls are idempotent: adding a member who is
/// already there, or removing one who is gone, succeeds, so the engine may repeat any call.
/// Systems whose own writes are not (Microsoft Graph) reconcile by reading the state.
/// A guest as Entra made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    /// The user's object id.
    pub id: String,
    /// The link the person redeems the invitation with.
    pub redeem_url: String,
    /// `PendingAcceptance` until they redeem it.
    pub status: String,
}

/// Someone a directory already knows by an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub id: String,
    pub upn: String,
    /// `Member` or `Guest`.
    pub user_type: String,
    pub enabled: bool,
    /// When the directory made it, where it says.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

/// What an identity for an external person is made from.
#[derive(Debug, Clone)]
pub struct NewIdentity<'a> {
    /// The contractor this identity is for: AD writes it on the account as the portal's own
    /// mark, and adopts an account found existing only when it carries this mark.
    pub contractor: uuid::Uuid,
    /// The contractor's number, unique for ever: AD account names are made from it, so two
    /// contractors never get the same name whatever their addresses.
    pub number: i64,
    pub email: &'a str,
    pub display_name: &'a str,
    /// The end of their project: a directory that can end accounts itself is told (AD's
    /// `accountExpires`).
    pub ends_at: chrono::DateTime<chrono::Utc>,
    /// Entra: where the invitation lands the guest.
    pub redirect: &'a str,
    /// AD: the container accounts are made in, and their UPN suffix.
    pub base: Option<&'a str>,
    pub upn_suffix: Option<&'a str>,
    /// Entra: when the portal first asked for this contractor's guest; a guest for the address
    /// made since then is the one that asking made.
    pub invited_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Entra: the existing user an administrator adopted for this contractor (audited).
    pub adopt: Option<&'a str>,
}

/// An identity a system made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeIdentity {
    /// The stable id (Entra object id, AD `objectGUID`).
    pub id: String,
    /// How the system names the account (Entra: its id; AD: its distinguished name).
    pub reference: String,
    pub upn: String,
    /// Entra: the invitation's redemption link, for the sponsor to pass on.
    pub redeem_url: Option<String>,
}

/// What asking a system for an identity came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Made now, or made before for this very contractor (an answer lost on the way).
    Made(MadeIdentity),
    /// The name is someone else's: an account the portal did not make for this contractor.
    /// Nothing was written; the onboarding must stop until a person looks.
    Taken {
        name: String,
        /// What holds it, in the system's words.
        existing: String,
        /// The holder's stable id, where an administrator may adopt it (Entra guests).
        adoptable: Option<String>,
    },
}

/// Who holds a target, as a system's change tracking answers ([`Connector::holders_delta`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldersDelta {
    /// Every holder was listed (in `added`): a first round, or one started over.
    pub complete: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Where the next round starts.
    pub cursor: String,
}

/// A system that can make identities for external people (Entra: B2B guests; AD: accounts)
/// and end them.
#[async_trait]
pub trait ExternalIdentities: Send + Sync {
    /// Who already has `email` as their mail address, if anyone.
    async fn user_by_mail(&self, email: &str) -> Result<Option<Known>, ConnectorError>;
    /// Makes the identity, or answers the one made before for this contractor; an account of
    /// the name that is not this contractor's is never taken over.
    async fn make_identity(&self, new: &NewIdentity<'_>) -> Result<Identity, ConnectorError>;
    /// Sets a new first password that must be changed at the first sign-in, and answers it
    /// (shown once, never stored); `None` where the person signs in with their own account.
    async fn issue_password(&self, _id: &str) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }
    /// Tells the system the account's new end, where it ends accounts itself (AD's
    /// `accountExpires`); nothing elsewhere.
    async fn set_expiry(
        &self,
        _id: &str,
        _ends_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn set_account_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError>;
    /// Deletes the account; one already gone is done.
    async fn delete_user(&self, id: &str) -> Result<(), ConnectorError>;
}

#[async_trait]
pub trait Connector: Send + Sync {
    /// The system's identities for external people, when it can make them.
    fn identities(&self) -> Option<&dyn ExternalIdentities> {
        None
    }

    /// Finds a person's account from their sign-in name (UPN). `Ok(None)`: no such account.
    async fn find_account(&self, upn: &str) -> Result<Option<Account>, ConnectorError>;

    /// Reads one account by its reference.
    async fn account(&self, reference: &str) -> Result<Option<Account>, ConnectorError>;

    /// Reads many accounts by their references; missing ones are left out. Implementations
    /// bound how many calls they have in flight instead of asking one after the other.
    async fn accounts(&self, references: &[String]) -> Result<Vec<Account>, ConnectorError>;

    /// Finds accounts by their stable ids, wherever they were renamed or moved to; accounts
    /// that no longer exist are left out. Many ids take few calls (the engine removes
    /// thousands at once).
    async fn accounts_by_id(&self, stable_ids: &[String]) -> Result<Vec<Account>, ConnectorError>;

    /// One account by its stable id. `Ok(None)`: the account no longer exists.
    async fn account_by_id(&self, stable_id: &str) -> Result<Option<Account>, ConnectorError> {
        Ok(self
            .accounts_by_id(&[stable_id.to_string()])
            .await?
            .into_iter()
            .find(|a| a.stable_id.as_deref() == Some(stable_id)))
    }

    /// Reads a target of `access` (a group, a directory role) by its reference, with its
    /// stable id. `Ok(None)`: no such target.
    async fn target(
        &self,
        access: &Access,
        reference: &str,
    ) -> Result<Option<Target>, ConnectorError>;

    /// Finds a target of `access` by its stable id, wherever it was renamed or moved to.
    async fn target_by_id(
        &self,
        access: &Access,
        stable_id: &str,
    ) -> Result<Option<Target>, ConnectorError>;

    /// Gives each lease's account the `access` to `target` (few calls, many members). The
    /// receipts carry what the system said about each, where it says more than "done".
    async fn grant(
        &self,
        access: &Access,
        target: &str,
        leases: &[Lease],
    ) -> Result<Vec<Receipt>, ConnectorError>;

    /// Takes the `access` to `target` away from every account in `accounts`.
    async fn revoke(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError>;

    /// Which of `accounts` hold the `access` to `target` directly now, as the same strings
    /// that were passed in; used to prove a removal.
    async fn holding(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError>;

    /// Every direct holder of `target`.
    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError>;

    /// Whether [`Connector::holders_of`] can list who holds `access` in this system.
    fn lists_holders_of(&self, access: &Access) -> bool {
        let _ = access;
        false
    }

    /// A mark that changes whenever who holds `access` to `target` changes (AD's `uSNChanged`,
    /// OpenLDAP's `entryCSN` of the group), read before [`Connector::holders_of`]: a pass whose
    /// mark, leases and declarations are as the last complete pass left them need not read the
    /// holders again (docs/reconciliation.md). `None`: the system offers no such mark, and every
    /// pass reads the holders.
    async fn holders_version(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let _ = (access, target);
        Ok(None)
    }

    /// Who holds `access` to `target`, through the system's change tracking (Graph's
    /// `groups/delta`): from `cursor` (a previous answer's), only the accounts added and removed
    /// since; without one, or when the system says the cursor expired, every holder (`complete`).
    /// `None`: the system tracks no changes of this kind; [`Connector::holders_of`] reads them.
    async fn holders_delta(
        &self,
        access: &Access,
        target: &str,
        cursor: Option<&str>,
    ) -> Result<Option<HoldersDelta>, ConnectorError> {
        let _ = (access, target, cursor);
        Ok(None)
    }

    /// Every account that holds the `access` to `target` directly now, whoever gave it, as
    /// the references `holding` and `revoke` take; reconciliation compares them with the
    /// leases. A kind the connector cannot list yet is refused.
    async fn holders_of(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let _ = target;
        Err(ConnectorError::Permanent(format!(
            "this connector cannot list who holds {} access yet",
            access.kind()
        )))
    }

    /// Whether [`Connector::outside_changes`] can read the target's own record of changes.
    fn records_changes_of(&self, access: &Access) -> bool {
        let _ = access;
        false
    }

    /// The changes made to `access` on `target` since `since` by anyone but this portal, as
    /// the target records them, oldest first; reconciliation tells them in the trail.
    async fn outside_changes(
        &self,
        access: &Access,
        target: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<OutsideChange>, ConnectorError> {
        let _ = (target, since);
        Err(ConnectorError::Permanent(format!(
            "this connector cannot read the changes made to {} access",
            access.kind()
        )))
    }

    /// The one form of an account reference that two spellings of it share (a directory's
    /// distinguished names differ in case and spacing; object ids in case).
    fn account_key(&self, reference: &str) -> String {
        reference.trim().to_lowercase()
    }

    /// Groups (inside `target`, at any depth) through which `account` already holds `target`
    /// without being a direct member: "also has it through group X".
    async fn indirect_paths(
        &self,
        target: &str,
        account: &str,
    ) -> Result<Vec<String>, ConnectorError>;

    /// Every group `account` belongs to, nested membership included; for eligibility rules.
    async fn groups_of(&self, account: &str) -> Result<Vec<String>, ConnectorError>;

    async fn health(&self) -> Health;

    /// The people of the directory who changed since `cursor` (a previous pass's), or
    /// everyone when there is none or it can no longer be followed: then the pass is
    /// complete.
    async fn people(&self, cursor: Option<&str>) -> Result<PeoplePass, ConnectorError> {
        let _ = cursor;
        Err(ConnectorError::Permanent(
            "this connector does not list people".into(),
        ))
    }

    /// The Entra tenant (lower case) whose people this connector reads and whose object ids
    /// its stable ids are; `None` for other directories.
    fn tenant(&self) -> Option<String> {
        None
    }

    /// One person by their stable id, as the people sync would read them (with their source
    /// anchor). `Ok(None)`: no such person, or a connector that does not read people.
    async fn person(&self, stable_id: &str) -> Result<Option<DirectoryPerson>, ConnectorError> {
        let _ = stable_id;
        Ok(None)
    }
}

/// The connectors by name, as the catalog declares them.
#[derive(Clone, Default)]
pub struct Connectors {
    by_name: HashMap<String, Arc<dyn Connector>>,
}

impl Connectors {
    pub fn insert(&mut self, name: impl Into<String>, connector: Arc<dyn Connector>) {
        self.by_name.insert(name.into(), connector);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.by_name.get(name).cloned()
    }

    /// The connectors that read the people of Entra tenant `tenant`, by name in order.
    pub fn of_tenant(&self, tenant: &str) -> Vec<Arc<dyn Connector>> {
        self.all()
            .into_iter()
            .filter(|(_, c)| {
                c.tenant()
                    .is_some_and(|t| t.eq_ignore_ascii_case(tenant.trim()))
            })
            .map(|(_, c)| c)
            .collect()
    }

    /// The same connectors, each call timed and classified in `metrics` (`/metrics`).
    pub fn measured(&self, metrics: &crate::server::app::metrics::Metrics) -> Connectors {
        let by_name = self
            .by_name
            .iter()
            .map(|(name, connector)| {
                let measured: Arc<dyn Connector> = Arc::new(measured::Measured::new(
                    name.clone(),
                    connector.clone(),
                    metrics.clone(),
                ));
                (name.clone(), measured)
            })
            .collect();
        Connectors { by_name }
    }

    /// Every connector, by name in order.
    pub fn all(&self) -> Vec<(String, Arc<dyn Connector>)> {
        let mut all: Vec<_> = self
            .by_name
            .iter()
            .map(|(name, c)| (name.clone(), c.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// A connector as the catalog declares it, tagged by `kind`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorSettings {
    Ldap(ldap::LdapSettings),
    Graph(graph::GraphSettings),
    Azure(azure::AzureSettings),
}

/// Where a connector's one secret comes from: an environment variable or a file in the
/// secrets directory (see `server::catalog::Trust`).
#[derive(Debug, Clone, Copy)]
pub struct SecretSource<'a> {
    /// What it is, for messages: "password", "client secret".
    pub what: &'static str,
    /// The settings' names for the two sources, for messages.
    pub env_key: &'static str,
    pub file_key: &'static str,
    pub env: Option<&'a str>,
    pub file: Option<&'a str>,
}

impl ConnectorSettings {
    pub fn kind(&self) -> ConnectorKind {
        match self {
            ConnectorSettings::Ldap(_) => ConnectorKind::Ldap,
            ConnectorSettings::Graph(_) => ConnectorKind::Graph,
            ConnectorSettings::Azure(_) => ConnectorKind::Azure,
        }
    }

    /// Whether this connector can give access of `kind` in this version. The catalog refuses
    /// entries it cannot give, so nobody requests what would only fail.
    pub fn gives(&self, kind: crate::domain::access::EntitlementKind) -> bool {
        use crate::domain::access::EntitlementKind as K;
        match self {
            ConnectorSettings::Ldap(_) => kind == K::AdGroup,
            ConnectorSettings::Graph(_) => {
                matches!(
                    kind,
                    K::EntraGroup | K::PimGroup | K::EntraRole | K::Team | K::SharepointSite
                )
            }
            ConnectorSettings::Azure(_) => kind == K::AzureVmPort,
        }
    }

    pub fn secret_source(&self) -> SecretSource<'_> {
        match self {
            ConnectorSettings::Ldap(s) => SecretSource {
                what: "password",
                env_key: "password_env",
                file_key: "password_file",
                env: s.password_env.as_deref(),
                file: s.password_file.as_deref(),
            },
            ConnectorSettings::Graph(s) if s.uses_certificate() => SecretSource {
                what: "client certificate",
                env_key: "client_certificate_env",
                file_key: "client_certificate_file",
                env: s.client_certificate_env.as_deref(),
                file: s.client_certificate_file.as_deref(),
            },
            ConnectorSettings::Graph(s) => SecretSource {
                what: "client secret",
                env_key: "client_secret_env",
                file_key: "client_secret_file",
                env: s.client_secret_env.as_deref(),
                file: s.client_secret_file.as_deref(),
            },
            ConnectorSettings::Azure(s) if s.uses_certificate() => SecretSource {
                what: "client certificate",
                env_key: "client_certificate_env",
                file_key: "client_certificate_file",
                env: s.client_certificate_env.as_deref(),
                file: s.client_certificate_file.as_deref(),
            },
            ConnectorSettings::Azure(s) => SecretSource {
                what: "client secret",
                env_key: "client_secret_env",
                file_key: "client_secret_file",
                env: s.client_secret_env.as_deref(),
                file: s.client_secret_file.as_deref(),
            },
        }
    }

    /// What may be stored and shown: everything but where secrets are.
    pub fn public(&self) -> serde_json::Value {
        match self {
            ConnectorSettings::Ldap(c) => serde_json::json!({
                "url": c.url, "starttls": c.starttls, "ca_file": c.ca_file,
                "tls_skip_verify": c.tls_skip_verify, "bind_dn": c.bind_dn,
                "user_base": c.user_base, "group_base": c.group_base,
                "account_attribute": format!("{:?}", c.account_attribute),
                "upn_domains": c.upn_domains,
            }),
            ConnectorSettings::Graph(c) => serde_json::json!({
                "tenant_id": c.tenant_id, "client_id": c.client_id,
                "credential": if c.uses_certificate() { "certificate" } else { "client secret" },
                "authority_url": c.authority_url, "graph_url": c.graph_url,
            }),
            ConnectorSettings::Azure(c) => serde_json::json!({
                "tenant_id": c.tenant_id, "client_id": c.client_id,
                "credential": if c.uses_certificate() { "certificate" } else { "client secret" },
                "authority_url": c.authority_url, "arm_url": c.arm_url, "graph_url": c.graph_url,
                "manages_jit_policy": c.manage_policy.as_ref().map(json_of_policy),
                "closing_source": c.closing_source,
            }),
        }
    }
}

/// The one factory: a connector from its settings and its secret.
pub fn build(
    name: &str,
    settings: &ConnectorSettings,
    secret: Secret,
) -> Result<Arc<dyn Connector>, ConnectorError> {
    Ok(match settings {
        ConnectorSettings::Ldap(s) => Arc::new(ldap::LdapDirectory::new(name, s.clone(), secret)?),
        ConnectorSettings::Graph(s) => Arc::new(graph::GraphTenant::new(name, s.clone(), secret)?),
        ConnectorSettings::Azure(s) => Arc::new(azure::AzureJit::new(name, s.clone(), secret)?),
    })
}

fn json_of_policy(policy: &azure::ManagedPolicy) -> serde_json::Value {
    serde_json::json!({
        "location": policy.location, "name": policy.name,
        "max_request_access_duration": policy.max_request_access_duration,
    })
}
