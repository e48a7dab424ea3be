//! A small HTTP/1.1 client core: one request per connection (`Connection: close`), a hard
//! deadline on the whole exchange, a 1 MiB body cap, `Content-Length`, chunked and
//! read-to-EOF bodies. Used by [`DirectHttpClient`](crate::DirectHttpClient) over plain TCP
//! and by the Service Fabric client over pinned TLS. It never goes through a proxy.

use identity_core::http::{
    MAX_RESPONSE_BODY, Method, Request, Response, body_too_large, redact_url,
};
use identity_core::{BoxFuture, HttpClient, TransportError, TransportErrorKind};
use std::fmt;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Used when a request sets no timeout.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Response head (status line and headers) cap.
const MAX_HEAD: usize = 64 * 1024;

type TResult<T> = std::result::Result<T, TransportError>;

pub(crate) fn fail(
    kind: TransportErrorKind,
    request: &Request,
    what: impl fmt::Display,
) -> TransportError {
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

/// The parts of an absolute URL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
}

/// `{scheme}://host[:port]/path?query` → its parts (`scheme` is `http` or `https`).
pub(crate) fn split_url(url: &str, scheme: &str, default_port: u16) -> Option<Target> {
    let prefix_len = scheme.len() + 3;
    let rest = url
        .get(..prefix_len)
        .filter(|s| s.eq_ignore_ascii_case(&format!("{scheme}://")))
        .map(|_| &url[prefix_len..])?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split('#').next().unwrap_or("");
    let path = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default_port),
        }
    };
    (!host.is_empty()).then_some(Target { host, port, path })
}

/// Connects within the request's connect timeout (and the overall deadline).
pub(crate) fn connect(request: &Request, target: &Target, deadline: Instant) -> TResult<TcpStream> {
    let left = deadline.saturating_duration_since(Instant::now());
    let addrs: Vec<_> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| fail(TransportErrorKind::Connect, request, e))?
        .collect();
    let connect_timeout = request
        .connect_timeout
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(left)
        .max(Duration::from_millis(1));
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, connect_timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            fail(TransportErrorKind::Timeout, request, e)
        }
        Some(e) => fail(TransportErrorKind::Connect, request, e),
        None => fail(
            TransportErrorKind::Connect,
            request,
            "the host has no address",
        ),
    })
}

/// Sets the socket's read and write timeouts to what is left before `deadline`.
pub(crate) fn arm(tcp: &TcpStream, request: &Request, deadline: Instant) -> TResult<()> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(fail(TransportErrorKind::Timeout, request, "timed out"));
    }
    tcp.set_read_timeout(Some(remaining))
        .and_then(|()| tcp.set_write_timeout(Some(remaining)))
        .map_err(|e| fail(TransportErrorKind::Io, request, e))
}

