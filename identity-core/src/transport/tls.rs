//! rustls configuration shared by the transports: ring provider, platform roots (which
//! include `SSL_CERT_FILE` / `SSL_CERT_DIR`), plus the caller's extra roots.

use crate::error::{Error, Result};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::sync::Arc;

/// Parses every certificate of a PEM text.
pub fn parse_pem_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::invalid_configuration(
                "",
                format!("A trusted root certificate is not valid PEM: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::invalid_configuration(
            "",
            "A trusted root certificate PEM holds no CERTIFICATE block.",
        ));
    }
    Ok(certs)
}

/// The trusted roots: the platform store (which includes `SSL_CERT_FILE` / `SSL_CERT_DIR`)
/// plus `extra_pem`.
pub fn trusted_roots(extra_pem: &[String]) -> Result<Vec<CertificateDer<'static>>> {
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "could not load some platform root certificates");
    }
    let mut roots = native.certs;
    for pem in extra_pem {
        roots.extend(parse_pem_certificates(pem)?);
    }
    Ok(roots)
}

/// A root store of `roots` (unparsable platform certificates are skipped and logged).
pub fn root_store(roots: Vec<CertificateDer<'static>>) -> RootCertStore {
    let mut store = RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(roots);
    tracing::trace!(added, ignored, "trusted root certificates");
    store
}

/// The ring crypto provider.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `roots`.
pub fn client_config(roots: RootCertStore) -> Result<rustls::ClientConfig> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid_configuration("", format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
