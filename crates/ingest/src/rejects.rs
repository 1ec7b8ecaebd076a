//! The reject log: every rejected line, with its source, line number and reason, as NDJSON in
//! `<data>/rejects.ndjson`, so a person can read and fix them (`suho rejects`).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::IngestError;

/// Appends rejected lines to the reject log.
pub struct RejectLog {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    written: u64,
}

#[derive(Serialize)]
struct Row<'a> {
    time: String,
    source: &'a str,
    line: u64,
    reason: &'a str,
}

impl RejectLog {
    /// The reject log of data directory `data`; the file is created on the first reject.
    pub fn new(data: &Path) -> RejectLog {
        RejectLog { path: data.join("rejects.ndjson"), out: None, written: 0 }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rejects written through this handle.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Record that line `line` of `source` was rejected for `reason`.
    pub fn reject(&mut self, source: &str, line: u64, reason: &str) -> Result<(), IngestError> {
        let err = |error| IngestError::RejectLog { path: self.path.clone(), error };
        if self.out.is_none() {
            let f = OpenOptions::new().create(true).append(true).open(&self.path).map_err(err)?;
            self.out = Some(BufWriter::new(f));
        }
        let row = Row { time: rfc3339_now(), source, line, reason };
        let mut text = serde_json::to_vec(&row).unwrap_or_default();
        text.push(b'\n');
        if let Some(out) = self.out.as_mut() {
            out.write_all(&text).map_err(|error| IngestError::RejectLog { path: self.path.clone(), error })?;
        }
        self.written += 1;
        Ok(())
    }

    /// Flush buffered rows to the file.
    pub fn flush(&mut self) -> Result<(), IngestError> {
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(|error| IngestError::RejectLog { path: self.path.clone(), error })?;
        }
        Ok(())
    }
}

impl Drop for RejectLog {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Wall-clock time now as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339_now() -> String {
    rfc3339(suho_ledger::now_ms())
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds (proleptic Gregorian, civil-from-days).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_times() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_750_731_165_120), "2025-06-24T02:12:45.120Z");
        assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
