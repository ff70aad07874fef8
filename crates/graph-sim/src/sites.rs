//! SharePoint Online sites and their document libraries, from Graph's documentation:
//!
//! - Team sites of Microsoft 365 groups (`GDOCS:api-reference/v1.0/api/site-get.md`, "Access
//!   the root SharePoint site for a group", and §6.2 of `../shared/docs/microsoft-apis.md`): a
//!   Microsoft 365 group has a team site whose members and owners are the group's. Security
//!   groups have none.
//! - Sites without a group, seeded by id. Site ids have Graph's form
//!   `{hostname},{site-collection-id},{web-id}`.
//! - Each site's default document library (`drive-get.md`), whose root is shared with people by
//!   `driveitem-invite.md`, listed by `driveitem-list-permissions.md`, changed by
//!   `permission-update.md` and removed by `permission-delete.md` (§6.3).
//!
//! Behaviours the documentation leaves open, chosen here and said so:
//! - A person has one direct permission on the root; a second invite adds its roles to it
//!   (UNVERIFIED: SharePoint keeps one role assignment per principal and object), or, with
//!   `invite_replaces_roles`, replaces them (the other reading of the same silence).
//! - Every sharing change moves the root's `eTag`, which `If-Match` on a change or removal is
//!   checked against (412 `resourceModified`; UNVERIFIED whether SharePoint moves the eTag on a
//!   sharing change).
//! - The site's own groups (Owners, Members, Visitors) show as inherited permissions, which
//!   cannot be removed (403 `accessDenied`, UNVERIFIED code).
//! - `expirationDateTime` on an invite is refused with 400 `invalidRequest` (what the field
//!   sees on SharePoint), unless `invite_expiration_supported` is on; then shares expire on the
//!   simulator's clock.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Caller, GraphError, SimState, Simulator, empty, json_response};

const READ: &[&str] = &[
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.Manage.All",
    "Sites.FullControl.All",
];
const FILES_READ: &[&str] = &[
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.Manage.All",
    "Sites.FullControl.All",
];
const FILES_WRITE: &[&str] = &[
    "Files.ReadWrite.All",
    "Sites.ReadWrite.All",
    "Sites.Manage.All",
    "Sites.FullControl.All",
];

type Handled = Result<Response, GraphError>;

/// A site without a Microsoft 365 group.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub created: DateTime<Utc>,
}

/// A site's default document library: its root's sharing.
#[derive(Debug, Clone)]
pub(crate) struct Library {
    pub id: String,
    /// The site it belongs to: a site id, or a group id for a group's team site.
    pub site: String,
    pub root: String,
    /// Moves with every sharing change; the root's eTag is `"{root},{version}"`.
    pub version: u64,
    pub shares: Vec<Share>,
}

#[derive(Debug, Clone)]
pub(crate) struct Share {
    pub id: String,
    pub roles: Vec<String>,
    /// A person (object id), or one of the site's own groups by name (inherited).
    pub user: Option<String>,
    pub site_group: Option<String>,
    pub expires: Option<DateTime<Utc>>,
}

impl Library {
    fn new(site: &str, title: &str) -> Self {
        let id = format!(
            "b!{}",
            super::stable_guid(&format!("drive:{site}")).simple()
        );
        let root = format!(
            "01{}",
            super::stable_guid(&format!("root:{site}"))
                .simple()
                .to_string()
                .to_uppercase()
        );
        let shares = [
            ("Owners", "owner"),
            ("Members", "write"),
            ("Visitors", "read"),
        ]
        .iter()
        .enumerate()
        .map(|(n, (group, role))| Share {
            id: format!("site-group-{}", n + 3),
            roles: vec![role.to_string()],
            user: None,
            site_group: Some(format!("{title} {group}")),
            expires: None,
        })
        .collect();
        Self {
            id,
            site: site.to_string(),
            root,
            version: 1,
            shares,
        }
    }

    fn etag(&self) -> String {
        format!("\"{{{}}},{}\"", self.root, self.version)
    }
}

fn item_not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "The resource could not be found.",
    )
}

fn invalid(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "invalidRequest", message)
}

/// The drive API's own refusal (camelCase), not the directory's.
fn require(caller: &Caller, roles: &[&str]) -> Result<(), GraphError> {
    if caller.has_any(roles) {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "accessDenied",
            "Access denied. You do not have permission to perform this action or access this resource.",
        ))
    }
}

