//! Access reviews: campaigns in which owners (or managers) certify who holds an entry standing,
//! without a lease (docs/access-reviews.md).
//!
//! A campaign snapshots, when it opens, the live standing-holder declarations and the open
//! shadow-access findings of its entries: one item each. A reviewer answers an item once: keep
//! (a reason and until when: the account is declared a standing holder until then) or remove
//! (through the connector, read back). At the deadline the campaign's default answers the rest.

use chrono::{DateTime, TimeDelta, Utc};

use super::named::named;

named! {
    /// Who certifies a campaign's items.
    pub enum Reviewers {
        /// The entry's owners, as the catalog names them.
        Owners = "owners",
        /// The holder's manager, as the people sync knows them; the entry's owners where the
        /// portal knows no manager (an unknown account, a person without one).
        Managers = "managers",
    }
}

named! {
    /// A reviewer's answer to an item, or the campaign's default.
    pub enum ReviewDecision {
        Keep = "keep",
        Remove = "remove",
    }
}

named! {
    /// Why an item is in a campaign.
    pub enum ItemSource {
        /// An owner declared the account a standing holder of the entry.
        Declared = "declared",
        /// Reconciliation found the account holding the entry without a lease.
        Finding = "finding",
    }
}

named! {
    /// What answering an item did in the target and the portal.
    pub enum ReviewOutcome {
        /// Declared a standing holder until the answer's end, or (kept by default) left as it
        /// was.
        Kept = "kept",
        /// Removed through the connector and read back absent.
        Removed = "removed",
        /// The target no longer listed the account when the removal came: nothing to remove.
        Gone = "gone",
        /// The call failed or the target still listed the account: the finding stays open.
        RemoveFailed = "remove_failed",
    }
}

named! {
    /// How a campaign closed.
    pub enum ClosedHow {
        /// Every item was answered before the deadline.
        Complete = "complete",
        /// The deadline came; the default answered what was left.
        Deadline = "deadline",
    }
}

/// The shortest and the longest a campaign may run.
pub const MIN_HOURS: i64 = 1;
pub const MAX_DAYS: i64 = 90;

/// When a campaign that opens at `opened` with `deadline` reminds its undecided reviewers
/// (half-way) and asks their managers to stand in (three quarters of the way), so a campaign of
/// any length gives each step time.
pub fn milestones(
    opened: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let length = deadline - opened;
    let remind = opened + length / 2;
    let escalate = opened + length * 3 / 4;
    (remind, escalate)
}

/// Whether a deadline `deadline` is acceptable for a campaign opened at `now`.
pub fn deadline_ok(now: DateTime<Utc>, deadline: DateTime<Utc>) -> bool {
    deadline >= now + TimeDelta::hours(MIN_HOURS) && deadline <= now + TimeDelta::days(MAX_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn milestones_fall_between_opening_and_deadline_in_order() {
        let (remind, escalate) = milestones(at(1, 0), at(9, 0));
        assert_eq!(remind, at(5, 0));
        assert_eq!(escalate, at(7, 0));
        let (remind, escalate) = milestones(at(1, 0), at(1, 1));
        assert!(at(1, 0) < remind && remind <= escalate && escalate <= at(1, 1));
    }

    #[test]
    fn deadlines_are_at_least_an_hour_and_at_most_ninety_days_away() {
        let now = at(1, 0);
        assert!(!deadline_ok(now, now));
        assert!(!deadline_ok(now, now - TimeDelta::days(1)));
        assert!(deadline_ok(now, now + TimeDelta::hours(1)));
        assert!(deadline_ok(now, now + TimeDelta::days(90)));
        assert!(!deadline_ok(
            now,
            now + TimeDelta::days(90) + TimeDelta::seconds(1)
        ));
    }

    #[test]
    fn names_round_trip() {
        for d in ReviewDecision::ALL {
            assert_eq!(ReviewDecision::parse(d.as_str()), Some(*d));
        }
        for r in Reviewers::ALL {
            assert_eq!(Reviewers::parse(r.as_str()), Some(*r));
        }
        assert_eq!(
            ReviewOutcome::parse("remove_failed"),
            Some(ReviewOutcome::RemoveFailed)
        );
        assert_eq!(ReviewDecision::parse("Keep"), None);
    }
}
