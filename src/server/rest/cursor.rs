//! Cursors: where the next page of a list starts, opaque to the caller (base64url of the
//! position the list is ordered by), so that the order can change without breaking clients.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::problem::Problem;
use crate::error::AppError;

/// The most items a page may hold, and how many it holds unless asked.
pub const MAX_LIMIT: i64 = 200;
pub const DEFAULT_LIMIT: i64 = 50;

/// `limit` as asked, within 1..=[`MAX_LIMIT`].
pub fn limit(asked: Option<i64>) -> Result<i64, AppError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid(
            "limit",
            Problem::PageSize {
                max: MAX_LIMIT as u32,
            },
        )),
    }
}

/// A position in a list ordered by time and id (newest first).
pub fn of_time(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("t:{}:{id}", at.timestamp_micros()))
}

pub fn to_time(cursor: &str) -> Result<(DateTime<Utc>, Uuid), AppError> {
    let text = opened(cursor)?;
    let parsed = text.strip_prefix("t:").and_then(|rest| {
        let (micros, id) = rest.split_once(':')?;
        Some((
            DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            Uuid::parse_str(id).ok()?,
        ))
    });
    parsed.ok_or_else(refused)
}

/// A position in the audit trail.
pub fn of_position(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("p:{position}"))
}

pub fn to_position(cursor: &str) -> Result<i64, AppError> {
    opened(cursor)?
        .strip_prefix("p:")
        .and_then(|p| p.parse().ok())
        .ok_or_else(refused)
}

fn opened(cursor: &str) -> Result<String, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(refused)
}

fn refused() -> AppError {
    AppError::invalid("cursor", Problem::BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(to_time(&of_time(at, id)).unwrap(), (at, id));
        assert_eq!(to_position(&of_position(42)).unwrap(), 42);
        for bad in ["", "!!", &of_position(42), "dDp4OnkK"] {
            assert!(to_time(bad).is_err(), "{bad}");
        }
        assert!(to_position(&of_time(at, id)).is_err());
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert!(limit(Some(0)).is_err() && limit(Some(MAX_LIMIT + 1)).is_err());
    }
}
