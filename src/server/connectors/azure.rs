//! `AzureJit`: an administration port (RDP, SSH) on an Azure VM, opened for a lease by
//! Microsoft Defender for Cloud's just-in-time VM access, through Azure Resource Manager
//! (`Microsoft.Security/locations/jitNetworkAccessPolicies`, api-version 2020-01-01) with
//! app-only tokens for ARM's own scope. People (accounts, managers, groups for eligibility and
//! approvers) come from the same tenant through Microsoft Graph, with the same credential.
//!
//! How Azure's JIT works, and so how this connector works:
//! - A VM's ports are in a JIT policy of its resource group. A request (`initiate`) opens a
//!   port to source addresses until an `endTimeUtc`; Azure closes it then by itself, so access
//!   ends even while the portal is down. Open connections survive the end: Azure changes the
//!   network rules, not the sessions.
//! - A newer request for a port supersedes the older one (`NewerRequestInitiated`), and there
//!   is no revoke. So every request this connector makes for a port names everyone who holds
//!   a lease on it (their address and end, in the request's justification, which Azure keeps),
//!   and lasts until the latest of their ends; when one lease ends, a new request with the
//!   others takes its place. When the last one ends early, a short request to an address no
//!   connection comes from (`closing_source`) takes its place. Holding is read back from the
//!   policy's request history: who is named in a request Azure has not revoked, and the
//!   requestor of an open request made in Azure directly (reconciliation's shadow access,
//!   ended the same way: a newer request without them).
//! - `initiate` answers 202 with a status the schema does not list (`Initiating`); any status
//!   but `Revoked` counts as open.
//!
//! Sources: `../shared/docs/microsoft-apis.md` §8 (the REST specification
//! `jitNetworkAccessPolicies.json` 2020-01-01, its examples, and the JIT overview).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::graph::{self, GraphSettings, GraphTenant, Written};
use super::{Account, Connector, ConnectorError, Health, Lease, OutsideChange, Receipt, Target};
use crate::domain::access::{Access, is_vm_resource_id};
use crate::domain::network::SourcePrefix;
use crate::server::app::config::Secret;

/// An Azure connector as the catalog declares it (`kind = "azure"`). The credential is the
/// app registration's client secret or certificate, as for Graph.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSettings {
    pub tenant_id: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<String>,
    #[serde(default)]
    pub client_certificate_env: Option<String>,
    #[serde(default)]
    pub client_certificate_file: Option<String>,
    #[serde(default = "GraphSettings::default_authority")]
    pub authority_url: String,
    /// Azure Resource Manager's root.
    #[serde(default = "AzureSettings::default_arm")]
    pub arm_url: String,
    /// Graph's root, where people are looked up.
    #[serde(default = "GraphSettings::default_graph")]
    pub graph_url: String,
    #[serde(default = "GraphSettings::default_timeout")]
    pub timeout_seconds: u64,
    /// When set, a VM or port missing from its resource group's JIT policy is added to it
    /// (read, modify, write the whole policy) with these rules. When absent, such an entry
    /// is refused with what to enable in Defender for Cloud.
    #[serde(default)]
    pub manage_policy: Option<ManagedPolicy>,
    /// Where a port is pointed when its last lease ends early (Azure has no revoke): an
    /// address no connection comes from. Default: 192.0.2.1, in a range reserved for
    /// documentation (RFC 5737) and never routed.
    #[serde(default = "AzureSettings::default_closing_source")]
    pub closing_source: String,
}

/// The rules a managed JIT policy gets for a port Leasegate adds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedPolicy {
    /// The VMs' Azure region, where Defender keeps the policy (`ascLocation`), e.g.
    /// `westeurope`.
    pub location: String,
    /// The policy's name; Defender's portal uses `default`.
    #[serde(default = "ManagedPolicy::default_name")]
    pub name: String,
    /// The longest one request may open the port, ISO 8601 (5 minutes to a day).
    #[serde(default = "ManagedPolicy::default_duration")]
    pub max_request_access_duration: String,
}

impl ManagedPolicy {
    fn default_name() -> String {
        "default".into()
    }

    fn default_duration() -> String {
        "PT3H".into()
    }
}

impl AzureSettings {
    fn default_arm() -> String {
        "https://management.azure.com".into()
    }

    fn default_closing_source() -> String {
        "192.0.2.1".into()
    }

    pub fn uses_certificate(&self) -> bool {
        self.client_certificate_env.is_some() || self.client_certificate_file.is_some()
    }

