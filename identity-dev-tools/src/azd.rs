//! Azure Developer CLI (PROTOCOL.md §7.2).

use crate::process::Output;
use crate::tool::sanitize;
use crate::tool::sealed::ToolImpl;
use base64::Engine as _;
use identity_core::env::Env;
use identity_core::{AccessToken, Error, Result, from_unix_seconds};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const NAME: &str = "AzureDeveloperCliCredential";
const NOT_FOUND: &str = "Azure Developer CLI could not be found. Please visit https://aka.ms/azure-dev for installation instructions and then,once installed, authenticate to your Azure account using 'azd auth login'.";
const TROUBLESHOOT: &str = " \nTo mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/azsdk/python/identity/azdevclicredential/troubleshoot.";

/// The Azure Developer CLI (`azd`).
#[derive(Debug, Default, Clone, Copy)]
pub struct AzureDeveloperCli;

/// Reads `azd auth token --output json`: `{"token": "…", "expiresOn": "…Z"}`, where `expiresOn`
/// is RFC 3339 in UTC (the Python library reads it as local time; we do not).
pub(crate) fn parse_token(stdout: &str) -> Option<AccessToken> {
    let value: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let token = value.get("token")?.as_str().filter(|t| !t.is_empty())?;
    let expires =
        chrono::DateTime::parse_from_rfc3339(value.get("expiresOn")?.as_str()?.trim()).ok()?;
    Some(AccessToken::new(
        token,
        from_unix_seconds(expires.timestamp()),
    ))
}

/// The first non-empty `error` string, else the first `data.message`, among the JSON objects
/// printed one per line.
fn error_from_json_lines(text: &str) -> Option<String> {
    let objects: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(serde_json::Value::is_object)
        .collect();
    objects
        .iter()
        .find_map(|o| {
            o.get("error")
                .and_then(|e| e.as_str())
                .filter(|e| !e.is_empty())
        })
        .or_else(|| {
            objects
                .iter()
                .find_map(|o| o.pointer("/data/message").and_then(|m| m.as_str()))
        })
        .map(str::to_owned)
}

impl ToolImpl for AzureDeveloperCli {
    const NAME: &'static str = NAME;
    const PROGRAM: &'static str = if cfg!(windows) { "azd.exe" } else { "azd" };
    const SUPPORTS_SUBSCRIPTION: bool = false;

    fn args(
        &self,
        scopes: &[String],
        tenant: &str,
        _subscription: Option<&str>,
        claims: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut args: Vec<String> = ["auth", "token", "--output", "json", "--no-prompt"]
            .map(str::to_owned)
            .to_vec();
        for scope in scopes {
            args.extend(["--scope".to_owned(), scope.clone()]);
        }
        if !tenant.is_empty() {
            args.extend(["--tenant-id".to_owned(), tenant.to_owned()]);
        }
        if let Some(claims) = claims {
            args.extend([
                "--claims".to_owned(),
                base64::engine::general_purpose::STANDARD.encode(claims.as_bytes()),
            ]);
        }
        Ok(args)
    }

    fn extra_env(&self) -> Vec<(String, String)> {
        vec![("NO_COLOR".to_owned(), "true".to_owned())]
    }

    fn claims_error(&self, _claims: &str, _tenant: &str, _scopes: &[String]) -> Option<Error> {
        // azd takes the challenge itself (`--claims`).
        None
    }

    fn parse(&self, output: &Output, _now: SystemTime) -> Result<AccessToken> {
        if output.success() {
            if let Some(token) = parse_token(&output.stdout) {
                return Ok(token);
            }
            if let Some(message) = error_from_json_lines(&output.stdout) {
                return Err(Error::authentication(NAME, message));
            }
            return Err(Error::authentication(
                NAME,
                format!(
                    "Unexpected output from Azure Developer CLI: '{}'.{TROUBLESHOOT}",
                    sanitize(&output.stdout, "token")
                ),
            ));
        }
        let stderr = output.stderr.trim();
        let combined = format!("{}\n{}", output.stdout, output.stderr);
        if output.code == Some(127) || stderr.starts_with("'azd' is not recognized") {
            return Err(self.not_found());
        }
        if combined.contains("not logged in, run `azd auth login` to login")
            && !combined.contains("AADSTS")
        {
            return Err(Error::unavailable(
                NAME,
                "Please run 'azd auth login' from a command prompt to authenticate before using this credential.",
            ));
        }
        if combined.contains("unknown flag: --claims") {
            return Err(Error::unavailable(
                NAME,
                "Claims challenges are not supported by the Azure Developer CLI version you are using. Please update to version 1.18.1 or later.",
            ));
        }
        let message = error_from_json_lines(&combined)
            .or_else(|| (!stderr.is_empty()).then(|| sanitize(stderr, "token")))
            .unwrap_or_else(|| "Failed to invoke Azure Developer CLI".to_owned());
        Err(Error::authentication(NAME, message))
    }

