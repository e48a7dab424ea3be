//! IMDS (PROTOCOL.md §6.3): request, availability probe and error classification.

use super::{oauth_detail, with_query};
use crate::NAME;
use crate::id::ManagedIdentityId;
use crate::parse::parse_token;
use identity_core::http::{Request, Response};
use identity_core::{AccessToken, Error, TransportError};
use std::time::{Duration, SystemTime};

/// The IMDS token path.
pub(crate) const PATH: &str = "/metadata/identity/oauth2/token";
/// The IMDS api-version.
pub(crate) const API_VERSION: &str = "2018-02-01";
/// Connect timeout of a token request.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on the whole probe.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The unavailable message for an IMDS endpoint that does not answer.
pub(crate) const NO_RESPONSE: &str =
    "ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint.";

fn id_pair(id: &ManagedIdentityId, probe: bool) -> Option<(&'static str, &str)> {
    match id {
        ManagedIdentityId::SystemAssigned => None,
        ManagedIdentityId::ClientId(v) => Some(("client_id", v)),
        ManagedIdentityId::ObjectId(v) => Some(("object_id", v)),
        // The probe copies the identity_config key verbatim (observed): `resource_id`.
        ManagedIdentityId::ResourceId(v) => {
            Some((if probe { "resource_id" } else { "msi_res_id" }, v))
        }
    }
}

fn url(base: &str, resource: &str, id: &ManagedIdentityId, probe: bool) -> String {
    let mut pairs = vec![("api-version", API_VERSION), ("resource", resource)];
    pairs.extend(id_pair(id, probe));
    with_query(&format!("{base}{PATH}"), &pairs)
}

/// The token request: `Metadata: true`, 2 s connect timeout.
pub(crate) fn token_request(
    base: &str,
    resource: &str,
    id: &ManagedIdentityId,
    timeout: Duration,
) -> Request {
    Request::get(url(base, resource, id, false))
        .header("Metadata", "true")
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
}

/// The probe: the same URL without the `Metadata` header, the whole exchange bounded at 1 s.
pub(crate) fn probe_request(base: &str, resource: &str, id: &ManagedIdentityId) -> Request {
    Request::get(url(base, resource, id, true))
        .connect_timeout(PROBE_TIMEOUT)
        .timeout(PROBE_TIMEOUT)
}

fn unreachable_403(response: &Response) -> bool {
    response.status == 403 && response.text().contains("unreachable")
}

/// The probe's verdict: any HTTP response means available, except Docker Desktop's 403
/// "unreachable"; no response means unavailable.
pub(crate) fn probe_outcome(outcome: Result<Response, TransportError>) -> Result<(), Error> {
    match outcome {
        Ok(r) if unreachable_403(&r) => Err(Error::unavailable(
            NAME,
            format!(
                "ManagedIdentityCredential authentication unavailable. Error: {}",
                oauth_detail(&r).1
            ),
        )
        .with_status(403)),
        Ok(_) => Ok(()),
        Err(e) => Err(no_response(e)),
    }
}

fn no_response(e: TransportError) -> Error {
    Error::unavailable(NAME, format!("{NO_RESPONSE} ({e})")).with_source(e)
}