fn host(state: &SimState) -> String {
    format!(
        "{}.sharepoint.com",
        state.domain.split('.').next().unwrap_or("contoso")
    )
}

/// The team site of a Microsoft 365 group, as Graph shows it.
fn group_site_json(state: &SimState, group: &super::Group) -> Value {
    let name: String = group
        .display_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let host = host(state);
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites/$entity",
        "id": format!("{host},{},{}", group.id, web_id(&group.id)),
        "name": name,
        "displayName": group.display_name,
        "webUrl": format!("https://{host}/sites/{name}"),
        "createdDateTime": group.created,
        "siteCollection": { "hostname": host },
    })
}

fn site_json(state: &SimState, site: &Site) -> Value {
    let host = host(state);
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites/$entity",
        "id": site.id,
        "name": site.name,
        "displayName": site.display_name,
        "webUrl": format!("https://{host}/sites/{}", site.name),
        "createdDateTime": site.created,
        "siteCollection": { "hostname": host },
    })
}

/// A route's last segment, which only `expected` may be: Graph's answer for any other.
fn segment_is(segment: &str, expected: &str) -> Result<(), GraphError> {
    if segment == expected {
        Ok(())
    } else {
        Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{segment}'."
        )))
    }
}

/// `GET /groups/{id}/sites/root`: the group's team site; 404 `itemNotFound` when the group
/// has none (not a Microsoft 365 group) and `Request_ResourceNotFound` when the group is
/// missing.
pub(super) async fn group_site(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((key, site)): Path<(String, String)>,
) -> Handled {
    segment_is(&site, "root")?;
    caller.require(READ)?;
    sim.with(|s| {
        let group = unified_group(s, &key)?;
        Ok(json_response(StatusCode::OK, group_site_json(s, group)))
    })
}

fn unified_group<'a>(state: &'a SimState, key: &str) -> Result<&'a super::Group, GraphError> {
    let group = match state.groups.get(&key.to_lowercase()) {
        Some(g) if state.visible(g.created) => g,
        _ => return Err(GraphError::not_found(key)),
    };
    if !group.unified() {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "Requested site could not be found",
        ));
    }
    Ok(group)
}

/// What a site id names: a seeded site without a group, or a group's team site (by the id
/// [`group_site_json`] gives it). The key libraries are filed under, and the site's title.
fn find_site(state: &SimState, id: &str) -> Option<(String, Value)> {
    let id = id.to_lowercase();
    if let Some(site) = state.sites.get(&id) {
        return (state.visible(site.created)).then(|| (id.clone(), site_json(state, site)));
    }
    let parts: Vec<&str> = id.split(',').collect();
    let [_, group, web] = parts.as_slice() else {
        return None;
    };
    let found = state.groups.get(*group)?;
    (found.unified() && state.visible(found.created) && web_id(group).to_string() == *web)
        .then(|| (found.id.clone(), group_site_json(state, found)))
}

/// `GET /sites/{site-id}` (`site-get.md`): 404 `itemNotFound` for an unknown site.
pub(super) async fn get_site(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Handled {
    caller.require(READ)?;
    sim.with(|s| match find_site(s, &id) {
        Some((_, site)) => Ok(json_response(StatusCode::OK, site)),
        None => Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "Requested site could not be found",
        )),
    })
}

/// The drive of a library, as `drive-get.md` shows it: a group's library is owned by the
/// group.
fn drive_json(state: &SimState, library: &Library) -> Value {
    let owner = match state.groups.get(&library.site) {
        Some(group) => json!({ "group": { "id": group.id, "displayName": group.display_name } }),
        None => json!({ "user": { "displayName": "System Account" } }),
    };
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#drives/$entity",
        "id": library.id,
        "driveType": "documentLibrary",
        "name": "Documents",
        "owner": owner,
        "webUrl": format!("https://{}/Shared%20Documents", host(state)),
    })
}

/// The library of the site filed under `key` (made on first use), titled `title`.
fn library_of<'a>(state: &'a mut SimState, key: &str, title: &str) -> &'a Library {
    let library = Library::new(key, title);
    let id = library.id.clone();
    state.libraries.entry(id).or_insert(library)
}

