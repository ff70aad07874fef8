//! Change tracking of group membership (`GDOCS:api-reference/v1.0/api/group-delta.md` and
//! `concepts/delta-query-groups.md`): `GET /groups/delta?$filter=id eq '{id}'&$select=members`
//! pages with `@odata.nextLink` until a page carries `@odata.deltaLink`. The first round lists
//! every member of each group as `members@delta`; a round started from a `$deltatoken` lists only
//! the members added since (`{"@odata.type", "id"}`) and removed since (with `"@removed":
//! {"reason": "deleted"}`), and leaves out a group nothing changed in. A large group's members
//! are split over several pages, the group repeated on each, as Graph does. A token the
//! simulator does not know (or, with `delta_tokens_expired`, any token) is 400
//! `syncStateNotFound`: the client starts a new round.
//!
//! Like Graph, the simulator keeps each round's state on its side: a token names the member
//! lists the round ended with, so the next round is their difference with the groups now,
//! whichever way a member came or went (the API, PIM, Teams, the control plane).

use std::collections::{BTreeMap, BTreeSet};

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::directory::{READ_GROUPS, base, params};
use super::people::sync_state_not_found;
use super::{Caller, GraphError, SimState, Simulator, json_response};

/// The member lists a round ended with, by group id (`None`: the group was gone).
pub(crate) type RoundState = BTreeMap<String, Option<BTreeSet<String>>>;

/// A signed token naming a kept round state (and, for a skip token, the page's offset).
fn token(sim: &Simulator, kind: &str, state: u64, offset: usize) -> String {
    let text = format!("g{kind}:{state}:{offset}");
    let tag = ring::hmac::sign(&sim.inner.key, text.as_bytes());
    let mac: String = tag.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    URL_SAFE_NO_PAD.encode(format!("{text}.{mac}"))
}

fn read_token(sim: &Simulator, kind: &str, value: &str) -> Option<(u64, usize)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()?;
    let (body, _) = text.rsplit_once('.')?;
    let rest = body.strip_prefix(&format!("g{kind}:"))?;
    let (state, offset) = rest.split_once(':')?;
    let (state, offset) = (state.parse().ok()?, offset.parse().ok()?);
    (token(sim, kind, state, offset) == value).then_some((state, offset))
}

/// The ids a `$filter` names: `id eq '...'`, joined by `or` (Graph takes up to 50).
fn filtered_ids(filter: &str) -> Result<Vec<String>, GraphError> {
    let mut ids = Vec::new();
    for clause in filter.split(" or ") {
        let id = clause
            .trim()
            .strip_prefix("id eq '")
            .and_then(|rest| rest.strip_suffix('\''))
            .ok_or_else(|| {
                GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    "Unsupported query: only `id eq '{id}'` joined by `or` filters groups/delta.",
                )
            })?;
        ids.push(id.to_lowercase());
    }
    if ids.len() > 50 {
        return Err(GraphError::bad_request(
            "Too many ids in the filter: at most 50.",
        ));
    }
    Ok(ids)
}

/// The member lists of `ids` now.
fn now_state(s: &SimState, ids: &[String]) -> RoundState {
    ids.iter()
        .map(|id| {
            let members = s
                .groups
                .get(id)
                .map(|g| g.members.iter().cloned().collect::<BTreeSet<_>>());
            (id.clone(), members)
        })
        .collect()
}

fn member(s: &SimState, id: &str, removed: bool) -> Value {
    let kind = if s.groups.contains_key(id) {
        "#microsoft.graph.group"
    } else {
        "#microsoft.graph.user"
    };
    let mut entry = json!({ "@odata.type": kind, "id": id });
    if removed {
        entry["@removed"] = json!({ "reason": "deleted" });
    }
    entry
}

