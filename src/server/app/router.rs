//! Assembles the HTTP service: plain routes, Leptos pages and server functions, and the layers
//! every request passes through.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::request::Parts;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use leptos::config::LeptosOptions;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use sqlx::PgPool;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::app::{App, shell};
use crate::server::app::auth::oidc::OidcProvider;
use crate::server::app::auth::session;
use crate::server::app::config::Settings;
use crate::server::app::http::security::CspNonce;
use crate::server::app::http::{
    correlation, evidence, health, lab, language, metrics, security, server_fn_status,
};
use crate::server::app::state::AppState;
use crate::server::connectors::Connectors;

pub const SESSION_COOKIE: &str = "leasegate_session";

pub fn app_state(
    settings: Arc<Settings>,
    pool: PgPool,
    leptos: LeptosOptions,
    connectors: Connectors,
) -> AppState {
    AppState {
        oidc: Arc::new(OidcProvider::new(settings.clone())),
        sign_in_limit: Arc::new(crate::server::app::http::sign_in_limit::SignInLimit::new(
            settings.session.sign_in_per_minute,
            settings.session.trusted_proxies.clone(),
        )),
        api_limit: Arc::new(crate::server::rest::limit::ApiLimit::new(
            settings.api.per_minute,
        )),
        settings,
        pool,
        leptos,
        connectors,
        engine: Default::default(),
        audit_key: None,
        clock: Default::default(),
        metrics: Default::default(),
    }
}

/// Where sign-in sessions are kept (the `session-cleanup` job deletes the expired ones).
pub fn session_store(pool: &PgPool) -> PostgresStore {
    PostgresStore::new(pool.clone())
        .with_schema_name("public")
        .and_then(|s| s.with_table_name("web_sessions"))
        .expect("static, valid identifiers")
}

/// The pages' routes, read from the app once per process.
///
/// Leptos reads them by running the app with data loading switched off through a flag that is
/// process-wide (`leptos_server::SuppressResourceLoad`), and a page's data load that first runs
/// while the flag is up waits forever (leptos-rs/leptos#4773). Reading them for every router
/// built would stall pages that another router of the same process is rendering at that moment:
/// the HTTP tests start a portal per test in one process, and one page in a few hundred runs
/// went unanswered.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The whole HTTP service.
pub fn build(state: AppState) -> Router {
    build_with(state, Router::new())
}

/// The whole HTTP service with `extra` routes behind the same layers (tests add routes that
/// misbehave on purpose this way; the binary adds none).
pub fn build_with(state: AppState, extra: Router<AppState>) -> Router {
    let settings = state.settings.clone();
    let idle = CookieDuration::seconds(settings.session.idle_timeout.as_secs() as i64);
    let sessions = SessionManagerLayer::new(session_store(&state.pool))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookies())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle));

    let page_context = {
        let state = state.clone();
        move || {
            provide_context(state.clone());
            // The nonce that the security-headers layer also puts into the CSP header.
            if let Some(parts) = use_context::<Parts>()
                && let Some(nonce) = parts.extensions.get::<CspNonce>()
            {
                provide_context(leptos::nonce::Nonce::from_value(nonce.0.clone()));
            }
        }
    };
    let routes = page_routes();
    let lab = if settings.lab_mode {
        Router::new().route("/lab/clock", post(lab::move_clock))
    } else {
        Router::new()
    };

    let pages = Router::new()
        .merge(lab)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/language", axum::routing::post(language::switch))
        .route("/governance/evidence", post(evidence::export))
        .route(
            "/governance/reviews/{id}/report",
            post(evidence::review_report),
        )
        .merge(crate::server::app::auth::routes::router(state.clone()))
        .merge(extra)
        .leptos_routes_with_context(&state, routes, page_context.clone(), {
            let options = state.leptos.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(page_context, shell))
        // Layers run outside-in from the bottom: the same-origin guard, the session and
        // finally who is signed in.
        .layer(from_fn(server_fn_status::set_status))
        .layer(from_fn(language::resolve))
        .layer(from_fn_with_state(state.clone(), session::resolve))
        .layer(sessions)
        .layer(from_fn_with_state(
            state.clone(),
            security::same_origin_guard,
        ));

    // The REST API takes bearer tokens, never the session cookie: it sits beside the pages,
    // outside their session and same-origin layers, and inside the rest.
    Router::new()
        .nest(
            crate::server::rest::BASE,
            crate::server::rest::router(&state),
        )
        .merge(pages)
        // Outside-in from the bottom: the answer's time, the correlation id, panics caught,
        // the security headers and the body limit.
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(from_fn_with_state(state.clone(), security::headers))
        // A panic that slipped past the checks answers 500 with a reference, and the process
        // keeps serving everyone else.
        .layer(CatchPanicLayer::custom(correlation::panic_response))
        .layer(from_fn(correlation::assign))
        // Outermost: the time of the whole answer, by the route's template.
        .layer(from_fn_with_state(state.clone(), metrics::measure))
        .with_state(state)
}
