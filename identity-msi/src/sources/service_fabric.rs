//! Service Fabric (PROTOCOL.md §6.8): request, endpoint and thumbprint checks, error mapping.
//! The pinned TLS transport lives in [`crate::pinned`] (feature `service-fabric`).

use super::{not_found, parse_failure, transport_failure, with_query};
use crate::NAME;
use crate::parse::{json_object, parse_token};
use identity_core::http::{Request, Response};
use identity_core::{AccessToken, Error, TransportError};
use serde_json::Value;
use std::time::{Duration, SystemTime};

pub(crate) const API_VERSION: &str = "2019-07-01-preview";
const SOURCE: &str = "Service Fabric";

/// The message for a user-assigned id (§6.2).
pub(crate) const USER_ASSIGNED_UNSUPPORTED: &str = "Specifying a client_id or identity_config is not supported by the Service Fabric managed identity environment. The managed identity configuration is determined by the Service Fabric cluster resource configuration. See https://aka.ms/servicefabricmi for more information.";

/// `IDENTITY_SERVER_THUMBPRINT` without spaces, tabs, CR/LF and `:`, lower-cased; it must be
/// 40 hex digits.
pub(crate) fn normalize_thumbprint(raw: &str) -> Result<String, Error> {
    let t: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n' | ':'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t)
    } else {
        Err(Error::authentication(
            NAME,
            "ManagedIdentityCredential authentication failed. IDENTITY_SERVER_THUMBPRINT must be a SHA-1 certificate thumbprint.",
        ))
    }
}

/// The endpoint must be `https://` with a host.
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), Error> {
    let rest = endpoint
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &endpoint[8..]);
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with(['/', '?', ':', '#']) => Ok(()),
        _ => Err(Error::authentication(
            NAME,
            "ManagedIdentityCredential authentication failed. Service Fabric managed identity endpoint must use HTTPS.",
        )),
    }
}

/// `GET {IDENTITY_ENDPOINT}?api-version=2019-07-01-preview&resource=…` with header `Secret`;
/// `token_sha256_to_refresh` when a claims challenge replaces a cached token.
pub(crate) fn token_request(
    endpoint: &str,
    header: &str,
    resource: &str,
    token_sha256_to_refresh: Option<&str>,
    timeout: Duration,
) -> Request {
    let mut pairs = vec![("api-version", API_VERSION), ("resource", resource)];
    if let Some(h) = token_sha256_to_refresh {
        pairs.push(("token_sha256_to_refresh", h));
    }
    Request::get(with_query(endpoint, &pairs))
        .header("Secret", header)
        .timeout(timeout)
}

fn mapped_code(code: &str) -> &'static str {
    match code {
        "SecretHeaderNotFound" => "unauthorized_client",
        "ManagedIdentityNotFound" => "invalid_client",
        "ArgumentNullOrEmpty" => "invalid_scope",
        _ => "invalid_request",
    }
}

pub(crate) fn token_outcome(
    outcome: Result<Response, TransportError>,
    request_time: SystemTime,
) -> Result<AccessToken, Error> {
    let response = outcome.map_err(|e| transport_failure(SOURCE, e))?;
    if response.is_success() {
        let parsed = parse_token(&response, request_time, false)
            .map_err(|f| parse_failure(SOURCE, &f).with_status(response.status))?;
        if !parsed.body.get("token_type").is_some_and(Value::is_string) {
            return Err(Error::authentication(
                NAME,
                "ManagedIdentityCredential authentication failed. The Service Fabric managed identity endpoint's response has no token_type.",
            ));
        }
        return Ok(parsed.token);
    }
    let code = json_object(&response)
        .and_then(|m| {
            m.get("error")
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Err(not_found(
        SOURCE,
        mapped_code(&code),
        &crate::parse::quoted_body(&response),
        response.status,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;

    #[test]
    fn thumbprints() {
        let t = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01";
        assert_eq!(
            normalize_thumbprint(t).unwrap(),
            "abcdef0123456789abcdef0123456789abcdef01"
        );
        assert_eq!(
            normalize_thumbprint(" abcdef0123456789abcdef0123456789abcdef01\r\n\t").unwrap(),
            "abcdef0123456789abcdef0123456789abcdef01"
        );
        for bad in [
            "",
            "abc",
            "zzcdef0123456789abcdef0123456789abcdef01",
            "abcdef0123456789abcdef0123456789abcdef0101",
        ] {
            let e = normalize_thumbprint(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Authentication);
            assert!(
                e.message().ends_with(
                    "IDENTITY_SERVER_THUMBPRINT must be a SHA-1 certificate thumbprint."
                )
            );
        }
    }

    #[test]
    fn endpoints() {
        assert!(check_endpoint("https://127.0.0.1:2377/metadata/identity/oauth2/token").is_ok());
        assert!(check_endpoint("HTTPS://h").is_ok());
        for bad in ["http://h/x", "https://", "https:///x", "ftp://h"] {
            let e = check_endpoint(bad).unwrap_err();
            assert!(
                e.message()
                    .ends_with("Service Fabric managed identity endpoint must use HTTPS."),
                "{bad}"
            );
        }
    }

    #[test]
    fn request_and_outcomes() {
        let r = token_request("https://h/t", "s", "r", Some("ab"), Duration::from_secs(5));
        assert_eq!(
            r.url,
            "https://h/t?api-version=2019-07-01-preview&resource=r&token_sha256_to_refresh=ab"
        );
        assert_eq!(r.headers.get("secret"), Some("s"));
        let now = SystemTime::now();
        let ok = token_outcome(Ok(Response::new(200, r#"{"token_type":"Bearer","access_token":"t","expires_on":"1700003600","resource":"r"}"#)), now).unwrap();
        assert_eq!(ok.expires_on_unix(), 1_700_003_600);
        let e = token_outcome(
            Ok(Response::new(
                200,
                r#"{"access_token":"t","expires_on":1700003600}"#,
            )),
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        let body = r#"{"error":{"code":"SecretHeaderNotFound","message":"Secret is not found in the request headers."}}"#;
        let e = token_outcome(Ok(Response::new(401, body)), now).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.error_code(), Some("unauthorized_client"));
        // The raw body is quoted (scrubbed: the generic scrubber also masks "code" values).
        assert!(e.message().contains("Service Fabric managed identity configuration not found in environment. Token request error: (unauthorized_client) {\"error\""), "{}", e.message());
        assert!(
            e.message()
                .contains("Secret is not found in the request headers.")
        );
        let e = token_outcome(
            Ok(Response::new(
                500,
                r#"{"error":{"code":"Other","message":"m"}}"#,
            )),
            now,
        )
        .unwrap_err();
        assert_eq!(e.error_code(), Some("invalid_request"));
    }
}
