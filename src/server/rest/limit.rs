//! Calls per caller a minute (GCRA, the `governor` crate): `429` with `Retry-After` beyond.
//!
//! A caller is keyed by who the token names once it is verified; requests whose token is
//! refused are keyed by their client address, so guessing tokens is limited as well. The limit
//! is per replica: behind a load balancer of `n` replicas a caller may make up to `n` times the
//! limit (docs/api.md).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Above this many keys (or twice as many as were left the last time), keys whose budget is
/// full again are forgotten.
const KEYS_KEPT: usize = 10_000;

pub struct ApiLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    /// The number of keys above which the next check forgets those full again.
    forget_above: std::sync::atomic::AtomicUsize,
}

impl ApiLimit {
    /// `per_minute` calls a minute, all of them allowed in one burst.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            forget_above: KEYS_KEPT.into(),
        }
    }

    /// Counts one call of `key`; `Err` with the time until it may call again.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        use std::sync::atomic::Ordering::Relaxed;
        // Forgetting walks every key: done when the keys doubled since, not at every check
        // while many callers are active at once.
        if self.limiter.len() > self.forget_above.load(Relaxed) {
            self.limiter.retain_recent();
            self.forget_above
                .store((self.limiter.len() * 2).max(KEYS_KEPT), Relaxed);
        }
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_budget() {
        let limit = ApiLimit::new(3);
        for _ in 0..3 {
            assert!(limit.check("a").is_ok());
        }
        let wait = limit.check("a").expect_err("the fourth call in a minute");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limit.check("b").is_ok(), "another caller is not affected");
    }
}
