//! Every connector call timed and classified for `/metrics`, and traced: a decorator around
//! each connector that forwards every call, the defaulted ones included, unchanged.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::{
    Account, Connector, ConnectorError, DirectoryPerson, ExternalIdentities, Health, HoldersDelta,
    Lease, OutsideChange, PeoplePass, Receipt, Target,
};
use crate::domain::access::Access;
use crate::server::app::metrics::{self, CallClass, Metrics};

pub struct Measured {
    name: String,
    inner: Arc<dyn Connector>,
    metrics: Metrics,
}

impl Measured {
    pub fn new(name: impl Into<String>, inner: Arc<dyn Connector>, metrics: Metrics) -> Self {
        Self {
            name: name.into(),
            inner,
            metrics,
        }
    }

    async fn measure<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorError> {
        let span = tracing::info_span!("connector", connector = %self.name, operation);
        let started = Instant::now();
        let (result, waited) = metrics::counting_waits(call).instrument(span).await;
        let failure = result.as_ref().err().map(|e| match e {
            ConnectorError::Transient(_) => CallClass::Transient,
            ConnectorError::Throttled { .. } => CallClass::Throttled,
            ConnectorError::Permanent(_) => CallClass::Permanent,
        });
        self.metrics
            .connector_called(&self.name, operation, started.elapsed(), failure);
        if !waited.is_zero() {
            self.metrics.throttled(&self.name, waited);
        }
        result
    }
}

#[async_trait]
impl Connector for Measured {
    fn identities(&self) -> Option<&dyn ExternalIdentities> {
        self.inner.identities()
    }

    async fn find_account(&self, upn: &str) -> Result<Option<Account>, ConnectorError> {
        self.measure("find_account", self.inner.find_account(upn))
            .await
    }

    async fn account(&self, reference: &str) -> Result<Option<Account>, ConnectorError> {
        self.measure("account", self.inner.account(reference)).await
    }

    async fn accounts(&self, references: &[String]) -> Result<Vec<Account>, ConnectorError> {
        self.measure("accounts", self.inner.accounts(references))
            .await
    }

    async fn accounts_by_id(&self, stable_ids: &[String]) -> Result<Vec<Account>, ConnectorError> {
        self.measure("accounts_by_id", self.inner.accounts_by_id(stable_ids))
            .await
    }

    async fn account_by_id(&self, stable_id: &str) -> Result<Option<Account>, ConnectorError> {
        self.measure("account_by_id", self.inner.account_by_id(stable_id))
            .await
    }

    async fn target(
        &self,
        access: &Access,
        reference: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        self.measure("target", self.inner.target(access, reference))
            .await
    }

    async fn target_by_id(
        &self,
        access: &Access,
        stable_id: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        self.measure("target_by_id", self.inner.target_by_id(access, stable_id))
            .await
    }

    async fn grant(
        &self,
        access: &Access,
        target: &str,
        leases: &[Lease],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        self.measure("grant", self.inner.grant(access, target, leases))
            .await
    }

    async fn revoke(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        self.measure("revoke", self.inner.revoke(access, target, accounts))
            .await
    }

    async fn holding(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        self.measure("holding", self.inner.holding(access, target, accounts))
            .await
    }

    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError> {
        self.measure("holders", self.inner.holders(target)).await
    }

    fn lists_holders_of(&self, access: &Access) -> bool {
        self.inner.lists_holders_of(access)
    }

    async fn holders_version(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.measure(
            "holders_version",
            self.inner.holders_version(access, target),
        )
        .await
    }

    async fn holders_delta(
        &self,
        access: &Access,
        target: &str,
        cursor: Option<&str>,
    ) -> Result<Option<HoldersDelta>, ConnectorError> {
        self.measure(
            "holders_delta",
            self.inner.holders_delta(access, target, cursor),
        )
        .await
    }

    async fn holders_of(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        self.measure("holders_of", self.inner.holders_of(access, target))
            .await
    }

    fn records_changes_of(&self, access: &Access) -> bool {
        self.inner.records_changes_of(access)
    }

    async fn outside_changes(
        &self,
        access: &Access,
        target: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<OutsideChange>, ConnectorError> {
        self.measure(
            "outside_changes",
            self.inner.outside_changes(access, target, since),
        )
        .await
    }

    fn account_key(&self, reference: &str) -> String {
        self.inner.account_key(reference)
    }

    async fn indirect_paths(
        &self,
        target: &str,
        account: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        self.measure("indirect_paths", self.inner.indirect_paths(target, account))
            .await
    }

    async fn groups_of(&self, account: &str) -> Result<Vec<String>, ConnectorError> {
        self.measure("groups_of", self.inner.groups_of(account))
            .await
    }

    async fn health(&self) -> Health {
        let span = tracing::info_span!("connector", connector = %self.name, operation = "health");
        let started = Instant::now();
        let health = self.inner.health().instrument(span).await;
        let failure = matches!(health, Health::Down(_)).then_some(CallClass::Transient);
        self.metrics
            .connector_called(&self.name, "health", started.elapsed(), failure);
        health
    }

    async fn people(&self, cursor: Option<&str>) -> Result<PeoplePass, ConnectorError> {
        self.measure("people", self.inner.people(cursor)).await
    }

    fn tenant(&self) -> Option<String> {
        self.inner.tenant()
    }

    async fn person(&self, stable_id: &str) -> Result<Option<DirectoryPerson>, ConnectorError> {
        self.measure("person", self.inner.person(stable_id)).await
    }
}
