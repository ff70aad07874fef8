//! `/auth/login`, `/auth/callback` and `/auth/logout`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::Utc;
use serde::Deserialize;
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, Session};

use crate::domain::mail::Language;
use crate::domain::role::Role;
use crate::server::app::auth::oidc::{
    CallbackParams, PendingSignIn, SignInError, VerifiedIdentity,
};
use crate::server::app::auth::session::{ID_TOKEN_KEY, REFRESH_KEY, SessionUser, USER_KEY};
use crate::server::app::http::correlation;
use crate::server::app::state::AppState;
use crate::server::db;
use crate::server::db::principals::{SignIn, SourceAnchor};

/// How long a started sign-in may take before its anonymous session is dropped.
pub const SIGN_IN_WINDOW: Duration = Duration::minutes(10);

/// Where a started sign-in waits for the provider's answer: a sealed cookie the browser brings
/// back to the callback, so an attempt stores nothing until the provider answers.
const SIGN_IN_COOKIE: &str = "leasegate_signin";

pub fn router(state: AppState) -> Router<AppState> {
    let limited = Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .layer(axum::middleware::from_fn_with_state(
            state.sign_in_limit.clone(),
            crate::server::app::http::sign_in_limit::limit,
        ));
    Router::new()
        .merge(limited)
        .route("/auth/logout", post(logout))
}

