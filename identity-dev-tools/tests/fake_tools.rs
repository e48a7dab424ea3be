//! The credentials against small scripts on PATH that reproduce the documented outputs and
//! failures of az, azd and pwsh: argv, working directory, environment, closed stdin, the cache
//! and its login-state key, timeouts, oversized output, and no token in any log line.
#![cfg(unix)]

use identity_core::env::MapEnv;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential, TokenRequest};
use identity_dev_tools::{
    AzureCliCredential, AzureDeveloperCliCredential, AzurePowerShellCredential,
};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const AZ_OK: &str = include_str!("../testdata/az-2.91/get-access-token--resource.json");
const AZ_NOT_LOGGED_IN: &str = include_str!("../testdata/az-2.91/not-logged-in.stderr");
const MGMT: &str = "https://management.azure.com/.default";

/// A temporary home with a `bin` directory of fake tools and an Azure config directory.
struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!(
            "dev-tools-{}-{}",
            std::process::id(),
            identity_core::random::u64()
        ));
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("azure")).unwrap();
        std::fs::write(root.join("azure/azureProfile.json"), "{}").unwrap();
        Self { root }
    }

    /// Writes `bin/{name}`: it appends its argv, cwd, selected env and stdin state to
    /// `{name}.log`, then runs `body`.
    fn tool(&self, name: &str, body: &str) {
        let log = self.root.join(format!("{name}.log"));
        let script = format!(
            "#!/bin/sh\n{{ echo \"--- run\"; for a in \"$@\"; do echo \"arg:$a\"; done; echo \"cwd:$(pwd -P)\"; echo \"nocolor:$AZURE_CORE_NO_COLOR$NO_COLOR\"; echo \"config:$AZURE_CONFIG_DIR\"; if read -r line; then echo \"stdin:open\"; else echo \"stdin:closed\"; fi; }} >> '{}'\n{body}\n",
            log.display()
        );
        let path = self.root.join("bin").join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.root.join(format!("{name}.log"))).unwrap_or_default()
    }

    fn runs(&self, name: &str) -> usize {
        self.log(name).matches("--- run").count()
    }

    fn env(&self) -> Arc<MapEnv> {
        Arc::new(
            MapEnv::new()
                .with(
                    "PATH",
                    format!("{}:/usr/bin:/bin", self.root.join("bin").display()),
                )
                .with("HOME", self.root.display().to_string())
                .with(
                    "AZURE_CONFIG_DIR",
                    self.root.join("azure").display().to_string(),
                ),
        )
    }

    fn az(&self) -> AzureCliCredential {
        AzureCliCredential::builder()
            .env(self.env())
            .build()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The real az fixture with its expiry moved an hour into the future (the captured token has
/// long expired, and an expired token is never cached).
fn az_ok_fresh() -> (String, i64) {
    let expires = identity_core::unix_seconds(std::time::SystemTime::now()) + 3600;
    (AZ_OK.replace("1795393680", &expires.to_string()), expires)
}

fn cat(path: &Path) -> String {
    format!("cat '{}'", path.display())
}

fn fixture(sandbox: &Sandbox, name: &str, content: &str) -> PathBuf {
    let p = sandbox.root.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn az_success_argv_environment_and_cache() {
    let s = Sandbox::new();
    let (json, expires) = az_ok_fresh();
    let out = fixture(&s, "az.json", &json);
    s.tool("az", &cat(&out));
    let credential = s.az();
    let request = TokenRequest::new(MGMT);
    let token = credential.get_token_blocking(&request).unwrap();
    assert_eq!(token.expires_on_unix(), expires);
    let log = s.log("az");
    let args: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("arg:")).collect();
    assert_eq!(
        args,
        [
            "account",
            "get-access-token",
            "--output",
            "json",
            "--resource",
            "https://management.azure.com"
        ]
    );
    let bin = std::fs::canonicalize("/bin").unwrap();
    assert!(log.contains(&format!("cwd:{}", bin.display())), "{log}");
    assert!(log.contains("nocolor:true"));
    assert!(log.contains("stdin:closed"));
    // Same scope again: from the cache, `az` does not run.
    credential.get_token_blocking(&request).unwrap();
    assert_eq!(s.runs("az"), 1);
    // A login as someone else changes the profile: the cache entry no longer applies.
    std::fs::write(
        s.root.join("azure/azureProfile.json"),
        "{\"subscriptions\": []}",
    )
    .unwrap();
    credential.get_token_blocking(&request).unwrap();
    assert_eq!(s.runs("az"), 2);
    // Caching can be turned off.
    let uncached = AzureCliCredential::builder()
        .env(s.env())
        .cache_tokens(false)
        .build()
        .unwrap();
    uncached.get_token_blocking(&request).unwrap();
    uncached.get_token_blocking(&request).unwrap();
    assert_eq!(s.runs("az"), 4);
}

#[test]
fn az_async_under_tokio_and_async_std() {
    let s = Sandbox::new();
    let out = fixture(&s, "az.json", AZ_OK);
    s.tool("az", &cat(&out));
    let credential = s.az();
    let request = TokenRequest::new(MGMT);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(credential.get_token(&request)).unwrap();
    assert_eq!(t.expires_on_unix(), 1_795_393_680);
    let credential2 = s.az();
    let t = async_std::task::block_on(
        credential2.get_token(&TokenRequest::new("https://vault.azure.net/.default")),
    )
    .unwrap();
    assert_eq!(t.expires_on_unix(), 1_795_393_680);
    assert_eq!(s.runs("az"), 2);
}

#[test]
fn az_tenant_and_subscription() {
    let s = Sandbox::new();
    let out = fixture(&s, "az.json", AZ_OK);
    s.tool("az", &cat(&out));
    let credential = AzureCliCredential::builder()
        .env(s.env())
        .tenant_id("home-tenant")
        .subscription("My Subscription")
        .additionally_allowed_tenants(["other-tenant"])
        .build()
        .unwrap();
    credential
        .get_token_blocking(&TokenRequest::new(MGMT))
        .unwrap();
    credential
        .get_token_blocking(&TokenRequest::new(MGMT).with_tenant_id("other-tenant"))
        .unwrap();
    let log = s.log("az");
    assert!(
        log.contains("arg:--tenant\narg:home-tenant\narg:--subscription\narg:My Subscription"),
        "{log}"
    );
    assert!(log.contains("arg:--tenant\narg:other-tenant"), "{log}");
    // A tenant that is not allowed fails before anything runs.
    let e = credential
        .get_token_blocking(&TokenRequest::new(MGMT).with_tenant_id("evil"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(s.runs("az"), 2);
}

#[test]
fn invalid_inputs_never_start_a_process() {
    let s = Sandbox::new();
    s.tool("az", "echo should-not-run");
    let credential = s.az();
    for bad in [
        TokenRequest::new("https://x/.default; rm -rf /"),
        TokenRequest::new("--tenant"),
        TokenRequest::new(MGMT).with_tenant_id("t;x"),
        TokenRequest::new(MGMT).with_tenant_id("-x"),
        TokenRequest::from(["a", "b"]),
    ] {
        assert!(credential.get_token_blocking(&bad).is_err(), "{bad:?}");
    }
    assert!(
        AzureCliCredential::builder()
            .subscription("x'; rm")
            .build()
            .is_err()
    );
    assert!(
        AzureCliCredential::builder()
            .tenant_id("bad tenant")
            .build()
            .is_err()
    );
    assert!(
        AzureDeveloperCliCredential::builder()
            .subscription("s")
            .build()
            .is_err()
    );
    assert_eq!(s.runs("az"), 0);
}

#[test]
fn az_failures() {
    let s = Sandbox::new();
    let stderr = fixture(&s, "stderr.txt", AZ_NOT_LOGGED_IN);
    s.tool("az", &format!("cat '{}' >&2; exit 1", stderr.display()));
    let e = s.az().get_token_blocking(&MGMT.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(e.message(), "Please run 'az login' to set up an account");

    s.tool(
        "az",
        "echo 'ERROR: AADSTS7000215: Invalid client secret provided.' >&2; exit 1",
    );
    let e = s.az().get_token_blocking(&MGMT.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("AADSTS7000215"));
    // Inside DefaultAzureCredential the same failure lets the chain move on.
    let in_chain = AzureCliCredential::builder()
        .env(s.env())
        .within_default_chain(true)
        .build()
        .unwrap();
    assert_eq!(
        in_chain
            .get_token_blocking(&MGMT.into())
            .unwrap_err()
            .kind(),
        ErrorKind::Unavailable
    );

    let empty = Sandbox::new();
    let e = empty.az().get_token_blocking(&MGMT.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().starts_with("Azure CLI not found on path"));
}

#[test]
fn a_tool_that_never_exits_is_killed() {
    let s = Sandbox::new();
    s.tool("az", "sleep 60");
    let credential = AzureCliCredential::builder()
        .env(s.env())
        .process_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = credential.get_token_blocking(&MGMT.into()).unwrap_err();
    eprintln!("timed out after {:?}", started.elapsed());
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.message().contains("did not finish within 0.4 s"),
        "{}",
        e.message()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(credential.get_token(&MGMT.into())).unwrap_err();
    assert!(e.message().contains("did not finish within 0.4 s"));
}

#[test]
fn a_tool_that_prints_10_mb_is_cut_off() {
    let s = Sandbox::new();
    s.tool("az", "head -c 10000000 /dev/zero | tr '\\0' x");
    let e = s.az().get_token_blocking(&MGMT.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("more than 1 MiB"), "{}", e.message());
    assert!(e.to_string().len() < 4096);
}

#[test]
fn azd_success_and_failures() {
    let s = Sandbox::new();
    s.tool(
        "azd",
        r#"echo '{"token":"azd-token","expiresOn":"2026-11-23T00:28:00Z"}'"#,
    );
    let credential = AzureDeveloperCliCredential::builder()
        .env(s.env())
        .build()
        .unwrap();
    let request = TokenRequest::with_scopes(["https://a/.default", "https://b/.default"])
        .with_tenant_id("t1");
    let t = credential.get_token_blocking(&request).unwrap();
    assert_eq!(t.expires_on_unix(), 1_795_393_680);
    let log = s.log("azd");
    let args: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("arg:")).collect();
    assert_eq!(
        args,
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
            "t1"
        ]
    );
    assert!(log.contains("nocolor:true"));
    // A claims challenge goes to azd as --claims (base64).
    credential
        .get_token_blocking(&TokenRequest::new("https://a/.default").with_claims("{}"))
        .unwrap();
    assert!(s.log("azd").contains("arg:--claims\narg:e30="));

    s.tool(
        "azd",
        "echo 'ERROR: not logged in, run `azd auth login` to login' >&2; exit 1",
    );
    let e = AzureDeveloperCliCredential::builder()
        .env(s.env())
        .build()
        .unwrap()
        .get_token_blocking(&"https://a/.default".into())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().starts_with("Please run 'azd auth login'"));
}

#[test]
fn powershell_success_and_failures() {
    let s = Sandbox::new();
    s.tool(
        "pwsh",
        "printf 'WARNING: x\\n\\nazsdk%%pwsh-token%%1795393680\\n\\n'",
    );
    let credential = AzurePowerShellCredential::builder()
        .env(s.env())
        .build()
        .unwrap();
    let t = credential.get_token_blocking(&MGMT.into()).unwrap();
    assert_eq!(t.token().secret(), "pwsh-token");
    let log = s.log("pwsh");
    let args: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("arg:")).collect();
    assert_eq!(
        args[..3],
        ["-NoProfile", "-NonInteractive", "-EncodedCommand"]
    );

    s.tool("pwsh", "echo NO_AZ_ACCOUNT_MODULE");
    let e = AzurePowerShellCredential::builder()
        .env(s.env())
        .build()
        .unwrap()
        .get_token_blocking(&MGMT.into())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.message()
            .starts_with("Az.Account module >= 2.2.0 is not installed")
    );

    let e = credential
        .get_token_blocking(
            &TokenRequest::new("https://vault.azure.net/.default").with_claims("{}"),
        )
        .unwrap_err();
    assert!(
        e.message()
            .contains("Connect-AzAccount -ClaimsChallenge e30=")
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_token_in_trace_logs_or_errors() {
    const TOKEN: &str = "planted-cli-token-5e1f";
    let s = Sandbox::new();
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        s.tool(
            "az",
            &format!(r#"echo '{{"accessToken": "{TOKEN}", "expires_on": 1795393680}}'"#),
        );
        let t = s.az().get_token_blocking(&MGMT.into()).unwrap();
        tracing::debug!(token = ?t, "got");
        s.tool(
            "az",
            &format!(r#"echo '{{"accessToken": "{TOKEN}", "expires_on": "never"}}'"#),
        );
        let e = s.az().get_token_blocking(&MGMT.into()).unwrap_err();
        assert!(!e.to_string().contains(TOKEN), "{e}");
        assert!(!format!("{e:?}").contains(TOKEN));
        s.tool("azd", &format!(r#"echo '{{"token": "{TOKEN}"}}'"#));
        let e = AzureDeveloperCliCredential::builder()
            .env(s.env())
            .build()
            .unwrap()
            .get_token_blocking(&MGMT.into())
            .unwrap_err();
        assert!(!e.to_string().contains(TOKEN), "{e}");
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("AzureCliCredential"), "{logs}");
    assert!(!logs.contains(TOKEN), "{logs}");
}

/// Every documented outcome, through the blocking and the async form: same kind, same message.
#[test]
fn blocking_and_async_agree_on_every_documented_outcome() {
    let s = Sandbox::new();
    let not_logged_in = fixture(&s, "nli.txt", AZ_NOT_LOGGED_IN);
    let (fresh, _) = az_ok_fresh();
    let ok = fixture(&s, "ok.json", &fresh);
    let cases: Vec<(&str, String, Option<ErrorKind>, &str)> = vec![
        ("az", cat(&ok), None, ""),
        (
            "az",
            format!("cat '{}' >&2; exit 1", not_logged_in.display()),
            Some(ErrorKind::Unavailable),
            "Please run 'az login'",
        ),
        (
            "az",
            "echo 'ERROR: AADSTS50076: MFA required' >&2; exit 1".into(),
            Some(ErrorKind::Authentication),
            "ERROR: AADSTS50076",
        ),
        (
            "az",
            "exit 127".into(),
            Some(ErrorKind::Unavailable),
            "Azure CLI not found on path",
        ),
        (
            "az",
            "echo not-json".into(),
            Some(ErrorKind::Authentication),
            "Unexpected output from Azure CLI",
        ),
        (
            "az",
            "sleep 60".into(),
            Some(ErrorKind::Unavailable),
            "Failed to invoke the Azure CLI: it did not finish within 0.5 s",
        ),
        (
            "az",
            "head -c 10000000 /dev/zero | tr '\\0' x".into(),
            Some(ErrorKind::Authentication),
            "/az printed more than 1 MiB",
        ),
        (
            "azd",
            r#"echo '{"token":"t","expiresOn":"2099-01-01T00:00:00Z"}'"#.into(),
            None,
            "",
        ),
        (
            "azd",
            "echo 'not logged in, run `azd auth login` to login' >&2; exit 1".into(),
            Some(ErrorKind::Unavailable),
            "Please run 'azd auth login'",
        ),
        (
            "azd",
            "echo 'Error: unknown flag: --claims' >&2; exit 1".into(),
            Some(ErrorKind::Unavailable),
            "Claims challenges are not supported",
        ),
        (
            "azd",
            "exit 127".into(),
            Some(ErrorKind::Unavailable),
            "Azure Developer CLI could not be found",
        ),
        (
            "azd",
            "sleep 60".into(),
            Some(ErrorKind::Unavailable),
            "Failed to invoke the Azure Developer CLI: it did not finish",
        ),
        ("pwsh", "printf 'azsdk%%t%%4070908800\\n'".into(), None, ""),
        (
            "pwsh",
            "echo NO_AZ_ACCOUNT_MODULE".into(),
            Some(ErrorKind::Unavailable),
            "Az.Account module",
        ),
        (
            "pwsh",
            "echo 'Run Connect-AzAccount to login.' >&2; exit 1".into(),
            Some(ErrorKind::Unavailable),
            "Please run \"Connect-AzAccount\"",
        ),
        (
            "pwsh",
            "echo 'AuthorizationManager check failed.' >&2; exit 1".into(),
            Some(ErrorKind::Unavailable),
            "Execution policy prevented",
        ),
        (
            "pwsh",
            "exit 3".into(),
            Some(ErrorKind::Unavailable),
            "Failed to invoke PowerShell. Enable debug logging",
        ),
        (
            "pwsh",
            "exit 127".into(),
            Some(ErrorKind::Unavailable),
            "PowerShell is not installed",
        ),
        (
            "pwsh",
            "echo nothing".into(),
            Some(ErrorKind::Authentication),
            "Unexpected output from Get-AzAccessToken",
        ),
        (
            "pwsh",
            "sleep 60".into(),
            Some(ErrorKind::Unavailable),
            "Failed to invoke PowerShell. To mitigate",
        ),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (tool, body, expected, prefix) in cases {
        s.tool(tool, &body);
        let timeout = Duration::from_millis(500);
        let (blocking, asynchronous) = match tool {
            "az" => {
                let c = AzureCliCredential::builder()
                    .env(s.env())
                    .process_timeout(timeout)
                    .cache_tokens(false)
                    .build()
                    .unwrap();
                (
                    c.get_token_blocking(&MGMT.into()),
                    rt.block_on(c.get_token(&MGMT.into())),
                )
            }
            "azd" => {
                let c = AzureDeveloperCliCredential::builder()
                    .env(s.env())
                    .process_timeout(timeout)
                    .cache_tokens(false)
                    .build()
                    .unwrap();
                (
                    c.get_token_blocking(&MGMT.into()),
                    async_std::task::block_on(c.get_token(&MGMT.into())),
                )
            }
            _ => {
                let c = AzurePowerShellCredential::builder()
                    .env(s.env())
                    .process_timeout(timeout)
                    .cache_tokens(false)
                    .build()
                    .unwrap();
                (
                    c.get_token_blocking(&MGMT.into()),
                    futures_executor::block_on(c.get_token(&MGMT.into())),
                )
            }
        };
        for (form, result) in [("blocking", &blocking), ("async", &asynchronous)] {
            match (expected, result) {
                (None, Ok(_)) => {}
                (Some(kind), Err(e)) => {
                    assert_eq!(e.kind(), kind, "{tool} {form} `{body}`: {e}");
                    assert!(
                        e.message().starts_with(prefix) || e.message().contains(prefix),
                        "{tool} {form} `{body}`: {}",
                        e.message()
                    );
                }
                (_, other) => panic!("{tool} {form} `{body}`: unexpected {other:?}"),
            }
        }
    }
}
