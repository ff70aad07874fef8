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

/// One measured call.
pub struct Sample {
    pub function: &'static str,
    pub millis: f64,
    /// The HTTP status, 0 when the connection failed.
    pub status: u16,
}

/// A signed-in person's browser: calls server functions as the portal's pages do (a form post
/// from the portal's own origin) and records how long each took and what it answered.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub samples: Arc<std::sync::Mutex<Vec<Sample>>>,
}

impl Browser {
    pub async fn call(
        &self,
        function: &'static str,
        form: &[(&str, &str)],
    ) -> Option<serde_json::Value> {
        let started = std::time::Instant::now();
        let response = self
            .client
            .post(format!("{}/api/{function}", self.base))
            .header("origin", &self.base)
            .form(form)
            .send()
            .await;
        let (status, body) = match response {
            Ok(r) => (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.ok(),
            ),
            Err(_) => (0, None),
        };
        self.samples.lock().unwrap().push(Sample {
            function,
            millis: started.elapsed().as_secs_f64() * 1000.0,
            status,
        });
        body
    }
}
