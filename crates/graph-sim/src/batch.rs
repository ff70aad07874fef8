//! JSON batching, `POST /$batch` (`GDOCS:concepts/json-batching.md`): at most 20 requests,
//! unique ids, relative URLs; each inner request goes through the same router, so
//! authentication, faults and throttling apply to it on its own (an inner 429 carries its own
//! `Retry-After`); `dependsOn` orders them and a failed dependency gives 424; the answers come
//! in any order.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;

use super::{GraphError, Simulator, json_response};

/// At most this many requests in one batch.
const LIMIT: usize = 20;

#[derive(Deserialize)]
struct Batch {
    requests: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default, rename = "dependsOn")]
    depends_on: Vec<String>,
}

pub(super) async fn batch(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let batch: Batch = serde_json::from_slice(&body).map_err(|e| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Invalid batch payload format: {e}"),
        )
    })?;
    if batch.requests.len() > LIMIT {
        // UNVERIFIED wording: the docs give the limit, not the message.
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Number of requests in the batch exceeds the limit of 20.",
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for part in &batch.requests {
        if part.id.is_empty() || !ids.insert(part.id.to_lowercase()) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Batch request ids must be present and unique.",
            ));
        }
    }
    let router = sim.router();
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::new();
    for part in batch.requests {
        let failed_dependency = part.depends_on.iter().any(|d| {
            statuses
                .get(&d.to_lowercase())
                .is_none_or(|s| !(200..300).contains(s))
        });
        let (status, part_headers, part_body) = if failed_dependency {
            (
                424,
                Map::new(),
                json!({ "error": { "code": "FailedDependency",
                    "message": "The request failed because of a failed dependency." } }),
            )
        } else {
            run(&router, &headers, &part).await
        };
        statuses.insert(part.id.to_lowercase(), status);
        responses.push(json!({
            "id": part.id, "status": status, "headers": part_headers, "body": part_body,
        }));
    }
    let shuffle = sim.with(|s| {
        s.sequence += 1;
        s.config.batch_shuffle.then_some(s.sequence)
    });
    if let Some(seed) = shuffle {
        // A deterministic shuffle: the order is not the request order, as Graph warns.
        let mut state = seed;
        for i in (1..responses.len()).rev() {
            state = super::splitmix(state.wrapping_add(0x9E37_79B9_7F4A_7C15));
            responses.swap(i, (state % (i as u64 + 1)) as usize);
        }
    }
    Ok(json_response(
        StatusCode::OK,
        json!({ "responses": responses }),
    ))
}

/// One inner request through the router; its status, headers and JSON body.
async fn run(
    router: &axum::Router,
    outer: &HeaderMap,
    part: &Part,
) -> (u16, Map<String, Value>, Value) {
    let bad = |message: &str| {
        (
            400,
            Map::new(),
            json!({ "error": { "code": "BadRequest", "message": message } }),
        )
    };
    if part.body.is_some()
        && !part
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
    {
        return bad("A request with a body must specify its Content-Type header.");
    }
    let url = part.url.trim_start_matches('/');
    let mut builder = Request::builder()
        .method(part.method.to_uppercase().as_str())
        .uri(format!("/v1.0/{url}"))
        .header("x-sim-batch", "1");
    for name in ["authorization", "host", "client-request-id"] {
        if let Some(v) = outer.get(name) {
            builder = builder.header(name, v);
        }
    }
    for (k, v) in &part.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = part
        .body
        .as_ref()
        .map(|b| Body::from(b.to_string()))
        .unwrap_or_else(Body::empty);
    let Ok(request) = builder.body(body) else {
        return bad("Invalid request in batch.");
    };
    let response = match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for name in ["retry-after", "location", "content-type"] {
        if let Some(v) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            let pretty = match name {
                "retry-after" => "Retry-After",
                "location" => "Location",
                _ => "Content-Type",
            };
            headers.insert(pretty.into(), json!(v));
        }
    }
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    (status, headers, body)
}
