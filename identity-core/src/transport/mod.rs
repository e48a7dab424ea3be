//! HTTP transports behind features: [`UreqClient`] (blocking, feature `ureq`) and
//! [`ReqwestClient`] (async, feature `reqwest`). Both speak plain HTTP with no TLS code unless
//! the `rustls` feature is on.

#[cfg(feature = "reqwest")]
mod reqwest;
#[cfg(feature = "ureq")]
mod ureq;

#[cfg(feature = "reqwest")]
pub use self::reqwest::ReqwestClient;
#[cfg(feature = "ureq")]
pub use self::ureq::UreqClient;

#[cfg(feature = "rustls")]
pub mod tls;

use crate::error::Result;
use crate::http::{AsyncHttpClient, HttpClient};
use std::sync::Arc;
use std::time::Duration;

/// Installs rustls's ring provider as the process-wide default, if none is installed yet, and
/// says whether a default is now in place (false without the `rustls` feature).
///
/// With the `rustls` feature, reqwest is built without a provider of its own, so a
/// `reqwest::Client` that *your* code builds needs a process default: call this first (or
/// enable reqwest's own `rustls` feature). Building one of our async clients calls it too.
pub fn install_default_tls_provider() -> bool {
    #[cfg(feature = "rustls")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
        rustls::crypto::CryptoProvider::get_default().is_some()
    }
    #[cfg(not(feature = "rustls"))]
    {
        false
    }
}

/// Options shared by the transports.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportOptions {
    /// Extra trusted root certificates, PEM (added to the platform roots and `SSL_CERT_FILE`
    /// / `SSL_CERT_DIR`). Used with the `rustls` feature.
    pub extra_root_certificates_pem: Vec<String>,
    /// Honour `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` and `NO_PROXY` (default true).
    pub proxy_from_env: bool,
    /// Connect timeout used when a request sets none (default 10 s).
    pub default_connect_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            extra_root_certificates_pem: Vec::new(),
            proxy_from_env: true,
            default_connect_timeout: Duration::from_secs(10),
        }
    }
}

impl TransportOptions {
    /// Trusts one more root certificate (PEM), e.g. a local emulator's CA.
    #[must_use]
    pub fn with_root_certificate_pem(mut self, pem: impl Into<String>) -> Self {
        self.extra_root_certificates_pem.push(pem.into());
        self
    }
}

/// The blocking transport compiled in (`ureq`), or a configuration error that says which
/// feature to enable.
pub fn default_blocking_client(options: &TransportOptions) -> Result<Arc<dyn HttpClient>> {
    #[cfg(feature = "ureq")]
    {
        Ok(Arc::new(UreqClient::new(options)?))
    }
    #[cfg(not(feature = "ureq"))]
    {
        let _ = options;
        Err(crate::error::Error::invalid_configuration(
            "",
            "No blocking HTTP transport is compiled in: enable the `ureq` feature, or pass your own HttpClient.",
        ))
    }
}

/// The async transport compiled in (`reqwest`), or a configuration error that says which
/// feature to enable.
pub fn default_async_client(options: &TransportOptions) -> Result<Arc<dyn AsyncHttpClient>> {
    #[cfg(feature = "reqwest")]
    {
        Ok(Arc::new(ReqwestClient::new(options)?))
    }
    #[cfg(not(feature = "reqwest"))]
    {
        let _ = options;
        Err(crate::error::Error::invalid_configuration(
            "",
            "No async HTTP transport is compiled in: enable the `reqwest` feature, or pass your own AsyncHttpClient.",
        ))
    }
}