/// Classifies the final outcome of a token request (after retries), per §6.3's
/// recommendation for Rust: 400, 403-"unreachable", unparsable responses and network errors
/// → unavailable (but a 400 for a user-assigned identity → authentication failure, as Go
/// does); other HTTP errors → authentication failure.
pub(crate) fn token_outcome(
    outcome: Result<Response, TransportError>,
    id: &ManagedIdentityId,
    request_time: SystemTime,
) -> Result<AccessToken, Error> {
    let response = outcome.map_err(no_response)?;
    if response.is_success() {
        return parse_token(&response, request_time, false)
            .map(|p| p.token)
            .map_err(|f| {
                Error::unavailable(
                    NAME,
                    format!(
                        "ManagedIdentityCredential authentication unavailable. The IMDS endpoint's response could not be used: {}",
                        f.message()
                    ),
                )
                .with_status(response.status)
            });
    }
    let (code, detail) = oauth_detail(&response);
    let status = response.status;
    let error = if status == 400 && id.is_user_assigned() {
        Error::authentication(
            NAME,
            format!(
                "ManagedIdentityCredential authentication failed. The requested identity ({}) has not been assigned to this resource. Assign it, or configure the identity that is. Error: {detail}",
                id.describe()
            ),
        )
    } else if status == 400 {
        Error::unavailable(
            NAME,
            format!(
                "ManagedIdentityCredential authentication unavailable. No identity has been assigned to this resource. Error: {detail}"
            ),
        )
    } else if unreachable_403(&response) {
        Error::unavailable(
            NAME,
            format!("ManagedIdentityCredential authentication unavailable. Error: {detail}"),
        )
    } else {
        Error::authentication(
            NAME,
            format!(
                "ManagedIdentityCredential authentication failed. The IMDS endpoint answered HTTP {status}. Error: {detail}"
            ),
        )
    };
    Err(error.with_status(status).with_oauth_error(code, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;
    use identity_core::TransportErrorKind;

    const ARM: &str = "https://management.azure.com";

    #[test]
    fn requests() {
        let r = token_request(
            "http://169.254.169.254",
            ARM,
            &ManagedIdentityId::SystemAssigned,
            Duration::from_secs(30),
        );
        assert_eq!(
            r.url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com"
        );
        assert_eq!(r.headers.get("metadata"), Some("true"));
        assert_eq!(r.connect_timeout, Some(CONNECT_TIMEOUT));
        let id = ManagedIdentityId::ResourceId("/subscriptions/x".into());
        let r = token_request("http://b", ARM, &id, Duration::from_secs(30));
        assert!(
            r.url.ends_with("&msi_res_id=%2Fsubscriptions%2Fx"),
            "{}",
            r.url
        );
        let p = probe_request("http://b", ARM, &id);
        assert!(
            p.url.ends_with("&resource_id=%2Fsubscriptions%2Fx"),
            "{}",
            p.url
        );
        assert_eq!(p.headers.get("metadata"), None);
        assert_eq!(p.timeout, Some(PROBE_TIMEOUT));
        let p = probe_request("http://b", ARM, &ManagedIdentityId::ObjectId("o".into()));
        assert!(p.url.ends_with("&object_id=o"));
    }

    #[test]
    fn probe() {
        // IMDS answers a request without Metadata with 400: available.
        assert!(probe_outcome(Ok(Response::new(400, r#"{"error":"invalid_request","error_description":"Required metadata header not specified"}"#))).is_ok());
        let e = probe_outcome(Ok(Response::new(403, "connecting to 169.254.169.254:80: connecting to 169.254.169.254:80: dial tcp 169.254.169.254:80: connectex: A socket operation was attempted to an unreachable network."))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().starts_with(
            "ManagedIdentityCredential authentication unavailable. Error: connecting"
        ));
        assert!(probe_outcome(Ok(Response::new(403, "forbidden"))).is_ok());
        let e = probe_outcome(Err(TransportError::new(
            TransportErrorKind::Timeout,
            "timed out",
        )))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().starts_with(NO_RESPONSE));
    }

    #[test]
    fn classification() {
        let now = SystemTime::now();
        let sys = ManagedIdentityId::SystemAssigned;
        let user = ManagedIdentityId::ClientId("c".into());
        let not_found = || {
            Ok(Response::new(
                400,
                r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
            ))
        };
        let e = token_outcome(not_found(), &sys, now).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(
            e.message(),
            "ManagedIdentityCredential authentication unavailable. No identity has been assigned to this resource. Error: (invalid_request) Identity not found"
        );
        assert_eq!(e.status(), Some(400));
        let e = token_outcome(not_found(), &user, now).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().contains("client id c"), "{}", e.message());
        for status in [404, 410, 429, 500, 503] {
            let e = token_outcome(
                Ok(Response::new(
                    status,
                    r#"{"error":"unknown_error","error_description":"x"}"#,
                )),
                &sys,
                now,
            )
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Authentication, "{status}");
            assert_eq!(e.status(), Some(status));
        }
        let e = token_outcome(
            Ok(Response::new(
                403,
                "A socket operation was attempted to an unreachable network",
            )),
            &sys,
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let e = token_outcome(
            Ok(Response::new(200, "{\"access_token\":")
                .with_header("content-type", "application/json")),
            &sys,
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let e = token_outcome(
            Err(TransportError::new(TransportErrorKind::Connect, "refused")),
            &sys,
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let ok = token_outcome(Ok(Response::new(200, r#"{"access_token":"t","expires_in":"86399","expires_on":"1700086399","resource":"r","token_type":"Bearer"}"#)), &sys, now).unwrap();
        assert_eq!(ok.expires_on_unix(), 1_700_086_399);
    }
}
