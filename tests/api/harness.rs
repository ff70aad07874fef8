//! `TestApp`: the portal on a free port with its own database, a cookie-keeping client, and a
//! driver for the identity provider's sign-in pages.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use leasegate::server::app::config;
use leasegate::server::app::router;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{RequestBuilder, Response, StatusCode};
use sqlx::PgPool;

/// The provider, started once for the whole test binary. It exits when our end of its standard
/// input closes, that is when this process ends.
pub struct IdentityProvider {
    pub issuer: String,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

pub fn identity_provider() -> &'static IdentityProvider {
    static IDP: OnceLock<IdentityProvider> = OnceLock::new();
    IDP.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        assert!(
            std::path::Path::new(&format!("{root}/end2end/node_modules/oidc-provider")).exists(),
            "the identity provider's npm packages are missing: run `make setup` first"
        );
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let mut child = Command::new("node")
            .arg(format!("{root}/end2end/idp/server.mjs"))
            .env("IDP_PORT", port.to_string())
            .env("IDP_ISSUER", &issuer)
            .env("IDP_MODE", "test")
            .env("IDP_EXIT_WITH_STDIN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting node (is Node.js installed?)");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("reading the identity provider's first line");
        assert!(line.contains("listening"), "identity provider said: {line}");
        // Keep reading, so the provider never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.flush().ok();
        IdentityProvider {
            issuer,
            _child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        }
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Log lines written by the portal during the test run, so tests can check that refusals are
/// logged with their reason.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

/// The log kept for `expect_line`: the last few megabytes, which hold far more than the second
/// a test waits for its line. Every test thread writes here under one lock, so the buffer must
/// stay small: copied whole on each poll, a buffer grown over a full run held the lock long
/// enough to stall the other tests' single-threaded runtimes, their portals included (one
/// request, once, went unanswered for two minutes).
const LOG_KEPT: usize = 8 << 20;

impl Logs {
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits briefly for a log line containing every one of `needles`.
    pub async fn expect_line(&self, needles: &[&str]) {
        for _ in 0..50 {
            if self
                .text()
                .lines()
                .any(|l| needles.iter().all(|n| l.contains(n)))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let text = self.text();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        panic!(
            "no log line contains all of {needles:?}; last lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut kept = self.0.lock().unwrap();
        kept.extend_from_slice(buf);
        if kept.len() > LOG_KEPT {
            // Drop the older half at once, so the cost is paid rarely.
            let drop = kept.len() - LOG_KEPT / 2;
            kept.drain(..drop);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info,leasegate=debug")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
    .clone()
}

pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub logs: Logs,
    /// What the portal's router was built from.
    pub state: leasegate::server::app::state::AppState,
}

pub struct Options {
    pub client_id: &'static str,
    pub extra: Vec<(&'static str, String)>,
    pub connectors: leasegate::server::connectors::Connectors,
    /// Routes added behind the portal's layers (routes that misbehave on purpose).
    pub routes: axum::Router<leasegate::server::app::state::AppState>,
    /// The audit trail's signing key, as `main` loads it from the secrets directory.
    pub audit_key: Option<Arc<leasegate::server::jobs::checkpoints::SigningKey>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            client_id: "leasegate-test",
            extra: Vec::new(),
            connectors: Default::default(),
            routes: axum::Router::new(),
            audit_key: None,
        }
    }
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, Options::default()).await
    }

    /// The standard test client with extra settings.
    pub async fn spawn_with_env(pool: PgPool, extra: &[(&'static str, &str)]) -> Self {
        let extra = extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Self::spawn_with(
            pool,
            Options {
                extra,
                ..Options::default()
            },
        )
        .await
    }

    /// The standard test client over these connectors.
    pub async fn with_connectors(
        pool: PgPool,
        connectors: &leasegate::server::connectors::Connectors,
    ) -> Self {
        Self::spawn_with(
            pool,
            Options {
                connectors: connectors.clone(),
                ..Options::default()
            },
        )
        .await
    }

    pub async fn spawn_with(pool: PgPool, options: Options) -> Self {
        let logs = logs();
        let idp = identity_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), "postgres://unused-pool-given".into()),
            ("LEASEGATE_PUBLIC_URL".into(), base.clone()),
            ("LEASEGATE_OIDC_ISSUER".into(), idp.issuer.clone()),
            ("LEASEGATE_OIDC_CLIENT_ID".into(), options.client_id.into()),
            (
                "LEASEGATE_OIDC_CLIENT_SECRET".into(),
                format!("{}-secret", options.client_id),
            ),
        ];
        env.extend(options.extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        let settings = Arc::new(config::from_sources(BTreeMap::new(), env).expect("test settings"));
        leasegate::server::db::migrate(&pool)
            .await
            .expect("migrations");
        let leptos = leptos::config::get_configuration(None)
            .expect("leptos options")
            .leptos_options;
        let mut state =
            router::app_state(settings.clone(), pool.clone(), leptos, options.connectors);
        state.audit_key = options.audit_key;
        let app = router::build_with(state.clone(), options.routes);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap()
        });
        TestApp {
            base,
            pool,
            logs,
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A POST from one of the portal's own pages (it carries the portal's `Origin`).
    pub fn post_same_origin(&self, browser: &reqwest::Client, path: &str) -> RequestBuilder {
        browser
            .post(self.url(path))
            .header("origin", self.base.clone())
    }

    /// A browser signed in as `account` (one of the provider's demo people).
    pub async fn person(&self, account: &str) -> reqwest::Client {
        let browser = self.browser();
        self.sign_in(&browser, account).await;
        browser
    }

