//! TLS client settings shared by the sinks: PEM files and a rustls client configuration with
//! the aws-lc-rs provider `suho serve` already uses.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::SinkError;

fn bad_pem(path: &Path, why: String) -> SinkError {
    SinkError::Io {
        path: path.to_path_buf(),
        what: "reading PEM",
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
    }
}

/// Every certificate of a PEM file (at least one).
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, SinkError> {
    let bytes = std::fs::read(path).map_err(|e| SinkError::Io {
        path: path.to_path_buf(),
        what: "reading certificates",
        source: e,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad_pem(path, "holds no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, SinkError> {
    let bytes = std::fs::read(path).map_err(|e| SinkError::Io {
        path: path.to_path_buf(),
        what: "reading the private key",
        source: e,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| bad_pem(path, format!("holds no usable private key: {e}")))
}

/// A client configuration trusting `ca` (or Mozilla's roots), optionally with a client
/// certificate.
pub(crate) fn client_config(
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, SinkError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(p) => {
            for c in read_certs(p)? {
                roots.add(c).map_err(|e| {
                    bad_pem(p, format!("a certificate cannot be a trust anchor: {e}"))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| bad_pem(key, format!("does not match the client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
