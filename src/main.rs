use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use leasegate::server::connectors::Connectors;
use leasegate::server::db::audit::Actor;
use leasegate::server::engine::Engine;
use leasegate::server::supervisor::{self, EngineTask, Exit};
use leasegate::server::{catalog, checkpoints, config, db, jobs, router, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("leasegate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("simulate-microsoft") {
        return simulate_microsoft().await;
    }
    let settings = Arc::new(config::load()?);
    telemetry::init(&settings);
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
    let owner = db::prepare_schema(&settings.database, &pool)
        .await
        .context("applying database migrations failed; the failing migration was rolled back")?;
    if std::env::args().nth(1).as_deref() == Some("migrate") {
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
    let connectors = load_catalog(&settings, &pool).await?;

    let clock = leasegate::server::clock::Clock::default();
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
            engine: Engine::new(pool.clone(), connectors.clone(), settings.engine.clone()),
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
    let status = state.engine.clone();
    let app = router::build(state);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    tracing::info!(
        listen = %settings.listen,
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

/// `leasegate simulate-microsoft`: the Microsoft Graph simulator (written from Microsoft's
/// documentation; not Microsoft's service) as its own process, for the demo and for trying a
/// Graph connector without a tenant. Settings from the environment:
/// `LEASEGATE_SIM_LISTEN` (default 127.0.0.1:8950), `LEASEGATE_SIM_TENANT_ID`,
/// `LEASEGATE_SIM_CLIENT_ID` and `LEASEGATE_SIM_CLIENT_SECRET` (the one application it knows,
/// with the permissions the Graph connector needs), `LEASEGATE_SIM_CONTROL_TOKEN` (what its
/// control plane takes; made at random and printed when unset). Seed it through
/// `POST /__sim__/seed` with the header `x-sim-control-token`.
async fn simulate_microsoft() -> anyhow::Result<()> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let listen = var("LEASEGATE_SIM_LISTEN", "127.0.0.1:8950");
    let tenant = var(
        "LEASEGATE_SIM_TENANT_ID",
        "5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11",
    );
    let client = var(
        "LEASEGATE_SIM_CLIENT_ID",
        "0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b",
    );
    let secret = std::env::var("LEASEGATE_SIM_CLIENT_SECRET")
        .context("LEASEGATE_SIM_CLIENT_SECRET: the simulated application's client secret")?;
    let sim = leasegate::simulator::Simulator::new(&tenant);
    if let Ok(token) = std::env::var("LEASEGATE_SIM_CONTROL_TOKEN") {
        sim.set_control_token(&token)
            .map_err(|e| anyhow::anyhow!("LEASEGATE_SIM_CONTROL_TOKEN: {e}"))?;
    }
    sim.register_app(
        &client,
        &secret,
        &[
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "User.Read.All",
            "Directory.Read.All",
            "TeamMember.ReadWrite.All",
            "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
            "RoleAssignmentSchedule.ReadWrite.Directory",
            "Sites.ReadWrite.All",
            // Guests for contractors: invited, disabled and deleted.
            "User.Invite.All",
            "User.ReadWrite.All",
            // Azure RBAC for Defender for Cloud's JIT VM access (ARM).
            "Microsoft.Security/locations/jitNetworkAccessPolicies/read",
            "Microsoft.Security/locations/jitNetworkAccessPolicies/initiate/action",
        ],
    );
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!(
        "leasegate: Microsoft Graph simulator (not Microsoft's service) for tenant {tenant} on \
         http://{listen}; its page: http://{listen}/__sim__/?token={}",
        sim.control_token()
    );
    leasegate::simulator::serve(listener, sim).await?;
    Ok(())
}
