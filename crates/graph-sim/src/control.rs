//! The control plane, outside Graph's paths (`/__sim__/...`): reset, seed, inspect, register
//! applications, move the clock, configure switches and inject faults.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Chaos, Config, Fault, Group, Simulator, User};

pub(super) fn routes(sim: Simulator) -> Router {
    Router::new()
        .route("/__sim__/", get(page))
        .route("/__sim__/reset", post(reset))
        .route("/__sim__/seed", post(seed))
        .route("/__sim__/state", get(state))
        .route("/__sim__/apps", post(apps))
        .route("/__sim__/groups/{id}/members", get(members))
        .route(
            "/__sim__/users/{id}",
            axum::routing::patch(super::people::change_user).delete(super::people::delete_user),
        )
        .route("/__sim__/requests", get(requests).delete(clear_requests))
        .route("/__sim__/faults", post(add_fault).delete(clear_faults))
        .route("/__sim__/chaos", post(chaos))
        .route("/__sim__/config", get(get_config).post(set_config))
        .route("/__sim__/clock", get(get_clock).post(set_clock))
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            require_token,
        ))
        .with_state(sim)
}

/// The control plane answers only a caller with its token: in the header
/// `x-sim-control-token`, or `?token=` (the page, opened in a browser, passes it on).
async fn require_token(
    State(sim): State<Simulator>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let expected = sim.control_token();
    let from_header = request
        .headers()
        .get("x-sim-control-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_query = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let given = from_header.or(from_query).unwrap_or_default();
    // Compared in full whatever differs first, so the time taken tells nothing of the token.
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({
            "error": "the simulator's control plane takes its control token: the header \
                      x-sim-control-token, or ?token= for the page"
        })),
    )
        .into_response()
}

fn bad(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

/// A page that shows the tenant as it is now, for people watching the demo.
async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("page.html"))
}

/// Forgets the data, faults, switches, clock and log; keeps the registered applications.
async fn reset(State(sim): State<Simulator>) -> Json<Value> {
    sim.with(|s| {
        let apps = std::mem::take(&mut s.apps);
        *s = super::SimState::new();
        s.apps = apps;
    });
    Json(json!({ "reset": true }))
}

