//! RFC 3339 date-times to and from epoch milliseconds (UTC), by hand: no allocation, no
//! time-zone database, one pass over at most ~40 bytes.

use std::fmt;

/// First epoch millisecond an access record may carry: 1970-01-01T00:00:00Z.
pub const MIN_TIME_MS: i64 = 0;
/// Last epoch millisecond an access record may carry: 9999-12-31T23:59:59.999Z.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Why a string is not an RFC 3339 date-time with offset. The `Display` text is the short
/// reason that goes in parentheses after the value, e.g. `month 13`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// A character other than the one the layout `YYYY-MM-DDTHH:MM:SS[.fff]Z|±hh:mm` needs.
    #[error("expected {expected} at byte {at}")]
    Syntax {
        /// What the layout needs at that place.
        expected: &'static str,
        /// 0-based byte offset into the value.
        at: usize,
    },
    /// The month is not 01..12.
    #[error("month {0}")]
    Month(u32),
    /// The day does not exist in that month.
    #[error("day {day} does not exist in {year:04}-{month:02}")]
    Day {
        /// The year.
        year: u32,
        /// The month.
        month: u32,
        /// The day that does not exist.
        day: u32,
    },
    /// The hour is not 00..23.
    #[error("hour {0}")]
    Hour(u32),
    /// The minute is not 00..59.
    #[error("minute {0}")]
    Minute(u32),
    /// The second is not 00..60 (60 is a leap second).
    #[error("second {0}")]
    Second(u32),
    /// The value ends after the seconds (or fraction) without `Z` or `±hh:mm`.
    #[error("no offset: end it with Z or +hh:mm")]
    MissingOffset,
    /// The offset is outside -23:59..+23:59.
    #[error("offset {sign}{hours:02}:{minutes:02}")]
    Offset {
        /// `'+'` or `'-'`.
        sign: char,
        /// Offset hours.
        hours: u32,
        /// Offset minutes.
        minutes: u32,
    },
    /// Something follows the offset.
    #[error("unexpected text after the offset at byte {0}")]
    Trailing(usize),
}

/// Parses an RFC 3339 date-time with offset into epoch milliseconds (UTC).
///
/// Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)`, with `T`, `t` or a space between
/// date and time and `Z` or `z` for UTC (RFC 3339 section 5.6). The fraction may have any
/// number of digits and is truncated to milliseconds. Second 60 (a leap second) is accepted
/// and counts as the first second of the next minute. `-00:00` is read as UTC. Years 0000..9999
/// are parsed, so the result may be negative; callers apply their own range.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeError> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4, "a 4-digit year")?;
    expect(b, 4, b'-', "'-' after the year")?;
    let month = digits(b, 5, 2, "a 2-digit month")?;
    expect(b, 7, b'-', "'-' after the month")?;
    let day = digits(b, 8, 2, "a 2-digit day")?;
    match b.get(10) {
        Some(b'T' | b't' | b' ') => {}
        _ => {
            return Err(TimeError::Syntax {
                expected: "'T' between date and time",
                at: 10,
            })
        }
    }
    let hour = digits(b, 11, 2, "a 2-digit hour")?;
    expect(b, 13, b':', "':' after the hour")?;
    let minute = digits(b, 14, 2, "a 2-digit minute")?;
    expect(b, 16, b':', "':' after the minute")?;
    let second = digits(b, 17, 2, "a 2-digit second")?;
    let mut i = 19;
    let mut millis = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 3 {
                millis = millis * 10 + u32::from(d - b'0');
            }
            i += 1;
        }
        match i - start {
            0 => {
                return Err(TimeError::Syntax {
                    expected: "a digit after '.'",
                    at: i,
                })
            }
            1 => millis *= 100,
            2 => millis *= 10,
            _ => {}
        }
    }
    let offset_minutes: i64 = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(b, i + 1, 2, "a 2-digit offset hour")?;
            expect(b, i + 3, b':', "':' in the offset")?;
            let minutes = digits(b, i + 4, 2, "a 2-digit offset minute")?;
            if hours > 23 || minutes > 59 {
                return Err(TimeError::Offset {
                    sign: char::from(sign),
                    hours,
                    minutes,
                });
            }
            i += 6;
            let total = i64::from(hours * 60 + minutes);
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        None => return Err(TimeError::MissingOffset),
        Some(_) => {
            return Err(TimeError::Syntax {
                expected: "'.', 'Z' or an offset like +09:00",
                at: i,
            })
        }
    };
    if i != b.len() {
        return Err(TimeError::Trailing(i));
    }
    if !(1..=12).contains(&month) {
        return Err(TimeError::Month(month));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(TimeError::Day { year, month, day });
    }
    if hour > 23 {
        return Err(TimeError::Hour(hour));
    }
    if minute > 59 {
        return Err(TimeError::Minute(minute));
    }
    if second > 60 {
        return Err(TimeError::Second(second));
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = ((days * 24 + i64::from(hour)) * 60 + i64::from(minute)) * 60 + i64::from(second)
        - offset_minutes * 60;
    Ok(seconds * 1000 + i64::from(millis))
}

