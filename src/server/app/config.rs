//! Typed settings, read once at start from an optional TOML file (`LEASEGATE_CONFIG`) and the
//! environment (which wins). Every setting has one name: the environment variable, and the same
//! name without the `LEASEGATE_` prefix, lower-cased, as a key in the file (`database_url` for
//! `DATABASE_URL`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

/// A value that must never reach a log line or an error message; its memory is wiped when it
/// is dropped (`secrecy`).
#[derive(Clone)]
pub struct Secret(secrecy::SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(secrecy::SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the portal recognises people and their portal roles.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Exactly as configured: discovery compares it to the provider's `issuer` character by
    /// character (so `http://host` and `http://host/` differ).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// When set, only ID tokens whose `tid` equals this are accepted.
    pub tenant_id: Option<String>,
    pub scopes: Vec<String>,
    /// The app-role values that make portal roles (`LEASEGATE_ROLE_ADMIN`, `_AUDITOR`,
    /// `_SECURITY`; no security role unless named).
    pub roles: crate::domain::role::AppRoleNames,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    /// How often a session's person is checked again (still active, roles) while in use.
    pub recheck: Duration,
    /// What the tokens kept for a session are sealed with (`LEASEGATE_SESSION_KEY`); the
    /// sign-in client secret when unset.
    pub key: Option<Secret>,
    /// Sign-in attempts one client address may start a minute (`LEASEGATE_SIGN_IN_PER_MINUTE`).
    pub sign_in_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`LEASEGATE_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret,
    /// The owner's connection, for migrations (`LEASEGATE_MIGRATE_DATABASE_URL`). When set, the
    /// portal connects with `url` as a role that may only append to the audit trail, and the
    /// owner grants it exactly that after migrating.
    pub migrate_url: Option<Secret>,
    pub max_connections: u32,
    /// How long start-up keeps retrying an unreachable database before giving up.
    pub startup_timeout: Duration,
}

/// The engine that adds and removes access on time.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Off only for processes that should serve pages and leave the work to other replicas.
    pub enabled: bool,
    /// How long a claim on due work lasts before another replica may take it over.
    pub lease: Duration,
    /// Grants claimed at once.
    pub batch: i64,
    /// How often the accounts of people who may hold a session are checked in the directories.
    pub account_watch: Duration,
    /// How often the audit chain's head is signed (when a signing key is configured).
    pub checkpoint_every: Duration,
    /// How long a group, role, site, VM or account that a system answers "not found" for is
    /// looked for again before the answer counts: objects made moments ago reach every replica
    /// of Entra, Azure Resource Manager or AD only after a while (docs/connectors.md).
    pub replication_window: Duration,
    /// How long after its end a removal may still be seen late (the member still listed, the
    /// group briefly invisible) before it is called overdue or missing.
    pub removal_grace: Duration,
    /// How often each managed target is read and compared with the leases (reconciliation).
    pub reconcile_every: Duration,
    /// How often each managed target's holders are read in full even when its change mark says
    /// nothing changed (incremental reconciliation).
    pub reconcile_complete_every: Duration,
}

/// How mail leaves the portal: an SMTP server (docs/notifications.md).
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Both or neither.
    pub credentials: Option<(String, Secret)>,
    /// A CA certificate (PEM) to trust besides the system's, for an internal relay.
    pub ca_file: Option<std::path::PathBuf>,
    /// One SMTP conversation may take this long before it counts as failed (and is retried).
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all: only to a relay on this machine, or in lab mode.
    None,
}

/// Mail to people about their requests and leases.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// None: the portal writes and sends no mail.
    pub smtp: Option<SmtpSettings>,
    /// The sender, `Leasegate <leasegate@contoso.com>` or a bare address.
    pub from: String,
    /// The wait after the first failed attempt; it doubles with each failure, up to 15 minutes.
    pub retry_first: Duration,
    /// A mail the server has not taken for this long is given up (recorded as refused).
    pub give_up_after: Duration,
    /// Who is alerted when someone takes emergency access (`LEASEGATE_SECURITY_MAIL`, comma
    /// separated); empty: the portal's administrators.
    pub security: Vec<String>,
}

/// Microsoft Teams: Workflows webhooks ("When a Teams webhook request is received") by channel
/// name, from `LEASEGATE_TEAMS_WEBHOOK_<NAME>`. A webhook's address carries its own signature,
/// so it is kept like a secret.
#[derive(Debug, Clone, Default)]
pub struct TeamsSettings {
    pub channels: BTreeMap<String, Secret>,
    /// Where cards may go: Microsoft's webhook hosts (`LEASEGATE_TEAMS_ALLOWED_HOSTS`) and a
    /// lab's exact receivers (`LEASEGATE_LAB_WEBHOOK_RECEIVERS`).
    pub destinations: crate::server::notify::destination::Destinations,
    /// The language of channel cards (a channel has no one reader): `en` or `de`.
    pub channel_language: crate::domain::mail::Language,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The address people use to reach the portal; redirect URIs and the origin check derive
    /// from it, and cookies are `Secure` when it is https.
    pub public_url: Url,
    pub database: DatabaseSettings,
    pub oidc: OidcSettings,
    pub session: SessionSettings,
    pub max_body_bytes: usize,
    pub log_filter: String,
    pub log_json: bool,
    pub engine: EngineSettings,
    /// The catalog file (connectors, policies, entitlements) loaded at start.
    pub catalog_file: Option<std::path::PathBuf>,
    /// Where connector secrets may be read from as files (`LEASEGATE_SECRETS_DIR`, else
    /// systemd's `CREDENTIALS_DIRECTORY`). Secrets come from here or from `LEASEGATE_SECRET_*`
    /// variables, nowhere else.
    pub secrets_dir: Option<std::path::PathBuf>,
    /// Lab switches allowed (`LEASEGATE_LAB_MODE`): TLS without certificate checks. Never in
    /// production.
    pub lab_mode: bool,
    pub mail: MailSettings,
    pub teams: TeamsSettings,
    /// Where traces go (OpenTelemetry's own `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`); none: no traces leave the process.
    pub trace_endpoint: Option<String>,
    /// The bearer token Prometheus sends for `/metrics` (`LEASEGATE_METRICS_TOKEN`); without
    /// one, `/metrics` is off.
    pub metrics_token: Option<Secret>,
    pub api: ApiSettings,
}

/// The REST API under `/api/v1` (docs/api.md): whose access tokens it takes, and how often.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The `aud` values an access token for the portal's API may carry
    /// (`LEASEGATE_API_AUDIENCE`, space-separated): its application ID URI, by default
    /// `api://<client id>`.
    pub audiences: Vec<String>,
    /// The delegated scope a person's token must carry (`LEASEGATE_API_SCOPE`).
    pub scope: String,
    /// The applications whose tokens may speak for a person (`azp`; `LEASEGATE_API_CLIENTS`,
    /// space-separated): the portal's command-line client, and nothing a person consented to
    /// elsewhere.
    pub person_clients: Vec<String>,
    /// The app-role values that let an application call: as automation (requests for
    /// people), and as an auditor (`LEASEGATE_API_ROLE_AUTOMATION`, `_AUDITOR`).
    pub automation_role: String,
    pub auditor_role: String,
    /// Calls one caller may make a minute, and in one burst (`LEASEGATE_API_PER_MINUTE`).
    pub per_minute: u32,
}

/// Everything wrong with the configuration, one line per problem.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .problems.join("\n  "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

pub const PREFIX: &str = "LEASEGATE_";

/// Reads `LEASEGATE_CONFIG` (if set) and the process environment.
pub fn load() -> Result<Settings, ConfigError> {
    let file = match std::env::var("LEASEGATE_CONFIG") {
        Ok(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                problems: vec![format!("LEASEGATE_CONFIG: cannot read {path}: {e}")],
            })?;
            Some(parse_file(&text).map_err(|p| ConfigError { problems: vec![p] })?)
        }
        Err(_) => None,
    };
    from_sources(file.unwrap_or_default(), std::env::vars())
}

