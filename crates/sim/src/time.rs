//! Event time: Unix milliseconds, civil dates (proleptic Gregorian) and RFC 3339 text.
//!
//! The simulator needs no time-zone database: the organisation lives in Asia/Seoul, which has
//! had a fixed +09:00 offset without daylight saving since 1988.

use std::fmt;

use crate::fmt::{push_2, push_padded};
use crate::SimError;

/// Milliseconds in one second.
pub const MS_PER_SEC: i64 = 1_000;
/// Milliseconds in one minute.
pub const MS_PER_MIN: i64 = 60 * MS_PER_SEC;
/// Milliseconds in one hour.
pub const MS_PER_HOUR: i64 = 60 * MS_PER_MIN;
/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
/// The Asia/Seoul (KST) offset from UTC.
pub const KST_OFFSET_MS: i64 = 9 * MS_PER_HOUR;

/// Latest year the simulator writes: RFC 3339 has four year digits.
const MAX_YEAR: i64 = 9999;

/// An instant, as milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `ms` milliseconds after the Unix epoch.
    pub const fn from_unix_ms(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_ms(self) -> i64 {
        self.0
    }

    /// Midnight at the start of the given calendar day in Seoul, or `None` for a date that
    /// does not exist (2025-02-30) or lies outside years 1970..=9999.
    pub fn kst_midnight(year: i64, month: u32, day: u32) -> Option<Timestamp> {
        if !(1970..=MAX_YEAR).contains(&year)
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
        {
            return None;
        }
        Some(Timestamp(
            days_from_civil(year, month, day) * MS_PER_DAY - KST_OFFSET_MS,
        ))
    }

    /// Parses the time forms people and scripts give the simulator: an RFC 3339 date-time
    /// with offset (`2025-06-24T09:00:00+09:00`, `...Z`, optional fraction), a bare date
    /// (`2025-06-24`, read as midnight in Seoul), or integer epoch milliseconds.
    pub fn parse(input: &str) -> Result<Timestamp, SimError> {
        let err = |reason: &'static str| SimError::Time {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty time"));
        }
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<i64>()
                .map(Timestamp)
                .map_err(|_| err("epoch milliseconds out of range"));
        }
        let b = s.as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err(
                "expected YYYY-MM-DD, an RFC 3339 date-time, or epoch milliseconds",
            ));
        }
        let year = num(&b[0..4]).ok_or_else(|| err("year is not four digits"))?;
        let month = num(&b[5..7]).ok_or_else(|| err("month is not two digits"))?;
        let day = num(&b[8..10]).ok_or_else(|| err("day is not two digits"))?;
        if !(1..=12).contains(&month)
            || day == 0
            || day > i64::from(days_in_month(year, month as u32))
        {
            return Err(err("no such calendar date"));
        }
        let date_days = days_from_civil(year, month as u32, day as u32);
        if b.len() == 10 {
            return Ok(Timestamp(date_days * MS_PER_DAY - KST_OFFSET_MS));
        }
        if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return Err(err("expected THH:MM:SS after the date"));
        }
        let hour = num(&b[11..13]).ok_or_else(|| err("hour is not two digits"))?;
        let minute = num(&b[14..16]).ok_or_else(|| err("minute is not two digits"))?;
        let second = num(&b[17..19]).ok_or_else(|| err("second is not two digits"))?;
        if hour > 23 || minute > 59 || second > 60 {
            return Err(err("hour, minute or second out of range"));
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 3 {
                    millis = millis * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return Err(err("empty fraction of a second"));
            }
            for _ in (i - start)..3 {
                millis *= 10;
            }
        }
        let offset_ms = match &b[i..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let oh = num(&[*h1, *h2]).ok_or_else(|| err("offset hour is not two digits"))?;
                let om = num(&[*m1, *m2]).ok_or_else(|| err("offset minute is not two digits"))?;
                if oh > 23 || om > 59 {
                    return Err(err("offset out of range"));
                }
                let v = oh * MS_PER_HOUR + om * MS_PER_MIN;
                if *sign == b'-' {
                    -v
                } else {
                    v
                }
            }
            _ => return Err(err("expected Z or an offset like +09:00 at the end")),
        };
        let local = date_days * MS_PER_DAY
            + hour * MS_PER_HOUR
            + minute * MS_PER_MIN
            + second.min(59) * MS_PER_SEC
            + millis;
        Ok(Timestamp(local - offset_ms))
    }

    /// The Seoul calendar day this instant falls on, as days since 1970-01-01.
    pub(crate) fn kst_day_number(self) -> i64 {
        (self.0 + KST_OFFSET_MS).div_euclid(MS_PER_DAY)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2025-06-24T03:12:45.120Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::with_capacity(24);
        push_rfc3339(&mut buf, self.0, TimeStyle::UtcMillis);
        f.write_str(&String::from_utf8_lossy(&buf))
    }
}

