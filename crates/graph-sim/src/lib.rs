//! A Microsoft Graph and Entra ID token simulator, written from Microsoft's published
//! documentation (sources in `../shared/docs/microsoft-apis.md`; each handler names the page
//! it follows). It is **not** Microsoft's service: where the documentation is silent or
//! contradicts itself, the behaviour is a switch (`/__sim__/config`).
//!
//! What it serves: the v2.0 token endpoint (client credentials), Graph's directory routes for
//! users and groups (members by `$ref` and `members@odata.bind`, paging with opaque skip
//! tokens, `getByIds`, `checkMemberGroups`, transitive membership) and JSON `$batch`, with
//! Graph's bodies, statuses and error vocabularies; throttling by the documented budgets with
//! `Retry-After`; and a control plane under `/__sim__/` to reset, seed, inspect, move the
//! clock and inject faults. Tests run it in their own process (`serve`), the demo as the
//! `graph-sim` binary.
//!
//! It is its own crate and shares no code with the portal: its token, PEM, id, duration and
//! address helpers are its own, so that a bug in the portal's connectors is not mirrored here.

mod arm;
mod assertion;
mod batch;
mod control;
mod directory;
pub mod duration;
mod group_delta;
pub mod ids;
mod invitations;
mod people;
mod pim;
mod prefix;
mod sites;
mod teams;
mod token;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

/// The simulator: shared state behind a cheap handle.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    tenant: String,
    /// What the control plane (`/__sim__/...`) takes, so that nothing that can reach the
    /// simulator's port reseeds, rewinds or faults it.
    control_token: Mutex<String>,
    /// Signs and checks the simulator's own access tokens.
    key: ring::hmac::Key,
    state: Mutex<SimState>,
}

/// A registered application: its secret and its application permissions (token `roles`).
#[derive(Debug, Clone)]
struct App {
    secret: String,
    roles: Vec<String>,
    /// Certificates for `private_key_jwt`.
    certificates: Vec<assertion::Certificate>,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub upn: String,
    pub display_name: String,
    pub account_enabled: bool,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub mail: Option<String>,
    pub user_type: String,
    /// The manager's object id.
    pub manager: Option<String>,
    /// The anchor of a user synced from Active Directory: base64 of its `objectGUID`.
    pub on_premises_immutable_id: Option<String>,
    /// Whether the user is synced from an on-premises directory (`onPremisesSyncEnabled`):
    /// true for a synced user, null for a cloud-only one (whose immutable id an administrator
    /// may still have set).
    pub on_premises_sync_enabled: Option<bool>,
    pub created: DateTime<Utc>,
    /// The change sequence number of the user's last change (`users/delta`).
    pub changed: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub display_name: String,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    pub group_types: Vec<String>,
    pub is_assignable_to_role: bool,
    /// The group has a team (`resourceProvisioningOptions: ["Team"]`).
    pub team: bool,
    /// Object ids (users or groups), in the order they were added.
    pub members: Vec<String>,
    pub owners: Vec<String>,
    pub created: DateTime<Utc>,
}

impl Group {
    pub fn dynamic(&self) -> bool {
        self.group_types.iter().any(|t| t == "DynamicMembership")
    }

    pub fn unified(&self) -> bool {
        self.group_types.iter().any(|t| t == "Unified")
    }
}

