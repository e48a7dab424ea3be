//! Azure Arc (PROTOCOL.md §6.5): the 401 challenge, the key file, the token request, the
//! user-assigned echo check.

use super::{not_found, oauth_detail, parse_failure, transport_failure, with_query};
use crate::NAME;
use crate::id::ManagedIdentityId;
use crate::parse::{parse_token, quoted_body};
use identity_core::env::Env;
use identity_core::http::{Request, Response};
use identity_core::{AccessToken, Error, Secret, TransportError};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub(crate) const API_VERSION: &str = "2020-06-01";
const SOURCE: &str = "Azure Arc";
/// Largest key file accepted.
pub(crate) const MAX_KEY_FILE: u64 = 4096;
/// Where the agent writes key files on Linux.
pub(crate) const LINUX_KEY_DIR: &str = "/var/opt/azcmagent/tokens";

/// The directory key files must be in: the configured one, else the platform's.
pub(crate) fn key_directory(configured: Option<&Path>, env: &dyn Env) -> Result<PathBuf, Error> {
    if let Some(dir) = configured {
        return Ok(dir.to_owned());
    }
    if cfg!(target_os = "linux") {
        Ok(PathBuf::from(LINUX_KEY_DIR))
    } else if cfg!(windows) {
        let program_data = env
            .non_empty("PROGRAMDATA")
            .ok_or_else(|| key_path_invalid("the environment variable PROGRAMDATA is not set"))?;
        Ok(Path::new(&program_data)
            .join("AzureConnectedMachineAgent")
            .join("Tokens"))
    } else {
        Err(key_path_invalid(
            "Azure Arc managed identity is supported only on Linux and Windows",
        ))
    }
}

/// Both requests: `GET {IDENTITY_ENDPOINT}?api-version=2020-06-01&resource=…[&id]` with
/// `Metadata: true`; the second adds `Authorization: Basic {key}`.
pub(crate) fn token_request(
    endpoint: &str,
    resource: &str,
    id: &ManagedIdentityId,
    key: Option<&Secret>,
    timeout: Duration,
) -> Request {
    let mut pairs = vec![("api-version", API_VERSION), ("resource", resource)];
    match id {
        ManagedIdentityId::SystemAssigned => {}
        ManagedIdentityId::ClientId(v) => pairs.push(("client_id", v)),
        ManagedIdentityId::ObjectId(v) => pairs.push(("object_id", v)),
        ManagedIdentityId::ResourceId(v) => pairs.push(("msi_res_id", v)),
    }
    let mut request = Request::get(with_query(endpoint, &pairs))
        .header("Metadata", "true")
        .timeout(timeout);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Basic {}", key.secret()));
    }
    request
}

fn key_path_invalid(reason: &str) -> Error {
    Error::authentication(
        NAME,
        format!(
            "ManagedIdentityCredential authentication failed. Azure Arc: The key file path is invalid: {reason}"
        ),
    )
}

/// The key file path from the challenge: the text after the first `=` of
/// `WWW-Authenticate: Basic realm=…`.
pub(crate) fn challenge_path(response: &Response) -> Result<String, Error> {
    if response.status != 401 {
        let (code, detail) = oauth_detail(response);
        let body = if code.is_some() {
            detail
        } else {
            quoted_body(response)
        };
        return Err(not_found(SOURCE, "invalid_request", &body, response.status));
    }
    let header = response.headers.get("www-authenticate").ok_or_else(|| {
        Error::authentication(
            NAME,
            "ManagedIdentityCredential authentication failed. Azure Arc: Did not receive a value from WWW-Authenticate header",
        )
        .with_status(401)
    })?;
    match header.split_once('=') {
        Some((_, path)) => Ok(path.trim().to_owned()),
        None => Err(Error::authentication(
            NAME,
            format!(
                "ManagedIdentityCredential authentication failed. Azure Arc: Did not receive a correct value from WWW-Authenticate header: {header}"
            ),
        )
        .with_status(401)),
    }
}

/// Checks the key file rules (non-empty path, `.key`, parent directory exactly `expected_dir`,
/// exists, at most 4096 bytes) and reads it.
pub(crate) fn read_key_file(path: &str, expected_dir: &Path) -> Result<Secret, Error> {
    if path.is_empty() {
        return Err(key_path_invalid("the path is empty"));
    }
    let p = Path::new(path);
    if p.extension().and_then(|e| e.to_str()) != Some("key") {
        return Err(key_path_invalid(&format!("{path} does not end in .key")));
    }
    if p.parent() != Some(expected_dir) {
        return Err(key_path_invalid(&format!(
            "{path} is not in the expected directory {}",
            expected_dir.display()
        )));
    }
    let metadata = std::fs::metadata(p)
        .map_err(|e| key_path_invalid(&format!("{path} cannot be read: {e}")))?;
    if !metadata.is_file() {
        return Err(key_path_invalid(&format!("{path} is not a file")));
    }
    if metadata.len() > MAX_KEY_FILE {
        return Err(key_path_invalid(&format!(
            "{path} is larger than {MAX_KEY_FILE} bytes"
        )));
    }
    let content = std::fs::read_to_string(p)
        .map_err(|e| key_path_invalid(&format!("{path} cannot be read: {e}")))?;
    if content.len() as u64 > MAX_KEY_FILE {
        return Err(key_path_invalid(&format!(
            "{path} is larger than {MAX_KEY_FILE} bytes"
        )));
    }
    Ok(Secret::new(content))
}

