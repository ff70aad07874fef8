//! `leasegate-cli`: the portal's REST API from a terminal or a pipeline (docs/cli.md).
//!
//! It signs in as Entra would have it: a person with the device code flow (`login`, the token
//! kept in a file only they can read), an application with its client credential
//! (`LEASEGATE_CLIENT_ID` and `LEASEGATE_CLIENT_SECRET`), or any caller with a token it already
//! has (`LEASEGATE_TOKEN`). Every other command is one or two API calls; errors are the API's
//! problem details, printed, with a non-zero exit.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

/// Just-in-time access from a terminal: requests, approvals, leases and the audit trail
/// through the portal's REST API.
#[derive(clap::Parser)]
#[command(version, about)]
struct Cli {
    /// The portal's address.
    #[arg(long, env = "LEASEGATE_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// The identity provider (Entra ID: `https://login.microsoftonline.com/<tenant>/v2.0`).
    #[arg(
        long,
        env = "LEASEGATE_ISSUER",
        default_value = "http://127.0.0.1:5556"
    )]
    issuer: String,
    /// The portal's API, as the provider names it (its application ID URI).
    #[arg(
        long,
        env = "LEASEGATE_API_AUDIENCE",
        default_value = "api://leasegate-demo"
    )]
    audience: String,
    /// The public client people sign in with (`login`).
    #[arg(long, env = "LEASEGATE_CLI_CLIENT_ID", default_value = "leasegate-cli")]
    client_id: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Sign in as a person (device code): open the address shown and enter the code.
    Login,
    /// Forget the signed-in person's token.
    Logout,
    /// Search the catalog.
    Catalog {
        /// Words to find; everything when absent.
        query: Option<String>,
    },
    /// Ask for access. Prints the request's id and state.
    Request {
        /// The catalog entry's key.
        entry: String,
        #[arg(long)]
        minutes: u32,
        /// Why (the justification).
        #[arg(long)]
        reason: String,
        /// The person it is for: a direct report, or anyone for an automation application.
        #[arg(long = "for")]
        for_person: Option<String>,
        #[arg(long)]
        ticket: Option<String>,
    },
    /// The caller's requests, newest first.
    Requests,
    /// Withdraw a pending request.
    Cancel { request: String },
    /// Requests waiting for the caller's decision.
    Approvals,
    /// Approve a request waiting for the caller.
    Approve {
        request: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Deny a request waiting for the caller.
    Deny {
        request: String,
        #[arg(long)]
        comment: String,
    },
    /// The caller's live leases.
    Leases,
    /// Give a lease back now.
    GiveBack { lease: String },
    /// Ask for more time on a lease.
    Extend {
        lease: String,
        #[arg(long)]
        minutes: u32,
        #[arg(long)]
        reason: String,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Evidence files.
    Evidence {
        #[command(subcommand)]
        action: EvidenceCommand,
    },
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Verify the trail's hash chain and signed checkpoints in the portal; exits 1 when it is
    /// broken. (An exported file is checked offline by `leasegate audit verify FILE`.)
    Verify {
        /// Recompute every event, not only those after the last good signed checkpoint.
        #[arg(long)]
        whole: bool,
    },
}

#[derive(clap::Subcommand)]
enum EvidenceCommand {
    /// Export the events that match as a file (recorded in the trail).
    Export {
        /// `csv` or `json`.
        #[arg(long, default_value = "json")]
        format: String,
        /// Where to write it; standard output when absent.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[arg(long, default_value = "")]
        who: String,
        #[arg(long, default_value = "")]
        action: String,
        /// `YYYY-MM-DD`, UTC.
        #[arg(long, default_value = "")]
        from: String,
        #[arg(long, default_value = "")]
        to: String,
    },
}

/// A refusal or failure, said on standard error; the exit code says which kind.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Failure::new(format!("cannot reach the portal or the provider: {e}"))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("leasegate-cli: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    match &cli.command {
        Command::Login => return login(&cli, &http).await,
        Command::Logout => {
            std::fs::remove_file(token_file()?).ok();
            println!("Signed out.");
            return Ok(());
        }
        _ => {}
    }
    let portal = Portal {
        token: token(&cli, &http).await?,
        base: format!("{}/api/v1", cli.url.trim_end_matches('/')),
        http,
    };
    match cli.command {
        Command::Login | Command::Logout => unreachable!("answered above"),
        Command::Catalog { query } => {
            let path = match query {
                Some(q) => format!("/catalog?q={}", encode(&q)),
                None => "/catalog".into(),
            };
            for e in list(&portal.get(&path).await?) {
                println!(
                    "{}\t{}\t{}\t{}",
                    text(&e["key"]),
                    text(&e["name"]),
                    text(&e["system"]),
                    text(&e["approval"])
                );
            }
        }
        Command::Request {
            entry,
            minutes,
            reason,
            for_person,
            ticket,
        } => {
            let body = json!({
                "entitlement": entry, "minutes": minutes, "justification": reason,
                "on_behalf_of": for_person, "ticket": ticket,
            });
            let r = portal.create("/requests", body).await?;
            println!("{}\t{}", text(&r["id"]), text(&r["state"]));
        }
        Command::Requests => {
            let mut path = "/requests".to_string();
            loop {
                let page = portal.get(&path).await?;
                for r in list(&page["items"]) {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        text(&r["id"]),
                        text(&r["state"]),
                        text(&r["entitlement"]),
                        text(&r["beneficiary"]),
                        text(&r["submitted_at"])
                    );
                }
                match page["next"].as_str() {
                    Some(next) => path = format!("/requests?cursor={}", encode(next)),
                    None => break,
                }
            }
        }
        Command::Cancel { request } => {
            let request = id(&request)?;
            portal
                .post(&format!("/requests/{request}/cancel"), json!({}))
                .await?;
            println!("Cancelled.");
        }
        Command::Approvals => {
            for w in list(&portal.get("/approvals").await?) {
                println!(
                    "{}\t{}\t{}\t{}",
                    text(&w["request_id"]),
                    text(&w["entitlement"]),
                    text(&w["beneficiary"]),
                    text(&w["justification"])
                );
            }
        }
        Command::Approve { request, comment } => {
            decide(&portal, &request, "approve", &comment).await?
        }
        Command::Deny { request, comment } => decide(&portal, &request, "deny", &comment).await?,
        Command::Leases => {
            for l in list(&portal.get("/leases").await?) {
                println!(
                    "{}\t{}\t{}\t{}",
                    text(&l["id"]),
                    text(&l["entitlement"]),
                    text(&l["state"]),
                    text(&l["ends_at"])
                );
            }
        }
        Command::GiveBack { lease } => {
            let lease = id(&lease)?;
            portal
                .post(&format!("/leases/{lease}/give-back"), json!({}))
                .await?;
            println!("Given back: the access is being removed.");
        }
        Command::Extend {
            lease,
            minutes,
            reason,
        } => {
            let lease = id(&lease)?;
            let body = json!({ "minutes": minutes, "justification": reason });
            let r = portal
                .create(&format!("/leases/{lease}/extend"), body)
                .await?;
            println!("{}\t{}", text(&r["id"]), text(&r["state"]));
        }
        Command::Audit {
            action: AuditCommand::Verify { whole },
        } => {
            let path = if whole {
                "/audit/verify?whole=true"
            } else {
                "/audit/verify"
            };
            let c = portal.get(path).await?;
            println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
            if c["intact"] != json!(true) {
                return Err(Failure::new("the audit trail does not verify"));
            }
        }
        Command::Evidence {
            action:
                EvidenceCommand::Export {
                    format,
                    out,
                    who,
                    action,
                    from,
                    to,
                },
        } => {
            let body =
                json!({ "format": format, "who": who, "action": action, "from": from, "to": to });
            let bytes = portal.export(body).await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes).map_err(|e| {
                        Failure::new(format!("cannot write {}: {e}", path.display()))
                    })?;
                    eprintln!("Wrote {} bytes to {}.", bytes.len(), path.display());
                }
                None => {
                    std::io::stdout().write_all(&bytes).ok();
                }
            }
        }
    }
    Ok(())
}

