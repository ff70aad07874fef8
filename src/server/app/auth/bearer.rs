//! Access tokens for the REST API: Entra ID's JWTs, checked as a resource server checks them.
//!
//! A token is taken when its signature verifies with one of the provider's keys (RS256 only),
//! it names the provider as its issuer and the portal's API as its audience, it is within its
//! lifetime (a minute's skew allowed), it is for the configured tenant, and it is one of two
//! kinds:
//! - **delegated**: a person's token, carrying the API's scope in `scp`;
//! - **app-only**: an application's own token (client credentials), with no `scp`, which Entra
//!   marks with `idtyp: app` or, without that optional claim, with `sub` equal to `oid`.
//!
//! Anything else is refused, an ID token above all: it has neither mark, so a person's ID
//! token for the portal cannot pass for an application's token even when its audience matches.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openidconnect::JsonWebKey as _;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use serde::Deserialize;

use crate::server::app::auth::oidc::{CLOCK_SKEW, OidcProvider};
use crate::server::app::config::ApiSettings;

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub kind: TokenKind,
    /// Lower case, as the portal stores Entra ids.
    pub tenant_id: String,
    pub object_id: String,
    /// The application that asked for the token (`azp`, or v1.0's `appid`).
    pub client_id: String,
    /// App roles: a person's for the portal, or an application's.
    pub roles: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Delegated,
    AppOnly,
}

/// Why a token was refused: for the log. The caller only learns that it was.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a signed JWT")]
    Malformed,
    #[error("signed with {0}, only RS256 is accepted")]
    Algorithm(String),
    #[error("signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("issued by {0}, not by the configured provider")]
    Issuer(String),
    #[error("for another audience")]
    Audience,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("for tenant {0}, not the configured one")]
    Tenant(String),
    #[error("lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("a person's token without the API's scope")]
    Scope,
    #[error("neither a person's token for the API nor an application's (an ID token?)")]
    NotAnAccessToken,
    #[error("the provider's keys could not be read: {0}")]
    Provider(String),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

/// The claims read; `aud` may be a string or a list.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: i64,
    nbf: Option<i64>,
    tid: Option<String>,
    oid: Option<String>,
    sub: Option<String>,
    azp: Option<String>,
    appid: Option<String>,
    scp: Option<String>,
    idtyp: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains_any(&self, accepted: &[String]) -> bool {
        match self {
            Audience::One(a) => accepted.contains(a),
            Audience::Many(all) => all.iter().any(|a| accepted.contains(a)),
        }
    }
}

