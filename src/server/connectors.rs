//! Connected systems, behind one trait named for what they do: add access, remove it, and say
//! who has it. Implementations are named for their technology ([`ldap::LdapDirectory`]).

pub mod ldap;
pub mod memory;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

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
}

/// A thing access is granted to (a group), as the system names it now and by its stable id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub reference: String,
    pub stable_id: Option<String>,
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
}

/// One connected system: a directory, a tenant. Calls are idempotent: adding a member who is
/// already there, or removing one who is gone, succeeds, so the engine may repeat any call.
#[async_trait]
pub trait Connector: Send + Sync {
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

    /// Reads a target by its reference, with its stable id. `Ok(None)`: no such target.
    async fn target(&self, reference: &str) -> Result<Option<Target>, ConnectorError>;

    /// Finds a target by its stable id, wherever it was renamed or moved to.
    async fn target_by_id(&self, stable_id: &str) -> Result<Option<Target>, ConnectorError>;

    /// Gives every account in `accounts` the access `target` stands for (one call, many members).
    async fn grant(&self, target: &str, accounts: &[String]) -> Result<(), ConnectorError>;

    /// Takes the access away from every account in `accounts`.
    async fn revoke(&self, target: &str, accounts: &[String]) -> Result<(), ConnectorError>;

    /// Which of `accounts` hold `target` directly now, as the same strings that were passed in;
    /// used to prove a removal.
    async fn holding(
        &self,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError>;

    /// Every direct holder of `target`.
    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError>;

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
}
