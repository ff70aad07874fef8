//! Everything that does IO. Compiled only into the server binary (feature `ssr`).

pub mod access;
pub mod auth;
pub mod catalog;
pub mod checkpoints;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod contractors;
pub mod db;
pub mod delegation;
pub mod engine;
pub mod escalation;
pub mod http;
pub mod jobs;
pub mod moves;
pub mod notify;
pub mod people_sync;
pub mod router;
pub mod state;
pub mod supervisor;
pub mod telemetry;
