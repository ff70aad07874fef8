//! How a connected system answered when last asked.

use super::named::named;

named! {
    /// A connector's health, as the Admin page last found it.
    pub enum ConnectorHealth {
        /// Not asked yet, or not configured in this process.
        Unknown = "unknown",
        Healthy = "healthy",
        Down = "down",
    }
}
