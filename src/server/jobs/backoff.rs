//! Exponential backoff with jitter, so replicas that failed together do not retry together.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

/// Delays that start in [0.5 s, 1 s) and double, each with jitter, up to [`max` / 2, `max`).
pub fn delays(max: Duration) -> ExponentialBackoff {
    let ceiling = max / 2;
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(500).min(ceiling))
        .with_max_delay(ceiling)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Delay before attempt `attempt + 1` of something that failed `attempt` times in a row: about
/// 1 s, 2 s, 4 s... up to `cap` (the `attempt`-th of [`delays`]).
pub fn retry_delay(attempt: u32, cap: Duration) -> Duration {
    let nth = attempt.clamp(1, 32) as usize - 1;
    delays(cap).nth(nth).unwrap_or(cap).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_stops_at_the_cap() {
        let cap = Duration::from_secs(30);
        for _ in 0..100 {
            let first = retry_delay(1, cap);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let fourth = retry_delay(4, cap);
            assert!(fourth >= Duration::from_secs(4) && fourth <= Duration::from_secs(8));
            assert!(retry_delay(0, cap) <= Duration::from_secs(1));
            assert!(retry_delay(1000, cap) <= cap);
            assert!(retry_delay(1000, cap) >= cap / 2);
        }
    }
}
