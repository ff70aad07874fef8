//! Azure Resource Manager: Defender for Cloud's just-in-time VM access
//! (`Microsoft.Security/locations/jitNetworkAccessPolicies`, api-version 2020-01-01), from the
//! REST specification `jitNetworkAccessPolicies.json`, its examples, and the JIT overview
//! (§8 and §11.3 of `../shared/docs/microsoft-apis.md`).
//!
//! - `PUT` replaces a policy whole (its request history is kept); ports are checked as the
//!   schema says (number, protocol, `maxRequestAccessDuration` from 5 minutes to a day, one
//!   of `allowedSourceAddressPrefix` or `…Prefixes`).
//! - `initiate` checks the VM and port against the policy, the end against the port's
//!   maximum and the sources against the allowed ones; answers 202 with the status of the
//!   example (`Initiating`, a value the schema does not list; a switch gives `Initiated`);
//!   records the request; supersedes the older open request for the same port
//!   (`NewerRequestInitiated`, a switch); and closes it on the simulator's clock (`Revoked`,
//!   `Expired`). There is no revoke, as in the service.
//! - Errors use ARM's CloudError envelope; RBAC is the app's registered actions
//!   (`Microsoft.Security/locations/jitNetworkAccessPolicies/{read,write,delete,initiate/action}`
//!   or `*`), refused with `AuthorizationFailed`.
//! - The network rules a port has open (what Defender writes into the NSG) are shown by
//!   `/__sim__/state` under `jit.open`.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use super::{Caller, GraphError, SimState, Simulator, empty, json_response};
use crate::duration as iso_duration;
use crate::prefix::SourcePrefix;

type Handled = Result<Response, GraphError>;

const PROVIDER: &str = "Microsoft.Security";
const ACTION: &str = "Microsoft.Security/locations/jitNetworkAccessPolicies";
pub(super) const API_VERSIONS: &[&str] = &["2020-01-01", "2015-06-01-preview"];

/// One JIT policy as the simulator keeps it.
#[derive(Debug, Clone)]
pub(crate) struct JitPolicy {
    pub id: String,
    pub name: String,
    pub location: String,
    pub kind: String,
    pub virtual_machines: Vec<Value>,
    pub requests: Vec<Value>,
}

impl JitPolicy {
    fn resource(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Security/locations/jitNetworkAccessPolicies",
            "location": self.location,
            "kind": self.kind,
            "properties": {
                "virtualMachines": self.virtual_machines,
                "requests": self.requests,
                "provisioningState": "Succeeded",
            },
        })
    }

    /// The rule of `port` on `vm`, if the policy has it.
    fn rule(&self, vm: &str, port: u64) -> Option<&Value> {
        self.virtual_machines
            .iter()
            .filter(|m| same(&m["id"], vm))
            .flat_map(|m| m["ports"].as_array().into_iter().flatten())
            .find(|p| p["number"].as_u64() == Some(port))
    }
}

fn same(value: &Value, id: &str) -> bool {
    value.as_str().is_some_and(|v| v.eq_ignore_ascii_case(id))
}

/// ARM's 404 for a resource.
fn not_found(kind: &str, name: &str, group: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource '{kind}/{name}' under resource group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        ),
    )
}

fn group_not_found(group: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ResourceGroupNotFound",
        format!("Resource group '{group}' could not be found."),
    )
}

/// A request the service refuses on its content. The JIT-specific codes are not documented
/// [UNVERIFIED]; ARM's generic `BadRequest` is used.
fn bad(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// `AuthorizationFailed`, worded as ARM words it.
fn require(caller: &Caller, action: &str, scope: &str) -> Result<(), GraphError> {
    let wanted = format!("{ACTION}/{action}");
    if caller.roles.iter().any(|r| r == "*" || *r == wanted) {
        return Ok(());
    }
    Err(GraphError::new(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{app}' with object id '{app}' does not have authorization to perform action '{wanted}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            app = caller.app
        ),
    ))
}

