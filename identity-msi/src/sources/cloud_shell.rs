//! Cloud Shell (PROTOCOL.md §6.7).

use super::{not_found, oauth_detail, parsed_token, transport_failure};
use crate::id::ManagedIdentityId;
use identity_core::http::{Request, Response};
use identity_core::{AccessToken, Error, TransportError};
use std::time::{Duration, SystemTime};

const SOURCE: &str = "Cloud Shell";

/// `POST {MSI_ENDPOINT}` with `Metadata: true` and the form `resource=…`. An id that came
/// from `AZURE_CLIENT_ID` (not configured explicitly) is sent as an extra form field, as
/// azure-identity does inside DefaultAzureCredential; an explicit one is refused at build.
pub(crate) fn token_request(
    endpoint: &str,
    resource: &str,
    implicit_id: Option<&ManagedIdentityId>,
    timeout: Duration,
) -> Request {
    let mut pairs = vec![("resource", resource)];
    match implicit_id {
        Some(ManagedIdentityId::ClientId(v)) => pairs.push(("client_id", v)),
        Some(ManagedIdentityId::ObjectId(v)) => pairs.push(("object_id", v)),
        Some(ManagedIdentityId::ResourceId(v)) => pairs.push(("msi_res_id", v)),
        _ => {}
    }
    Request::post(endpoint)
        .header("Metadata", "true")
        .form(pairs)
        .timeout(timeout)
}

pub(crate) fn token_outcome(
    outcome: Result<Response, TransportError>,
    request_time: SystemTime,
) -> Result<AccessToken, Error> {
    let response = outcome.map_err(|e| transport_failure(SOURCE, e))?;
    if response.is_success() {
        return parsed_token(SOURCE, &response, request_time, false);
    }
    let (code, detail) = oauth_detail(&response);
    let description = match &code {
        Some(c) => detail
            .strip_prefix(&format!("({c}) "))
            .unwrap_or(&detail)
            .to_owned(),
        None => detail,
    };
    Err(not_found(
        SOURCE,
        code.as_deref().unwrap_or("invalid_request"),
        &description,
        response.status,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;

    #[test]
    fn request_and_outcomes() {
        let r = token_request(
            "http://h/cloudshell/token",
            "https://x",
            None,
            Duration::from_secs(5),
        );
        assert_eq!(r.body, b"resource=https%3A%2F%2Fx");
        assert_eq!(r.headers.get("metadata"), Some("true"));
        let id = ManagedIdentityId::ClientId("c".into());
        let r = token_request("http://h", "r", Some(&id), Duration::from_secs(5));
        assert_eq!(r.body, b"resource=r&client_id=c");
        let now = SystemTime::now();
        let e = token_outcome(
            Ok(Response::new(
                400,
                r#"{"error":"invalid_request","error_description":"bad"}"#,
            )),
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().ends_with("Cloud Shell managed identity configuration not found in environment. Token request error: (invalid_request) bad"), "{}", e.message());
    }
}
