//! B2B invitations and the user writes a guest's life needs, from
//! `GDOCS:api-reference/v1.0/api/invitation-post.md`, `resources/invitation.md`,
//! `user-update.md` and `user-delete.md`: the guest user exists as soon as the invitation is
//! made (redemption is interactive and has no API), with a `#EXT#` sign-in name; inviting an
//! address the tenant already has answers with that user (unverified in the documentation, as
//! `../shared/docs/microsoft-apis.md` §7.1 says); a deleted user goes where `users/delta`
//! reports it as removed.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Caller, GraphError, Simulator, User, empty, json_response};

const INVITE: &[&str] = &[
    "User.Invite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const WRITE_USERS: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];

type Handled = Result<Response, GraphError>;

/// `POST /invitations`.
pub(super) async fn invite(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<Value>,
) -> Handled {
    caller.require(INVITE)?;
    let email = body["invitedUserEmailAddress"]
        .as_str()
        .map(str::trim)
        .filter(|e| {
            e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        })
        .ok_or_else(|| {
            GraphError::bad_request("Invalid or missing property 'invitedUserEmailAddress'.")
        })?
        .to_string();
    let redirect = body["inviteRedirectUrl"]
        .as_str()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or_else(|| GraphError::bad_request("Invalid or missing property 'inviteRedirectUrl'."))?
        .to_string();
    sim.with(|s| {
        if s.config.invitations_restricted {
            return Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Guest invitations not allowed for your company. Please contact your company \
                 administrator for more details.",
            ));
        }
        let existing = s
            .users
            .values()
            .find(|u| {
                u.mail
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(&email))
            })
            .map(|u| u.id.clone());
        let id = match existing {
            Some(id) => id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let upn = format!("{}#EXT#@{}", email.replace('@', "_"), s.domain);
                let now = s.now();
                let changed = s.next_change();
                s.users.insert(
                    id.clone(),
                    User {
                        id: id.clone(),
                        upn,
                        display_name: body["invitedUserDisplayName"]
                            .as_str()
                            .filter(|n| !n.trim().is_empty())
                            .unwrap_or(&email)
                            .to_string(),
                        account_enabled: true,
                        department: None,
                        job_title: None,
                        mail: Some(email.clone()),
                        user_type: "Guest".into(),
                        manager: None,
                        on_premises_immutable_id: None,
                        on_premises_sync_enabled: None,
                        created: now,
                        changed,
                    },
                );
                id
            }
        };
        let invitation = uuid::Uuid::new_v4();
        Ok(json_response(
            StatusCode::CREATED,
            json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#invitations/$entity",
                "id": invitation,
                "inviteRedeemUrl": format!(
                    "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3d{}%26ticket%3d{invitation}",
                    sim.tenant()
                ),
                "invitedUserDisplayName": body["invitedUserDisplayName"],
                "invitedUserType": "Guest",
                "invitedUserEmailAddress": email,
                "sendInvitationMessage": body["sendInvitationMessage"].as_bool().unwrap_or(false),
                "resetRedemption": false,
                "inviteRedirectUrl": redirect,
                "status": "PendingAcceptance",
                "invitedUserMessageInfo": body["invitedUserMessageInfo"],
                "invitedUser": { "id": id },
            }),
        ))
    })
}

/// `PATCH /users/{id}`: `accountEnabled` and `displayName`.
pub(super) async fn update_user(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    Json(change): Json<Value>,
) -> Handled {
    caller.require(WRITE_USERS)?;
    sim.with(|s| {
        let id = s
            .find_user(&key)
            .filter(|u| s.visible(u.created))
            .map(|u| u.id.clone())
            .ok_or_else(|| GraphError::not_found(&key))?;
        let sequence = s.next_change();
        let user = s.users.get_mut(&id).expect("found above");
        for (field, value) in change.as_object().into_iter().flatten() {
            match (field.as_str(), value) {
                ("accountEnabled", Value::Bool(v)) => user.account_enabled = *v,
                ("displayName", Value::String(v)) if !v.trim().is_empty() => {
                    user.display_name = v.clone()
                }
                (other, _) => {
                    return Err(GraphError::bad_request(format!(
                        "Invalid value for property '{other}'."
                    )));
                }
            }
        }
        user.changed = sequence;
        Ok(empty(StatusCode::NO_CONTENT))
    })
}

/// `DELETE /users/{id}`: the user leaves its groups and is reported removed by `users/delta`.
pub(super) async fn delete_user(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Handled {
    caller.require(WRITE_USERS)?;
    sim.with(|s| {
        let id = s
            .find_user(&key)
            .map(|u| u.id.clone())
            .ok_or_else(|| GraphError::not_found(&key))?;
        s.remove_user(&id);
        Ok(empty(StatusCode::NO_CONTENT))
    })
}
