//! Durable whole-file replacement: the one way suho writes a file that must be either the old
//! version or the new one after a crash, never a torn mix or an empty file.
//!
//! [`AtomicFile`] writes to a temporary file beside the target (same directory, so the rename
//! cannot cross file systems; named `.<name>.<pid>.<n>.tmp`, so two processes or threads never
//! share one), and [`AtomicFile::commit`] flushes, `fsync`s the file, renames it over the
//! target and `fsync`s the directory, so that the rename itself survives a power cut. Dropped
//! without a commit, the temporary file is removed and the target is untouched.
//! [`write_atomic`] does all of it for bytes already in memory. Every error names the path it
//! concerns.
//!
//! Before this crate suho had about eleven hand-written copies of this sequence with different
//! guarantees (some skipped the directory sync, some left temporary files behind on error,
//! some shared one temporary name between processes).
#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file operation that failed, and on which path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct Error {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: io::Error,
}

impl Error {
    fn at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Who may read the file once it is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// As the process's umask allows (the usual `0666 & !umask`).
    #[default]
    Default,
    /// The owner only (`0600`): tokens, keys, anything holding a secret.
    Private,
}

/// A new version of a file, written beside it and put in place by [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

impl AtomicFile {
    /// Starts a new version of `path` (its directory must exist).
    pub fn create(path: &Path) -> Result<AtomicFile, Error> {
        AtomicFile::create_with(path, Mode::Default)
    }

    /// Starts a new version of `path` with the given [`Mode`].
    pub fn create_with(path: &Path, mode: Mode) -> Result<AtomicFile, Error> {
        let name = path.file_name().ok_or_else(|| Error {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        })?;
        let tmp = parent(path).join(format!(
            ".{}.{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut open = OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        if mode == Mode::Private {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        let file = open.open(&tmp).map_err(Error::at(&tmp))?;
        #[cfg(unix)]
        if mode == Mode::Private {
            // The umask can only remove bits from 0600; set it explicitly all the same.
            use std::os::unix::fs::PermissionsExt;
            if let Err(e) = file.set_permissions(fs::Permissions::from_mode(0o600)) {
                let _ = fs::remove_file(&tmp);
                return Err(Error::at(&tmp)(e));
            }
        }
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// The file this will replace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the new version into place, then syncs the directory.
    pub fn commit(mut self) -> Result<(), Error> {
        let tmp = self.tmp.clone();
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let file = out.into_inner().map_err(|e| Error {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(Error::at(&tmp))?;
        drop(file);
        fs::rename(&tmp, &self.path).map_err(Error::at(&self.path))?;
        // Renamed: nothing left to clean up, whatever the directory sync says.
        self.tmp = PathBuf::new();
        sync_dir(parent(&self.path))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.out.as_mut() {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("the file was already committed")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.out.as_mut() {
            Some(w) => w.write_all(buf),
            None => Err(io::Error::other("the file was already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `path` with `bytes`, durably: after a crash it holds the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomic_with(path, bytes, Mode::Default)
}

/// [`write_atomic`] with the given [`Mode`].
pub fn write_atomic_with(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), Error> {
    let mut f = AtomicFile::create_with(path, mode)?;
    let tmp = f.tmp.clone();
    f.write_all(bytes).map_err(Error::at(&tmp))?;
    f.commit()
}

/// Makes the directory's entries (a rename, a new or removed file) durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::at(dir))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_replaces_the_file_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        fs::write(&p, b"old").unwrap();
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old", "not visible before commit");
        f.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(names(d.path()), ["state"]);
    }

    #[test]
    fn dropped_without_commit_keeps_the_old_file_and_removes_the_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        fs::write(&p, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half a new ver").unwrap();
        }
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(d.path()), ["state"]);
    }

    #[test]
    fn two_writers_of_one_file_never_share_a_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        let mut a = AtomicFile::create(&p).unwrap();
        let mut b = AtomicFile::create(&p).unwrap();
        a.write_all(b"a").unwrap();
        b.write_all(b"b").unwrap();
        a.commit().unwrap();
        b.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"b");
        assert_eq!(names(d.path()), ["state"]);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tokens");
        write_atomic_with(&p, b"secret", Mode::Private).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/dir/state");
        let e = write_atomic(&p, b"x").unwrap_err();
        assert!(e.to_string().contains("no/such/dir"), "{e}");
    }
}
