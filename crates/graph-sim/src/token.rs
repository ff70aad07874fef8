//! The Microsoft identity platform's v2.0 token endpoint, client-credentials flow with a client
//! secret (`ENTRA:docs/identity-platform/v2-oauth2-client-creds-grant-flow.md`), and the check
//! of the tokens it issues on every Graph call.
//!
//! Entra signs access tokens with RS256 and its clients must treat them as opaque; so the
//! signature is the simulator's own business: it signs HS256 with a random per-process key and
//! checks that signature, the audience and the expiry on its own clock.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{Caller, GraphError, Simulator};

pub(super) const GRAPH: &str = "https://graph.microsoft.com";
pub(super) const ARM: &str = "https://management.azure.com";

/// An AADSTS error as the token endpoint answers it.
fn refusal(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let now = chrono::Utc::now();
    let trace = uuid::Uuid::new_v4();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}",
            now.format("%Y-%m-%d %H:%M:%SZ")
        ),
        "error_codes": [code],
        "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace.to_string(),
        "correlation_id": trace.to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(super) async fn issue(
    State(sim): State<Simulator>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    if !tenant.eq_ignore_ascii_case(sim.tenant()) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    // The client may authenticate in the body or with HTTP Basic (RFC 6749 §2.3.1).
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            v.split_once(':').map(|(id, secret)| {
                let decode = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (decode(id), decode(secret))
            })
        });
    let (client_id, secret) = match (&basic, form.get("client_id"), form.get("client_secret")) {
        (Some((id, secret)), _, _) => (id.clone(), Some(secret.clone())),
        (None, Some(id), secret) => (id.clone(), secret.cloned()),
        (None, None, _) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            );
        }
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            );
        }
        None => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            );
        }
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    let resource = match scope.trim() {
        s if s == format!("{GRAPH}/.default") || s == format!("{GRAPH}//.default") => GRAPH,
        s if s == format!("{ARM}/.default") || s == format!("{ARM}//.default") => ARM,
        _ => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                &format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{scope}'. The scope must be one resource's /.default."
                ),
            );
        }
    };
    let Some(app) = sim.with(|s| s.apps.get(&client_id.to_lowercase()).cloned()) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                sim.tenant()
            ),
        );
    };
    if let Some(jwt) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            );
        }
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let token_url = format!("http://{host}{}", uri.path());
        let now = sim.with(|s| s.now()).timestamp();
        let client = client_id.to_lowercase();
        match super::assertion::check(jwt, &client, &app.certificates, &token_url, now) {
            Ok((jti, exp)) => {
                let replayed = sim.with(|s| {
                    s.assertions_seen.retain(|_, e| *e > now);
                    s.assertions_seen.insert(jti, exp).is_some()
                });
                if replayed {
                    return refusal(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        7000274,
                        "The client assertion has already been used (jti replayed).",
                    );
                }
            }
            Err(problem) => {
                return refusal(
                    if problem.unauthorized {
                        StatusCode::UNAUTHORIZED
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                    if problem.unauthorized {
                        "invalid_client"
                    } else {
                        "invalid_request"
                    },
                    problem.code,
                    &problem.description,
                );
            }
        }
        return issue_token(&sim, &client_id, &app, resource);
    }
    let Some(secret) = secret else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    };
    // A simulator: a plain comparison (Entra's own is its business).
    if secret != app.secret {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
        );
    }
    issue_token(&sim, &client_id, &app, resource)
}

/// A signed access token for `app` and `resource`, as the endpoint answers it.
fn issue_token(sim: &Simulator, client_id: &str, app: &super::App, resource: &str) -> Response {
    let (now, lifetime) = sim.with(|s| (s.now(), s.config.token_lifetime_seconds));
    let claims = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{}/", sim.tenant()),
        "tid": sim.tenant(),
        "appid": client_id.to_lowercase(),
        "azp": client_id.to_lowercase(),
        "oid": client_id.to_lowercase(),
        "roles": app.roles,
        "iat": now.timestamp(),
        "nbf": now.timestamp(),
        "exp": now.timestamp() + lifetime,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let token = sign(sim, &claims);
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        })
        .to_string(),
    )
        .into_response()
}

fn sign(sim: &Simulator, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let tag = ring::hmac::sign(&sim.inner.key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The caller of a Graph route, from its bearer token; Graph's 401 otherwise.
pub(super) fn verify(
    sim: &Simulator,
    headers: &HeaderMap,
    audience: &str,
) -> Result<Caller, GraphError> {
    let unauthorized = |message: &str| {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    };
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("Access token is empty."))?;
    let parts: Vec<&str> = token.split('.').collect();
    let malformed = || unauthorized("CompactToken parsing failed with error code: 80049217");
    if parts.len() != 3 {
        return Err(malformed());
    }
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| malformed())?;
    ring::hmac::verify(
        &sim.inner.key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &signature,
    )
    .map_err(|_| unauthorized("Access token validation failure. Invalid signature."))?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(malformed)?;
    if claims["aud"].as_str() != Some(audience) {
        // ARM says it with its own code.
        return Err(if audience == ARM {
            GraphError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenAudience",
                "The access token has been obtained for wrong audience or resource.",
            )
        } else {
            unauthorized("Invalid audience.")
        });
    }
    let now = sim.with(|s| s.now()).timestamp();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let nbf = claims["nbf"].as_i64().unwrap_or(0);
    if now >= exp || now + 300 < nbf {
        return Err(unauthorized(
            "Access token has expired or is not yet valid.",
        ));
    }
    Ok(Caller {
        app: claims["appid"].as_str().unwrap_or_default().to_string(),
        roles: claims["roles"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    })
}
