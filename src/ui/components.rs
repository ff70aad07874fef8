pub mod field_error;
pub mod kind_icon;
pub mod notice;
pub mod page_title;
pub mod pill;
pub mod require_area;
pub mod status;
pub mod time;