/// Writes the request (with `Host`, `Connection: close` and, for a body, `Content-Length`).
pub(crate) fn write_request(
    stream: &mut impl Write,
    request: &Request,
    target: &Target,
    default_port: u16,
) -> TResult<()> {
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        request.method.as_str(),
        target.path,
        if target.port == default_port {
            host
        } else {
            format!("{host}:{}", target.port)
        }
    );
    for (name, value) in request.headers.iter() {
        if ["host", "connection", "content-length"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(fail(
                TransportErrorKind::InvalidRequest,
                request,
                "a header holds a line break",
            ));
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
    stream.flush().map_err(io)
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
    let mut parts = lines.next()?.splitn(3, ' ');
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
        let size = std::str::from_utf8(&data[..line_end])
            .ok()
            .map(|s| s.split(';').next().unwrap_or("").trim())
            .and_then(|s| usize::from_str_radix(s, 16).ok());
        let Some(size) = size else {
            return Some(Err(()));
        };
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(Ok(out));
        }
        if out.len() + size > MAX_RESPONSE_BODY {
            return Some(Ok(vec![0; MAX_RESPONSE_BODY + 1]));
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn finish(head: Head, body: Vec<u8>) -> TResult<Response> {
    if body.len() > MAX_RESPONSE_BODY {
        return Err(body_too_large());
    }
    let mut r = Response::new(head.status, body);
    for (name, value) in head.headers {
        r.headers.insert(name, value);
    }
    Ok(r)
}

/// Reads one response. `rearm` is called before every read to shrink the socket timeouts
/// to what is left of the deadline.
pub(crate) fn read_response(
    stream: &mut impl Read,
    request: &Request,
    rearm: &dyn Fn() -> TResult<()>,
) -> TResult<Response> {
    let not_http = || {
        fail(
            TransportErrorKind::Io,
            request,
            "the response is not HTTP/1.1",
        )
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            let head = parse_head(&buf[..end]).ok_or_else(not_http)?;
            if head.content_length.is_some_and(|n| n > MAX_RESPONSE_BODY) {
                return Err(body_too_large());
            }
            let body = &buf[end..];
            let complete = if head.chunked {
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
                head.content_length
                    .filter(|n| body.len() >= *n)
                    .map(|n| body[..n].to_vec())
            };
            if let Some(body) = complete {
                return finish(head, body);
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
        rearm()?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A peer that closes without TLS close_notify ends a read-to-EOF body too.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(fail(io_kind(&e), request, e)),
        };
        if n == 0 {
            let end = head_end(&buf).ok_or_else(|| {
                fail(
                    TransportErrorKind::Io,
                    request,
                    "the connection closed before a response arrived",
                )
            })?;
            let head = parse_head(&buf[..end]).ok_or_else(not_http)?;
            if head.chunked || head.content_length.is_some() {
                return Err(fail(
                    TransportErrorKind::Io,
                    request,
                    "the connection closed mid-body",
                ));
            }
            let body = buf[end..].to_vec();
            return finish(head, body);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

type Slot = Arc<Mutex<(Option<TResult<Response>>, Option<Waker>)>>;

struct Receive(Slot);

impl Future for Receive {
    type Output = TResult<Response>;
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

/// Runs one blocking exchange on a short-lived thread and awaits it: an async face for a
/// blocking client, on any executor.
pub(crate) fn send_on_thread<C>(
    client: &C,
    request: &Request,
) -> BoxFuture<'static, TResult<Response>>
where
    C: HttpClient + Clone + 'static,
{
    let slot: Slot = Arc::new(Mutex::new((None, None)));
    let client = client.clone();
    let owned = request.clone();
    let writer = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("identity-msi-http".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, port: u16, path: &str) -> Option<Target> {
        Some(Target {
            host: host.into(),
            port,
            path: path.into(),
        })
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("https://h:2377/a?b=c", "https", 443),
            t("h", 2377, "/a?b=c")
        );
        assert_eq!(split_url("HTTPS://h", "https", 443), t("h", 443, "/"));
        assert_eq!(
            split_url("https://h?x=1", "https", 443),
            t("h", 443, "/?x=1")
        );
        assert_eq!(
            split_url("https://[::1]:8443/p", "https", 443),
            t("::1", 8443, "/p")
        );
        assert_eq!(
            split_url("http://169.254.169.254/m#f", "http", 80),
            t("169.254.169.254", 80, "/m")
        );
        assert_eq!(split_url("http://h/", "https", 443), None);
        assert_eq!(split_url("https:///p", "https", 443), None);
        assert_eq!(split_url("http://u:p@h/", "http", 80), None);
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
    fn reads_bodies_of_every_framing() {
        let req = Request::get("http://h/");
        let ok = || Ok(());
        let mut cl: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi-and-more";
        assert_eq!(read_response(&mut cl, &req, &ok).unwrap().body, b"hi");
        let mut ch: &[u8] =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
        let r = read_response(&mut ch, &req, &ok).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"hi"[..]));
        let mut eof: &[u8] = b"HTTP/1.0 200 OK\r\nX-A: b\r\n\r\nall of it";
        let r = read_response(&mut eof, &req, &ok).unwrap();
        assert_eq!(r.body, b"all of it");
        assert_eq!(r.headers.get("x-a"), Some("b"));
        let mut short: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhi";
        assert_eq!(
            read_response(&mut short, &req, &ok).unwrap_err().kind(),
            TransportErrorKind::Io
        );
        let mut huge: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n";
        assert_eq!(
            read_response(&mut huge, &req, &ok).unwrap_err().kind(),
            TransportErrorKind::BodyTooLarge
        );
        let mut junk: &[u8] = b"SSH-2.0-OpenSSH\r\n\r\n";
        assert!(read_response(&mut junk, &req, &ok).is_err());
    }

    #[test]
    fn writes_the_request() {
        let target = split_url("http://127.0.0.1:8080/p?q=1", "http", 80).unwrap();
        let req = Request::post("http://127.0.0.1:8080/p?q=1")
            .header("Metadata", "true")
            .form([("resource", "r")]);
        let mut out = Vec::new();
        write_request(&mut out, &req, &target, 80).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "POST /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n"
            ),
            "{text}"
        );
        assert!(text.contains("Metadata: true\r\n"));
        assert!(
            text.ends_with("Content-Length: 10\r\n\r\nresource=r"),
            "{text}"
        );
        let bad = Request::get("http://h/").header("X", "a\r\nInjected: 1");
        assert!(write_request(&mut Vec::new(), &bad, &target, 80).is_err());
    }
}
