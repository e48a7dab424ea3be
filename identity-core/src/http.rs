//! Sans-IO HTTP values and the client traits that transports implement.

use crate::credential::BoxFuture;
use crate::error::{TransportError, TransportErrorKind};
use std::fmt;
use std::time::Duration;

/// Responses larger than this are refused with [`TransportErrorKind::BodyTooLarge`].
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// The HTTP methods the identity protocols use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

impl Method {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Headers whose values may be logged or shown in `Debug` (PROTOCOL.md §3.4); every other
/// header value is redacted.
const LOGGABLE_HEADERS: &[&str] = &[
    "x-ms-client-request-id",
    "client-request-id",
    "x-ms-request-id",
    "x-ms-return-client-request-id",
    "x-ms-error-code",
    "traceparent",
    "accept",
    "cache-control",
    "connection",
    "content-length",
    "content-type",
    "date",
    "etag",
    "expires",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "last-modified",
    "pragma",
    "request-id",
    "retry-after",
    "retry-after-ms",
    "x-ms-retry-after-ms",
    "server",
    "transfer-encoding",
    "user-agent",
    "www-authenticate",
    "x-vss-e2eid",
    "x-msedge-ref",
    "x-client-sku",
    "x-client-ver",
    "x-client-os",
    "x-ms-lib-capability",
];

fn loggable_header(name: &str) -> bool {
    LOGGABLE_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

/// A list of headers, case-insensitive on look-up. `Debug` redacts the values of headers that
/// are not on the allow-list of PROTOCOL.md §3.4.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header (a second one with the same name is kept too).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Sets a header, replacing any with the same name.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.0.push((name, value.into()));
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Iterates over the headers in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            if loggable_header(name) {
                map.entry(name, value);
            } else {
                map.entry(name, &"REDACTED");
            }
        }
        map.finish()
    }
}

/// Replaces every query value except `api-version` with `REDACTED` (PROTOCOL.md §3.4).
pub fn redact_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("api-version", _)) => pair.to_owned(),
            Some((name, _)) => format!("{name}=REDACTED"),
            None => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// An HTTP request, built by protocol code and sent by a transport.
///
/// `Debug` redacts query values (except `api-version`), secret header values and the body.
#[derive(Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL, query included.
    pub url: String,
    /// The headers.
    pub headers: Headers,
    /// The body (empty for GET).
    pub body: Vec<u8>,
    /// Bound on the whole exchange (connect, send, receive), if any.
    pub timeout: Option<Duration>,
    /// Bound on establishing the connection, if any (honoured by the transports that can).
    pub connect_timeout: Option<Duration>,
}

impl Request {
    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A POST request with no body yet.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Headers::new(),
            body: Vec::new(),
            timeout: None,
            connect_timeout: None,
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets an `application/x-www-form-urlencoded` body from pairs.
    #[must_use]
    pub fn form<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            serializer.append_pair(k, v);
        }
        self.body = serializer.finish().into_bytes();
        self.headers
            .set("Content-Type", "application/x-www-form-urlencoded");
        self
    }

    /// Sets the overall timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An HTTP response. Any status is a response, not an error. `Debug` redacts secret header
/// values and the body.
#[derive(Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Headers,
    /// The body, at most [`MAX_RESPONSE_BODY`] bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a status and a body.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("content-type")
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Sends requests on the calling thread. Implemented by [`UreqClient`](crate::transport::UreqClient)
/// (feature `ureq`) and by any `Fn(&Request) -> Result<Response, TransportError>`.
pub trait HttpClient: Send + Sync {
    /// Sends one request; no retries (the pipeline retries).
    fn send(&self, request: &Request) -> Result<Response, TransportError>;
}

impl<F> HttpClient for F
where
    F: Fn(&Request) -> Result<Response, TransportError> + Send + Sync,
{
    fn send(&self, request: &Request) -> Result<Response, TransportError> {
        self(request)
    }
}

/// Sends requests asynchronously. Implemented by
/// [`ReqwestClient`](crate::transport::ReqwestClient) (feature `reqwest`) and by any
/// `Fn(&Request) -> BoxFuture<Result<Response, TransportError>>`.
pub trait AsyncHttpClient: Send + Sync {
    /// Sends one request; no retries (the pipeline retries).
    fn send<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Response, TransportError>>;
}

impl<F> AsyncHttpClient for F
where
    F: for<'a> Fn(&'a Request) -> BoxFuture<'a, Result<Response, TransportError>> + Send + Sync,
{
    fn send<'a>(&'a self, request: &'a Request) -> BoxFuture<'a, Result<Response, TransportError>> {
        self(request)
    }
}

/// Reads at most [`MAX_RESPONSE_BODY`] bytes, failing clearly past the cap. For transports.
pub fn read_capped(reader: impl std::io::Read) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    let limit = (MAX_RESPONSE_BODY + 1) as u64;
    std::io::Read::read_to_end(&mut std::io::Read::take(reader, limit), &mut body).map_err(
        |e| {
            TransportError::new(
                TransportErrorKind::Io,
                format!("reading the response body failed: {e}"),
            )
            .with_source(e)
        },
    )?;
    if body.len() > MAX_RESPONSE_BODY {
        return Err(body_too_large());
    }
    Ok(body)
}

/// The error for a body past the cap.
pub fn body_too_large() -> TransportError {
    TransportError::new(
        TransportErrorKind::BodyTooLarge,
        format!(
            "the response body is larger than {MAX_RESPONSE_BODY} bytes; an identity endpoint never sends that much, so the endpoint is probably not what it should be (check the URL and any proxy)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let r = Request::get("http://x/token?api-version=2019-08-01&resource=r&client_id=c")
            .header("X-IDENTITY-HEADER", "s3cr3t")
            .header("Authorization", "Bearer abc.def")
            .header("User-Agent", "ua")
            .form([("client_secret", "pa55")]);
        let dbg = format!("{r:?}");
        for secret in ["s3cr3t", "abc.def", "pa55", "resource=r", "client_id=c"] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
        assert!(dbg.contains("api-version=2019-08-01"));
        assert!(dbg.contains("\"ua\""));
        let resp = Response::new(200, "{\"access_token\":\"tok\"}").with_header("Set-Cookie", "c");
        let dbg = format!("{resp:?}");
        assert!(!dbg.contains("tok"));
        assert!(!dbg.contains("\"c\""));
    }

    #[test]
    fn headers_are_case_insensitive() {
        let mut h = Headers::new();
        h.insert("Retry-After", "5");
        assert_eq!(h.get("retry-after"), Some("5"));
        h.set("RETRY-AFTER", "6");
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("Retry-After"), Some("6"));
    }

    #[test]
    fn form_body() {
        let r = Request::post("http://x").form([("scope", "a b"), ("x", "&=")]);
        assert_eq!(r.body, b"scope=a+b&x=%26%3D");
        assert_eq!(
            r.headers.get("content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn capped_reads() {
        assert_eq!(read_capped(&b"abc"[..]).unwrap(), b"abc");
        let big = vec![b'x'; MAX_RESPONSE_BODY + 1];
        let e = read_capped(&big[..]).unwrap_err();
        assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge);
        let exact = vec![b'x'; MAX_RESPONSE_BODY];
        assert_eq!(read_capped(&exact[..]).unwrap().len(), MAX_RESPONSE_BODY);
    }
}