/// The switches of `/__sim__/config`.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Config {
    /// Objects younger than this are invisible to reads by id and to `$ref` targets.
    pub lag_ms: u64,
    pub retry_after_fractional: bool,
    pub omit_retry_after: bool,
    pub batch_shuffle: bool,
    /// Resource units per 10 s per app and tenant (8,000 = a tenant of more than 500 users).
    pub ru_per_10s: u64,
    pub writes_per_150s: u64,
    pub token_lifetime_seconds: i64,
    /// Added to every HTTP call (not to the parts of a `$batch`, which travel in one call):
    /// the network and service time of a real tenant, for benchmarks.
    pub latency_ms: u64,
    /// Requests per second per team and app on `/teams/{id}/...` (Microsoft documents 4 for
    /// most Teams operations); 0 switches the limit off.
    pub teams_per_second: u64,
    /// Whether `getByIds` honours `$select` (undocumented; off answers the default set).
    pub get_by_ids_select: bool,
    /// PIM: how long after its start a schedule's membership is written (status
    /// `PendingProvisioning` meanwhile).
    pub pim_provisioning_delay_ms: u64,
    /// PIM: an assignment cannot be removed sooner than this after it began
    /// (`ActiveDurationTooShort`); 0 switches the rule off.
    pub pim_minimum_active_minutes: i64,
    /// PIM policy: the longest active assignment (PIM for Groups' default is six months).
    pub pim_max_active_days: i64,
    pub pim_allow_permanent_active: bool,
    pub pim_require_justification: bool,
    /// PIM policy: assignments wait for approval in Entra (`PendingApproval`).
    pub pim_approval_required: bool,
    /// ARM: items per page of a list (ARM chooses; small values exercise `nextLink`).
    pub arm_page_size: usize,
    /// JIT: the port status `initiate` answers with (the example's `Initiating`, which the
    /// schema does not list, or `Initiated`).
    pub jit_initiate_status: String,
    /// JIT: a newer request for a port revokes the older open one (`NewerRequestInitiated`).
    pub jit_newer_supersedes: bool,
    /// SharePoint: `invite` accepts `expirationDateTime` and shares expire on the clock (off:
    /// 400 `invalidRequest`, what SharePoint answers in the field).
    pub invite_expiration_supported: bool,
    /// SharePoint: an invite replaces the roles of the person's permission instead of adding
    /// to them (undocumented either way).
    pub invite_replaces_roles: bool,
    /// `users/delta`: users per page (Graph chooses; small values exercise paging).
    pub delta_page_size: usize,
    /// `users/delta`: every `$deltatoken` is answered 400 `syncStateNotFound`, as Graph does
    /// for a token older than seven days.
    pub delta_tokens_expired: bool,
    /// The tenant restricts B2B invitations to administrators: `POST /invitations` is 403
    /// for applications.
    pub invitations_restricted: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lag_ms: 0,
            retry_after_fractional: false,
            omit_retry_after: false,
            batch_shuffle: true,
            ru_per_10s: 8000,
            writes_per_150s: 3000,
            token_lifetime_seconds: 3599,
            latency_ms: 0,
            get_by_ids_select: true,
            teams_per_second: 4,
            pim_provisioning_delay_ms: 0,
            pim_minimum_active_minutes: 5,
            pim_max_active_days: 180,
            pim_allow_permanent_active: false,
            pim_require_justification: false,
            pim_approval_required: false,
            arm_page_size: 100,
            jit_initiate_status: "Initiating".into(),
            jit_newer_supersedes: true,
            invite_expiration_supported: false,
            invite_replaces_roles: false,
            delta_page_size: 200,
            delta_tokens_expired: false,
            invitations_restricted: false,
        }
    }
}

/// A scripted fault (`POST /__sim__/faults`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Fault {
    #[serde(rename = "match", default)]
    pub matches: FaultMatch,
    /// The first matching request it hits (1-based).
    #[serde(default = "one")]
    pub nth: u32,
    /// How many matching requests in a row it hits.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub respond: Option<FaultAnswer>,
    /// Run the handler (the write happens), then answer with the fault instead.
    #[serde(default)]
    pub after_write: bool,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(skip)]
    pub seen: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct FaultMatch {
    pub method: Option<String>,
    /// `*` matches one path segment, `**` the rest.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FaultAnswer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Dev Proxy-like random failures, deterministic by seed (`POST /__sim__/chaos`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Chaos {
    pub rate: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "Chaos::default_statuses")]
    pub statuses: Vec<u16>,
}

impl Chaos {
    fn default_statuses() -> Vec<u16> {
        vec![429, 500, 502, 503, 504]
    }
}

/// One line of the request log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub status: u16,
    pub client_request_id: String,
    pub in_batch: bool,
    pub at: DateTime<Utc>,
}

/// Throttling budgets per app: resource units per 10 s, writes per 150 s. A request made
/// while throttled counts too and is refused until the window ends.
#[derive(Debug)]
struct Budget {
    window: Duration,
    started: Instant,
    used: u64,
    blocked_until: Option<Instant>,
}

impl Budget {
    fn new(window: Duration) -> Self {
        Self {
            window,
            started: Instant::now(),
            used: 0,
            blocked_until: None,
        }
    }

    /// Spends `cost`; `Some(wait)` when the request is refused.
    fn spend(&mut self, cost: u64, limit: u64, now: Instant) -> Option<Duration> {
        if now >= self.started + self.window {
            self.started = now;
            self.used = 0;
        }
        self.used += cost;
        if let Some(until) = self.blocked_until {
            if now < until {
                return Some(until - now);
            }
            self.blocked_until = None;
        }
        if self.used > limit {
            let until = self.started + self.window;
            self.blocked_until = Some(until);
            return Some(until.saturating_duration_since(now));
        }
        None
    }
}

