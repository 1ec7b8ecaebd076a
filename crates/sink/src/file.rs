//! The OCSF file sink: one Detection Finding per line (NDJSON), appended, the batch fsynced
//! before it counts as delivered. A SIEM's collector (Vector, Fluent Bit, the Splunk or Elastic
//! agents) tails the file.
//!
//! A crash between the fsync and the cursor repeats the batch (same `metadata.uid`s); a crash
//! during a write can leave a torn last line, which is ended by a line break before anything
//! else is appended, so it never merges with the next finding.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::config::SinkConfig;
use crate::{DeliveryError, Event, Sink};

/// Appends findings to one file.
pub struct OcsfFileSink {
    path: PathBuf,
    file: Option<File>,
}

impl OcsfFileSink {
    /// The sink `cfg` describes (`path` relative to `data_dir`).
    pub fn new(cfg: &SinkConfig, data_dir: &Path) -> OcsfFileSink {
        let path = cfg
            .path
            .as_deref()
            .map(|p| SinkConfig::resolve(data_dir, p))
            .unwrap_or_default();
        OcsfFileSink { path, file: None }
    }

    fn open(&self) -> std::io::Result<File> {
        let existed = self.path.exists();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.path)?;
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                f.write_all(b"\n")?;
            }
        }
        if !existed {
            // The new file's name must survive a power loss too.
            let dir = match self.path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            File::open(dir)?.sync_all()?;
        }
        Ok(f)
    }
}

impl Sink for OcsfFileSink {
    fn send(&mut self, events: &[Event]) -> Result<(), DeliveryError> {
        let mut bytes = Vec::with_capacity(events.len() * 1024);
        for e in events {
            bytes.extend_from_slice(crate::ocsf::finding(e).to_string().as_bytes());
            bytes.push(b'\n');
        }
        let fail = |what: &str, e: std::io::Error| {
            DeliveryError::new(format!(
                "{}: {what} failed ({e}); suho writes the batch again",
                self.path.display()
            ))
        };
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(self.open().map_err(|e| fail("opening", e))?),
        };
        let written = file.write_all(&bytes).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Reopen next time: the end of the file is unknown now.
            self.file = None;
            return Err(fail("appending", e));
        }
        Ok(())
    }

    fn batch_limit(&self) -> usize {
        500
    }
}
