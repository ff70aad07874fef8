//! Pure rules shared by the server and the browser. No IO, no async: every rule here is a
//! function of its inputs, so it is tested exhaustively next to its code.

pub mod approval;
pub mod audit;
pub mod grant;
pub mod policy;
pub mod request;
pub mod role;
pub mod violation;
pub mod window;
