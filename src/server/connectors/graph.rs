//! `GraphTenant`: an Entra ID tenant and Microsoft 365, through Microsoft Graph (plain HTTP with
//! reqwest and serde; no SDK). It gives direct membership of Entra security and Microsoft 365
//! groups (`entra_group`), membership or ownership of Teams (`team`), time-bound PIM
//! assignments of group membership or ownership (`pim_group`) and of directory roles
//! (`entra_role`, in [`pim`]), and SharePoint sites (`sharepoint_site`, in [`sites`]); Azure
//! VM ports are the `azure` connector's.
//!
//! Microsoft's writes are not idempotent (adding a member twice is a 400, removing a non-member
//! a 404), and a 5xx or a lost answer says nothing about whether a write happened. So every
//! write here ends by reading: "already exists" and "not a member" are checked against the
//! group before they count as done, and an uncertain write is retried only for what the group
//! does not show yet. Throttling (429, 503, 504) honours `Retry-After`, a decimal; without one
//! the connector backs off with jitter. Waits longer than a call should hold a claim are handed
//! back to the engine as [`ConnectorError::Throttled`]. Graph's error codes are kept in the
//! messages, which end up in the audit trail.
//!
//! Sources: `../shared/docs/microsoft-apis.md` §1-§5 (Microsoft's Graph documentation).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{
    Account, Connector, ConnectorError, DirectoryPerson, Health, Lease, OutsideChange, PeoplePass,
    Receipt, Target,
};
use crate::domain::access::{Access, GroupRole, is_site_id};
use crate::server::app::config::Secret;

pub mod assertion;
mod group_delta;
mod guests;
mod people;
mod pim;
mod sites;

use sites::SiteWay;

/// A Graph connector as the catalog declares it (`kind = "graph"`). Its credential is a client
/// secret or a certificate (a PEM bundle of the private key and the certificate, for
/// `private_key_jwt`); either is never in the file: it comes from the environment variable
/// or file named here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSettings {
    /// The directory (tenant) id, a GUID.
    pub tenant_id: String,
    /// The application (client) id of Leasegate's app registration.
    pub client_id: String,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<String>,
    /// A certificate instead of a secret: the PEM bundle (RSA private key in PKCS#8 and the
    /// certificate registered on the app) in this environment variable or file.
    #[serde(default)]
    pub client_certificate_env: Option<String>,
    #[serde(default)]
    pub client_certificate_file: Option<String>,
    /// Where tokens come from; `{authority_url}/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default = "GraphSettings::default_authority")]
    pub authority_url: String,
    /// Graph's root, with its version.
    #[serde(default = "GraphSettings::default_graph")]
    pub graph_url: String,
    /// Seconds before one HTTP call counts as failed.
    #[serde(default = "GraphSettings::default_timeout")]
    pub timeout_seconds: u64,
    /// Writes this process sends in any 150 s (a `$batch` part counts as one). Microsoft
    /// allows 3,000 per application and tenant; the default keeps a tenth in reserve. With
    /// several replicas, divide it between them. 0: no limit of our own.
    #[serde(default = "GraphSettings::default_write_budget")]
    pub write_budget_per_150s: u32,
}

impl GraphSettings {
    pub(super) fn default_authority() -> String {
        "https://login.microsoftonline.com".into()
    }

    pub(super) fn default_graph() -> String {
        "https://graph.microsoft.com/v1.0".into()
    }

    pub(super) fn default_timeout() -> u64 {
        30
    }

    fn default_write_budget() -> u32 {
        2700
    }

    /// Whether the credential is a certificate rather than a client secret.
    pub fn uses_certificate(&self) -> bool {
        self.client_certificate_env.is_some() || self.client_certificate_file.is_some()
    }

    /// The URLs the connector calls, for the catalog's checks (https outside a lab).
    pub fn urls(&self) -> [&str; 2] {
        [&self.authority_url, &self.graph_url]
    }
}

/// The scope of an app-only Graph token: the application permissions granted to the app.
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// Azure Resource Manager's scope, for the Azure connector.
const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// How `$ref` bodies name a directory object: an identifier, not a location, so always Graph's
/// own host whatever base URL the connector uses.
const OBJECT_PREFIX: &str = "https://graph.microsoft.com/v1.0/directoryObjects/";
/// Graph's limits: links per `PATCH members@odata.bind`, requests per `$batch`, ids per
/// `getByIds`, and the largest page.
const BIND_LIMIT: usize = 20;
const BATCH_LIMIT: usize = 20;
const BY_IDS_LIMIT: usize = 1000;
const PAGE: u32 = 999;
/// Up to this many people, team memberships are looked up one `$filter` each; more, by
/// listing the team once.
const FILTERED_LOOKUPS: usize = 4;
/// The longest throttling wait taken inside one call; longer ones go back to the engine.
const LONGEST_WAIT_IN_CALL: Duration = Duration::from_secs(10);
/// Attempts of one call (throttling, 5xx, replication lag) before giving up for this pass.
pub(super) const ATTEMPTS: u32 = 5;
/// Renew a token this long before it expires.
const RENEW_EARLY: Duration = Duration::from_secs(300);

/// Reads in flight at once when accounts are read one by one.
const PARALLEL_READS: usize = 8;

const ACCOUNT_FIELDS: &str = "id,userPrincipalName,displayName,accountEnabled,department";

struct CachedToken {
    value: Secret,
    renew_at: Instant,
}

/// See the module documentation.
pub struct GraphTenant {
    name: String,
    settings: GraphSettings,
    /// The token's scope: Graph's, or Azure Resource Manager's for [`super::azure`], which
    /// uses this client for its HTTP.
    scope: &'static str,
    /// "Graph" or "ARM", for messages.
    service: &'static str,
    credential: Credential,
    http: reqwest::Client,
    /// One token at a time: concurrent calls wait for the one being fetched.
    token: Mutex<Option<CachedToken>>,
    /// Writes sent recently, and Graph's last "not before" for writes.
    writes: std::sync::Mutex<WriteBudget>,
    /// SharePoint sites' document library ids, by site (they never change).
    libraries: std::sync::Mutex<HashMap<String, String>>,
    /// One sharing change per document library at a time.
    library_locks: std::sync::Mutex<HashMap<String, std::sync::Arc<Mutex<()>>>>,
}

/// How the connector proves who it is to the token endpoint.
enum Credential {
    Secret(Secret),
    Certificate(Box<assertion::ClientCertificate>),
}

