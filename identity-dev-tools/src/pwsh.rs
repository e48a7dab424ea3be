//! Azure PowerShell (PROTOCOL.md §7.3). `pwsh` is executed directly with `-EncodedCommand`
//! (argv, no shell).

use crate::process::Output;
use crate::tool::sealed::ToolImpl;
use base64::Engine as _;
use identity_core::env::Env;
use identity_core::validate::scope_to_resource;
use identity_core::{AccessToken, Error, Result, from_unix_seconds};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const NAME: &str = "AzurePowerShellCredential";
const INVOKE_FAILED: &str = "Failed to invoke PowerShell. To mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/azsdk/python/identity/powershellcredential/troubleshoot.";
const NO_MODULE: &str = "NO_AZ_ACCOUNT_MODULE";

/// Azure PowerShell (`pwsh` with the `Az.Accounts` module).
#[derive(Debug, Default, Clone, Copy)]
pub struct AzurePowerShell;

/// The script: import Az.Accounts ≥ 2.2.0 (else print the sentinel), call Get-AzAccessToken,
/// unwrap a SecureString, print `azsdk%{token}%{expires_on}` on a line of its own. `resource`
/// and `tenant` are validated (no quotes can occur).
pub(crate) fn script(resource: &str, tenant: &str) -> String {
    format!(
        r#"$ErrorActionPreference = 'Stop'
[version]$minimumVersion = '2.2.0'
$m = Import-Module Az.Accounts -MinimumVersion $minimumVersion -PassThru -ErrorAction SilentlyContinue
if (! $m) {{
    Write-Output {NO_MODULE}
    exit
}}
$params = @{{ 'ResourceUrl' = '{resource}'; 'WarningAction' = 'Ignore' }}
$tenantId = '{tenant}'
if ($tenantId.Length -gt 0) {{
    $params['TenantId'] = $tenantId
}}
if ($m.Version -ge [version]'2.17.0' -and $m.Version -lt [version]'5.0.0') {{
    $params['AsSecureString'] = $true
}}
$token = Get-AzAccessToken @params
$tokenValue = $token.Token
if ($tokenValue -is [System.Security.SecureString]) {{
    if ($PSVersionTable.PSVersion.Major -lt 7) {{
        $ssPtr = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($tokenValue)
        try {{
            $tokenValue = [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($ssPtr)
        }} finally {{
            [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($ssPtr)
        }}
    }} else {{
        $tokenValue = $tokenValue | ConvertFrom-SecureString -AsPlainText
    }}
}}
Write-Output "`nazsdk%$($tokenValue)%$($token.ExpiresOn.ToUnixTimeSeconds())`n"
"#
    )
}

/// UTF-16LE then standard base64, as `-EncodedCommand` wants.
pub(crate) fn encode_command(script: &str) -> String {
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The first whitespace-separated item starting with `azsdk%`, split into token and expiry.
pub(crate) fn parse_token(stdout: &str) -> Option<AccessToken> {
    let item = stdout
        .split_whitespace()
        .find(|w| w.starts_with("azsdk%"))?;
    let mut parts = item.splitn(3, '%').skip(1);
    let token = parts.next().filter(|t| !t.is_empty())?;
    let expires: i64 = parts.next()?.trim().parse().ok()?;
    Some(AccessToken::new(token, from_unix_seconds(expires)))
}

/// `stdout` with the token of every `azsdk%{token}%…` masked, for quoting in an error.
fn mask_tokens(stdout: &str) -> String {
    const MARK: &str = "azsdk%";
    let mut out = String::with_capacity(stdout.len());
    let mut rest = stdout;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i + MARK.len()]);
        rest = &rest[i + MARK.len()..];
        let end = rest
            .find(|c: char| c == '%' || c.is_whitespace())
            .unwrap_or(rest.len());
        out.push_str("****");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

impl ToolImpl for AzurePowerShell {
    const NAME: &'static str = NAME;
    const PROGRAM: &'static str = if cfg!(windows) { "pwsh.exe" } else { "pwsh" };
    const SUPPORTS_SUBSCRIPTION: bool = false;

    fn args(
        &self,
        scopes: &[String],
        tenant: &str,
        _subscription: Option<&str>,
        _claims: Option<&str>,
    ) -> Result<Vec<String>> {
        let resource = scope_to_resource(scopes).map_err(|e| e.with_credential(NAME))?;
        Ok(vec![
            "-NoProfile".to_owned(),
            "-NonInteractive".to_owned(),
            "-EncodedCommand".to_owned(),
            encode_command(&script(&resource, tenant)),
        ])
    }

    fn extra_env(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    fn claims_error(&self, claims: &str, tenant: &str, _scopes: &[String]) -> Option<Error> {
        let mut command = format!(
            "Connect-AzAccount -ClaimsChallenge {}",
            base64::engine::general_purpose::STANDARD.encode(claims.as_bytes())
        );
        if !tenant.is_empty() {
            command.push_str(&format!(" -Tenant {tenant}"));
        }
        Some(Error::unavailable(
            NAME,
            format!(
                "This credential doesn't support claims challenges. To authenticate with the required claims, please run the following command (requires Az.Accounts module version 5.2.0 or later): {command}"
            ),
        ))
    }

    fn parse(&self, output: &Output, _now: SystemTime) -> Result<AccessToken> {
        let stderr = &output.stderr;
        if output.success() && output.stdout.contains(NO_MODULE) {
            return Err(Error::unavailable(
                NAME,
                "Az.Account module >= 2.2.0 is not installed. Install it with `Install-Module Az.Accounts` in PowerShell.",
            ));
        }
        if output.code == Some(127) || stderr.contains("' is not recognized") {
            return Err(self.not_found());
        }
        if stderr.contains("Run Connect-AzAccount to login") {
            return Err(Error::unavailable(
                NAME,
                "Please run \"Connect-AzAccount\" to set up account",
            ));
        }
        if stderr.contains("AuthorizationManager check failed") {
            return Err(Error::unavailable(
                NAME,
                "Execution policy prevented invoking Azure PowerShell",
            ));
        }
        if !output.success() {
            return Err(Error::unavailable(
                NAME,
                "Failed to invoke PowerShell. Enable debug logging for additional information.",
            ));
        }
        parse_token(&output.stdout).ok_or_else(|| {
            // The token of an `azsdk%…` line that did not parse is masked (it used to be quoted).
            let shown: String = mask_tokens(&output.stdout).chars().take(2000).collect();
            Error::authentication(
                NAME,
                format!("Unexpected output from Get-AzAccessToken: \"{shown}\""),
            )
        })
    }

    fn not_found(&self) -> Error {
        Error::unavailable(
            NAME,
            "PowerShell is not installed. Install PowerShell 7 (pwsh) and the Az.Accounts module, then run Connect-AzAccount.",
        )
    }

    fn timed_out(&self, after: Duration) -> Error {
        Error::unavailable(
            NAME,
            format!(
                "{INVOKE_FAILED} (PowerShell did not finish within {} s and was stopped; raise the credential's process_timeout if it needs more time.)",
                after.as_secs_f64()
            ),
        )
    }

    fn launch_failed(&self, _program: &std::path::Path, error: &std::io::Error) -> Error {
        Error::unavailable(NAME, format!("{INVOKE_FAILED} ({error})"))
    }

    fn login_state_files(&self, env: &dyn Env) -> Vec<PathBuf> {
        let Some(home) = env.non_empty("HOME").map(PathBuf::from) else {
            return Vec::new();
        };
        vec![
            home.join(".Azure/AzureRmContext.json"),
            home.join(".Azure/AzureRmContextSettings.json"),
            home.join(".IdentityService/msal.cache"),
        ]
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

    fn decode(b64: &str) -> String {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).unwrap()
    }

    #[test]
    fn argv_and_script() {
        let args = AzurePowerShell
            .args(
                &["https://vault.azure.net/.default".into()],
                "t1",
                None,
                None,
            )
            .unwrap();
        assert_eq!(
            args[..3],
            ["-NoProfile", "-NonInteractive", "-EncodedCommand"]
        );
        let script = decode(&args[3]);
        assert!(script.contains("'ResourceUrl' = 'https://vault.azure.net'"));
        assert!(script.contains("$tenantId = 't1'"));
        assert!(script.contains("-MinimumVersion $minimumVersion"));
        assert!(script.contains("azsdk%"));
    }

    #[test]
    fn output_parsing() {
        let t = AzurePowerShell
            .parse(
                &out(0, "WARNING: x\n\nazsdk%tok.en%1795393680\n\n", ""),
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(t.token().secret(), "tok.en");
        assert_eq!(t.expires_on_unix(), 1_795_393_680);
        let e = AzurePowerShell
            .parse(&out(0, "nothing", ""), SystemTime::now())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(
            e.message(),
            "Unexpected output from Get-AzAccessToken: \"nothing\""
        );
    }

    #[test]
    fn classification() {
        let cases = [
            (
                out(0, "NO_AZ_ACCOUNT_MODULE\n", ""),
                "Az.Account module >= 2.2.0 is not installed",
            ),
            (out(127, "", ""), "PowerShell is not installed"),
            (
                out(1, "", "Run Connect-AzAccount to login."),
                "Please run \"Connect-AzAccount\" to set up account",
            ),
            (
                out(1, "", "AuthorizationManager check failed."),
                "Execution policy prevented invoking Azure PowerShell",
            ),
            (
                out(1, "", "boom"),
                "Failed to invoke PowerShell. Enable debug logging for additional information.",
            ),
        ];
        for (output, prefix) in cases {
            let e = AzurePowerShell
                .parse(&output, SystemTime::now())
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unavailable, "{prefix}");
            assert!(e.message().starts_with(prefix), "{}", e.message());
        }
    }

    #[test]
    fn claims_message() {
        let e = AzurePowerShell.claims_error("{}", "t", &[]).unwrap();
        assert!(
            e.message()
                .ends_with("Connect-AzAccount -ClaimsChallenge e30= -Tenant t")
        );
    }
}
