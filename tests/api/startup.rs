//! The real binary refuses to start on bad configuration, an unreachable database or a failing
//! migration, with a clear message and a non-zero exit.

use std::process::Command;

use sqlx::PgPool;

/// Runs the portal binary with only `PATH` and `env`; returns its exit code and everything it
/// printed (log lines go to standard output, the final error to standard error).
fn portal(env: Vec<(String, String)>) -> (i32, String) {
    portal_with(&[], env)
}

/// [`portal`] with command-line arguments.
fn portal_with(args: &[&str], env: Vec<(String, String)>) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_leasegate"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .expect("running the portal binary");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), printed)
}

/// The address of the test's own database, for the binary's `DATABASE_URL`.
fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    )
}

/// Valid sign-in settings plus `extra`.
fn with_oidc(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    OIDC.iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const OIDC: [(&str, &str); 3] = [
    ("LEASEGATE_OIDC_ISSUER", "http://127.0.0.1:9"),
    ("LEASEGATE_OIDC_CLIENT_ID", "c"),
    ("LEASEGATE_OIDC_CLIENT_SECRET", "never-printed-secret"),
];

#[test]
fn bad_configuration_is_explained() {
    let env = [
        ("DATABASE_URL", "postgres://127.0.0.1:9/x"),
        ("LEASEGATE_OIDC_ISSUER", "not a url"),
        ("LEASEGATE_OIDC_CLIENT_SECRET", "never-printed-secret"),
    ];
    let (code, stderr) = portal(
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("LEASEGATE_OIDC_ISSUER is not a URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("LEASEGATE_OIDC_CLIENT_ID is required"),
        "{stderr}"
    );
    assert!(!stderr.contains("never-printed-secret"), "{stderr}");
}

#[test]
fn unreachable_database_is_retried_then_given_up() {
    let started = std::time::Instant::now();
    let (code, stderr) = portal(with_oidc(&[
        ("DATABASE_URL", "postgres://leasegate@127.0.0.1:9/leasegate"),
        ("LEASEGATE_DATABASE_STARTUP_TIMEOUT", "2s"),
    ]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot connect to the database"),
        "{stderr}"
    );
    assert!(
        stderr.contains("database not reachable yet"),
        "it retried: {stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[sqlx::test(migrations = false)]
async fn a_failing_migration_stops_the_process(pool: PgPool) {
    // A table in the way makes the first migration fail.
    sqlx::query("create table principals (id int)")
        .execute(&pool)
        .await
        .unwrap();
    let url = database_url(&pool);
    let env = with_oidc(&[("DATABASE_URL", &url)]);
    let (code, stderr) = tokio::task::spawn_blocking(move || portal(env))
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("applying database migrations failed"),
        "{stderr}"
    );
}

/// The audit signing key has a lane of its own: the portal will not start while it sits where a
/// catalog's connectors read secrets (a `LEASEGATE_SECRET_*` variable, the secrets directory),
/// since a catalog could then send it to a server as a bind password.
#[test]
fn the_audit_key_is_refused_where_a_catalog_could_read_it() {
    let secrets = std::env::temp_dir().join(format!("leasegate-secrets-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&secrets).unwrap();
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let dir = secrets.display().to_string();
    let inside = secrets.join("signing.key");
    std::fs::write(&inside, key).unwrap();
    let inside = inside.display().to_string();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("LEASEGATE_SECRET_AUDIT_KEY", key)],
        vec![
            ("LEASEGATE_SECRETS_DIR", &dir),
            ("LEASEGATE_AUDIT_KEY_FILE", &inside),
        ],
    ];
    for extra in cases {
        let (code, printed) = portal(with_oidc(
            &[&[("DATABASE_URL", "postgres://127.0.0.1:9/x")][..], &extra].concat(),
        ));
        assert_eq!(code, 1, "{printed}");
        assert!(
            printed.contains("must not be where a catalog's connectors can read secrets"),
            "{extra:?}: {printed}"
        );
        assert!(
            !printed.contains(key),
            "the key is never printed: {printed}"
        );
    }
    // The former file name in the secrets directory is refused too.
    std::fs::write(secrets.join("audit-signing-key"), key).unwrap();
    let (code, printed) = portal(with_oidc(&[
        ("DATABASE_URL", "postgres://127.0.0.1:9/x"),
        ("LEASEGATE_SECRETS_DIR", &dir),
    ]));
    assert_eq!(code, 1, "{printed}");
    assert!(printed.contains("audit-signing-key exists"), "{printed}");
    std::fs::remove_dir_all(&secrets).unwrap();
}

/// A catalog that names the audit key as a connector's secret, by its variable or its file, is
/// refused at start; nothing of the key is printed.
#[sqlx::test]
async fn a_catalog_naming_the_audit_key_is_refused_at_start(pool: PgPool) {
    let url = database_url(&pool);
    let work = std::env::temp_dir().join(format!("leasegate-key-{}", uuid::Uuid::new_v4()));
    let secrets = work.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let key_file = work.join("audit.key");
    std::fs::write(&key_file, key).unwrap();
    for source in [
        r#"password_env = "LEASEGATE_AUDIT_KEY""#.to_string(),
        format!(r#"password_file = "{}""#, key_file.display()),
    ] {
        let catalog = work.join("catalog.toml");
        std::fs::write(
            &catalog,
            format!(
                r#"
[connectors.corp]
kind = "ldap"
url = "ldaps://dc.contoso.test"
bind_dn = "CN=svc,DC=contoso,DC=test"
{source}
user_base = "DC=contoso,DC=test"
group_base = "DC=contoso,DC=test"
"#
            ),
        )
        .unwrap();
        let env = with_oidc(&[
            ("DATABASE_URL", &url),
            ("LEASEGATE_AUDIT_KEY_FILE", &key_file.display().to_string()),
            ("LEASEGATE_SECRETS_DIR", &secrets.display().to_string()),
            ("LEASEGATE_CATALOG", &catalog.display().to_string()),
        ]);
        let (code, printed) = tokio::task::spawn_blocking(move || portal(env))
            .await
            .unwrap();
        assert_eq!(code, 1, "{source}: {printed}");
        assert!(
            printed.contains("must name a LEASEGATE_SECRET_* variable")
                || printed.contains("outside the secrets directory"),
            "{source}: {printed}"
        );
        assert!(!printed.contains(key), "{printed}");
    }
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn the_binary_names_its_subcommands_and_refuses_others() {
    let (code, help) = portal_with(&["--help"], Vec::new());
    assert_eq!(code, 0, "{help}");
    assert!(help.contains("serve") && help.contains("migrate"), "{help}");
    assert!(help.contains("audit"), "{help}");
    let (code, refused) = portal_with(&["frobnicate"], with_oidc(&[]));
    assert_eq!(code, 2, "{refused}");
    assert!(refused.contains("frobnicate"), "{refused}");
    // Checking evidence needs no settings and no database: with an empty environment it gets
    // as far as the file.
    let (code, said) = portal_with(
        &["audit", "verify", "/nonexistent/evidence.json"],
        Vec::new(),
    );
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("cannot read /nonexistent/evidence.json"),
        "{said}"
    );
}

#[sqlx::test(migrations = false)]
async fn migrate_applies_every_migration_and_exits(pool: PgPool) {
    let url = database_url(&pool);
    let env = with_oidc(&[("DATABASE_URL", &url)]);
    // Were `migrate` ignored, the portal would serve for ever: the wait is bounded.
    let migrate = tokio::task::spawn_blocking(move || portal_with(&["migrate"], env));
    let (code, printed) = tokio::time::timeout(std::time::Duration::from_secs(120), migrate)
        .await
        .expect("`leasegate migrate` exits once the migrations are applied")
        .unwrap();
    assert_eq!(code, 0, "{printed}");
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "sql")
        })
        .count();
    assert_eq!(applied, files as i64);
    assert!(!printed.contains("Leasegate is serving"), "{printed}");
}

/// Another portal starting in the same process (every HTTP test starts one) leaves the pages
/// this one renders alone. Leptos reads a router's page routes with data loading switched off
/// process-wide, and a page whose data load began meanwhile was never answered
/// (leptos-rs/leptos#4773): one request in a few hundred test runs waited two minutes.
#[sqlx::test]
async fn pages_are_answered_while_another_portal_starts(pool: PgPool) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let app = crate::harness::TestApp::spawn(pool).await;
    let adele = app.person("adele").await;
    // Raised when the test ends, also by a failed assertion: the runtime waits for the loop.
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = Stop(Arc::new(AtomicBool::new(false)));
    let starting = {
        let (state, stop) = (app.state.clone(), stop.0.clone());
        tokio::task::spawn_blocking(move || {
            let mut built = 0;
            while !stop.load(Ordering::Relaxed) {
                drop(leasegate::server::app::router::build(state.clone()));
                built += 1;
            }
            built
        })
    };
    for attempt in 0..20 {
        let page = tokio::time::timeout(Duration::from_secs(15), async {
            let response = adele.get(app.url("/my-access")).send().await.unwrap();
            response.text().await.unwrap()
        })
        .await
        .unwrap_or_else(|_| panic!("page {attempt} was not answered in 15 s"));
        assert!(
            page.contains("leases-title"),
            "page {attempt} shows the person's access, not only its placeholder"
        );
    }
    drop(stop);
    let built = starting.await.unwrap();
    assert!(built > 0, "other portals were started meanwhile");
}

/// A catalog as a pull request would change it.
const CATALOG: &str = r#"[connectors.corp-ad]
kind = "ldap"
url = "ldaps://dc1.contoso.test"
bind_dn = "CN=svc,DC=contoso,DC=test"
password_env = "LEASEGATE_SECRET_AD"
user_base = "DC=contoso,DC=test"
group_base = "OU=Groups,DC=contoso,DC=test"

[policies.manager]
name = "Manager approval"
durations = { default_minutes = 120, max_minutes = 480 }
stages = [{ approvers = "manager" }]

[[entitlements]]
key = "sql-admins"
connector = "corp-ad"
group = "CN=SQL Admins,OU=Groups,DC=contoso,DC=test"
name = "SQL Server administrators"
owners = ["a@contoso.test"]
policy = "manager"
"#;

#[test]
fn a_catalog_is_checked_offline_with_its_problems_by_line() {
    let dir = std::env::temp_dir().join(format!("leasegate-catalog-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, text: &str, args: &[&str]| {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let path = file.to_string_lossy().into_owned();
        let mut all = vec!["catalog", "check", path.as_str()];
        all.extend_from_slice(args);
        // No settings, no database: a pipeline has neither.
        let (code, printed) = portal_with(&all, Vec::new());
        (code, printed, path)
    };

    let (code, printed, path) = check("good.toml", CATALOG, &[]);
    assert_eq!(code, 0, "{printed}");
    assert_eq!(
        printed.trim(),
        format!("{path}: no problems (1 connectors, 1 policies, 1 entries, 0 bundles)")
    );

    // A lab switch outside a lab (named at its connector, line 1) and an unknown policy (named
    // at its entry's key, line 16 once the switch's line is in): both named, by line.
    let broken = CATALOG
        .replace("policy = \"manager\"", "policy = \"managr\"")
        .replace(
            "group_base = \"OU=Groups,DC=contoso,DC=test\"",
            "group_base = \"OU=Groups,DC=contoso,DC=test\"\ntls_skip_verify = true",
        );
    let (code, printed, path) = check("broken.toml", &broken, &[]);
    assert_eq!(code, 1, "{printed}");
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{path}:1:")) && l.contains("tls_skip_verify")),
        "{printed}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{path}:16:")) && l.contains("managr")),
        "{printed}"
    );
    assert_eq!(
        lines.last(),
        Some(&format!("{path}: 2 problem(s)").as_str())
    );
    // The lab switch passes where the portal runs in a lab.
    let (code, printed, _) = check("broken.toml", &broken, &["--lab-mode"]);
    assert_eq!(code, 1, "{printed}");
    assert!(!printed.contains("tls_skip_verify"), "{printed}");

    // Not TOML: the parser's line and column.
    let (code, printed, _) = check(
        "syntax.toml",
        &CATALOG.replace("[[entitlements]]", "[[entitlements]"),
        &[],
    );
    assert_eq!(code, 1, "{printed}");
    assert!(printed.contains("at line 14, column 15"), "{printed}");

    // A file that is not there is a usage error, not a verdict.
    let (code, printed) = portal_with(
        &["catalog", "check", "/nonexistent/catalog.toml"],
        Vec::new(),
    );
    assert_eq!(code, 2, "{printed}");
    assert!(
        printed.contains("cannot read /nonexistent/catalog.toml"),
        "{printed}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Starts the serving binary and answers once it serves (true) or has exited (false), with
/// what it printed; a serving process is killed.
fn serves(env: Vec<(String, String)>) -> (bool, String) {
    use std::io::{BufRead as _, BufReader};
    let child = Command::new(env!("CARGO_BIN_EXE_leasegate"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .env("LEASEGATE_LISTEN", "127.0.0.1:0")
        .env("LEASEGATE_ENGINE", "false")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running the portal binary");
    // A portal that neither serves nor exits is stopped after a minute, and the test fails.
    let child = std::sync::Arc::new(std::sync::Mutex::new(child));
    let stdout = child.lock().unwrap().stdout.take().unwrap();
    let watchdog = child.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(60));
        let _ = watchdog.lock().unwrap().kill();
    });
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("Leasegate is serving") {
            let mut child = child.lock().unwrap();
            let _ = child.kill();
            let _ = child.wait();
            return (true, printed);
        }
    }
    let mut child = child.lock().unwrap();
    let _ = child.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (false, printed + &stderr)
}

