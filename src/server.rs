//! Everything that does IO. Compiled only into the server binary (feature `ssr`).
//!
//! One folder per capability, layers importing one way (`make lint` checks for circles):
//! `app` (settings, state, router, supervisor, HTTP layers, sign-in) over `access` (the
//! services behind the server functions), `jobs` (every background duty), `catalog`, `notify`
//! and `connectors`, over `db` (SQL by aggregate).

pub mod access;
pub mod app;
pub mod catalog;
pub mod connectors;
pub mod db;
pub mod jobs;
pub mod notify;
