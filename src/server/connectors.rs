//! Connected systems, behind one trait named for what they do: add access, remove it, and say
//! who has it. Implementations are named for their technology ([`ldap::LdapDirectory`]).

pub mod ldap;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// A person's account in a connected system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// How the system names the account (an LDAP DN).
    pub reference: String,
    pub upn: Option<String>,
    pub display_name: Option<String>,
    pub department: Option<String>,
    /// The manager's account reference, when the system knows it.
    pub manager: Option<String>,
}

/// What the connector could say about its system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
