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
        RejectLog {
            path: data.join("rejects.ndjson"),
            out: None,
            written: 0,
        }
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
        let err = |error| IngestError::RejectLog {
            path: self.path.clone(),
            error,
        };
        if self.out.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(err)?;
            self.out = Some(BufWriter::new(f));
        }
        let row = Row {
            time: rfc3339_now(),
            source,
            line,
            reason,
        };
        let mut text = serde_json::to_vec(&row).unwrap_or_default();
        text.push(b'\n');
        if let Some(out) = self.out.as_mut() {
            out.write_all(&text)
                .map_err(|error| IngestError::RejectLog {
                    path: self.path.clone(),
                    error,
                })?;
        }
        self.written += 1;
        Ok(())
    }

    /// Flush buffered rows to the file.
    pub fn flush(&mut self) -> Result<(), IngestError> {
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(|error| IngestError::RejectLog {
                path: self.path.clone(),
                error,
            })?;
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
fn rfc3339_now() -> String {
    suho_record::format_rfc3339_ms(suho_ledger::now_ms())
}
