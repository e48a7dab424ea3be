//! The Service Fabric transport (feature `service-fabric`): HTTP/1.1 GET over rustls with the
//! server's leaf certificate pinned to `IDENTITY_SERVER_THUMBPRINT` (SHA-1), ignoring normal
//! chain validation (PROTOCOL.md §6.8).
//!
//! The blocking client is a small HTTP/1.1 client over `rustls::StreamOwned` with read/write
//! timeouts, a 1 MiB body cap and `Connection: close`. It connects directly, never through a
//! proxy (pinning through a forwarding proxy is refused by construction). The async client
//! runs one blocking exchange on a short-lived thread and awaits its result, so it works on
//! any executor.

use identity_core::http::{
    MAX_RESPONSE_BODY, Method, Request, Response, body_too_large, redact_url,
};
use identity_core::{
    AsyncHttpClient, BoxFuture, Error, HttpClient, Result, TransportError, TransportErrorKind,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use sha1::Digest as _;
use std::fmt;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Used when a request sets no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Response head (status line and headers) cap.
const MAX_HEAD: usize = 64 * 1024;

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
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

fn fail(kind: TransportErrorKind, request: &Request, what: impl fmt::Display) -> TransportError {
    TransportError::new(
        kind,
        format!(
            "{} {} failed: {what}",
            request.method.as_str(),
            redact_url(&request.url)
        ),
    )
}

fn io_kind(e: &std::io::Error) -> TransportErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
        K::InvalidData => TransportErrorKind::Tls,
        K::ConnectionRefused | K::AddrNotAvailable => TransportErrorKind::Connect,
        _ => TransportErrorKind::Io,
    }
}

/// `https://host[:port]/path?query` → (host, port, path-and-query).
fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 443,
            None => return None,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), 443),
        }
    };
    (!host.is_empty()).then_some((host, port, path))
}

/// Where the response head ends (after `\r\n\r\n`).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    content_length: Option<usize>,
    chunked: bool,
}

fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let mut headers = Vec::new();
    let mut content_length = None;
    let mut chunked = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    Some(Head {
        status,
        headers,
        content_length,
        chunked,
    })
}

/// Decodes a complete chunked body; `None` while incomplete.
fn dechunk(mut data: &[u8]) -> Option<std::result::Result<Vec<u8>, ()>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok();
        let size = match size_text
            .map(|s| s.split(';').next().unwrap_or("").trim())
            .and_then(|s| usize::from_str_radix(s, 16).ok())
        {
            Some(s) => s,
            None => return Some(Err(())),
        };
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(Ok(out));
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

