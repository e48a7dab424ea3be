//! The loopback redirect listener and the browser opener of the interactive browser flow.

use crate::options::CancellationToken;
use crate::protocol::{Redirect, is_redirect, parse_redirect};
use identity_core::env::Env;
use identity_core::{Error, Result};
use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest request the listener reads (headers and body).
const MAX_REQUEST: usize = 64 * 1024;
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the listener checks for a connection, cancellation and the opener's exit.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

const SUCCESS_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head><body><h1>Authentication complete.</h1><p>You can close this window and return to the application.</p></body></html>";

/// A bound redirect listener: one socket per loopback address of the host (IPv4 and IPv6
/// `localhost`), so a browser that resolves `localhost` either way reaches it.
#[derive(Debug)]
pub(crate) struct Listener {
    sockets: Vec<TcpListener>,
    /// `http://{host}:{port}`, as sent in the authorize URL and the redemption.
    pub(crate) redirect_uri: String,
}

/// Binds the listener: the configured `http://host:port` (its path and query are dropped), or a
/// random port on 127.0.0.1 (and the same port on ::1 when free) announced as
/// `http://localhost:{port}`.
pub(crate) fn bind(name: &'static str, configured: Option<&str>) -> Result<Listener> {
    match configured {
        Some(uri) => {
            let (host, port) = host_and_port(uri).ok_or_else(|| {
                Error::invalid_configuration(
                    name,
                    "\"redirect_uri\" must be a URL with port number, for example \"http://localhost:8400\"",
                )
            })?;
            let unavailable = |e: std::io::Error| {
                Error::unavailable(
                    name,
                    format!(
                        "Couldn't start an HTTP server on {uri}: {e}. Free the port or configure another redirect URI."
                    ),
                )
            };
            let addrs: Vec<_> = (host.as_str(), port)
                .to_socket_addrs()
                .map_err(unavailable)?
                .collect();
            let mut sockets = Vec::new();
            let mut last_error = None;
            for addr in addrs {
                match TcpListener::bind(addr) {
                    Ok(l) => sockets.push(l),
                    Err(e) => last_error = Some(e),
                }
            }
            if sockets.is_empty() {
                return Err(unavailable(last_error.unwrap_or_else(|| {
                    std::io::Error::new(IoErrorKind::NotFound, "the host has no address")
                })));
            }
            Ok(Listener {
                sockets,
                redirect_uri: format!("http://{host}:{port}"),
            })
        }
        None => {
            let (v4, port) = TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr().map(|a| (l, a.port())))
                .map_err(|e| {
                    Error::unavailable(
                        name,
                        format!("Couldn't start an HTTP server on localhost: {e}"),
                    )
                })?;
            let mut sockets = vec![v4];
            // Best effort: some browsers try ::1 first for localhost.
            if let Ok(v6) = TcpListener::bind(("::1", port)) {
                sockets.push(v6);
            }
            Ok(Listener {
                sockets,
                redirect_uri: format!("http://localhost:{port}"),
            })
        }
    }
}

/// `(host, port)` of `scheme://host:port[/…]`; `None` without a host or a port.
pub(crate) fn host_and_port(uri: &str) -> Option<(String, u16)> {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once("]:")?;
        (h, p)
    } else {
        authority.rsplit_once(':')?
    };
    let port: u16 = port.parse().ok()?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// The browser process, watched so that a failed opener ends the wait early.
#[derive(Debug, Clone, Default)]
pub(crate) struct Opener {
    command: String,
    exit: Arc<Mutex<Option<ExitStatus>>>,
}

