//! The real binary refuses to start on bad configuration, an unreachable database or a failing
//! migration, with a clear message and a non-zero exit.

use std::process::Command;

use sqlx::PgPool;

/// Runs the portal binary with only `PATH` and `env`; returns its exit code and everything it
/// printed (log lines go to standard output, the final error to standard error).
fn portal(env: Vec<(String, String)>) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_leasegate"))
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
    let options = pool.connect_options();
    let url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap()
    );
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
