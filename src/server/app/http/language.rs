//! Which language a request is answered in, decided once per request: the signed-in person's
//! own setting, else the language cookie (the banner's switch sets it, for people who are not
//! signed in too), else the browser's `Accept-Language`, else English. The choice goes into the
//! request's extensions, where [`crate::text::lang::current`] finds it for pages and server
//! functions alike, and into `Content-Language`.

use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::domain::mail::Language;
use crate::server::app::auth::session::{SessionUser, USER_KEY};
use crate::server::app::state::AppState;

/// Remembers the chosen language in the browser (a preference, not a secret).
pub const LANGUAGE_COOKIE: &str = "leasegate_lang";

/// A year, in seconds: how long the browser keeps the language cookie.
const COOKIE_MAX_AGE: u32 = 365 * 24 * 3600;

pub async fn resolve(mut request: Request, next: Next) -> Response {
    let language = choose(
        request
            .extensions()
            .get::<SessionUser>()
            .and_then(|user| user.language),
        request.headers(),
    );
    request.extensions_mut().insert(language);
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(language.as_str()),
    );
    response
}

/// The person's setting, else the cookie, else the browser's languages.
pub fn choose(setting: Option<Language>, headers: &HeaderMap) -> Language {
    setting.or_else(|| cookie(headers)).unwrap_or_else(|| {
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(Language::from_tags)
            .unwrap_or_default()
    })
}

fn cookie(headers: &HeaderMap) -> Option<Language> {
    super::cookie_value(headers, LANGUAGE_COOKIE).and_then(Language::parse)
}

/// The `Set-Cookie` value that remembers `language` in this browser.
pub fn set_cookie(language: Language, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LANGUAGE_COOKIE}={}; Path=/; Max-Age={COOKIE_MAX_AGE}; SameSite=Lax{secure}",
        language.as_str()
    ))
    .expect("a cookie of ASCII words")
}

/// Makes `language` the signed-in person's language: stored with them (their mail follows it on
/// every device) and in their session (their pages follow it from the next request on).
pub async fn remember(
    state: &AppState,
    session: &Session,
    user: &SessionUser,
    language: Language,
) -> Result<(), crate::error::AppError> {
    crate::server::db::principals::set_language(&state.pool, user.principal_id, language).await?;
    let mut updated = user.clone();
    updated.language = Some(language);
    session
        .insert(USER_KEY, updated)
        .await
        .map_err(|e| crate::error::AppError::Unavailable {
            reference: crate::error::reference_for(&format!("session store: {e}")),
        })?;
    Ok(())
}

#[derive(serde::Deserialize)]
pub struct Switch {
    language: String,
    #[serde(default)]
    back: String,
}

/// `POST /language`: the banner's switch. Works without JavaScript: a plain form post, answered
/// with a redirect back to the page it came from, now in the chosen language.
pub async fn switch(
    State(state): State<AppState>,
    session: Session,
    request_user: Option<axum::Extension<SessionUser>>,
    Form(form): Form<Switch>,
) -> Response {
    let Some(language) = Language::parse(form.language.trim()) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose en (English) or de (Deutsch).",
        )
            .into_response();
    };
    if let Some(axum::Extension(user)) = request_user
        && let Err(e) = remember(&state, &session, &user, language).await
    {
        tracing::warn!(error = %e, "could not store the chosen language");
    }
    let mut response = Redirect::to(&local_path(&form.back)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(language, state.settings.secure_cookies()),
    );
    response
}

/// Only a path on this portal is followed back to (never another site: `//host` or a scheme).
fn local_path(back: &str) -> String {
    let ok = back.starts_with('/') && !back.starts_with("//") && !back.contains('\\');
    if ok { back.to_string() } else { "/".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_setting_wins_then_the_cookie_then_the_browser() {
        let both = headers(&[
            (header::COOKIE, "a=b; leasegate_lang=en"),
            (header::ACCEPT_LANGUAGE, "de-DE,de;q=0.9"),
        ]);
        assert_eq!(choose(Some(Language::German), &both), Language::German);
        assert_eq!(choose(None, &both), Language::English);
        let browser = headers(&[(header::ACCEPT_LANGUAGE, "de-AT, en;q=0.5")]);
        assert_eq!(choose(None, &browser), Language::German);
        assert_eq!(choose(None, &HeaderMap::new()), Language::English);
        let odd = headers(&[(header::COOKIE, "leasegate_lang=fr")]);
        assert_eq!(choose(None, &odd), Language::English);
    }

    #[test]
    fn only_local_paths_are_followed_back() {
        assert_eq!(local_path("/my-access?x=1"), "/my-access?x=1");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path(""), "/");
    }
}