pub(crate) struct SimState {
    apps: HashMap<String, App>,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    /// PIM's active assignment schedules, groups and directory roles.
    pub(crate) schedules: Vec<pim::Schedule>,
    /// PIM requests by id, as answered.
    pub pim_requests: BTreeMap<String, Value>,
    pub domain: String,
    pub config: Config,
    clock_offset: chrono::Duration,
    faults: Vec<Fault>,
    chaos: Option<Chaos>,
    chaos_state: u64,
    /// Per app: resource units and writes.
    budgets: HashMap<String, (Budget, Budget)>,
    /// Per app and team: requests per second.
    team_budgets: HashMap<String, Budget>,
    log: Vec<LoggedRequest>,
    /// Seeds the batch shuffle.
    sequence: u64,
    /// Client assertion ids already used (`jti`), with their expiry.
    assertions_seen: HashMap<String, i64>,
    /// Azure VMs by lower-cased resource id.
    pub vms: BTreeSet<String>,
    /// Defender for Cloud's JIT policies by lower-cased resource id.
    pub(crate) jit: BTreeMap<String, arm::JitPolicy>,
    /// SharePoint sites without a group, by lower-cased site id.
    pub(crate) sites: BTreeMap<String, sites::Site>,
    /// Document libraries by drive id.
    pub(crate) libraries: BTreeMap<String, sites::Library>,
    /// The last change sequence number given to a user change (`users/delta`).
    pub user_sequence: u64,
    /// Users deleted, with the change sequence number of their deletion.
    pub deleted_users: Vec<(String, u64)>,
    /// `groups/delta` rounds: the member lists each ended with, and its pages, by round
    /// number (the newest `GROUP_ROUNDS_KEPT`; an older token is `syncStateNotFound`).
    pub(crate) group_rounds: BTreeMap<u64, group_delta::RoundState>,
    pub(crate) group_pages: BTreeMap<u64, Vec<Vec<Value>>>,
    group_round: u64,
}

/// How many `groups/delta` rounds the simulator keeps; a token of an older one has expired.
const GROUP_ROUNDS_KEPT: usize = 10_000;

impl SimState {
    fn new() -> Self {
        Self {
            apps: HashMap::new(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            schedules: Vec::new(),
            pim_requests: BTreeMap::new(),
            domain: "contoso.test".into(),
            config: Config::default(),
            clock_offset: chrono::Duration::zero(),
            faults: Vec::new(),
            chaos: None,
            chaos_state: 0,
            budgets: HashMap::new(),
            team_budgets: HashMap::new(),
            log: Vec::new(),
            sequence: 0,
            assertions_seen: HashMap::new(),
            vms: BTreeSet::new(),
            jit: BTreeMap::new(),
            sites: BTreeMap::new(),
            libraries: BTreeMap::new(),
            user_sequence: 0,
            deleted_users: Vec::new(),
            group_rounds: BTreeMap::new(),
            group_pages: BTreeMap::new(),
            group_round: 0,
        }
    }

    /// The simulator's clock: real time plus what `/__sim__/clock` added.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// Whether an object created at `created` has replicated yet.
    pub fn visible(&self, created: DateTime<Utc>) -> bool {
        self.now() - created >= chrono::Duration::milliseconds(self.config.lag_ms as i64)
    }

    /// A user by id or UPN (any case), visible or not.
    pub fn find_user(&self, key: &str) -> Option<&User> {
        let key = key.to_lowercase();
        self.users
            .get(&key)
            .or_else(|| self.users.values().find(|u| u.upn.to_lowercase() == key))
    }

    /// Deletes a user: it leaves its groups and `users/delta` reports it removed.
    pub fn remove_user(&mut self, id: &str) {
        self.users.remove(id);
        for group in self.groups.values_mut() {
            group.members.retain(|m| m != id);
            group.owners.retain(|m| m != id);
        }
        let sequence = self.next_change();
        self.deleted_users.push((id.to_string(), sequence));
    }

    /// Keeps a `groups/delta` round's end state and pages; answers its number.
    pub(crate) fn keep_group_round(
        &mut self,
        state: group_delta::RoundState,
        pages: Vec<Vec<Value>>,
    ) -> u64 {
        self.group_round += 1;
        self.group_rounds.insert(self.group_round, state);
        self.group_pages.insert(self.group_round, pages);
        while self.group_rounds.len() > GROUP_ROUNDS_KEPT {
            self.group_rounds.pop_first();
            self.group_pages.pop_first();
        }
        self.group_round
    }

    /// The next change sequence number, for a user change.
    pub fn next_change(&mut self) -> u64 {
        self.user_sequence += 1;
        self.user_sequence
    }

    /// SplitMix64: small, deterministic, good enough for chaos and shuffles.
    fn next_random(&mut self) -> u64 {
        self.chaos_state = self.chaos_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.chaos_state)
    }
}