/// `GET /sites/{site-id}/drive`: the site's default document library.
pub(super) async fn site_drive(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((id, relation)): Path<(String, String)>,
) -> Handled {
    segment_is(&relation, "drive")?;
    require(&caller, FILES_READ)?;
    sim.with(|s| {
        let Some((key, site)) = find_site(s, &id) else {
            return Err(item_not_found());
        };
        let title = site["displayName"].as_str().unwrap_or_default().to_string();
        let library = library_of(s, &key, &title).clone();
        Ok(json_response(StatusCode::OK, drive_json(s, &library)))
    })
}

/// `GET /groups/{id}/drive`: a Microsoft 365 group's document library.
pub(super) async fn group_drive(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Handled {
    require(&caller, FILES_READ)?;
    sim.with(|s| {
        let group = unified_group(s, &key)?;
        let (id, title) = (group.id.clone(), group.display_name.clone());
        let library = library_of(s, &id, &title).clone();
        Ok(json_response(StatusCode::OK, drive_json(s, &library)))
    })
}

/// The library `drive` with its item `item` (only the root: `root` or its id), its expired
/// shares gone.
fn library_mut<'a>(
    state: &'a mut SimState,
    drive: &str,
    item: &str,
) -> Result<&'a mut Library, GraphError> {
    let now = state.now();
    let library = state.libraries.get_mut(drive).ok_or_else(item_not_found)?;
    if item != "root" && !item.eq_ignore_ascii_case(&library.root) {
        return Err(item_not_found());
    }
    let before = library.shares.len();
    library.shares.retain(|s| s.expires.is_none_or(|e| e > now));
    if library.shares.len() != before {
        library.version += 1;
    }
    Ok(library)
}

fn share_json(state: &SimState, library: &Library, share: &Share) -> Value {
    let mut value = match (&share.user, &share.site_group) {
        (Some(user), _) => {
            let person = state.users.get(user);
            let name = person.map(|u| u.display_name.clone()).unwrap_or_default();
            let upn = person.map(|u| u.upn.clone()).unwrap_or_default();
            json!({
                "id": share.id,
                "roles": share.roles,
                "grantedToV2": {
                    "user": { "id": user, "displayName": name },
                    "siteUser": {
                        "id": (super::stable_guid(user).as_u128() % 1000).to_string(),
                        "displayName": name,
                        "loginName": format!("i:0#.f|membership|{}", upn.to_lowercase()),
                    },
                },
                "grantedTo": { "user": { "id": user, "displayName": name } },
                "invitation": { "email": person.and_then(|u| u.mail.clone()), "signInRequired": true },
                "shareId": share.id,
            })
        }
        (None, group) => json!({
            "id": share.id,
            "roles": share.roles,
            "grantedToV2": { "siteGroup": {
                "id": share.id.trim_start_matches("site-group-"),
                "displayName": group,
                "loginName": group,
            }},
            "inheritedFrom": { "driveId": library.id, "path": format!("/drives/{}/root:", library.id) },
        }),
    };
    if let Some(expires) = share.expires {
        value["expirationDateTime"] = json!(expires);
    }
    value
}

/// `GET /drives/{drive-id}/items/{item-id}`: the root folder with its eTag.
pub(super) async fn get_item(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((drive, item)): Path<(String, String)>,
) -> Handled {
    require(&caller, FILES_READ)?;
    sim.with(|s| {
        let library = library_mut(s, &drive, &item)?.clone();
        Ok(json_response(
            StatusCode::OK,
            json!({
                "id": library.root,
                "name": "root",
                "eTag": library.etag(),
                "cTag": format!("\"c:{{{}}},{}\"", library.root, library.version),
                "root": {},
                "folder": { "childCount": 0 },
                "parentReference": { "driveId": library.id, "driveType": "documentLibrary" },
            }),
        ))
    })
}

/// `GET /drives/{drive-id}/items/{item-id}/permissions` (`driveitem-list-permissions.md`):
/// inherited and direct permissions, unpaged.
pub(super) async fn list_permissions(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((drive, item)): Path<(String, String)>,
) -> Handled {
    require(&caller, FILES_READ)?;
    sim.with(|s| {
        let library = library_mut(s, &drive, &item)?.clone();
        let value: Vec<Value> = library
            .shares
            .iter()
            .map(|share| share_json(s, &library, share))
            .collect();
        Ok(json_response(StatusCode::OK, json!({ "value": value })))
    })
}

