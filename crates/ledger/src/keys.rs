//! The checkpoint signing key: created silently only for a brand-new data directory, private
//! key file mode 0600. For an existing ledger a missing key is refused
//! ([`crate::SealProblem::KeyMissing`]): a new key there would re-sign whatever the files hold.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use suho_note::{Signer, Verifier};

use crate::seal;
use crate::{Layout, LedgerError};

const PRIVATE: &str = "ledger.key";
const PUBLIC: &str = "ledger.vkey";

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LedgerError {
    let path = path.to_path_buf();
    move |source| LedgerError::Io { path, source }
}

/// Load the signer of the ledger in `layout`, or create one (name `suho.local/ledger-<8 hex>`)
/// when the data directory holds no ledger yet. A ledger whose key is gone is refused: only
/// `suho ledger reseal` makes a new key for it.
pub fn load_or_create_signer(layout: &Layout) -> Result<Signer, LedgerError> {
    if let Some(signer) = load_signer(&layout.keys())? {
        return Ok(signer);
    }
    if let Some(problem) = seal::key_missing(layout)? {
        return Err(LedgerError::Refused(problem));
    }
    let signer = new_signer()?;
    save_signer(&layout.keys(), &signer)?;
    Ok(signer)
}

/// The signer in the key directory `dir`; None when there is no private key.
pub fn load_signer(dir: &Path) -> Result<Option<Signer>, LedgerError> {
    let key_path = dir.join(PRIVATE);
    let text = match fs::read_to_string(&key_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LedgerError::Io {
                path: key_path,
                source,
            })
        }
    };
    let mode = fs::metadata(&key_path)
        .map_err(io_err(&key_path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(LedgerError::Corrupt {
            path: key_path,
            detail: format!(
                "the private key is readable by others (mode {mode:o}); run `chmod 600` on it"
            ),
        });
    }
    let signer = Signer::from_private_key(&text)?;
    let vpath = dir.join(PUBLIC);
    if !vpath.exists() {
        // A crash between writing the two files: the verifier key is derived data.
        fs::write(&vpath, format!("{}\n", signer.verifier())).map_err(io_err(&vpath))?;
    }
    Ok(Some(signer))
}

/// Whether the key directory `dir` holds a private key.
pub(crate) fn has_private_key(dir: &Path) -> bool {
    dir.join(PRIVATE).exists()
}

/// A new signer, in memory only.
pub(crate) fn new_signer() -> Result<Signer, LedgerError> {
    let mut id = [0u8; 4];
    rand::Rng::fill(&mut rand::thread_rng(), &mut id[..]);
    Ok(Signer::generate(&format!(
        "suho.local/ledger-{}",
        hex::encode(id)
    ))?)
}

/// Write `signer` to the key directory `dir` (which must not hold a private key yet) and its
/// verifier key beside it, durably.
pub(crate) fn save_signer(dir: &Path, signer: &Signer) -> Result<(), LedgerError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let key_path = dir.join(PRIVATE);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .map_err(io_err(&key_path))?;
    f.write_all(signer.private_key().as_bytes())
        .map_err(io_err(&key_path))?;
    f.sync_all().map_err(io_err(&key_path))?;
    let vpath = dir.join(PUBLIC);
    fs::write(&vpath, format!("{}\n", signer.verifier())).map_err(io_err(&vpath))?;
    crate::wal::sync_dir(dir)?;
    tracing::info!(key = %signer.verifier(), "created the ledger signing key");
    Ok(())
}

/// Load the verifier key of the ledger in the key directory `dir`.
pub fn load_verifier(dir: &Path) -> Result<Verifier, LedgerError> {
    let path = dir.join(PUBLIC);
    let text = fs::read_to_string(&path).map_err(|source| LedgerError::Io { path, source })?;
    Ok(Verifier::parse(text.trim())?)
}
