//! Who calls the REST API, from their access token, and what kind of caller may do what.
//!
//! The rules of what a person may do are the pages' own: the API hands the same services the
//! same caller (`SessionUser`), and they decide. What is the API's alone is which *kind* of
//! caller reaches a service at all:
//! - a **person** (a delegated token with the API's scope) does what they may do in the pages;
//! - an **application with the automation role** asks for access for named people and follows
//!   its own requests; it never decides, holds, gives back or reads the trail;
//! - an **application with the auditor role** reads what an auditor reads, and changes nothing.
//!
//! Votes are people's only: no application decides a request, whatever roles it holds.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::domain::input::Upn;
use crate::domain::role::Role;
use crate::error::AppError;
use crate::server::app::auth::bearer::{self, AccessToken, TokenError, TokenKind};
use crate::server::app::auth::session::SessionUser;
use crate::server::app::state::AppState;
use crate::server::db::principals;
use crate::server::rest::problem::ApiError;
use crate::server::services::submit::Submitter;

#[derive(Debug, Clone)]
pub enum ApiCaller {
    Person(SessionUser),
    App {
        /// The application's own principal, as the trail names it; with the auditor role its
        /// portal role is `Auditor`, and nothing else.
        user: SessionUser,
        automation: bool,
    },
}

impl ApiCaller {
    /// Anyone the API takes: reading the catalog.
    pub fn anyone(&self) -> &SessionUser {
        match self {
            ApiCaller::Person(user) | ApiCaller::App { user, .. } => user,
        }
    }

    /// People only: deciding, holding, giving back.
    pub fn person(&self) -> Result<&SessionUser, AppError> {
        match self {
            ApiCaller::Person(user) => Ok(user),
            ApiCaller::App { .. } => Err(AppError::Forbidden),
        }
    }

    /// Who reads governance data: a person (the services check their roles, as for the
    /// pages) or an application with the auditor role (an auditor, nothing more).
    pub fn governance(&self) -> Result<&SessionUser, AppError> {
        match self {
            ApiCaller::App { user, .. } if !user.roles.contains(&Role::Auditor) => {
                Err(AppError::Forbidden)
            }
            caller => Ok(caller.anyone()),
        }
    }

    /// Who asks for access, and follows the requests asked: a person, or an application with
    /// the automation role.
    pub fn submitter(&self) -> Result<(Submitter, &SessionUser), AppError> {
        match self {
            ApiCaller::Person(user) => Ok((Submitter::person(user), user)),
            ApiCaller::App {
                user,
                automation: true,
                ..
            } => Ok((Submitter::application(user), user)),
            ApiCaller::App { .. } => Err(AppError::Forbidden),
        }
    }
}

/// The layer in front of every API route but the OpenAPI document: the bearer token verified,
/// its caller resolved and counted against their rate limit, and then handed to the handler
/// as a request extension. The session cookie is never read here, so a page of another site
/// cannot make a signed-in browser call the API (no CSRF).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = client_key(&state, &request);
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, token)| token.trim().to_string());
    let verified = match token {
        None => Err(TokenError::Malformed),
        Some(token) => bearer::verify(&state.oidc, &state.settings.api, &token, Utc::now()).await,
    };
    let caller = match verified {
        Ok(token) => resolve(&state, token).await,
        Err(TokenError::Provider(why)) => {
            let reference = crate::server::app::http::correlation::log_internal(&format!(
                "the API could not check a token: {why}"
            ));
            Err(AppError::Unavailable { reference })
        }
        Err(why) => {
            // Refused tokens count against the address they came from (and, once over, are
            // not logged one by one).
            if let Err(wait) = state.api_limit.check(&client) {
                return ApiError::too_many(wait.as_secs().max(1)).into_response();
            }
            tracing::warn!(%why, client = %client, "API token refused");
            Err(AppError::Unauthorized)
        }
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return ApiError::from(error).into_response(),
    };
    if let Err(wait) = state
        .api_limit
        .check(&format!("caller:{}", caller.anyone().principal_id))
    {
        tracing::warn!(principal = %caller.anyone().principal_id, "API calls limited");
        return ApiError::too_many(wait.as_secs().max(1)).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

fn client_key(state: &AppState, request: &Request) -> String {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let trusted = &state.settings.session.trusted_proxies;
    match crate::server::app::http::sign_in_limit::client_address(peer, request.headers(), trusted)
    {
        // One IPv6 client holds a whole /64: its addresses share one budget.
        Some(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(address) => format!("address:{address}"),
        None => "address:unknown".to_string(),
    }
}

/// The caller a verified token names. A person must be known to the portal (signed in once,
/// or brought by the people sync) and not barred; an application must hold one of the API's
/// app roles, and is recorded as a principal the first time it calls.
async fn resolve(state: &AppState, token: AccessToken) -> Result<ApiCaller, AppError> {
    let now = Utc::now();
    let api = &state.settings.api;
    match token.kind {
        TokenKind::Delegated => {
            // A person's token from an application the portal does not name (one they consented
            // to elsewhere) would carry all their powers: refused.
            if !api.person_clients.iter().any(|c| c == &token.client_id) {
                tracing::warn!(client = %token.client_id, "API token of a person, asked for by an application not in LEASEGATE_API_CLIENTS");
                return Err(AppError::Forbidden);
            }
            let known =
                principals::by_identity(&state.pool, &token.tenant_id, &token.object_id).await?;
            let Some(known) = known.filter(|k| k.active && k.kind != "service") else {
                tracing::warn!(
                    object_id = %token.object_id,
                    "API token of a person the portal does not know, or has barred"
                );
                return Err(AppError::Forbidden);
            };
            // The roles both the token and the portal's record name: a role taken away in Entra
            // counts from the next sign-in or session re-check, not from the token's expiry.
            let roles = Role::from_app_roles(&token.roles, &state.settings.oidc.roles)
                .into_iter()
                .filter(|r| known.portal_roles.iter().any(|k| k == r.as_str()))
                .collect();
            principals::seen_through_api(&state.pool, &known).await?;
            Ok(ApiCaller::Person(session_user(known, roles, now)))
        }
        TokenKind::AppOnly => {
            let automation = token.roles.contains(&api.automation_role);
            let auditor = token.roles.contains(&api.auditor_role);
            if !automation && !auditor {
                tracing::warn!(client = %token.client_id, "API token of an application without an API role");
                return Err(AppError::Forbidden);
            }
            let known = principals::record_application(
                &state.pool,
                &token.tenant_id,
                &token.object_id,
                &token.client_id,
            )
            .await?;
            if known.kind != "service" || !known.active {
                tracing::warn!(client = %token.client_id, "API token of an application the portal has barred");
                return Err(AppError::Forbidden);
            }
            let roles = if auditor { vec![Role::Auditor] } else { vec![] };
            Ok(ApiCaller::App {
                user: session_user(known, roles, now),
                automation,
            })
        }
    }
}

fn session_user(
    known: principals::Known,
    roles: Vec<Role>,
    now: chrono::DateTime<Utc>,
) -> SessionUser {
    SessionUser {
        principal_id: known.id,
        display_name: known.display_name,
        upn: Upn::from_directory(&known.upn),
        roles,
        signed_in_at: now,
        checked_at: now,
        language: known
            .language
            .as_deref()
            .and_then(crate::domain::mail::Language::parse),
    }
}
