//! The portal's English words for rules and outcomes, kept in one place so a German
//! translation can follow by adding a sibling of each function.

use crate::domain::violation::Violation;

/// Minutes in words: "45 minutes", "2 hours", "1 day 4 hours", "1 week".
pub fn minutes(m: u32) -> String {
    fn unit(n: u32, one: &str, many: &str) -> String {
        format!("{n} {}", if n == 1 { one } else { many })
    }
    if m == 0 {
        return "0 minutes".to_string();
    }
    let (weeks, rest) = (m / 10080, m % 10080);
    let (days, rest) = (rest / 1440, rest % 1440);
    let (hours, mins) = (rest / 60, rest % 60);
    let mut parts = Vec::new();
    if weeks > 0 {
        parts.push(unit(weeks, "week", "weeks"));
    }
    if days > 0 {
        parts.push(unit(days, "day", "days"));
    }
    if hours > 0 {
        parts.push(unit(hours, "hour", "hours"));
    }
    if mins > 0 {
        parts.push(unit(mins, "minute", "minutes"));
    }
    parts.join(" ")
}

/// What a broken rule means, for the person who broke it.
pub fn violation(v: &Violation) -> String {
    match v {
        Violation::StartInPast => {
            "The start time is in the past. Choose now or a later time.".into()
        }
        Violation::StartTooLate { max_delay_minutes } => format!(
            "Access can start at most {} from now.",
            minutes(*max_delay_minutes)
        ),
        Violation::StartLaterNotAllowed => {
            "This access can only start now; it cannot be scheduled for later.".into()
        }
        Violation::TooShort { min_minutes } => {
            format!("Ask for at least {}.", minutes(*min_minutes))
        }
        Violation::TooLong { max_minutes } => {
            format!(
                "This access can be held for at most {}.",
                minutes(*max_minutes)
            )
        }
        Violation::EndBeforeStart => "The end must be after the start.".into(),
        Violation::NotEligible => "You are not eligible to request this access.".into(),
        Violation::JustificationRequired => "Say why you need this access.".into(),
        Violation::JustificationTooShort { min_chars } => {
            format!("Give a reason of at least {min_chars} characters.")
        }
        Violation::JustificationTooLong { max_chars } => {
            format!("Keep the reason under {max_chars} characters.")
        }
        Violation::TicketRequired => "A ticket number is required for this access.".into(),
        Violation::TicketMalformed { hint } => {
            format!("That is not a valid ticket number (expected: {hint}).")
        }
        Violation::TicketTooLong { max_chars } => {
            format!("A ticket number has at most {max_chars} characters.")
        }
        Violation::NotEnoughApprovers {
            stage,
            required,
            available,
        } => format!(
            "This request cannot be approved: approval step {stage} needs {required} approver(s) \
             other than you, and only {available} can decide. Contact the entitlement's owners."
        ),
        Violation::AlreadyCovered { until } => format!(
            "You already hold this access until {} (UTC); there is nothing to extend.",
            until.format("%Y-%m-%d %H:%M")
        ),
        Violation::LaterThanLiveGrant { until } => format!(
            "You hold this access until {} (UTC). Ask for a window that continues it, or ask \
             again once it has ended.",
            until.format("%Y-%m-%d %H:%M")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_in_words() {
        assert_eq!(minutes(1), "1 minute");
        assert_eq!(minutes(45), "45 minutes");
        assert_eq!(minutes(120), "2 hours");
        assert_eq!(minutes(1440 + 240), "1 day 4 hours");
        assert_eq!(minutes(10080), "1 week");
        assert_eq!(minutes(61), "1 hour 1 minute");
    }

    #[test]
    fn every_violation_names_its_limit() {
        assert!(violation(&Violation::TooLong { max_minutes: 480 }).contains("8 hours"));
        assert!(
            violation(&Violation::TicketMalformed {
                hint: "CHG and 7 digits".into()
            })
            .contains("CHG and 7 digits")
        );
    }
}
