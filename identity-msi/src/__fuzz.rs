//! Thin wrappers over the crate's private parsers, for the `fuzz/` crate and property tests.
//! Not a public API: hidden from the docs, no stability promise, no behaviour of its own.

use crate::id::ManagedIdentityId;
use crate::sources::{self, app_service, arc, azure_ml, cloud_shell, imds, service_fabric};
use identity_core::http::Response;
use identity_core::{AccessToken, Error};
use std::time::SystemTime;

/// The hosting environments whose responses [`token_outcome`] reads.
pub const SOURCES: [&str; 6] = [
    "imds",
    "app_service",
    "arc",
    "azure_ml",
    "cloud_shell",
    "service_fabric",
];

/// The token response of source `SOURCES[source % 6]` for identity `id`, as the credential
/// reads it (success, OAuth error, unexpected content).
pub fn token_outcome(
    source: usize,
    response: Response,
    id: &ManagedIdentityId,
    request_time: SystemTime,
) -> Result<AccessToken, Error> {
    match source % SOURCES.len() {
        0 => imds::token_outcome(Ok(response), id, request_time),
        1 => app_service::token_outcome(Ok(response), request_time),
        2 => arc::token_outcome(Ok(response), id, request_time),
        3 => azure_ml::token_outcome(Ok(response), request_time),
        4 => cloud_shell::token_outcome(Ok(response), request_time),
        _ => service_fabric::token_outcome(Ok(response), request_time),
    }
}

/// The generic parser of PROTOCOL.md §6.9 (`date_strings`: the Azure ML date formats), with a
/// failure turned into the error a source other than IMDS reports.
pub fn parse_token(
    response: &Response,
    request_time: SystemTime,
    date_strings: bool,
) -> Result<AccessToken, Error> {
    crate::parse::parse_token(response, request_time, date_strings)
        .map(|p| p.token)
        .map_err(|f| sources::parse_failure("App Service", &f))
}

/// The body as a JSON object, if it is one.
pub fn json_object(response: &Response) -> Option<serde_json::Map<String, serde_json::Value>> {
    crate::parse::json_object(response)
}

/// An Azure ML `expires_on` date string → Unix seconds.
pub fn parse_azure_ml_date(text: &str) -> Option<i64> {
    crate::parse::parse_azure_ml_date(text)
}

/// The Azure Arc key file path of a challenge response (`WWW-Authenticate: Basic realm=…`).
pub fn arc_challenge_path(response: &Response) -> Result<String, Error> {
    arc::challenge_path(response)
}

/// The IMDS availability probe's reading of a response.
pub fn imds_probe_outcome(response: Response) -> Result<(), Error> {
    imds::probe_outcome(Ok(response))
}