/// The `Set-Cookie` that keeps a started sign-in (sealed: state, nonce and PKCE verifier are
/// neither readable nor changeable by the browser) for the callback only, as long as a sign-in
/// may take; `None` clears it.
fn sign_in_cookie(state: &AppState, pending: Option<&PendingSignIn>) -> axum::http::HeaderValue {
    let secure = if state.settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let (value, age) = match pending {
        Some(p) => (
            state.oidc.seal(
                SIGN_IN_COOKIE,
                &serde_json::to_string(p).expect("a pending sign-in serialises"),
            ),
            SIGN_IN_WINDOW.whole_seconds(),
        ),
        None => (String::new(), 0),
    };
    axum::http::HeaderValue::from_str(&format!(
        "{SIGN_IN_COOKIE}={value}; Path=/auth/callback; Max-Age={age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("a sealed value is a cookie value")
}

/// The started sign-in the browser brought back, if it is sealed by this portal and not older
/// than a sign-in may take.
fn pending_sign_in(state: &AppState, headers: &axum::http::HeaderMap) -> Option<PendingSignIn> {
    let sealed = crate::server::app::http::cookie_value(headers, SIGN_IN_COOKIE)?;
    let pending: PendingSignIn =
        serde_json::from_str(&state.oidc.open(SIGN_IN_COOKIE, sealed)?).ok()?;
    let age = Utc::now() - pending.started_at;
    (age >= chrono::TimeDelta::zero() && age.num_seconds() <= SIGN_IN_WINDOW.whole_seconds())
        .then_some(pending)
}

#[derive(Debug, Deserialize)]
struct LoginParams {
    return_to: Option<String>,
}

/// Only paths on this portal may be returned to: never another host (no open redirect).
pub fn safe_return_path(candidate: Option<&str>) -> String {
    match candidate {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.starts_with("/auth/")
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

async fn login(
    State(state): State<AppState>,
    Extension(language): Extension<Language>,
    Query(params): Query<LoginParams>,
) -> Response {
    let return_to = safe_return_path(params.return_to.as_deref());
    match state.oidc.begin(return_to).await {
        // Nothing is stored: anyone can hit this page, and a table of abandoned sign-ins
        // would be a cheap way to fill the database.
        Ok((url, pending)) => {
            let mut response = Redirect::to(url.as_str()).into_response();
            response.headers_mut().append(
                axum::http::header::SET_COOKIE,
                sign_in_cookie(&state, Some(&pending)),
            );
            response
        }
        Err(e) => unavailable_page(language, &format!("sign-in could not start: {e}")),
    }
}

async fn callback(
    State(state): State<AppState>,
    Extension(language): Extension<Language>,
    session: Session,
    headers: axum::http::HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    // Used once: the cookie goes with this answer, whatever it is.
    let pending = pending_sign_in(&state, &headers);
    let mut response = callback_answer(&state, language, &session, pending, &params).await;
    response
        .headers_mut()
        .append(axum::http::header::SET_COOKIE, sign_in_cookie(&state, None));
    response
}

async fn callback_answer(
    state: &AppState,
    language: Language,
    session: &Session,
    pending: Option<PendingSignIn>,
    params: &CallbackParams,
) -> Response {
    match finish_sign_in(state, session, pending, params).await {
        Ok((user, return_to)) => {
            tracing::info!(
                principal = %user.principal_id,
                upn = %user.upn,
                roles = ?user.roles,
                "signed in"
            );
            let mut response = Redirect::to(&return_to).into_response();
            // The browser remembers the person's language, so the pages they see once signed
            // out (the signed-out page, the next sign-in) speak it too.
            if let Some(chosen) = user.language {
                response.headers_mut().append(
                    axum::http::header::SET_COOKIE,
                    crate::server::app::http::language::set_cookie(
                        chosen,
                        state.settings.secure_cookies(),
                    ),
                );
            }
            response
        }
        Err(CallbackFailure::Refused(SignInError::Barred)) => {
            tracing::warn!("sign-in refused: the person is barred or has left");
            barred_page(language)
        }
        Err(CallbackFailure::Refused(e)) => {
            tracing::warn!(reason = %e, "sign-in refused");
            refused_page(language)
        }
        Err(CallbackFailure::TryLater) => {
            tracing::warn!("sign-in deferred: the person's directory anchor could not be read");
            try_later_page(language)
        }
        Err(CallbackFailure::Internal(detail)) => unavailable_page(language, &detail),
    }
}

enum CallbackFailure {
    Refused(SignInError),
    /// Who the person is in the directory could not be read just now.
    TryLater,
    Internal(String),
}

impl From<SignInError> for CallbackFailure {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::Discovery(_) => Self::Internal(e.to_string()),
            other => Self::Refused(other),
        }
    }
}

async fn finish_sign_in(
    state: &AppState,
    session: &Session,
    pending: Option<PendingSignIn>,
    params: &CallbackParams,
) -> Result<(SessionUser, String), CallbackFailure> {
    let internal = |e: &dyn std::fmt::Display| CallbackFailure::Internal(e.to_string());
    let pending = pending.ok_or(SignInError::NoPendingSignIn)?;
    let return_to = pending.return_to.clone();
    let identity = state.oidc.complete(pending, params).await?;
    let identity_refresh = identity.refresh_token.clone();

    let roles = Role::from_app_roles(&identity.app_roles, &state.settings.oidc.roles);
    let anchor = source_anchor(state, &identity)
        .await
        .map_err(|e| internal(&e))?;
    let principal_id = match db::principals::record_sign_in(&state.pool, &identity, &roles, &anchor)
        .await
        .map_err(|e| internal(&e))?
    {
        SignIn::Person(id) => id,
        SignIn::Barred => return Err(SignInError::Barred.into()),
        SignIn::TryLater => return Err(CallbackFailure::TryLater),
    };
    if db::principals::is_disabled(&state.pool, principal_id)
        .await
        .map_err(|e| internal(&e))?
    {
        return Err(SignInError::Barred.into());
    }

    // A new session id at the moment of sign-in defeats session fixation; the session now
    // lasts as long as a signed-in one does.
    session.cycle_id().await.map_err(|e| internal(&e))?;
    session.set_expiry(Some(Expiry::OnInactivity(
        Duration::try_from(state.settings.session.idle_timeout).unwrap_or(SIGN_IN_WINDOW),
    )));
    let (language, _) = db::principals::preferences(&state.pool, principal_id)
        .await
        .map_err(|e| internal(&e))?;
    let user = SessionUser {
        principal_id,
        display_name: identity.display_name,
        upn: identity.sign_in_name,
        roles,
        signed_in_at: Utc::now(),
        checked_at: Utc::now(),
        language,
    };
    session
        .insert(USER_KEY, user.clone())
        .await
        .map_err(|e| internal(&e))?;
    // Sealed at rest: the session store is a table, and its rows must not be a way to act as
    // the person at the provider.
    session
        .insert(
            ID_TOKEN_KEY,
            state.oidc.seal(ID_TOKEN_KEY, &identity.id_token),
        )
        .await
        .map_err(|e| internal(&e))?;
    if let Some(token) = &identity_refresh {
        session
            .insert(REFRESH_KEY, state.oidc.seal(REFRESH_KEY, token.expose()))
            .await
            .map_err(|e| internal(&e))?;
    }
    Ok((user, return_to))
}

/// How long a sign-in waits for the tenant to say who the person is on premises.
const ANCHOR_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The person's source anchor, from a connector that reads their tenant, when the portal does
/// not know them by it already; all connectors together wait at most `ANCHOR_WAIT`. One that
/// fails or does not list the object id yet (Graph replicates new users within minutes) leaves
/// it unanswered, and `record_sign_in` then binds nobody by it.
async fn source_anchor(
    state: &AppState,
    identity: &VerifiedIdentity,
) -> Result<SourceAnchor, sqlx::Error> {
    if db::principals::anchored(&state.pool, &identity.tenant_id, &identity.object_id).await? {
        return Ok(SourceAnchor::NotRead);
    }
    let connectors = state.connectors.of_tenant(&identity.tenant_id);
    if connectors.is_empty() {
        return Ok(SourceAnchor::NotRead);
    }
    let ask = async {
        for connector in connectors {
            match connector.person(&identity.object_id).await {
                Ok(Some(person)) => return SourceAnchor::Read(person.anchor),
                Ok(None) => tracing::info!(object_id = %identity.object_id,
                    "the tenant does not list the person yet; their anchor is not read"),
                Err(e) => tracing::warn!(error = %e, "the person's anchor could not be read"),
            }
        }
        SourceAnchor::Unanswered
    };
    Ok(tokio::time::timeout(ANCHOR_WAIT, ask)
        .await
        .unwrap_or_else(|_| {
            tracing::warn!("the person's anchor was not read in time");
            SourceAnchor::Unanswered
        }))
}

async fn logout(
    State(state): State<AppState>,
    Extension(language): Extension<Language>,
    session: Session,
) -> Response {
    let user: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    let kept = |key: &'static str| {
        let session = session.clone();
        let state = state.clone();
        async move {
            let sealed: Option<String> = session.get(key).await.ok().flatten();
            sealed.and_then(|s| state.oidc.open(key, &s))
        }
    };
    let (hint, refresh) = (kept(ID_TOKEN_KEY).await, kept(REFRESH_KEY).await);
    if let Err(e) = session.flush().await {
        return unavailable_page(language, &format!("session store: {e}"));
    }
    if let Some(user) = &user {
        tracing::info!(principal = %user.principal_id, "signed out");
    }
    // Signed out here is signed out there too, where the provider offers revocation.
    if let Some(token) = &refresh {
        state.oidc.revoke_refresh_token(token).await;
    }
    match state.oidc.end_session_url(hint.as_deref()).await {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        None => Redirect::to("/signed-out").into_response(),
    }
}

/// A refused sign-in; the reason is already logged at WARN under this request's id.
fn refused_page(language: Language) -> Response {
    failure_page(
        language,
        StatusCode::BAD_REQUEST,
        match language {
            Language::English => {
                "Your sign-in could not be completed. This happens when a sign-in link is used \
                 twice, is too old, or the identity provider's answer could not be verified."
            }
            Language::German => {
                "Ihre Anmeldung konnte nicht abgeschlossen werden. Das geschieht, wenn ein \
                 Anmeldelink zweimal benutzt wird, zu alt ist oder die Antwort des \
                 Identitätsanbieters nicht geprüft werden konnte."
            }
        },
        &correlation::current().unwrap_or_default(),
    )
}

/// The identity provider let the person in, but the portal may not: their account is disabled
/// or expired in a connected directory, or the people sync recorded that they left. Said in
/// words, with whom to ask, never as a generic failure.
fn barred_page(language: Language) -> Response {
    failure_page(
        language,
        StatusCode::FORBIDDEN,
        match language {
            Language::English => {
                "You cannot use Leasegate: your account is disabled or expired in a connected \
                 directory, or you are recorded as having left the organisation. If this is \
                 wrong, ask your IT service desk or a Leasegate administrator to check your \
                 account; signing in again will not change it."
            }
            Language::German => {
                "Sie können Leasegate nicht verwenden: Ihr Konto ist in einem angebundenen \
                 Verzeichnis deaktiviert oder abgelaufen, oder Sie sind als ausgeschieden \
                 erfasst. Wenn das nicht stimmt, bitten Sie Ihren IT-Service-Desk oder eine \
                 Leasegate-Administration, Ihr Konto zu prüfen; eine erneute Anmeldung ändert \
                 daran nichts."
            }
        },
        &correlation::current().unwrap_or_default(),
    )
}

/// Sign-in cannot go on because something the portal needs is down; `detail` is logged.
fn unavailable_page(language: Language, detail: &str) -> Response {
    failure_page(
        language,
        StatusCode::SERVICE_UNAVAILABLE,
        match language {
            Language::English => {
                "Sign-in is temporarily unavailable because the portal cannot reach a service it \
                 needs."
            }
            Language::German => {
                "Die Anmeldung ist vorübergehend nicht möglich, weil das Portal einen Dienst nicht \
                 erreicht, den es braucht."
            }
        },
        &correlation::log_internal(detail),
    )
}

/// The portal may know the person from an on-premises directory, and the directory that says
/// so did not answer: nothing was stored, and a later sign-in settles it.
fn try_later_page(language: Language) -> Response {
    failure_page(
        language,
        StatusCode::SERVICE_UNAVAILABLE,
        match language {
            Language::English => {
                "Leasegate could not confirm your directory account just now (a new account can \
                 take a few minutes to reach every part of the directory). Nothing was changed: \
                 sign in again in a few minutes. If this stays, ask your IT service desk."
            }
            Language::German => {
                "Leasegate konnte Ihr Verzeichniskonto gerade nicht bestätigen (ein neues Konto \
                 erreicht erst nach einigen Minuten alle Teile des Verzeichnisses). Es wurde \
                 nichts geändert: Melden Sie sich in einigen Minuten erneut an. Bleibt es so, \
                 wenden Sie sich an Ihren IT-Service-Desk."
            }
        },
        &correlation::current().unwrap_or_default(),
    )
}

/// A self-contained page for sign-in failures, in the request's language; the person sees only
/// the reference.
fn failure_page(
    language: Language,
    status: StatusCode,
    message: &str,
    reference: &str,
) -> Response {
    let (title, again, reference_word) = match language {
        Language::English => ("Sign-in failed", "Try signing in again", "Reference"),
        Language::German => ("Anmeldung fehlgeschlagen", "Erneut anmelden", "Referenz"),
    };
    let lang = language.as_str();
    let html = format!(
        r#"<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · Leasegate</title><link rel="stylesheet" href="/pkg/leasegate.css"></head><body><main id="main" class="standalone"><h1>{title}</h1><p>{message}</p><p><a class="button primary" href="/auth/login">{again}</a></p><p class="muted">{reference_word}: <code>{reference}</code></p></main></body></html>"#
    );
    (status, Html(html)).into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn return_paths_stay_on_the_portal() {
        assert_eq!(
            safe_return_path(Some("/governance?tab=live")),
            "/governance?tab=live"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/auth/logout",
            "/x\r\nSet-Cookie: a=b",
            "",
        ] {
            assert_eq!(safe_return_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_path(None), "/");
    }
}
