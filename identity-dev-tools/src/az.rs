//! Azure CLI (PROTOCOL.md §7.1).

use crate::process::Output;
use crate::tool::sanitize;
use crate::tool::sealed::ToolImpl;
use base64::Engine as _;
use chrono::{Local, NaiveDateTime, TimeZone};
use identity_core::env::Env;
use identity_core::protocol::entra::flexible_int;
use identity_core::validate::scope_to_resource;
use identity_core::{AccessToken, Error, Result, from_unix_seconds};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const NAME: &str = "AzureCliCredential";
const TROUBLESHOOT: &str = " \nTo mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/azsdk/python/identity/azclicredential/troubleshoot.";

/// The Azure CLI (`az`).
#[derive(Debug, Default, Clone, Copy)]
pub struct AzureCli;

/// Parses `expiresOn` (`YYYY-MM-DD HH:MM:SS[.ffffff]`, local time without offset) with a
/// resolver from local to UTC; `None` when unparsable or nonexistent in local time.
pub(crate) fn parse_local_expires_on(
    value: &str,
    to_utc: impl Fn(&NaiveDateTime) -> Option<i64>,
) -> Option<i64> {
    let naive = NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    to_utc(&naive)
}

fn local_to_utc(naive: &NaiveDateTime) -> Option<i64> {
    // An ambiguous time (the hour repeated when DST ends) takes the earlier instant: the token
    // is then considered expired an hour early at worst, never late.
    Local
        .from_local_datetime(naive)
        .earliest()
        .map(|t| t.timestamp())
}

/// Reads `az account get-access-token --output json`: `expires_on` (epoch seconds, CLI ≥ 2.54)
/// is preferred; `expiresOn` is local time.
pub(crate) fn parse_token(
    stdout: &str,
    to_utc: impl Fn(&NaiveDateTime) -> Option<i64>,
) -> Option<AccessToken> {
    let value: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let token = value
        .get("accessToken")?
        .as_str()
        .filter(|t| !t.is_empty())?;
    let expires = match value.get("expires_on").and_then(flexible_int) {
        Some(e) => e,
        None => parse_local_expires_on(value.get("expiresOn")?.as_str()?, to_utc)?,
    };
    let token_type = value
        .get("tokenType")
        .and_then(|t| t.as_str())
        .unwrap_or("Bearer");
    Some(AccessToken::new(token, from_unix_seconds(expires)).with_token_type(token_type))
}

impl ToolImpl for AzureCli {
    const NAME: &'static str = NAME;
    const PROGRAM: &'static str = if cfg!(windows) { "az.cmd" } else { "az" };
    const SUPPORTS_SUBSCRIPTION: bool = true;

    fn args(
        &self,
        scopes: &[String],
        tenant: &str,
        subscription: Option<&str>,
        _claims: Option<&str>,
    ) -> Result<Vec<String>> {
        let resource = scope_to_resource(scopes).map_err(|e| e.with_credential(NAME))?;
        let mut args: Vec<String> = [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
        ]
        .map(str::to_owned)
        .to_vec();
        args.push(resource);
        if !tenant.is_empty() {
            args.extend(["--tenant".to_owned(), tenant.to_owned()]);
        }
        if let Some(subscription) = subscription {
            args.extend(["--subscription".to_owned(), subscription.to_owned()]);
        }
        Ok(args)
    }

    fn extra_env(&self) -> Vec<(String, String)> {
        vec![("AZURE_CORE_NO_COLOR".to_owned(), "true".to_owned())]
    }

    fn claims_error(&self, claims: &str, tenant: &str, scopes: &[String]) -> Option<Error> {
        let mut command = format!(
            "az login --claims-challenge {}",
            base64::engine::general_purpose::STANDARD.encode(claims.as_bytes())
        );
        if !tenant.is_empty() {
            command.push_str(&format!(" --tenant {tenant}"));
        }
        if let Some(scope) = scopes.first() {
            command.push_str(&format!(" --scope {scope}"));
        }
        Some(Error::unavailable(
            NAME,
            format!(
                "This credential doesn't support claims challenges. To authenticate with the required claims, please run the following command (requires Azure CLI version 2.76.0 or later): {command}"
            ),
        ))
    }

    fn parse(&self, output: &Output, _now: SystemTime) -> Result<AccessToken> {
        if output.success() {
            return parse_token(&output.stdout, local_to_utc).ok_or_else(|| {
                Error::authentication(
                    NAME,
                    format!(
                        "Unexpected output from Azure CLI: '{}'.{TROUBLESHOOT}",
                        sanitize(&output.stdout, "accessToken")
                    ),
                )
            });
        }
        let stderr = output.stderr.trim();
        if output.code == Some(127) || stderr.starts_with("'az' is not recognized") {
            return Err(self.not_found());
        }
        if (stderr.contains("az login") || stderr.contains("az account set"))
            && !stderr.contains("AADSTS")
        {
            return Err(Error::unavailable(
                NAME,
                "Please run 'az login' to set up an account",
            ));
        }
        let message = if stderr.is_empty() {
            "Failed to invoke Azure CLI".to_owned()
        } else {
            sanitize(stderr, "accessToken")
        };
        Err(Error::authentication(NAME, message))
    }