/// `POST /drives/{drive-id}/items/{item-id}/invite` (`driveitem-invite.md`): 200 with one
/// permission per recipient.
pub(super) async fn invite(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((drive, item)): Path<(String, String)>,
    body: Bytes,
) -> Handled {
    require(&caller, FILES_WRITE)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| invalid("Invalid request"))?;
    let recipients = body["recipients"].as_array().cloned().unwrap_or_default();
    if recipients.is_empty() {
        return Err(invalid("At least one recipient is required."));
    }
    let mut roles: Vec<String> = Vec::new();
    for role in body["roles"].as_array().cloned().unwrap_or_default() {
        match role.as_str() {
            Some(r @ ("read" | "write")) => roles.push(r.to_string()),
            _ => return Err(invalid("Invalid request")),
        }
    }
    if roles.is_empty() {
        return Err(invalid("Invalid request"));
    }
    // A folder (the root is one) cannot be shared without sign-in.
    if body["requireSignIn"] == json!(false) {
        return Err(invalid("Invalid request"));
    }
    sim.with(|s| {
        let expires = match body.get("expirationDateTime") {
            None | Some(Value::Null) => None,
            Some(_) if !s.config.invite_expiration_supported => {
                return Err(invalid("Invalid request"));
            }
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| invalid("Invalid request"))?,
            ),
        };
        let mut users = Vec::new();
        for recipient in &recipients {
            let key = recipient["objectId"]
                .as_str()
                .or_else(|| recipient["email"].as_str())
                .unwrap_or_default();
            let found = s.find_user(key).or_else(|| {
                s.users.values().find(|u| {
                    u.mail
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(key))
                })
            });
            match found {
                Some(u) if s.visible(u.created) => users.push(u.id.clone()),
                _ => return Err(invalid("One or more recipients could not be resolved.")),
            }
        }
        let replace = s.config.invite_replaces_roles;
        let library = library_mut(s, &drive, &item)?;
        let mut changed = false;
        let mut ids = Vec::new();
        for user in &users {
            let share = match library
                .shares
                .iter_mut()
                .find(|share| share.user.as_deref() == Some(user.as_str()))
            {
                Some(share) => share,
                None => {
                    library.shares.push(Share {
                        id: uuid::Uuid::new_v4().simple().to_string(),
                        roles: Vec::new(),
                        user: Some(user.clone()),
                        site_group: None,
                        expires: None,
                    });
                    library.shares.last_mut().expect("just pushed")
                }
            };
            if replace {
                if share.roles != roles {
                    share.roles = roles.clone();
                    changed = true;
                }
            } else {
                for role in &roles {
                    if !share.roles.contains(role) {
                        share.roles.push(role.clone());
                        share.roles.sort();
                        changed = true;
                    }
                }
            }
            if expires.is_some() && share.expires != expires {
                share.expires = expires;
                changed = true;
            }
            ids.push(share.id.clone());
        }
        if changed {
            library.version += 1;
        }
        let library = library.clone();
        let value: Vec<Value> = ids
            .iter()
            .filter_map(|id| library.shares.iter().find(|share| &share.id == id))
            .map(|share| share_json(s, &library, share))
            .collect();
        Ok(json_response(StatusCode::OK, json!({ "value": value })))
    })
}

/// `If-Match` against the root's eTag: 412 `resourceModified` on a mismatch.
fn check_if_match(headers: &HeaderMap, library: &Library) -> Result<(), GraphError> {
    let Some(tag) = headers.get("if-match").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    if tag.trim() == "*" || tag.trim() == library.etag() {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::PRECONDITION_FAILED,
            "resourceModified",
            "ETag does not match current item's value",
        ))
    }
}

/// The direct share `permission` of the library, or why it cannot be changed.
fn direct_share<'a>(
    library: &'a mut Library,
    permission: &str,
) -> Result<&'a mut Share, GraphError> {
    match library.shares.iter_mut().find(|s| s.id == permission) {
        Some(share) if share.user.is_none() => Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "accessDenied",
            "Inherited permissions cannot be changed on this item.",
        )),
        Some(share) => Ok(share),
        None => Err(item_not_found()),
    }
}