/// A deployment's replicas hold only the portal's role: the schema's owner migrates in a job
/// of its own (`leasegate migrate` with the owner's credential). Replicas then use the schema
/// as it is, without claiming to own it, and refuse one their release is ahead of.
#[sqlx::test(migrations = false)]
async fn replicas_without_the_owner_use_the_schema_the_migration_job_made(pool: PgPool) {
    let role = format!("lg_replica_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create role {role} login password 'replica'"))
        .execute(&pool)
        .await
        .unwrap();
    let owner = database_url(&pool);
    let options = pool.connect_options();
    let replica = format!(
        "postgres://{role}:replica@{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    );

    // A replica before the migration job: the new database is not its to create.
    let env = with_oidc(&[("DATABASE_URL", &replica)]);
    let (served, printed) = tokio::task::spawn_blocking(move || serves(env))
        .await
        .unwrap();
    assert!(!served, "{printed}");
    assert!(
        printed.contains("lacks migrations 20261127000001, "),
        "{printed}"
    );
    let tables: i64 =
        sqlx::query_scalar("select count(*) from pg_tables where schemaname = current_schema()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tables, 0, "the replica created tables");

    // The migration job.
    let env = with_oidc(&[
        ("DATABASE_URL", &replica),
        ("LEASEGATE_MIGRATE_DATABASE_URL", &owner),
    ]);
    let (code, printed) = tokio::task::spawn_blocking(move || portal_with(&["migrate"], env))
        .await
        .unwrap();
    assert_eq!(code, 0, "{printed}");

    // A replica: serves, and does not warn that it owns the tables (it does not).
    let env = with_oidc(&[("DATABASE_URL", &replica)]);
    let (served, printed) = tokio::task::spawn_blocking(move || serves(env))
        .await
        .unwrap();
    assert!(served, "{printed}");
    assert!(!printed.contains("the portal owns its tables"), "{printed}");

    // A release ahead of the schema (its newest migration not applied) is refused, by name.
    let newest: i64 = sqlx::query_scalar(
        "delete from _sqlx_migrations
          where version = (select max(version) from _sqlx_migrations) returning version",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let env = with_oidc(&[("DATABASE_URL", &replica)]);
    let (served, printed) = tokio::task::spawn_blocking(move || serves(env))
        .await
        .unwrap();
    assert!(!served, "{printed}");
    assert!(
        printed.contains(&format!("lacks migrations {newest} of this release"))
            && printed.contains("run `leasegate migrate` with LEASEGATE_MIGRATE_DATABASE_URL"),
        "{printed}"
    );
    sqlx::query(&format!("drop owned by {role}"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(&format!("drop role {role}"))
        .execute(&pool)
        .await
        .unwrap();
}

/// Managed PostgreSQL (Azure's) requires TLS: the portal's connection is encrypted when the
/// address asks for it, and plain when it says so.
#[sqlx::test]
async fn the_database_connection_is_encrypted_when_asked(pool: PgPool) {
    let connect = |mode: &'static str| {
        let settings = leasegate::server::app::config::DatabaseSettings {
            url: leasegate::server::app::config::Secret::new(format!(
                "{}?sslmode={mode}",
                database_url(&pool)
            )),
            migrate_url: None,
            max_connections: 1,
            startup_timeout: std::time::Duration::from_secs(2),
        };
        async move { leasegate::server::db::connect(&settings).await }
    };
    let encrypted = |pool: PgPool| async move {
        sqlx::query_scalar::<_, bool>("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert!(!encrypted(connect("disable").await.unwrap()).await);
    let server_has_tls: String = sqlx::query_scalar("show ssl")
        .fetch_one(&pool)
        .await
        .unwrap();
    if server_has_tls == "on" {
        assert!(encrypted(connect("require").await.unwrap()).await);
    } else {
        // A server without TLS (the private cluster of a machine without PostgreSQL): asking
        // for it must fail rather than fall back to a plain connection.
        assert!(connect("require").await.is_err());
    }
}