    fn not_found(&self) -> Error {
        Error::unavailable(NAME, NOT_FOUND)
    }

    fn timed_out(&self, after: Duration) -> Error {
        Error::unavailable(
            NAME,
            format!(
                "Failed to invoke the Azure Developer CLI: it did not finish within {} s and was stopped. Raise the credential's process_timeout if this machine needs more time.",
                after.as_secs_f64()
            ),
        )
    }

    fn launch_failed(&self, program: &std::path::Path, error: &std::io::Error) -> Error {
        Error::unavailable(
            NAME,
            format!(
                "Failed to invoke the Azure Developer CLI ('{}': {error})",
                program.display()
            ),
        )
    }

    fn login_state_files(&self, env: &dyn Env) -> Vec<PathBuf> {
        let dir = env
            .non_empty("AZD_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| env.non_empty("HOME").map(|h| PathBuf::from(h).join(".azd")));
        let Some(dir) = dir else { return Vec::new() };
        [
            "config.json",
            "auth/msal/cache.json",
            "auth/auth.json",
            "auth/msal",
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
        let scopes = [
            "https://a/.default".to_owned(),
            "https://b/.default".to_owned(),
        ];
        assert_eq!(
            AzureDeveloperCli
                .args(&scopes, "t", None, Some("{}"))
                .unwrap(),
            [
                "auth",
                "token",
                "--output",
                "json",
                "--no-prompt",
                "--scope",
                "https://a/.default",
                "--scope",
                "https://b/.default",
                "--tenant-id",
                "t",
                "--claims",
                "e30="
            ]
        );
        assert_eq!(
            AzureDeveloperCli
                .args(&scopes[..1], "", None, None)
                .unwrap()
                .len(),
            7
        );
    }

    #[test]
    fn expires_on_is_utc() {
        let t = AzureDeveloperCli
            .parse(
                &out(0, r#"{"token":"t","expiresOn":"2026-11-23T00:28:00Z"}"#, ""),
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(t.expires_on_unix(), 1_795_393_680);
        let t = parse_token(r#"{"token":"t","expiresOn":"2026-11-23T01:28:00+01:00"}"#).unwrap();
        assert_eq!(t.expires_on_unix(), 1_795_393_680);
    }

    #[test]
    fn classification() {
        let e = AzureDeveloperCli
            .parse(
                &out(1, "", "ERROR: not logged in, run `azd auth login` to login"),
                SystemTime::now(),
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().starts_with("Please run 'azd auth login'"));
        let e = AzureDeveloperCli
            .parse(
                &out(1, "", "Error: unknown flag: --claims"),
                SystemTime::now(),
            )
            .unwrap_err();
        assert!(
            e.message()
                .starts_with("Claims challenges are not supported")
        );
        let e = AzureDeveloperCli
            .parse(&out(127, "", ""), SystemTime::now())
            .unwrap_err();
        assert_eq!(e.message(), NOT_FOUND);
        let json = "{\"type\":\"consoleMessage\",\"data\":{\"message\":\"first\"}}\n{\"error\":\"AADSTS70043: expired\"}";
        let e = AzureDeveloperCli
            .parse(&out(1, json, ""), SystemTime::now())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.message(), "AADSTS70043: expired");
        let e = AzureDeveloperCli
            .parse(
                &out(1, "{\"data\":{\"message\":\"only data\"}}", ""),
                SystemTime::now(),
            )
            .unwrap_err();
        assert_eq!(e.message(), "only data");
        let e = AzureDeveloperCli
            .parse(&out(0, r#"{"token": "s3cr3t"}"#, ""), SystemTime::now())
            .unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(
            e.message()
                .starts_with("Unexpected output from Azure Developer CLI: '{****}'")
        );
        let e = AzureDeveloperCli
            .parse(&out(2, "", ""), SystemTime::now())
            .unwrap_err();
        assert_eq!(e.message(), "Failed to invoke Azure Developer CLI");
    }
}
