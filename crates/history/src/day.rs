//! Event days (UTC) and their `YYYY-MM-DD` names.

const DAY_MS: i64 = 86_400_000;

/// The day (days since 1970-01-01, UTC) of an epoch-millisecond time.
pub fn day_of_ms(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// The `YYYY-MM-DD` name of a day (days since 1970-01-01).
pub fn date_of_day(day: i64) -> String {
    let mut s = suho_record::format_rfc3339_ms(day.saturating_mul(DAY_MS));
    s.truncate(10);
    s
}

/// The day of a `YYYY-MM-DD` name, or None if it is not a valid date.
pub fn parse_date(date: &str) -> Option<i64> {
    if date.len() != 10 {
        return None;
    }
    suho_record::parse_rfc3339(&format!("{date}T00:00:00Z"))
        .ok()
        .map(day_of_ms)
}

/// First millisecond of a day.
pub(crate) fn day_start_ms(day: i64) -> i64 {
    day.saturating_mul(DAY_MS)
}

/// The directory name of a day partition: `date=YYYY-MM-DD`.
pub(crate) fn partition_name(day: i64) -> String {
    format!("date={}", date_of_day(day))
}

/// The day of a partition directory name, or None if it is not one.
pub(crate) fn parse_partition_name(name: &str) -> Option<i64> {
    name.strip_prefix("date=").and_then(parse_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_through_their_names() {
        for (ms, name) in [
            (0, "1970-01-01"),
            (1_750_734_765_120, "2025-06-24"),
            (253_402_300_799_999, "9999-12-31"),
        ] {
            let day = day_of_ms(ms);
            assert_eq!(date_of_day(day), name);
            assert_eq!(parse_date(name), Some(day));
            assert_eq!(parse_partition_name(&partition_name(day)), Some(day));
        }
        assert_eq!(day_of_ms(86_399_999), 0);
        assert_eq!(day_of_ms(86_400_000), 1);
        assert_eq!(parse_date("2025-02-30"), None);
        assert_eq!(parse_partition_name("date=2025-1-01"), None);
        assert_eq!(parse_partition_name("2025-01-01"), None);
    }
}
