//! Which event times an ingest accepts. The contract takes any time from 1970 to 9999, but a
//! producer that sends epoch *seconds*, or a clock that is years off, would fill the ledger
//! with records dated 1970 or 2999 that no scope or detector window ever finds. So an ingest
//! refuses, with a reason, an integer `time` too small to be epoch milliseconds of this era,
//! and any time implausibly far from now. "Now" is read once per chunk or HTTP body, not per
//! record.
//!
//! The window comes from the `[ingest]` section of `<data>/suho.toml`:
//!
//! ```toml
//! [ingest]
//! max_past_days = 7300     # refuse times more than 20 years old (archives are imported)
//! max_future_hours = 48    # refuse times more than 2 days ahead (clock skew)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use suho_record::{format_rfc3339_ms, Thousands, TimeForm};

use crate::IngestError;

/// An integer `time` below this (1e11 ms, 1973-03-03T09:46:40Z) is refused: it is almost
/// certainly epoch seconds (1e11 seconds is the year 5138). suho never reinterprets it.
pub const EPOCH_SECONDS_BELOW_MS: i64 = 100_000_000_000;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The `[ingest]` section of `suho.toml`: how far from now an event time may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Refuse event times more than this many days before now. Default 7,300 (20 years).
    pub max_past_days: u32,
    /// Refuse event times more than this many hours after now. Default 48.
    pub max_future_hours: u32,
}

impl Default for IngestConfig {
    fn default() -> IngestConfig {
        IngestConfig {
            max_past_days: 7300,
            max_future_hours: 48,
        }
    }
}

/// `suho.toml` as far as the ingest reads it; other sections belong to other parts of suho.
#[derive(Deserialize, Default)]
struct SuhoToml {
    #[serde(default)]
    ingest: IngestConfig,
}

impl IngestConfig {
    /// The `[ingest]` section of the text of a `suho.toml` (other sections are ignored; a
    /// missing section gives the defaults); `path` is for errors. suho itself reads the file
    /// once, in the application layer, and uses [`IngestConfig::from_section`].
    pub fn from_toml(text: &str, path: &Path) -> Result<IngestConfig, IngestError> {
        let bad = |reason: String| IngestError::Config {
            path: PathBuf::from(path),
            reason,
        };
        let doc: SuhoToml = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        Ok(doc.ingest)
    }

    /// The `[ingest]` section of a parsed `suho.toml` (absent: the defaults); `path` is for
    /// errors.
    pub fn from_section(
        section: Option<toml::Value>,
        path: &Path,
    ) -> Result<IngestConfig, IngestError> {
        match section {
            None => Ok(IngestConfig::default()),
            Some(v) => IngestConfig::deserialize(v).map_err(|e| IngestError::Config {
                path: PathBuf::from(path),
                reason: format!("[ingest]: {e}"),
            }),
        }
    }

    /// The accepted range at wall-clock time `now_ms`.
    pub(crate) fn at(&self, now_ms: i64) -> TimeWindow {
        TimeWindow {
            earliest_ms: now_ms.saturating_sub(i64::from(self.max_past_days) * DAY_MS),
            latest_ms: now_ms.saturating_add(i64::from(self.max_future_hours) * HOUR_MS),
            now_ms,
            config: *self,
        }
    }
}

/// The event times accepted at one moment; one per chunk or body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeWindow {
    earliest_ms: i64,
    latest_ms: i64,
    now_ms: i64,
    config: IngestConfig,
}

impl TimeWindow {
    /// Whether a record whose `time` is `time_ms`, written as `form`, may be stored; if not,
    /// the reason, for the producer and for the operator who can widen the window.
    #[inline]
    pub(crate) fn check(&self, time_ms: i64, form: TimeForm) -> Result<(), String> {
        if form == TimeForm::EpochMillis && time_ms < EPOCH_SECONDS_BELOW_MS {
            return Err(epoch_seconds(time_ms));
        }
        if time_ms < self.earliest_ms {
            return Err(self.too_old(time_ms));
        }
        if time_ms > self.latest_ms {
            return Err(self.too_new(time_ms));
        }
        Ok(())
    }

    #[cold]
    fn too_old(&self, time_ms: i64) -> String {
        format!(
            "field \"time\": {} is more than {} days before now ({}), the earliest time this suho accepts; \
             to import older records, raise max_past_days in the [ingest] section of suho.toml",
            format_rfc3339_ms(time_ms),
            Thousands(u128::from(self.config.max_past_days)),
            format_rfc3339_ms(self.now_ms),
        )
    }