/// A GUID derived from `key`: the same key gives the same id (for ids the simulator makes up
/// for things it does not store, such as a team site's web id).
pub(crate) fn stable_guid(key: &str) -> uuid::Uuid {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A Graph error, filled into Graph's envelope (with the request's ids) on the way out.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `Request_ResourceNotFound`, naming `id` as Graph does.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub fn denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The caller, from its verified token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub app: String,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.as_str()))
    }

    pub fn require(&self, roles: &[&str]) -> Result<(), GraphError> {
        if self.has_any(roles) {
            Ok(())
        } else {
            Err(GraphError::denied())
        }
    }
}

/// Graph's content type for JSON answers.
const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A JSON answer with Graph's content type.
pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(ODATA_JSON));
    response
}

impl Simulator {
    /// A fresh simulator for `tenant_id`, with no data.
    pub fn new(tenant_id: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .expect("the system's random source");
        Self {
            inner: Arc::new(Inner {
                tenant: tenant_id.to_lowercase(),
                control_token: Mutex::new(format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                )),
                key,
                state: Mutex::new(SimState::new()),
            }),
        }
    }

    /// The token the control plane takes (header `x-sim-control-token`, or `?token=` for the
    /// page): made at random for each simulator unless set.
    pub fn control_token(&self) -> String {
        self.inner
            .control_token
            .lock()
            .expect("control token")
            .clone()
    }

    /// Sets the control plane's token (at least 16 characters).
    pub fn set_control_token(&self, token: &str) -> Result<(), String> {
        if token.trim().len() < 16 {
            return Err("the simulator's control token needs at least 16 characters".into());
        }
        *self.inner.control_token.lock().expect("control token") = token.trim().to_string();
        Ok(())
    }

    /// Registers (or replaces) an application with its client secret and permissions.
    pub fn register_app(&self, client_id: &str, client_secret: &str, roles: &[&str]) {
        self.with(|s| {
            s.apps.insert(
                client_id.to_lowercase(),
                App {
                    secret: client_secret.into(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                    certificates: Vec::new(),
                },
            )
        });
    }

    /// Registers a certificate (PEM) on an application, for client assertions.
    pub fn register_certificate(
        &self,
        client_id: &str,
        certificate_pem: &str,
    ) -> Result<(), String> {
        let certificate = assertion::Certificate::from_pem(certificate_pem)?;
        self.with(|s| match s.apps.get_mut(&client_id.to_lowercase()) {
            Some(app) => {
                app.certificates.push(certificate);
                Ok(())
            }
            None => Err(format!("no application {client_id}")),
        })
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        let mut state = self.inner.state.lock().expect("simulator state");
        state.advance_pim();
        state.advance_jit();
        f(&mut state)
    }

    pub(crate) fn tenant(&self) -> &str {
        &self.inner.tenant
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.with(|s| s.log.clone())
    }

    /// Everything the simulator serves.
    pub fn router(&self) -> Router {
        let graph = Router::new()
            .route("/v1.0/$batch", post(batch::batch))
            .route("/v1.0/users", get(directory::list_users))
            .route("/v1.0/users/delta", get(people::delta))
            .route("/v1.0/groups/delta", get(group_delta::delta))
            .route(
                "/v1.0/users/{id}",
                get(directory::get_user)
                    .patch(invitations::update_user)
                    .delete(invitations::delete_user),
            )
            .route("/v1.0/invitations", post(invitations::invite))
            .route(
                "/v1.0/users/{id}/{relation}",
                get(directory::user_relation).post(directory::user_action),
            )
            .route(
                "/v1.0/users/{id}/{relation}/{cast}",
                get(directory::user_relation_cast),
            )
            .route(
                "/v1.0/directoryObjects/getByIds",
                post(directory::get_by_ids),
            )
            .route(
                "/v1.0/directoryObjects/{id}/{action}",
                post(directory::object_action),
            )
            .route(
                "/v1.0/groups/{id}",
                get(directory::get_group).patch(directory::patch_group),
            )
            .route(
                "/v1.0/groups/{id}/{relation}",
                get(directory::group_relation).post(directory::group_action),
            )
            .route("/v1.0/groups/{id}/sites/{site}", get(sites::group_site))
            .route("/v1.0/groups/{id}/drive", get(sites::group_drive))
            .route("/v1.0/sites/{id}", get(sites::get_site))
            .route("/v1.0/sites/{id}/{relation}", get(sites::site_drive))
            .route("/v1.0/drives/{drive}/items/{item}", get(sites::get_item))
            .route(
                "/v1.0/drives/{drive}/items/{item}/permissions",
                get(sites::list_permissions),
            )
            .route(
                "/v1.0/drives/{drive}/items/{item}/invite",
                post(sites::invite),
            )
            .route(
                "/v1.0/drives/{drive}/items/{item}/permissions/{permission}",
                delete(sites::delete_permission).patch(sites::update_permission),
            )
            .route(
                "/v1.0/groups/{id}/{relation}/{item}",
                get(directory::group_relation_cast)
                    .post(directory::add_reference)
                    .delete(directory::delete_member_object),
            )
            .route(
                "/v1.0/groups/{id}/{relation}/{item}/{reference}",
                delete(directory::remove_reference),
            )
            .route(
                "/v1.0/teams/{id}/members",
                get(teams::list).post(teams::add),
            )
            .route(
                "/v1.0/teams/{id}/members/{membership}",
                delete(teams::remove),
            )
            .route(
                "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests",
                get(pim::list_requests).post(pim::group_request),
            )
            .route(
                "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests/{id}",
                get(pim::get_request),
            )
            .route(
                "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests/{id}/{action}",
                post(pim::cancel),
            )
            .route(
                "/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleInstances",
                get(pim::instances),
            )
            .route(
                "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests",
                get(pim::list_requests).post(pim::role_request),
            )
            .route(
                "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests/{id}",
                get(pim::get_request),
            )
            .route(
                "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests/{id}/{action}",
                post(pim::cancel),
            )
            .route(
                "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances",
                get(pim::instances),
            )
            .route(
                "/v1.0/roleManagement/directory/roleDefinitions/{id}",
                get(pim::role_definition),
            )
            .route("/subscriptions", get(arm::subscriptions))
            .route(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/jitNetworkAccessPolicies",
                get(arm::list),
            )
            .route(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/locations/{loc}/jitNetworkAccessPolicies/{name}",
                get(arm::get_policy)
                    .put(arm::put_policy)
                    .delete(arm::delete_policy),
            )
            .route(
                "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Security/locations/{loc}/jitNetworkAccessPolicies/{name}/{action}",
                post(arm::initiate),
            )
            .route("/{tenant}/oauth2/v2.0/token", post(token::issue))
            .fallback(unknown_segment)
            .layer(middleware::from_fn_with_state(self.clone(), graph_layer))
            .with_state(self.clone());
        graph.merge(control::routes(self.clone()))
    }
}

