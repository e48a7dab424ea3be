//! rustls configuration shared by the transports: ring provider, platform roots (which
//! include `SSL_CERT_FILE` / `SSL_CERT_DIR`), plus the caller's extra roots.

use crate::error::{Error, Result};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::sync::{Arc, Mutex, OnceLock};

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

/// The platform's root certificates, read once per process: reading and parsing the system
/// bundle costs milliseconds, and every credential builds one or two HTTP clients.
fn platform_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!(%error, "could not load some platform root certificates");
        }
        native.certs
    })
}

/// The trusted roots: the platform store (which includes `SSL_CERT_FILE` / `SSL_CERT_DIR`, read
/// once per process) plus `extra_pem`.
pub fn trusted_roots(extra_pem: &[String]) -> Result<Vec<CertificateDer<'static>>> {
    let mut roots = platform_roots().to_vec();
    for pem in extra_pem {
        roots.extend(parse_pem_certificates(pem)?);
    }
    Ok(roots)
}

/// A client configuration trusting the platform roots plus `extra_pem`, built once per
/// distinct `extra_pem` (the last few are kept) and cloned after that.
pub fn shared_client_config(extra_pem: &[String]) -> Result<rustls::ClientConfig> {
    type Built = Vec<(Vec<String>, rustls::ClientConfig)>;
    static BUILT: Mutex<Built> = Mutex::new(Vec::new());
    let lock = || {
        BUILT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some((_, config)) = lock().iter().find(|(k, _)| k.as_slice() == extra_pem) {
        return Ok(config.clone());
    }
    let config = client_config(root_store(trusted_roots(extra_pem)?))?;
    let mut built = lock();
    if built.len() >= 4 {
        built.remove(0);
    }
    built.push((extra_pem.to_vec(), config.clone()));
    Ok(config)
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
