//! Sizes and ages the way `docker images` prints them: `2.13MB`, `3 weeks ago`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Decimal units with three significant digits, as Docker's `units.HumanSize`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    // Docker's %.3g drops trailing zeros: 2.10MB is 2.1MB.
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
}

/// How long ago `then` (seconds since the epoch) was, in Docker's words.
pub fn human_duration(then: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let seconds = now.saturating_sub(then);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86400);
    match seconds {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{minutes} minutes"),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{hours} hours"),
        s if s < 14 * 86400 => format!("{days} days"),
        s if s < 60 * 86400 => format!("{} weeks", days / 7),
        s if s < 730 * 86400 => format!("{} months", days / 30),
        _ => format!("{} years", days / 365),
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time such as `2024-01-01T00:00:00Z` (fractions
/// and offsets allowed; the offset is applied).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, "Z"),
    };
    let clock = clock.split('.').next()?;
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let offset_seconds = match offset.as_bytes().first() {
        Some(b'+' | b'-') => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (oh, om) = offset[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
        _ => 0,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let seconds = days * 86400 + h * 3600 + m * 60 + s - offset_seconds;
    u64::try_from(seconds).ok()
}

/// An RFC 3339 UTC time with nanoseconds, `2024-01-01T00:00:00.000000000Z`, as Docker writes
/// container times and log timestamps.
pub fn format_rfc3339(seconds: u64, nanos: u32) -> String {
    let days = (seconds / 86400) as i64;
    let rest = seconds % 86400;
    // The civil date from days since 1970-01-01 (Howard Hinnant's algorithm, inverted).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_131_456), "2.13MB");
        assert_eq!(human_size(2_100_000), "2.1MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(1_240), "1.24kB");
        assert_eq!(human_size(123_456_789_000), "123GB");
    }

    #[test]
    fn formats_rfc3339_round_trip() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_rfc3339(1_704_067_200, 5),
            "2024-01-01T00:00:00.000000005Z"
        );
        for t in [951_782_400u64, 1_709_164_800, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t, 0)), Some(t));
        }
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(
            parse_rfc3339("2024-01-01T01:00:00.123456789+01:00"),
            Some(1_704_067_200)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