/// Serves until the listener closes; for `leasegate simulate-microsoft` and tests.
pub async fn serve(listener: tokio::net::TcpListener, sim: Simulator) -> std::io::Result<()> {
    axum::serve(listener, sim.router()).await
}

async fn unknown_segment(request: Request) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!(
            "Resource not found for the segment '{}'.",
            request.uri().path().rsplit('/').next().unwrap_or("")
        ),
    )
}

/// What a request costs in resource units, and whether it is a write
/// (`GDOCS:concepts/throttling-limits.md`, identity and access).
fn cost(method: &Method, path: &str, query: &str) -> (u64, bool) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let read_post = path.ends_with("/getByIds") || path.ends_with("/checkMemberGroups");
    let write = *method != Method::GET && !read_post;
    let mut units: i64 = match (method.as_str(), segments.as_slice()) {
        ("GET", ["v1.0", "groups", _, "members", ..]) => 3,
        ("GET", ["v1.0", "groups", _, "transitiveMembers", ..]) => 5,
        ("GET", ["v1.0", "users"]) => 2,
        ("POST", ["v1.0", "directoryObjects", "getByIds"]) => 3,
        ("POST", [.., "checkMemberGroups"]) => 4,
        _ => 1,
    };
    let query = query.replace("%24", "$");
    if query.contains("$select=") {
        units -= 1;
    }
    if query.contains("$expand=") {
        units += 1;
    }
    if let Some(top) = query
        .split('&')
        .find_map(|p| p.strip_prefix("$top="))
        .and_then(|t| t.parse::<u32>().ok())
        && top < 20
    {
        units -= 1;
    }
    (units.max(1) as u64, write)
}