/// Graph's write budget (3,000 writes per 150 s per application and tenant) kept on our side,
/// so a burst of removals is paced instead of answered with 429s: a sliding window of the
/// writes sent, which keeps any 150 s, and so any of Graph's windows, within the budget. A 429
/// for a write closes the gate for every caller until its `Retry-After` has passed.
#[derive(Debug)]
struct WriteBudget {
    per_window: usize,
    sent: std::collections::VecDeque<Instant>,
    closed_until: Option<Instant>,
}

/// Graph's window for the write budget.
const WRITE_WINDOW: Duration = Duration::from_secs(150);

impl WriteBudget {
    fn new(per_window: u32) -> Self {
        Self {
            per_window: per_window as usize,
            sent: std::collections::VecDeque::new(),
            closed_until: None,
        }
    }

    /// Takes room for `n` writes now, or says how long until there is room.
    fn take(&mut self, n: usize, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.closed_until {
            if now < until {
                return Err(until - now);
            }
            self.closed_until = None;
        }
        if self.per_window == 0 {
            return Ok(());
        }
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WRITE_WINDOW)
        {
            self.sent.pop_front();
        }
        let n = n.min(self.per_window);
        if self.sent.len() + n <= self.per_window {
            self.sent.extend(std::iter::repeat_n(now, n));
            return Ok(());
        }
        // Room comes when the oldest writes leave the window.
        let oldest = self.sent[self.sent.len() + n - self.per_window - 1];
        Err(WRITE_WINDOW.saturating_sub(now.duration_since(oldest)))
    }

    fn close_for(&mut self, wait: Duration, now: Instant) {
        let until = now + wait;
        if self.closed_until.is_none_or(|c| c < until) {
            self.closed_until = Some(until);
        }
    }
}

/// One HTTP answer from Graph (or Azure Resource Manager), whatever its status.
#[derive(Debug)]
pub(super) struct Answer {
    /// "Graph" or "ARM", for messages.
    pub(super) service: &'static str,
    pub(super) status: StatusCode,
    pub(super) body: Value,
    pub(super) retry_after: Option<Duration>,
}

impl Answer {
    pub(super) fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// Graph's error `code` (the thing to branch on; never the message).
    pub(super) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// "Request_BadRequest: One or more ... (request-id ...)", for logs and the audit trail.
    pub(super) fn describe(&self) -> String {
        let inner = &self.body["error"]
            .get("innerError")
            .or_else(|| self.body["error"].get("innererror"))
            .cloned()
            .unwrap_or(Value::Null);
        let request = inner["request-id"].as_str().unwrap_or("");
        format!(
            "{} {} {}: {}{}",
            self.service,
            self.status.as_u16(),
            self.code(),
            self.message(),
            if request.is_empty() {
                String::new()
            } else {
                format!(" (request-id {request})")
            }
        )
    }

    fn already_exists(&self) -> bool {
        self.status == StatusCode::BAD_REQUEST
            && self.code() == "Request_BadRequest"
            && self.message().contains("already exist")
    }

    pub(super) fn not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }

    /// 429, 503, 504: Graph did not do it, or asks us to come back.
    fn throttled(&self) -> bool {
        matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        )
    }
}

/// What a write's answer means for the state it was meant to reach.
pub(super) enum Written {
    Done(Answer),
    /// A 5xx or no answer at all: the write may or may not have happened.
    Uncertain(String),
    /// Any other refusal (4xx), as Graph gave it.
    Refused(Answer),
}

impl GraphTenant {
    pub fn new(
        name: impl Into<String>,
        settings: GraphSettings,
        secret: Secret,
    ) -> Result<Self, ConnectorError> {
        let http = reqwest::Client::builder()
            // Never follow a redirect with a bearer token or a client secret.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.timeout_seconds.max(1)))
            .build()
            .map_err(|e| ConnectorError::Permanent(format!("cannot build an HTTP client: {e}")))?;
        let writes = WriteBudget::new(settings.write_budget_per_150s);
        let name = name.into();
        let credential = if settings.uses_certificate() {
            let certificate = assertion::ClientCertificate::from_pem(secret.expose())
                .map_err(|e| ConnectorError::Permanent(format!("connector `{name}`: {e}")))?;
            Credential::Certificate(Box::new(certificate))
        } else {
            Credential::Secret(secret)
        };
        Ok(Self {
            name,
            settings,
            scope: GRAPH_SCOPE,
            service: "Graph",
            credential,
            http,
            token: Mutex::new(None),
            writes: std::sync::Mutex::new(writes),
            libraries: std::sync::Mutex::new(HashMap::new()),
            library_locks: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The same client for Azure Resource Manager: `settings.graph_url` is ARM's root, and
    /// tokens are asked for ARM's scope. Graph's write budget does not apply (ARM's limits
    /// are per subscription and answered with 429s, which are honoured).
    pub(super) fn for_arm(
        name: impl Into<String>,
        mut settings: GraphSettings,
        secret: Secret,
    ) -> Result<Self, ConnectorError> {
        settings.write_budget_per_150s = 0;
        let mut client = Self::new(name, settings, secret)?;
        client.scope = ARM_SCOPE;
        client.service = "ARM";
        Ok(client)
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.graph_url.trim_end_matches('/'))
    }

    fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.settings.authority_url.trim_end_matches('/'),
            self.settings.tenant_id
        )
    }

