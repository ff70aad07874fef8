//! The signed-in person, as remembered by the session, and the layer that enforces the
//! session's idle and absolute timeouts and sends anonymous page visits to sign-in.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

use crate::domain::input::Upn;
use crate::domain::role::Role;
use crate::server::app::state::AppState;

pub const USER_KEY: &str = "user";
const SEEN_KEY: &str = "seen_at";
/// The refresh token the sign-in brought, kept server-side only (never in `SessionUser`, which
/// pages may see), sealed (`auth::sealed`).
pub const REFRESH_KEY: &str = "oidc_refresh";
/// The ID token, offered to the provider as `id_token_hint` at sign-out; sealed likewise.
pub const ID_TOKEN_KEY: &str = "oidc_id_token";

/// Stored in the session at sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub principal_id: Uuid,
    pub display_name: String,
    /// The sign-in name, case-folded once at sign-in.
    pub upn: Upn,
    pub roles: Vec<Role>,
    pub signed_in_at: DateTime<Utc>,
    /// When the person's standing (active, roles) was last read from the database. Sessions
    /// from before this field existed read as never, and are checked at once.
    #[serde(default)]
    pub checked_at: DateTime<Utc>,
    /// The language the person chose for the portal and their mail, if they chose one; read
    /// at sign-in and kept current by the language switch and the settings page.
    #[serde(default)]
    pub language: Option<crate::domain::mail::Language>,
}

/// Built assets, probes and the metrics scrape (which has a token of its own): served to
/// anyone, and never worth a session-store read.
fn needs_no_session(path: &str) -> bool {
    const EXACT: [&str; 6] = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/favicon.svg",
        "/favicon.ico",
        "/robots.txt",
    ];
    path.starts_with("/pkg/") || EXACT.contains(&path)
}

/// Paths anyone may reach without signing in (server functions check their caller themselves).
fn is_public(path: &str) -> bool {
    const PREFIXES: [&str; 2] = ["/auth/", "/api/"];
    needs_no_session(path) || path == "/signed-out" || PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Resolves the session's person (dropping it when a timeout has passed), makes it available to
/// handlers and server functions as a request extension, and redirects anonymous page visits to
/// sign-in with the page to return to.
pub async fn resolve(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    if needs_no_session(request.uri().path()) {
        return next.run(request).await;
    }
    let user = match current_user(&state, &session).await {
        Ok(user) => user,
        Err(e) => {
            let reference =
                crate::server::app::http::correlation::log_internal(&format!("session store: {e}"));
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("The portal cannot reach its session store. Reference {reference}."),
            )
                .into_response();
        }
    };
    let path = request.uri().path().to_string();
    match user {
        Some(user) => {
            request.extensions_mut().insert(user);
        }
        None if !is_public(&path) && matches!(*request.method(), Method::GET | Method::HEAD) => {
            let target = request
                .uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/");
            let location = format!(
                "/auth/login?return_to={}",
                url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
            );
            return Redirect::to(&location).into_response();
        }
        None => {}
    }
    next.run(request).await
}