/// `*` matches one segment, `**` everything after.
pub(crate) fn glob_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (i, p) in pattern.iter().enumerate() {
        if *p == "**" {
            return true;
        }
        match path.get(i) {
            Some(segment) if *p == "*" || p.eq_ignore_ascii_case(segment) => {}
            _ => return false,
        }
    }
    pattern.len() == path.len()
}

/// Graph's error envelope (`GDOCS:concepts/errors.md`).
fn envelope(error: &GraphError, request_id: &str, client_request_id: &str, date: &str) -> Value {
    let mut inner = json!({
        "date": date, "request-id": request_id, "client-request-id": client_request_id,
    });
    if error.status == StatusCode::TOO_MANY_REQUESTS {
        inner["code"] = json!("429");
        inner["status"] = json!("429");
        inner["message"] = json!("Please retry after");
    }
    json!({ "error": { "code": error.code, "message": error.message, "innerError": inner } })
}

/// Code and message of an injected status.
fn injected(status: u16) -> GraphError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (code, message) = match status.as_u16() {
        429 => ("TooManyRequests", "Please retry again later."),
        424 => (
            "FailedDependency",
            "The request failed because of a failed dependency.",
        ),
        500 => ("InternalServerError", "An internal server error occurred."),
        502 => ("BadGateway", "The gateway received an invalid response."),
        503 => (
            "ServiceUnavailable",
            "The service is temporarily unavailable.",
        ),
        504 => ("GatewayTimeout", "The gateway timed out."),
        507 => ("InsufficientStorage", "Insufficient storage."),
        _ => ("UnknownError", "Injected fault."),
    };
    GraphError::new(status, code, message)
}

fn retry_after_value(config: &Config, wait: Duration) -> Option<String> {
    if config.omit_retry_after {
        None
    } else if config.retry_after_fractional {
        Some(format!("{:.3}", wait.as_secs_f64().max(0.001)))
    } else {
        Some(wait.as_secs_f64().ceil().max(1.0).to_string())
    }
}

/// What the middleware decided before the handler runs.
enum Before {
    Pass,
    Answer(GraphError, Option<String>),
    AfterWrite(GraphError, Option<String>),
}

