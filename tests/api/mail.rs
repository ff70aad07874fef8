//! Mail, end to end against a real SMTP server (maildev, started per test): each event of a
//! request's life mails the right people in their language with a working link; an outage of
//! the mail server delays mail and loses none, and two notifiers running at once send each
//! mail once; what the server refuses is kept with its answer and shown to administrators; TLS
//! and authentication work against a server that requires them.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leasegate::domain::mail::MailState;
use leasegate::server::app::config::{MailSettings, Secret, SmtpSettings, SmtpTls};
use leasegate::server::connectors::Connectors;
use leasegate::server::jobs::grants::Engine;
use leasegate::server::notify::Notifier;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::directory::{Directory, openldap, unique};
use crate::engine::eventually;
use crate::harness::TestApp;
use crate::seed;

const CONNECTOR: &str = "test-directory";

/// A maildev of one test's own: SMTP on one port, its JSON API on another. It can be stopped
/// and started again on the same ports.
pub(crate) struct Mailbox {
    pub smtp_port: u16,
    web_port: u16,
    extra: Vec<String>,
    dir: String,
    process: Mutex<Option<Child>>,
}

impl Mailbox {
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("leasegate-mail-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let mailbox = Self {
            smtp_port: free_port(),
            web_port: free_port(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            dir: dir.display().to_string(),
            process: Mutex::new(None),
        };
        mailbox.resume().await;
        mailbox
    }

