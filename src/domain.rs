//! Pure rules shared by the server and the browser. No IO, no async: every rule here is a
//! function of its inputs, so it is tested exhaustively next to its code.

pub mod access;
pub mod approval;
pub mod audit;
pub mod change;
pub mod contractor;
pub mod grant;
pub mod health;
pub mod input;
pub mod iso_duration;
pub mod mail;
pub mod named;
pub mod network;
pub mod person;
pub mod policy;
pub mod problem;
pub mod reconcile;
pub mod request;
pub mod review;
pub mod role;
pub mod status;
pub mod step;
pub mod violation;
pub mod window;
