//! The REST API under `/api/v1` (docs/api.md): the pages' services for programs, with Entra ID
//! access tokens instead of a session, errors as problem details, lists by cursor, calls
//! limited per caller, and an OpenAPI 3.1 document generated from the handlers below.
//!
//! Each handler is thin, like a server function: the caller's kind (`caller`), the input read,
//! then the same service the pages call, which applies the same rules.

pub mod caller;
pub mod limit;
pub mod problem;

mod audit;
mod catalog;
mod cursor;
mod governance;
mod leases;
mod requests;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::app::state::AppState;

pub use problem::{ApiError, ProblemDetails};

/// Where the API lives.
pub const BASE: &str = "/api/v1";

/// The API's routes, to be nested at [`BASE`], outside the session, CSRF and page layers.
pub fn router(state: &AppState) -> Router<AppState> {
    let guarded = Router::new()
        .route("/catalog", get(catalog::list))
        .route("/catalog/{key}", get(catalog::get))
        .route("/requests", get(requests::list).post(requests::create))
        .route("/requests/{id}", get(requests::get))
        .route("/requests/{id}/cancel", post(requests::cancel))
        .route("/approvals", get(requests::inbox))
        .route("/approvals/{id}/decision", post(requests::decide))
        .route("/leases", get(leases::list))
        .route("/leases/{id}/give-back", post(leases::give_back))
        .route("/leases/{id}/extend", post(leases::extend))
        .route("/audit/events", get(audit::events))
        .route("/audit/verify", get(audit::verify))
        .route("/evidence", post(audit::evidence))
        .route("/findings", get(governance::findings))
        .route("/break-glass", get(governance::emergency_uses))
        .route("/break-glass/reviews", get(governance::to_review))
        .route("/break-glass/{id}/review", post(governance::review))
        .route_layer(from_fn_with_state(state.clone(), caller::authenticate));
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .merge(guarded)
        .fallback(|| async { ApiError::from(AppError::NotFound).into_response() })
        .layer(axum::middleware::from_fn(problem::as_problem))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Leasegate",
        description = "Just-in-time access: the catalog, requests, approvals, leases and the \
                       audit trail. Authenticate with an Entra ID access token for the portal's \
                       API: a person's (delegated, scope `access`) or an application's \
                       (app roles `Leasegate.Automation`, `Leasegate.Auditor`). Errors are RFC \
                       9457 problem details; lists page by cursor; calls are limited per caller \
                       (429 with Retry-After).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    servers((url = "/api/v1")),
    paths(
        openapi_json,
        catalog::list,
        catalog::get,
        requests::create,
        requests::list,
        requests::get,
        requests::cancel,
        requests::inbox,
        requests::decide,
        leases::list,
        leases::give_back,
        leases::extend,
        audit::events,
        audit::verify,
        audit::evidence,
        governance::findings,
        governance::emergency_uses,
        governance::to_review,
        governance::review,
    ),
    components(schemas(
        crate::domain::request::RequestState,
        crate::domain::grant::GrantState,
        crate::domain::access::EntitlementKind,
        crate::domain::approval::Outcome,
        crate::domain::reconcile::FindingKind,
        crate::domain::reconcile::Closure,
        crate::domain::reconcile::FindingAction,
    )),
    modifiers(&BearerScheme),
    security(("entra" = [])),
    tags(
        (name = "catalog", description = "What can be requested"),
        (name = "requests", description = "Asking for access, and deciding"),
        (name = "leases", description = "Access held now"),
        (name = "audit", description = "The audit trail and evidence"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "entra",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An Entra ID access token whose audience is the portal's API",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, public: it describes, it grants nothing.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi_document", tag = "catalog", security(()),
    responses((status = 200, description = "This API's OpenAPI 3.1 document")))]
async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// A field read by its type's `parse`, its problem named with the field.
fn field<T>(name: &str, parsed: Result<T, Problem>) -> Result<T, AppError> {
    parsed.map_err(|problem| AppError::invalid(name, problem))
}

/// An id from the path.
fn id(name: &str, text: &str) -> Result<uuid::Uuid, AppError> {
    field(name, crate::domain::input::identifier(text))
}

/// Text from a body or query: one line (or, `multiline`, several), no control characters.
fn text(name: &str, text: &str, multiline: bool) -> Result<String, AppError> {
    field(
        name,
        crate::domain::input::clean(text, multiline).map(str::to_string),
    )
}