    /// Starts the server (again) and waits until its API answers.
    pub(crate) async fn resume(&self) {
        let root = env!("CARGO_MANIFEST_DIR");
        let bin = format!("{root}/end2end/node_modules/.bin/maildev");
        assert!(
            std::path::Path::new(&bin).exists(),
            "maildev is missing: run `make setup` first"
        );
        let child = Command::new(bin)
            .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1", "--silent"])
            .args(["-s", &self.smtp_port.to_string()])
            .args(["-w", &self.web_port.to_string()])
            .args(["--mail-directory", &self.dir])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting maildev");
        *self.process.lock().unwrap() = Some(child);
        let client = reqwest::Client::new();
        eventually(Duration::from_secs(30), "maildev answers", || {
            let client = client.clone();
            let url = self.api("api/email");
            let smtp = self.smtp_port;
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                    && tokio::net::TcpStream::connect(("127.0.0.1", smtp))
                        .await
                        .is_ok()
            }
        })
        .await;
    }

    /// Stops the server; mail sent meanwhile cannot be delivered.
    pub(crate) fn stop(&self) {
        if let Some(mut child) = self.process.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.web_port)
    }

    /// Every mail received, oldest first.
    pub(crate) async fn mails(&self) -> Vec<Value> {
        reqwest::get(self.api("api/email"))
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
    }

    /// Waits until at least `count` mails have arrived and returns them.
    pub(crate) async fn wait_for(&self, count: usize, what: &str) -> Vec<Value> {
        let within = Duration::from_secs(30);
        let started = std::time::Instant::now();
        loop {
            let mails = self.mails().await;
            if mails.len() >= count {
                return mails;
            }
            assert!(
                started.elapsed() < within,
                "timed out waiting for {count} mails ({what}); have {}: {:#?}",
                mails.len(),
                mails.iter().map(summary).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn settings(&self) -> MailSettings {
        MailSettings {
            smtp: Some(SmtpSettings {
                host: "127.0.0.1".into(),
                port: self.smtp_port,
                tls: SmtpTls::None,
                credentials: None,
                ca_file: None,
                timeout: Duration::from_secs(5),
            }),
            from: "Leasegate <leasegate@contoso.test>".into(),
            retry_first: Duration::from_millis(300),
            give_up_after: Duration::from_secs(3600),
            security: Vec::new(),
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// "to: subject", for failure messages.
fn summary(mail: &Value) -> String {
    format!("{}: {}", to(mail), mail["subject"].as_str().unwrap_or(""))
}

fn to(mail: &Value) -> String {
    mail["to"][0]["address"].as_str().unwrap_or("").to_string()
}

/// The mails to `address`.
fn mails_to<'a>(mails: &'a [Value], address: &str) -> Vec<&'a Value> {
    mails.iter().filter(|m| to(m) == address).collect()
}

/// The link of a mail's action, read from its plain text (the line after "...: ").
fn link(mail: &Value, base: &str) -> String {
    let text = mail["text"].as_str().unwrap_or("");
    text.split_whitespace()
        .find(|w| w.starts_with(base))
        .unwrap_or_else(|| panic!("no link to {base} in {text}"))
        .to_string()
}

struct World {
    app: TestApp,
    dir: &'static Directory,
    entitlement: String,
    mailbox: Mailbox,
}

fn policy() -> Value {
    json!({
        "name": "Manager approval",
        "durations": { "default_minutes": 60, "max_minutes": 240 },
        "stages": [{ "approvers": "manager" }],
        "expiry_notice_minutes": 15
    })
}

async fn world(pool: PgPool) -> World {
    world_owned_by(pool, &[]).await
}

async fn world_owned_by(pool: PgPool, owners: &[&str]) -> World {
    let entitlement = seed::offered(&pool, policy(), owners).await;
    let mailbox = Mailbox::start(&[]).await;
    let (app, _) = seed::ldap_portal(pool, Vec::new()).await;
    World {
        app,
        dir: openldap(),
        entitlement,
        mailbox,
    }
}

impl World {
    fn notifier(&self) -> Notifier {
        self.notifier_with(&self.mailbox.settings())
    }

    fn notifier_with(&self, settings: &MailSettings) -> Notifier {
        Notifier::new(
            self.app.pool.clone(),
            url::Url::parse(&format!("{}/", self.app.base)).unwrap(),
            settings,
        )
        .unwrap()
        .expect("a mail server is configured")
    }

    async fn run_engine(&self) {
        let mut connectors = Connectors::default();
        connectors.insert(CONNECTOR, Arc::new(self.dir.connector()));
        Engine::new(
            self.app.pool.clone(),
            connectors,
            seed::engine_settings(Duration::from_secs(30)),
        )
        .run_once()
        .await
        .unwrap();
    }

    async fn outbox(&self, sql: &str) -> i64 {
        seed::count(&self.app.pool, sql).await
    }
}

#[sqlx::test]
async fn a_request_is_mailed_from_submission_to_removal(pool: PgPool) {
    let w = world(pool).await;
    let notifier = w.notifier();
    let adele = w.app.person("adele").await;
    let megan = w.app.person("megan").await;
    // Megan reads German.
    let (status, body) = w
        .app
        .call(&megan, "me/language", &[("language", "de")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = w.app.request(&adele, &w.entitlement, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = body["request_id"].as_str().unwrap().to_string();
    let pass = notifier.pass().await.unwrap();
    assert_eq!((pass.written, pass.sent), (1, 1), "{pass:?}");

    // The manager is asked, in German, with a link to the request's decision page.
    let mails = w.mailbox.wait_for(1, "the approver's mail").await;
    let asked = mails_to(&mails, "megan.bowen@contoso.test");
    assert_eq!(asked.len(), 1, "{mails:#?}");
    assert!(
        asked[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Genehmigung erforderlich:"),
        "{}",
        asked[0]["subject"]
    );
    assert!(
        asked[0]["text"]
            .as_str()
            .unwrap()
            .contains("Quarter-end close needs the ledger")
    );
    assert!(asked[0]["html"].as_str().unwrap().contains("<table"));
    let decision_page = link(asked[0], &w.app.base);
    assert_eq!(decision_page, w.app.url(&format!("/approvals/{request}")));
    // The link opens the request with its Approve button for Megan, and nothing for Adele.
    let page = megan.get(&decision_page).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    // Megan chose German, for her mail and her pages alike.
    assert!(html.contains(r#"<html lang="de">"#), "{html}");
    assert!(html.contains("Adele Vance beantragt"), "{html}");
    assert!(html.contains(r#"value="approve""#));
    let theirs = adele
        .get(&decision_page)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!theirs.contains(r#"value="approve""#));
    assert!(theirs.contains("does not wait for your decision"));

    // Reading the trail again writes nothing twice.
    assert_eq!(notifier.pass().await.unwrap().written, 0);

    // Approved: the requester hears it, in English (no language chosen).
    let (status, body) = w
        .app
        .call(
            &megan,
            "approvals/decide",
            &[
                ("request_id", &request),
                ("outcome", "approve"),
                ("comment", "Fine for the close"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    notifier.pass().await.unwrap();
    // Granted: the engine adds the membership; the holder is told.
    w.run_engine().await;
    notifier.pass().await.unwrap();
    let mails = w.mailbox.wait_for(3, "decision and grant").await;
    let adeles: Vec<String> = mails_to(&mails, "adele.vance@contoso.test")
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(adeles.len(), 2, "{adeles:?}");
    assert!(adeles[0].starts_with("Approved: "), "{adeles:?}");
    assert!(adeles[1].starts_with("Access granted: "), "{adeles:?}");
    let approved = mails_to(&mails, "adele.vance@contoso.test")[0];
    assert!(
        approved["text"]
            .as_str()
            .unwrap()
            .contains("“Fine for the close”")
    );
    assert_eq!(link(approved, &w.app.base), w.app.url("/my-access"));

    // Ending soon: the lease is moved so that its end is 10 minutes away (the policy warns 15
    // minutes before); the notice is written once.
    sqlx::query(
        "update grants set starts_at = now() - interval '50 minutes', ends_at = now() + interval '10 minutes'",
    )
    .execute(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(notifier.pass().await.unwrap().written, 1);
    assert_eq!(notifier.pass().await.unwrap().written, 0);
    let mails = w.mailbox.wait_for(4, "the ending notice").await;
    assert!(
        mails[3]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Ending soon: ")
    );

    // Given back: removed, read back, and the holder is told.
    let (_, mine) = w.app.call(&adele, "my-access", &[]).await;
    let grant = mine["leases"][0]["grant_id"].as_str().unwrap().to_string();
    let (status, _) = w
        .app
        .call(&adele, "lease/give-back", &[("grant_id", &grant)])
        .await;
    assert_eq!(status, StatusCode::OK);
    w.run_engine().await;
    notifier.pass().await.unwrap();
    let mails = w.mailbox.wait_for(5, "the removal").await;
    assert!(
        mails[4]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Access removed: "),
        "{:#?}",
        mails.iter().map(summary).collect::<Vec<_>>()
    );

    // Five mails, each with its own Message-ID, none twice.
    notifier.pass().await.unwrap();
    let mails = w.mailbox.mails().await;
    assert_eq!(
        mails.len(),
        5,
        "{:#?}",
        mails.iter().map(summary).collect::<Vec<_>>()
    );
    let mut ids: Vec<&str> = mails
        .iter()
        .map(|m| m["headers"]["message-id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    assert_eq!(
        w.outbox("select count(*) from mail_outbox where state = 'sent'")
            .await,
        5
    );
}

#[sqlx::test]
async fn a_denial_and_a_lapse_tell_the_requester(pool: PgPool) {
    let w = world(pool).await;
    let notifier = w.notifier();
    let adele = w.app.person("adele").await;
    let megan = w.app.person("megan").await;
    let (_, body) = w.app.request(&adele, &w.entitlement, &[]).await;
    let request = body["request_id"].as_str().unwrap().to_string();
    notifier.pass().await.unwrap();
    let (status, _) = w
        .app
        .call(
            &megan,
            "approvals/decide",
            &[
                ("request_id", &request),
                ("outcome", "deny"),
                ("comment", "Use <read-only>"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    notifier.pass().await.unwrap();
    let mails = w.mailbox.wait_for(2, "request and denial").await;
    let denied = mails_to(&mails, "adele.vance@contoso.test");
    assert_eq!(denied.len(), 1);
    assert!(
        denied[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Denied: ")
    );
    assert!(
        denied[0]["html"]
            .as_str()
            .unwrap()
            .contains("Use &lt;read-only&gt;")
    );

    // A second request nobody decides: first it is about to lapse, then it lapses.
    let (_, body) = w.app.request(&adele, &w.entitlement, &[]).await;
    let second = body["request_id"].as_str().unwrap().to_string();
    sqlx::query(
        "update access_requests set submitted_at = now() - interval '7 days', expires_at = now() + interval '2 hours' where id = $1::uuid",
    )
    .bind(&second)
    .execute(&w.app.pool)
    .await
    .unwrap();
    notifier.pass().await.unwrap();
    sqlx::query("update access_requests set expires_at = now() where id = $1::uuid")
        .bind(&second)
        .execute(&w.app.pool)
        .await
        .unwrap();
    leasegate::server::db::grants::expire_pending_requests(&w.app.pool)
        .await
        .unwrap();
    notifier.pass().await.unwrap();
    let mails = w.mailbox.wait_for(5, "asked, lapsing, lapsed").await;
    let subjects: Vec<&str> = mails_to(&mails, "adele.vance@contoso.test")
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(subjects[1].starts_with("Still undecided: "), "{subjects:?}");
    assert!(
        subjects[2].starts_with("Lapsed undecided: "),
        "{subjects:?}"
    );
    let lapsed = mails_to(&mails, "adele.vance@contoso.test")[2];
    assert_eq!(
        link(lapsed, &w.app.base),
        w.app.url(&format!("/request/{}", w.entitlement))
    );
}

#[sqlx::test]
async fn an_outage_of_the_mail_server_delays_mail_and_loses_none(pool: PgPool) {
    let w = world(pool).await;
    let pool = w.app.pool.clone();
    // Six entries, so Adele can ask for six things at once.
    let mut keys = vec![w.entitlement.clone()];
    for _ in 0..5 {
        keys.push(seed::offered(&pool, policy(), &[]).await);
    }
    let adele = w.app.person("adele").await;
    let _megan = w.app.person("megan").await;

    // Two notifiers, as on two replicas, running as the portal runs them.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    use leasegate::server::jobs;
    let first = tokio::spawn(jobs::run_notifier(
        w.notifier(),
        "first".into(),
        stopping.clone(),
    ));
    let second = tokio::spawn(jobs::run_notifier(w.notifier(), "second".into(), stopping));

    w.mailbox.stop();
    for key in &keys {
        let (status, body) = w.app.request(&adele, key, &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Written, tried, not delivered; the administrators see why.
    eventually(Duration::from_secs(30), "every mail tried at least once", || {
        let pool = pool.clone();
        async move {
            seed::count(
                &pool,
                "select count(*) from mail_outbox where state = 'pending' and attempts > 0 and last_error is not null",
            )
            .await
                == 6
        }
    })
    .await;
    let nestor = w.app.person("nestor").await;
    let (status, overview) = w.app.call(&nestor, "admin/mail", &[]).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["pending"], 6, "{overview}");
    assert_eq!(overview["problems"].as_array().unwrap().len(), 6);
    assert_eq!(overview["problems"][0]["state"], "pending");
    assert!(
        !overview["problems"][0]["answer"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // Back: every mail arrives, once.
    w.mailbox.resume().await;
    let mails = w.mailbox.wait_for(6, "the burst after the outage").await;
    eventually(Duration::from_secs(10), "the outbox is empty", || {
        let pool = pool.clone();
        async move {
            seed::count(
                &pool,
                "select count(*) from mail_outbox where state = 'sent'",
            )
            .await
                == 6
        }
    })
    .await;
    // Give a duplicate time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails_after = w.mailbox.mails().await;
    assert_eq!(
        mails_after.len(),
        6,
        "{:#?}",
        mails_after.iter().map(summary).collect::<Vec<_>>()
    );
    let mut subjects: Vec<&str> = mails
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 6, "one mail per request");
    stop.send(true).unwrap();
    first.await.unwrap();
    second.await.unwrap();
}

#[sqlx::test]
async fn a_refused_mail_is_kept_with_the_servers_answer(pool: PgPool) {
    let w = world(pool).await;
    // A server that takes nothing larger than 200 bytes: every mail is refused for good (552).
    let strict = Mailbox::start(&["--max-message-size", "200"]).await;
    let notifier = w.notifier_with(&strict.settings());
    let adele = w.app.person("adele").await;
    let _megan = w.app.person("megan").await;
    let (status, _) = w.app.request(&adele, &w.entitlement, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let pass = notifier.pass().await.unwrap();
    assert_eq!(
        (pass.written, pass.sent, pass.refused),
        (1, 0, 1),
        "{pass:?}"
    );
    let (state, answer): (MailState, String) =
        sqlx::query_as("select state, last_error from mail_outbox")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    assert_eq!(state, MailState::Refused);
    assert!(
        answer.contains("552") || answer.to_lowercase().contains("size"),
        "{answer}"
    );
    // Refused is final: later passes do not try again.
    assert_eq!(notifier.pass().await.unwrap(), Default::default());
    assert!(strict.mails().await.is_empty());

    // Only administrators see the mail page's data.
    let (status, _) = w.app.call(&adele, "admin/mail", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let nestor = w.app.person("nestor").await;
    let (_, overview) = w.app.call(&nestor, "admin/mail", &[]).await;
    assert_eq!(overview["refused_last_month"], 1, "{overview}");
    assert_eq!(overview["problems"][0]["state"], "refused");
    assert_eq!(
        overview["problems"][0]["address"],
        "megan.bowen@contoso.test"
    );

    // A language the portal does not speak is refused and changes nothing.
    let (status, body) = w
        .app
        .call(&adele, "me/language", &[("language", "fr")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        w.outbox("select count(*) from principals where language is not null")
            .await,
        0
    );
}

#[sqlx::test]
async fn mail_goes_through_tls_with_authentication(pool: PgPool) {
    let w = world(pool).await;
    let tls = std::env::temp_dir().join(format!("leasegate-mail-tls-{}", unique()));
    let script = format!("{}/end2end/directory/tls.sh", env!("CARGO_MANIFEST_DIR"));
    assert!(
        Command::new("bash")
            .arg(script)
            .arg(&tls)
            .status()
            .unwrap()
            .success()
    );
    let tls = tls.display().to_string();
    let secure = Mailbox::start(&[
        "--incoming-secure",
        "--incoming-cert",
        &format!("{tls}/server.pem"),
        "--incoming-key",
        &format!("{tls}/server.key"),
        "--incoming-user",
        "portal",
        "--incoming-pass",
        "s3cret",
    ])
    .await;
    let mut settings = secure.settings();
    settings.smtp = Some(SmtpSettings {
        host: "localhost".into(),
        port: secure.smtp_port,
        tls: SmtpTls::Implicit,
        credentials: Some(("portal".into(), Secret::new("s3cret"))),
        ca_file: Some(format!("{tls}/ca.pem").into()),
        timeout: Duration::from_secs(5),
    });
    let adele = w.app.person("adele").await;
    let _megan = w.app.person("megan").await;
    w.app.request(&adele, &w.entitlement, &[]).await;

    // A wrong password is the server's permanent refusal, kept with its answer.
    let mut wrong = settings.clone();
    if let Some(smtp) = &mut wrong.smtp {
        smtp.credentials = Some(("portal".into(), Secret::new("wrong")));
    }
    let pass = w.notifier_with(&wrong).pass().await.unwrap();
    assert_eq!((pass.sent, pass.refused), (0, 1), "{pass:?}");
    let answer: String =
        sqlx::query_scalar("select last_error from mail_outbox where state = 'refused'")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    assert!(answer.contains("535"), "{answer}");
    assert!(secure.mails().await.is_empty());

    // Put back by hand (as an operator would after fixing the password), it goes out.
    sqlx::query("update mail_outbox set state = 'pending', refused_at = null")
        .execute(&w.app.pool)
        .await
        .unwrap();
    let pass = w.notifier_with(&settings).pass().await.unwrap();
    assert_eq!(pass.sent, 1, "{pass:?}");
    let mails = secure.wait_for(1, "the mail over TLS").await;
    assert_eq!(to(&mails[0]), "megan.bowen@contoso.test");
}

/// A relay in front of a real mail server that holds each of the server's answers for `delay`:
/// a mail server that answers slowly, as a busy or distant one does.
struct SlowRelay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl SlowRelay {
    async fn start(upstream: u16, delay: Duration) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (mut client_in, mut client_out) = client.into_split();
                    let (mut server_in, mut server_out) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_in, &mut server_out).await;
                        let _ = server_out.shutdown().await;
                    });
                    let mut buffer = vec![0u8; 8192];
                    while let Ok(n) = server_in.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        tokio::time::sleep(delay).await;
                        if client_out.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        Self { port, task }
    }
}

impl Drop for SlowRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two replicas deliver through a mail server that answers slowly (maildev behind a relay that
/// holds each answer): every mail arrives exactly once. A delivery round used to claim 50 mails
/// at once for the claim's length and send them one after another, so once the claim ran out
/// the other replica claimed the rest of the round and sent it again (the same Message-ID over
/// two connections). Each mail is now claimed just before it is sent, and a send is given half
/// the claim.
#[sqlx::test]
async fn two_replicas_and_a_slow_mail_server_send_every_mail_once(pool: PgPool) {
    let w = world(pool).await;
    let pool = w.app.pool.clone();
    let relay = SlowRelay::start(w.mailbox.smtp_port, Duration::from_millis(120)).await;
    let mut settings = w.mailbox.settings();
    settings.smtp.as_mut().unwrap().port = relay.port;
    const MAILS: usize = 16;
    for n in 0..MAILS {
        sqlx::query(
            "insert into mail_outbox (topic, kind, address, language, subject, text_body,
                                      html_body)
             values ($1, 'granted', $2, 'en', $3, 'Granted.', '<p>Granted.</p>')",
        )
        .bind(format!("test:{n}"))
        .bind(format!("person{n}@contoso.test"))
        .bind(format!("Mail {n}"))
        .execute(&pool)
        .await
        .unwrap();
    }
    // Two replicas, each delivering as often as a busy portal does. The claim is seconds, not
    // minutes, so the test need not wait minutes; a round of these mails takes longer than it.
    let claim = Duration::from_secs(4);
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            let notifier = w.notifier_with(&settings).with_claim(claim);
            let pool = pool.clone();
            tokio::spawn(async move {
                let pending = "select count(*) from mail_outbox where state <> 'sent'";
                crate::engine::until_done(pool, pending, || async {
                    notifier.deliver().await.unwrap();
                })
                .await
            })
        })
        .collect();
    for replica in replicas {
        replica.await.unwrap();
    }
    assert_eq!(
        w.outbox("select count(*) from mail_outbox where state = 'sent'")
            .await,
        MAILS as i64
    );
    // Give a late duplicate time to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = w.mailbox.mails().await;
    let mut ids: Vec<String> = mails
        .iter()
        .map(|m| {
            m["headers"]["message-id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (mails.len(), ids.len()),
        (MAILS, MAILS),
        "{:#?}",
        mails.iter().map(summary).collect::<Vec<_>>()
    );
}

#[sqlx::test]
async fn access_taken_away_is_mailed_to_the_holder_and_the_owners_with_the_reason(pool: PgPool) {
    let w = world_owned_by(pool, &["alex.wilber@contoso.test"]).await;
    let notifier = w.notifier();
    let adele = w.app.person("adele").await;
    let megan = w.app.person("megan").await;
    let nestor = w.app.person("nestor").await;
    // The owner signs in once, so the portal knows where to write to them.
    w.app.person("alex").await;
    let (_, body) = w.app.request(&adele, &w.entitlement, &[]).await;
    let request = body["request_id"].as_str().unwrap().to_string();
    w.app
        .call(
            &megan,
            "approvals/decide",
            &[
                ("request_id", &request),
                ("outcome", "approve"),
                ("comment", "ok"),
            ],
        )
        .await;
    w.run_engine().await;
    while notifier.pass().await.unwrap().written > 0 {}
    let written = w.outbox("select count(*) from mail_outbox").await as usize;
    let before = w
        .mailbox
        .wait_for(written, "asked, approved, granted")
        .await
        .len();
    assert_eq!(before, written);

    let grant: String = sqlx::query_scalar("select id::text from grants")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    let (status, body) = w
        .app
        .call(
            &nestor,
            "governance/revoke",
            &[
                ("grant_id", &grant),
                ("reason", "Leaked <b>session</b> cookie, INC-4713"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    notifier.pass().await.unwrap();
    let mails = w
        .mailbox
        .wait_for(before + 2, "holder and owner told")
        .await;
    let taken: Vec<&Value> = mails[before..].iter().collect();
    let mut to_whom: Vec<String> = taken.iter().map(|m| to(m)).collect();
    to_whom.sort();
    assert_eq!(
        to_whom,
        ["adele.vance@contoso.test", "alex.wilber@contoso.test"]
    );
    for mail in &taken {
        assert!(
            mail["subject"]
                .as_str()
                .unwrap()
                .starts_with("Access taken away: "),
            "{mail}"
        );
        let text = mail["text"].as_str().unwrap();
        assert!(
            text.contains("Nestor Wilke took Adele Vance's access"),
            "{text}"
        );
        assert!(
            text.contains("Leaked <b>session</b> cookie, INC-4713"),
            "{text}"
        );
        // The reason is text in the HTML body, never markup.
        let html = mail["html"].as_str().unwrap();
        assert!(
            html.contains("Leaked &lt;b&gt;session&lt;/b&gt; cookie"),
            "{html}"
        );
    }
    assert_eq!(notifier.pass().await.unwrap().written, 0, "told once");
}
