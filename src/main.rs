use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use leasegate::server::app::supervisor::{self, EngineTask, Exit};
use leasegate::server::app::{config, router, telemetry};
use leasegate::server::connectors::Connectors;
use leasegate::server::db::audit::Actor;
use leasegate::server::jobs::grants::Engine;
use leasegate::server::jobs::{self, checkpoints};
use leasegate::server::{catalog, db};

/// Leasegate: just-in-time access for hybrid Microsoft estates. Settings come from the
/// environment (`LEASEGATE_*`, `DATABASE_URL`; docs/configuration.md).
#[derive(clap::Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, PartialEq, Eq, clap::Subcommand)]
enum Command {
    /// Serve the portal and run its background jobs (the default).
    Serve,
    /// Apply the database migrations (as LEASEGATE_MIGRATE_DATABASE_URL's role, when set) and
    /// exit.
    Migrate,
    /// The audit trail's evidence, offline: no settings, no database.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// The catalog file, offline: no settings, no database.
    Catalog {
        #[command(subcommand)]
        action: CatalogCommand,
    },
}

#[derive(Clone, PartialEq, Eq, clap::Subcommand)]
enum CatalogCommand {
    /// Checks a catalog file as the portal checks it at start, naming every problem with its
    /// line; exits 1 when there is any (for a pull request's pipeline). Nothing is connected
    /// to and no secret is read.
    Check {
        /// The catalog file (TOML).
        file: std::path::PathBuf,
        /// The secrets directory the portal will run with (LEASEGATE_SECRETS_DIR), where
        /// connectors' `password_file`s must lie.
        #[arg(long)]
        secrets_dir: Option<std::path::PathBuf>,
        /// Allow lab-only switches, as a portal with LEASEGATE_LAB_MODE=true does.
        #[arg(long)]
        lab_mode: bool,
    },
}