    /// Calls a server function as a form post from the portal's own page: the status, and the
    /// body as JSON (or as a JSON string when it is not JSON).
    pub async fn call(
        &self,
        browser: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, serde_json::Value) {
        let response = self
            .post_same_origin(browser, &format!("/api/{endpoint}"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        )
    }

    /// Submits a request for `entitlement` (60 minutes, a justification, a fresh form token),
    /// with `extra` fields replacing or adding to those.
    pub async fn request(
        &self,
        browser: &reqwest::Client,
        entitlement: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, serde_json::Value) {
        let token = uuid::Uuid::new_v4().to_string();
        let mut form = vec![
            ("form[entitlement]", entitlement),
            ("form[duration]", "60"),
            ("form[justification]", "Quarter-end close needs the ledger"),
            ("form[client_token]", token.as_str()),
        ];
        for (k, v) in extra {
            form.retain(|(key, _)| key != k);
            form.push((k, v));
        }
        self.call(browser, "request", &form).await
    }

    /// A browser-like client: keeps cookies, follows no redirects by itself.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            // A hung call fails where it hangs rather than stalling the whole run.
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .unwrap()
    }

    /// Signs `account` in through the provider's pages, starting from `/auth/login`. Returns the
    /// portal's answer to the callback (not followed) and the callback URL.
    pub async fn sign_in(&self, browser: &reqwest::Client, account: &str) -> (Response, String) {
        let start = browser
            .get(self.url("/auth/login?return_to=%2Fmy-access"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            start.status(),
            StatusCode::SEE_OTHER,
            "login should redirect"
        );
        self.complete_at_provider(browser, location(&start), account)
            .await
    }

    /// Follows the provider's pages from `url`, picking `account` on its sign-in page, up to the
    /// portal's callback; returns the callback's response (not followed) and its URL.
    pub async fn complete_at_provider(
        &self,
        browser: &reqwest::Client,
        url: String,
        account: &str,
    ) -> (Response, String) {
        let callback = self.walk_to_callback(browser, url, account).await;
        let response = browser.get(&callback).send().await.unwrap();
        (response, callback)
    }

    /// Follows the provider's pages from `url` as far as the portal's callback URL, without
    /// calling it.
    pub async fn walk_to_callback(
        &self,
        browser: &reqwest::Client,
        url: String,
        account: &str,
    ) -> String {
        walk_provider(browser, url, account, &self.url("/auth/callback")).await
    }

    /// Is this browser signed in? (A protected page answers instead of redirecting.)
    pub async fn signed_in_as(&self, browser: &reqwest::Client) -> Option<String> {
        let response = match browser.get(self.url("/my-access")).send().await {
            Ok(r) => r,
            // A request that fails (a two-minute hang was seen once under load) is reported with
            // the portal's last log lines, which say where it stood.
            Err(e) => {
                let text = self.logs.text();
                let tail: Vec<&str> = text.lines().rev().take(80).collect();
                let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!("GET /my-access failed: {e:?}\nthe portal's last log lines:\n{tail}");
            }
        };
        if response.status() != StatusCode::OK {
            return None;
        }
        let html = response.text().await.unwrap();
        let document = scraper::Html::parse_document(&html);
        let selector = scraper::Selector::parse("[data-testid=signed-in-user]").unwrap();
        document
            .select(&selector)
            .next()
            .map(|e| e.text().collect::<String>())
    }
}

/// What a person reads for a server function's error `body` in `language`: the problem travels
/// as data and the page puts it in words (`AppError::message`). Any other body as it is.
pub fn said_in(body: &serde_json::Value, language: leasegate::text::lang::Language) -> String {
    serde_json::from_value::<leasegate::error::AppError>(body.clone())
        .map(|error| error.message(language).into_owned())
        .unwrap_or_else(|_| body.to_string())
}

/// [`said_in`] English.
pub fn said(body: &serde_json::Value) -> String {
    said_in(body, leasegate::text::lang::Language::English)
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location header; status {}", response.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// Follows the provider's pages from `url`, picking `account` on its sign-in page, until the
/// browser is sent to an address that starts with `stop` (a client's redirect URI); returns that
/// address, not called.
pub async fn walk_provider(
    browser: &reqwest::Client,
    mut url: String,
    account: &str,
    stop: &str,
) -> String {
    for _ in 0..20 {
        if url.starts_with(stop) {
            return url;
        }
        let response = browser.get(&url).send().await.unwrap();
        if response.status().is_redirection() {
            url = absolute(&url, &location(&response));
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK, "at {url}");
        assert!(url.contains("/interaction/"), "unexpected page {url}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("Adele Vance"),
            "the sign-in page lists the demo accounts"
        );
        let login = browser
            .post(format!("{url}/login"))
            .form(&[("account", account)])
            .send()
            .await
            .unwrap();
        assert!(
            login.status().is_redirection(),
            "login form answered {}",
            login.status()
        );
        url = absolute(&url, &location(&login));
    }
    panic!("sign-in did not reach {stop}");
}

fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// The value of the session cookie set by a response, if it sets one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    set_cookie_line(headers)
        .map(|line| line.split(';').next().unwrap()[router::SESSION_COOKIE.len() + 1..].to_string())
}

pub fn set_cookie_line(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{}=", router::SESSION_COOKIE)))
        .map(str::to_string)
}

/// Adds or changes a person at the identity provider (`id` is their account on its sign-in
/// page), as Entra's admin center would.
pub async fn at_provider(id: &str, change: serde_json::Value) {
    let issuer = &identity_provider().issuer;
    let response = reqwest::Client::new()
        .put(format!("{issuer}/admin/accounts/{id}"))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        reqwest::StatusCode::OK,
        "{:?}",
        response.text().await
    );
}