    fn not_found(&self) -> Error {
        Error::unavailable(
            NAME,
            "Azure CLI not found on path. Install it (https://aka.ms/azure-cli) and run 'az login', or use another credential.",
        )
    }

    fn timed_out(&self, after: Duration) -> Error {
        Error::unavailable(
            NAME,
            format!(
                "Failed to invoke the Azure CLI: it did not finish within {} s and was stopped. It can be slow to start; raise the credential's process_timeout if this machine needs more time.",
                after.as_secs_f64()
            ),
        )
    }

    fn launch_failed(&self, program: &std::path::Path, error: &std::io::Error) -> Error {
        Error::unavailable(
            NAME,
            format!("Failed to execute '{}': {error}", program.display()),
        )
    }

    fn login_state_files(&self, env: &dyn Env) -> Vec<PathBuf> {
        let dir = env
            .non_empty("AZURE_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                env.non_empty("HOME")
                    .map(|h| PathBuf::from(h).join(".azure"))
            });
        let Some(dir) = dir else { return Vec::new() };
        [
            "azureProfile.json",
            "msal_token_cache.json",
            "msal_token_cache.bin",
            "service_principal_entries.json",
            "service_principal_entries.bin",
            "clouds.config",
        ]
        .iter()
        .map(|f| dir.join(f))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;

    const FIXTURE_RESOURCE: &str =
        include_str!("../testdata/az-2.91/get-access-token--resource.json");
    const FIXTURE_SCOPE: &str = include_str!("../testdata/az-2.91/get-access-token--scope.json");
    const NOT_LOGGED_IN: &str = include_str!("../testdata/az-2.91/not-logged-in.stderr");

    fn out(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            truncated: false,
        }
    }

    #[test]
    fn argv() {
        let scopes = ["https://management.azure.com/.default".to_owned()];
        assert_eq!(
            AzureCli.args(&scopes, "", None, None).unwrap(),
            [
                "account",
                "get-access-token",
                "--output",
                "json",
                "--resource",
                "https://management.azure.com"
            ]
        );
        assert_eq!(
            AzureCli.args(&scopes, "t1", Some("My Sub"), None).unwrap()[6..],
            ["--tenant", "t1", "--subscription", "My Sub"]
        );
        assert!(
            AzureCli
                .args(&["a".into(), "b".into()], "", None, None)
                .is_err()
        );
    }

    #[test]
    fn real_cli_output_prefers_expires_on() {
        for fixture in [FIXTURE_RESOURCE, FIXTURE_SCOPE] {
            let t = AzureCli
                .parse(&out(0, fixture, ""), SystemTime::now())
                .unwrap();
            assert_eq!(t.expires_on_unix(), 1_795_393_680);
            assert!(t.token().secret().starts_with("eyJ0eXAi"));
            assert_eq!(t.token_type(), "Bearer");
        }
    }

    #[test]
    fn expires_on_local_time_fallback() {
        let stdout =
            r#"{"accessToken":"t","expiresOn":"2026-11-23 00:28:00.000000","tokenType":"Bearer"}"#;
        // UTC-8 (e.g. Los Angeles in winter): local midnight is 08:00 UTC.
        let t = parse_token(stdout, |n| Some(n.and_utc().timestamp() + 8 * 3600)).unwrap();
        assert_eq!(t.expires_on_unix(), 1_795_393_680 + 8 * 3600);
        // Without fractional seconds too.
        assert!(
            parse_local_expires_on("2026-11-23 00:28:00", |n| Some(n.and_utc().timestamp()))
                .is_some()
        );
        assert!(parse_local_expires_on("23/11/2026", |n| Some(n.and_utc().timestamp())).is_none());
        // The real resolver agrees with chrono's local zone.
        let naive =
            NaiveDateTime::parse_from_str("2026-11-23 00:28:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            local_to_utc(&naive),
            Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.timestamp())
        );
    }

    #[test]
    fn classification() {
        let e = AzureCli
            .parse(&out(1, "", NOT_LOGGED_IN), SystemTime::now())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.message(), "Please run 'az login' to set up an account");
        let e = AzureCli
            .parse(&out(127, "", "sh: az: not found"), SystemTime::now())
            .unwrap_err();
        assert!(e.message().starts_with("Azure CLI not found on path"));
        let aadsts = "ERROR: AADSTS7000215: Invalid client secret provided. Run az login again.";
        let e = AzureCli
            .parse(&out(1, "", aadsts), SystemTime::now())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.message(), aadsts);
        let e = AzureCli
            .parse(&out(1, "", ""), SystemTime::now())
            .unwrap_err();
        assert_eq!(e.message(), "Failed to invoke Azure CLI");
        let e = AzureCli
            .parse(
                &out(0, r#"{"accessToken": "s3cr3t", "nope": 1}"#, ""),
                SystemTime::now(),
            )
            .unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(
            e.message().starts_with(
                "Unexpected output from Azure CLI: '{****, \"nope\": 1}'. \nTo mitigate"
            )
        );
    }

    #[test]
    fn claims_message() {
        let e = AzureCli
            .claims_error("{\"a\":1}", "t", &["https://x/.default".into()])
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(
            e.message().ends_with(
                "az login --claims-challenge eyJhIjoxfQ== --tenant t --scope https://x/.default"
            ),
            "{}",
            e.message()
        );
    }
}