/// Everything around a handler: ids and headers, authentication, the request log, faults,
/// throttling, and Graph's error envelope (`GDOCS:concepts/throttling.md`,
/// `DEVPROXY:RetryAfterPlugin`).
async fn graph_layer(State(sim): State<Simulator>, mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let in_batch = request.headers().contains_key("x-sim-batch");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let logged_path = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let is_graph = path.starts_with("/v1.0/");
    let is_arm = path == "/subscriptions" || path.starts_with("/subscriptions/");
    let is_batch = path == "/v1.0/$batch";

    // Authentication: Graph and ARM routes need a token for their own audience; ARM also
    // needs a known api-version on every call.
    let mut refused: Option<GraphError> = None;
    if is_graph || is_arm {
        let audience = if is_arm { token::ARM } else { token::GRAPH };
        match token::verify(&sim, request.headers(), audience) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
            }
            Err(error) => refused = Some(error),
        }
    }
    if is_arm && refused.is_none() {
        let version = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.into_owned());
        refused = match version {
            None => Some(GraphError::new(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )),
            Some(v) if !arm::API_VERSIONS.contains(&v.as_str()) && path != "/subscriptions" => {
                Some(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidApiVersionParameter",
                    format!(
                        "The api-version '{v}' is invalid. The supported versions are '{}'.",
                        arm::API_VERSIONS.join(",")
                    ),
                ))
            }
            Some(_) => None,
        };
    }

    let caller_app = request
        .extensions()
        .get::<Caller>()
        .map(|c| c.app.clone())
        .unwrap_or_default();
    let mut throttle_info: Option<&'static str> = None;
    let (before, delay) = if refused.is_some() {
        (Before::Pass, 0)
    } else {
        sim.with(|s| {
            let mut delay = 0;
            let mut decision = Before::Pass;
            for fault in s.faults.iter_mut() {
                let method_ok = fault
                    .matches
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()));
                let path_ok = fault
                    .matches
                    .path
                    .as_deref()
                    .is_none_or(|p| glob_matches(p, &path));
                if !(method_ok && path_ok) {
                    continue;
                }
                fault.seen += 1;
                if fault.seen < fault.nth || fault.seen >= fault.nth + fault.count {
                    continue;
                }
                delay = delay.max(fault.delay_ms);
                if let Some(answer) = &fault.respond
                    && matches!(decision, Before::Pass)
                {
                    let mut error = injected(answer.status);
                    if let Some(code) = &answer.code {
                        error.code = code.clone();
                    }
                    if let Some(message) = &answer.message {
                        error.message = message.clone();
                    }
                    let retry = answer.retry_after.clone().or_else(|| {
                        (answer.status == 429 || answer.status == 503)
                            .then(|| retry_after_value(&s.config, Duration::from_secs(1)))
                            .flatten()
                    });
                    decision = if fault.after_write {
                        Before::AfterWrite(error, retry)
                    } else {
                        Before::Answer(error, retry)
                    };
                }
            }
            if matches!(decision, Before::Pass)
                && (is_graph || is_arm)
                && !is_batch
                && let Some(chaos) = s.chaos.clone()
                && chaos.rate > 0.0
                && !chaos.statuses.is_empty()
            {
                let draw = (s.next_random() >> 11) as f64 / (1u64 << 53) as f64;
                if draw < chaos.rate {
                    let pick = s.next_random() as usize % chaos.statuses.len();
                    let status = chaos.statuses[pick];
                    let retry = (status == 429 || status == 503)
                        .then(|| retry_after_value(&s.config, Duration::from_secs(5)))
                        .flatten();
                    decision = Before::Answer(injected(status), retry);
                }
            }
            // Throttling: per app, reads and writes separately.
            if matches!(decision, Before::Pass)
                && is_graph
                && !is_batch
                && let Some(caller) = request.extensions().get::<Caller>()
            {
                let (units, write) = cost(&method, &path, &query);
                let config = s.config.clone();
                let now = Instant::now();
                let (ru, writes) = s.budgets.entry(caller.app.clone()).or_insert_with(|| {
                    (
                        Budget::new(Duration::from_secs(10)),
                        Budget::new(Duration::from_secs(150)),
                    )
                });
                let mut wait = ru
                    .spend(units, config.ru_per_10s, now)
                    .map(|w| (w, "ResourceUnitLimitExceeded"));
                if write && wait.is_none() {
                    wait = writes
                        .spend(1, config.writes_per_150s, now)
                        .map(|w| (w, "WriteLimitExceeded"));
                }
                // Teams: a few requests per second per team and app
                // (`GDOCS:concepts/throttling-limits.md`, Microsoft Teams service limits).
                if wait.is_none()
                    && config.teams_per_second > 0
                    && let Some(team) = path
                        .strip_prefix("/v1.0/teams/")
                        .and_then(|rest| rest.split('/').next())
                {
                    wait = s
                        .team_budgets
                        .entry(format!("{}:{}", caller.app, team.to_lowercase()))
                        .or_insert_with(|| Budget::new(Duration::from_secs(1)))
                        .spend(1, config.teams_per_second, now)
                        .map(|w| (w, "TeamRequestLimitExceeded"));
                }
                if let Some((wait, why)) = wait {
                    throttle_info = Some(why);
                    let mut error = injected(429);
                    error.message = format!("Please retry again later. ({why})");
                    decision = Before::Answer(error, retry_after_value(&config, wait));
                }
            }
            if !in_batch {
                delay = delay.max(s.config.latency_ms);
            }
            (decision, delay)
        })
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    let (mut response, retry_after) = match (refused, before) {
        (Some(error), _) => (error.into_response(), None),
        (None, Before::Answer(error, retry)) => (error.into_response(), retry),
        (None, Before::AfterWrite(error, retry)) => {
            let _ = next.run(request).await;
            (error.into_response(), retry)
        }
        (None, Before::Pass) => (next.run(request).await, None),
    };

    let date = sim.with(|s| s.now());
    if let Some(error) = response.extensions().get::<GraphError>().cloned()
        && is_arm
    {
        // ARM's CloudError (`{"error":{"code","message"}}`), without Graph's innerError.
        response = json_response(
            error.status,
            json!({ "error": { "code": error.code, "message": error.message } }),
        );
    } else if let Some(error) = response.extensions().get::<GraphError>().cloned() {
        let body = envelope(
            &error,
            &request_id,
            &client_request_id,
            &date.format("%Y-%m-%dT%H:%M:%S").to_string(),
        );
        response = json_response(error.status, body);
        if let Some(why) = throttle_info {
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&format!(
                "Tenant_Application/ReadWrite/{caller_app}/{}",
                sim.tenant()
            )) {
                headers.insert("x-ms-throttle-scope", v);
            }
            headers.insert("x-ms-throttle-information", HeaderValue::from_static(why));
        }
    }
    if let Some(retry) = retry_after
        && let Ok(v) = HeaderValue::from_str(&retry)
    {
        response.headers_mut().insert("retry-after", v);
    }
    let headers: &mut HeaderMap = response.headers_mut();
    for (name, value) in [
        ("request-id", request_id.as_str()),
        ("client-request-id", client_request_id.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&date.to_rfc2822()) {
        headers.insert("date", v);
    }
    if is_arm {
        for name in [
            "x-ms-request-id",
            "x-ms-correlation-request-id",
            "x-ms-routing-request-id",
        ] {
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                headers.insert(name, v);
            }
        }
    }
    if is_graph {
        headers.insert("odata-version", HeaderValue::from_static("4.0"));
        headers.insert(
            "x-ms-ags-diagnostic",
            HeaderValue::from_static(
                r#"{"ServerInfo":{"DataCenter":"Simulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"leasegate-sim"}}"#,
            ),
        );
        if !is_batch {
            let (units, _) = cost(&method, &path, &query);
            headers.insert("x-ms-resource-unit", HeaderValue::from(units));
        }
    }
    let status = response.status().as_u16();
    sim.with(|s| {
        let at = s.now();
        s.log.push(LoggedRequest {
            method: method.to_string(),
            path: logged_path,
            status,
            client_request_id,
            in_batch,
            at,
        })
    });
    response
}