async fn decide(
    portal: &Portal,
    request: &str,
    outcome: &str,
    comment: &str,
) -> Result<(), Failure> {
    let request = id(request)?;
    let body = json!({ "outcome": outcome, "comment": comment });
    let r = portal
        .post(&format!("/approvals/{request}/decision"), body)
        .await?;
    println!("{}\t{}", text(&r["id"]), text(&r["state"]));
    Ok(())
}

/// The API with the caller's token.
struct Portal {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Portal {
    async fn get(&self, path: &str) -> Result<Value, Failure> {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        json_of(answer).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, Failure> {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        json_of(answer).await
    }

    /// A POST that makes something: one idempotency key for all its tries, so a retry after a
    /// lost answer finds what the first try made.
    async fn create(&self, path: &str, body: Value) -> Result<Value, Failure> {
        let key = uuid::Uuid::new_v4().to_string();
        let mut tries = 0;
        loop {
            tries += 1;
            let sent = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .header("idempotency-key", &key)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(answer) => return json_of(answer).await,
                Err(e) if tries < 3 && (e.is_connect() || e.is_timeout()) => {
                    tokio::time::sleep(Duration::from_secs(tries)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn export(&self, body: Value) -> Result<Vec<u8>, Failure> {
        let answer = self
            .http
            .post(format!("{}/evidence", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(refusal(answer).await);
        }
        Ok(answer.bytes().await?.to_vec())
    }
}

async fn json_of(answer: reqwest::Response) -> Result<Value, Failure> {
    if !answer.status().is_success() {
        return Err(refusal(answer).await);
    }
    if answer.status() == reqwest::StatusCode::NO_CONTENT {
        return Ok(Value::Null);
    }
    Ok(answer.json().await?)
}

/// The API's problem details, said in a line.
async fn refusal(answer: reqwest::Response) -> Failure {
    let status = answer.status();
    let wait = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    let mut message = format!(
        "{} ({}): {}",
        body["title"].as_str().unwrap_or("refused"),
        status.as_u16(),
        body["detail"].as_str().unwrap_or("")
    );
    if let Some(field) = body["field"].as_str() {
        message.push_str(&format!(" [{field}]"));
    }
    if let Some(wait) = wait {
        message.push_str(&format!(" Try again in {wait} seconds."));
    }
    Failure {
        message,
        code: if status == reqwest::StatusCode::UNAUTHORIZED {
            3
        } else {
            1
        },
    }
}

fn list(value: &Value) -> Vec<&Value> {
    value
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A JSON value as a cell: strings without quotes, null as `-`. Tabs, line breaks and other
/// control characters (a justification may hold them) become spaces, so a cell can never pass
/// for another column or another line.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A request's or lease's id as typed: a UUID, or refused before anything is sent.
fn id(text: &str) -> Result<uuid::Uuid, Failure> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| Failure {
        message: format!("`{text}` is not an id (a UUID, as `requests` and `leases` print them)"),
        code: 2,
    })
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The caller's access token: one given, an application's own, or the signed-in person's.
async fn token(cli: &Cli, http: &reqwest::Client) -> Result<String, Failure> {
    if let Ok(token) = std::env::var("LEASEGATE_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_string());
    }
    if let (Ok(id), Ok(secret)) = (
        std::env::var("LEASEGATE_CLIENT_ID"),
        std::env::var("LEASEGATE_CLIENT_SECRET"),
    ) {
        let endpoints = discover(cli, http).await?;
        let answer = http
            .post(&endpoints.token)
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", &format!("{}/.default", cli.audience)),
            ])
            .send()
            .await?;
        let body: Value = answer.json().await?;
        return body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                Failure::new(format!(
                    "the provider refused the client credential: {}",
                    provider_error(&body)
                ))
            });
    }
    let saved = std::fs::read_to_string(token_file()?).map_err(|_| Failure {
        message: "not signed in: run `leasegate-cli login` (or set LEASEGATE_CLIENT_ID and \
                  LEASEGATE_CLIENT_SECRET, or LEASEGATE_TOKEN)"
            .into(),
        code: 3,
    })?;
    let saved: Value = serde_json::from_str(&saved).unwrap_or(Value::Null);
    let fresh = saved["expires_at"]
        .as_i64()
        .is_some_and(|at| at > now() + 30);
    match saved["access_token"].as_str() {
        // A person's token goes only to the portal they signed in for.
        Some(token)
            if fresh
                && saved["issuer"] == cli.issuer.as_str()
                && saved["url"] == cli.url.as_str() =>
        {
            Ok(token.to_string())
        }
        _ => Err(Failure {
            message: "the sign-in has expired: run `leasegate-cli login` again".into(),
            code: 3,
        }),
    }
}

struct Endpoints {
    device: Option<String>,
    token: String,
}

async fn discover(cli: &Cli, http: &reqwest::Client) -> Result<Endpoints, Failure> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        cli.issuer.trim_end_matches('/')
    );
    let doc: Value = http.get(&url).send().await?.json().await?;
    Ok(Endpoints {
        device: doc["device_authorization_endpoint"]
            .as_str()
            .map(str::to_string),
        token: doc["token_endpoint"]
            .as_str()
            .ok_or_else(|| Failure::new(format!("{url} names no token endpoint")))?
            .to_string(),
    })
}

/// The device code flow (RFC 8628): the person signs in on any browser; the token is kept in
/// a file only they can read.
async fn login(cli: &Cli, http: &reqwest::Client) -> Result<(), Failure> {
    let endpoints = discover(cli, http).await?;
    let device = endpoints
        .device
        .ok_or_else(|| Failure::new("the provider offers no device code sign-in"))?;
    let scope = format!("openid {}/access", cli.audience);
    let started: Value = http
        .post(&device)
        .form(&[("client_id", cli.client_id.as_str()), ("scope", &scope)])
        .send()
        .await?
        .json()
        .await?;
    let (Some(code), Some(user_code), Some(uri)) = (
        started["device_code"].as_str(),
        started["user_code"].as_str(),
        started["verification_uri"].as_str(),
    ) else {
        return Err(Failure::new(format!(
            "the provider refused to start a sign-in: {}",
            provider_error(&started)
        )));
    };
    println!("To sign in, open {uri} and enter the code {user_code}");
    if let Some(complete) = started["verification_uri_complete"].as_str() {
        println!("(or open {complete})");
    }
    std::io::stdout().flush().ok();
    let mut interval = started["interval"].as_u64().unwrap_or(5).max(1);
    let deadline = now() + started["expires_in"].as_i64().unwrap_or(600);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if now() > deadline {
            return Err(Failure::new("the code expired before the sign-in finished"));
        }
        let answer: Value = http
            .post(&endpoints.token)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", code),
                ("client_id", cli.client_id.as_str()),
            ])
            .send()
            .await?
            .json()
            .await?;
        if let Some(token) = answer["access_token"].as_str() {
            let expires_at = now() + answer["expires_in"].as_i64().unwrap_or(3600);
            save(&json!({
                "url": cli.url, "issuer": cli.issuer, "access_token": token, "expires_at": expires_at,
            }))?;
            println!("Signed in.");
            return Ok(());
        }
        match answer["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            _ => {
                return Err(Failure::new(format!(
                    "sign-in refused: {}",
                    provider_error(&answer)
                )));
            }
        }
    }
}

