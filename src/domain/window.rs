//! When access starts and ends: presets, custom ends, a later start, and the policy's limits.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::violation::Violation;

/// How far a browser's clock may be behind the server's before "start now" reads as the past.
pub const CLOCK_SKEW_TOLERANCE: TimeDelta = TimeDelta::minutes(2);

/// A policy's limits on the lease window, in whole minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationRules {
    /// What the form offers first.
    pub default_minutes: u32,
    /// The longest lease; extensions included.
    pub max_minutes: u32,
    /// The shortest lease worth granting.
    #[serde(default = "DurationRules::default_min")]
    pub min_minutes: u32,
    /// Offered as one-click choices; those above the maximum are never shown.
    #[serde(default = "DurationRules::default_presets")]
    pub presets_minutes: Vec<u32>,
    /// How far ahead a request may start; 0 means "start now" only.
    #[serde(default)]
    pub max_start_delay_minutes: u32,
}

impl DurationRules {
    fn default_min() -> u32 {
        1
    }

    fn default_presets() -> Vec<u32> {
        vec![60, 240, 1440, 10080]
    }

    /// The presets the form shows: within the limits, ascending, without repeats.
    pub fn offered_presets(&self) -> Vec<u32> {
        let mut presets: Vec<u32> = self
            .presets_minutes
            .iter()
            .copied()
            .filter(|m| (self.min_minutes..=self.max_minutes).contains(m))
            .collect();
        presets.sort_unstable();
        presets.dedup();
        presets
    }

    /// Problems with the rules themselves, for catalog validation.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.min_minutes == 0 {
            problems.push("min_minutes must be at least 1".to_string());
        }
        if self.max_minutes < self.min_minutes {
            problems.push("max_minutes must not be below min_minutes".to_string());
        }
        if !(self.min_minutes..=self.max_minutes).contains(&self.default_minutes) {
            problems.push("default_minutes must lie between min_minutes and max_minutes".into());
        }
        if self.max_minutes > MAX_POLICY_MINUTES {
            problems.push("max_minutes must not exceed 366 days".to_string());
        }
        if self.max_start_delay_minutes > MAX_POLICY_MINUTES {
            problems.push("max_start_delay_minutes must not exceed 366 days".to_string());
        }
        problems
    }
}

/// No lease, and no start delay, may exceed a year and a day: leases are temporary by design.
pub const MAX_POLICY_MINUTES: u32 = 366 * 24 * 60;

/// How the person chose the end of their lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestedEnd {
    /// A duration from the start (a preset, or typed in).
    For { minutes: u32 },
    /// An exact end time.
    Until(DateTime<Utc>),
}

/// The window as the person asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRequest {
    /// `None` starts now.
    pub start: Option<DateTime<Utc>>,
    pub end: RequestedEnd,
}

/// A resolved lease window: `starts_at < ends_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Window {
    pub fn minutes(&self) -> i64 {
        (self.ends_at - self.starts_at).num_minutes()
    }
}

/// Turns what the person asked for into a window that obeys the policy, or says which rule it
/// breaks. A start within [`CLOCK_SKEW_TOLERANCE`] of now (either side) counts as now.
pub fn resolve_window(
    rules: &DurationRules,
    request: &WindowRequest,
    now: DateTime<Utc>,
) -> Result<Window, Violation> {
    let starts_at = match request.start {
        None => now,
        Some(start) if start < now - CLOCK_SKEW_TOLERANCE => return Err(Violation::StartInPast),
        Some(start) if start <= now + CLOCK_SKEW_TOLERANCE => now,
        Some(_) if rules.max_start_delay_minutes == 0 => {
            return Err(Violation::StartLaterNotAllowed);
        }
        Some(start) if start > now + minutes(rules.max_start_delay_minutes) => {
            return Err(Violation::StartTooLate {
                max_delay_minutes: rules.max_start_delay_minutes,
            });
        }
        Some(start) => start,
    };
    let ends_at = match request.end {
        RequestedEnd::For { minutes: m } => {
            if m > MAX_POLICY_MINUTES {
                return Err(Violation::TooLong {
                    max_minutes: rules.max_minutes,
                });
            }
            starts_at + minutes(m)
        }
        // An exact end keeps its instant; when the start moved to "now" because of skew, the
        // lease is slightly longer than typed, which the maximum below still bounds.
        RequestedEnd::Until(end) => end,
    };
    if ends_at <= starts_at {
        return Err(Violation::EndBeforeStart);
    }
    let length = ends_at - starts_at;
    if length < minutes(rules.min_minutes) {
        return Err(Violation::TooShort {
            min_minutes: rules.min_minutes,
        });
    }
    if length > minutes(rules.max_minutes) {
        // An exact end that overshoots only because the browser's clock lags is clamped.
        let overshoot = length - minutes(rules.max_minutes);
        if matches!(request.end, RequestedEnd::Until(_)) && overshoot <= CLOCK_SKEW_TOLERANCE {
            return Ok(Window {
                starts_at,
                ends_at: starts_at + minutes(rules.max_minutes),
            });
        }
        return Err(Violation::TooLong {
            max_minutes: rules.max_minutes,
        });
    }
    Ok(Window { starts_at, ends_at })
}

