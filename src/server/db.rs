//! SQL, by aggregate. Queries are checked at compile time against the migrations (offline data
//! in `.sqlx/`).

pub mod audit;
pub mod catalog;
pub mod grants;
pub mod principals;
pub mod requests;

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool};

use crate::server::config::DatabaseSettings;

/// Connects, retrying for `startup_timeout` while the database is unreachable. Other errors
/// (bad credentials, unknown database) fail at once: waiting would not mend them.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.url.expose().parse()?;
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        // One plain connection first: it fails fast, where a pool would wait out its timeout.
        let probe =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options))
                .await
                .unwrap_or(Err(sqlx::Error::PoolTimedOut));
        match probe {
            Ok(connection) => {
                let _ = connection.close().await;
                return PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await;
            }
            Err(e)
                if is_unreachable(&e) && started.elapsed() + delay < settings.startup_timeout =>
            {
                tracing::warn!(error = %e, retry_in = ?delay, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_unreachable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
        || matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("57P03"))
}

/// Applies the migrations embedded in the binary.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}
