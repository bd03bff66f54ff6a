//! Wall-clock helpers. Timestamps are stored as integer Unix milliseconds so
//! SQLite and PostgreSQL share one schema and one set of queries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// RFC 3339 with milliseconds, UTC (`2026-11-23T18:58:00.123Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM` of a Unix millisecond time, UTC.
pub fn month_of_ms(ms: i64) -> String {
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}")
}

/// The UTC month `YYYY-MM` as `[start, end)` Unix milliseconds, or `None`
/// when `s` is not such a month.
pub fn month_bounds_ms(s: &str) -> Option<(i64, i64)> {
    let (y, m) = s.split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if !(1..=12).contains(&m) {
        return None;
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some((
        days_from_civil(y, m, 1) * 86_400_000,
        days_from_civil(ny, nm, 1) * 86_400_000,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        // 2023-11-14T22:13:20Z
        assert_eq!(month_of_ms(1_700_000_000_123), "2023-11");
        let (a, b) = month_bounds_ms("2024-02").unwrap();
        assert_eq!(rfc3339_ms(a), "2024-02-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(b), "2024-03-01T00:00:00.000Z");
        let (a, b) = month_bounds_ms("2026-12").unwrap();
        assert_eq!(rfc3339_ms(a), "2026-12-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(b), "2027-01-01T00:00:00.000Z");
        assert_eq!(month_of_ms(b - 1), "2026-12");
        assert_eq!(month_of_ms(b), "2027-01");
        for bad in ["2026-13", "2026-00", "26-01", "2026/01", "x"] {
            assert!(month_bounds_ms(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn formats_epoch_millis_as_rfc3339() {
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
