//! Azure Machine Learning and the legacy `MSI_ENDPOINT` + `MSI_SECRET` pair (PROTOCOL.md §6.6).

use super::{status_code_outcome, with_query};
use crate::id::ManagedIdentityId;
use identity_core::http::{Request, Response};
use identity_core::{AccessToken, Error, TransportError};
use std::time::{Duration, SystemTime};

pub(crate) const API_VERSION: &str = "2017-09-01";
const SOURCE: &str = "Azure ML";

/// `GET {MSI_ENDPOINT}?api-version=2017-09-01&resource=…[&clientid=…]` with header `secret`.
pub(crate) fn token_request(
    endpoint: &str,
    secret: &str,
    resource: &str,
    id: &ManagedIdentityId,
    timeout: Duration,
) -> Request {
    let mut pairs = vec![("api-version", API_VERSION), ("resource", resource)];
    match id {
        ManagedIdentityId::SystemAssigned => {}
        ManagedIdentityId::ClientId(v) => pairs.push(("clientid", v)),
        ManagedIdentityId::ObjectId(v) => pairs.push(("object_id", v)),
        ManagedIdentityId::ResourceId(v) => pairs.push(("msi_res_id", v)),
    }
    Request::get(with_query(endpoint, &pairs))
        .header("secret", secret)
        .timeout(timeout)
}

pub(crate) fn token_outcome(
    outcome: Result<Response, TransportError>,
    request_time: SystemTime,
) -> Result<AccessToken, Error> {
    status_code_outcome(SOURCE, outcome, request_time, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;

    #[test]
    fn request_and_outcomes() {
        let r = token_request(
            "http://h/azureml/token",
            "s",
            "r",
            &ManagedIdentityId::ClientId("c".into()),
            Duration::from_secs(5),
        );
        assert_eq!(
            r.url,
            "http://h/azureml/token?api-version=2017-09-01&resource=r&clientid=c"
        );
        assert_eq!(r.headers.get("secret"), Some("s"));
        let now = SystemTime::now();
        let ok = token_outcome(Ok(Response::new(200, r#"{"access_token":"t","expires_on":"11/14/2023 22:13:20 +00:00","resource":"r","token_type":"Bearer"}"#)), now).unwrap();
        assert_eq!(ok.expires_on_unix(), 1_700_000_000);
        let e = token_outcome(
            Ok(Response::new(
                401,
                r#"{"statusCode":401,"message":"Invalid secret"}"#,
            )),
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().ends_with("Azure ML managed identity configuration not found in environment. Token request error: (invalid_scope) 401, Invalid secret"), "{}", e.message());
    }
}
