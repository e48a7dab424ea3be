//! [`DirectHttpClient`]: plain HTTP/1.1 straight to the endpoint, no proxy, no TLS, no
//! dependencies — the smallest transport for the managed-identity endpoints.

use crate::http1::{self, DEFAULT_TIMEOUT, split_url};
use identity_core::http::{Request, Response};
use identity_core::{AsyncHttpClient, BoxFuture, HttpClient, TransportError, TransportErrorKind};
use std::time::Instant;

/// A minimal plain-HTTP client for the managed-identity endpoints (IMDS, App Service, Azure
/// Arc, Azure ML, Cloud Shell), which are all `http://` and local to the host or the
/// link-local network: HTTP/1.1, one connection per request (`Connection: close`), a hard
/// deadline on the whole exchange (the request's `timeout`, 30 s when none), its
/// `connect_timeout`, a 1 MiB body cap. It connects **directly**, never through a proxy (IMDS
/// is unsupported behind one), and refuses `https://` URLs.
///
/// It implements both [`HttpClient`] and [`AsyncHttpClient`] (the async form runs the
/// exchange on a short-lived thread, so it works on any executor). Pass it to
/// [`http_client`](crate::ManagedIdentityCredentialBuilder::http_client) and
/// [`async_http_client`](crate::ManagedIdentityCredentialBuilder::async_http_client) to build
/// without the `ureq` / `reqwest` features at all: the smallest binaries.
///
/// ```
/// use identity_msi::{DirectHttpClient, ManagedIdentityCredential};
/// use std::sync::Arc;
/// let client = Arc::new(DirectHttpClient::new());
/// let credential = ManagedIdentityCredential::builder()
///     .http_client(client.clone())
///     .async_http_client(client)
///     .build()?;
/// # let _ = credential;
/// # Ok::<(), identity_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectHttpClient {
    _private: (),
}

impl DirectHttpClient {
    /// The client (it has no settings: every bound comes from the request).
    pub fn new() -> Self {
        Self::default()
    }
}

impl HttpClient for DirectHttpClient {
    fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let deadline = Instant::now() + request.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let target = split_url(&request.url, "http", 80).ok_or_else(|| {
            http1::fail(
                TransportErrorKind::InvalidRequest,
                request,
                "DirectHttpClient speaks plain http:// to a host only (use another client for https)",
            )
        })?;
        let mut tcp = http1::connect(request, &target, deadline)?;
        http1::arm(&tcp, request, deadline)?;
        http1::write_request(&mut tcp, request, &target, 80)?;
        let reader = tcp
            .try_clone()
            .map_err(|e| http1::fail(TransportErrorKind::Io, request, e))?;
        http1::read_response(&mut tcp, request, &|| {
            http1::arm(&reader, request, deadline)
        })
    }
}

impl AsyncHttpClient for DirectHttpClient {
    fn send<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Response, TransportError>> {
        http1::send_on_thread(self, request)
    }
}