    /// The settings of the Graph client that looks people up; ARM's is the same with
    /// ARM's root.
    pub fn graph_settings(&self) -> GraphSettings {
        GraphSettings {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            client_secret_env: self.client_secret_env.clone(),
            client_secret_file: self.client_secret_file.clone(),
            client_certificate_env: self.client_certificate_env.clone(),
            client_certificate_file: self.client_certificate_file.clone(),
            authority_url: self.authority_url.clone(),
            graph_url: self.graph_url.clone(),
            timeout_seconds: self.timeout_seconds,
            write_budget_per_150s: 0,
        }
    }

    /// Problems a catalog check reports.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(problem) = SourcePrefix::parse(&self.closing_source) {
            problems.push(format!("closing_source: {problem}"));
        }
        if let Some(policy) = &self.manage_policy {
            match crate::domain::iso_duration::parse(&policy.max_request_access_duration) {
                Some(d) if d >= TimeDelta::minutes(5) && d <= TimeDelta::days(1) => {}
                _ => problems.push(format!(
                    "manage_policy.max_request_access_duration `{}` must be an ISO 8601 \
                     duration from PT5M to P1D",
                    policy.max_request_access_duration
                )),
            }
            if policy.location.trim().is_empty() {
                problems.push("manage_policy.location must name the VMs' Azure region".into());
            }
        }
        problems
    }
}

const API_VERSION: &str = "api-version=2020-01-01";
/// How a request this connector made names the leases it carries.
const LEASES_PREFIX: &str = "Leasegate leases: ";
/// Between the leases and the reason in a justification.
const REASON_SEPARATOR: &str = " | reason: ";
/// How long the request that closes a port early lasts.
const CLOSING_FOR: TimeDelta = TimeDelta::minutes(1);
/// A request ending sooner than this is left to Azure to close.
const AZURE_CLOSES_WITHIN: TimeDelta = TimeDelta::seconds(5);

/// See the module documentation.
pub struct AzureJit {
    name: String,
    settings: AzureSettings,
    arm: GraphTenant,
    directory: GraphTenant,
    /// One change at a time per VM port in this process: each request names every holder,
    /// so a grant and a removal that read the port at once would drop each other's change.
    ports: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// One person's lease as a request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    source: String,
    ends_at: DateTime<Utc>,
}

/// A VM's port in its JIT policy.
struct PortInPolicy {
    /// The policy's resource id, where `initiate` is posted.
    policy_id: String,
    /// `maxRequestAccessDuration` of the port's rule.
    longest: Option<TimeDelta>,
    /// The sources the rule allows requests from (`*`: any).
    allowed: Vec<String>,
    /// Who holds a lease on the port now, by account.
    holders: BTreeMap<String, Holder>,
}

