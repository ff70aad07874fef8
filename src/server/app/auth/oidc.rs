//! OpenID Connect authorization code flow with PKCE, state and nonce, against Entra ID or any
//! standard provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    LogoutProviderMetadata, LogoutRequest, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::server::app::config::{Secret, Settings};

/// The claims Entra ID adds to its ID tokens that the portal uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntraClaims {
    /// The person's immutable object id in their tenant.
    pub oid: Option<String>,
    /// The tenant id.
    pub tid: Option<String>,
    /// App roles assigned to the person for this application.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl AdditionalClaims for EntraClaims {}

/// What discovery says beyond the core and logout metadata: where tokens are revoked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RevocationMetadata {
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
}

impl openidconnect::AdditionalProviderMetadata for RevocationMetadata {}

type Metadata = ProviderMetadata<
    LogoutProviderMetadata<RevocationMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type EntraTokenResponse = StandardTokenResponse<
    IdTokenFields<
        EntraClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type EntraIdToken = openidconnect::IdToken<
    EntraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type EntraClient = Client<
    EntraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    EntraTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the browser's round trip to the provider must bring back; kept in the session between
/// `/auth/login` and `/auth/callback`, and removed on first use so a callback cannot be replayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The OAuth `state` the provider must send back (the CSRF check).
    #[serde(rename = "state")]
    pub csrf_token: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// The portal page to return to afterwards (already checked to be a local path).
    pub return_to: String,
    pub started_at: chrono::DateTime<Utc>,
}

/// A person the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub tenant_id: String,
    pub object_id: String,
    /// The sign-in name as the provider spells it (stored so), and case-folded for comparing.
    pub upn: String,
    pub sign_in_name: crate::domain::input::Upn,
    pub display_name: String,
    pub email: Option<String>,
    pub app_roles: Vec<String>,
    /// The raw ID token, kept only to offer it as `id_token_hint` at sign-out.
    pub id_token: String,
    /// Lets the portal ask the provider again, while the session lasts, whether the person may
    /// still sign in and which app roles they hold (`offline_access`).
    pub refresh_token: Option<Secret>,
}

/// Why asking the provider again about a signed-in person gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The provider refused: the person was disabled, their consent or grant revoked, or the
    /// answer could not be trusted. Their session ends.
    #[error("the provider refused to vouch for the person again: {0}")]
    Refused(String),
    /// The provider could not be asked (unreachable, misbehaving). The session keeps what it
    /// knew; the portal asks again at the next re-check.
    #[error("the provider could not be asked: {0}")]
    Unavailable(String),
}

/// Why a sign-in was refused. The text goes to the log, never to the person.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider could not be reached or described itself wrongly: {0}")]
    Discovery(String),
    #[error("no sign-in was started in this session (missing or replayed callback)")]
    NoPendingSignIn,
    #[error("the callback had no state parameter")]
    MissingState,
    #[error("the state parameter does not match the one issued")]
    StateMismatch,
    #[error("the sign-in attempt is older than 10 minutes")]
    Stale,
    #[error("the callback names issuer {0}, not ours (mix-up attack?)")]
    IssuerMismatch(String),
    #[error("the provider returned an error: {0}")]
    Provider(String),
    #[error(
        "the person is barred: their account is disabled in a connected directory, or they left"
    )]
    Barred,
    #[error("the callback had no authorization code")]
    MissingCode,
    #[error("the code exchange failed: {0}")]
    Exchange(String),
    #[error("the token response had no ID token")]
    MissingIdToken,
    #[error("ID token rejected: {0}")]
    Token(String),
    #[error("ID token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("the ID token's `preferred_username` ({0:?}) is not a sign-in name (name@domain)")]
    NotASignInName(String),
    #[error("ID token is for tenant {found}, this portal accepts only {expected}")]
    WrongTenant { found: String, expected: String },
}