/// The challenge exchange failed below HTTP.
pub(crate) fn transport(e: TransportError) -> Error {
    transport_failure(SOURCE, e)
}

/// The token response, with the user-assigned echo check of §6.2.
pub(crate) fn token_outcome(
    outcome: Result<Response, TransportError>,
    id: &ManagedIdentityId,
    request_time: SystemTime,
) -> Result<AccessToken, Error> {
    let response = outcome.map_err(transport)?;
    if !response.is_success() {
        let (code, detail) = oauth_detail(&response);
        let description = match &code {
            Some(c) => detail
                .strip_prefix(&format!("({c}) "))
                .unwrap_or(&detail)
                .to_owned(),
            None => detail,
        };
        return Err(not_found(
            SOURCE,
            code.as_deref().unwrap_or("invalid_request"),
            &description,
            response.status,
        ));
    }
    let parsed = parse_token(&response, request_time, false)
        .map_err(|f| parse_failure(SOURCE, &f).with_status(response.status))?;
    let echoed = |keys: &[&str], want: &str| {
        keys.iter().any(|k| {
            parsed
                .body
                .get(*k)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(want))
        })
    };
    let confirmed = match id {
        ManagedIdentityId::SystemAssigned => true,
        ManagedIdentityId::ClientId(v) => echoed(&["client_id"], v),
        ManagedIdentityId::ObjectId(v) => echoed(&["object_id"], v),
        ManagedIdentityId::ResourceId(v) => echoed(&["msi_res_id", "mi_res_id"], v),
    };
    if !confirmed {
        return Err(Error::authentication(
            NAME,
            "ManagedIdentityCredential authentication failed. Azure Arc did not confirm the requested user-assigned managed identity in the token response. The agent likely does not support user-assigned managed identities and returned the system-assigned identity.",
        ));
    }
    Ok(parsed.token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;

    fn challenge(value: Option<&str>) -> Response {
        let r = Response::new(401, r#"{"error":"unauthorized_client"}"#);
        match value {
            Some(v) => r.with_header("WWW-Authenticate", v),
            None => r,
        }
    }

    #[test]
    fn challenge_header() {
        assert_eq!(
            challenge_path(&challenge(Some(
                "Basic realm=/var/opt/azcmagent/tokens/a.key"
            )))
            .unwrap(),
            "/var/opt/azcmagent/tokens/a.key"
        );
        // Split once, at the first `=`.
        assert_eq!(
            challenge_path(&challenge(Some("Basic realm=/d/a=b.key"))).unwrap(),
            "/d/a=b.key"
        );
        let e = challenge_path(&challenge(None)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(
            e.message()
                .ends_with("Did not receive a value from WWW-Authenticate header")
        );
        let e = challenge_path(&challenge(Some("Basic"))).unwrap_err();
        assert!(
            e.message()
                .ends_with("Did not receive a correct value from WWW-Authenticate header: Basic")
        );
        let e = challenge_path(&Response::new(200, "{}")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().contains("Azure Arc managed identity configuration not found in environment. Token request error: (invalid_request) {}"), "{}", e.message());
    }

    #[test]
    fn key_file_rules() {
        let dir = std::env::temp_dir().join(format!("identity-msi-arc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.key");
        std::fs::write(&good, "k3y").unwrap();
        let big = dir.join("big.key");
        std::fs::write(&big, vec![b'x'; 4097]).unwrap();
        let txt = dir.join("a.txt");
        std::fs::write(&txt, "x").unwrap();
        assert_eq!(
            read_key_file(good.to_str().unwrap(), &dir)
                .unwrap()
                .secret(),
            "k3y"
        );
        for (path, reason) in [
            (String::new(), "empty"),
            (big.display().to_string(), "larger than 4096"),
            (txt.display().to_string(), "does not end in .key"),
            (
                dir.join("missing.key").display().to_string(),
                "cannot be read",
            ),
        ] {
            let e = read_key_file(&path, &dir).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Authentication);
            assert!(
                e.message().contains("The key file path is invalid")
                    && e.message().contains(reason),
                "{path}: {}",
                e.message()
            );
        }
        let e = read_key_file(good.to_str().unwrap(), Path::new(LINUX_KEY_DIR)).unwrap_err();
        assert!(
            e.message().contains("expected directory"),
            "{}",
            e.message()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn echo_check() {
        let now = SystemTime::now();
        let body = r#"{"access_token":"t","expires_in":"3600","expires_on":"1700003600","client_id":"ABC","object_id":"o","msi_res_id":"/R"}"#;
        for id in [
            ManagedIdentityId::SystemAssigned,
            ManagedIdentityId::ClientId("abc".into()),
            ManagedIdentityId::ObjectId("O".into()),
            ManagedIdentityId::ResourceId("/r".into()),
        ] {
            assert!(
                token_outcome(Ok(Response::new(200, body)), &id, now).is_ok(),
                "{id:?}"
            );
        }
        let e = token_outcome(
            Ok(Response::new(200, body)),
            &ManagedIdentityId::ClientId("other".into()),
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().contains("Azure Arc did not confirm"));
    }

    #[test]
    fn second_request_carries_the_key() {
        let key = Secret::new("k");
        let r = token_request(
            "http://h/arc",
            "r",
            &ManagedIdentityId::ResourceId("/x".into()),
            Some(&key),
            Duration::from_secs(5),
        );
        assert_eq!(r.headers.get("authorization"), Some("Basic k"));
        assert!(r.url.ends_with("&msi_res_id=%2Fx"));
    }
}
