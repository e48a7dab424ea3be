//! One module per hosting environment, each sans-IO: it builds requests and reads responses;
//! the [`flow`](crate::flow) drives them.

pub(crate) mod app_service;
pub(crate) mod arc;
pub(crate) mod azure_ml;
pub(crate) mod cloud_shell;
pub(crate) mod imds;
pub(crate) mod service_fabric;

use crate::NAME;
use crate::parse::{MAX_QUOTED, json_object, parse_token, quoted_body};
use identity_core::http::Response;
use identity_core::protocol::scrub::scrub;
use identity_core::{AccessToken, Error, TransportError};
use serde_json::Value;
use std::time::SystemTime;

/// Appends query pairs (form-encoded) to a URL that may already have a query.
pub(crate) fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = url.to_owned();
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    let query = serializer.finish();
    if !query.is_empty() {
        out.push(if url.contains('?') { '&' } else { '?' });
        out.push_str(&query);
    }
    out
}

/// `({error}) {error_description}` of an OAuth-style error body, or the scrubbed body.
pub(crate) fn oauth_detail(response: &Response) -> (Option<String>, String) {
    if let Some(map) = json_object(response)
        && let Some(error) = map.get("error").and_then(Value::as_str)
    {
        let description = map
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        return (
            Some(error.to_owned()),
            scrub(&format!("({error}) {description}"), MAX_QUOTED),
        );
    }
    (None, quoted_body(response))
}

/// The unavailable error of §6.10: "{Source} managed identity configuration not found in
/// environment. Token request error: ({error}) {description}".
pub(crate) fn not_found(source: &str, error: &str, description: &str, status: u16) -> Error {
    Error::unavailable(
        NAME,
        format!(
            "ManagedIdentityCredential authentication unavailable. {source} managed identity configuration not found in environment. Token request error: ({error}) {description}"
        ),
    )
    .with_status(status)
    .with_oauth_error(Some(error.to_owned()), Vec::new())
}

/// A transport failure of a source other than IMDS: an authentication failure that names the
/// cause (PROTOCOL.md §1.2, Rust note).
pub(crate) fn transport_failure(source: &str, error: TransportError) -> Error {
    Error::authentication(
        NAME,
        format!(
            "ManagedIdentityCredential authentication failed: the {source} managed identity endpoint could not be reached: {error}. Check that the endpoint in the environment is right and reachable."
        ),
    )
    .with_source(error)
}

/// The token of a 2xx response, or the §6.9 failure naming `source` (sources other than
/// IMDS); `date_strings` accepts Azure ML's date strings for `expires_on`.
pub(crate) fn parsed_token(
    source: &str,
    response: &Response,
    request_time: SystemTime,
    date_strings: bool,
) -> Result<AccessToken, Error> {
    parse_token(response, request_time, date_strings)
        .map(|p| p.token)
        .map_err(|f| parse_failure(source, &f).with_status(response.status))
}

/// The outcome of App Service and Azure ML: a token, else the §6.10 unavailable error with
/// the `{statusCode, message}` detail.
pub(crate) fn status_code_outcome(
    source: &str,
    outcome: Result<Response, TransportError>,
    request_time: SystemTime,
    date_strings: bool,
) -> Result<AccessToken, Error> {
    let response = outcome.map_err(|e| transport_failure(source, e))?;
    if response.is_success() {
        return parsed_token(source, &response, request_time, date_strings);
    }
    Err(not_found(
        source,
        "invalid_scope",
        &app_service::status_code_detail(&response),
        response.status,
    ))
}

/// A 2xx response that did not parse (§6.9), for sources other than IMDS.
pub(crate) fn parse_failure(source: &str, failure: &crate::parse::ParseFailure) -> Error {
    let message = format!(
        "ManagedIdentityCredential authentication failed. The {source} managed identity endpoint's response could not be used: {}",
        failure.message()
    );
    if failure.generic_is_unavailable() {
        Error::unavailable(
            NAME,
            message.replace("authentication failed", "authentication unavailable"),
        )
    } else {
        Error::authentication(NAME, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_building() {
        assert_eq!(
            with_query(
                "http://h/p",
                &[("api-version", "1"), ("resource", "https://x/")]
            ),
            "http://h/p?api-version=1&resource=https%3A%2F%2Fx%2F"
        );
        assert_eq!(
            with_query("http://h/p?a=b", &[("c", "d")]),
            "http://h/p?a=b&c=d"
        );
    }

    #[test]
    fn details() {
        let r = Response::new(
            400,
            r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
        );
        assert_eq!(
            oauth_detail(&r),
            (
                Some("invalid_request".into()),
                "(invalid_request) Identity not found".into()
            )
        );
        let r = Response::new(500, r#"{"access_token":"planted"}"#);
        let (code, text) = oauth_detail(&r);
        assert_eq!(code, None);
        assert!(!text.contains("planted"));
    }
}