const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of the provider's keys that an unknown key id asks for.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Tolerated difference between our clock and the provider's when checking expiry.
pub(crate) const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);
const SIGN_IN_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// The configured provider, with its discovery document cached (and refreshed when its signing
/// keys rotate).
pub struct OidcProvider {
    settings: Arc<Settings>,
    http: reqwest::Client,
    metadata: RwLock<Option<(Arc<Metadata>, Instant)>>,
    /// When an unknown key id last made the API ask for the keys again.
    keys_asked: std::sync::Mutex<Option<Instant>>,
    /// Seals the tokens a session keeps (`auth::sealed`).
    sealer: super::sealed::Sealer,
}

impl OidcProvider {
    pub fn new(settings: Arc<Settings>) -> Self {
        let http = reqwest::Client::builder()
            // The token endpoint must never redirect us (SSRF protection, per openidconnect docs).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("building an HTTP client with static settings");
        let sealer = super::sealed::Sealer::from_secret(
            settings
                .session
                .key
                .as_ref()
                .unwrap_or(&settings.oidc.client_secret)
                .expose(),
        );
        Self {
            settings,
            http,
            metadata: RwLock::new(None),
            keys_asked: std::sync::Mutex::new(None),
            sealer,
        }
    }

    /// `token`, sealed for keeping in the session as `purpose`.
    pub fn seal(&self, purpose: &str, token: &str) -> String {
        self.sealer.seal(purpose, token)
    }

