//! Server functions, by area. Each is thin: establish the caller, check what they may do, call
//! the service, and answer with data or an [`AppError`](crate::error::AppError).

pub mod access_reviews;
pub mod admin;
pub mod approvals;
pub mod catalog;
pub mod contractors;
pub mod dashboard;
pub mod emergency;
pub mod findings;
#[cfg(feature = "ssr")]
pub mod forms;
pub mod governance;
pub mod holdings;
pub mod me;
pub mod my_access;
pub mod people;
pub mod requests;
pub mod types;

use crate::domain::problem::Problem;
use crate::error::AppError;

/// Percent-encodes a query value.
pub fn url_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads an id sent as text; a malformed one is bad input, not a server error.
pub fn parse_id(name: &str, text: &str) -> Result<uuid::Uuid, AppError> {
    field(name, crate::domain::input::identifier(text))
}

/// A field parsed by its type's `parse`, its problem named with the field.
pub fn field<T>(name: &str, parsed: Result<T, Problem>) -> Result<T, AppError> {
    parsed.map_err(|problem| AppError::invalid(name, problem))
}

/// Reads a line of text from a form: trimmed, and refused when it holds a control character
/// (NUL among them, which PostgreSQL cannot store) instead of failing later.
pub fn text_line(field: &str, text: &str) -> Result<String, AppError> {
    checked_text(field, text, false)
}

/// Like [`text_line`], for text that may span lines (line breaks and tabs are kept).
pub fn text_block(field: &str, text: &str) -> Result<String, AppError> {
    checked_text(field, text, true)
}

fn checked_text(field: &str, text: &str, multiline: bool) -> Result<String, AppError> {
    crate::domain::input::clean(text, multiline)
        .map(str::to_string)
        .map_err(|problem| AppError::invalid(field, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_with_their_field() {
        assert_eq!(text_line("ticket", " CHG1 ").unwrap(), "CHG1");
        assert_eq!(text_block("why", "two\nlines\t").unwrap(), "two\nlines");
        for bad in ["a\0b", "a\u{1b}[31m", "line\nbreak"] {
            match text_line("ticket", bad) {
                Err(AppError::Invalid { field, .. }) => assert_eq!(field, "ticket"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(text_block("why", "nul\0").is_err());
    }
}