/// Whole minutes as a time span.
pub fn minutes(m: u32) -> TimeDelta {
    TimeDelta::minutes(i64::from(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rules() -> DurationRules {
        DurationRules {
            default_minutes: 120,
            max_minutes: 480,
            min_minutes: 15,
            presets_minutes: vec![60, 240, 1440, 30, 60],
            max_start_delay_minutes: 60 * 24,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn for_minutes(m: u32) -> WindowRequest {
        WindowRequest {
            start: None,
            end: RequestedEnd::For { minutes: m },
        }
    }

    #[test]
    fn presets_are_filtered_sorted_and_unique() {
        assert_eq!(rules().offered_presets(), vec![30, 60, 240]);
    }

    #[test]
    fn start_now_for_a_preset() {
        let w = resolve_window(&rules(), &for_minutes(60), now()).unwrap();
        assert_eq!(w.starts_at, now());
        assert_eq!(w.ends_at, now() + TimeDelta::hours(1));
    }

    #[test]
    fn limits_are_inclusive() {
        assert!(resolve_window(&rules(), &for_minutes(15), now()).is_ok());
        assert!(resolve_window(&rules(), &for_minutes(480), now()).is_ok());
        assert_eq!(
            resolve_window(&rules(), &for_minutes(14), now()),
            Err(Violation::TooShort { min_minutes: 15 })
        );
        assert_eq!(
            resolve_window(&rules(), &for_minutes(481), now()),
            Err(Violation::TooLong { max_minutes: 480 })
        );
        assert_eq!(
            resolve_window(&rules(), &for_minutes(0), now()),
            Err(Violation::EndBeforeStart)
        );
    }

    #[test]
    fn absurd_durations_do_not_overflow() {
        assert_eq!(
            resolve_window(&rules(), &for_minutes(u32::MAX), now()),
            Err(Violation::TooLong { max_minutes: 480 })
        );
    }

    #[test]
    fn custom_end() {
        let end = now() + TimeDelta::hours(3);
        let w = resolve_window(
            &rules(),
            &WindowRequest {
                start: None,
                end: RequestedEnd::Until(end),
            },
            now(),
        )
        .unwrap();
        assert_eq!(w.ends_at, end);
        let before = WindowRequest {
            start: None,
            end: RequestedEnd::Until(now() - TimeDelta::minutes(1)),
        };
        assert_eq!(
            resolve_window(&rules(), &before, now()),
            Err(Violation::EndBeforeStart)
        );
    }

    #[test]
    fn custom_end_slightly_over_the_maximum_is_clamped_only_within_skew() {
        let request = |over: i64| WindowRequest {
            start: None,
            end: RequestedEnd::Until(now() + TimeDelta::minutes(480) + TimeDelta::seconds(over)),
        };
        let w = resolve_window(&rules(), &request(90), now()).unwrap();
        assert_eq!(w.ends_at, now() + TimeDelta::minutes(480));
        assert_eq!(
            resolve_window(&rules(), &request(121), now()),
            Err(Violation::TooLong { max_minutes: 480 })
        );
    }

    #[test]
    fn start_within_skew_counts_as_now() {
        for offset in [-120, -1, 0, 1, 120] {
            let w = resolve_window(
                &rules(),
                &WindowRequest {
                    start: Some(now() + TimeDelta::seconds(offset)),
                    end: RequestedEnd::For { minutes: 60 },
                },
                now(),
            )
            .unwrap();
            assert_eq!(w.starts_at, now(), "offset {offset}");
        }
        assert_eq!(
            resolve_window(
                &rules(),
                &WindowRequest {
                    start: Some(now() - TimeDelta::seconds(121)),
                    end: RequestedEnd::For { minutes: 60 },
                },
                now()
            ),
            Err(Violation::StartInPast)
        );
    }

    #[test]
    fn start_later_up_to_the_policy_limit() {
        let later = |hours: i64| WindowRequest {
            start: Some(now() + TimeDelta::hours(hours)),
            end: RequestedEnd::For { minutes: 60 },
        };
        let w = resolve_window(&rules(), &later(24), now()).unwrap();
        assert_eq!(w.starts_at, now() + TimeDelta::hours(24));
        assert_eq!(
            resolve_window(&rules(), &later(25), now()),
            Err(Violation::StartTooLate {
                max_delay_minutes: 1440
            })
        );
        let mut now_only = rules();
        now_only.max_start_delay_minutes = 0;
        assert_eq!(
            resolve_window(&now_only, &later(1), now()),
            Err(Violation::StartLaterNotAllowed)
        );
    }

    #[test]
    fn exact_end_measures_from_a_later_start() {
        let start = now() + TimeDelta::hours(2);
        let w = resolve_window(
            &rules(),
            &WindowRequest {
                start: Some(start),
                end: RequestedEnd::Until(start + TimeDelta::hours(8)),
            },
            now(),
        )
        .unwrap();
        assert_eq!(w.minutes(), 480);
    }

    #[test]
    fn rule_problems() {
        assert!(rules().problems().is_empty());
        let mut bad = rules();
        bad.min_minutes = 0;
        bad.default_minutes = MAX_POLICY_MINUTES + 2;
        bad.max_minutes = MAX_POLICY_MINUTES + 1;
        assert_eq!(bad.problems().len(), 3);
    }
}
