//! Thin wrappers over the crate's private output parsers, for the `fuzz/` crate and property
//! tests. Not a public API: hidden from the docs, no stability promise, no behaviour of its own.

use crate::process::Output;
use crate::tool::sealed::ToolImpl;
use crate::{AzureCli, AzureDeveloperCli, AzurePowerShell};
use chrono::NaiveDateTime;
use identity_core::{AccessToken, Result};
use std::time::SystemTime;

/// The tools whose output [`classify`] reads.
pub const TOOLS: [&str; 3] = ["az", "azd", "pwsh"];

/// How the credential of `TOOLS[tool % 3]` reads a finished run: exit code, stdout, stderr.
pub fn classify(
    tool: usize,
    code: Option<i32>,
    stdout: &str,
    stderr: &str,
    now: SystemTime,
) -> Result<AccessToken> {
    let output = Output {
        code,
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
        truncated: false,
    };
    match tool % TOOLS.len() {
        0 => AzureCli.parse(&output, now),
        1 => AzureDeveloperCli.parse(&output, now),
        _ => AzurePowerShell.parse(&output, now),
    }
}

/// `az account get-access-token` JSON, with `expiresOn` read as UTC (`local: false`) or as this
/// machine's local time (`local: true`, what the credential does).
pub fn az_parse_token(stdout: &str, local: bool) -> Option<AccessToken> {
    if local {
        crate::az::parse_token(stdout, local_to_utc)
    } else {
        crate::az::parse_token(stdout, utc)
    }
}

/// az's `expiresOn` (`YYYY-MM-DD HH:MM:SS[.ffffff]`) read as UTC → Unix seconds.
pub fn az_parse_expires_on_utc(value: &str) -> Option<i64> {
    crate::az::parse_local_expires_on(value, utc)
}

/// az's `expiresOn` read as this machine's local time → Unix seconds.
pub fn az_parse_expires_on_local(value: &str) -> Option<i64> {
    crate::az::parse_local_expires_on(value, local_to_utc)
}

/// `azd auth token --output json`.
pub fn azd_parse_token(stdout: &str) -> Option<AccessToken> {
    crate::azd::parse_token(stdout)
}

/// The `azsdk%{token}%{expires_on}` line of the PowerShell script.
pub fn pwsh_parse_token(stdout: &str) -> Option<AccessToken> {
    crate::pwsh::parse_token(stdout)
}

fn utc(naive: &NaiveDateTime) -> Option<i64> {
    Some(naive.and_utc().timestamp())
}

fn local_to_utc(naive: &NaiveDateTime) -> Option<i64> {
    use chrono::TimeZone as _;
    chrono::Local
        .from_local_datetime(naive)
        .earliest()
        .map(|t| t.timestamp())
}