impl Listener {
    /// Waits for the redirect: answers every request, returns the first that carries `code` or
    /// `error` (checked against `state`). Stops at `timeout`, on cancellation, or when the
    /// browser command failed.
    pub(crate) fn wait(
        &self,
        name: &'static str,
        state: &str,
        timeout: Duration,
        cancel: &[&CancellationToken],
        opener: &Opener,
    ) -> Result<Redirect> {
        for socket in &self.sockets {
            socket.set_nonblocking(true).map_err(|e| {
                Error::unavailable(name, format!("The redirect listener failed: {e}"))
            })?;
        }
        let deadline = Instant::now() + timeout;
        let (tx, rx) = std::sync::mpsc::channel::<Result<Redirect>>();
        loop {
            if cancel.iter().any(|c| c.is_cancelled()) {
                return Err(Error::authentication(
                    name,
                    "The browser sign-in was cancelled (CancellationToken::cancel).",
                ));
            }
            if Instant::now() >= deadline {
                return Err(Error::authentication(
                    name,
                    format!(
                        "Timed out after waiting {} seconds for the user to authenticate. Complete the sign-in in the browser sooner, raise the timeout, or use DeviceCodeCredential where no browser is available.",
                        timeout.as_secs()
                    ),
                ));
            }
            if let Some(status) = *crate::core::lock(&opener.exit)
                && !status.success()
            {
                return Err(Error::unavailable(
                    name,
                    format!(
                        "Failed to open a browser: `{}` exited with {status}. Set BROWSER to a working browser command, or use DeviceCodeCredential.",
                        opener.command
                    ),
                ));
            }
            let mut idle = true;
            for socket in &self.sockets {
                match socket.accept() {
                    Ok((stream, _)) => {
                        idle = false;
                        // Each connection on its own thread: an idle preconnected socket must
                        // not hold up the one that carries the redirect.
                        let (tx, state) = (tx.clone(), state.to_owned());
                        let spawned = std::thread::Builder::new()
                            .name("redirect-connection".into())
                            .spawn(move || {
                                if let Some(result) = handle(stream, &state) {
                                    let _ = tx.send(result);
                                }
                            });
                        if let Err(e) = spawned {
                            tracing::debug!(error = %e, "redirect listener: no thread for a connection");
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            IoErrorKind::WouldBlock | IoErrorKind::Interrupted
                        ) => {}
                    Err(e) => tracing::debug!(error = %e, "redirect listener: accept failed"),
                }
            }
            if let Ok(result) = rx.try_recv() {
                return result.map_err(|e| e.with_credential(name));
            }
            if idle {
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Serves one connection; `Some` when it was the redirect.
fn handle(mut stream: TcpStream, state: &str) -> Option<Result<Redirect>> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let Some((method, target, body)) = read_request(&mut stream) else {
        respond(&mut stream, 400, "text/plain", "Bad request");
        return None;
    };
    let path = target.split('?').next().unwrap_or_default();
    if path == "/favicon.ico" {
        respond(&mut stream, 204, "text/plain", "");
        return None;
    }
    let mut params: Vec<(String, String)> = target
        .split_once('?')
        .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if method == "POST" {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    if !is_redirect(&params) {
        respond(
            &mut stream,
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><body><p>Waiting for the sign-in to complete.</p></body></html>",
        );
        return None;
    }
    let result = parse_redirect(&params, state);
    match &result {
        Ok(_) => respond(&mut stream, 200, "text/html; charset=utf-8", SUCCESS_PAGE),
        Err(e) => {
            let page = format!(
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head><body><h1>Authentication failed.</h1><p>{}</p><p>Return to the application for details.</p></body></html>",
                html_escape(e.message())
            );
            respond(&mut stream, 200, "text/html; charset=utf-8", &page);
        }
    }
    Some(result)
}

/// Reads `METHOD target` and the body (by Content-Length).
fn read_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return None;
    }
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some((method, target, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        _ => "Bad Request",
    };
    let head = if status == 204 {
        format!("HTTP/1.1 204 {reason}\r\nConnection: close\r\n\r\n")
    } else {
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let _ = stream.write_all(head.as_bytes());
    if status != 204 {
        let _ = stream.write_all(body.as_bytes());
    }
    let _ = stream.flush();
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The commands to try for `url`: each `BROWSER` entry (`:`-separated; `%s` is replaced by the
/// URL, else the URL is appended as one argument), else the platform opener.
pub(crate) fn browser_commands(url: &str, env: &dyn Env) -> Vec<Vec<String>> {
    if let Some(browser) = env.non_empty("BROWSER") {
        return browser
            .split(':')
            .filter(|e| !e.trim().is_empty())
            .map(|entry| {
                let mut argv: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
                if argv.iter().any(|a| a.contains("%s")) {
                    for a in &mut argv {
                        *a = a.replace("%s", url);
                    }
                } else {
                    argv.push(url.to_owned());
                }
                argv
            })
            .collect();
    }
    let wsl = cfg!(target_os = "linux")
        && (env.non_empty("WSL_DISTRO_NAME").is_some() || env.non_empty("WSL_INTEROP").is_some());
    if wsl {
        // The Windows browser, through PowerShell (the URL is form-encoded: no quote can occur).
        return vec![vec![
            "powershell.exe".to_owned(),
            "-NoProfile".to_owned(),
            "-Command".to_owned(),
            format!("Start-Process '{}'", url.replace('\'', "%27")),
        ]];
    }
    let platform: Vec<&str> = if cfg!(target_os = "macos") {
        vec!["open"]
    } else if cfg!(windows) {
        vec!["rundll32", "url.dll,FileProtocolHandler"]
    } else {
        let graphical =
            env.non_empty("DISPLAY").is_some() || env.non_empty("WAYLAND_DISPLAY").is_some();
        if graphical {
            vec!["xdg-open"]
        } else {
            Vec::new()
        }
    };
    if platform.is_empty() {
        return Vec::new();
    }
    let mut argv: Vec<String> = platform.into_iter().map(str::to_owned).collect();
    argv.push(url.to_owned());
    vec![argv]
}

/// Starts the browser without waiting for it; the first command that starts wins.
pub(crate) fn open_browser(name: &'static str, url: &str, env: &dyn Env) -> Result<Opener> {
    let commands = browser_commands(url, env);
    let mut failures = Vec::new();
    for argv in &commands {
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(vars) = env.child_environment() {
            command.env_clear().envs(vars);
        }
        match command.spawn() {
            Ok(mut child) => {
                tracing::debug!(browser = %program, "opened the browser");
                let opener = Opener {
                    command: program.clone(),
                    exit: Arc::new(Mutex::new(None)),
                };
                let exit = opener.exit.clone();
                // Reap the process whenever it ends; never wait for it on the caller's thread.
                let _ = std::thread::Builder::new()
                    .name("browser-reaper".into())
                    .spawn(move || {
                        if let Ok(status) = child.wait() {
                            *crate::core::lock(&exit) = Some(status);
                        }
                    });
                return Ok(opener);
            }
            Err(e) => failures.push(format!("`{program}`: {e}")),
        }
    }
    let why = if commands.is_empty() {
        "BROWSER is not set and there is no graphical session (DISPLAY / WAYLAND_DISPLAY)"
            .to_owned()
    } else {
        failures.join("; ")
    };
    Err(Error::unavailable(
        name,
        format!(
            "Failed to open a browser ({why}). Set BROWSER to a browser command, or use DeviceCodeCredential to sign in from another device."
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::env::MapEnv;

    #[test]
    fn redirect_uri_parsing() {
        assert_eq!(
            host_and_port("http://localhost:8400"),
            Some(("localhost".into(), 8400))
        );
        assert_eq!(
            host_and_port("http://127.0.0.1:9/x?y"),
            Some(("127.0.0.1".into(), 9))
        );
        assert_eq!(host_and_port("http://[::1]:80/"), Some(("::1".into(), 80)));
        assert_eq!(host_and_port("http://localhost"), None);
        assert_eq!(host_and_port("http://:80"), None);
        let e = bind("T", Some("http://localhost")).unwrap_err();
        assert!(e.message().contains("must be a URL with port number"));
        let l = bind("T", None).unwrap();
        assert!(l.redirect_uri.starts_with("http://localhost:"));
    }

    #[test]
    fn browser_env_var() {
        let env = MapEnv::new().with("BROWSER", "my-browser --new-window:other %s --x");
        assert_eq!(
            browser_commands("http://u", &env),
            vec![
                vec!["my-browser", "--new-window", "http://u"],
                vec!["other", "http://u", "--x"]
            ]
        );
        let env = MapEnv::new();
        if cfg!(all(unix, not(target_os = "macos"))) {
            assert!(browser_commands("http://u", &env).is_empty());
            let e = open_browser("T", "http://u", &env).unwrap_err();
            assert!(e.message().contains("DeviceCodeCredential"));
            let env = MapEnv::new().with("BROWSER", "/nonexistent/browser");
            let e = open_browser("T", "http://u", &env).unwrap_err();
            assert_eq!(e.kind(), identity_core::ErrorKind::Unavailable);
            assert!(e.message().contains("/nonexistent/browser"));
        }
    }

    fn send(port: u16, raw: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn listener_ignores_stray_requests_and_takes_the_redirect() {
        for post in [false, true] {
            let l = bind("T", None).unwrap();
            let port = l.sockets[0].local_addr().unwrap().port();
            let client = std::thread::spawn(move || {
                let fav = send(port, "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n");
                let stray = send(port, "GET /?foo=bar HTTP/1.1\r\nHost: x\r\n\r\n");
                let page = if post {
                    let body = "code=c0de&state=st";
                    send(
                        port,
                        &format!(
                            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        ),
                    )
                } else {
                    send(port, "GET /?code=c0de&state=st HTTP/1.1\r\nHost: x\r\n\r\n")
                };
                (fav, stray, page)
            });
            let r = l
                .wait(
                    "T",
                    "st",
                    Duration::from_secs(30),
                    &[&CancellationToken::new()],
                    &Opener::default(),
                )
                .unwrap();
            let Redirect::Code { code, .. } = r;
            assert_eq!(code.secret(), "c0de");
            let (fav, stray, page) = client.join().unwrap();
            assert!(fav.starts_with("HTTP/1.1 204"));
            assert!(stray.contains("Waiting"));
            assert!(page.contains("Authentication complete."));
        }
    }

    #[test]
    fn an_idle_connection_does_not_hold_up_the_redirect_and_ipv6_is_served() {
        let l = bind("T", None).unwrap();
        let port = l.sockets[0].local_addr().unwrap().port();
        let has_v6 = l.sockets.len() > 1;
        let client = std::thread::spawn(move || {
            let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let host = if has_v6 { "::1" } else { "127.0.0.1" };
            let mut s = TcpStream::connect((host, port)).unwrap();
            s.write_all(b"GET /?code=c&state=st HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        });
        let r = l.wait(
            "T",
            "st",
            Duration::from_secs(60),
            &[&CancellationToken::new()],
            &Opener::default(),
        );
        assert!(r.is_ok());
        assert!(client.join().unwrap().contains("Authentication complete."));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn wsl_opens_the_windows_browser() {
        let env = MapEnv::new().with("WSL_DISTRO_NAME", "Ubuntu");
        assert_eq!(
            browser_commands("https://h/a?b=c&d=%27", &env),
            vec![vec![
                "powershell.exe",
                "-NoProfile",
                "-Command",
                "Start-Process 'https://h/a?b=c&d=%27'"
            ]]
        );
    }

    #[test]
    fn listener_failure_page_cancel_and_timeout() {
        let l = bind("T", None).unwrap();
        let port = l.sockets[0].local_addr().unwrap().port();
        let client = std::thread::spawn(move || {
            send(
                port,
                "GET /?code=c0de&state=forged HTTP/1.1\r\nHost: x\r\n\r\n",
            )
        });
        let e = l
            .wait(
                "T",
                "st",
                Duration::from_secs(30),
                &[&CancellationToken::new()],
                &Opener::default(),
            )
            .unwrap_err();
        assert!(e.message().contains("state mismatch"));
        assert!(client.join().unwrap().contains("Authentication failed."));

        let cancel = CancellationToken::new();
        cancel.cancel();
        let e = l
            .wait(
                "T",
                "st",
                Duration::from_secs(30),
                &[&cancel],
                &Opener::default(),
            )
            .unwrap_err();
        assert!(e.message().contains("cancelled"));
        let e = l
            .wait(
                "T",
                "st",
                Duration::ZERO,
                &[&CancellationToken::new()],
                &Opener::default(),
            )
            .unwrap_err();
        assert!(e.message().starts_with("Timed out after waiting 0 seconds"));
    }
}
