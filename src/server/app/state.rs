use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

use crate::server::app::auth::oidc::OidcProvider;
use crate::server::app::config::Settings;
use crate::server::app::supervisor::EngineStatus;
use crate::server::connectors::Connectors;

/// What every request handler and server function can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub oidc: Arc<OidcProvider>,
    pub leptos: LeptosOptions,
    pub connectors: Connectors,
    /// Whether this process's engine runs; `/readyz` fails once it has stopped.
    pub engine: EngineStatus,
    /// The key audit checkpoints are signed with, when one is configured.
    pub audit_key: Option<Arc<crate::server::jobs::checkpoints::SigningKey>>,
    /// The clock reminders and escalation follow; a lab may move it forward.
    pub clock: crate::server::app::clock::Clock,
    /// What `/metrics` reports; the engine and the connectors record into the same.
    pub metrics: crate::server::app::metrics::Metrics,
    /// Sign-in attempts per client address.
    pub sign_in_limit: Arc<crate::server::app::http::sign_in_limit::SignInLimit>,
    /// REST API calls per caller.
    pub api_limit: Arc<crate::server::rest::limit::ApiLimit>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The state, from inside a server function or a page being rendered.
pub fn app_state() -> Result<AppState, crate::error::AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| crate::error::AppError::Internal {
        reference: crate::error::reference_for("the application state is missing from the context"),
    })
}
