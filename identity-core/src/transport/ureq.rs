//! The blocking transport over `ureq`.

use super::TransportOptions;
use crate::error::{Result, TransportError, TransportErrorKind};
use crate::http::{HttpClient, Method, Request, Response, read_capped, redact_url};
use std::fmt;

/// A blocking [`HttpClient`] over `ureq`: no redirects followed (a redirect is a response),
/// proxy from the environment, plain HTTP only unless the `rustls` feature is on.
#[derive(Clone)]
pub struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    /// A client with `options`.
    pub fn new(options: &TransportOptions) -> Result<Self> {
        let builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(options.default_connect_timeout))
            .proxy(if options.proxy_from_env {
                ureq::Proxy::try_from_env()
            } else {
                None
            });
        #[cfg(feature = "rustls")]
        let builder = {
            use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
            let roots: Vec<Certificate<'static>> =
                super::tls::trusted_roots(&options.extra_root_certificates_pem)?
                    .iter()
                    .map(|c| Certificate::from_der(c).to_owned())
                    .collect();
            builder.tls_config(
                TlsConfig::builder()
                    .provider(TlsProvider::Rustls)
                    .root_certs(RootCerts::new_with_certs(&roots))
                    .unversioned_rustls_crypto_provider(super::tls::provider())
                    .build(),
            )
        };
        Ok(Self {
            agent: builder.build().new_agent(),
        })
    }
}

impl fmt::Debug for UreqClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UreqClient").finish_non_exhaustive()
    }
}

fn classify(error: &ureq::Error) -> TransportErrorKind {
    use std::io::ErrorKind as Io;
    match error {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        #[cfg(feature = "rustls")]
        ureq::Error::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            TransportErrorKind::Tls
        }
        ureq::Error::Io(e) => match e.kind() {
            Io::ConnectionRefused
            | Io::AddrNotAvailable
            | Io::NetworkUnreachable
            | Io::HostUnreachable => TransportErrorKind::Connect,
            Io::TimedOut | Io::WouldBlock => TransportErrorKind::Timeout,
            _ => TransportErrorKind::Io,
        },
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => TransportErrorKind::InvalidRequest,
        ureq::Error::Tls(_) => TransportErrorKind::Tls,
        #[cfg(feature = "rustls")]
        ureq::Error::Rustls(_) | ureq::Error::Pem(_) => TransportErrorKind::Tls,
        _ => TransportErrorKind::Other,
    }
}

impl HttpClient for UreqClient {
    fn send(&self, request: &Request) -> Result<Response, TransportError> {
        let describe = |e: &dyn fmt::Display| {
            format!(
                "{} {} failed: {e}",
                request.method.as_str(),
                redact_url(&request.url)
            )
        };
        let method = match request.method {
            Method::Get => ureq::http::Method::GET,
            Method::Post => ureq::http::Method::POST,
        };
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(&request.url);
        for (name, value) in request.headers.iter() {
            builder = builder.header(name, value);
        }
        let http_request = builder
            .body(request.body.clone())
            .map_err(|e| TransportError::new(TransportErrorKind::InvalidRequest, describe(&e)))?;
        let mut configured = self.agent.configure_request(http_request);
        if let Some(t) = request.timeout {
            configured = configured.timeout_global(Some(t));
        }
        if let Some(t) = request.connect_timeout {
            configured = configured.timeout_connect(Some(t));
        }
        let response = self
            .agent
            .run(configured.build())
            .map_err(|e| TransportError::new(classify(&e), describe(&e)).with_source(e))?;
        let status = response.status().as_u16();
        let mut out = Response::new(status, Vec::new());
        for (name, value) in response.headers() {
            out.headers
                .insert(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
        }
        out.body = read_capped(response.into_body().into_reader())?;
        Ok(out)
    }
}
