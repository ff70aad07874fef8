//! `POST /governance/evidence` (a form: `format=csv|json&who=…`): the governance search's
//! matches as a file to download (see [`crate::server::services::evidence`]). A POST because an
//! export is audited and a GET never writes; the governance page's form posts it, so the
//! browser saves the file. Auditors and administrators only, like the governance page.

use axum::Extension;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::types::governance::EventQuery;
use crate::domain::problem::Problem;
use crate::domain::role::can_view_governance;
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
    let user = match caller_allowed(user, can_view_governance) {
        Ok(user) => user,
        Err(refused) => return refusal(language, refused),
    };
    let Some(format) = Format::parse(params.format.trim()) else {
        return refusal(language, AppError::invalid("format", Problem::ChooseFormat));
    };
    match evidence::export(&state, &user, language, &params.query, format).await {
        Ok(file) => {
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
        Err(error) => refusal(language, error),
    }
}