    /// An app-only token by the client-credentials flow, cached until shortly before it
    /// expires. A refusal of our credentials is a configuration problem, not something to
    /// retry quickly.
    async fn token(&self) -> Result<Secret, ConnectorError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(Secret::new(token.value.expose()));
        }
        let token_url = TokenUrl::new(self.token_url())
            .map_err(|e| ConnectorError::Permanent(format!("token URL: {e}")))?;
        let client = BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);
        let response = match &self.credential {
            Credential::Secret(secret) => {
                client
                    .set_client_secret(ClientSecret::new(secret.expose().to_string()))
                    .exchange_client_credentials()
                    .add_scope(Scope::new(self.scope.into()))
                    .request_async(&self.http)
                    .await
            }
            Credential::Certificate(certificate) => {
                let jwt = certificate
                    .assertion(
                        &self.settings.client_id,
                        &self.token_url(),
                        chrono::Utc::now().timestamp(),
                    )
                    .map_err(ConnectorError::Permanent)?;
                client
                    .exchange_client_credentials()
                    .add_scope(Scope::new(self.scope.into()))
                    .add_extra_param(
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    )
                    .add_extra_param("client_assertion", jwt)
                    .request_async(&self.http)
                    .await
            }
        }
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(refusal) => ConnectorError::Permanent(format!(
                "the identity platform refused Leasegate's credentials for `{}`: {}{}",
                self.name,
                refusal.error(),
                refusal
                    .error_description()
                    .map(|d| format!(" ({})", d.lines().next().unwrap_or("")))
                    .unwrap_or_default()
            )),
            RequestTokenError::Request(e) => {
                ConnectorError::Transient(format!("token endpoint unreachable: {e}"))
            }
            other => ConnectorError::Transient(format!("token endpoint: {other}")),
        })?;
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3600));
        let early = RENEW_EARLY.min(lifetime / 2);
        let value = response.access_token().secret().clone();
        *cached = Some(CachedToken {
            value: Secret::new(value.clone()),
            renew_at: Instant::now() + lifetime - early,
        });
        Ok(Secret::new(value))
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// One HTTP exchange, with a fresh token once if Graph says ours is no longer good.
    /// `Err` only when no answer came (connection refused, timeout).
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, ConnectorError> {
        for renewed in [false, true] {
            let token = self.token().await?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose())
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(tag) = if_match {
                request = request.header(reqwest::header::IF_MATCH, tag);
            }
            let response = request.send().await.map_err(|e| {
                ConnectorError::Transient(format!(
                    "{} {method} {}: {e}",
                    self.service,
                    path_of(url)
                ))
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let text = response.text().await.unwrap_or_default();
            let body = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
            };
            let answer = Answer {
                service: self.service,
                status,
                body,
                retry_after,
            };
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // Expired or revoked early: one new token, then the answer stands.
                self.forget_token().await;
                continue;
            }
            return Ok(answer);
        }
        unreachable!("the loop returns on its second turn")
    }

    /// A call that changes nothing (a GET, or a read such as `getByIds` that is a POST), retried
    /// through throttling, 5xx and lost answers; the last answer, success or refusal.
    pub(super) async fn ask(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ConnectorError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = match self.exchange(method.clone(), url, body, None).await {
                Ok(answer) => answer,
                Err(error) if attempt < ATTEMPTS && !error.is_permanent() => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(error) => return Err(error),
            };
            if answer.throttled() || answer.status.is_server_error() {
                self.wait(&answer, attempt).await?;
                continue;
            }
            return Ok(answer);
        }
    }

    /// A read; any refusal is an error.
    pub(super) async fn read(&self, url: &str) -> Result<Value, ConnectorError> {
        let answer = self.ask(Method::GET, url, None).await?;
        if answer.ok() {
            Ok(answer.body)
        } else {
            Err(refusal(&answer))
        }
    }

    /// A read whose 404 means "no such object": `Ok(None)`.
    /// The tenant's id as people's identities carry it (lower case).
    pub(super) fn tenant_id(&self) -> String {
        self.settings.tenant_id.trim().to_lowercase()
    }

    pub(super) async fn read_optional(&self, url: &str) -> Result<Option<Value>, ConnectorError> {
        let answer = self.ask(Method::GET, url, None).await?;
        if answer.ok() {
            Ok(Some(answer.body))
        } else if answer.not_found() {
            Ok(None)
        } else {
            Err(refusal(&answer))
        }
    }

    /// Every item of a collection, following `@odata.nextLink` exactly as given.
    pub(super) async fn read_all(&self, url: &str) -> Result<Vec<Value>, ConnectorError> {
        self.read_all_optional(url).await?.ok_or_else(|| {
            ConnectorError::Permanent(format!(
                "{} 404: the object behind {} does not exist",
                self.service,
                path_of(url)
            ))
        })
    }

    /// Every item of a collection; `Ok(None)` when its owner does not exist (a 404).
    pub(super) async fn read_all_optional(
        &self,
        url: &str,
    ) -> Result<Option<Vec<Value>>, ConnectorError> {
        let mut items = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(url) = next.take() {
            let Some(mut page) = self.read_optional(&url).await? else {
                return Ok(None);
            };
            if let Some(Value::Array(values)) = page.get_mut("value").map(Value::take) {
                items.extend(values);
            }
            // Graph pages with `@odata.nextLink`, Azure Resource Manager with `nextLink`.
            next = page["@odata.nextLink"]
                .as_str()
                .or_else(|| page["nextLink"].as_str())
                .map(str::to_string);
        }
        Ok(Some(items))
    }

    /// A change-tracking round (`users/delta`, `groups/delta`) from `start`: every page's entries
    /// handed to `entry`, `@odata.nextLink` followed to the page with `@odata.deltaLink`, which is
    /// answered (the next round's start). `None`: Graph says the round's token has expired
    /// (`syncStateNotFound`, `resyncRequired`, 410); a complete round starts over.
    pub(super) async fn delta_round_pages(
        &self,
        start: &str,
        mut entry: impl FnMut(&Value),
    ) -> Result<Option<String>, ConnectorError> {
        let mut next = start.to_string();
        loop {
            let answer = self.ask(Method::GET, &next, None).await?;
            if answer.status == StatusCode::GONE
                || (answer.status == StatusCode::BAD_REQUEST
                    && matches!(answer.code(), "syncStateNotFound" | "resyncRequired"))
            {
                return Ok(None);
            }
            if !answer.ok() {
                return Err(refusal(&answer));
            }
            answer.body["value"]
                .as_array()
                .into_iter()
                .flatten()
                .for_each(&mut entry);
            if let Some(link) = answer.body["@odata.nextLink"].as_str() {
                next = link.to_string();
            } else if let Some(link) = answer.body["@odata.deltaLink"].as_str() {
                return Ok(Some(link.to_string()));
            } else {
                return Err(ConnectorError::Transient(
                    "Graph ended a delta page with neither nextLink nor deltaLink".into(),
                ));
            }
        }
    }

    /// A write. Throttling is retried (Graph did not act on a throttled request); a 5xx or a
    /// lost answer is handed back as [`Written::Uncertain`] for the caller to reconcile by
    /// reading.
    pub(super) async fn write(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        units: usize,
    ) -> Result<Written, ConnectorError> {
        self.write_with(method, url, body, units, None).await
    }

    /// A write that Graph makes only while the object's eTag is still `tag` (a 412 otherwise).
    pub(super) async fn write_if_match(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        tag: &str,
    ) -> Result<Written, ConnectorError> {
        self.write_with(method, url, body, 1, Some(tag)).await
    }

    async fn write_with(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        units: usize,
        if_match: Option<&str>,
    ) -> Result<Written, ConnectorError> {
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            // Our side of Graph's write budget first: wait a little, or hand the wait back.
            loop {
                let taken = self
                    .writes
                    .lock()
                    .expect("write budget")
                    .take(units, Instant::now());
                match taken {
                    Ok(()) => break,
                    Err(wait) if waited + wait <= LONGEST_WAIT_IN_CALL => {
                        waited += wait;
                        crate::server::app::metrics::waited(wait);
                        tokio::time::sleep(wait).await;
                    }
                    Err(wait) => {
                        return Err(ConnectorError::Throttled {
                            retry_after: wait,
                            detail: format!(
                                "Graph's write budget for `{}` is spent for now ({} writes per \
                                 150 s); the rest waits",
                                self.name, self.settings.write_budget_per_150s
                            ),
                        });
                    }
                }
            }
            let answer = match self.exchange(method.clone(), url, body, if_match).await {
                Ok(answer) => answer,
                Err(ConnectorError::Transient(detail)) => return Ok(Written::Uncertain(detail)),
                Err(error) => return Err(error),
            };
            if answer.status == StatusCode::TOO_MANY_REQUESTS {
                self.close_writes(&answer);
                self.wait(&answer, attempt).await?;
                continue;
            }
            if answer.status.is_server_error() {
                return Ok(Written::Uncertain(answer.describe()));
            }
            return Ok(if answer.ok() {
                Written::Done(answer)
            } else {
                Written::Refused(answer)
            });
        }
    }

    /// A 429 for a write: no caller sends writes until Graph's `Retry-After` has passed.
    fn close_writes(&self, answer: &Answer) {
        let wait = answer.retry_after.unwrap_or(Duration::from_secs(1));
        self.writes
            .lock()
            .expect("write budget")
            .close_for(wait, Instant::now());
    }

    /// Waits as Graph asked (or backs off), unless that is too long for one call or the
    /// attempts are spent: then the engine is told when to come back.
    async fn wait(&self, answer: &Answer, attempt: u32) -> Result<(), ConnectorError> {
        let wait = answer.retry_after.unwrap_or_else(|| backoff(attempt));
        if attempt >= ATTEMPTS || wait > LONGEST_WAIT_IN_CALL {
            return Err(if answer.throttled() {
                ConnectorError::Throttled {
                    retry_after: wait,
                    detail: answer.describe(),
                }
            } else {
                ConnectorError::Transient(answer.describe())
            });
        }
        tracing::debug!(connector = %self.name, status = %answer.status, ?wait, "Graph asked us to wait");
        crate::server::app::metrics::waited(wait);
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The team memberships of `users`, by lower-cased user id. A few are looked up by
    /// `$filter` on the user id, many by listing the team once; membership ids are opaque and
    /// never parsed.
    async fn team_memberships(
        &self,
        team: &str,
        users: &[String],
    ) -> Result<HashMap<String, Value>, ConnectorError> {
        let by_user = |items: Vec<Value>| -> HashMap<String, Value> {
            items
                .into_iter()
                .filter_map(|m| Some((m["userId"].as_str()?.to_lowercase(), m)))
                .collect()
        };
        if users.len() > FILTERED_LOOKUPS {
            let url = self.url(&format!("/teams/{}/members", segment(team)));
            return Ok(by_user(self.read_all(&url).await?));
        }
        let mut found = HashMap::new();
        for user in users {
            let filter = format!("(microsoft.graph.aadUserConversationMember/userId eq '{user}')");
            let url = self.url(&format!(
                "/teams/{}/members?$filter={}",
                segment(team),
                segment(&filter)
            ));
            found.extend(by_user(self.read_all(&url).await?));
        }
        Ok(found)
    }

    /// Adds each person to the team with the role. Teams answers 201 for someone already in
    /// it, so a repeat after a lost answer is harmless; the receipt keeps the membership id.
    async fn add_to_team(
        &self,
        team: &str,
        role: GroupRole,
        accounts: &[String],
    ) -> Result<Vec<Receipt>, ConnectorError> {
        let url = self.url(&format!("/teams/{}/members", segment(team)));
        let roles: Vec<&str> = match role {
            GroupRole::Owner => vec!["owner"],
            GroupRole::Member => vec![],
        };
        let mut receipts = Vec::new();
        for account in accounts {
            let body = json!({
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "roles": roles,
                "user@odata.bind": format!("https://graph.microsoft.com/v1.0/users('{account}')"),
            });
            let mut attempt = 0;
            let answer = loop {
                attempt += 1;
                match self.write(Method::POST, &url, Some(&body), 1).await? {
                    Written::Done(answer) => break answer,
                    // Idempotent: send it again.
                    Written::Uncertain(detail) if attempt < ATTEMPTS => {
                        tracing::debug!(connector = %self.name, %detail, "team add uncertain; again");
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    Written::Uncertain(detail) => return Err(ConnectorError::Transient(detail)),
                    Written::Refused(answer) => return Err(refusal(&answer)),
                }
            };
            receipts.push(Receipt {
                account: account.clone(),
                detail: json!({
                    "team_membership_id": answer.body["id"],
                    "roles": answer.body["roles"],
                }),
            });
        }
        Ok(receipts)
    }

    /// Removes each person's membership (an owner lease ends the membership too, so nothing
    /// is left behind). Someone not in the team is done.
    async fn remove_from_team(
        &self,
        team: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        let memberships = self.team_memberships(team, accounts).await?;
        for membership in memberships.values() {
            let Some(id) = membership["id"].as_str() else {
                continue;
            };
            let url = self.url(&format!("/teams/{}/members/{}", segment(team), segment(id)));
            match self.write(Method::DELETE, &url, None, 1).await? {
                Written::Done(_) => {}
                Written::Refused(answer) if answer.not_found() => {}
                // Read back below (the engine's holding) decides; try again later.
                Written::Uncertain(detail) => return Err(ConnectorError::Transient(detail)),
                Written::Refused(answer) => return Err(refusal(&answer)),
            }
        }
        Ok(())
    }

    /// Which of `accounts` still hold the team `role` (owner: the owner role; member: any
    /// membership).
    async fn holding_team(
        &self,
        team: &str,
        role: GroupRole,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        let memberships = self.team_memberships(team, accounts).await?;
        Ok(accounts
            .iter()
            .filter(|account| {
                memberships.get(&account.to_lowercase()).is_some_and(|m| {
                    role == GroupRole::Member
                        || m["roles"]
                            .as_array()
                            .is_some_and(|r| r.iter().any(|v| v.as_str() == Some("owner")))
                })
            })
            .cloned()
            .collect())
    }

    /// The direct members of a group (object ids, lower-cased); `Ok(None)` when the group does
    /// not exist.
    async fn members(&self, group: &str) -> Result<Option<HashSet<String>>, ConnectorError> {
        self.relation(group, "members").await
    }

    /// A group's direct `members` or `owners` (object ids, lower-cased); `Ok(None)` when the
    /// group does not exist.
    async fn relation(
        &self,
        group: &str,
        relation: &str,
    ) -> Result<Option<HashSet<String>>, ConnectorError> {
        let url = self.url(&format!(
            "/groups/{}/{relation}?$select=id&$top={PAGE}",
            segment(group)
        ));
        Ok(self.read_all_optional(&url).await?.map(|items| {
            items
                .iter()
                .filter_map(|m| m["id"].as_str())
                .map(str::to_lowercase)
                .collect()
        }))
    }

    /// Adds owners one by one (`POST /groups/{id}/owners/$ref`); "already exist" and an
    /// uncertain answer are checked against the group's owners.
    async fn add_owners(&self, group: &str, accounts: &[String]) -> Result<(), ConnectorError> {
        let url = self.url(&format!("/groups/{}/owners/$ref", segment(group)));
        for account in accounts {
            let body = json!({ "@odata.id": format!("{OBJECT_PREFIX}{account}") });
            let mut attempt = 0;
            loop {
                attempt += 1;
                let done = match self.write(Method::POST, &url, Some(&body), 1).await? {
                    Written::Done(_) => true,
                    Written::Refused(answer) if answer.already_exists() => true,
                    Written::Refused(answer) => return Err(refusal(&answer)),
                    Written::Uncertain(detail) => {
                        let owners = self.relation(group, "owners").await?.unwrap_or_default();
                        if owners.contains(&account.to_lowercase()) {
                            true
                        } else if attempt >= ATTEMPTS {
                            return Err(ConnectorError::Transient(detail));
                        } else {
                            false
                        }
                    }
                };
                if done {
                    break;
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Ok(())
    }

    async fn group_exists(&self, group: &str) -> Result<bool, ConnectorError> {
        Ok(self
            .read_optional(&self.url(&format!("/groups/{}?$select=id", segment(group))))
            .await?
            .is_some())
    }

    /// Adds up to 20 members in one atomic `PATCH members@odata.bind`, reconciling "already
    /// exists" and uncertain answers against the group's members.
    async fn add_members(&self, group: &str, accounts: &[String]) -> Result<(), ConnectorError> {
        let url = self.url(&format!("/groups/{}", segment(group)));
        let mut todo: Vec<String> = accounts.to_vec();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let binds: Vec<String> = todo
                .iter()
                .map(|id| format!("{OBJECT_PREFIX}{id}"))
                .collect();
            let body = json!({ "members@odata.bind": binds });
            let reconcile = match self.write(Method::PATCH, &url, Some(&body), 1).await? {
                Written::Done(_) => return Ok(()),
                Written::Refused(answer) if answer.already_exists() => answer.describe(),
                Written::Uncertain(detail) => detail,
                Written::Refused(answer) if answer.not_found() => {
                    // A fresh object can 404 for seconds (replication); a deleted one for good.
                    if attempt >= ATTEMPTS {
                        return Err(self.missing_for_add(group, &todo, &answer).await);
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Written::Refused(answer) => return Err(refusal(&answer)),
            };
            // The batch is all-or-nothing: add only what the group does not show.
            let Some(members) = self.members(group).await? else {
                return Err(ConnectorError::Permanent(format!(
                    "Entra group {group} does not exist"
                )));
            };
            todo.retain(|id| !members.contains(&id.to_lowercase()));
            if todo.is_empty() {
                return Ok(());
            }
            if attempt >= ATTEMPTS {
                return Err(ConnectorError::Transient(format!(
                    "{} member(s) not added yet: {reconcile}",
                    todo.len()
                )));
            }
        }
    }

    /// After repeated 404s on an add: a missing group or account is permanent; otherwise it is
    /// probably replication lag, worth another pass.
    async fn missing_for_add(
        &self,
        group: &str,
        accounts: &[String],
        answer: &Answer,
    ) -> ConnectorError {
        match self.group_exists(group).await {
            Ok(false) => {
                return ConnectorError::Permanent(format!("Entra group {group} does not exist"));
            }
            Err(error) => return error,
            Ok(true) => {}
        }
        match self.objects_by_id(accounts).await {
            Ok(found) => {
                let found: HashSet<String> = found
                    .iter()
                    .filter_map(|o| o["id"].as_str())
                    .map(str::to_lowercase)
                    .collect();
                let missing: Vec<&String> = accounts
                    .iter()
                    .filter(|a| !found.contains(&a.to_lowercase()))
                    .collect();
                if missing.is_empty() {
                    ConnectorError::Transient(answer.describe())
                } else {
                    ConnectorError::Permanent(format!(
                        "no such account in Entra ID: {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
            Err(error) => error,
        }
    }

    /// Removes members with `$batch` (20 removals a request). Each part's status counts on its
    /// own: 204 done, 404 done once the group is known to exist ("not a member"), 429 retried
    /// after its own `Retry-After`, 5xx and 424 retried (a repeat answers 404 if the first
    /// took effect).
    async fn remove_members(&self, group: &str, accounts: &[String]) -> Result<(), ConnectorError> {
        let mut todo: Vec<String> = accounts.to_vec();
        let mut not_found = false;
        let mut attempt = 0;
        while !todo.is_empty() {
            attempt += 1;
            let mut again = Vec::new();
            let mut wait: Option<Duration> = None;
            let mut last = String::new();
            for chunk in todo.chunks(BATCH_LIMIT) {
                let requests: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        json!({
                            "id": (i + 1).to_string(),
                            "method": "DELETE",
                            "url": format!("/groups/{}/members/{}/$ref", segment(group), segment(id)),
                        })
                    })
                    .collect();
                let body = json!({ "requests": requests });
                let answer = match self
                    .write(Method::POST, &self.url("/$batch"), Some(&body), chunk.len())
                    .await?
                {
                    Written::Done(answer) => answer,
                    Written::Uncertain(detail) => {
                        // The whole batch may or may not have run: do it again.
                        last = detail;
                        again.extend(chunk.iter().cloned());
                        continue;
                    }
                    Written::Refused(answer) => return Err(refusal(&answer)),
                };
                let responses = answer.body["responses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for (i, id) in chunk.iter().enumerate() {
                    let key = (i + 1).to_string();
                    let Some(part) = responses.iter().find(|r| r["id"].as_str() == Some(&key))
                    else {
                        again.push(id.clone());
                        continue;
                    };
                    let status = part["status"].as_u64().unwrap_or(0);
                    let inner = Answer {
                        service: "Graph",
                        status: StatusCode::from_u16(status as u16)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        body: part["body"].clone(),
                        retry_after: part["headers"]
                            .as_object()
                            .and_then(|h| {
                                h.iter()
                                    .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                                    .and_then(|(_, v)| v.as_str().map(str::to_string))
                            })
                            .as_deref()
                            .and_then(parse_retry_after),
                    };
                    match status {
                        200..=299 => {}
                        404 => not_found = true,
                        429 | 424 | 500..=599 => {
                            if inner.status == StatusCode::TOO_MANY_REQUESTS {
                                self.close_writes(&inner);
                                let asked = inner.retry_after.unwrap_or_else(|| backoff(attempt));
                                wait = Some(wait.map_or(asked, |w| w.max(asked)));
                            }
                            last = inner.describe();
                            again.push(id.clone());
                        }
                        _ => return Err(refusal(&inner)),
                    }
                }
            }
            todo = again;
            if todo.is_empty() {
                break;
            }
            let wait = wait.unwrap_or_else(|| backoff(attempt));
            if attempt >= ATTEMPTS || wait > LONGEST_WAIT_IN_CALL {
                return Err(ConnectorError::Throttled {
                    retry_after: wait,
                    detail: format!("{} removal(s) still to do: {last}", todo.len()),
                });
            }
            crate::server::app::metrics::waited(wait);
            tokio::time::sleep(wait).await;
        }
        // "Not a member" and "no such group" share one 404; only the group tells them apart.
        if not_found && !self.group_exists(group).await? {
            return Err(ConnectorError::Permanent(format!(
                "Entra group {group} does not exist"
            )));
        }
        Ok(())
    }

    /// Directory objects by id (`getByIds`, up to 1000 a call); missing ones are left out.
    async fn objects_by_id(&self, ids: &[String]) -> Result<Vec<Value>, ConnectorError> {
        let mut found = Vec::new();
        let url = self.url(&format!(
            "/directoryObjects/getByIds?$select={ACCOUNT_FIELDS}"
        ));
        for chunk in ids.chunks(BY_IDS_LIMIT) {
            let body = json!({ "ids": chunk, "types": ["user"] });
            // A read, although it is a POST: safe to repeat.
            let answer = self.ask(Method::POST, &url, Some(&body)).await?;
            if !answer.ok() {
                return Err(refusal(&answer));
            }
            if let Some(values) = answer.body["value"].as_array() {
                found.extend(values.iter().cloned());
            }
        }
        Ok(found)
    }
}

/// A refused call as the engine sees it: permanent, with Graph's code and request id.
pub(super) fn refusal(answer: &Answer) -> ConnectorError {
    if answer.throttled() {
        return ConnectorError::Throttled {
            retry_after: answer.retry_after.unwrap_or(Duration::from_secs(5)),
            detail: answer.describe(),
        };
    }
    if answer.status.is_server_error() {
        return ConnectorError::Transient(answer.describe());
    }
    ConnectorError::Permanent(answer.describe())
}

/// `Retry-After` in seconds, which Graph may give as a decimal ("2.128").
fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

/// Without `Retry-After`: about 0.5 s, 1 s, 2 s ... up to 8 s, each with jitter (`backon`).
pub(super) fn backoff(attempt: u32) -> Duration {
    use backon::{BackoffBuilder as _, ExponentialBuilder};
    // [0.25 s, 0.5 s) at the first retry, doubling with jitter up to [4 s, 8 s).
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(4))
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt.clamp(1, 16) as usize - 1)
        .unwrap_or(Duration::from_secs(8))
}

/// A path segment: object ids are GUIDs, UPNs may carry `#` (guests) and other characters.
pub(super) fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn path_of(url: &str) -> &str {
    url.split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(url)
}

/// The group relation a role is held in: `members` or `owners`.
fn relation_of(role: GroupRole) -> &'static str {
    match role {
        GroupRole::Member => "members",
        GroupRole::Owner => "owners",
    }
}

/// The PIM assignment an access to `target` is.
fn pim_of<'a>(access: &'a Access, target: &'a str) -> pim::Pim<'a> {
    match access {
        Access::PimGroup { role } => pim::Pim::Group {
            group: target,
            role: *role,
        },
        Access::EntraRole { directory_scope } => pim::Pim::Role {
            role: target,
            scope: directory_scope,
        },
        _ => unreachable!("only PIM kinds are asked for"),
    }
}

fn to_account(user: &Value) -> Option<Account> {
    let id = user["id"].as_str()?.to_string();
    Some(Account {
        reference: id.clone(),
        stable_id: Some(id),
        // Absent when not selected; every read here selects it.
        enabled: user["accountEnabled"].as_bool().unwrap_or(true),
        upn: user["userPrincipalName"].as_str().map(str::to_string),
        display_name: user["displayName"].as_str().map(str::to_string),
        department: user["department"].as_str().map(str::to_string),
        // Present where the read expanded it.
        manager: user["manager"]["id"].as_str().map(str::to_string),
        in_scope: true,
    })
}

#[async_trait]
impl Connector for GraphTenant {
    fn identities(&self) -> Option<&dyn crate::server::connectors::ExternalIdentities> {
        Some(self)
    }

    async fn find_account(&self, upn: &str) -> Result<Option<Account>, ConnectorError> {
        // The manager comes in the same call, for manager approval.
        let url = self.url(&format!(
            "/users/{}?$select={ACCOUNT_FIELDS}&$expand=manager($select=id)",
            segment(upn.trim())
        ));
        Ok(self
            .read_optional(&url)
            .await?
            .as_ref()
            .and_then(to_account))
    }

    async fn account(&self, reference: &str) -> Result<Option<Account>, ConnectorError> {
        self.find_account(reference).await
    }

    async fn accounts(&self, references: &[String]) -> Result<Vec<Account>, ConnectorError> {
        self.accounts_by_id(references).await
    }

    async fn accounts_by_id(&self, stable_ids: &[String]) -> Result<Vec<Account>, ConnectorError> {
        // getByIds' default property set lacks accountEnabled, which the account watch needs:
        // it is asked for with `$select` (undocumented for this action), and read one by one
        // for any user whose answer still lacks it, so a disabled account is never taken for
        // an enabled one.
        let mut objects = self.objects_by_id(stable_ids).await?;
        let lacking: Vec<usize> = objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o["accountEnabled"].as_bool().is_none() && o["id"].is_string())
            .map(|(i, _)| i)
            .collect();
        let urls: Vec<String> = lacking
            .iter()
            .map(|&i| {
                self.url(&format!(
                    "/users/{}?$select={ACCOUNT_FIELDS}",
                    segment(objects[i]["id"].as_str().unwrap_or_default())
                ))
            })
            .collect();
        let reads: Vec<Result<Option<Value>, ConnectorError>> = futures::stream::iter(urls)
            .map(|url| async move { self.read_optional(&url).await })
            .buffered(PARALLEL_READS)
            .collect()
            .await;
        for (&i, read) in lacking.iter().zip(reads) {
            match read? {
                Some(user) => objects[i] = user,
                // Deleted since: leave it out, as getByIds would.
                None => objects[i] = Value::Null,
            }
        }
        Ok(objects.iter().filter_map(to_account).collect())
    }

    async fn target(
        &self,
        access: &Access,
        reference: &str,
    ) -> Result<Option<Target>, ConnectorError> {
        let url = match access {
            Access::EntraGroup | Access::PimGroup { .. } | Access::Team { .. } => {
                self.url(&format!(
                    "/groups/{}?$select=id,displayName",
                    segment(reference.trim())
                ))
            }
            Access::EntraRole { .. } => self.url(&format!(
                "/roleManagement/directory/roleDefinitions/{}",
                segment(reference.trim())
            )),
            // A site without a group, by its own id.
            Access::SharepointSite { .. } if is_site_id(reference.trim()) => {
                return Ok(self.site_target(reference.trim()).await?.map(|id| Target {
                    reference: id.clone(),
                    stable_id: Some(id),
                }));
            }
            // A group-connected site through its Microsoft 365 group: the target is the group,
            // and it must have a site.
            Access::SharepointSite { .. } => {
                let url = self.url(&format!(
                    "/groups/{}/sites/root?$select=id,webUrl",
                    segment(reference.trim())
                ));
                return Ok(self.read_optional(&url).await?.map(|_| Target {
                    reference: reference.trim().to_lowercase(),
                    stable_id: Some(reference.trim().to_lowercase()),
                }));
            }
            other => return Err(ConnectorError::unsupported(&self.name, other)),
        };
        Ok(self.read_optional(&url).await?.and_then(|g| {
            let id = g["id"].as_str()?.to_string();
            Some(Target {
                reference: id.clone(),
                stable_id: Some(id),
            })
        }))
    }

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
        let accounts: Vec<String> = leases
            .iter()
            .map(|l| l.account.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match access {
            Access::EntraGroup => {
                for chunk in accounts.chunks(BIND_LIMIT) {
                    self.add_members(target, chunk).await?;
                }
                Ok(Vec::new())
            }
            Access::Team { role } => self.add_to_team(target, *role, &accounts).await,
            Access::PimGroup { .. } | Access::EntraRole { .. } => {
                self.grant_pim(pim_of(access, target), leases).await
            }
            Access::SharepointSite { role } => match sites::way(*role, target)? {
                SiteWay::Group(GroupRole::Member) => {
                    for chunk in accounts.chunks(BIND_LIMIT) {
                        self.add_members(target, chunk).await?;
                    }
                    Ok(Vec::new())
                }
                SiteWay::Group(GroupRole::Owner) => {
                    self.add_owners(target, &accounts).await?;
                    Ok(Vec::new())
                }
                SiteWay::Library(share) => self.share_library(target, share, &accounts).await,
            },
            other => Err(ConnectorError::unsupported(&self.name, other)),
        }
    }

    async fn revoke(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<(), ConnectorError> {
        match access {
            Access::EntraGroup => self.remove_members(target, accounts).await,
            Access::Team { .. } => self.remove_from_team(target, accounts).await,
            Access::PimGroup { .. } | Access::EntraRole { .. } => {
                self.revoke_pim(pim_of(access, target), accounts).await
            }
            Access::SharepointSite { role } => match sites::way(*role, target)? {
                SiteWay::Group(GroupRole::Member) => self.remove_members(target, accounts).await,
                SiteWay::Group(GroupRole::Owner) => self.remove_owners(target, accounts).await,
                SiteWay::Library(share) => self.unshare_library(target, share, accounts).await,
            },
            other => Err(ConnectorError::unsupported(&self.name, other)),
        }
    }

    async fn holding(
        &self,
        access: &Access,
        target: &str,
        accounts: &[String],
    ) -> Result<Vec<String>, ConnectorError> {
        let relation = match access {
            Access::EntraGroup => "members",
            Access::SharepointSite { role } => match sites::way(*role, target)? {
                SiteWay::Group(role) => relation_of(role),
                SiteWay::Library(share) => {
                    return self.holding_library(target, share, accounts).await;
                }
            },
            Access::Team { role } => return self.holding_team(target, *role, accounts).await,
            Access::PimGroup { .. } | Access::EntraRole { .. } => {
                return self.holding_pim(pim_of(access, target), accounts).await;
            }
            other => return Err(ConnectorError::unsupported(&self.name, other)),
        };
        let Some(members) = self.relation(target, relation).await? else {
            return Err(ConnectorError::Permanent(format!(
                "Entra group {target} does not exist"
            )));
        };
        Ok(accounts
            .iter()
            .filter(|a| members.contains(&a.to_lowercase()))
            .cloned()
            .collect())
    }

    fn lists_holders_of(&self, access: &Access) -> bool {
        matches!(
            access,
            Access::EntraGroup
                | Access::Team { .. }
                | Access::PimGroup { .. }
                | Access::EntraRole { .. }
                | Access::SharepointSite { .. }
        )
    }

    async fn holders_of(
        &self,
        access: &Access,
        target: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        let relation = match access {
            Access::EntraGroup => "members",
            Access::Team { role } => relation_of(*role),
            Access::PimGroup { .. } | Access::EntraRole { .. } => {
                return self.pim_holders(pim_of(access, target)).await;
            }
            Access::SharepointSite { role } => match sites::way(*role, target)? {
                SiteWay::Group(role) => relation_of(role),
                SiteWay::Library(share) => return self.library_holders(target, share).await,
            },
            other => {
                return Err(ConnectorError::Permanent(format!(
                    "connector `{}` cannot list who holds {} access yet",
                    self.name,
                    other.kind()
                )));
            }
        };
        match self.relation(target, relation).await? {
            Some(holders) => Ok(holders.into_iter().collect()),
            None => Err(ConnectorError::Permanent(format!(
                "Entra group {target} does not exist"
            ))),
        }
    }

    async fn holders_delta(
        &self,
        access: &Access,
        target: &str,
        cursor: Option<&str>,
    ) -> Result<Option<crate::server::connectors::HoldersDelta>, ConnectorError> {
        match access {
            Access::EntraGroup => Ok(Some(self.member_delta(target, cursor).await?)),
            _ => Ok(None),
        }
    }

    fn records_changes_of(&self, access: &Access) -> bool {
        matches!(access, Access::PimGroup { .. } | Access::EntraRole { .. })
    }

    async fn outside_changes(
        &self,
        access: &Access,
        target: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<OutsideChange>, ConnectorError> {
        match access {
            Access::PimGroup { .. } | Access::EntraRole { .. } => {
                self.pim_outside_changes(pim_of(access, target), since)
                    .await
            }
            other => Err(ConnectorError::Permanent(format!(
                "connector `{}` cannot read the changes made to {} access",
                self.name,
                other.kind()
            ))),
        }
    }

    async fn holders(&self, target: &str) -> Result<Vec<String>, ConnectorError> {
        match self.members(target).await? {
            Some(members) => Ok(members.into_iter().collect()),
            None => Err(ConnectorError::Permanent(format!(
                "Entra group {target} does not exist"
            ))),
        }
    }

    async fn indirect_paths(
        &self,
        target: &str,
        account: &str,
    ) -> Result<Vec<String>, ConnectorError> {
        // A site without a group has no group to be nested in.
        if is_site_id(target) {
            return Ok(Vec::new());
        }
        // Groups nested (at any depth) in the target that the account is in.
        let nested = self
            .read_all(&self.url(&format!(
                "/groups/{}/transitiveMembers/microsoft.graph.group?$select=id,displayName&$top={PAGE}",
                segment(target)
            )))
            .await?;
        if nested.is_empty() {
            return Ok(Vec::new());
        }
        let mine: HashSet<String> = self
            .groups_of(account)
            .await?
            .into_iter()
            .map(|g| g.to_lowercase())
            .collect();
        Ok(nested
            .iter()
            .filter(|g| {
                g["id"]
                    .as_str()
                    .is_some_and(|id| mine.contains(&id.to_lowercase()))
            })
            .map(|g| {
                g["displayName"]
                    .as_str()
                    .or(g["id"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect())
    }

    async fn groups_of(&self, account: &str) -> Result<Vec<String>, ConnectorError> {
        Ok(self
            .read_all(&self.url(&format!(
                "/users/{}/transitiveMemberOf/microsoft.graph.group?$select=id&$top={PAGE}",
                segment(account)
            )))
            .await?
            .iter()
            .filter_map(|g| g["id"].as_str().map(str::to_string))
            .collect())
    }

    async fn people(&self, cursor: Option<&str>) -> Result<PeoplePass, ConnectorError> {
        self.people_pass(cursor).await
    }

    fn tenant(&self) -> Option<String> {
        Some(self.tenant_id())
    }

    async fn person(&self, stable_id: &str) -> Result<Option<DirectoryPerson>, ConnectorError> {
        self.person_by_id(stable_id).await
    }

    async fn health(&self) -> Health {
        match self.read(&self.url("/users?$select=id&$top=1")).await {
            Ok(_) => Health::Healthy,
            Err(e) => Health::Down(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_a_decimal() {
        assert_eq!(parse_retry_after("10"), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_secs_f64(2.128))
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for _ in 0..50 {
            assert!(backoff(1) <= Duration::from_millis(500));
            assert!(backoff(1) >= Duration::from_millis(250));
            assert!(backoff(10) <= Duration::from_secs(8));
        }
    }

    #[test]
    fn the_write_budget_is_a_sliding_window() {
        let start = Instant::now();
        let mut budget = WriteBudget::new(30);
        assert_eq!(budget.take(20, start), Ok(()));
        assert_eq!(budget.take(10, start + Duration::from_secs(10)), Ok(()));
        // Full: room for 5 comes when the first 20 leave, 150 s after they were sent.
        assert_eq!(
            budget.take(5, start + Duration::from_secs(100)),
            Err(Duration::from_secs(50))
        );
        assert_eq!(budget.take(5, start + Duration::from_secs(150)), Ok(()));
        // Graph's 429 closes the gate whatever our count says.
        budget.close_for(Duration::from_secs(7), start + Duration::from_secs(150));
        assert_eq!(
            budget.take(1, start + Duration::from_secs(151)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(WriteBudget::new(0).take(10_000, start), Ok(()));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(
            segment("pat_fabrikam.test#EXT#@contoso.test"),
            "pat_fabrikam.test%23EXT%23%40contoso.test"
        );
        assert_eq!(
            path_of("http://127.0.0.1:9/v1.0/groups/x"),
            "/v1.0/groups/x"
        );
    }

    #[test]
    fn answers_are_read_by_code() {
        let answer = Answer {
            service: "Graph",
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": {"code": "Request_BadRequest",
                "message": "One or more added object references already exist for the following modified properties: 'members'.",
                "innerError": {"request-id": "r1"}}}),
            retry_after: None,
        };
        assert!(answer.already_exists());
        assert!(answer.describe().contains("Request_BadRequest"));
        assert!(answer.describe().contains("request-id r1"));
        assert!(refusal(&answer).is_permanent());
    }
}
