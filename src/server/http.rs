//! Plain HTTP concerns around the Leptos routes: health probes, correlation ids, security headers
//! and the same-origin guard.

pub mod correlation;
pub mod evidence;
pub mod health;
pub mod language;
pub mod security;
pub mod server_fn_status;
