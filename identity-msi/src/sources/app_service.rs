//! App Service / Azure Functions / Container Apps (PROTOCOL.md §6.4).

use super::{oauth_detail, status_code_outcome, with_query};
use crate::id::ManagedIdentityId;
use crate::parse::{MAX_QUOTED, json_object, quoted_body};
use identity_core::http::{Request, Response};
use identity_core::protocol::scrub::scrub;
use identity_core::{AccessToken, Error, TransportError};
use serde_json::Value;
use std::time::{Duration, SystemTime};

pub(crate) const API_VERSION: &str = "2019-08-01";
const SOURCE: &str = "App Service";

/// `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER`.
pub(crate) fn token_request(
    endpoint: &str,
    header: &str,
    resource: &str,
    id: &ManagedIdentityId,
    timeout: Duration,
) -> Request {
    let mut pairs = vec![("api-version", API_VERSION), ("resource", resource)];
    match id {
        ManagedIdentityId::SystemAssigned => {}
        ManagedIdentityId::ClientId(v) => pairs.push(("client_id", v)),
        ManagedIdentityId::ObjectId(v) => pairs.push(("object_id", v)),
        ManagedIdentityId::ResourceId(v) => pairs.push(("mi_res_id", v)),
    }
    Request::get(with_query(endpoint, &pairs))
        .header("X-IDENTITY-HEADER", header)
        .header("Metadata", "true")
        .timeout(timeout)
}

/// `{"statusCode","message"}` → `({statusCode}, {message})`, else the OAuth detail.
pub(crate) fn status_code_detail(response: &Response) -> String {
    if let Some(map) = json_object(response)
        && let Some(message) = map.get("message").and_then(Value::as_str)
    {
        let code = match map.get("statusCode") {
            // Whole numbers as written; for a fractional one (never sent) the HTTP status
            // stands in, so that a managed-identity binary links no float formatting.
            Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(u)) => u.to_string(),
                (None, None) => response.status.to_string(),
            },
            Some(Value::String(s)) => s.clone(),
            _ => response.status.to_string(),
        };
        return scrub(&format!("{code}, {message}"), MAX_QUOTED);
    }
    match oauth_detail(response) {
        (Some(_), detail) => detail,
        (None, _) => quoted_body(response),
    }
}

pub(crate) fn token_outcome(
    outcome: Result<Response, TransportError>,
    request_time: SystemTime,
) -> Result<AccessToken, Error> {
    status_code_outcome(SOURCE, outcome, request_time, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::{ErrorKind, TransportErrorKind};

    #[test]
    fn request_shape() {
        let r = token_request(
            "http://h/msi/token",
            "hdr",
            "https://vault.azure.net",
            &ManagedIdentityId::ResourceId("/r".into()),
            Duration::from_secs(5),
        );
        assert_eq!(
            r.url,
            "http://h/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net&mi_res_id=%2Fr"
        );
        assert_eq!(r.headers.get("x-identity-header"), Some("hdr"));
        assert_eq!(r.headers.get("metadata"), Some("true"));
        let r = token_request(
            "http://h",
            "h",
            "r",
            &ManagedIdentityId::ObjectId("o".into()),
            Duration::from_secs(5),
        );
        assert!(r.url.ends_with("&object_id=o"));
    }

    #[test]
    fn outcomes() {
        let now = SystemTime::now();
        let ok = token_outcome(Ok(Response::new(200, r#"{"access_token":"t","expires_on":"1700003600","resource":"r","token_type":"Bearer","client_id":"c"}"#)), now).unwrap();
        assert_eq!(ok.expires_on_unix(), 1_700_003_600);
        let e = token_outcome(Ok(Response::new(400, r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"x"}"#)), now).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(
            e.message(),
            "ManagedIdentityCredential authentication unavailable. App Service managed identity configuration not found in environment. Token request error: (invalid_scope) 400, Unable to load the proper Managed Identity."
        );
        let e = token_outcome(
            Err(TransportError::new(TransportErrorKind::Connect, "refused")),
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().contains("refused"));
        let e = token_outcome(
            Ok(Response::new(200, "{").with_header("content-type", "application/json")),
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
    }
}
