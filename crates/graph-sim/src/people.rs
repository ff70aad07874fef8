//! Change tracking of users (`GDOCS:api-reference/v1.0/api/user-delta.md` and
//! `concepts/delta-query-overview.md`, summarised in `docs/people-sync.md`): a round of
//! `GET /users/delta` pages with `@odata.nextLink` until a page carries `@odata.deltaLink`,
//! whose `$deltatoken` starts the next round with only what changed since. Changed users come
//! with the selected properties; a manager change as `manager@delta` (with `manager` in
//! `$select`, since `$expand` is ignored on delta); a deleted user as `{"id", "@removed":
//! {"reason": "deleted"}}`. An expired token is 400 `syncStateNotFound`.
//!
//! Each user change takes a sequence number; a token is the sequence number its round saw,
//! signed so a client cannot make one up. The control plane changes and deletes users the way
//! an administrator would in Entra.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::directory::{base, params, user_extra, user_json};
use super::{Caller, GraphError, Simulator, empty, json_response};

const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// A signed token: `kind` (`d` for a delta token, `s` for a skip token), the sequence number
/// the round started after, the one it ends at, and how many entries were already sent.
fn token(sim: &Simulator, kind: &str, since: u64, upto: u64, offset: usize) -> String {
    let text = format!("{kind}:{since}:{upto}:{offset}");
    let tag = ring::hmac::sign(&sim.inner.key, text.as_bytes());
    let mac: String = tag.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    URL_SAFE_NO_PAD.encode(format!("{text}.{mac}"))
}

fn read_token(sim: &Simulator, kind: &str, value: &str) -> Option<(u64, u64, usize)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()?;
    let (body, _) = text.rsplit_once('.')?;
    let mut parts = body.split(':');
    if parts.next()? != kind {
        return None;
    }
    let since = parts.next()?.parse().ok()?;
    let upto = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    (token(sim, kind, since, upto, offset) == value).then_some((since, upto, offset))
}

pub(super) fn sync_state_not_found() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. Start a new delta round without a token.",
    )
}

/// `GET /users/delta`: a round's page.
pub(super) async fn delta(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    caller.require(READ_USERS)?;
    let params = params(&query);
    if params.contains_key("$expand") || params.contains_key("$top") {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported query: $expand and $top are not supported with delta.",
        ));
    }
    sim.with(|s| {
        let (since, upto, offset, select) =
            match (params.get("$deltatoken"), params.get("$skiptoken")) {
                (Some(_), Some(_)) => return Err(GraphError::bad_request("Invalid delta token.")),
                (Some(t), None) => {
                    if s.config.delta_tokens_expired {
                        return Err(sync_state_not_found());
                    }
                    let (_, upto, _) = read_token(&sim, "d", t).ok_or_else(sync_state_not_found)?;
                    (upto, s.user_sequence, 0, params.get("$select").cloned())
                }
                (None, Some(t)) => {
                    let (since, upto, offset) = read_token(&sim, "s", t)
                        .ok_or_else(|| GraphError::bad_request("Invalid or expired $skiptoken."))?;
                    (since, upto, offset, params.get("$select").cloned())
                }
                (None, None) => (0, s.user_sequence, 0, params.get("$select").cloned()),
            };
        let fields: Option<Vec<String>> = select
            .as_deref()
            .map(|f| f.split(',').map(|p| p.trim().to_string()).collect());
        let wants = |f: &str| fields.as_ref().is_none_or(|all| all.iter().any(|x| x == f));
        // What changed in (since, upto]: users as they are now, then deletions. A user
        // changed again after `upto` shows now and again next round, as Graph allows.
        let mut entries: Vec<Value> = Vec::new();
        for user in s
            .users
            .values()
            .filter(|u| u.changed > since && u.changed <= upto)
        {
            let mut all: Map<String, Value> = user_json(user);
            all.extend(user_extra(user));
            let mut out = Map::new();
            out.insert("id".into(), json!(user.id));
            for (key, value) in all {
                if key != "@odata.type" && key != "id" && wants(&key) {
                    out.insert(key, value);
                }
            }
            if fields
                .as_ref()
                .is_some_and(|f| f.iter().any(|x| x == "manager"))
            {
                let link = match &user.manager {
                    Some(manager) => {
                        json!([{ "@odata.type": "#microsoft.graph.user", "id": manager }])
                    }
                    None => json!([]),
                };
                out.insert("manager@delta".into(), link);
            }
            entries.push(Value::Object(out));
        }
        // Deletions are reported to rounds that began before them (not to a first round).
        if since > 0 {
            for (id, _) in s
                .deleted_users
                .iter()
                .filter(|(_, at)| *at > since && *at <= upto)
            {
                entries.push(json!({ "id": id, "@removed": { "reason": "deleted" } }));
            }
        }
        let size = s.config.delta_page_size.max(1);
        let value: Vec<Value> = entries.iter().skip(offset).take(size).cloned().collect();
        let mut body = json!({
            "@odata.context": format!("{}/$metadata#users", base(&headers)),
            "value": value,
        });
        let link = |kind: &str, token_value: String| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            if let Some(select) = &select {
                query.append_pair("$select", select);
            }
            query.append_pair(kind, &token_value);
            format!("{}/users/delta?{}", base(&headers), query.finish())
        };
        if offset + size < entries.len() {
            body["@odata.nextLink"] = json!(link(
                "$skiptoken",
                token(&sim, "s", since, upto, offset + size)
            ));
        } else {
            body["@odata.deltaLink"] = json!(link("$deltatoken", token(&sim, "d", since, upto, 0)));
        }
        Ok(json_response(StatusCode::OK, body))
    })
}

