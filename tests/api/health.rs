use reqwest::StatusCode;
use sqlx::PgPool;

use crate::harness::TestApp;

#[sqlx::test]
async fn liveness_and_readiness(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let client = app.browser();
    let live = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    app.pool.close().await;
    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let live = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK, "the process is still alive");
}
