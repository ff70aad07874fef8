use tracing_subscriber::EnvFilter;

use crate::server::app::config::Settings;

/// Installs the global log subscriber: human-readable text, or JSON lines for log shippers.
pub fn init(settings: &Settings) {
    let filter =
        EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    if settings.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}
