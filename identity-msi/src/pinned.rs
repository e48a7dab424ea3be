//! The Service Fabric transport (feature `service-fabric`): HTTP/1.1 over rustls with the
//! server's leaf certificate pinned to `IDENTITY_SERVER_THUMBPRINT` (SHA-1), ignoring normal
//! chain validation (PROTOCOL.md §6.8).
//!
//! The blocking client runs the crate's small HTTP/1.1 core ([`crate::http1`]) over
//! `rustls::StreamOwned` with read/write timeouts, a 1 MiB body cap and `Connection: close`.
//! It connects directly, never through a proxy (pinning through a forwarding proxy is refused
//! by construction). The async client runs one blocking exchange on a short-lived thread and
//! awaits its result, so it works on any executor.

use crate::http1::{self, DEFAULT_TIMEOUT, split_url};
use identity_core::http::{Request, Response};
use identity_core::{
    AsyncHttpClient, BoxFuture, Error, HttpClient, Result, TransportError, TransportErrorKind,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use sha1::Digest as _;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-1 of a DER certificate, lower-case hex: its thumbprint.
pub(crate) fn thumbprint(der: &[u8]) -> String {
    hex(&sha1::Sha1::digest(der))
}

/// SHA-256 of a token, lower-case hex (`token_sha256_to_refresh`).
pub(crate) fn token_sha256(token: &str) -> String {
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

/// Accepts exactly the server whose leaf certificate has this SHA-1 thumbprint.
#[derive(Debug)]
struct ThumbprintPin {
    thumbprint: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ThumbprintPin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let actual = thumbprint(end_entity.as_ref());
        if actual == self.thumbprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the Service Fabric endpoint's certificate has thumbprint {actual}, not the IDENTITY_SERVER_THUMBPRINT {}",
                self.thumbprint
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A blocking HTTPS client pinned to one certificate thumbprint.
#[derive(Clone)]
pub(crate) struct PinnedClient {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for PinnedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedClient").finish_non_exhaustive()
    }
}

impl PinnedClient {
    /// A client for `thumbprint` (normalised: 40 lower-case hex digits).
    pub(crate) fn new(thumbprint: &str) -> Result<Self> {
        let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
        let pin = ThumbprintPin {
            thumbprint: thumbprint.to_owned(),
            algorithms: provider.signature_verification_algorithms,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                Error::invalid_configuration(crate::NAME, format!("TLS setup failed: {e}"))
            })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(pin))
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

impl HttpClient for PinnedClient {
    fn send(&self, request: &Request) -> std::result::Result<Response, TransportError> {
        let deadline = Instant::now() + request.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let target = split_url(&request.url, "https", 443).ok_or_else(|| {
            http1::fail(
                TransportErrorKind::InvalidRequest,
                request,
                "the URL is not an https URL with a host",
            )
        })?;
        let tcp = http1::connect(request, &target, deadline)?;
        http1::arm(&tcp, request, deadline)?;
        let server_name = ServerName::try_from(target.host.clone())
            .map_err(|e| http1::fail(TransportErrorKind::InvalidRequest, request, e))?;
        let connection = ClientConnection::new(self.config.clone(), server_name)
            .map_err(|e| http1::fail(TransportErrorKind::Tls, request, e))?;
        let reader = tcp
            .try_clone()
            .map_err(|e| http1::fail(TransportErrorKind::Io, request, e))?;
        let mut stream = StreamOwned::new(connection, tcp);
        http1::write_request(&mut stream, request, &target, 443)?;
        http1::read_response(&mut stream, request, &|| {
            http1::arm(&reader, request, deadline)
        })
    }
}

/// The async face of [`PinnedClient`]: each exchange runs on its own thread.
#[derive(Debug, Clone)]
pub(crate) struct ThreadedPinnedClient(pub(crate) PinnedClient);

impl AsyncHttpClient for ThreadedPinnedClient {
    fn send<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, std::result::Result<Response, TransportError>> {
        http1::send_on_thread(&self.0, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            thumbprint(b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