async fn current_user(
    state: &AppState,
    session: &Session,
) -> Result<Option<SessionUser>, tower_sessions::session::Error> {
    let user = match session.get::<SessionUser>(USER_KEY).await {
        Ok(Some(user)) => user,
        Ok(None) => return Ok(None),
        // A session an earlier release wrote in a shape this one no longer reads: the person
        // signs in again rather than meeting an error on every page.
        Err(tower_sessions::session::Error::SerdeJson(error)) => {
            tracing::warn!(%error, "a session could not be read; it is ended");
            session.flush().await?;
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let settings = &state.settings.session;
    let now = Utc::now();
    let absolute =
        chrono::Duration::from_std(settings.absolute_timeout).unwrap_or(chrono::Duration::MAX);
    if now - user.signed_in_at >= absolute {
        tracing::info!(principal = %user.principal_id, "session reached its absolute timeout");
        session.flush().await?;
        return Ok(None);
    }
    // Follow the person's standing: barred people (disabled in a directory, see the account
    // watch) lose the session at the next request once the re-check falls due; then the
    // identity provider is asked again (refresh token): a person it no longer vouches for is
    // signed out, and their roles become the app roles it names now.
    let recheck = chrono::Duration::from_std(settings.recheck).unwrap_or(chrono::Duration::MAX);
    let mut user = user;
    if now - user.checked_at >= recheck {
        let standing = crate::server::db::principals::standing(&state.pool, user.principal_id)
            .await
            .map_err(|e| {
                tower_sessions::session::Error::Store(
                    tower_sessions::session_store::Error::Backend(e.to_string()),
                )
            })?;
        match standing {
            Some((true, roles)) => {
                user.roles = roles.iter().filter_map(|r| Role::parse(r)).collect();
                user.checked_at = now;
            }
            _ => {
                tracing::warn!(principal = %user.principal_id, "session ended: the person is barred");
                session.flush().await?;
                return Ok(None);
            }
        }
        if let Some(sealed) = session.get::<String>(REFRESH_KEY).await? {
            // A token that no longer opens (the key changed) cannot be asked with: the
            // person signs in again rather than keep a session nobody vouches for.
            let Some(token) = state.oidc.open(REFRESH_KEY, &sealed) else {
                tracing::warn!(principal = %user.principal_id, "session ended: its refresh token no longer opens");
                session.flush().await?;
                return Ok(None);
            };
            match ask_provider_again(state, &user, &token).await {
                Asked::Vouched { roles, token } => {
                    user.roles = roles;
                    session
                        .insert(REFRESH_KEY, state.oidc.seal(REFRESH_KEY, &token))
                        .await?;
                }
                Asked::Refused => {
                    session.flush().await?;
                    return Ok(None);
                }
                Asked::NoAnswer => {}
            }
        }
        session.insert(USER_KEY, user.clone()).await?;
    }
    // Saving the session extends its idle expiry; do it now and then rather than on every request.
    let refresh_every = (settings.idle_timeout / 10).min(std::time::Duration::from_secs(60));
    let seen: Option<DateTime<Utc>> = session.get(SEEN_KEY).await?;
    let stale = seen.is_none_or(|seen| (now - seen).to_std().unwrap_or_default() >= refresh_every);
    if stale {
        session.insert(SEEN_KEY, now).await?;
    }
    Ok(Some(user))
}

enum Asked {
    Vouched {
        roles: Vec<Role>,
        token: String,
    },
    Refused,
    /// The provider could not be asked, or another request of this person is asking it now:
    /// the roles last recorded stand until the next re-check.
    NoAnswer,
}

/// People whose provider refresh is in flight in this process: the pages' parallel requests
/// ask once, not once each (a provider with single-use refresh tokens would take a second use
/// of one as theft and revoke the grant).
static ASKING: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<Uuid>>> =
    std::sync::LazyLock::new(Default::default);

/// A person's place in [`ASKING`], given up when dropped: also when the request is cancelled
/// mid-ask (the browser went away), which would otherwise leave the person marked as being
/// asked about, and never re-checked again by this process.
struct Asking(Uuid);

impl Asking {
    fn start(principal: Uuid) -> Option<Self> {
        let inserted = ASKING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(principal);
        // Made only when the place was taken (and after the lock is let go): a guard made and
        // dropped here would lock again, and free a place someone else holds.
        inserted.then(|| Self(principal))
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        ASKING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

async fn ask_provider_again(state: &AppState, user: &SessionUser, token: &str) -> Asked {
    let principal = user.principal_id;
    let Some(_asking) = Asking::start(principal) else {
        return Asked::NoAnswer;
    };
    ask(state, principal, token).await
}

async fn ask(state: &AppState, principal: Uuid, token: &str) -> Asked {
    let who = match crate::server::db::principals::identity(&state.pool, principal).await {
        Ok(Some(who)) => who,
        Ok(None) => return Asked::Refused,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the person to ask the provider about");
            return Asked::NoAnswer;
        }
    };
    let secret = crate::server::app::config::Secret::new(token);
    match state.oidc.refresh(&secret, &who.0, &who.1).await {
        Ok(identity) => {
            let roles = Role::from_app_roles(&identity.app_roles, &state.settings.oidc.roles);
            if let Err(e) =
                crate::server::db::principals::record_roles(&state.pool, principal, &roles).await
            {
                tracing::warn!(error = %e, "could not record the roles the provider named");
            }
            Asked::Vouched {
                roles,
                token: identity
                    .refresh_token
                    .map(|t| t.expose().to_string())
                    .unwrap_or_else(|| token.to_string()),
            }
        }
        Err(crate::server::app::auth::oidc::RefreshError::Refused(why)) => {
            tracing::warn!(%principal, why, "session ended: the identity provider no longer vouches for the person");
            Asked::Refused
        }
        Err(crate::server::app::auth::oidc::RefreshError::Unavailable(why)) => {
            tracing::warn!(%principal, why, "could not ask the identity provider about a session; the roles last recorded stand");
            Asked::NoAnswer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_asked_about_once_at_a_time_and_freed_when_dropped() {
        let principal = Uuid::new_v4();
        let first = Asking::start(principal).expect("nobody asks yet");
        assert!(
            Asking::start(principal).is_none(),
            "a second ask waits its turn"
        );
        drop(first);
        // A cancelled ask (its future dropped) frees the place too: the guard is dropped with it.
        let cancelled = async move {
            let _asking = Asking::start(principal).expect("free again");
            std::future::pending::<()>().await;
        };
        let mut future = Box::pin(cancelled);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert!(
            Asking::start(principal).is_none(),
            "held while the ask runs"
        );
        drop(future);
        assert!(
            Asking::start(principal).is_some(),
            "freed by the cancellation"
        );
    }

    #[test]
    fn public_paths() {
        for p in [
            "/favicon.svg",
            "/auth/login",
            "/pkg/leasegate.wasm",
            "/api/get_me",
            "/healthz",
            "/metrics",
            "/signed-out",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in ["/", "/governance", "/admin", "/healthz/x", "/authx"] {
            assert!(!is_public(p), "{p}");
        }
        // Sign-in, sign-out and server functions are public but do use the session.
        for p in ["/auth/callback", "/signed-out", "/api/me"] {
            assert!(!needs_no_session(p), "{p}");
        }
    }
}