    /// A token the session keeps, opened; `None` when it no longer opens.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<String> {
        self.sealer.open(purpose, sealed)
    }

    /// Revokes a refresh token at the provider (RFC 7009), where its discovery document names
    /// a `revocation_endpoint` (Entra's does not: its refresh tokens end with the session's
    /// re-check and its own policies). Best effort: a provider that cannot be reached does not
    /// keep anyone signed in here.
    pub async fn revoke_refresh_token(&self, token: &str) {
        let Ok(metadata) = self.metadata(false).await else {
            return;
        };
        let Some(endpoint) = metadata
            .additional_metadata()
            .additional_metadata
            .revocation_endpoint
            .clone()
        else {
            return;
        };
        let oidc = &self.settings.oidc;
        let answer = self
            .http
            .post(&endpoint)
            .basic_auth(&oidc.client_id, Some(oidc.client_secret.expose()))
            .form(&[("token", token), ("token_type_hint", "refresh_token")])
            .send()
            .await;
        match answer {
            Ok(answer) if answer.status().is_success() => {
                tracing::info!("refresh token revoked at the provider")
            }
            Ok(answer) => {
                tracing::warn!(status = %answer.status(), "the provider refused to revoke a refresh token")
            }
            Err(e) => tracing::warn!(error = %e, "could not revoke a refresh token"),
        }
    }

    async fn metadata(&self, refresh: bool) -> Result<Arc<Metadata>, SignInError> {
        if !refresh
            && let Some((m, at)) = self.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.settings.oidc.issuer.clone())
            .map_err(|e| SignInError::Discovery(e.to_string()))?;
        let discovered = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SignInError::Discovery(error_chain(&e)))?;
        let discovered = Arc::new(discovered);
        *self.metadata.write().await = Some((discovered.clone(), Instant::now()));
        Ok(discovered)
    }

    /// The provider's signing keys, for the API's access tokens (`auth::bearer`). `refresh` asks
    /// the provider again, at most once a minute however many tokens name an unknown key and
    /// however the asking went: the attempt is stamped before it is made, under a lock, so a
    /// stream of forged key ids (in parallel, or while the provider is down) cannot make the
    /// portal hammer the provider.
    pub(crate) async fn signing_keys(
        &self,
        refresh: bool,
    ) -> Result<Vec<CoreJsonWebKey>, SignInError> {
        let refresh = refresh && {
            let mut last = self.keys_asked.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= KEY_REFRESH_INTERVAL);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        Ok(self.metadata(refresh).await?.jwks().keys().clone())
    }

    /// The issuer tokens must name, and the tenant they must be for (when one is configured).
    pub(crate) fn issuer(&self) -> (&str, Option<&str>) {
        let oidc = &self.settings.oidc;
        (&oidc.issuer, oidc.tenant_id.as_deref())
    }

    fn client(&self, metadata: &Metadata) -> EntraClient {
        let oidc = &self.settings.oidc;
        EntraClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(oidc.client_id.clone()),
            Some(ClientSecret::new(oidc.client_secret.expose().to_string())),
        )
        .set_redirect_uri(
            RedirectUrl::new(self.settings.redirect_uri()).expect("redirect URI from a valid URL"),
        )
    }

    /// Starts a sign-in: the URL to send the browser to, and what to remember until it returns.
    pub async fn begin(&self, return_to: String) -> Result<(url::Url, PendingSignIn), SignInError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.oidc.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url,
            PendingSignIn {
                csrf_token: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                return_to,
                started_at: Utc::now(),
            },
        ))
    }

    /// Finishes a sign-in: checks the state, redeems the code and validates the ID token.
    pub async fn complete(
        &self,
        pending: PendingSignIn,
        callback: &CallbackParams,
    ) -> Result<VerifiedIdentity, SignInError> {
        let state = callback.state.as_deref().ok_or(SignInError::MissingState)?;
        if !constant_time_eq(state.as_bytes(), pending.csrf_token.as_bytes()) {
            return Err(SignInError::StateMismatch);
        }
        if Utc::now() - pending.started_at > SIGN_IN_WINDOW {
            return Err(SignInError::Stale);
        }
        // RFC 9207: a provider that names itself in the callback must name the one we asked.
        if let Some(iss) = &callback.iss
            && iss != &self.settings.oidc.issuer
        {
            return Err(SignInError::IssuerMismatch(iss.clone()));
        }
        if let Some(error) = &callback.error {
            let description = callback.error_description.as_deref().unwrap_or("");
            return Err(SignInError::Provider(format!("{error} {description}")));
        }
        let code = callback.code.clone().ok_or(SignInError::MissingCode)?;

        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SignInError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| SignInError::Exchange(error_chain(&e)))?;
        let id_token = response
            .id_token()
            .ok_or(SignInError::MissingIdToken)?
            .clone();
        let nonce = Nonce::new(pending.nonce);
        let refresh_token = response
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone()));
        let identity = self
            .verified(&client, &id_token, |seen: Option<&Nonce>| match seen {
                Some(seen)
                    if constant_time_eq(seen.secret().as_bytes(), nonce.secret().as_bytes()) =>
                {
                    Ok(())
                }
                _ => Err("the nonce does not match the one sent".to_string()),
            })
            .await?;
        Ok(VerifiedIdentity {
            refresh_token,
            ..identity
        })
    }

    /// Asks the provider again who a signed-in person is, with the refresh token their sign-in
    /// brought. The new ID token carries their app roles as they are now; a person disabled at
    /// the provider (or whose grant was revoked) gets `invalid_grant`.
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<VerifiedIdentity, RefreshError> {
        let unavailable = |e: &dyn std::fmt::Display| RefreshError::Unavailable(e.to_string());
        let metadata = self.metadata(false).await.map_err(|e| unavailable(&e))?;
        let client = self.client(&metadata);
        let token = RefreshToken::new(refresh_token.expose().to_string());
        let response = client
            .exchange_refresh_token(&token)
            .map_err(|e| unavailable(&e))?
            .request_async(&self.http)
            .await
            .map_err(|e| match &e {
                RequestTokenError::ServerResponse(r)
                    if *r.error() == CoreErrorResponseType::InvalidGrant =>
                {
                    RefreshError::Refused(r.to_string())
                }
                other => RefreshError::Unavailable(error_chain(other)),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| unavailable(&"the refresh answer had no ID token"))?
            .clone();
        // A refreshed ID token carries no nonce of ours (OpenID Connect Core 12.2).
        let identity = self
            .verified(&client, &id_token, |_: Option<&Nonce>| Ok(()))
            .await
            .map_err(|e| RefreshError::Refused(e.to_string()))?;
        if identity.tenant_id != tenant_id || identity.object_id != object_id {
            return Err(RefreshError::Refused(
                "the refreshed ID token names another person".into(),
            ));
        }
        Ok(VerifiedIdentity {
            // Providers that rotate refresh tokens send a new one; others keep the old.
            refresh_token: Some(
                response
                    .refresh_token()
                    .map(|t| Secret::new(t.secret().clone()))
                    .unwrap_or_else(|| refresh_token.clone()),
            ),
            ..identity
        })
    }

    /// Verifies an ID token (signature with the provider's keys, looked up again once if they
    /// rotated; issuer; audience; expiry; algorithm; `nonce`) and reads the person from it.
    async fn verified(
        &self,
        client: &EntraClient,
        id_token: &EntraIdToken,
        nonce: impl Fn(Option<&Nonce>) -> Result<(), String> + Clone,
    ) -> Result<VerifiedIdentity, SignInError> {
        let verify = |client: &EntraClient| {
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256])
                .set_time_fn(|| Utc::now() - CLOCK_SKEW);
            id_token.claims(&verifier, nonce.clone()).cloned()
        };
        let claims = match verify(client) {
            Ok(claims) => claims,
            // The provider may have rotated its keys since we cached them: look once more.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                let fresh = self.metadata(true).await?;
                verify(&self.client(&fresh)).map_err(|e| SignInError::Token(error_chain(&e)))?
            }
            Err(e) => return Err(SignInError::Token(error_chain(&e))),
        };
        let extra = claims.additional_claims();
        // Ids compared as stored: lower case, as the people sync and Graph write them.
        let tenant_id = extra
            .tid
            .as_deref()
            .ok_or(SignInError::MissingClaim("tid"))?
            .to_lowercase();
        let object_id = extra
            .oid
            .as_deref()
            .ok_or(SignInError::MissingClaim("oid"))?
            .to_lowercase();
        if let Some(expected) = &self.settings.oidc.tenant_id
            && !tenant_id.eq_ignore_ascii_case(expected)
        {
            return Err(SignInError::WrongTenant {
                found: tenant_id,
                expected: expected.clone(),
            });
        }
        let upn = claims
            .preferred_username()
            .map(|u| u.to_string())
            .ok_or(SignInError::MissingClaim("preferred_username"))?;
        let sign_in_name = crate::domain::input::Upn::parse(&upn)
            .map_err(|_| SignInError::NotASignInName(crate::text::single_line(&upn)))?;
        // A name is shown in pages, mails and the trail on one line: control characters from
        // the provider (a line break typed into a directory's display name) are cleaned here.
        let display_name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| crate::text::single_line(n))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| crate::text::single_line(&upn));
        Ok(VerifiedIdentity {
            tenant_id,
            object_id,
            upn,
            sign_in_name,
            display_name,
            email: claims.email().map(|e| e.to_string()),
            app_roles: extra.roles.clone(),
            id_token: id_token.to_string(),
            refresh_token: None,
        })
    }

    /// Where to send the browser at sign-out, when the provider offers an end-session endpoint.
    pub async fn end_session_url(&self, id_token_hint: Option<&str>) -> Option<url::Url> {
        let metadata = self.metadata(false).await.ok()?;
        let endpoint = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.settings.oidc.client_id.clone()));
        if let Ok(after) = self.settings.public_url.join("signed-out") {
            request = request.set_post_logout_redirect_uri(PostLogoutRedirectUrl::from_url(after));
        }
        let mut url = request.http_get_url();
        if let Some(hint) = id_token_hint {
            url.query_pairs_mut().append_pair("id_token_hint", hint);
        }
        Some(url)
    }
}

/// The query of `/auth/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// Equal bytes, compared in a time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
