//! The process: settings, shared state, the HTTP service and its layers, sign-in, metrics, the
//! supervisor that runs the server beside the jobs, logs, and the clock.

pub mod auth;
pub mod clock;
pub mod config;
pub mod http;
pub mod metrics;
pub mod router;
pub mod state;
pub mod supervisor;
pub mod telemetry;
