//! Pure rules shared by the server and the browser. No IO, no async.

pub mod role;
