pub mod notice;
pub mod require_area;
pub mod status;
