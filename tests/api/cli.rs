//! `leasegate-cli` end to end: the real binary against a portal, a real directory and the
//! identity provider. An automation application asks for a person with its client credential;
//! people sign in with the device code flow (the test plays their browser), approve, list and
//! give back; an auditor application verifies the trail and exports evidence; refusals exit
//! non-zero with the API's words.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;

use crate::access::{manager_policy, world};
use crate::harness::{identity_provider, location};

const CLI: &str = env!("CARGO_BIN_EXE_leasegate-cli");

/// A terminal of the CLI's: the portal and provider to talk to, and a home of its own.
struct Terminal {
    url: String,
    home: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Terminal {
    fn new(url: &str) -> Self {
        let home = std::env::temp_dir().join(format!("leasegate-cli-{}", uuid::Uuid::new_v4()));
        Self {
            url: url.to_string(),
            home,
            env: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(CLI);
        command
            .args(["--url", &self.url])
            .args(["--issuer", &identity_provider().issuer])
            .args(["--audience", "api://leasegate-test"])
            .args(args)
            .env_remove("LEASEGATE_TOKEN")
            .env_remove("LEASEGATE_CLIENT_ID")
            .env_remove("LEASEGATE_CLIENT_SECRET")
            .env("LEASEGATE_CLI_HOME", &self.home);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// Runs a command to its end, off the test's runtime (the portal runs on it).
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "leasegate-cli {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `login` with the device code flow, `account` signing in on the provider's pages.
    async fn login(&self, account: &str) {
        let mut child = self
            .command(&["login"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first, rest) = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().unwrap().unwrap();
            (first, lines)
        })
        .await
        .unwrap();
        // "To sign in, open <uri> and enter the code <code>"
        let words: Vec<&str> = first.split_whitespace().collect();
        assert!(first.starts_with("To sign in, open"), "{first}");
        let uri = words[4].to_string();
        let code = words.last().unwrap().to_string();
        approve_device(&uri, &code, account).await;
        let status = tokio::task::spawn_blocking(move || {
            let said: Vec<String> = rest.map_while(Result::ok).collect();
            (child.wait().unwrap(), said)
        })
        .await
        .unwrap();
        assert!(status.0.success(), "login failed: {:?}", status.1);
        assert!(status.1.iter().any(|l| l == "Signed in."), "{:?}", status.1);
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.home).ok();
    }
}

/// What the person does in their browser: opens the address, enters the code, confirms, and
/// signs in on the provider's page.
async fn approve_device(uri: &str, code: &str, account: &str) {
    let issuer = identity_provider().issuer.clone();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(uri).send().await.unwrap().text().await.unwrap();
    let entered = browser
        .post(uri)
        .form(&[
            ("xsrf", hidden(&page, "xsrf").as_str()),
            ("user_code", code),
        ])
        .send()
        .await
        .unwrap();
    let confirm = entered.text().await.unwrap();
    assert!(
        confirm.contains(code),
        "the confirmation names the code: {confirm}"
    );
    let mut answer = browser
        .post(uri)
        .form(&[
            ("xsrf", hidden(&confirm, "xsrf").as_str()),
            ("user_code", hidden(&confirm, "user_code").as_str()),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    for _ in 0..10 {
        if answer.status().is_redirection() {
            let next = location(&answer);
            let next = if next.starts_with("http") {
                next
            } else {
                format!("{issuer}{next}")
            };
            answer = browser.get(&next).send().await.unwrap();
            continue;
        }
        assert_eq!(answer.status(), StatusCode::OK);
        let url = answer.url().to_string();
        let body = answer.text().await.unwrap();
        if body.contains("<h1>Signed in</h1>") {
            return;
        }
        assert!(
            url.contains("/interaction/"),
            "unexpected page {url}: {body}"
        );
        answer = browser
            .post(format!("{url}/login"))
            .form(&[("account", account)])
            .send()
            .await
            .unwrap();
    }
    panic!("the device sign-in did not finish");
}

/// The value of the hidden input `name` on a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

#[sqlx::test]
async fn the_cli_requests_approves_lists_gives_back_and_verifies(pool: sqlx::PgPool) {
    let w = world(pool, manager_policy(), &[]).await;
    let app = &w.app;
    for person in ["adele", "megan"] {
        app.person(person).await;
    }

    // Not signed in: told how, exit 3.
    let adele = Terminal::new(&app.base);
    let out = adele.run(&["leases"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leasegate-cli login"));

    // An automation application asks for Adele, with its own credential.
    let mut automation = Terminal::new(&app.base);
    automation.env = vec![
        ("LEASEGATE_CLIENT_ID", "leasegate-automation".into()),
        (
            "LEASEGATE_CLIENT_SECRET",
            "leasegate-automation-secret".into(),
        ),
    ];
    let entry = w.entitlement.clone();
    let said = automation
        .ok(&[
            "request",
            &entry,
            "--minutes",
            "60",
            "--reason",
            "Ticket 4711: quarter-end close",
            "--for",
            "adele.vance@contoso.test",
        ])
        .await;
    let (request, state) = said.trim().split_once('\t').unwrap();
    assert_eq!(state, "pending");
    // It may not decide, and says why.
    let out = automation.run(&["approve", request]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(403)"),
        "{out:?}"
    );

    // Adele signs in with the device code and sees the request made for her.
    adele.login("adele").await;
    let mine = adele.ok(&["requests"]).await;
    assert!(mine.contains(request), "{mine}");
    // The token file is hers alone.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(adele.home.join("token.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // She may not approve it: it is for her.
    assert_eq!(
        adele.run(&["approve", request]).await.status.code(),
        Some(1)
    );

    // Her manager approves from their own terminal.
    let megan = Terminal::new(&app.base);
    megan.login("megan").await;
    assert!(megan.ok(&["approvals"]).await.contains(request));
    let decided = megan.ok(&["approve", request, "--comment", "ok"]).await;
    assert_eq!(decided.trim(), format!("{request}\tapproved"));

    w.run_engine().await;
    let leases = adele.ok(&["leases"]).await;
    let lease = leases.split('\t').next().unwrap().to_string();
    assert!(leases.contains("active"), "{leases}");
    assert!(w.is_member("adele.vance@contoso.test").await);
    adele.ok(&["give-back", &lease]).await;
    w.run_engine().await;
    assert!(!w.is_member("adele.vance@contoso.test").await);
    assert_eq!(adele.ok(&["leases"]).await, "");

    // An auditor application verifies the trail and exports evidence of the request.
    let mut auditor = Terminal::new(&app.base);
    auditor.env = vec![
        ("LEASEGATE_CLIENT_ID", "leasegate-auditor-app".into()),
        (
            "LEASEGATE_CLIENT_SECRET",
            "leasegate-auditor-app-secret".into(),
        ),
    ];
    let verified = auditor.ok(&["audit", "verify", "--whole"]).await;
    assert!(verified.contains("\"intact\": true"), "{verified}");
    let file = auditor.home.join("evidence.csv");
    std::fs::create_dir_all(&auditor.home).unwrap();
    auditor
        .ok(&[
            "evidence",
            "export",
            "--format",
            "csv",
            "--action",
            "grant",
            "--out",
            file.to_str().unwrap(),
        ])
        .await;
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(csv.contains("grant.revoked"), "{csv}");
    // People without a governance role may not.
    let out = adele.run(&["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(1));
    // Signing out forgets the token.
    adele.ok(&["logout"]).await;
    assert_eq!(adele.run(&["leases"]).await.status.code(), Some(3));
}