impl HttpClient for PinnedClient {
    fn send(&self, request: &Request) -> std::result::Result<Response, TransportError> {
        let deadline = Instant::now() + request.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let left = || deadline.saturating_duration_since(Instant::now());
        let (host, port, path) = split_url(&request.url).ok_or_else(|| {
            fail(
                TransportErrorKind::InvalidRequest,
                request,
                "the URL is not an https URL with a host",
            )
        })?;
        let addrs: Vec<_> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| fail(TransportErrorKind::Connect, request, e))?
            .collect();
        let connect_timeout = request
            .connect_timeout
            .unwrap_or(DEFAULT_TIMEOUT)
            .min(left());
        let mut last_error = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, connect_timeout.max(Duration::from_millis(1))) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| match last_error {
            Some(e) => {
                let kind = if e.kind() == std::io::ErrorKind::TimedOut {
                    TransportErrorKind::Timeout
                } else {
                    TransportErrorKind::Connect
                };
                fail(kind, request, e)
            }
            None => fail(
                TransportErrorKind::Connect,
                request,
                "the host has no address",
            ),
        })?;
        let set_timeouts = |tcp: &TcpStream| -> std::result::Result<(), TransportError> {
            let remaining = left();
            if remaining.is_zero() {
                return Err(fail(TransportErrorKind::Timeout, request, "timed out"));
            }
            tcp.set_read_timeout(Some(remaining))
                .and_then(|()| tcp.set_write_timeout(Some(remaining)))
                .map_err(|e| fail(TransportErrorKind::Io, request, e))
        };
        set_timeouts(&tcp)?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| fail(TransportErrorKind::InvalidRequest, request, e))?;
        let connection = ClientConnection::new(self.config.clone(), server_name)
            .map_err(|e| fail(TransportErrorKind::Tls, request, e))?;
        let mut stream = StreamOwned::new(connection, tcp);

        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            request.method.as_str(),
            if port == 443 {
                host.clone()
            } else {
                format!("{host}:{port}")
            }
        );
        for (name, value) in request.headers.iter() {
            if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("connection") {
                continue;
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if request.method == Method::Post || !request.body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
        }
        head.push_str("\r\n");
        let io = |e: std::io::Error| fail(io_kind(&e), request, e);
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(&request.body).map_err(io)?;
        stream.flush().map_err(io)?;

        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = head_end(&buf) {
                let parsed = parse_head(&buf[..end]).ok_or_else(|| {
                    fail(
                        TransportErrorKind::Io,
                        request,
                        "the response is not HTTP/1.1",
                    )
                })?;
                let body = &buf[end..];
                if parsed.content_length.is_some_and(|n| n > MAX_RESPONSE_BODY) {
                    return Err(body_too_large());
                }
                let complete = if parsed.chunked {
                    match dechunk(body) {
                        Some(Ok(b)) => Some(b),
                        Some(Err(())) => {
                            return Err(fail(
                                TransportErrorKind::Io,
                                request,
                                "bad chunked encoding",
                            ));
                        }
                        None => None,
                    }
                } else {
                    parsed
                        .content_length
                        .filter(|n| body.len() >= *n)
                        .map(|n| body[..n].to_vec())
                };
                if let Some(body) = complete {
                    return Ok(response(parsed, body));
                }
            } else if buf.len() > MAX_HEAD {
                return Err(fail(
                    TransportErrorKind::Io,
                    request,
                    "the response head is too large",
                ));
            }
            if buf.len() > MAX_RESPONSE_BODY + MAX_HEAD {
                return Err(body_too_large());
            }
            set_timeouts(stream.get_ref())?;
            let n = match stream.read(&mut chunk) {
                Ok(n) => n,
                // A peer that closes without close_notify ends a read-to-EOF body too.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(io(e)),
            };
            if n == 0 {
                // EOF: a body without length ends here.
                let end = head_end(&buf).ok_or_else(|| {
                    fail(
                        TransportErrorKind::Io,
                        request,
                        "the connection closed before a response arrived",
                    )
                })?;
                let parsed = parse_head(&buf[..end]).ok_or_else(|| {
                    fail(
                        TransportErrorKind::Io,
                        request,
                        "the response is not HTTP/1.1",
                    )
                })?;
                if parsed.chunked || parsed.content_length.is_some() {
                    return Err(fail(
                        TransportErrorKind::Io,
                        request,
                        "the connection closed mid-body",
                    ));
                }
                let body = buf[end..].to_vec();
                if body.len() > MAX_RESPONSE_BODY {
                    return Err(body_too_large());
                }
                return Ok(response(parsed, body));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn response(head: Head, body: Vec<u8>) -> Response {
    let mut r = Response::new(head.status, body);
    for (name, value) in head.headers {
        r.headers.insert(name, value);
    }
    r
}

/// The async face of [`PinnedClient`]: each exchange runs on its own thread.
#[derive(Debug, Clone)]
pub(crate) struct ThreadedPinnedClient(pub(crate) PinnedClient);

type Slot = Arc<
    Mutex<(
        Option<std::result::Result<Response, TransportError>>,
        Option<Waker>,
    )>,
>;

struct Receive(Slot);

impl Future for Receive {
    type Output = std::result::Result<Response, TransportError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.0.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl AsyncHttpClient for ThreadedPinnedClient {
    fn send<'a>(
        &'a self,
        request: &'a Request,
    ) -> BoxFuture<'a, std::result::Result<Response, TransportError>> {
        let slot: Slot = Arc::new(Mutex::new((None, None)));
        let client = self.0.clone();
        let owned = request.clone();
        let writer = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("identity-msi-service-fabric".into())
            .spawn(move || {
                let result = client.send(&owned);
                let mut s = writer.lock().unwrap_or_else(|e| e.into_inner());
                s.0 = Some(result);
                if let Some(w) = s.1.take() {
                    w.wake();
                }
            });
        match spawned {
            Ok(_) => Box::pin(Receive(slot)),
            Err(e) => {
                let error = fail(
                    TransportErrorKind::Other,
                    request,
                    format!("could not start a thread: {e}"),
                );
                Box::pin(std::future::ready(Err(error)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("https://h:2377/a?b=c"),
            Some(("h".into(), 2377, "/a?b=c".into()))
        );
        assert_eq!(split_url("HTTPS://h"), Some(("h".into(), 443, "/".into())));
        assert_eq!(
            split_url("https://h?x=1"),
            Some(("h".into(), 443, "/?x=1".into()))
        );
        assert_eq!(
            split_url("https://[::1]:8443/p"),
            Some(("::1".into(), 8443, "/p".into()))
        );
        assert_eq!(split_url("http://h/"), None);
        assert_eq!(split_url("https:///p"), None);
    }

    #[test]
    fn heads_and_chunks() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n").unwrap();
        assert_eq!(
            (h.status, h.content_length, h.chunked),
            (200, Some(5), false)
        );
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
            Some(Ok(b"abcde".to_vec()))
        );
        assert_eq!(dechunk(b"3\r\nab"), None);
        assert_eq!(dechunk(b"zz\r\n"), Some(Err(())));
    }

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