fn num(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Day of the week of a day number, 0 = Sunday .. 6 = Saturday.
pub(crate) fn weekday(day_number: i64) -> u32 {
    (day_number + 4).rem_euclid(7) as u32
}

/// How a producer writes its `time` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeStyle {
    /// `2025-06-24T12:03:45.120+09:00`
    KstMillis,
    /// `2025-06-24T12:03:45+09:00`
    KstSeconds,
    /// `2025-06-24T03:03:45.120Z`
    UtcMillis,
    /// `2025-06-24T03:03:45Z`
    UtcSeconds,
}

/// Appends `ms` as RFC 3339 text in the given style (no quotes).
pub(crate) fn push_rfc3339(buf: &mut Vec<u8>, ms: i64, style: TimeStyle) {
    let kst = matches!(style, TimeStyle::KstMillis | TimeStyle::KstSeconds);
    let local = if kst { ms + KST_OFFSET_MS } else { ms };
    let days = local.div_euclid(MS_PER_DAY);
    let rem = local.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    push_padded(buf, y.clamp(0, MAX_YEAR) as u64, 4);
    buf.push(b'-');
    push_padded(buf, u64::from(m), 2);
    buf.push(b'-');
    push_padded(buf, u64::from(d), 2);
    buf.push(b'T');
    push_padded(buf, (rem / MS_PER_HOUR) as u64, 2);
    buf.push(b':');
    push_padded(buf, (rem % MS_PER_HOUR / MS_PER_MIN) as u64, 2);
    buf.push(b':');
    push_padded(buf, (rem % MS_PER_MIN / MS_PER_SEC) as u64, 2);
    if matches!(style, TimeStyle::KstMillis | TimeStyle::UtcMillis) {
        buf.push(b'.');
        push_padded(buf, (rem % MS_PER_SEC) as u64, 3);
    }
    if kst {
        buf.extend_from_slice(b"+09:00");
    } else {
        buf.push(b'Z');
    }
}

/// RFC 3339 writer that remembers the last date it formatted in each zone: records arrive in
/// time order, so the calendar arithmetic runs once a day instead of once a record.
#[derive(Debug)]
pub(crate) struct TimeWriter {
    kst: (i64, [u8; 10]),
    utc: (i64, [u8; 10]),
}

impl Default for TimeWriter {
    fn default() -> TimeWriter {
        TimeWriter {
            kst: (i64::MIN, [0; 10]),
            utc: (i64::MIN, [0; 10]),
        }
    }
}

impl TimeWriter {
    /// Same output as [`push_rfc3339`].
    #[inline]
    pub(crate) fn push(&mut self, buf: &mut Vec<u8>, ms: i64, style: TimeStyle) {
        let kst = matches!(style, TimeStyle::KstMillis | TimeStyle::KstSeconds);
        let local = if kst { ms + KST_OFFSET_MS } else { ms };
        let days = local.div_euclid(MS_PER_DAY);
        let rem = local.rem_euclid(MS_PER_DAY);
        let cache = if kst { &mut self.kst } else { &mut self.utc };
        if cache.0 != days {
            let mut date = Vec::with_capacity(10);
            let (y, m, d) = civil_from_days(days);
            push_padded(&mut date, y.clamp(0, MAX_YEAR) as u64, 4);
            date.push(b'-');
            push_2(&mut date, m);
            date.push(b'-');
            push_2(&mut date, d);
            cache.1.copy_from_slice(&date[..10]);
            cache.0 = days;
        }
        let mut tmp = *b"0000-00-00T00:00:00.000+09:00";
        tmp[..10].copy_from_slice(&cache.1);
        let two = |out: &mut [u8], n: i64| {
            out[0] = b'0' + (n / 10) as u8;
            out[1] = b'0' + (n % 10) as u8;
        };
        two(&mut tmp[11..13], rem / MS_PER_HOUR);
        two(&mut tmp[14..16], rem % MS_PER_HOUR / MS_PER_MIN);
        two(&mut tmp[17..19], rem % MS_PER_MIN / MS_PER_SEC);
        let mut len = 19;
        if matches!(style, TimeStyle::KstMillis | TimeStyle::UtcMillis) {
            let ms = rem % MS_PER_SEC;
            tmp[19] = b'.';
            tmp[20] = b'0' + (ms / 100) as u8;
            tmp[21] = b'0' + (ms / 10 % 10) as u8;
            tmp[22] = b'0' + (ms % 10) as u8;
            len = 23;
        }
        if kst {
            tmp[len..len + 6].copy_from_slice(b"+09:00");
            len += 6;
        } else {
            tmp[len] = b'Z';
            len += 1;
        }
        buf.extend_from_slice(&tmp[..len]);
    }
}

