//! Everything that does IO. Compiled only into the server binary (feature `ssr`).
//!
//! One folder per capability, layers importing one way (`make lint` checks for circles):
//! `app` (settings, state, router, supervisor, HTTP layers, sign-in) over `services` (what
//! the server functions do), `jobs` (every background duty), `catalog`, `notify`
//! and `connectors`, over `db` (SQL by aggregate).

pub mod app;
pub mod catalog;
pub mod connectors;
pub mod db;
pub mod jobs;
pub mod notify;
pub mod rest;
pub mod services;
