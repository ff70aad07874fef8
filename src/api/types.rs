//! The data the browser and the server share: what server functions take and answer.
//! The server imports these, never the server-function modules themselves.

pub mod access_reviews;
pub mod address;
pub mod admin;
pub mod approvals;
pub mod catalog;
pub mod contractors;
pub mod dashboard;
pub mod emergency;
pub mod findings;
pub mod governance;
pub mod holdings;
pub mod me;
pub mod my_access;
pub mod people;
pub mod requests;