impl AzureJit {
    pub fn new(
        name: impl Into<String>,
        settings: AzureSettings,
        secret: Secret,
    ) -> Result<Self, ConnectorError> {
        let name = name.into();
        let mut arm_settings = settings.graph_settings();
        arm_settings.graph_url = settings.arm_url.clone();
        let arm = GraphTenant::for_arm(&name, arm_settings, Secret::new(secret.expose()))?;
        let directory = GraphTenant::new(&name, settings.graph_settings(), secret)?;
        Ok(Self {
            name,
            settings,
            arm,
            directory,
            ports: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Waits for this process's other changes to the VM's port.
    async fn lock_port(&self, vm: &str, port: u16) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .ports
            .lock()
            .expect("port locks")
            .entry(format!("{}:{port}", vm.to_lowercase()))
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    fn arm_url(&self, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        self.arm.url(&format!("{path}{separator}{API_VERSION}"))
    }

    /// The JIT policies of the VM's resource group.
    async fn policies(&self, vm: &str) -> Result<Vec<Value>, ConnectorError> {
        let (subscription, group) = subscription_and_group(vm)?;
        let url = self.arm_url(&format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Security/jitNetworkAccessPolicies",
            graph::segment(subscription),
            graph::segment(group)
        ));
        self.arm.read_all_optional(&url).await?.ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "ARM 404: resource group `{group}` of subscription {subscription} does not exist \
                 or Leasegate's app cannot see it"
            ))
        })
    }

    /// The VM's port in its policy, with who holds it now; `None` when no policy has it.
    async fn port_in_policy(
        &self,
        vm: &str,
        port: u16,
    ) -> Result<Option<PortInPolicy>, ConnectorError> {
        let policies = self.policies(vm).await?;
        Ok(find_port(&policies, vm, port))
    }

    /// The port in its policy, added to the policy first when the connector manages it.
    async fn port_for_grant(&self, vm: &str, port: u16) -> Result<PortInPolicy, ConnectorError> {
        if let Some(found) = self.port_in_policy(vm, port).await? {
            return Ok(found);
        }
        let Some(managed) = &self.settings.manage_policy else {
            return Err(ConnectorError::Permanent(format!(
                "port {port} of {vm} is not in a just-in-time access policy: enable JIT VM \
                 access for this VM and port in Defender for Cloud (or set manage_policy on \
                 connector `{}`)",
                self.name
            )));
        };
        self.add_to_policy(vm, port, managed).await?;
        self.port_in_policy(vm, port).await?.ok_or_else(|| {
            ConnectorError::Transient(format!(
                "port {port} of {vm} was added to the JIT policy but does not show yet"
            ))
        })
    }

    /// Read, modify, write: the policy is replaced whole by a PUT, so the VMs and ports it
    /// has are kept and this one is added.
    async fn add_to_policy(
        &self,
        vm: &str,
        port: u16,
        managed: &ManagedPolicy,
    ) -> Result<(), ConnectorError> {
        let (subscription, group) = subscription_and_group(vm)?;
        let path = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Security/locations/{}/jitNetworkAccessPolicies/{}",
            graph::segment(subscription),
            graph::segment(group),
            graph::segment(&managed.location),
            graph::segment(&managed.name)
        );
        let url = self.arm_url(&path);
        let current = self.arm.read_optional(&url).await?;
        let mut machines = current
            .as_ref()
            .and_then(|p| p["properties"]["virtualMachines"].as_array().cloned())
            .unwrap_or_default();
        let rule = json!({
            "number": port, "protocol": "*", "allowedSourceAddressPrefix": "*",
            "maxRequestAccessDuration": managed.max_request_access_duration,
        });
        match machines.iter_mut().find(|m| {
            m["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(vm))
        }) {
            Some(machine) => match machine["ports"].as_array_mut() {
                Some(ports) => ports.push(rule),
                None => machine["ports"] = json!([rule]),
            },
            None => machines.push(json!({ "id": vm, "ports": [rule] })),
        }
        let body = json!({
            "kind": current.as_ref().and_then(|p| p["kind"].as_str()).unwrap_or("Basic"),
            "properties": { "virtualMachines": machines },
        });
        match self.arm.write(Method::PUT, &url, Some(&body), 1).await? {
            Written::Done(_) => {
                tracing::info!(connector = %self.name, vm, port, "added to the JIT policy");
                Ok(())
            }
            // A PUT of the whole policy may be repeated; the next read shows what holds.
            Written::Uncertain(detail) => Err(ConnectorError::Transient(detail)),
            Written::Refused(answer) => Err(graph::refusal(&answer)),
        }
    }

    /// Opens the port to `holders` until the latest of their ends (or to the closing
    /// source for a minute when there are none), superseding the request before.
    async fn initiate(
        &self,
        vm: &str,
        port: u16,
        found: &PortInPolicy,
        holders: &BTreeMap<String, Holder>,
        reason: &str,
    ) -> Result<Value, ConnectorError> {
        let now = Utc::now();
        let (sources, ends_at, justification) = if holders.is_empty() {
            (
                vec![closing_source(
                    &self.settings.closing_source,
                    &found.allowed,
                )?],
                now + CLOSING_FOR,
                "Leasegate: closed early; no lease holds this port".to_string(),
            )
        } else {
            let mut sources: Vec<String> = holders.values().map(|h| h.source.clone()).collect();
            sources.sort();
            sources.dedup();
            let ends_at = holders
                .values()
                .map(|h| h.ends_at)
                .max()
                .expect("holders are not empty");
            (sources, ends_at, justification(holders, reason))
        };
        if let Some(longest) = found.longest
            && ends_at - now > longest
        {
            return Err(ConnectorError::Permanent(format!(
                "the JIT policy opens port {port} of {vm} for at most {} minutes, but the lease \
                 runs until {}: raise maxRequestAccessDuration in Defender for Cloud or \
                 shorten the catalog's maximum for this entry",
                longest.num_minutes(),
                ends_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )));
        }
        if !holders.is_empty() {
            for source in &sources {
                if !allowed_by(&found.allowed, source) {
                    return Err(ConnectorError::Permanent(format!(
                        "the JIT policy of {vm} allows port {port} to be opened only from {}, \
                         not from {source}",
                        found.allowed.join(", ")
                    )));
                }
            }
        }
        let body = json!({
            "virtualMachines": [{
                "id": vm,
                "ports": [{
                    "number": port,
                    "endTimeUtc": ends_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "allowedSourceAddressPrefixes": sources,
                }],
            }],
            "justification": justification,
        });
        let url = self.arm_url(&format!("{}/initiate", found.policy_id));
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.arm.write(Method::POST, &url, Some(&body), 1).await? {
                Written::Done(answer) => return Ok(answer.body),
                // A request that supersedes the one before is safe to send again: the
                // newest one with the same holders is the same access.
                Written::Uncertain(detail) if attempt < graph::ATTEMPTS => {
                    tracing::debug!(connector = %self.name, %detail, "JIT initiate uncertain; again");
                    let wait = graph::backoff(attempt);
                    crate::server::app::metrics::waited(wait);
                    tokio::time::sleep(wait).await;
                }
                Written::Uncertain(detail) => return Err(ConnectorError::Transient(detail)),
                Written::Refused(answer) => return Err(graph::refusal(&answer)),
            }
        }
    }
}

