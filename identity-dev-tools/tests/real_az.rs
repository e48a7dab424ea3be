//! The interop tier: the real Azure CLI, installed by `scripts/install-azure-cli.sh` (run by
//! `cargo xtask ci`, which passes its path in `AZID_REAL_AZ`), registered against
//! identity-emulator as a custom cloud and logged in with a service principal. Our
//! AzureCliCredential then gets tokens from it, and reports "not logged in" after `az logout`.
#![cfg(unix)]

use identity_core::env::MapEnv;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenRequest};
use identity_dev_tools::AzureCliCredential;
use identity_emulator::{Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn real_az() -> Option<PathBuf> {
    match std::env::var("AZID_REAL_AZ") {
        Ok(path) if Path::new(&path).is_file() => Some(PathBuf::from(path)),
        _ => {
            eprintln!(
                "\n!!!!!!!! SKIPPED: the real Azure CLI tier did not run: AZID_REAL_AZ is not set or not a file.\n!!!!!!!! Run it with `cargo xtask ci`, which installs the CLI (identity-dev-tools/scripts/install-azure-cli.sh).\n"
            );
            None
        }
    }
}

struct AzEnv {
    vars: Vec<(String, String)>,
    az: PathBuf,
    root: PathBuf,
}

impl AzEnv {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new(&self.az)
            .args(args)
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("az runs");
        // Only the sub-command: `az login` carries the (emulator's well-known) secret.
        eprintln!("az {}: exit {:?}", args[0], out.status.code());
        out
    }
}

impl Drop for AzEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn azure_cli_credential_with_the_real_az() {
    let Some(az) = real_az() else { return };
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let root = std::env::temp_dir().join(format!(
        "real-az-{}-{}",
        std::process::id(),
        identity_core::random::u64()
    ));
    let config = root.join("azure");
    std::fs::create_dir_all(&config).unwrap();
    // No update check, no telemetry, no instance discovery: the machine is offline.
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f");
    std::fs::write(
        config.join("versionCheck.json"),
        format!("{{\"last_checked\": \"{now}\"}}"),
    )
    .unwrap();
    let bin_dir = az.parent().unwrap().display().to_string();
    let vars: Vec<(String, String)> = vec![
        ("PATH".into(), format!("{bin_dir}:/usr/bin:/bin")),
        ("HOME".into(), root.display().to_string()),
        ("AZURE_CONFIG_DIR".into(), config.display().to_string()),
        (
            "REQUESTS_CA_BUNDLE".into(),
            emu.ca_path().display().to_string(),
        ),
        ("AZURE_CORE_INSTANCE_DISCOVERY".into(), "false".into()),
        ("AZURE_CORE_COLLECT_TELEMETRY".into(), "false".into()),
    ];
    let env = AzEnv {
        vars: vars.clone(),
        az,
        root,
    };
    let authority = emu.authority_host();
    let arm = format!("{authority}/");
    let out = env.run(&[
        "cloud",
        "register",
        "--name",
        "Emulator",
        "--skip-endpoint-discovery",
        "--endpoint-active-directory",
        &authority,
        "--endpoint-resource-manager",
        &arm,
        "--endpoint-active-directory-resource-id",
        "https://management.core.windows.net/",
        "--endpoint-active-directory-graph-resource-id",
        "https://graph.windows.net/",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        env.run(&["cloud", "set", "--name", "Emulator"])
            .status
            .success()
    );
    let out = env.run(&[
        "login",
        "--service-principal",
        "-u",
        emu.client_id(),
        "-p",
        emu.client_secret(),
        "--tenant",
        emu.tenant_id(),
        "--allow-no-subscriptions",
        "--output",
        "none",
    ]);
    assert!(
        out.status.success(),
        "az login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let credential = AzureCliCredential::builder()
        .env(Arc::new(vars.into_iter().collect::<MapEnv>()))
        .process_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let token = credential
        .get_token_blocking(&TokenRequest::new("https://management.azure.com/.default"))
        .unwrap();
    let claims = emu
        .verify_access_token(token.token().secret())
        .expect("the emulator issued it");
    assert_eq!(claims.aud(), Some("https://management.azure.com"));
    assert_eq!(claims.tid(), Some(emu.tenant_id()));
    assert!(token.expires_in(std::time::SystemTime::now()) > Duration::from_secs(600));

    // With a tenant (--tenant is passed to az).
    let token = credential
        .get_token_blocking(
            &TokenRequest::new("https://vault.azure.net/.default").with_tenant_id(emu.tenant_id()),
        )
        .unwrap();
    assert_eq!(
        emu.verify_access_token(token.token().secret())
            .unwrap()
            .aud(),
        Some("https://vault.azure.net")
    );

    // After `az logout` the login state changed: the cache does not answer, and az says why.
    assert!(env.run(&["logout"]).status.success());
    let e = credential
        .get_token_blocking(&TokenRequest::new("https://management.azure.com/.default"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert_eq!(e.message(), "Please run 'az login' to set up an account");
}