/// `GET /groups/delta`: a round's page.
pub(super) async fn delta(
    State(sim): State<Simulator>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    caller.require(READ_GROUPS)?;
    let params = params(&query);
    if params.contains_key("$expand") || params.contains_key("$top") {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported query: $expand and $top are not supported with delta.",
        ));
    }
    let select = params.get("$select").cloned();
    let wants_members = select
        .as_deref()
        .is_some_and(|s| s.split(',').any(|f| f.trim() == "members"));
    sim.with(|s| {
        // The round: the state it started from (none on a first round) and its groups; a skip
        // token answers a page of a round already made.
        let (from, ids) = match (params.get("$deltatoken"), params.get("$skiptoken")) {
            (Some(_), Some(_)) => return Err(GraphError::bad_request("Invalid delta token.")),
            (Some(t), None) => {
                if s.config.delta_tokens_expired {
                    return Err(sync_state_not_found());
                }
                let (state, _) = read_token(&sim, "d", t).ok_or_else(sync_state_not_found)?;
                let from = s
                    .group_rounds
                    .get(&state)
                    .cloned()
                    .ok_or_else(sync_state_not_found)?;
                let ids: Vec<String> = from.keys().cloned().collect();
                (Some(from), ids)
            }
            (None, Some(t)) => {
                let skipped = || GraphError::bad_request("Invalid or expired $skiptoken.");
                let (state, offset) = read_token(&sim, "s", t).ok_or_else(skipped)?;
                let pages = s.group_pages.get(&state).cloned().ok_or_else(skipped)?;
                return Ok(respond(&sim, &headers, &select, state, &pages, offset));
            }
            (None, None) => {
                let filter = params.get("$filter").ok_or_else(|| {
                    GraphError::bad_request(
                        "The simulator's groups/delta tracks named groups: give $filter=id eq '{id}'.",
                    )
                })?;
                (None, filtered_ids(filter)?)
            }
        };
        let now = now_state(s, &ids);
        // Each group's changed members, in pages: (group id, entry without members, members).
        let mut entries: Vec<(String, Vec<Value>, bool)> = Vec::new();
        for (id, members) in &now {
            let before = from.as_ref().and_then(|f| f.get(id).cloned().flatten());
            match (members, &from) {
                (None, Some(f)) if f.get(id).is_some_and(Option::is_some) => {
                    entries.push((id.clone(), Vec::new(), true));
                }
                (None, _) => {}
                (Some(members), _) => {
                    let before = before.unwrap_or_default();
                    let mut changed: Vec<Value> = members
                        .difference(&before)
                        .map(|m| member(s, m, false))
                        .collect();
                    changed.extend(before.difference(members).map(|m| member(s, m, true)));
                    if from.is_none() || !changed.is_empty() {
                        entries.push((id.clone(), changed, false));
                    }
                }
            }
        }
        let pages = split(entries, s.config.delta_page_size.max(1), wants_members);
        let state = s.keep_group_round(now, pages.clone());
        Ok(respond(&sim, &headers, &select, state, &pages, 0))
    })
}

/// A round's output, split into pages of at most `size` members each (a group with more is
/// repeated on the pages its members span). Without `members` selected, no `members@delta`.
fn split(entries: Vec<(String, Vec<Value>, bool)>, size: usize, members: bool) -> Vec<Vec<Value>> {
    let mut pages: Vec<Vec<Value>> = vec![Vec::new()];
    let mut room = size;
    for (id, changed, gone) in entries {
        if gone {
            pages
                .last_mut()
                .expect("a page")
                .push(json!({ "id": id, "@removed": { "reason": "deleted" } }));
            continue;
        }
        if !members || changed.is_empty() {
            let mut entry = json!({ "id": id });
            if members {
                entry["members@delta"] = json!([]);
            }
            pages.last_mut().expect("a page").push(entry);
            continue;
        }
        let mut rest = changed.as_slice();
        while !rest.is_empty() {
            if room == 0 {
                pages.push(Vec::new());
                room = size;
            }
            let take = rest.len().min(room);
            pages
                .last_mut()
                .expect("a page")
                .push(json!({ "id": id, "members@delta": rest[..take] }));
            rest = &rest[take..];
            room -= take;
        }
    }
    pages
}

fn respond(
    sim: &Simulator,
    headers: &HeaderMap,
    select: &Option<String>,
    state: u64,
    pages: &[Vec<Value>],
    offset: usize,
) -> Response {
    let value = pages.get(offset).cloned().unwrap_or_default();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#groups", base(headers)),
        "value": value,
    });
    let link = |kind: &str, token_value: String| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(select) = select {
            query.append_pair("$select", select);
        }
        query.append_pair(kind, &token_value);
        format!("{}/groups/delta?{}", base(headers), query.finish())
    };
    if offset + 1 < pages.len() {
        body["@odata.nextLink"] = json!(link("$skiptoken", token(sim, "s", state, offset + 1)));
    } else {
        body["@odata.deltaLink"] = json!(link("$deltatoken", token(sim, "d", state, 0)));
    }
    json_response(StatusCode::OK, body)
}
