//! Signed-in people for the HTTP benchmarks: sessions written straight into the session store
//! (the sign-in itself is measured by nothing here), and clients that carry their cookie.

use std::sync::Arc;
use std::time::Duration;

use leasegate::server::app::auth::session::SessionUser;
use leasegate::server::app::router::SESSION_COOKIE;
use tower_sessions::session::{Id, Record};
use tower_sessions::{SessionStore as _, cookie::time::OffsetDateTime};
use tower_sessions_sqlx_store::PostgresStore;

/// A client whose cookie names a session of `who`, valid for two hours. It follows no
/// redirects (a lost session shows as such) and gives up on an answer after 30 seconds.
pub async fn signed_in(store: &PostgresStore, base: &str, who: &SessionUser) -> reqwest::Client {
    let mut record = Record {
        id: Id::default(),
        data: [("user".to_string(), serde_json::to_value(who).unwrap())]
            .into_iter()
            .collect(),
        expiry_date: OffsetDateTime::now_utc() + tower_sessions::cookie::time::Duration::hours(2),
    };
    store.create(&mut record).await.unwrap();
    let jar = reqwest::cookie::Jar::default();
    jar.add_cookie_str(
        &format!("{SESSION_COOKIE}={}", record.id),
        &base.parse().unwrap(),
    );
    reqwest::Client::builder()
        .cookie_provider(Arc::new(jar))
        .pool_max_idle_per_host(4)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