/// RFC 3339 text of `ms` in the given style.
pub(crate) fn rfc3339(ms: i64, style: TimeStyle) -> String {
    let mut buf = Vec::with_capacity(32);
    push_rfc3339(&mut buf, ms, style);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2025-06-24 is 20_263 days after the epoch and a Tuesday.
        assert_eq!(days_from_civil(2025, 6, 24), 20_263);
        assert_eq!(weekday(20_263), 2);
        for z in [-800_000i64, -1, 0, 59, 365, 11_016, 20_263, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "day {z}");
        }
        assert_eq!(civil_from_days(20_263), (2025, 6, 24));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn formats_each_style() {
        // 2025-06-24T03:12:45.120Z, the contract's example instant.
        let ms = 1_750_734_765_120;
        assert_eq!(
            rfc3339(ms, TimeStyle::UtcMillis),
            "2025-06-24T03:12:45.120Z"
        );
        assert_eq!(rfc3339(ms, TimeStyle::UtcSeconds), "2025-06-24T03:12:45Z");
        assert_eq!(
            rfc3339(ms, TimeStyle::KstMillis),
            "2025-06-24T12:12:45.120+09:00"
        );
        assert_eq!(
            rfc3339(ms, TimeStyle::KstSeconds),
            "2025-06-24T12:12:45+09:00"
        );
        assert_eq!(
            Timestamp::from_unix_ms(ms).to_string(),
            "2025-06-24T03:12:45.120Z"
        );
    }

    #[test]
    fn cached_writer_matches_the_plain_one() {
        let mut w = TimeWriter::default();
        let styles = [
            TimeStyle::KstMillis,
            TimeStyle::KstSeconds,
            TimeStyle::UtcMillis,
            TimeStyle::UtcSeconds,
        ];
        let mut ms = 1_750_690_000_000i64;
        for i in 0..2_000 {
            ms += 3_600_007 * (i % 5) + 999;
            for style in styles {
                let mut a = Vec::new();
                let mut b = Vec::new();
                w.push(&mut a, ms, style);
                push_rfc3339(&mut b, ms, style);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn parses_the_accepted_forms() {
        let want = Timestamp::from_unix_ms(1_750_734_765_120);
        assert_eq!(Timestamp::parse("2025-06-24T03:12:45.120Z").unwrap(), want);
        assert_eq!(
            Timestamp::parse("2025-06-24T12:12:45.12+09:00").unwrap(),
            want
        );
        assert_eq!(Timestamp::parse("1750734765120").unwrap(), want);
        assert_eq!(
            Timestamp::parse("2025-06-24").unwrap(),
            Timestamp::kst_midnight(2025, 6, 24).unwrap()
        );
        assert_eq!(
            Timestamp::parse("2025-06-24").unwrap().unix_ms(),
            1_750_690_800_000
        );
        assert_eq!(
            Timestamp::parse("2025-06-23T22:00:00-05:30").unwrap(),
            Timestamp::parse("2025-06-24T03:30:00Z").unwrap()
        );
    }

    #[test]
    fn rejects_malformed_times_with_a_reason() {
        for bad in [
            "",
            "yesterday",
            "2025-02-30",
            "2025-06-24T25:00:00Z",
            "2025-06-24T10:00:00",
            "2025-13-01",
        ] {
            match Timestamp::parse(bad) {
                Err(SimError::Time { input, .. }) => assert_eq!(input, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(Timestamp::kst_midnight(2025, 2, 29).is_none());
    }
}