#[derive(Clone, PartialEq, Eq, clap::Subcommand)]
enum AuditCommand {
    /// Check an evidence file (the governance page's JSON export): every event's hash and
    /// hashed fields, the links between neighbouring events, and the signed checkpoint.
    /// Exits non-zero, naming every problem, when anything does not check.
    Verify {
        /// The exported JSON file.
        file: std::path::PathBuf,
        /// The portal's public key as you keep it (base64 of its 32 bytes, as the file and the
        /// portal's log print it). Without it the file's own copy is used, which a forger could
        /// have replaced.
        #[arg(long)]
        key: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // `--help`, `--version` and a wrong subcommand are answered (exit 0 or 2) before anything.
    let cli = <Cli as clap::Parser>::parse();
    if let Some(Command::Audit {
        action: AuditCommand::Verify { file, key },
    }) = &cli.command
    {
        return verify_evidence(file, key.as_deref());
    }
    if let Some(Command::Catalog {
        action:
            CatalogCommand::Check {
                file,
                secrets_dir,
                lab_mode,
            },
    }) = &cli.command
    {
        let trust = catalog::Trust {
            secrets_dir: secrets_dir.clone(),
            lab_mode: *lab_mode,
        };
        return check_catalog(file, &trust);
    }
    match run(cli.command.unwrap_or(Command::Serve)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("leasegate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `leasegate audit verify FILE [--key KEY]`: what the file proves, or every problem found.
fn verify_evidence(file: &std::path::Path, key: Option<&str>) -> ExitCode {
    use leasegate::server::services::evidence_file;
    let key = match key.map(evidence_file::parse_key).transpose() {
        Ok(key) => key,
        Err(problem) => {
            eprintln!("leasegate: --key: {problem}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("leasegate: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match evidence_file::verify(&text, key.as_deref()) {
        Ok(proved) => {
            print!("{proved}");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{}: the evidence does not check:", file.display());
            for problem in problems {
                eprintln!("  {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `leasegate catalog check FILE`: every problem of the file with its line, or what it holds.
fn check_catalog(file: &std::path::Path, trust: &catalog::Trust) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("leasegate: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let origin = file.display().to_string();
    match catalog::parse(&text, &origin, trust) {
        Ok(parsed) => {
            println!(
                "{origin}: no problems ({} connectors, {} policies, {} entries, {} bundles)",
                parsed.connectors.len(),
                parsed.policies.len(),
                parsed.entitlements.len(),
                parsed.bundles.len()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            for problem in &error.problems {
                eprintln!("{problem}");
            }
            eprintln!("{origin}: {} problem(s)", error.problems.len());
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let settings = Arc::new(config::load()?);
    let _traces = telemetry::init(&settings);
    // Before anything else: a key in the wrong place is a configuration error.
    let audit_key = checkpoints::SigningKey::load(settings.secrets_dir.as_deref())
        .map_err(|e| anyhow::anyhow!("the audit signing key: {e}"))?
        .map(Arc::new);

    let leptos = leptos::config::get_configuration(None)
        .context("reading the Leptos site settings (LEPTOS_* variables)")?
        .leptos_options;

    let pool = db::connect(&settings.database).await.with_context(|| {
        format!(
            "cannot connect to the database at DATABASE_URL (gave up after {:?})",
            settings.database.startup_timeout
        )
    })?;
    // `leasegate migrate` migrates whoever owns what; serving is careful (db::prepare_schema).
    let owner = if command == Command::Migrate && settings.database.migrate_url.is_none() {
        db::migrate(&pool).await.map_err(db::SchemaError::from)?;
        db::SchemaOwner::Portal
    } else {
        db::prepare_schema(&settings.database, &pool).await?
    };
    if command == Command::Migrate {
        tracing::info!("migrations applied");
        return Ok(());
    }
    if owner == db::SchemaOwner::Portal {
        tracing::warn!(
            "the portal owns its tables (no LEASEGATE_MIGRATE_DATABASE_URL): it could disable the \
             audit trail's triggers; run it as a separate role in production"
        );
    }
    if audit_key.is_none() {
        tracing::warn!(
            "no audit signing key ({} or {}): the audit chain is not anchored outside the database",
            checkpoints::KEY_ENV,
            checkpoints::KEY_FILE_ENV
        );
    }
    let metrics = leasegate::server::app::metrics::Metrics::new();
    let connectors = load_catalog(&settings, &pool).await?.measured(&metrics);

    let clock = leasegate::server::app::clock::Clock::default();
    let notifier = leasegate::server::notify::Notifier::with_teams(
        pool.clone(),
        settings.public_url.clone(),
        &settings.mail,
        &settings.teams,
    )
    .map_err(|e| anyhow::anyhow!("mail settings: {e}"))?
    .map(|n| n.with_clock(clock.clone()));
    match &settings.mail.smtp {
        Some(smtp) => {
            tracing::info!(host = %smtp.host, port = smtp.port, tls = ?smtp.tls, "mail goes out through SMTP")
        }
        None => tracing::warn!(
            "no mail server (LEASEGATE_SMTP_HOST): nobody is told of requests by mail"
        ),
    }
    let engine = if settings.engine.enabled {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let jobs = jobs::Context {
            pool: pool.clone(),
            connectors: connectors.clone(),
            engine: Engine::new(pool.clone(), connectors.clone(), settings.engine.clone())
                .with_metrics(metrics.clone()),
            notifier,
            checkpoint_key: audit_key.clone(),
            clock: clock.clone(),
        };
        Some(EngineTask {
            handle: tokio::spawn(jobs::run_all(jobs, stopping)),
            stop,
        })
    } else {
        tracing::warn!(
            "the engine and every background job are off in this process (LEASEGATE_ENGINE=false)"
        );
        None
    };

    let mut state = router::app_state(settings.clone(), pool, leptos, connectors);
    state.audit_key = audit_key;
    state.clock = clock;
    state.metrics = metrics;
    let status = state.engine.clone();
    let app = router::build(state);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let listening = listener.local_addr().unwrap_or(settings.listen);
    tracing::info!(
        listen = %listening,
        public_url = %settings.public_url,
        issuer = %settings.oidc.issuer,
        "Leasegate is serving"
    );
    let exit = supervisor::serve(
        listener,
        app,
        engine,
        status,
        ENGINE_FAILURE_GRACE,
        shutdown_signal(),
    )
    .await
    .context("serving HTTP")?;
    match exit {
        Exit::Requested => {
            tracing::info!("stopped");
            Ok(())
        }
        Exit::EngineStopped => {
            anyhow::bail!(
                "the engine stopped unexpectedly; exiting so that a supervisor restarts the portal"
            )
        }
    }
}

/// How long a process whose engine died keeps answering (with readiness failing) before it
/// exits, so that load balancers move people elsewhere first.
const ENGINE_FAILURE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Loads the catalog file, if one is configured, and builds its connectors. A catalog with
/// problems stops start-up with every problem listed.
async fn load_catalog(
    settings: &config::Settings,
    pool: &sqlx::PgPool,
) -> anyhow::Result<Connectors> {
    let Some(path) = &settings.catalog_file else {
        tracing::warn!("no catalog file (LEASEGATE_CATALOG): nothing can be requested");
        return Ok(Connectors::default());
    };
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the catalog file {origin}"))?;
    let trust = catalog::Trust::from_settings(settings);
    if trust.lab_mode {
        tracing::warn!(
            "LEASEGATE_LAB_MODE is on: lab-only switches are allowed; never in production"
        );
    }
    let parsed = catalog::parse(&text, &origin, &trust)?;
    let connectors = catalog::connectors(&parsed, &trust)?;
    let loaded = catalog::store(pool, &parsed, &origin, &text, &Actor::system("catalog"))
        .await
        .context("storing the catalog")?;
    tracing::info!(
        file = %origin,
        connectors = loaded.connectors,
        policies = loaded.policies,
        entitlements = loaded.entitlements,
        disabled = loaded.disabled,
        "catalog loaded"
    );
    Ok(connectors)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