impl SimState {
    /// Closes JIT requests whose end has come on the simulator's clock.
    pub(crate) fn advance_jit(&mut self) {
        let now = self.now();
        for policy in self.jit.values_mut() {
            for request in &mut policy.requests {
                for port in ports_of_mut(request) {
                    if status_is(port, "Revoked") {
                        continue;
                    }
                    let ended = port["endTimeUtc"]
                        .as_str()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|end| end <= now);
                    if ended {
                        port["status"] = json!("Revoked");
                        port["statusReason"] = json!("Expired");
                    }
                }
            }
        }
    }

    fn group_exists(&self, subscription: &str, group: &str) -> bool {
        let prefix =
            format!("/subscriptions/{subscription}/resourcegroups/{group}/").to_lowercase();
        self.vms.iter().any(|vm| vm.starts_with(&prefix))
            || self.jit.keys().any(|id| id.starts_with(&prefix))
    }
}

fn ports_of_mut(request: &mut Value) -> impl Iterator<Item = &mut Value> {
    request["virtualMachines"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .flat_map(|m| m["ports"].as_array_mut().into_iter().flatten())
}

fn status_is(port: &Value, status: &str) -> bool {
    port["status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case(status))
}

fn policy_id(subscription: &str, group: &str, location: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{group}/providers/{PROVIDER}/locations/{location}/jitNetworkAccessPolicies/{name}"
    )
}

/// `GET /subscriptions`: the subscriptions the simulator knows (from its VMs and policies).
pub(super) async fn subscriptions(State(sim): State<Simulator>) -> Handled {
    let value: Vec<Value> = sim.with(|s| {
        let mut ids: Vec<String> = s
            .vms
            .iter()
            .chain(s.jit.keys())
            .filter_map(|id| id.split('/').nth(2).map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .map(|id| {
                json!({
                    "id": format!("/subscriptions/{id}"), "subscriptionId": id,
                    "displayName": "Simulated subscription", "state": "Enabled",
                })
            })
            .collect()
    });
    Ok(json_response(StatusCode::OK, json!({ "value": value })))
}

/// `GET /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/jitNetworkAccessPolicies`:
/// the group's policies, paged with ARM's `nextLink`.
pub(super) async fn list(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((subscription, group)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Handled {
    let scope = format!("/subscriptions/{subscription}/resourceGroups/{group}");
    require(&caller, "read", &scope)?;
    let (items, page_size) = sim.with(|s| {
        if !s.group_exists(&subscription, &group) {
            return Err(group_not_found(&group));
        }
        let prefix = format!("{scope}/").to_lowercase();
        let items: Vec<Value> = s
            .jit
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|(_, p)| p.resource())
            .collect();
        Ok((items, s.config.arm_page_size.max(1)))
    })?;
    let offset = match params.get("$skipToken") {
        None => 0,
        Some(token) => super::directory::read_skip_token(&sim, token)
            .ok_or_else(|| bad("The skip token is not valid."))?,
    };
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(offset).take(page_size).collect();
    let mut body = json!({ "value": value });
    if offset + page_size < total {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("management.azure.com");
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            if k != "$skipToken" {
                query.append_pair(k, v);
            }
        }
        query.append_pair(
            "$skipToken",
            &super::directory::skip_token(&sim, offset + page_size),
        );
        body["nextLink"] = json!(format!("http://{host}{}?{}", uri.path(), query.finish()));
    }
    Ok(json_response(StatusCode::OK, body))
}

type PolicyPath = (String, String, String, String);

/// `GET …/locations/{loc}/jitNetworkAccessPolicies/{name}`.
pub(super) async fn get_policy(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((subscription, group, location, name)): Path<PolicyPath>,
) -> Handled {
    let id = policy_id(&subscription, &group, &location, &name);
    require(&caller, "read", &id)?;
    sim.with(|s| {
        if !s.group_exists(&subscription, &group) {
            return Err(group_not_found(&group));
        }
        match s.jit.get(&id.to_lowercase()) {
            Some(policy) => Ok(json_response(StatusCode::OK, policy.resource())),
            None => Err(not_found(
                &format!("{PROVIDER}/locations/{location}/jitNetworkAccessPolicies"),
                &name,
                &group,
            )),
        }
    })
}

/// `DELETE …`: 200 when deleted, 204 when there was nothing.
pub(super) async fn delete_policy(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((subscription, group, location, name)): Path<PolicyPath>,
) -> Handled {
    let id = policy_id(&subscription, &group, &location, &name);
    require(&caller, "delete", &id)?;
    Ok(sim.with(|s| match s.jit.remove(&id.to_lowercase()) {
        Some(_) => empty(StatusCode::OK),
        None => empty(StatusCode::NO_CONTENT),
    }))
}

/// `PUT …`: creates or replaces the policy whole, keeping its request history.
pub(super) async fn put_policy(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((subscription, group, location, name)): Path<PolicyPath>,
    axum::Json(body): axum::Json<Value>,
) -> Handled {
    let id = policy_id(&subscription, &group, &location, &name);
    require(&caller, "write", &id)?;
    let machines = body["properties"]["virtualMachines"]
        .as_array()
        .cloned()
        .ok_or_else(|| bad("The policy needs properties.virtualMachines."))?;
    for machine in &machines {
        let vm = machine["id"].as_str().unwrap_or("");
        if !crate::ids::is_vm_resource_id(vm) {
            return Err(bad(format!(
                "'{vm}' is not a virtual machine's resource id."
            )));
        }
        for port in machine["ports"].as_array().into_iter().flatten() {
            check_rule(port)?;
        }
    }
    sim.with(|s| {
        if !s.group_exists(&subscription, &group) {
            return Err(group_not_found(&group));
        }
        for machine in &machines {
            let vm = machine["id"].as_str().unwrap_or("").to_lowercase();
            if !s.vms.contains(&vm) {
                return Err(GraphError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    format!("The Resource 'Microsoft.Compute/virtualMachines/{}' under resource group '{group}' was not found.", vm.rsplit('/').next().unwrap_or("")),
                ));
            }
        }
        let key = id.to_lowercase();
        let requests = s.jit.get(&key).map(|p| p.requests.clone()).unwrap_or_default();
        let policy = JitPolicy {
            id: id.clone(),
            name: name.clone(),
            location: location.clone(),
            kind: body["kind"].as_str().unwrap_or("Basic").to_string(),
            virtual_machines: machines,
            requests,
        };
        let resource = policy.resource();
        s.jit.insert(key, policy);
        Ok(json_response(StatusCode::OK, resource))
    })
}

/// A port rule as the schema requires it.
fn check_rule(port: &Value) -> Result<(), GraphError> {
    let number = port["number"]
        .as_u64()
        .filter(|n| *n <= 65535)
        .ok_or_else(|| bad("Each port needs a number from 0 to 65535."))?;
    match port["protocol"].as_str() {
        Some("TCP" | "UDP" | "*") => {}
        _ => {
            return Err(bad(format!(
                "Port {number}: protocol must be TCP, UDP or *."
            )));
        }
    }
    match port["maxRequestAccessDuration"]
        .as_str()
        .and_then(iso_duration::parse)
    {
        Some(d) if d >= TimeDelta::minutes(5) && d <= TimeDelta::days(1) => {}
        _ => {
            return Err(bad(format!(
                "Port {number}: maxRequestAccessDuration must be from 5 minutes to 1 day."
            )));
        }
    }
    let one = port
        .get("allowedSourceAddressPrefix")
        .is_some_and(|v| !v.is_null());
    let many = port
        .get("allowedSourceAddressPrefixes")
        .is_some_and(|v| !v.is_null());
    if one == many {
        return Err(bad(format!(
            "Port {number}: give exactly one of allowedSourceAddressPrefix and allowedSourceAddressPrefixes."
        )));
    }
    Ok(())
}

/// The sources a rule or a request port names.
fn sources_of(port: &Value) -> Vec<String> {
    let mut out: Vec<String> = port["allowedSourceAddressPrefixes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(one) = port["allowedSourceAddressPrefix"].as_str() {
        out.push(one.to_string());
    }
    out
}

fn allows(rule: &Value, source: &str) -> bool {
    let Ok(source) = SourcePrefix::parse(source) else {
        return false;
    };
    sources_of(rule).iter().any(|a| {
        a == "*"
            || a.eq_ignore_ascii_case("Internet")
            || SourcePrefix::parse(a).is_ok_and(|a| a.contains(&source))
    })
}

/// `POST …/{name}/initiate`: opens the ports until their ends.
pub(super) async fn initiate(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((subscription, group, location, name, action)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Handled {
    if action != "initiate" {
        return Err(bad(format!("The action '{action}' is not supported.")));
    }
    let id = policy_id(&subscription, &group, &location, &name);
    let caller_address = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    sim.with(|s| {
        let now = s.now();
        let config = s.config.clone();
        let key = id.to_lowercase();
        let policy = s.jit.get(&key).ok_or_else(|| {
            not_found(
                &format!("{PROVIDER}/locations/{location}/jitNetworkAccessPolicies"),
                &name,
                &group,
            )
        })?;
        let machines = body["virtualMachines"]
            .as_array()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad("The request needs virtualMachines."))?;
        let mut recorded = Vec::new();
        for machine in machines {
            let vm = machine["id"].as_str().unwrap_or("");
            require(&caller, "initiate/action", vm)?;
            let ports = machine["ports"]
                .as_array()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| bad(format!("The request for '{vm}' needs ports.")))?;
            let mut out_ports = Vec::new();
            for port in ports {
                let number = port["number"]
                    .as_u64()
                    .ok_or_else(|| bad("Each port needs its number."))?;
                let rule = policy.rule(vm, number).ok_or_else(|| {
                    bad(format!(
                        "Port {number} of virtual machine '{vm}' is not in the just-in-time policy '{name}'."
                    ))
                })?;
                let end = port["endTimeUtc"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| bad(format!("Port {number}: endTimeUtc is required.")))?;
                if end <= now {
                    return Err(bad(format!("Port {number}: endTimeUtc must be in the future.")));
                }
                let longest = rule["maxRequestAccessDuration"]
                    .as_str()
                    .and_then(iso_duration::parse)
                    .unwrap_or(TimeDelta::hours(3));
                if end - now > longest {
                    return Err(bad(format!(
                        "Port {number}: the requested access duration exceeds the maximum allowed by the policy ({}).",
                        rule["maxRequestAccessDuration"].as_str().unwrap_or("PT3H")
                    )));
                }
                let one = port.get("allowedSourceAddressPrefix").is_some_and(|v| !v.is_null());
                let many = port
                    .get("allowedSourceAddressPrefixes")
                    .is_some_and(|v| !v.is_null());
                if one && many {
                    return Err(bad(format!(
                        "Port {number}: give allowedSourceAddressPrefix or allowedSourceAddressPrefixes, not both."
                    )));
                }
                let mut sources = sources_of(port);
                if sources.is_empty() {
                    // "If omitted, the request will be for the source IP address of the
                    // initiate request."
                    sources.push(caller_address.clone());
                }
                for source in &sources {
                    if SourcePrefix::parse(source).is_err() {
                        return Err(bad(format!(
                            "Port {number}: '{source}' is not an IP address or prefix."
                        )));
                    }
                    if !allows(rule, source) {
                        return Err(bad(format!(
                            "Port {number}: the policy does not allow access from '{source}'."
                        )));
                    }
                }
                let mut stored = json!({
                    "number": number,
                    "endTimeUtc": end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    "status": "Initiated",
                    "statusReason": "UserRequested",
                });
                if sources.len() == 1 {
                    stored["allowedSourceAddressPrefix"] = json!(sources[0]);
                } else {
                    stored["allowedSourceAddressPrefixes"] = json!(sources);
                }
                out_ports.push(stored);
            }
            recorded.push(json!({ "id": vm, "ports": out_ports }));
        }
        let request = json!({
            "virtualMachines": recorded,
            "startTimeUtc": now.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "requestor": caller.app,
            "justification": body["justification"].as_str().unwrap_or(""),
        });
        let policy = s.jit.get_mut(&key).expect("found above");
        if config.jit_newer_supersedes {
            for older in &mut policy.requests {
                for machine in older["virtualMachines"].as_array_mut().into_iter().flatten() {
                    let vm = machine["id"].as_str().unwrap_or("").to_string();
                    let Some(new) = recorded.iter().find(|r| same(&r["id"], &vm)) else {
                        continue;
                    };
                    for port in machine["ports"].as_array_mut().into_iter().flatten() {
                        let superseded = new["ports"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|p| p["number"] == port["number"]);
                        if superseded && !status_is(port, "Revoked") {
                            port["status"] = json!("Revoked");
                            port["statusReason"] = json!("NewerRequestInitiated");
                        }
                    }
                }
            }
        }
        policy.requests.push(request.clone());
        let mut answer = request;
        for port in ports_of_mut(&mut answer) {
            port["status"] = json!(config.jit_initiate_status);
        }
        Ok(json_response(StatusCode::ACCEPTED, answer))
    })
}

/// The open network rules, per VM and port, for `/__sim__/state` and the live page: what
/// Defender would have written into the VM's network security group.
pub(super) fn state_json(state: &SimState) -> Value {
    let mut open = Vec::new();
    for policy in state.jit.values() {
        for request in &policy.requests {
            for machine in request["virtualMachines"].as_array().into_iter().flatten() {
                for port in machine["ports"].as_array().into_iter().flatten() {
                    if status_is(port, "Revoked") {
                        continue;
                    }
                    open.push(json!({
                        "vm": machine["id"], "port": port["number"],
                        "sources": sources_of(port), "until": port["endTimeUtc"],
                        "justification": request["justification"],
                    }));
                }
            }
        }
    }
    json!({
        "virtualMachines": state.vms,
        "policies": state.jit.values().map(JitPolicy::resource).collect::<Vec<_>>(),
        "open": open,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_the_schema() {
        let rule = |v: Value| check_rule(&v).map_err(|e| e.message);
        assert!(rule(json!({"number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"})).is_ok());
        assert!(rule(json!({"number": 22, "protocol": "ICMP", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT3H"})).is_err());
        assert!(rule(json!({"number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "PT2M"})).is_err());
        assert!(rule(json!({"number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*", "maxRequestAccessDuration": "P2D"})).is_err());
        assert!(
            rule(json!({"number": 22, "protocol": "*", "maxRequestAccessDuration": "PT3H"}))
                .is_err()
        );
        assert!(rule(json!({"number": 22, "protocol": "*", "allowedSourceAddressPrefix": "*", "allowedSourceAddressPrefixes": ["1.2.3.4"], "maxRequestAccessDuration": "PT3H"})).is_err());
    }

    #[test]
    fn a_rule_allows_sources_inside_its_prefixes() {
        let rule = json!({"allowedSourceAddressPrefixes": ["198.51.100.0/24"]});
        assert!(allows(&rule, "198.51.100.7"));
        assert!(!allows(&rule, "203.0.113.7"));
        assert!(allows(
            &json!({"allowedSourceAddressPrefix": "*"}),
            "203.0.113.7/32"
        ));
    }
}
