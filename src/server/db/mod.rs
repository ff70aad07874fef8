//! SQL, by aggregate. Queries are checked at compile time against the migrations (offline data
//! in `.sqlx/`).

pub mod access_reviews;
pub mod audit;
pub mod catalog;
pub mod catalog_changes;
pub mod connectors;
pub mod contractors;
pub mod dashboard;
pub mod delegations;
pub mod delivery;
pub mod figures;
pub mod findings;
pub mod grants;
pub mod holdings;
pub mod jobs;
pub mod moves;
pub mod outbox;
pub mod people;
pub mod principals;
pub mod requests;
pub mod reviews;
pub mod teams;
pub mod views;

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool};

use crate::server::app::config::DatabaseSettings;

/// A `LIKE` pattern for "contains `text`", in which `%`, `_` and `\` match themselves, as typed.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Whether the database refused a write for a unique constraint (SQLSTATE 23505).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "23505")
}

/// Connects, retrying for `startup_timeout` while the database is unreachable. Other errors
/// (bad credentials, unknown database) fail at once: waiting would not mend them.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    use backon::{BackoffBuilder as _, ExponentialBuilder};
    let options: PgConnectOptions = settings.url.expose().parse()?;
    let started = Instant::now();
    // 250 ms, doubling up to 5 s: replicas starting together need not retry together, so no
    // jitter is needed beyond what their start-up times already differ by.
    let mut delays = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .build();
    loop {
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
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
    MIGRATOR.run(pool).await
}

/// The migrations embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Brings the schema up to date. With an owner credential (`LEASEGATE_MIGRATE_DATABASE_URL`)
/// the owner migrates and then grants the portal's role what it needs (and over the audit
/// trail only SELECT and INSERT); without one the portal's own connection migrates, and owns
/// what it creates.
pub async fn prepare_schema(
    settings: &DatabaseSettings,
    pool: &PgPool,
) -> Result<SchemaOwner, SchemaError> {
    let Some(owner_url) = &settings.migrate_url else {
        return prepare_without_owner(pool).await;
    };
    let portal: PgConnectOptions = settings.url.expose().parse()?;
    let owner = connect(&DatabaseSettings {
        url: owner_url.clone(),
        migrate_url: None,
        max_connections: 2,
        startup_timeout: settings.startup_timeout,
    })
    .await?;
    migrate(&owner).await?;
    sqlx::query("select leasegate_grant_portal_role($1)")
        .bind(portal.get_username())
        .execute(&owner)
        .await?;
    owner.close().await;
    Ok(SchemaOwner::Separate)
}

/// Without the owner's credential. A schema that another role owns is used as it is when that
/// role has applied every migration this build knows, unchanged (a deployment's replicas, whose
/// migrations run as a job of their own with the owner's credential), and refused when this
/// release is ahead of it. A schema the portal's role owns is migrated by the portal (a demo, a
/// single-role installation); so is a new one, but only where the portal's role owns the
/// database: elsewhere replicas racing the migration job could take the schema, the audit trail
/// included, for themselves. Migrations newer than this build are left alone (an older replica
/// during a rolling update).
async fn prepare_without_owner(pool: &PgPool) -> Result<SchemaOwner, SchemaError> {
    let owned_by_portal: Option<bool> = sqlx::query_scalar(
        "select tableowner = current_user from pg_tables
          where schemaname = current_schema() and tablename = 'audit_events'",
    )
    .fetch_optional(pool)
    .await?;
    match owned_by_portal {
        Some(true) => {
            migrate(pool).await?;
            return Ok(SchemaOwner::Portal);
        }
        None => {
            let owns_database: bool = sqlx::query_scalar(
                "select d.datdba = r.oid or r.rolsuper
                   from pg_database d, pg_roles r
                  where d.datname = current_database() and r.rolname = current_user",
            )
            .fetch_one(pool)
            .await?;
            if !owns_database {
                return Err(SchemaError::Behind {
                    missing: MIGRATOR.iter().map(|m| m.version.to_string()).collect(),
                });
            }
            migrate(pool).await?;
            return Ok(SchemaOwner::Portal);
        }
        Some(false) => {}
    }
    let applied: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("select version, checksum from _sqlx_migrations where success")
            .fetch_all(pool)
            .await?;
    let mut missing = Vec::new();
    for migration in MIGRATOR.iter() {
        match applied.iter().find(|(v, _)| *v == migration.version) {
            None => missing.push(migration.version.to_string()),
            Some((_, checksum)) if checksum.as_slice() != &*migration.checksum => {
                return Err(SchemaError::Changed {
                    version: migration.version,
                });
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() {
        Ok(SchemaOwner::Separate)
    } else {
        Err(SchemaError::Behind { missing })
    }
}

/// Why the schema could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("applying database migrations failed; the failing migration was rolled back: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("preparing the database's schema failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "the database's schema, owned by another role, lacks migrations {} of this release: \
         run `leasegate migrate` with LEASEGATE_MIGRATE_DATABASE_URL (the owner's connection) \
         first",
        .missing.join(", ")
    )]
    Behind { missing: Vec<String> },
    #[error(
        "migration {version} was applied to the database as a different text than this \
         release's: the schema is not the one this release was built for"
    )]
    Changed { version: i64 },
}

/// Who owns the tables the portal uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaOwner {
    /// The portal's own role: it could alter the audit trail's triggers (fine for a demo).
    Portal,
    /// Another role: the portal may only append to the audit trail.
    Separate,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_contains_pattern_matches_wildcards_as_typed() {
        assert_eq!(super::contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(super::contains_pattern("Adele"), "%Adele%");
    }
}
