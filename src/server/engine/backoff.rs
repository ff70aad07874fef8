//! Exponential backoff with jitter, so replicas that failed together do not retry together.

use std::time::Duration;

use rand::Rng as _;

/// Delay before attempt `attempt + 1`: 1 s, 2 s, 4 s... up to `cap`, each scaled by a random
/// factor in [0.5, 1.0].
pub fn retry_delay(attempt: u32, cap: Duration) -> Duration {
    let exponential = Duration::from_secs(1)
        .checked_mul(1u32 << attempt.saturating_sub(1).min(20))
        .unwrap_or(cap)
        .min(cap);
    exponential.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
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
            assert!(retry_delay(1000, cap) <= cap);
            assert!(retry_delay(1000, cap) >= cap / 2);
        }
    }
}
