//! Microsoft Teams membership (`GDOCS:api-reference/v1.0/api/team-post-members.md`,
//! `team-list-members.md`, `team-delete-members.md`, `resources/aaduserconversationmember.md`).
//! A team is its Microsoft 365 group: its owners are the group's owners and members, its
//! members the group's members. Adding an existing member answers 201 with the existing
//! membership (the opposite of the groups API). Membership ids are opaque.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Caller, GraphError, SimState, Simulator, empty, json_response};

const READ: &[&str] = &[
    "TeamMember.Read.All",
    "TeamMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE: &[&str] = &["TeamMember.ReadWrite.All", "Group.ReadWrite.All"];

type Handled = Result<Response, GraphError>;

fn teams_error(status: StatusCode, code: &str, message: &str) -> GraphError {
    GraphError::new(status, code, message)
}

/// Opaque to clients (they must look memberships up with `$filter`), stable here.
fn membership_id(team: &str, user: &str) -> String {
    STANDARD.encode(format!("0#{team}##{user}"))
}

fn team_id(state: &SimState, key: &str) -> Result<String, GraphError> {
    let id = key.to_lowercase();
    match state.groups.get(&id) {
        Some(g) if g.team && state.visible(g.created) => Ok(id),
        _ => Err(teams_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("No team found with Group Id {key}"),
        )),
    }
}

fn membership(state: &SimState, team: &str, user: &str) -> Option<Value> {
    let group = state.groups.get(team)?;
    if !group.members.iter().any(|m| m == user) && !group.owners.iter().any(|m| m == user) {
        return None;
    }
    let u = state.users.get(user)?;
    let roles: Vec<&str> = if group.owners.iter().any(|m| m == user) {
        vec!["owner"]
    } else if u.user_type == "Guest" {
        vec!["guest"]
    } else {
        vec![]
    };
    Some(json!({
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "id": membership_id(team, user),
        "roles": roles,
        "displayName": u.display_name,
        "userId": u.id,
        "email": u.mail,
        "tenantId": null,
    }))
}

/// `POST /teams/{id}/members`: `user@odata.bind` names the user by id or UPN; `roles` is `[]`
/// or `["owner"]`.
pub(super) async fn add(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path(team): Path<String>,
    body: Bytes,
) -> Handled {
    caller.require(WRITE)?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        teams_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Invalid body: {e}"),
        )
    })?;
    let bind = body["user@odata.bind"].as_str().unwrap_or_default();
    let key = bind
        .rsplit_once("users('")
        .and_then(|(_, rest)| rest.strip_suffix("')"))
        .or_else(|| bind.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let owner = body["roles"].as_array().is_some_and(|r| {
        r.iter()
            .any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("owner")))
    });
    sim.with(|s| {
        let team = team_id(s, &team)?;
        let user = match s.find_user(&key) {
            Some(u) if s.visible(u.created) => u.id.clone(),
            _ => {
                return Err(teams_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("User {key} was not found."),
                ));
            }
        };
        let group = s.groups.get_mut(&team).expect("checked above");
        if !group.members.contains(&user) {
            group.members.push(user.clone());
        }
        if owner && !group.owners.contains(&user) {
            group.owners.push(user.clone());
        }
        let body = membership(s, &team, &user).unwrap_or(Value::Null);
        Ok(json_response(StatusCode::CREATED, body))
    })
}

/// `GET /teams/{id}/members`, with the one `$filter` form the docs give:
/// `(microsoft.graph.aadUserConversationMember/userId eq '...')`.
pub(super) async fn list(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path(team): Path<String>,
    RawQuery(query): RawQuery,
) -> Handled {
    caller.require(READ)?;
    let params: std::collections::HashMap<String, String> = query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let wanted: Option<String> = match params.get("$filter") {
        None => None,
        Some(f) => {
            let inner = f.trim().trim_start_matches('(').trim_end_matches(')');
            let value = inner
                .strip_prefix("microsoft.graph.aadUserConversationMember/userId eq '")
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(|| {
                    teams_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        &format!("The filter '{f}' is not supported."),
                    )
                })?;
            Some(value.to_lowercase())
        }
    };
    sim.with(|s| {
        let team = team_id(s, &team)?;
        let group = &s.groups[&team];
        let mut everyone: Vec<String> = group.members.clone();
        everyone.extend(group.owners.iter().filter(|o| !group.members.contains(o)).cloned());
        let value: Vec<Value> = everyone
            .iter()
            .filter(|u| wanted.as_ref().is_none_or(|w| *u == w))
            .filter_map(|u| membership(s, &team, u))
            .collect();
        Ok(json_response(
            StatusCode::OK,
            json!({
                "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/members"),
                "@odata.count": value.len(),
                "value": value,
            }),
        ))
    })
}

/// `DELETE /teams/{id}/members/{membership-id}`: 204; the last owner cannot be removed
/// (400, UNVERIFIED body); an unknown membership is 404 `NotFound`.
pub(super) async fn remove(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((team, membership)): Path<(String, String)>,
) -> Handled {
    caller.require(WRITE)?;
    sim.with(|s| {
        let team = team_id(s, &team)?;
        let group = s.groups.get(&team).expect("checked above");
        let user = group
            .members
            .iter()
            .chain(group.owners.iter())
            .find(|u| membership_id(&team, u) == membership)
            .cloned()
            .ok_or_else(|| {
                teams_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("Membership {membership} was not found in the team."),
                )
            })?;
        if group.owners == [user.clone()] {
            return Err(teams_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The last owner of a team cannot be removed.",
            ));
        }
        let group = s.groups.get_mut(&team).expect("checked above");
        group.members.retain(|m| *m != user);
        group.owners.retain(|m| *m != user);
        Ok(empty(StatusCode::NO_CONTENT))
    })
}
