use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use leasegate::server::{config, db, router, telemetry};

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

    let state = router::app_state(settings.clone(), pool, leptos);
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
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
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