/// `DELETE /drives/{drive-id}/items/{item-id}/permissions/{perm-id}` (`permission-delete.md`):
/// 204; only direct permissions; `If-Match` honoured.
pub(super) async fn delete_permission(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((drive, item, permission)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Handled {
    require(&caller, FILES_WRITE)?;
    sim.with(|s| {
        let library = library_mut(s, &drive, &item)?;
        check_if_match(&headers, library)?;
        direct_share(library, &permission)?;
        library.shares.retain(|share| share.id != permission);
        library.version += 1;
        Ok(empty(StatusCode::NO_CONTENT))
    })
}

/// `PATCH /drives/{drive-id}/items/{item-id}/permissions/{perm-id}` (`permission-update.md`):
/// only `roles` can change; 200 with the permission.
pub(super) async fn update_permission(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((drive, item, permission)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Handled {
    require(&caller, FILES_WRITE)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| invalid("Invalid request"))?;
    let only_roles = body
        .as_object()
        .is_some_and(|o| o.keys().all(|k| k == "roles"));
    let roles: Option<Vec<String>> = body["roles"].as_array().and_then(|roles| {
        roles
            .iter()
            .map(|r| match r.as_str() {
                Some(r @ ("read" | "write")) => Some(r.to_string()),
                _ => None,
            })
            .collect()
    });
    let Some(mut roles) = roles.filter(|r| only_roles && !r.is_empty()) else {
        return Err(invalid("Invalid request"));
    };
    roles.sort();
    roles.dedup();
    sim.with(|s| {
        let library = library_mut(s, &drive, &item)?;
        check_if_match(&headers, library)?;
        direct_share(library, &permission)?.roles = roles;
        library.version += 1;
        let library = library.clone();
        let share = library
            .shares
            .iter()
            .find(|share| share.id == permission)
            .expect("changed above");
        Ok(json_response(
            StatusCode::OK,
            share_json(s, &library, share),
        ))
    })
}

/// The libraries' sharing for `/__sim__/state`: direct shares by person, with roles.
pub(super) fn state_json(state: &SimState) -> Value {
    json!({
        "sites": state.sites.values().map(|site| json!({
            "id": site.id, "displayName": site.display_name,
        })).collect::<Vec<_>>(),
        "libraries": state.libraries.values().map(|library| json!({
            "id": library.id,
            "site": library.site,
            "eTag": library.etag(),
            "shares": library.shares.iter().filter(|s| s.user.is_some()).map(|share| json!({
                "id": share.id,
                "user": share.user,
                "userPrincipalName": share.user.as_ref().and_then(|u| state.users.get(u)).map(|u| u.upn.clone()),
                "roles": share.roles,
                "expirationDateTime": share.expires,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Adds a site without a group (`/__sim__/seed`'s `sites`): `id` is made up when absent.
pub(super) fn seed_site(
    state: &mut SimState,
    id: Option<&str>,
    name: &str,
    display_name: &str,
) -> Result<String, String> {
    let id = match id {
        Some(id) if crate::ids::is_site_id(id) => id.to_lowercase(),
        Some(id) => return Err(format!("`{id}` is not a site id (<host>,<guid>,<guid>)")),
        None => format!(
            "{},{},{}",
            host(state),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        ),
    };
    let created = state.now() - chrono::Duration::hours(1);
    state.sites.insert(
        id.clone(),
        Site {
            id: id.clone(),
            name: name.to_string(),
            display_name: display_name.to_string(),
            created,
        },
    );
    Ok(id)
}

/// The site's web id: stable for a group, and not the group's id.
fn web_id(group: &str) -> uuid::Uuid {
    super::stable_guid(&format!("web:{group}"))
}

/// A standing direct share of a seeded site's library (`/__sim__/seed`).
pub(super) fn seed_share(
    state: &mut SimState,
    site: &str,
    title: &str,
    user: &str,
    roles: &[String],
) -> Result<(), String> {
    if roles.is_empty() || roles.iter().any(|r| r != "read" && r != "write") {
        return Err(format!("share roles are `read` and `write`, not {roles:?}"));
    }
    let drive = library_of(state, site, title).id.clone();
    let library = state.libraries.get_mut(&drive).expect("made above");
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    library.shares.push(Share {
        id: uuid::Uuid::new_v4().simple().to_string(),
        roles,
        user: Some(user.to_string()),
        site_group: None,
        expires: None,
    });
    library.version += 1;
    Ok(())
}
