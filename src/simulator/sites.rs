//! SharePoint team sites of Microsoft 365 groups (`GDOCS:api-reference/v1.0/api/site-get.md`,
//! "Access the root SharePoint site for a group", and §6.2 of `../shared/docs/microsoft-apis.md`):
//! a Microsoft 365 group has a team site whose members and owners are the group's. Security
//! groups have none. Site ids have Graph's form `{hostname},{site-collection-id},{web-id}`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{Caller, GraphError, Simulator, json_response};

const READ: &[&str] = &[
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.Manage.All",
    "Sites.FullControl.All",
];

/// `GET /groups/{id}/sites/root`: the group's team site; 404 `itemNotFound` when the group
/// has none (not a Microsoft 365 group) and `Request_ResourceNotFound` when the group is
/// missing.
pub(super) async fn group_site(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    Path((key, site)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    if site != "root" {
        return Err(GraphError::bad_request(format!(
            "Resource not found for the segment '{site}'."
        )));
    }
    caller.require(READ)?;
    sim.with(|s| {
        let id = key.to_lowercase();
        let group = match s.groups.get(&id) {
            Some(g) if s.visible(g.created) => g,
            _ => return Err(GraphError::not_found(&key)),
        };
        if !group.unified() {
            return Err(GraphError::new(
                StatusCode::NOT_FOUND,
                "itemNotFound",
                "Requested site could not be found",
            ));
        }
        let name: String = group
            .display_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let host = format!(
            "{}.sharepoint.com",
            s.domain.split('.').next().unwrap_or("contoso")
        );
        Ok(json_response(
            StatusCode::OK,
            json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites/$entity",
                "id": format!("{host},{},{}", group.id, web_id(&group.id)),
                "name": name,
                "displayName": group.display_name,
                "webUrl": format!("https://{host}/sites/{name}"),
                "createdDateTime": group.created,
                "siteCollection": { "hostname": host },
            }),
        ))
    })
}

/// The site's web id: stable for a group, and not the group's id.
fn web_id(group: &str) -> uuid::Uuid {
    super::stable_guid(&format!("web:{group}"))
}
