//! The real binary refuses to start on bad configuration, an unreachable database or a failing
//! migration, with a clear message and a non-zero exit.

use std::process::Command;

use sqlx::PgPool;

fn portal(env: &[(&str, &str)]) -> (i32, String) {
    let owned: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    portal_owned(owned)
}

fn portal_owned(env: Vec<(String, String)>) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_leasegate"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("running the portal binary");
    (
        output.status.code().unwrap_or(-1),
        // Log lines go to standard output, the final error to standard error: read both.
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

const OIDC: [(&str, &str); 3] = [
    ("LEASEGATE_OIDC_ISSUER", "http://127.0.0.1:9"),
    ("LEASEGATE_OIDC_CLIENT_ID", "c"),
    ("LEASEGATE_OIDC_CLIENT_SECRET", "never-printed-secret"),
];

#[test]
fn bad_configuration_is_explained() {
    let (code, stderr) = portal(&[
        ("DATABASE_URL", "postgres://127.0.0.1:9/x"),
        ("LEASEGATE_OIDC_ISSUER", "not a url"),
        ("LEASEGATE_OIDC_CLIENT_SECRET", "never-printed-secret"),
    ]);
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
    let mut env = OIDC.to_vec();
    env.push(("DATABASE_URL", "postgres://leasegate@127.0.0.1:9/leasegate"));
    env.push(("LEASEGATE_DATABASE_STARTUP_TIMEOUT", "2s"));
    let (code, stderr) = portal(&env);
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
    let mut env: Vec<(String, String)> = OIDC
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.push(("DATABASE_URL".into(), url));
    let (code, stderr) = tokio::task::spawn_blocking(move || portal_owned(env))
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("applying database migrations failed"),
        "{stderr}"
    );
}
