//! ISO 8601 durations as Microsoft's APIs take them (`PT3H`, `P1DT30M`, `PT1.5S`): days and a
//! time of hours, minutes and seconds. Years and months, whose length varies, are refused.

use chrono::TimeDelta;

/// The duration `iso` names, or `None` when it names none (or one too large to hold).
pub fn parse(iso: &str) -> Option<TimeDelta> {
    let body = iso.trim().strip_prefix('P')?;
    let (date, time) = body.split_once('T').unwrap_or((body, ""));
    if body.ends_with('T') || (date.is_empty() && time.is_empty()) {
        return None;
    }
    let mut millis: f64 = 0.0;
    for (part, units) in [
        (date, &[('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut rest = part;
        let mut allowed = units;
        while !rest.is_empty() {
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            let (number, tail) = rest.split_at(end);
            let unit = tail.chars().next()?;
            // Each unit at most once, in order.
            let at = allowed.iter().position(|(u, _)| *u == unit)?;
            let value: f64 = number.parse().ok()?;
            millis += value * allowed[at].1 * 1000.0;
            allowed = &allowed[at + 1..];
            rest = &tail[1..];
        }
    }
    (millis.is_finite() && millis < 1e15).then(|| TimeDelta::milliseconds(millis as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_microsoft_writes_them() {
        assert_eq!(parse("PT3H"), Some(TimeDelta::hours(3)));
        assert_eq!(parse("P1DT30M"), Some(TimeDelta::minutes(24 * 60 + 30)));
        assert_eq!(parse("PT1.5S"), Some(TimeDelta::milliseconds(1500)));
        assert_eq!(parse("P2D"), Some(TimeDelta::days(2)));
        for wrong in [
            "", "P", "PT", "3H", "P1M", "P1Y", "PT3H3H", "PT1M1H", "PTxH", "P1DT",
        ] {
            assert_eq!(parse(wrong), None, "{wrong}");
        }
    }
}