/// Checks `token` against the provider's keys and the API's settings.
pub async fn verify(
    provider: &OidcProvider,
    api: &ApiSettings,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessToken, TokenError> {
    let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
    let header: Header = decode(header)?;
    if header.alg != "RS256" {
        return Err(TokenError::Algorithm(header.alg));
    }
    if header
        .typ
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("JWT") && !t.eq_ignore_ascii_case("at+jwt"))
    {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = match key_for(provider, &kid, false).await? {
        Some(key) => key,
        // The provider may have rotated its keys since they were read.
        None => key_for(provider, &kid, true)
            .await?
            .ok_or(TokenError::UnknownKey)?,
    };
    key.verify_signature(
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        signed.as_bytes(),
        &signature,
    )
    .map_err(|_| TokenError::Signature)?;
    let (issuer, tenant) = provider.issuer();
    check(decode(payload)?, issuer, tenant, api, now)
}

/// The claims' checks, apart from the signature.
fn check(
    claims: Claims,
    issuer: &str,
    tenant: Option<&str>,
    api: &ApiSettings,
    now: DateTime<Utc>,
) -> Result<AccessToken, TokenError> {
    if claims.iss != issuer {
        return Err(TokenError::Issuer(crate::text::single_line(&claims.iss)));
    }
    if !claims.aud.contains_any(&api.audiences) {
        return Err(TokenError::Audience);
    }
    let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(TokenError::Malformed)?;
    if expires_at <= now - CLOCK_SKEW {
        return Err(TokenError::Expired);
    }
    if claims
        .nbf
        .and_then(|nbf| DateTime::from_timestamp(nbf, 0))
        .is_some_and(|nbf| nbf > now + CLOCK_SKEW)
    {
        return Err(TokenError::NotYetValid);
    }
    let tenant_id = claims
        .tid
        .ok_or(TokenError::MissingClaim("tid"))?
        .to_lowercase();
    if let Some(expected) = tenant
        && !tenant_id.eq_ignore_ascii_case(expected)
    {
        return Err(TokenError::Tenant(crate::text::single_line(&tenant_id)));
    }
    let object_id = claims
        .oid
        .ok_or(TokenError::MissingClaim("oid"))?
        .to_lowercase();
    let client_id = claims
        .azp
        .or(claims.appid)
        .ok_or(TokenError::MissingClaim("azp"))?;
    let kind = match &claims.scp {
        Some(scopes) => {
            if !scopes.split(' ').any(|s| s == api.scope) {
                return Err(TokenError::Scope);
            }
            TokenKind::Delegated
        }
        None => {
            let app_marked = claims.idtyp.as_deref() == Some("app")
                || claims
                    .sub
                    .as_deref()
                    .is_some_and(|sub| sub.eq_ignore_ascii_case(&object_id));
            if !app_marked {
                return Err(TokenError::NotAnAccessToken);
            }
            TokenKind::AppOnly
        }
    };
    Ok(AccessToken {
        kind,
        tenant_id,
        object_id,
        client_id,
        roles: claims.roles,
        expires_at,
    })
}

async fn key_for(
    provider: &OidcProvider,
    kid: &str,
    refresh: bool,
) -> Result<Option<CoreJsonWebKey>, TokenError> {
    let keys = provider
        .signing_keys(refresh)
        .await
        .map_err(|e| TokenError::Provider(e.to_string()))?;
    Ok(keys
        .into_iter()
        .find(|k| k.key_id().is_some_and(|id| id.as_str() == kid)))
}

fn decode<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://login.microsoftonline.com/tenant-1/v2.0";

    fn api() -> ApiSettings {
        ApiSettings {
            audiences: vec!["api://leasegate".into()],
            scope: "access".into(),
            person_clients: vec!["client-1".into()],
            automation_role: "Leasegate.Automation".into(),
            auditor_role: "Leasegate.Auditor".into(),
            per_minute: 60,
        }
    }

    fn claims(extra: serde_json::Value) -> Claims {
        let mut base = serde_json::json!({
            "iss": ISSUER,
            "aud": "api://leasegate",
            "exp": Utc::now().timestamp() + 600,
            "tid": "TENANT-1",
            "oid": "OID-1",
            "sub": "pairwise-subject",
            "azp": "client-1",
            "scp": "access",
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn checked(extra: serde_json::Value) -> Result<AccessToken, TokenError> {
        check(claims(extra), ISSUER, Some("tenant-1"), &api(), Utc::now())
    }

    #[test]
    fn a_persons_token_needs_the_scope() {
        let token = checked(serde_json::json!({})).unwrap();
        assert_eq!(token.kind, TokenKind::Delegated);
        assert_eq!(
            (token.tenant_id.as_str(), token.object_id.as_str()),
            ("tenant-1", "oid-1")
        );
        assert_eq!(
            checked(serde_json::json!({"scp": "openid profile"})),
            Err(TokenError::Scope)
        );
        assert_eq!(
            checked(serde_json::json!({"scp": "accessible"})),
            Err(TokenError::Scope)
        );
    }

    #[test]
    fn an_application_token_is_marked_as_one() {
        let by_idtyp = checked(serde_json::json!({"scp": null, "idtyp": "app"})).unwrap();
        assert_eq!(by_idtyp.kind, TokenKind::AppOnly);
        let by_sub = checked(serde_json::json!({"scp": null, "sub": "oid-1"})).unwrap();
        assert_eq!(by_sub.kind, TokenKind::AppOnly);
        // An ID token has no scope and no app mark: refused, whatever roles it carries.
        assert_eq!(
            checked(serde_json::json!({"scp": null, "roles": ["Leasegate.Auditor"]})),
            Err(TokenError::NotAnAccessToken)
        );
    }

    #[test]
    fn issuer_audience_lifetime_and_tenant_are_checked() {
        assert!(matches!(
            checked(serde_json::json!({"iss": "https://evil.example/v2.0"})),
            Err(TokenError::Issuer(_))
        ));
        assert_eq!(
            checked(serde_json::json!({"aud": "api://other"})),
            Err(TokenError::Audience)
        );
        assert!(checked(serde_json::json!({"aud": ["api://other", "api://leasegate"]})).is_ok());
        assert_eq!(
            checked(serde_json::json!({"exp": Utc::now().timestamp() - 61})),
            Err(TokenError::Expired)
        );
        assert!(checked(serde_json::json!({"exp": Utc::now().timestamp() - 30})).is_ok());
        assert_eq!(
            checked(serde_json::json!({"nbf": Utc::now().timestamp() + 120})),
            Err(TokenError::NotYetValid)
        );
        assert!(matches!(
            checked(serde_json::json!({"tid": "tenant-2"})),
            Err(TokenError::Tenant(_))
        ));
        assert_eq!(
            checked(serde_json::json!({"oid": null})),
            Err(TokenError::MissingClaim("oid"))
        );
        assert_eq!(
            checked(serde_json::json!({"azp": null})),
            Err(TokenError::MissingClaim("azp"))
        );
        assert!(checked(serde_json::json!({"azp": null, "appid": "client-1"})).is_ok());
    }
}