    #[cold]
    fn too_new(&self, time_ms: i64) -> String {
        format!(
            "field \"time\": {} is more than {} hours after now ({}), the latest time this suho accepts; \
             check the producer's clock and time unit, or raise max_future_hours in the [ingest] section of suho.toml",
            format_rfc3339_ms(time_ms),
            Thousands(u128::from(self.config.max_future_hours)),
            format_rfc3339_ms(self.now_ms),
        )
    }
}

#[cold]
fn epoch_seconds(time_ms: i64) -> String {
    format!(
        "field \"time\": {time_ms} looks like epoch seconds ({} as seconds), but suho reads an integer time as \
         epoch milliseconds, where it is {}; send {} (milliseconds) or an RFC 3339 time. \
         Integer times below {} (1973-03-03) are refused, never reinterpreted",
        format_rfc3339_ms(time_ms.saturating_mul(1000)),
        format_rfc3339_ms(time_ms),
        time_ms.saturating_mul(1000),
        EPOCH_SECONDS_BELOW_MS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_765_000_000_000; // 2025-12-06

    #[test]
    fn epoch_seconds_are_refused_with_what_they_would_mean() {
        let w = IngestConfig::default().at(NOW);
        let why = w
            .check(1_750_734_765, TimeForm::EpochMillis)
            .expect_err("seconds are refused");
        assert!(why.contains("looks like epoch seconds"), "{why}");
        assert!(why.contains("2025-06-24T03:12:45.000Z as seconds"), "{why}");
        assert!(why.contains("1970-01-21T06:18:54.765Z"), "{why}");
        assert!(why.contains("send 1750734765000"), "{why}");
        // Whatever the window: an operator who widens it still gets no 1970 records by mistake.
        let wide = IngestConfig {
            max_past_days: u32::MAX,
            max_future_hours: 48,
        }
        .at(NOW);
        assert!(wide.check(0, TimeForm::EpochMillis).is_err());
        assert!(wide
            .check(EPOCH_SECONDS_BELOW_MS - 1, TimeForm::EpochMillis)
            .is_err());
        // The same instant written as RFC 3339 is only subject to the window.
        assert_eq!(wide.check(0, TimeForm::Rfc3339), Ok(()));
        assert_eq!(
            wide.check(EPOCH_SECONDS_BELOW_MS, TimeForm::EpochMillis),
            Ok(())
        );
    }

    #[test]
    fn the_window_bounds_past_and_future_and_says_how_to_change_it() {
        let w = IngestConfig::default().at(NOW);
        assert_eq!(w.check(NOW, TimeForm::EpochMillis), Ok(()));
        assert_eq!(w.check(NOW + 48 * HOUR_MS, TimeForm::Rfc3339), Ok(()));
        assert_eq!(w.check(NOW - 7300 * DAY_MS, TimeForm::Rfc3339), Ok(()));
        let future = w
            .check(NOW + 48 * HOUR_MS + 1, TimeForm::Rfc3339)
            .expect_err("too far ahead");
        assert!(future.contains("more than 48 hours after now"), "{future}");
        assert!(future.contains("max_future_hours in the [ingest] section of suho.toml"));
        let old = w
            .check(NOW - 7300 * DAY_MS - 1, TimeForm::EpochMillis)
            .expect_err("too old");
        assert!(old.contains("more than 7,300 days before now"), "{old}");
        assert!(old.contains("max_past_days in the [ingest] section of suho.toml"));
    }

    #[test]
    fn config_reads_the_ingest_section_and_refuses_typos() {
        let p = Path::new("suho.toml");
        let text = "[geo]\nhome_countries = [\"KR\"]\n\n[ingest]\nmax_past_days = 30\n";
        let c = IngestConfig::from_toml(text, p).expect("parses");
        assert_eq!(
            c,
            IngestConfig {
                max_past_days: 30,
                max_future_hours: 48
            }
        );
        assert_eq!(
            IngestConfig::from_toml("[geo]\n", p).ok(),
            Some(IngestConfig::default())
        );
        let typo = IngestConfig::from_toml("[ingest]\nmax_past_day = 30\n", p)
            .expect_err("unknown key")
            .to_string();
        assert!(typo.contains("max_past_day"), "{typo}");
        assert!(typo.contains("suho.toml"), "{typo}");
    }
}