fn provider_error(body: &Value) -> String {
    format!(
        "{} {}",
        body["error"].as_str().unwrap_or("no answer"),
        body["error_description"].as_str().unwrap_or("")
    )
    .trim()
    .to_string()
}

/// `$LEASEGATE_CLI_HOME/token.json`, else under `$XDG_CONFIG_HOME/leasegate` or
/// `~/.config/leasegate`; none of them set: no place to keep a person's token (never the
/// working directory, which a pipeline may publish).
fn token_file() -> Result<PathBuf, Failure> {
    std::env::var_os("LEASEGATE_CLI_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("leasegate")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/leasegate")))
        .map(|dir| dir.join("token.json"))
        .ok_or_else(|| Failure::new("no place to keep the sign-in: set LEASEGATE_CLI_HOME or HOME"))
}

/// Writes the token where only its owner can read it: a directory of mode 0700, a new file of
/// mode 0600 beside the old one, renamed over it (a rename replaces a planted link instead of
/// writing through it, and a reader never sees half a file).
fn save(token: &Value) -> Result<(), Failure> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let path = token_file()?;
    let fail = |e: std::io::Error| {
        Failure::new(format!("cannot keep the token in {}: {e}", path.display()))
    };
    let dir = path.parent().unwrap_or(std::path::Path::new("/"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let fresh = dir.join(format!(".token-{}.json", uuid::Uuid::new_v4()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&fresh)
        .map_err(fail)?;
    file.write_all(token.to_string().as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&fresh, &path))
        .map_err(|e| {
            std::fs::remove_file(&fresh).ok();
            fail(e)
        })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
