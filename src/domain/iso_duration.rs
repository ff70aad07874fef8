//! ISO 8601 durations as Microsoft's APIs write them (`PT3H`, `P1DT30M`, `PT1.5S`): days,
//! hours, minutes and seconds; no years or months, whose length varies.

use chrono::TimeDelta;

/// Reads a duration; `None` for anything else, including values too large to hold.
pub fn parse(iso: &str) -> Option<TimeDelta> {
    let rest = iso.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (rest, ""),
    };
    if days.is_empty() && time.is_empty() {
        return None;
    }
    let mut total = TimeDelta::zero();
    if !days.is_empty() {
        let days: i64 = days.strip_suffix('D')?.parse().ok()?;
        total = total.checked_add(&TimeDelta::try_days(days)?)?;
    }
    let mut number = String::new();
    for c in time.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'H' | 'M' | 'S' => {
                let n: f64 = number.parse().ok()?;
                number.clear();
                let seconds = match c {
                    'H' => n * 3600.0,
                    'M' => n * 60.0,
                    _ => n,
                };
                if !seconds.is_finite() || !(0.0..1e12).contains(&seconds) {
                    return None;
                }
                total = total.checked_add(&TimeDelta::milliseconds((seconds * 1000.0) as i64))?;
            }
            _ => return None,
        }
    }
    number.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_microsoft_writes_them() {
        assert_eq!(parse("PT2H"), Some(TimeDelta::hours(2)));
        assert_eq!(parse("PT3H"), Some(TimeDelta::hours(3)));
        assert_eq!(
            parse("P1DT30M"),
            Some(TimeDelta::days(1) + TimeDelta::minutes(30))
        );
        assert_eq!(parse("P1D"), Some(TimeDelta::days(1)));
        assert_eq!(parse("PT1.5S"), Some(TimeDelta::milliseconds(1500)));
        for bad in [
            "2 hours",
            "PT5",
            "P",
            "PT",
            "P1Y",
            "P99999999999999999D",
            "PT1e300S",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