/// Where a port is pointed when its last lease ends early: the configured closing address
/// if the port's rule allows it, else the first address of the first network the rule allows
/// (a network's own address, which no host uses), since Azure refuses sources outside the
/// rule. A rule of single hosts (/31, /32, /127, /128) has no such address: any of them may be
/// the person whose lease ended, so the port is left to Azure's own end (the removal stays
/// due, and is proven once Azure has closed it).
fn closing_source(configured: &str, allowed: &[String]) -> Result<String, ConnectorError> {
    let configured =
        SourcePrefix::parse(configured).map_err(|p| ConnectorError::Permanent(p.to_string()))?;
    if allowed_by(allowed, &configured.to_string()) {
        return Ok(configured.to_string());
    }
    allowed
        .iter()
        .filter_map(|a| SourcePrefix::parse(a).ok())
        .filter(|a| match a.address() {
            std::net::IpAddr::V4(_) => a.length() < 31,
            std::net::IpAddr::V6(_) => a.length() < 127,
        })
        .map(|a| {
            SourcePrefix::parse(&a.address().to_string())
                .expect("an address is a prefix")
                .to_string()
        })
        .next()
        .ok_or_else(|| {
            ConnectorError::Transient(
                "the port's JIT rule allows only single addresses, none of which can close it \
                 early; Azure closes it at the end of its request"
                    .into(),
            )
        })
}

fn port_of(access: &Access, connector: &str) -> Result<(u16, Option<String>), ConnectorError> {
    match access {
        Access::AzureVmPort { port, source } => Ok((*port, source.clone())),
        other => Err(ConnectorError::unsupported(connector, other)),
    }
}

/// The subscription and resource group of a VM's resource id.
fn subscription_and_group(vm: &str) -> Result<(&str, &str), ConnectorError> {
    if !is_vm_resource_id(vm) {
        return Err(ConnectorError::Permanent(format!(
            "`{vm}` is not an Azure VM's resource id"
        )));
    }
    let parts: Vec<&str> = vm.split('/').collect();
    Ok((parts[2], parts[4]))
}

