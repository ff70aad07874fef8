//! The clock that reminders and escalation follow: the wall clock, which a lab (never
//! production) may move forward so that a browser test sees a day's escalation in seconds.
//! Leases do not follow it: they end by the database's clock, always.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Clone, Default)]
pub struct Clock {
    ahead_seconds: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::seconds(self.ahead_seconds.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `by` (lab mode only; see `http::lab`).
    pub fn advance(&self, by: TimeDelta) {
        self.ahead_seconds
            .fetch_add(by.num_seconds().max(0), Ordering::Relaxed);
    }

    /// How far ahead of the wall clock it is.
    pub fn ahead(&self) -> TimeDelta {
        TimeDelta::seconds(self.ahead_seconds.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_only_and_is_shared() {
        let clock = Clock::default();
        let shared = clock.clone();
        clock.advance(TimeDelta::hours(25));
        clock.advance(TimeDelta::seconds(-100));
        assert_eq!(shared.ahead(), TimeDelta::hours(25));
        assert!(shared.now() > Utc::now() + TimeDelta::hours(24));
    }
}
