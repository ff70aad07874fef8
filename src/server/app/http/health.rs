use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use crate::server::app::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers within two seconds, and the engine, where this process
/// runs one, has not stopped. The body also lists every background job's last run, as any
/// replica recorded it (a failing job does not take the portal out of rotation: every replica
/// would fail alike, and people could no longer even see their access).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    if state.engine.has_stopped() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "engine": state.engine.describe() })),
        );
    }
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::server::db::jobs::all(&state.pool),
    )
    .await;
    match check {
        Ok(Ok(runs)) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "database": "ok",
                "engine": state.engine.describe(),
                "jobs": runs.iter().map(job_json).collect::<Vec<_>>(),
            })),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database query failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "database": "unreachable" })),
            )
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer within 2 s");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "database": "timeout" })),
            )
        }
    }
}

/// A job's last run; `late` as `JobRun::is_late` says.
fn job_json(run: &crate::server::db::jobs::JobRun) -> serde_json::Value {
    json!({
        "job": run.job,
        "last_run": run.finished_at,
        "last_ok": run.ok_at,
        "error": run.error,
        "failures": run.failures,
        "next_due": run.next_due_at,
        "late": run.is_late(chrono::Utc::now()),
        "worker": run.worker,
    })
}
