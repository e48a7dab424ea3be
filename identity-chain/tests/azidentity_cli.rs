//! The `azidentity` binary against identity-emulator: az-compatible JSON, raw output, the
//! exit codes, and `explain`.
#![cfg(feature = "cli")]

use identity_emulator::{Emulator, EmulatorConfig};
use std::process::{Command, Output};

fn run(emu: &Emulator, extra_env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_azidentity"));
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", std::env::temp_dir())
        // The child trusts the emulator's CA (set for this process only).
        .env("SSL_CERT_FILE", emu.ca_path())
        // Managed identity goes to the emulator's IMDS, never to 169.254.169.254.
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.imds_base());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("azidentity runs")
}

fn sp_env(emu: &Emulator, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_AUTHORITY_HOST", emu.authority_host()),
        ("AZURE_TENANT_ID", emu.tenant_id().to_owned()),
        ("AZURE_CLIENT_ID", emu.client_id().to_owned()),
        ("AZURE_CLIENT_SECRET", secret.to_owned()),
    ]
}

#[test]
fn token_json_raw_and_exit_codes() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let env = sp_env(&emu, emu.client_secret());
    let out = run(
        &emu,
        &env,
        &[
            "token",
            "--scope",
            "https://management.azure.com/.default",
            "--credential",
            "environmentcredential",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = json["accessToken"].as_str().unwrap();
    assert_eq!(
        emu.verify_access_token(token).unwrap().aud(),
        Some("https://management.azure.com")
    );
    assert!(json["expires_on"].as_i64().unwrap() > 0);
    assert_eq!(json["tokenType"], "Bearer");
    assert_eq!(json["tenant"], emu.tenant_id());
    assert_eq!(
        json["expiresOn"].as_str().unwrap().len(),
        "2026-11-24 03:24:02.000000".len()
    );

    let out = run(
        &emu,
        &env,
        &[
            "token",
            "--scope",
            "https://vault.azure.net/.default",
            "--credential",
            "prod",
            "--output",
            "raw",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        emu.verify_access_token(String::from_utf8_lossy(&out.stdout).trim())
            .is_ok()
    );

    // In a GitHub Actions job.
    let mut gh: Vec<(&str, String)> = emu
        .github_actions_env()
        .into_iter()
        .map(|(k, v)| {
            (
                if k.ends_with("URL") {
                    "ACTIONS_ID_TOKEN_REQUEST_URL"
                } else {
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
                },
                v,
            )
        })
        .collect();
    gh.extend([
        ("AZURE_CLIENT_ID", emu.client_id().to_owned()),
        ("AZURE_TENANT_ID", emu.tenant_id().to_owned()),
        ("AZURE_AUTHORITY_HOST", emu.authority_host()),
    ]);
    let out = run(
        &emu,
        &gh,
        &[
            "token",
            "--scope",
            "https://vault.azure.net/.default",
            "--credential",
            "githubactionscredential",
            "-o",
            "raw",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Authentication failed: 1, and the secret is not echoed.
    let out = run(
        &emu,
        &sp_env(&emu, "wrong-secret-123"),
        &[
            "token",
            "--scope",
            "https://x/.default",
            "--credential",
            "environmentcredential",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AADSTS7000215") && !stderr.contains("wrong-secret-123"),
        "{stderr}"
    );
    // No credential available: 3.
    let out = run(
        &emu,
        &[],
        &[
            "token",
            "--scope",
            "https://x/.default",
            "--credential",
            "dev",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Usage errors: 2.
    for args in [
        vec!["token"],
        vec!["token", "--scope"],
        vec!["frobnicate"],
        vec!["token", "--scope", "s", "--credential", "bogus"],
    ] {
        assert_eq!(run(&emu, &[], &args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn explain_shows_each_member() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mut env = sp_env(&emu, emu.client_secret());
    env.push(("AZURE_TOKEN_CREDENTIALS", "dev".to_owned()));
    let out = run(
        &emu,
        &env,
        &[
            "explain",
            "--scope",
            "https://management.azure.com/.default",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    for name in [
        "VisualStudioCodeCredential",
        "AzureCliCredential",
        "AzurePowerShellCredential",
        "AzureDeveloperCliCredential",
    ] {
        assert!(stdout.contains(name), "{stdout}");
    }
    assert!(stdout.contains("Azure CLI not found on path"), "{stdout}");
    let out = run(
        &emu,
        &sp_env(&emu, emu.client_secret()),
        &[
            "explain",
            "--scope",
            "https://management.azure.com/.default",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("1. EnvironmentCredential — token"),
        "{stdout}"
    );
    assert!(!stdout.contains(emu.client_secret()));
}
