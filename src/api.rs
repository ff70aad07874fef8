//! Server functions, by area. Each is thin: establish the caller, check what they may do, call
//! the service, and answer with data or an [`AppError`](crate::error::AppError).

pub mod me;
