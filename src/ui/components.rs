pub mod field_error;
pub mod notice;
pub mod pill;
pub mod require_area;
pub mod status;
pub mod time;