/// `PATCH /__sim__/users/{id}`: `department`, `jobTitle`, `displayName`, `accountEnabled`,
/// `manager` (a UPN or id, or null), as an administrator changes them.
pub(super) async fn change_user(
    State(sim): State<Simulator>,
    Path(key): Path<String>,
    Json(change): Json<Value>,
) -> Response {
    let result = sim.with(|s| {
        let id = s
            .find_user(&key)
            .map(|u| u.id.clone())
            .ok_or_else(|| format!("unknown user {key}"))?;
        let manager = match change.get("manager") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(m)) => Some(Some(
                s.find_user(m)
                    .map(|u| u.id.clone())
                    .ok_or_else(|| format!("unknown manager {m}"))?,
            )),
            Some(other) => return Err(format!("manager: {other} is not a user")),
        };
        let sequence = s.next_change();
        let user = s.users.get_mut(&id).expect("found above");
        for (field, value) in change.as_object().into_iter().flatten() {
            match (field.as_str(), value) {
                ("department", v) => user.department = v.as_str().map(str::to_string),
                ("jobTitle", v) => user.job_title = v.as_str().map(str::to_string),
                ("displayName", Value::String(v)) => user.display_name = v.clone(),
                ("accountEnabled", Value::Bool(v)) => user.account_enabled = *v,
                ("manager", _) => {}
                (other, _) => return Err(format!("`{other}` cannot be changed here")),
            }
        }
        if let Some(manager) = manager {
            user.manager = manager;
        }
        user.changed = sequence;
        Ok(())
    });
    match result {
        Ok(()) => empty(StatusCode::NO_CONTENT),
        Err(problem) => (StatusCode::BAD_REQUEST, problem).into_response(),
    }
}

/// `DELETE /__sim__/users/{id}`: the user is deleted (and leaves its groups).
pub(super) async fn delete_user(State(sim): State<Simulator>, Path(key): Path<String>) -> Response {
    sim.with(|s| {
        let Some(id) = s.find_user(&key).map(|u| u.id.clone()) else {
            return empty(StatusCode::NOT_FOUND);
        };
        s.remove_user(&id);
        empty(StatusCode::NO_CONTENT)
    })
}
