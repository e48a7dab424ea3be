//! A small HTTP/1.1 client over std sockets and rustls, trusting only what a test gives it, plus
//! helpers to build client assertions. Tests talk only to 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use identity_emulator::Emulator;
use ring::rand::SystemRandom;
use ring::signature::RsaKeyPair;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde_json::Value;

pub const OTHER_CERT_PEM: &str = include_str!("../../testdata/other.cert.pem");
pub const OTHER_KEY_PEM: &str = include_str!("../../testdata/other.key.pem");

/// How to trust the server.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Plain HTTP.
    None,
    /// Trust this CA (PEM).
    Ca(String),
    /// Accept exactly the certificate with this SHA-1 thumbprint (hex).
    Pin(String),
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).expect("PEM begin") + begin.len();
    let stop = pem[start..].find(&end).expect("PEM end") + start;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).expect("PEM base64")
}

#[derive(Debug)]
struct Pinned(String);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, end_entity.as_ref());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if hex.eq_ignore_ascii_case(&self.0) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "thumbprint mismatch: {hex}"
            )))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_config(trust: &Trust) -> Arc<ClientConfig> {
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap();
    let config = match trust {
        Trust::Ca(pem) => {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from(pem_der(pem, "CERTIFICATE")))
                .unwrap();
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pin(t) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned(t.clone())))
            .with_no_client_auth(),
        Trust::None => unreachable!("plain HTTP needs no TLS config"),
    };
    Arc::new(config)
}

/// One request with `Connection: close`; `read_timeout` bounds each read.
pub fn request_with_timeout(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    trust: &Trust,
    read_timeout: Duration,
) -> std::io::Result<Response> {
    let (scheme, rest) = url.split_once("://").expect("absolute URL");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = authority.rsplit_once(':').expect("URL with a port");
    assert!(
        host == "127.0.0.1" || host == "localhost",
        "tests talk only to the loopback interface"
    );
    let tcp = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()))?;
    tcp.set_read_timeout(Some(read_timeout))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some((ct, b)) = body {
        head.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    } else if method == "POST" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if let Some((_, b)) = body {
        out.extend_from_slice(b);
    }
    let raw = if scheme == "https" {
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let conn = rustls::ClientConnection::new(client_config(trust), name)
            .map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(&out)?;
        read_all(&mut tls)?
    } else {
        let mut tcp = tcp;
        tcp.write_all(&out)?;
        read_all(&mut tcp)?
    };
    parse_response(&raw)
}

fn read_all(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A peer that closes without TLS close_notify: keep what arrived.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {
                return Ok(buf);
            }
            Err(e) => return Err(e),
        }
    }
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "no complete response head",
            )
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        let mut r = rest;
        while let Some(i) = r.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&r[..i]).trim(), 16).unwrap_or(0);
            if size == 0 || r.len() < i + 4 + size {
                break;
            }
            body.extend_from_slice(&r[i + 2..i + 2 + size]);
            r = &r[i + 2 + size + 2..];
        }
        body
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    trust: &Trust,
) -> Response {
    request_with_timeout(method, url, headers, body, trust, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

pub fn get(url: &str, headers: &[(&str, &str)], trust: &Trust) -> Response {
    request("GET", url, headers, None, trust)
}

pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

pub fn post_form(url: &str, pairs: &[(&str, &str)], trust: &Trust) -> Response {
    request(
        "POST",
        url,
        &[],
        Some(("application/x-www-form-urlencoded", &form(pairs))),
        trust,
    )
}

pub fn ca(emu: &Emulator) -> Trust {
    Trust::Ca(emu.ca_pem().to_owned())
}

/// POSTs a form to the emulator's token endpoint for `tenant`.
pub fn token(emu: &Emulator, tenant: &str, pairs: &[(&str, &str)]) -> Response {
    post_form(&emu.token_endpoint(tenant), pairs, &ca(emu))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).unwrap()
}

/// The claims of a JWT, without verification.
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&b64url_decode(payload)).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Ps256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thumb {
    /// `x5t` (SHA-1), padded base64url as MSAL sends it.
    Sha1Padded,
    /// `x5t#S256` (SHA-256), unpadded.
    Sha256,
}

/// A signed client assertion. `pad_segments` imitates Python's async path.
pub fn assertion(
    alg: Alg,
    key_pem: &str,
    cert_pem: &str,
    thumb: Thumb,
    claims: &Value,
    pad_segments: bool,
) -> String {
    let der = pem_der(cert_pem, "CERTIFICATE");
    let mut header =
        serde_json::json!({"typ": "JWT", "alg": if alg == Alg::Rs256 { "RS256" } else { "PS256" }});
    match thumb {
        Thumb::Sha1Padded => {
            let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
            header["x5t"] =
                Value::String(base64::engine::general_purpose::URL_SAFE.encode(d.as_ref()));
        }
        Thumb::Sha256 => {
            let d = ring::digest::digest(&ring::digest::SHA256, &der);
            header["x5t#S256"] = Value::String(b64url(d.as_ref()));
        }
    }
    let enc = |b: &[u8]| {
        if pad_segments {
            base64::engine::general_purpose::URL_SAFE.encode(b)
        } else {
            b64url(b)
        }
    };
    let input = format!(
        "{}.{}",
        enc(header.to_string().as_bytes()),
        enc(claims.to_string().as_bytes())
    );
    let key = RsaKeyPair::from_pkcs8(&pem_der(key_pem, "PRIVATE KEY")).unwrap();
    let mut sig = vec![0u8; key.public().modulus_len()];
    let params: &'static dyn ring::signature::RsaEncoding = if alg == Alg::Rs256 {
        &ring::signature::RSA_PKCS1_SHA256
    } else {
        &ring::signature::RSA_PSS_SHA256
    };
    key.sign(params, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .unwrap();
    format!("{input}.{}", enc(&sig))
}

/// Standard assertion claims for `client_id` at `aud`.
pub fn assertion_claims(client_id: &str, aud: &str, nbf: i64, exp: i64) -> Value {
    serde_json::json!({"aud": aud, "iss": client_id, "sub": client_id, "jti": uuid_like(), "nbf": nbf, "iat": nbf, "exp": exp})
}

pub fn uuid_like() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Asserts an Entra error: status, `error`, the AADSTS code first in the description and in
/// `error_codes`, and the realistic metadata fields.
pub fn assert_entra_error(resp: &Response, status: u16, error: &str, code: u32) -> Value {
    let body = resp.json();
    assert_eq!(resp.status, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[field].is_string(), "missing {field}: {body}");
    }
    body
}