/// An empty answer with a status (204 and friends).
pub(crate) fn empty(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("a static response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_segments() {
        assert!(glob_matches("/v1.0/groups/*", "/v1.0/groups/abc"));
        assert!(!glob_matches("/v1.0/groups/*", "/v1.0/groups/abc/members"));
        assert!(glob_matches(
            "/v1.0/groups/*/members/*/$ref",
            "/v1.0/groups/a/members/b/$ref"
        ));
        assert!(glob_matches("/v1.0/**", "/v1.0/users/x/memberOf"));
        assert!(glob_matches(
            "/*/oauth2/v2.0/token",
            "/tenant/oauth2/v2.0/token"
        ));
    }

    #[test]
    fn costs_follow_the_documented_table() {
        assert_eq!(cost(&Method::GET, "/v1.0/groups/g/members", ""), (3, false));
        assert_eq!(
            cost(
                &Method::GET,
                "/v1.0/groups/g/members",
                "$select=id&$top=999"
            ),
            (2, false)
        );
        assert_eq!(
            cost(&Method::GET, "/v1.0/groups/g/transitiveMembers", "%24top=5"),
            (4, false)
        );
        assert_eq!(cost(&Method::PATCH, "/v1.0/groups/g", ""), (1, true));
        assert_eq!(
            cost(&Method::POST, "/v1.0/directoryObjects/getByIds", ""),
            (3, false)
        );
    }

    #[test]
    fn a_budget_refuses_until_its_window_ends() {
        let start = Instant::now();
        let mut budget = Budget::new(Duration::from_secs(10));
        budget.started = start;
        assert_eq!(budget.spend(5, 6, start), None);
        let wait = budget.spend(5, 6, start + Duration::from_secs(2)).unwrap();
        assert_eq!(wait, Duration::from_secs(8));
        // Retrying early is punished with the rest of the window.
        assert!(budget.spend(1, 6, start + Duration::from_secs(9)).is_some());
        assert_eq!(budget.spend(1, 6, start + Duration::from_secs(11)), None);
    }

    #[test]
    fn chaos_is_deterministic() {
        let mut a = SimState::new();
        let mut b = SimState::new();
        a.chaos_state = 42;
        b.chaos_state = 42;
        let xs: Vec<u64> = (0..5).map(|_| a.next_random()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_random()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
    }
}