#[derive(Deserialize)]
struct Fixture {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    users: Vec<SeedUser>,
    #[serde(default)]
    groups: Vec<SeedGroup>,
    /// Azure VMs by resource id.
    #[serde(default, rename = "virtualMachines")]
    virtual_machines: Vec<String>,
    /// Defender for Cloud JIT policies: `{"id": <policy resource id>, "virtualMachines":
    /// [<as in the PUT body>]}`.
    #[serde(default, rename = "jitPolicies")]
    jit_policies: Vec<SeedPolicy>,
    /// SharePoint sites without a Microsoft 365 group, with any standing shares of their
    /// document library.
    #[serde(default)]
    sites: Vec<SeedSite>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedSite {
    id: Option<String>,
    name: String,
    display_name: Option<String>,
    /// Direct shares of the library: `{"user": <UPN or id>, "roles": ["read"]}`.
    #[serde(default)]
    shares: Vec<SeedShare>,
}

#[derive(Deserialize)]
struct SeedShare {
    user: String,
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedPolicy {
    id: String,
    #[serde(default)]
    virtual_machines: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedUser {
    id: Option<String>,
    user_principal_name: String,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    department: Option<String>,
    job_title: Option<String>,
    mail: Option<String>,
    user_type: Option<String>,
    /// The manager's UPN or id (seeded before or in the same fixture).
    manager: Option<String>,
    on_premises_immutable_id: Option<String>,
    /// Default: true when the user has an immutable id (a synced user), else null.
    on_premises_sync_enabled: Option<bool>,
    /// When the user was made (default: now), for users that existed long before a test.
    created_date_time: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedGroup {
    id: Option<String>,
    display_name: String,
    mail_enabled: Option<bool>,
    security_enabled: Option<bool>,
    #[serde(default)]
    group_types: Vec<String>,
    #[serde(default)]
    is_assignable_to_role: bool,
    /// A Microsoft 365 group with a team.
    #[serde(default)]
    team: bool,
    /// Members and owners by UPN or id (users or groups).
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    owners: Vec<String>,
    /// Creates this many users `gen-<group>-<n>@<domain>` as members.
    #[serde(default, rename = "generate_members")]
    generate_members: usize,
}

/// Adds users and groups; answers their ids by UPN and by display name.
async fn seed(State(sim): State<Simulator>, Json(fixture): Json<Fixture>) -> Response {
    let result = sim.with(|s| {
        if let Some(domain) = fixture.domain {
            s.domain = domain;
        }
        let now = s.now();
        let mut user_ids = BTreeMap::new();
        for u in &fixture.users {
            let id =
                u.id.clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
                    .to_lowercase();
            s.users.insert(
                id.clone(),
                User {
                    id: id.clone(),
                    upn: u.user_principal_name.clone(),
                    display_name: u
                        .display_name
                        .clone()
                        .unwrap_or_else(|| u.user_principal_name.clone()),
                    account_enabled: u.account_enabled.unwrap_or(true),
                    department: u.department.clone(),
                    job_title: u.job_title.clone(),
                    mail: u
                        .mail
                        .clone()
                        .or_else(|| Some(u.user_principal_name.clone())),
                    user_type: u.user_type.clone().unwrap_or_else(|| "Member".into()),
                    manager: None,
                    on_premises_immutable_id: u.on_premises_immutable_id.clone(),
                    on_premises_sync_enabled: u
                        .on_premises_sync_enabled
                        .or(u.on_premises_immutable_id.as_ref().map(|_| true)),
                    created: u.created_date_time.unwrap_or(now),
                    changed: 0,
                },
            );
            user_ids.insert(u.user_principal_name.clone(), id);
        }
        for u in &fixture.users {
            if let Some(manager) = &u.manager {
                let Some(manager) = s.find_user(manager).map(|m| m.id.clone()) else {
                    return Err(format!("unknown manager {manager}"));
                };
                let id = &user_ids[&u.user_principal_name];
                if let Some(user) = s.users.get_mut(id) {
                    user.manager = Some(manager);
                }
            }
        }
        let mut group_ids = BTreeMap::new();
        for g in &fixture.groups {
            let id =
                g.id.clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
                    .to_lowercase();
            let mut members = Vec::new();
            for m in &g.members {
                let found = s.find_user(m).map(|u| u.id.clone()).or_else(|| {
                    s.groups
                        .contains_key(&m.to_lowercase())
                        .then(|| m.to_lowercase())
                });
                members.push(found.ok_or_else(|| format!("unknown member {m}"))?);
            }
            for n in 0..g.generate_members {
                let uid = uuid::Uuid::new_v4().to_string();
                let upn = format!("gen-{}-{n}@{}", &id[..8], s.domain);
                s.users.insert(
                    uid.clone(),
                    User {
                        id: uid.clone(),
                        upn: upn.clone(),
                        display_name: format!("Generated {n}"),
                        account_enabled: true,
                        department: None,
                        job_title: None,
                        mail: Some(upn),
                        user_type: "Member".into(),
                        manager: None,
                        on_premises_immutable_id: None,
                        on_premises_sync_enabled: None,
                        created: now,
                        changed: 0,
                    },
                );
                members.push(uid);
            }
            let mut owners = Vec::new();
            for o in &g.owners {
                let found = s.find_user(o).map(|u| u.id.clone());
                owners.push(found.ok_or_else(|| format!("unknown owner {o}"))?);
            }
            s.groups.insert(
                id.clone(),
                Group {
                    id: id.clone(),
                    display_name: g.display_name.clone(),
                    mail_enabled: g.mail_enabled.unwrap_or(false),
                    security_enabled: g.security_enabled.unwrap_or(true),
                    group_types: if g.team && g.group_types.is_empty() {
                        vec!["Unified".into()]
                    } else {
                        g.group_types.clone()
                    },
                    is_assignable_to_role: g.is_assignable_to_role,
                    team: g.team,
                    members,
                    owners,
                    created: now,
                },
            );
            group_ids.insert(g.display_name.clone(), id);
        }
        for vm in &fixture.virtual_machines {
            if !crate::ids::is_vm_resource_id(vm) {
                return Err(format!("`{vm}` is not a VM resource id"));
            }
            s.vms.insert(vm.to_lowercase());
        }
        for policy in &fixture.jit_policies {
            let parts: Vec<&str> = policy.id.split('/').collect();
            let (Some(location), Some(name)) = (parts.get(8), parts.get(10)) else {
                return Err(format!(
                    "`{}` is not a JIT policy id (/subscriptions/../resourceGroups/../providers/\
                     Microsoft.Security/locations/../jitNetworkAccessPolicies/..)",
                    policy.id
                ));
            };
            for machine in &policy.virtual_machines {
                if let Some(vm) = machine["id"].as_str() {
                    s.vms.insert(vm.to_lowercase());
                }
            }
            s.jit.insert(
                policy.id.to_lowercase(),
                super::arm::JitPolicy {
                    id: policy.id.clone(),
                    name: name.to_string(),
                    location: location.to_string(),
                    kind: "Basic".into(),
                    virtual_machines: policy.virtual_machines.clone(),
                    requests: Vec::new(),
                },
            );
        }
        // New users are changes for `users/delta` (and a new manager is one).
        let fresh: Vec<String> = s
            .users
            .values()
            .filter(|u| u.changed == 0)
            .map(|u| u.id.clone())
            .collect();
        for id in fresh {
            let change = s.next_change();
            if let Some(user) = s.users.get_mut(&id) {
                user.changed = change;
            }
        }
        let mut site_ids = BTreeMap::new();
        for site in &fixture.sites {
            let title = site
                .display_name
                .clone()
                .unwrap_or_else(|| site.name.clone());
            let id = super::sites::seed_site(s, site.id.as_deref(), &site.name, &title)?;
            for share in &site.shares {
                let user = s
                    .find_user(&share.user)
                    .map(|u| u.id.clone())
                    .ok_or_else(|| format!("unknown user {}", share.user))?;
                super::sites::seed_share(s, &id, &title, &user, &share.roles)?;
            }
            site_ids.insert(site.name.clone(), id);
        }
        Ok(json!({ "users": user_ids, "groups": group_ids, "sites": site_ids }))
    });
    match result {
        Ok(ids) => Json(ids).into_response(),
        Err(problem) => bad(problem),
    }
}

/// Users and groups as the simulator holds them (lag ignored).
async fn state(State(sim): State<Simulator>) -> Json<Value> {
    Json(sim.with(|s| {
        json!({
            "domain": s.domain,
            "now": s.now(),
            "users": s.users.values().map(|u| json!({
                "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
                "accountEnabled": u.account_enabled, "manager": u.manager,
            })).collect::<Vec<_>>(),
            "groups": s.groups.values().map(|g| json!({
                "id": g.id, "displayName": g.display_name, "members": g.members,
                "owners": g.owners,
            })).collect::<Vec<_>>(),
            "pim": super::pim::state_json(s),
            "jit": super::arm::state_json(s),
            "sharepoint": super::sites::state_json(s),
        })
    }))
}

#[derive(Deserialize)]
struct AppRegistration {
    client_id: String,
    client_secret: String,
    #[serde(default)]
    roles: Vec<String>,
    /// A certificate (PEM) for client assertions.
    #[serde(default)]
    certificate: Option<String>,
}

async fn apps(State(sim): State<Simulator>, Json(app): Json<AppRegistration>) -> Response {
    let roles: Vec<&str> = app.roles.iter().map(String::as_str).collect();
    sim.register_app(&app.client_id, &app.client_secret, &roles);
    if let Some(pem) = &app.certificate
        && let Err(problem) = sim.register_certificate(&app.client_id, pem)
    {
        return bad(problem);
    }
    Json(json!({ "registered": app.client_id })).into_response()
}

async fn members(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    let found = sim.with(|s| s.groups.get(&id.to_lowercase()).map(|g| g.members.clone()));
    match found {
        Some(members) => Json(json!({ "value": members })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such group" })),
        )
            .into_response(),
    }
}

async fn requests(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "value": sim.requests() }))
}

async fn clear_requests(State(sim): State<Simulator>) -> StatusCode {
    sim.with(|s| s.log.clear());
    StatusCode::NO_CONTENT
}

async fn add_fault(State(sim): State<Simulator>, Json(fault): Json<Fault>) -> Json<Value> {
    let count = sim.with(|s| {
        s.faults.push(fault);
        s.faults.len()
    });
    Json(json!({ "faults": count }))
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.with(|s| s.faults.clear());
    StatusCode::NO_CONTENT
}

async fn chaos(State(sim): State<Simulator>, Json(chaos): Json<Chaos>) -> Json<Value> {
    sim.with(|s| {
        s.chaos_state = chaos.seed;
        s.chaos = (chaos.rate > 0.0).then_some(chaos);
    });
    Json(json!({ "chaos": sim.with(|s| s.chaos.is_some()) }))
}

async fn get_config(State(sim): State<Simulator>) -> Json<Config> {
    Json(sim.with(|s| s.config.clone()))
}

/// Merges the given switches into the configuration.
async fn set_config(State(sim): State<Simulator>, Json(changes): Json<Value>) -> Response {
    let result = sim.with(|s| {
        let mut current = serde_json::to_value(&s.config).expect("config serialises");
        let (Some(current_map), Some(changes)) = (current.as_object_mut(), changes.as_object())
        else {
            return Err("a JSON object of switches".to_string());
        };
        for (k, v) in changes {
            if !current_map.contains_key(k) {
                return Err(format!("unknown switch {k}"));
            }
            current_map.insert(k.clone(), v.clone());
        }
        s.config = serde_json::from_value(current).map_err(|e| e.to_string())?;
        Ok(s.config.clone())
    });
    match result {
        Ok(config) => Json(config).into_response(),
        Err(problem) => bad(problem),
    }
}

async fn get_clock(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "now": sim.with(|s| s.now()) }))
}

#[derive(Deserialize)]
struct Clock {
    advance: Option<String>,
    advance_seconds: Option<i64>,
    set: Option<chrono::DateTime<chrono::Utc>>,
}

/// Moves the simulator's clock: `{"advance":"PT2H"}`, `{"advance_seconds":7200}` or
/// `{"set":"2026-11-28T10:00:00Z"}`. Time keeps running from there.
async fn set_clock(State(sim): State<Simulator>, Json(clock): Json<Clock>) -> Response {
    let by = match (&clock.advance, clock.advance_seconds, clock.set) {
        (Some(iso), _, _) => match parse_duration(iso) {
            Some(d) => Some(d),
            None => return bad(format!("not an ISO 8601 duration: {iso}")),
        },
        (None, Some(seconds), _) => Some(chrono::Duration::seconds(seconds)),
        _ => None,
    };
    let now = sim.with(|s| {
        match (by, clock.set) {
            (Some(d), _) => s.clock_offset += d,
            (None, Some(at)) => s.clock_offset = at - chrono::Utc::now(),
            (None, None) => {}
        }
        s.now()
    });
    Json(json!({ "now": now })).into_response()
}

/// ISO 8601 durations (`PT2H`), read as the connectors read them.
use crate::duration::parse as parse_duration;
