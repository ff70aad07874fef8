//! `POST /governance/evidence` (a form: `format=csv|json&who=…`): the governance search's
//! matches as a file to download (see [`crate::server::services::evidence`]). A POST because an
//! export is audited and a GET never writes; the governance page's form posts it, so the
//! browser saves the file. Auditors and administrators only, like the governance page.

use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::types::governance::EventQuery;
use crate::domain::problem::Problem;
use crate::error::AppError;
use crate::server::app::auth::session::SessionUser;
use crate::server::app::http::{caller_allowed, refusal};
use crate::server::app::state::AppState;
use crate::server::services::evidence::{self, Format};
use crate::text::lang::Language;

#[derive(Deserialize)]
pub struct Params {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    query: EventQuery,
}

pub async fn export(
    State(state): State<AppState>,
    user: Option<Extension<SessionUser>>,
    Extension(language): Extension<Language>,
    Form(params): Form<Params>,
) -> Response {
    // Who may export is the service's to say (`services::may_read_trail`).
    let user = match caller_allowed(user, |_| true) {
        Ok(user) => user,
        Err(refused) => return refusal(language, refused),
    };
    let Some(format) = Format::parse(params.format.trim()) else {
        return refusal(language, AppError::invalid("format", Problem::ChooseFormat));
    };
    match evidence::export(&state, &user, language, &params.query, format).await {
        Ok(file) => download(file),
        Err(error) => refusal(language, error),
    }
}

/// An export as a download, streamed: its type, its file name, never cached. The governance
/// page's form and the REST API answer it the same way.
pub fn download(file: evidence::Export) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.file_name);
    let mut response = axum::body::Body::from_stream(file.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /governance/reviews/{id}/report`: an access review campaign's report as CSV, one row
/// per account with its answer (see [`crate::server::services::access_reviews::report_csv`]).
/// The governance roles and the campaign's creator; audited, hence a POST.
pub async fn review_report(
    State(state): State<AppState>,
    user: Option<Extension<SessionUser>>,
    Extension(language): Extension<Language>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(user)) = user else {
        return refusal(language, AppError::Unauthorized);
    };
    let id = match crate::domain::input::identifier(&id) {
        Ok(id) => id,
        Err(problem) => return refusal(language, AppError::invalid("campaign", problem)),
    };
    match crate::server::services::access_reviews::report_csv(&state, &user, id).await {
        Ok((file_name, body)) => {
            let disposition = format!("attachment; filename=\"{file_name}\"");
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => refusal(language, error),
    }
}
