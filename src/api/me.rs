use leptos::prelude::*;

use crate::error::AppError;

pub use crate::api::types::me::*;

/// Who is signed in. Fails with `Unauthorized` when nobody is.
#[server(endpoint = "me")]
pub async fn get_me() -> Result<Me, AppError> {
    let user = crate::server::app::auth::caller::caller()?;
    Ok(Me {
        display_name: user.display_name,
        upn: user.upn.into(),
        roles: user.roles,
    })
}

/// Chooses the language the caller's pages and mail are written in: `en` or `de`. The pages
/// follow from the next one loaded (the settings page reloads itself).
#[server(endpoint = "me/language")]
pub async fn set_language(language: String) -> Result<(), AppError> {
    let user = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let language = crate::domain::mail::Language::parse(language.trim()).ok_or_else(|| {
        AppError::invalid("language", crate::domain::problem::Problem::ChooseLanguage)
    })?;
    let session = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<tower_sessions::Session>().cloned())
        .ok_or(AppError::Unauthorized)?;
    crate::server::app::http::language::remember(&state, &session, &user, language).await?;
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(
            http::header::SET_COOKIE,
            crate::server::app::http::language::set_cookie(
                language,
                state.settings.secure_cookies(),
            ),
        );
    }
    Ok(())
}

/// Sets (or, when empty, clears) the caller's own Teams Workflows webhook, which posts to their
/// chat: requests that wait for their decision then arrive there as cards too.
#[server(endpoint = "me/teams")]
pub async fn set_teams_webhook(webhook: String) -> Result<(), AppError> {
    let user = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::settings::set_teams_webhook(&state, &user, &webhook).await
}

#[server(endpoint = "me/settings")]
pub async fn get_settings() -> Result<MySettings, AppError> {
    let user = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    crate::server::services::settings::of(&state, &user).await
}

/// Names a deputy who decides in the caller's place from `starts_at` to `ends_at` (the
/// browser's local times, with its offset from UTC in minutes).
#[server(endpoint = "me/deputy")]
pub async fn name_deputy(
    deputy: String,
    starts_at: String,
    ends_at: String,
    utc_offset_minutes: String,
) -> Result<String, AppError> {
    use crate::domain::input::Upn;
    use crate::domain::problem::Problem;
    let user = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let deputy = match crate::api::field("deputy", Upn::parse_optional(&deputy))? {
        Some(deputy) => deputy,
        None => return Err(AppError::invalid("deputy", Problem::NameDeputy)),
    };
    let from = crate::api::forms::form_time(&starts_at, &utc_offset_minutes, "starts_at")?;
    let until = crate::api::forms::form_time(&ends_at, &utc_offset_minutes, "ends_at")?;
    crate::server::services::delegation::create(&state.pool, &user, &deputy, from, until)
        .await
        .map(|done| done.to_string())
}

/// Ends one of the caller's delegations now.
#[server(endpoint = "me/deputy/end")]
pub async fn end_delegation(delegation_id: String) -> Result<String, AppError> {
    let user = crate::server::app::auth::caller::caller()?;
    let state = crate::server::app::state::app_state()?;
    let id = crate::api::parse_id("delegation_id", &delegation_id)?;
    crate::server::services::delegation::end(&state.pool, &user, id)
        .await
        .map(|done| done.to_string())
}