/// Finds the VM's port in `policies` and reads who holds it from their requests.
fn find_port(policies: &[Value], vm: &str, port: u16) -> Option<PortInPolicy> {
    let same_vm = |v: &Value| {
        v["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(vm))
    };
    for policy in policies {
        let properties = &policy["properties"];
        let Some(rule) = properties["virtualMachines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| same_vm(m))
            .flat_map(|m| m["ports"].as_array().into_iter().flatten())
            .find(|p| p["number"].as_u64() == Some(u64::from(port)))
        else {
            continue;
        };
        let mut allowed: Vec<String> = rule["allowedSourceAddressPrefixes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        if let Some(one) = rule["allowedSourceAddressPrefix"].as_str() {
            allowed.push(one.to_string());
        }
        return Some(PortInPolicy {
            policy_id: policy["id"].as_str().unwrap_or_default().to_string(),
            longest: rule["maxRequestAccessDuration"]
                .as_str()
                .and_then(crate::domain::iso_duration::parse),
            allowed,
            holders: open_anywhere(policies, vm, port),
        });
    }
    None
}

/// Who holds the port by the open requests of every policy of the group: a request stays open
/// until its end even when the port's rule has been taken out of the policy since.
fn open_anywhere(policies: &[Value], vm: &str, port: u16) -> BTreeMap<String, Holder> {
    let requests: Vec<Value> = policies
        .iter()
        .flat_map(|p| {
            p["properties"]["requests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    open_holders(Some(&requests), vm, port)
}

/// Who is named in the requests for this port that Azure has not revoked. With Azure
/// superseding older requests that is the newest one; if it ever keeps several open, each
/// counts, so nothing open is missed.
fn open_holders(requests: Option<&Vec<Value>>, vm: &str, port: u16) -> BTreeMap<String, Holder> {
    let mut holders = BTreeMap::new();
    let mut open: Vec<&Value> = requests
        .into_iter()
        .flatten()
        .filter(|r| {
            r["virtualMachines"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| {
                    m["id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(vm))
                })
                .flat_map(|m| m["ports"].as_array().into_iter().flatten())
                .any(|p| {
                    p["number"].as_u64() == Some(u64::from(port))
                        && !p["status"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case("Revoked"))
                })
        })
        .collect();
    // Oldest first, so a newer request's word about a person wins.
    open.sort_by_key(|r| {
        r["startTimeUtc"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    });
    for request in open {
        holders.extend(parse_justification(
            request["justification"].as_str().unwrap_or(""),
        ));
    }
    holders
}

/// Who holds the port: the accounts the portal's open requests name, and the requestor of
/// every open request made in Azure directly (it names nobody the portal knows).
fn port_holders(policies: &[Value], vm: &str, port: u16, own: &str) -> BTreeSet<String> {
    let mut holders: BTreeSet<String> = open_anywhere(policies, vm, port).into_keys().collect();
    holders.extend(
        outside_requests(policies, vm, port, own)
            .into_iter()
            .filter(|r| r.open)
            .map(|r| r.change.account),
    );
    holders
}

/// A JIT request for a port made in Azure directly, and whether the port is still open by it.
struct OutsideRequest {
    change: OutsideChange,
    open: bool,
}

/// The requests of every policy of the group for `vm`'s `port` that this portal did not make:
/// a request is the portal's when its requestor is the portal's application (`own`), or when
/// its justification names the leases it carries (so a forged one naming real accounts still
/// shows them as holders, and one naming nobody counts as made outside). Azure gives requests
/// no id: one is made of the VM, the port, the start and the requestor.
fn outside_requests(policies: &[Value], vm: &str, port: u16, own: &str) -> Vec<OutsideRequest> {
    let mut found = Vec::new();
    for request in policies
        .iter()
        .flat_map(|p| p["properties"]["requests"].as_array().into_iter().flatten())
    {
        let requestor = request["requestor"].as_str().unwrap_or_default();
        let justification = request["justification"].as_str().unwrap_or_default();
        if requestor.eq_ignore_ascii_case(own) || !parse_justification(justification).is_empty() {
            continue;
        }
        let Some(started) = request["startTimeUtc"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
        else {
            continue;
        };
        for rule in request["virtualMachines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(vm))
            })
            .flat_map(|m| m["ports"].as_array().into_iter().flatten())
            .filter(|p| p["number"].as_u64() == Some(u64::from(port)))
        {
            let status = rule["status"].as_str().unwrap_or_default().to_string();
            let ends_at = rule["endTimeUtc"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            found.push(OutsideRequest {
                open: !status.eq_ignore_ascii_case("Revoked"),
                change: OutsideChange {
                    id: format!(
                        "{}|{port}|{}|{}",
                        vm.to_lowercase(),
                        started.to_rfc3339_opts(SecondsFormat::Millis, true),
                        requestor.to_lowercase()
                    ),
                    at: started,
                    account: requestor.to_lowercase(),
                    action: "initiate".into(),
                    status,
                    made_by: format!("requestor {requestor}"),
                    justification: Some(justification.to_string()).filter(|j| !j.trim().is_empty()),
                    starts_at: Some(started),
                    ends_at,
                },
            });
        }
    }
    found
}

/// `Leasegate leases: <account> <source> until <end>; ... | reason: <text>`.
fn justification(holders: &BTreeMap<String, Holder>, reason: &str) -> String {
    let leases: Vec<String> = holders
        .iter()
        .map(|(account, h)| {
            format!(
                "{account} {} until {}",
                h.source,
                h.ends_at.to_rfc3339_opts(SecondsFormat::Millis, true)
            )
        })
        .collect();
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    format!(
        "{LEASES_PREFIX}{}{REASON_SEPARATOR}{reason}",
        leases.join("; ")
    )
}

fn parse_justification(text: &str) -> BTreeMap<String, Holder> {
    let Some(rest) = text.strip_prefix(LEASES_PREFIX) else {
        return BTreeMap::new();
    };
    let leases = rest.split(REASON_SEPARATOR).next().unwrap_or("");
    leases
        .split("; ")
        .filter_map(|lease| {
            let mut words = lease.split(' ');
            let (account, source, until, end) =
                (words.next()?, words.next()?, words.next()?, words.next()?);
            if until != "until" || words.next().is_some() {
                return None;
            }
            let ends_at = DateTime::parse_from_rfc3339(end).ok()?.with_timezone(&Utc);
            Some((
                account.to_string(),
                Holder {
                    source: source.to_string(),
                    ends_at,
                },
            ))
        })
        .collect()
}

/// Whether the port's rule allows opening it to `source`.
fn allowed_by(allowed: &[String], source: &str) -> bool {
    let Ok(source) = SourcePrefix::parse(source) else {
        return false;
    };
    allowed.is_empty()
        || allowed.iter().any(|a| {
            a == "*"
                || a.eq_ignore_ascii_case("Internet")
                || SourcePrefix::parse(a).is_ok_and(|a| a.contains(&source))
        })
}

#[async_trait]
impl Connector for AzureJit {
    async fn find_account(&self, upn: &str) -> Result<Option<Account>, ConnectorError> {
        self.directory.find_account(upn).await
    }

    async fn account(&self, reference: &str) -> Result<Option<Account>, ConnectorError> {
        self.directory.account(reference).await
    }

    async fn accounts(&self, references: &[String]) -> Result<Vec<Account>, ConnectorError> {
        self.directory.accounts(references).await
    }

    async fn accounts_by_id(&self, stable_ids: &[String]) -> Result<Vec<Account>, ConnectorError> {
        self.directory.accounts_by_id(stable_ids).await
    }

    /// The VM as its policy names it. A VM in no policy is still a target when the
    /// connector manages the policy (it is added at the first grant).
    async fn target(
        &self,
        access: &Access,
        reference: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        port_of(access, &self.name)?;
        let policies = self.policies(reference).await?;
        let named = policies
            .iter()
            .flat_map(|p| {
                p["properties"]["virtualMachines"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .filter_map(|m| m["id"].as_str())
            .find(|id| id.eq_ignore_ascii_case(reference))
            .map(str::to_string);
        let reference = match named {
            Some(id) => id,
            None if self.settings.manage_policy.is_some() => reference.to_string(),
            None => return Ok(None),
        };
        Ok(Some(Target {
            stable_id: Some(reference.to_lowercase()),
            reference,
        }))
    }

    /// ARM ids do not change while a VM stays in its resource group; a VM moved to another
    /// group is a new target for the catalog.
    async fn target_by_id(
        &self,
        access: &Access,
        stable_id: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        self.target(access, stable_id).await
    }

    async fn grant(
        &self,
        access: &Access,
        target: &str,
        leases: &[Lease],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        let (port, fixed) = port_of(access, &self.name)?;
        let _one_at_a_time = self.lock_port(target, port).await;
        let found = self.port_for_grant(target, port).await?;
        let now = Utc::now();
        let mut holders: BTreeMap<String, Holder> = found
            .holders
            .iter()
            .filter(|(_, h)| h.ends_at > now)
            .map(|(a, h)| (a.clone(), h.clone()))
            .collect();
        for lease in leases {
            let source = lease
                .source
                .clone()
                .or_else(|| fixed.clone())
                .ok_or_else(|| {
                    ConnectorError::Permanent(format!(
                        "the request for port {port} of {target} names no source address"
                    ))
                })?;
            let source = SourcePrefix::parse(&source)
                .map_err(|p| ConnectorError::Permanent(p.to_string()))?
                .to_string();
            holders.insert(
                lease.account.clone(),
                Holder {
                    source,
                    ends_at: lease.ends_at,
                },
            );
        }
        let reason = leases.last().map(|l| l.reason.as_str()).unwrap_or("");
        let answer = self
            .initiate(target, port, &found, &holders, reason)
            .await?;
        // Read back: another process may have changed the port between our read and our
        // request; then this grant is not done, and the engine tries again.
        let now_open = open_anywhere(&self.policies(target).await?, target, port);
        if let Some(missing) = leases.iter().find(|l| !now_open.contains_key(&l.account)) {
            return Err(ConnectorError::Transient(format!(
                "port {port} of {target} was changed at the same time; {} is not named in its \
                 open request yet",
                missing.account
            )));
        }
        let status = answer["virtualMachines"][0]["ports"][0]["status"].clone();
        let azure_end = answer["virtualMachines"][0]["ports"][0]["endTimeUtc"].clone();
        Ok(leases
            .iter()
            .map(|lease| Receipt {
                account: lease.account.clone(),
                detail: json!({
                    "jit_policy": found.policy_id,
                    "jit_request_start": answer["startTimeUtc"],
                    "jit_status": status,
                    "jit_source": holders.get(&lease.account).map(|h| h.source.clone()),
                    "jit_open_until": azure_end,
                }),
            })
            .collect())
    }

    async fn revoke(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        let (port, _) = port_of(access, &self.name)?;
        let _one_at_a_time = self.lock_port(target, port).await;
        let policies = self.policies(target).await?;
        let Some(found) = find_port(&policies, target, port) else {
            // Out of every policy: no new request can be made for the port, but a request
            // Azure still keeps open stays open until its end.
            let open = open_anywhere(&policies, target, port);
            return match accounts.iter().find_map(|a| open.get(a)) {
                None => Ok(()),
                Some(holder) => Err(ConnectorError::Transient(format!(
                    "port {port} of {target} is no longer in a JIT policy, so it cannot be \
                     closed early; Azure closes the open request at {}",
                    holder.ends_at.to_rfc3339_opts(SecondsFormat::Secs, true)
                ))),
            };
        };
        // A request made in Azure directly (reconciliation removing shadow access) is ended
        // the same way as a lease: a newer request, naming only who remains, supersedes it.
        let outside: BTreeSet<String> =
            outside_requests(&policies, target, port, &self.settings.client_id)
                .into_iter()
                .filter(|r| r.open)
                .map(|r| r.change.account)
                .collect();
        let theirs = accounts.iter().any(|a| outside.contains(&a.to_lowercase()));
        if !theirs && !accounts.iter().any(|a| found.holders.contains_key(a)) {
            return Ok(());
        }
        let now = Utc::now();
        let remaining: BTreeMap<String, Holder> = found
            .holders
            .iter()
            .filter(|(a, h)| !accounts.contains(a) && h.ends_at > now)
            .map(|(a, h)| (a.clone(), h.clone()))
            .collect();
        if remaining.is_empty() && !theirs {
            // The last lease: Azure closes the port at the request's end by itself. Only an
            // early end needs a request of its own to supersede it.
            let latest = found.holders.values().map(|h| h.ends_at).max();
            if latest.is_some_and(|end| end - now <= AZURE_CLOSES_WITHIN) {
                return Ok(());
            }
        }
        self.initiate(target, port, &found, &remaining, "ends another lease")
            .await
            .map(|_| ())
    }

    async fn holding(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        let (port, _) = port_of(access, &self.name)?;
        let held = port_holders(
            &self.policies(target).await?,
            target,
            port,
            &self.settings.client_id,
        );
        Ok(accounts
            .iter()
            .filter(|a| held.contains(*a) || held.contains(&a.to_lowercase()))
            .cloned()
            .collect())
    }

    fn lists_holders_of(&self, access: &Access) -> bool {
        matches!(access, Access::AzureVmPort { .. })
    }

    /// Who holds the port, whoever opened it ([`port_holders`]).
    async fn holders_of(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let (port, _) = port_of(access, &self.name)?;
        let policies = self.policies(target).await?;
        Ok(
            port_holders(&policies, target, port, &self.settings.client_id)
                .into_iter()
                .collect(),
        )
    }

    fn records_changes_of(&self, access: &Access) -> bool {
        matches!(access, Access::AzureVmPort { .. })
    }

    /// JIT requests for the port made in Azure directly (the portal's own carry its leases),
    /// from the policies' request history, oldest first.
    async fn outside_changes(
        &self,
        access: &Access,
        target: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<OutsideChange>, ConnectorError> {
        let (port, _) = port_of(access, &self.name)?;
        let policies = self.policies(target).await?;
        let mut changes: Vec<OutsideChange> =
            outside_requests(&policies, target, port, &self.settings.client_id)
                .into_iter()
                .map(|r| r.change)
                .filter(|c| c.at >= since)
                .collect();
        changes.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        Ok(changes)
    }

    /// Approver groups are Entra groups.
    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError> {
        self.directory.holders(target).await
    }

    async fn indirect_paths(
        &self,
        _target: &str,
        _account: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        Ok(Vec::new())
    }

    async fn groups_of(&self, account: &str) -> Result<Vec<String>, ConnectorError> {
        self.directory.groups_of(account).await
    }

    async fn health(&self) -> Health {
        let url = self.arm_url("/subscriptions");
        match self.arm.read(&url).await {
            Ok(_) => self.directory.health().await,
            Err(e) => Health::Down(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn justifications_carry_each_lease_and_read_back() {
        let mut holders = BTreeMap::new();
        holders.insert(
            "a1".to_string(),
            Holder {
                source: "203.0.113.7/32".into(),
                ends_at: at("2026-11-28T14:00:00Z"),
            },
        );
        holders.insert(
            "b2".to_string(),
            Holder {
                source: "198.51.100.0/24".into(),
                ends_at: at("2026-11-28T15:30:00Z"),
            },
        );
        let text = justification(&holders, "patch night; see CHG-1 | reason: x\nmore");
        assert!(text.starts_with(LEASES_PREFIX));
        assert!(!text.contains('\n'));
        assert_eq!(parse_justification(&text), holders);
        assert!(parse_justification("testing a new version of the product").is_empty());
        assert!(
            parse_justification("Leasegate: closed early; no lease holds this port").is_empty()
        );
    }

    #[test]
    fn open_requests_name_the_holders_and_revoked_ones_do_not() {
        let vm = "/subscriptions/6f1c2d3e-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1";
        let request = |start: &str, status: &str, who: &str| {
            json!({
                "startTimeUtc": start,
                "justification": format!("{LEASES_PREFIX}{who} 203.0.113.7/32 until 2026-11-28T14:00:00Z"),
                "virtualMachines": [{"id": vm.to_uppercase(), "ports": [{"number": 22, "status": status}]}],
            })
        };
        let requests = vec![
            request("2026-11-28T10:00:00Z", "Revoked", "old"),
            request("2026-11-28T11:00:00Z", "Initiating", "new"),
        ];
        let holders = open_holders(Some(&requests), vm, 22);
        assert_eq!(holders.keys().collect::<Vec<_>>(), ["new"]);
        assert!(open_holders(Some(&requests), vm, 3389).is_empty());
    }

    #[test]
    fn requests_made_in_azure_directly_are_outside_changes() {
        let vm = "/subscriptions/6f1c2d3e-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1";
        let request = |requestor: &str, justification: String, status: &str| {
            json!({
                "startTimeUtc": "2026-12-05T10:00:00Z", "requestor": requestor,
                "justification": justification,
                "virtualMachines": [{"id": vm, "ports": [
                    {"number": 22, "status": status, "endTimeUtc": "2026-12-05T13:00:00Z"}]}],
            })
        };
        let ours = format!("{LEASES_PREFIX}adele 203.0.113.7/32 until 2026-12-05T13:00:00Z");
        let policies = vec![json!({"properties": {"requests": [
            request("Portal-App", "anything".into(), "Initiated"),
            request("someone", ours, "Initiated"),
            request("Mallory@contoso.test", "just looking".into(), "Initiated"),
            request("eve", format!("{LEASES_PREFIX}nobody"), "Revoked"),
        ]}})];
        let found = outside_requests(&policies, vm, 22, "portal-app");
        let who: Vec<(&str, bool)> = found
            .iter()
            .map(|r| (r.change.account.as_str(), r.open))
            .collect();
        assert_eq!(who, [("mallory@contoso.test", true), ("eve", false)]);
        let change = &found[0].change;
        assert_eq!(change.justification.as_deref(), Some("just looking"));
        assert_eq!(
            change.ends_at.unwrap() - change.starts_at.unwrap(),
            TimeDelta::hours(3)
        );
        assert!(outside_requests(&policies, vm, 3389, "portal-app").is_empty());
    }

    #[test]
    fn a_port_closes_to_an_address_its_rule_allows() {
        assert_eq!(
            closing_source("192.0.2.1", &["*".into()]).unwrap(),
            "192.0.2.1/32"
        );
        assert_eq!(
            closing_source("192.0.2.1", &["198.51.100.0/24".into()]).unwrap(),
            "198.51.100.0/32"
        );
        assert!(closing_source("192.0.2.1", &["not an address".into()]).is_err());
        // A single host may be the person whose lease ended: never pointed at.
        let hosts = ["203.0.113.7/32".to_string(), "2001:db8::7/128".to_string()];
        assert!(
            !closing_source("192.0.2.1", &hosts)
                .unwrap_err()
                .is_permanent()
        );
    }

    #[test]
    fn a_rule_allows_sources_inside_its_prefixes() {
        assert!(allowed_by(&["*".into()], "203.0.113.7/32"));
        assert!(allowed_by(&["203.0.113.0/24".into()], "203.0.113.7/32"));
        assert!(!allowed_by(&["203.0.113.0/24".into()], "198.51.100.7/32"));
        assert!(!allowed_by(&["*".into()], "not an address"));
    }
}