/// Flattens the TOML file into `LEASEGATE_*` keys.
fn parse_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("LEASEGATE_CONFIG: not valid TOML: {e}"))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let name = match key.as_str() {
            "database_url" => "DATABASE_URL".to_string(),
            _ => format!("{PREFIX}{}", key.to_ascii_uppercase()),
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!(
                    "LEASEGATE_CONFIG: `{key}` must be a string, number or boolean, not {}",
                    other.type_str()
                ));
            }
        };
        out.insert(name, value);
    }
    Ok(out)
}

/// Builds settings from file values overlaid with environment values.
pub fn from_sources(
    file: BTreeMap<String, String>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let mut values = file;
    for (key, value) in env {
        // OpenTelemetry's own variables too: operators set those for every service alike.
        if key.starts_with(PREFIX)
            || key.starts_with("OTEL_EXPORTER_OTLP_")
            || key == "DATABASE_URL"
            || key == "CREDENTIALS_DIRECTORY"
        {
            values.insert(key, value);
        }
    }
    Reader {
        values,
        problems: Vec::new(),
    }
    .settings()
}

struct Reader {
    values: BTreeMap<String, String>,
    problems: Vec<String>,
}

impl Reader {
    fn raw(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn string(&mut self, name: &str, default: Option<&str>) -> String {
        match self.raw(name).or(default.map(str::to_string)) {
            Some(v) => v,
            None => {
                self.problems.push(format!("{name} is required"));
                String::new()
            }
        }
    }

    fn parsed<T: std::str::FromStr>(&mut self, name: &str, default: T, what: &str) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                self.problems.push(format!("{name} is not {what}: `{v}`"));
                default
            }),
        }
    }

    fn duration(&mut self, name: &str, default: Duration) -> Duration {
        match self.raw(name) {
            None => default,
            Some(v) => parse_duration(&v).unwrap_or_else(|| {
                self.problems.push(format!(
                    "{name} is not a duration such as 30s, 15m, 8h, 1d or 1h 30m: `{v}`"
                ));
                default
            }),
        }
    }

    fn url(&mut self, name: &str, value: &str) -> Option<Url> {
        match Url::parse(value) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
            _ => {
                self.problems
                    .push(format!("{name} is not a URL: `{value}`"));
                None
            }
        }
    }

    fn settings(mut self) -> Result<Settings, ConfigError> {
        let listen = self.parsed(
            "LEASEGATE_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 3000)),
            "an address such as 127.0.0.1:3000",
        );
        let public_raw = self.string("LEASEGATE_PUBLIC_URL", Some("http://127.0.0.1:3000"));
        let public_url = self.url("LEASEGATE_PUBLIC_URL", &public_raw);

        let database = DatabaseSettings {
            url: Secret::new(self.string("DATABASE_URL", None)),
            migrate_url: self.raw("LEASEGATE_MIGRATE_DATABASE_URL").map(Secret::new),
            max_connections: self.parsed(
                "LEASEGATE_DATABASE_MAX_CONNECTIONS",
                10,
                "a whole number",
            ),
            startup_timeout: self.duration(
                "LEASEGATE_DATABASE_STARTUP_TIMEOUT",
                Duration::from_secs(60),
            ),
        };
        if database.max_connections == 0 {
            self.problems
                .push("LEASEGATE_DATABASE_MAX_CONNECTIONS must be at least 1".into());
        }

        let tenant_id = self.raw("LEASEGATE_OIDC_TENANT_ID");
        let issuer_raw = match (self.raw("LEASEGATE_OIDC_ISSUER"), &tenant_id) {
            (Some(issuer), _) => issuer,
            (None, Some(tenant)) => format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            (None, None) => {
                self.problems.push(
                    "LEASEGATE_OIDC_ISSUER is required (or set LEASEGATE_OIDC_TENANT_ID to use \
                     Entra ID's issuer for that tenant)"
                        .into(),
                );
                String::new()
            }
        };
        let issuer_url = if issuer_raw.is_empty() {
            None
        } else {
            self.url("LEASEGATE_OIDC_ISSUER", &issuer_raw)
        };
        if let Some(u) = &issuer_url
            && u.scheme() == "http"
            && !is_loopback(u)
        {
            self.problems.push(format!(
                "LEASEGATE_OIDC_ISSUER must use https (plain http is allowed only on this \
                 machine's loopback address): `{u}`"
            ));
        }
        let oidc = OidcSettings {
            issuer: issuer_raw.clone(),
            client_id: self.string("LEASEGATE_OIDC_CLIENT_ID", None),
            client_secret: Secret::new(self.string("LEASEGATE_OIDC_CLIENT_SECRET", None)),
            tenant_id,
            scopes: self
                .string(
                    "LEASEGATE_OIDC_SCOPES",
                    Some("openid profile email offline_access"),
                )
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            roles: crate::domain::role::AppRoleNames {
                admin: self.string("LEASEGATE_ROLE_ADMIN", Some("Leasegate.Admin")),
                auditor: self.string("LEASEGATE_ROLE_AUDITOR", Some("Leasegate.Auditor")),
                security: self.raw("LEASEGATE_ROLE_SECURITY"),
            },
        };
        if !oidc.scopes.iter().any(|s| s == "openid") {
            self.problems
                .push("LEASEGATE_OIDC_SCOPES must include `openid`".into());
        }

        let session = SessionSettings {
            idle_timeout: self.duration(
                "LEASEGATE_SESSION_IDLE_TIMEOUT",
                Duration::from_secs(8 * 3600),
            ),
            absolute_timeout: self.duration(
                "LEASEGATE_SESSION_ABSOLUTE_TIMEOUT",
                Duration::from_secs(24 * 3600),
            ),
            recheck: self.duration("LEASEGATE_SESSION_RECHECK", Duration::from_secs(120)),
            key: self
                .raw("LEASEGATE_SESSION_KEY")
                .filter(|k| !k.trim().is_empty())
                .map(Secret::new),
            sign_in_per_minute: self.parsed(
                "LEASEGATE_SIGN_IN_PER_MINUTE",
                120,
                "a whole number of attempts",
            ),
            trusted_proxies: self.trusted_proxies(),
        };
        if session.key.as_ref().is_some_and(|k| k.expose().len() < 32) {
            self.problems
                .push("LEASEGATE_SESSION_KEY needs at least 32 characters".into());
        }
        if session.idle_timeout > session.absolute_timeout {
            self.problems.push(
                "LEASEGATE_SESSION_IDLE_TIMEOUT must not be longer than \
                 LEASEGATE_SESSION_ABSOLUTE_TIMEOUT"
                    .into(),
            );
        }

        let max_body_bytes =
            self.parsed("LEASEGATE_MAX_BODY_BYTES", 256 * 1024, "a number of bytes");
        let log_filter = self.string("LEASEGATE_LOG", Some("info"));
        let log_format = self.string("LEASEGATE_LOG_FORMAT", Some("text"));
        let log_json = match log_format.as_str() {
            "json" => true,
            "text" => false,
            other => {
                self.problems.push(format!(
                    "LEASEGATE_LOG_FORMAT must be `text` or `json`: `{other}`"
                ));
                false
            }
        };

        let engine = EngineSettings {
            enabled: self.parsed("LEASEGATE_ENGINE", true, "true or false"),
            lease: self.duration("LEASEGATE_ENGINE_LEASE", Duration::from_secs(30)),
            batch: self.parsed("LEASEGATE_ENGINE_BATCH", 1000, "a whole number"),
            account_watch: self.duration("LEASEGATE_ACCOUNT_WATCH", Duration::from_secs(60)),
            checkpoint_every: self
                .duration("LEASEGATE_AUDIT_CHECKPOINT_EVERY", Duration::from_secs(300)),
            replication_window: self
                .duration("LEASEGATE_REPLICATION_WINDOW", Duration::from_secs(15 * 60)),
            removal_grace: self.duration("LEASEGATE_REMOVAL_GRACE", Duration::from_secs(120)),
            reconcile_every: self
                .duration("LEASEGATE_RECONCILE_EVERY", Duration::from_secs(15 * 60)),
            reconcile_complete_every: self.duration(
                "LEASEGATE_RECONCILE_COMPLETE_EVERY",
                Duration::from_secs(24 * 60 * 60),
            ),
        };
        if !(1..=10_000).contains(&engine.batch) {
            self.problems
                .push("LEASEGATE_ENGINE_BATCH must lie between 1 and 10000".into());
        }
        let catalog_file = self.raw("LEASEGATE_CATALOG").map(std::path::PathBuf::from);
        let secrets_dir = self
            .raw("LEASEGATE_SECRETS_DIR")
            .or_else(|| self.raw("CREDENTIALS_DIRECTORY"))
            .map(std::path::PathBuf::from);
        if let Some(dir) = &secrets_dir
            && !dir.is_absolute()
        {
            self.problems.push(format!(
                "LEASEGATE_SECRETS_DIR must be an absolute path: `{}`",
                dir.display()
            ));
        }
        let lab_mode = self.parsed("LEASEGATE_LAB_MODE", false, "true or false");
        let mail = self.mail(lab_mode);
        let teams = self.teams(lab_mode);
        let trace_endpoint = self
            .raw("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| self.raw("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .filter(|e| !e.trim().is_empty());
        if let Some(endpoint) = &trace_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            self.problems.push(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// address: `{endpoint}`"
            ));
        }
        let metrics_token = self
            .raw("LEASEGATE_METRICS_TOKEN")
            .filter(|t| !t.trim().is_empty())
            .map(Secret::new);
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.expose().trim().len() < 16)
        {
            self.problems
                .push("LEASEGATE_METRICS_TOKEN needs at least 16 characters".into());
        }

        let api = ApiSettings {
            // Entra's v2.0 tokens name the API by its client id, v1.0 tokens by its URI.
            audiences: self
                .string(
                    "LEASEGATE_API_AUDIENCE",
                    Some(&format!("api://{0} {0}", oidc.client_id)),
                )
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            scope: self.string("LEASEGATE_API_SCOPE", Some("access")),
            person_clients: self
                .string("LEASEGATE_API_CLIENTS", Some("leasegate-cli"))
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            automation_role: self.string(
                "LEASEGATE_API_ROLE_AUTOMATION",
                Some("Leasegate.Automation"),
            ),
            auditor_role: self.string("LEASEGATE_API_ROLE_AUDITOR", Some("Leasegate.Auditor")),
            per_minute: self.parsed("LEASEGATE_API_PER_MINUTE", 120, "a whole number of calls"),
        };
        if api.audiences.is_empty() || api.per_minute == 0 {
            self.problems.push(
                "LEASEGATE_API_AUDIENCE must name at least one audience, and \
                 LEASEGATE_API_PER_MINUTE must be at least 1"
                    .into(),
            );
        }

        if !self.problems.is_empty() {
            return Err(ConfigError {
                problems: self.problems,
            });
        }
        Ok(Settings {
            listen,
            public_url: public_url.expect("checked above"),
            database,
            oidc,
            session,
            max_body_bytes,
            log_filter,
            log_json,
            engine,
            catalog_file,
            secrets_dir,
            lab_mode,
            mail,
            teams,
            trace_endpoint,
            metrics_token,
            api,
        })
    }

    fn teams(&mut self, lab_mode: bool) -> TeamsSettings {
        const PREFIX: &str = "LEASEGATE_TEAMS_WEBHOOK_";
        let mut channels = BTreeMap::new();
        let found: Vec<(String, String)> = self
            .values
            .iter()
            .filter_map(|(k, v)| {
                Some((k.strip_prefix(PREFIX)?.to_lowercase(), v.trim().to_string()))
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let destinations = self.destinations(lab_mode);
        for (channel, url) in found {
            let name = format!("{PREFIX}{}", channel.to_uppercase());
            match Url::parse(&url).map_err(|_| "not an address".to_string()) {
                Ok(u) if destinations.check(&u).is_ok() => {
                    channels.insert(channel, Secret::new(url));
                }
                // The address is a secret: never repeated in the message.
                _ => self.problems.push(format!(
                    "{name} must be an https address on a Workflows host \
                     (LEASEGATE_TEAMS_ALLOWED_HOSTS), or a receiver named in \
                     LEASEGATE_LAB_WEBHOOK_RECEIVERS"
                )),
            }
        }
        let channel_language = match self.raw("LEASEGATE_TEAMS_LANGUAGE").as_deref() {
            None => crate::domain::mail::Language::English,
            Some(tag) => crate::domain::mail::Language::parse(tag).unwrap_or_else(|| {
                self.problems.push(format!(
                    "LEASEGATE_TEAMS_LANGUAGE must be `en` or `de`: `{tag}`"
                ));
                crate::domain::mail::Language::English
            }),
        };
        TeamsSettings {
            channels,
            destinations,
            channel_language,
        }
    }

    /// `LEASEGATE_TRUSTED_PROXIES`: addresses, comma separated.
    fn trusted_proxies(&mut self) -> Vec<std::net::IpAddr> {
        let mut proxies = Vec::new();
        for item in self
            .raw("LEASEGATE_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            match item.parse() {
                Ok(ip) => proxies.push(ip),
                Err(_) => self.problems.push(format!(
                    "LEASEGATE_TRUSTED_PROXIES names addresses, such as 10.0.0.5: `{item}`"
                )),
            }
        }
        proxies
    }

    /// The webhook hosts cards may go to, and the lab's exact receivers (only in lab mode).
    fn destinations(&mut self, lab_mode: bool) -> crate::server::notify::destination::Destinations {
        use crate::server::notify::destination::{Destinations, MICROSOFT_HOSTS};
        let list = |text: String| -> Vec<String> {
            text.split(',')
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect()
        };
        let hosts = self
            .raw("LEASEGATE_TEAMS_ALLOWED_HOSTS")
            .map(list)
            .unwrap_or_else(|| MICROSOFT_HOSTS.iter().map(|h| h.to_string()).collect());
        let mut lab = Vec::new();
        if let Some(receivers) = self.raw("LEASEGATE_LAB_WEBHOOK_RECEIVERS") {
            if !lab_mode {
                self.problems.push(
                    "LEASEGATE_LAB_WEBHOOK_RECEIVERS is a lab setting: set LEASEGATE_LAB_MODE=true \
                     or remove it"
                        .into(),
                );
            }
            for receiver in list(receivers) {
                match receiver.parse::<std::net::SocketAddr>() {
                    Ok(at) if lab_mode => lab.push(at),
                    Ok(_) => {}
                    Err(_) => self.problems.push(format!(
                        "LEASEGATE_LAB_WEBHOOK_RECEIVERS names receivers as ip:port, such as \
                         127.0.0.1:4567: `{receiver}`"
                    )),
                }
            }
        }
        Destinations::new(hosts, lab)
    }

    fn mail(&mut self, lab_mode: bool) -> MailSettings {
        let tls = match self.raw("LEASEGATE_SMTP_TLS").as_deref() {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("implicit") => SmtpTls::Implicit,
            Some("none") => SmtpTls::None,
            Some(other) => {
                self.problems.push(format!(
                    "LEASEGATE_SMTP_TLS must be `starttls`, `implicit` or `none`: `{other}`"
                ));
                SmtpTls::StartTls
            }
        };
        let default_port = match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::None => 25,
        };
        let port = self.parsed("LEASEGATE_SMTP_PORT", default_port, "a port number");
        let credentials = match (
            self.raw("LEASEGATE_SMTP_USERNAME"),
            self.raw("LEASEGATE_SMTP_PASSWORD"),
        ) {
            (Some(user), Some(password)) => Some((user, Secret::new(password))),
            (None, None) => None,
            _ => {
                self.problems
                    .push("LEASEGATE_SMTP_USERNAME and LEASEGATE_SMTP_PASSWORD go together".into());
                None
            }
        };
        let timeout = self.duration("LEASEGATE_SMTP_TIMEOUT", Duration::from_secs(30));
        let ca_file = self
            .raw("LEASEGATE_SMTP_CA_FILE")
            .map(std::path::PathBuf::from);
        let smtp = self.raw("LEASEGATE_SMTP_HOST").map(|host| SmtpSettings {
            host,
            port,
            tls,
            credentials,
            ca_file,
            timeout,
        });
        if let Some(smtp) = &smtp
            && smtp.tls == SmtpTls::None
            && !lab_mode
            && !is_loopback_host(&smtp.host)
        {
            self.problems.push(format!(
                "LEASEGATE_SMTP_TLS=none sends mail and passwords in clear: allowed only to a \
                 relay on this machine, not to `{}` (or in LEASEGATE_LAB_MODE)",
                smtp.host
            ));
        }
        let from = self.string(
            "LEASEGATE_MAIL_FROM",
            Some("Leasegate <leasegate@localhost>"),
        );
        if smtp.is_some() && from.parse::<lettre::message::Mailbox>().is_err() {
            self.problems.push(format!(
                "LEASEGATE_MAIL_FROM is not a mail address such as `Leasegate <leasegate@contoso.com>`: `{from}`"
            ));
        }
        MailSettings {
            smtp,
            from,
            retry_first: self.duration("LEASEGATE_MAIL_RETRY", Duration::from_secs(30)),
            give_up_after: self.duration("LEASEGATE_MAIL_GIVE_UP", Duration::from_secs(3 * 86_400)),
            security: self
                .raw("LEASEGATE_SECURITY_MAIL")
                .map(|list| {
                    list.split(',')
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a duration as `humantime` writes them (`90s`, `15m`, `8h`, `1d`, `1h 30m`), or a bare
/// number of seconds (`90`); zero is refused.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let duration = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(text.parse().ok()?)
    } else {
        humantime::parse_duration(text).ok()?
    };
    (!duration.is_zero()).then_some(duration)
}

impl Settings {
    /// The origin (`scheme://host:port`) that browsers send for the portal's own pages.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    pub fn redirect_uri(&self) -> String {
        self.public_url
            .join("auth/callback")
            .expect("joining a fixed path")
            .to_string()
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

impl OidcSettings {
    /// The provider's origin, for the CSP's form-action (sign-out continues there).
    pub fn issuer_origin(&self) -> String {
        Url::parse(&self.issuer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn minimal() -> Vec<(String, String)> {
        env(&[
            ("DATABASE_URL", "postgres://u:hunter2@127.0.0.1/db"),
            (
                "LEASEGATE_OIDC_ISSUER",
                "https://login.microsoftonline.com/t/v2.0",
            ),
            ("LEASEGATE_OIDC_CLIENT_ID", "client"),
            ("LEASEGATE_OIDC_CLIENT_SECRET", "s3cret"),
        ])
    }

    #[test]
    fn minimal_settings_take_defaults() {
        let s = from_sources(BTreeMap::new(), minimal()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.session.idle_timeout, Duration::from_secs(8 * 3600));
        assert_eq!(s.session.absolute_timeout, Duration::from_secs(24 * 3600));
        assert_eq!(s.oidc.roles.admin, "Leasegate.Admin");
        assert_eq!(s.oidc.roles.security, None);
        assert_eq!(s.redirect_uri(), "http://127.0.0.1:3000/auth/callback");
        assert!(!s.secure_cookies());
    }

    #[test]
    fn secrets_never_print() {
        let s = from_sources(BTreeMap::new(), minimal()).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn metrics_and_traces_are_off_unless_configured() {
        let s = from_sources(BTreeMap::new(), minimal()).unwrap();
        assert_eq!((s.metrics_token, s.trace_endpoint), (None, None));
        let with = |extra: &[(&str, &str)]| {
            let mut all = minimal();
            all.extend(env(extra));
            from_sources(BTreeMap::new(), all)
        };
        let s = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("LEASEGATE_METRICS_TOKEN", "sixteen-chars-ok"),
        ])
        .unwrap();
        assert_eq!(s.trace_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(s.metrics_token.unwrap().expose(), "sixteen-chars-ok");
        // The traces' own endpoint wins, as OpenTelemetry's SDK reads them.
        let s = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces:4318/v1/traces",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.trace_endpoint.as_deref(),
            Some("https://traces:4318/v1/traces")
        );
        let text = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("LEASEGATE_METRICS_TOKEN", "short"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            text.contains("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// address"),
            "{text}"
        );
        assert!(
            text.contains("LEASEGATE_METRICS_TOKEN needs at least 16 characters"),
            "{text}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_name() {
        let err = from_sources(
            BTreeMap::new(),
            env(&[
                ("LEASEGATE_OIDC_ISSUER", "not a url"),
                ("LEASEGATE_SESSION_IDLE_TIMEOUT", "soon"),
                ("LEASEGATE_LISTEN", "everywhere"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "DATABASE_URL is required",
            "LEASEGATE_OIDC_ISSUER is not a URL",
            "LEASEGATE_OIDC_CLIENT_ID is required",
            "LEASEGATE_SESSION_IDLE_TIMEOUT is not a duration",
            "LEASEGATE_LISTEN is not an address",
        ] {
            assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
        }
    }

    #[test]
    fn tenant_id_alone_gives_entra_issuer() {
        let mut e = minimal();
        e.retain(|(k, _)| k != "LEASEGATE_OIDC_ISSUER");
        e.push(("LEASEGATE_OIDC_TENANT_ID".into(), "contoso-tid".into()));
        let s = from_sources(BTreeMap::new(), e).unwrap();
        assert_eq!(
            s.oidc.issuer,
            "https://login.microsoftonline.com/contoso-tid/v2.0"
        );
        assert_eq!(s.oidc.tenant_id.as_deref(), Some("contoso-tid"));
    }

    #[test]
    fn plain_http_issuer_only_on_loopback() {
        let mut e = minimal();
        e.push((
            "LEASEGATE_OIDC_ISSUER".into(),
            "http://idp.example.com".into(),
        ));
        let err = from_sources(BTreeMap::new(), e).unwrap_err();
        assert!(err.to_string().contains("must use https"));

        let mut e = minimal();
        e.push((
            "LEASEGATE_OIDC_ISSUER".into(),
            "http://127.0.0.1:5556".into(),
        ));
        assert!(from_sources(BTreeMap::new(), e).is_ok());
    }

    #[test]
    fn environment_overrides_file() {
        let file = parse_file(
            "oidc_client_id = \"from-file\"\nsession_idle_timeout = \"30m\"\nmax_body_bytes = 1024\n\
             database_url = \"postgres://file/db\"\n",
        )
        .unwrap();
        let mut e = minimal();
        e.retain(|(k, _)| k != "LEASEGATE_OIDC_CLIENT_ID");
        let s = from_sources(file.clone(), e).unwrap();
        assert_eq!(s.oidc.client_id, "from-file");
        assert_eq!(s.session.idle_timeout, Duration::from_secs(1800));
        assert_eq!(s.max_body_bytes, 1024);
        assert_eq!(s.database.url.expose(), "postgres://u:hunter2@127.0.0.1/db");
        let mut without_db = minimal();
        without_db.retain(|(k, _)| k != "DATABASE_URL");
        let s = from_sources(file.clone(), without_db).unwrap();
        assert_eq!(s.database.url.expose(), "postgres://file/db");

        let s = from_sources(file, minimal()).unwrap();
        assert_eq!(s.oidc.client_id, "client");
    }

    #[test]
    fn file_rejects_tables() {
        let err = parse_file("[oidc]\nissuer = \"x\"\n").unwrap_err();
        assert!(err.contains("`oidc` must be a string"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("8h"), Some(Duration::from_secs(28_800)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5 fortnights"), None);
        assert_eq!(parse_duration("1h 30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn idle_longer_than_absolute_is_refused() {
        let mut e = minimal();
        e.push(("LEASEGATE_SESSION_IDLE_TIMEOUT".into(), "2d".into()));
        let err = from_sources(BTreeMap::new(), e).unwrap_err();
        assert!(err.to_string().contains("must not be longer"));
    }
}