/// Formats epoch milliseconds as RFC 3339 in UTC with millisecond precision, e.g.
/// `2025-06-24T03:12:45.120Z`. Meant for times in [`MIN_TIME_MS`]..=[`MAX_TIME_MS`]; a year
/// outside 0000..9999 is written with as many digits (and sign) as it needs.
pub fn format_rfc3339_ms(ms: i64) -> String {
    Rfc3339(ms).to_string()
}

/// `Display` adapter for [`format_rfc3339_ms`] that writes without an intermediate `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub i64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        let days = ms.div_euclid(86_400_000);
        let rem = ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, milli) = (rem / 1000, rem % 1000);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
        )
    }
}

fn digits(b: &[u8], at: usize, n: usize, expected: &'static str) -> Result<u32, TimeError> {
    let mut v = 0u32;
    for k in at..at + n {
        match b.get(k) {
            Some(c) if c.is_ascii_digit() => v = v * 10 + u32::from(c - b'0'),
            _ => return Err(TimeError::Syntax { expected, at: k }),
        }
    }
    Ok(v)
}

fn expect(b: &[u8], at: usize, c: u8, expected: &'static str) -> Result<(), TimeError> {
    if b.get(at) == Some(&c) {
        Ok(())
    } else {
        Err(TimeError::Syntax { expected, at })
    }
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (era-based; see Howard Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms").
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:00.001Z", 1),
            ("2025-06-24T03:12:45.120Z", 1_750_734_765_120),
            ("2025-06-24T12:12:45.12+09:00", 1_750_734_765_120),
            ("2025-06-23T22:12:45.1209999-05:00", 1_750_734_765_120),
            ("2000-02-29t00:00:00z", 951_782_400_000),
            ("2025-05-31 18:00:00+09:00", 1_748_682_000_000),
            ("9999-12-31T23:59:59.999Z", MAX_TIME_MS),
            ("1969-12-31T23:59:59Z", -1000),
            ("2016-12-31T23:59:60Z", 1_483_228_800_000),
            ("2025-01-01T00:00:00-00:00", 1_735_689_600_000),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_rfc3339(s), Ok(ms), "{s}");
        }
    }

    #[test]
    fn reasons() {
        let cases = [
            ("2025-13-01T00:00:00Z", "month 13"),
            ("2025-00-01T00:00:00Z", "month 0"),
            ("2025-02-29T00:00:00Z", "day 29 does not exist in 2025-02"),
            ("2025-04-31T00:00:00Z", "day 31 does not exist in 2025-04"),
            ("2025-04-00T00:00:00Z", "day 0 does not exist in 2025-04"),
            ("2025-04-01T24:00:00Z", "hour 24"),
            ("2025-04-01T23:60:00Z", "minute 60"),
            ("2025-04-01T23:59:61Z", "second 61"),
            ("2025-04-01T23:59:59", "no offset: end it with Z or +hh:mm"),
            (
                "2025-04-01T23:59:59.5",
                "no offset: end it with Z or +hh:mm",
            ),
            ("2025-04-01T23:59:59+24:00", "offset +24:00"),
            ("2025-04-01T23:59:59-01:60", "offset -01:60"),
            (
                "2025-04-01T23:59:59+0900",
                "expected ':' in the offset at byte 22",
            ),
            (
                "2025-04-01T23:59:59.Z",
                "expected a digit after '.' at byte 20",
            ),
            (
                "2025-04-01T23:59:59ZZ",
                "unexpected text after the offset at byte 20",
            ),
            (
                "2025-04-01",
                "expected 'T' between date and time at byte 10",
            ),
            ("25-04-01T00:00:00Z", "expected a 4-digit year at byte 2"),
            ("", "expected a 4-digit year at byte 0"),
            ("2025-4-01T00:00:00Z", "expected a 2-digit month at byte 6"),
            (
                "2025-04-01T00:00:00 UTC",
                "expected '.', 'Z' or an offset like +09:00 at byte 19",
            ),
        ];
        for (s, why) in cases {
            match parse_rfc3339(s) {
                Err(e) => assert_eq!(e.to_string(), why, "{s}"),
                Ok(ms) => panic!("{s} parsed as {ms}"),
            }
        }
    }

    #[test]
    fn format_round_trips_every_day_boundary_and_leap_year() {
        for ms in [
            0,
            1,
            999,
            86_399_999,
            86_400_000,
            951_782_400_000,
            1_750_734_765_120,
            MAX_TIME_MS,
            -1,
        ] {
            let s = format_rfc3339_ms(ms);
            assert_eq!(parse_rfc3339(&s), Ok(ms), "{s}");
        }
        assert_eq!(
            format_rfc3339_ms(1_750_734_765_120),
            "2025-06-24T03:12:45.120Z"
        );
        assert_eq!(format_rfc3339_ms(MAX_TIME_MS), "9999-12-31T23:59:59.999Z");
        // Walk every day of 400 years (one full Gregorian cycle) through both directions.
        let mut expected = (1970i64, 1i64, 1i64);
        for day in 0..146_097i64 {
            assert_eq!(civil_from_days(day), expected);
            let (y, m, d) = expected;
            let ym = u32::try_from(m).unwrap_or(0);
            assert_eq!(days_from_civil(y, ym, u32::try_from(d).unwrap_or(0)), day);
            expected = if d < i64::from(days_in_month(u32::try_from(y).unwrap_or(0), ym)) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }
}
