//! The checkpoint signing key: created on first use, private key file mode 0600.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use suho_note::{Signer, Verifier};

use crate::LedgerError;

const PRIVATE: &str = "ledger.key";
const PUBLIC: &str = "ledger.vkey";

/// Load the signer from `dir`, or create one (name `suho.local/ledger-<8 hex>`) on first use.
pub fn load_or_create_signer(dir: &Path) -> Result<Signer, LedgerError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LedgerError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let key_path = dir.join(PRIVATE);
    match fs::read_to_string(&key_path) {
        Ok(text) => {
            let mode = fs::metadata(&key_path)
                .map_err(io_err(&key_path))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(LedgerError::Corrupt {
                    path: key_path,
                    detail: format!("the private key is readable by others (mode {mode:o}); run `chmod 600` on it"),
                });
            }
            let signer = Signer::from_private_key(&text)?;
            let vpath = dir.join(PUBLIC);
            if !vpath.exists() {
                // A crash between writing the two files: the verifier key is derived data.
                fs::write(&vpath, format!("{}\n", signer.verifier())).map_err(io_err(&vpath))?;
            }
            Ok(signer)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut id = [0u8; 4];
            rand::Rng::fill(&mut rand::thread_rng(), &mut id[..]);
            let signer = Signer::generate(&format!("suho.local/ledger-{}", hex::encode(id)))?;
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
            Ok(signer)
        }
        Err(source) => Err(LedgerError::Io {
            path: key_path,
            source,
        }),
    }
}

/// Load the verifier key of the ledger in the key directory `dir`.
pub fn load_verifier(dir: &Path) -> Result<Verifier, LedgerError> {
    let path = dir.join(PUBLIC);
    let text = fs::read_to_string(&path).map_err(|source| LedgerError::Io { path, source })?;
    Ok(Verifier::parse(text.trim())?)
}
