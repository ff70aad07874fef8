use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use leasegate::server::connectors::Connectors;
use leasegate::server::db::audit::Actor;
use leasegate::server::engine::Engine;
use leasegate::server::{catalog, config, db, router, telemetry};

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
    let settings = Arc::new(config::load()?);
    telemetry::init(&settings);

    let leptos = leptos::config::get_configuration(None)
        .context("reading the Leptos site settings (LEPTOS_* variables)")?
        .leptos_options;

    let pool = db::connect(&settings.database).await.with_context(|| {
        format!(
            "cannot connect to the database at DATABASE_URL (gave up after {:?})",
            settings.database.startup_timeout
        )
    })?;
    db::migrate(&pool)
        .await
        .context("applying database migrations failed; the failing migration was rolled back")?;
    router::spawn_session_cleanup(&pool);
    let connectors = load_catalog(&settings, &pool).await?;

    let (stop_engine, engine_stopping) = tokio::sync::watch::channel(false);
    let engine = settings.engine.enabled.then(|| {
        let engine = Engine::new(pool.clone(), connectors.clone(), settings.engine.clone());
        tokio::spawn(engine.run(engine_stopping))
    });
    if engine.is_none() {
        tracing::warn!("the engine is off in this process (LEASEGATE_ENGINE=false)");
    }

    let state = router::app_state(settings.clone(), pool, leptos, connectors);
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
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stop_engine.send(true);
        })
        .await
        .context("serving HTTP")?;
    if let Some(engine) = engine {
        // The engine finishes the work it has claimed before it returns.
        let _ = engine.await;
    }
    tracing::info!("stopped");
    Ok(())
}

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
    let parsed = catalog::parse(&text, &origin)?;
    let connectors = catalog::connectors(&parsed)?;
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
