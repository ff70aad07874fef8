pub mod admin;
pub mod approvals;
pub mod governance;
pub mod home;
pub mod my_access;
pub mod not_found;
pub mod request_access;
pub mod signed_out;
