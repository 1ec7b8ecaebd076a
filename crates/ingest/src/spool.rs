//! The own-use spool: records of suho's own use of personal data (scope runs, evidence
//! bundles, SQL) written by a command while another process (`suho serve`) holds the ledger.
//!
//! A spooled record is one file, `<data>/spool/<ms>-<id>.ndjson`, made durable (write, fsync,
//! rename, fsync the directory) before the command goes on. Whoever holds the ledger drains the
//! spool: the ingest service at every checkpoint tick (through its detectors, like any body),
//! and the own-use recorder when it opens the ledger itself. Every spooled record carries an
//! `id`, so a crash between the append and the file's removal stores it once, not twice.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use suho_ledger::{Ledger, Prepared};

use crate::IngestError;

/// The spool directory of a data directory.
pub fn spool_dir(data: &Path) -> PathBuf {
    data.join("spool")
}

fn io(path: &Path, e: std::io::Error) -> IngestError {
    IngestError::Read {
        source_name: path.display().to_string(),
        error: e,
    }
}

/// Spool `body` (one access record with an `id`, validated by the caller) durably; returns the
/// file it was written to.
pub fn submit(data: &Path, id: &str, body: &[u8]) -> Result<PathBuf, IngestError> {
    let dir = spool_dir(data);
    fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let name = format!("{:020}-{safe}.ndjson", suho_ledger::now_ms().max(0));
    let path = dir.join(&name);
    let mut f = suho_durable::AtomicFile::create(&path).map_err(|e| io(&e.path, e.source))?;
    f.write_all(body)
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| io(&path, e))?;
    f.commit().map_err(|e| io(&e.path, e.source))?;
    Ok(path)
}

/// The spooled records waiting in `data` (oldest first), as (file, body without its newline).
/// A file that is not a valid record is moved to `spool/bad/` and reported in the log, never
/// silently dropped.
pub(crate) fn pending(data: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, IngestError> {
    let dir = spool_dir(data);
    let mut names: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir, e)),
    };
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for path in names {
        let mut body = fs::read(&path).map_err(|e| io(&path, e))?;
        if body.ends_with(b"\n") {
            body.pop();
        }
        if let Err(e) = suho_record::parse_record(&body) {
            let bad = dir.join("bad");
            fs::create_dir_all(&bad).map_err(|e| io(&bad, e))?;
            let to = bad.join(path.file_name().unwrap_or_default());
            tracing::error!(file = %path.display(), error = %e, "a spooled own-use record is invalid; moved aside");
            fs::rename(&path, &to).map_err(|e| io(&to, e))?;
            continue;
        }
        out.push((path, body));
    }
    Ok(out)
}

/// Remove spooled files once their records are durable in the ledger.
pub(crate) fn remove(files: &[(PathBuf, Vec<u8>)]) -> Result<(), IngestError> {
    for (path, _) in files {
        fs::remove_file(path).map_err(|e| io(path, e))?;
    }
    Ok(())
}

/// Append every spooled record to `ledger` (oldest first), make them durable, then remove their
/// files. For a process that runs no detectors: the next one to open them catches up with
/// these records from the write-ahead log. (The ingest service sequences spooled records like
/// any submitted body instead, so that its running detectors see them.)
pub fn drain(ledger: &mut Ledger) -> Result<(), IngestError> {
    let spooled = pending(&ledger.layout().data)?;
    if spooled.is_empty() {
        return Ok(());
    }
    for (_, body) in &spooled {
        // parse_record succeeded in `pending`.
        let rec =
            suho_record::parse_record(body).map_err(|e| IngestError::Detect(e.to_string()))?;
        let p = Prepared::new(body, rec.time_ms, rec.id.as_deref(), suho_ledger::now_ms());
        ledger
            .append(&p)
            .map_err(|e| IngestError::Ledger(e.to_string()))?;
    }
    ledger
        .sync()
        .map_err(|e| IngestError::Ledger(e.to_string()))?;
    remove(&spooled)
}
