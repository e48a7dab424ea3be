//! The async transport over `reqwest` (needs a tokio runtime).

use super::TransportOptions;
use crate::credential::BoxFuture;
use crate::error::{Error, Result, TransportError, TransportErrorKind};
use crate::http::{
    AsyncHttpClient, MAX_RESPONSE_BODY, Method, Request, Response, body_too_large, redact_url,
};
use std::fmt;

/// An async [`AsyncHttpClient`] over `reqwest`: no redirects followed, proxy from the
/// environment, plain HTTP only unless the `rustls` feature is on.
#[derive(Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
}

impl ReqwestClient {
    /// A client with `options`.
    pub fn new(options: &TransportOptions) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.default_connect_timeout);
        if !options.proxy_from_env {
            builder = builder.no_proxy();
        }
        #[cfg(feature = "rustls")]
        {
            super::install_default_tls_provider();
            let config = super::tls::shared_client_config(&options.extra_root_certificates_pem)?;
            builder = builder.tls_backend_preconfigured(config);
        }
        let client = builder.build().map_err(|e| {
            Error::invalid_configuration("", format!("The HTTP client could not be built: {e}"))
        })?;
        Ok(Self { client })
    }

    /// Wraps an existing `reqwest::Client` (configure it not to follow redirects).
    pub fn from_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

impl fmt::Debug for ReqwestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestClient").finish_non_exhaustive()
    }
}

fn classify(error: &reqwest::Error) -> TransportErrorKind {
    if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_builder() {
        TransportErrorKind::InvalidRequest
    } else if error.is_body() || error.is_decode() || error.is_request() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    }
}

async fn send(client: &reqwest::Client, request: &Request) -> Result<Response, TransportError> {
    let describe = |e: &dyn fmt::Display| {
        format!(
            "{} {} failed: {e}",
            request.method.as_str(),
            redact_url(&request.url)
        )
    };
    let fail = |e: reqwest::Error| {
        let e = e.without_url();
        let mut message = describe(&e);
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        TransportError::new(classify(&e), message).with_source(e)
    };
    let method = match request.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
    };
    let mut builder = client.request(method, &request.url);
    for (name, value) in request.headers.iter() {
        builder = builder.header(name, value);
    }
    if !request.body.is_empty() {
        builder = builder.body(request.body.clone());
    }
    if let Some(t) = request.timeout {
        builder = builder.timeout(t);
    }
    let mut response = builder.send().await.map_err(fail)?;
    let mut out = Response::new(response.status().as_u16(), Vec::new());
    for (name, value) in response.headers() {
        out.headers
            .insert(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BODY as u64)
    {
        return Err(body_too_large());
    }
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        if out.body.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Err(body_too_large());
        }
        out.body.extend_from_slice(&chunk);
    }
    Ok(out)
}

impl AsyncHttpClient for ReqwestClient {
    fn send<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Response, TransportError>> {
        Box::pin(send(&self.client, request))
    }
}
