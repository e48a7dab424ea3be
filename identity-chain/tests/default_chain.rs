//! DefaultAzureCredential against identity-emulator and fake tools on PATH: which member
//! answers as the environment changes, the remembered member, the aggregated error with
//! nothing available (and an IMDS that never answers), and the probe bound.
#![cfg(all(
    unix,
    feature = "env",
    feature = "workload-identity",
    feature = "github-actions",
    feature = "managed-identity",
    feature = "dev-tools",
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

use identity_chain::{DefaultAzureCredential, DefaultAzureCredentialOptions, DefaultMember};
use identity_core::env::MapEnv;
use identity_core::transport::TransportOptions;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential};
use identity_emulator::{Emulator, EmulatorConfig, ManagedIdentitySource};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const MGMT: &str = "https://management.azure.com/.default";

/// A temp dir with a `bin` for fake tools; removed on drop.
struct Home(PathBuf);

impl Home {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!(
            "dac-{}-{}",
            std::process::id(),
            identity_core::random::u64()
        ));
        std::fs::create_dir_all(p.join("bin")).unwrap();
        Self(p)
    }
    fn fake_az(&self, expires_on: i64) {
        let path = self.0.join("bin/az");
        std::fs::write(&path, format!("#!/bin/sh\necho \"$@\" >> '{}/az.log'\necho '{{\"accessToken\":\"az-token\",\"expires_on\":{expires_on},\"tokenType\":\"Bearer\"}}'\n", self.0.display())).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    fn az_runs(&self) -> usize {
        std::fs::read_to_string(self.0.join("az.log"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
    fn base_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "PATH".into(),
                format!("{}:/usr/bin:/bin", self.0.join("bin").display()),
            ),
            ("HOME".into(), self.0.display().to_string()),
        ]
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback address that accepts connections and never answers.
fn silent_listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

fn dac(emu: &Emulator, vars: Vec<(String, String)>, imds: &str) -> DefaultAzureCredential {
    let mut options = DefaultAzureCredentialOptions::default()
        .env(Arc::new(vars.into_iter().collect::<MapEnv>()))
        .transport_options(TransportOptions::default().with_root_certificate_pem(emu.ca_pem()));
    options.imds_endpoint = Some(imds.to_owned());
    DefaultAzureCredential::with_options(options).unwrap()
}

fn now() -> i64 {
    identity_core::unix_seconds(std::time::SystemTime::now())
}

#[test]
fn picks_environment_then_managed_identity_then_the_cli() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let home = Home::new();
    home.fake_az(now() + 3600);
    let (_silent, silent) = silent_listener();

    // 1. Environment variables for a service principal: EnvironmentCredential answers.
    let mut vars = home.base_env();
    vars.extend(
        emu.env_vars()
            .into_iter()
            .filter(|(k, _)| k.starts_with("AZURE_")),
    );
    let credential = dac(&emu, vars, &silent);
    let token = credential.get_token_blocking(&MGMT.into()).unwrap();
    assert_eq!(credential.selected(), Some("EnvironmentCredential"));
    assert_eq!(
        emu.verify_access_token(token.token().secret())
            .unwrap()
            .aud(),
        Some("https://management.azure.com")
    );
    // Remembered: the next call goes straight to it (the CLI never runs).
    credential
        .get_token_blocking(&"https://vault.azure.net/.default".into())
        .unwrap();
    assert_eq!(home.az_runs(), 0);

    // 2. No service principal; an App Service managed identity: ManagedIdentityCredential.
    let mut vars = home.base_env();
    vars.extend(emu.managed_identity_env(ManagedIdentitySource::AppService));
    let credential = dac(&emu, vars, &silent);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let token = rt.block_on(credential.get_token(&MGMT.into())).unwrap();
    assert_eq!(credential.selected(), Some("ManagedIdentityCredential"));
    assert!(emu.verify_access_token(token.token().secret()).is_ok());

    // 3. Neither, and an IMDS that never answers: the probe gives up, the CLI answers.
    let credential = dac(&emu, home.base_env(), &silent);
    let started = Instant::now();
    let token = credential.get_token_blocking(&MGMT.into()).unwrap();
    eprintln!(
        "CLI answered after {:?} (IMDS probe bound 1 s)",
        started.elapsed()
    );
    assert_eq!(token.token().secret(), "az-token");
    assert_eq!(credential.selected(), Some("AzureCliCredential"));
    assert_eq!(home.az_runs(), 1);
}

#[test]
fn nothing_available_lists_every_member_and_fails_in_about_the_probe_bound() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let home = Home::new();
    let (_silent, silent) = silent_listener();
    let credential = dac(&emu, home.base_env(), &silent);
    let mut expected = vec![
        "EnvironmentCredential",
        "WorkloadIdentityCredential",
        "ManagedIdentityCredential",
        "VisualStudioCodeCredential",
        "AzureCliCredential",
        "AzurePowerShellCredential",
        "AzureDeveloperCliCredential",
    ];
    if cfg!(feature = "shared-cache") {
        expected.insert(3, "SharedTokenCacheCredential");
    }
    assert_eq!(credential.members(), expected);
    // The reqwest transport needs a tokio runtime for the async form.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for form in ["blocking", "async"] {
        let started = Instant::now();
        let e = match form {
            "blocking" => credential.get_token_blocking(&MGMT.into()).unwrap_err(),
            _ => rt.block_on(credential.get_token(&MGMT.into())).unwrap_err(),
        };
        eprintln!(
            "{form}: nothing available, failed after {:?}",
            started.elapsed()
        );
        assert_eq!(e.kind(), ErrorKind::Authentication);
        let m = e.message();
        assert!(m.starts_with("DefaultAzureCredential failed to retrieve a token from the included credentials.\nAttempted credentials:\n\tEnvironmentCredential: "), "{m}");
        for name in credential.members() {
            assert!(
                m.contains(&format!("\t{name}: ")),
                "{name} missing from {m}"
            );
        }
        assert!(m.contains("no response from the IMDS endpoint"), "{m}");
        assert!(m.contains("Azure CLI not found on path"), "{m}");
        assert!(m.ends_with(
            "https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot."
        ));
        assert_eq!(credential.selected(), None);
    }
}

#[test]
fn an_authentication_failure_stops_the_chain() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let home = Home::new();
    home.fake_az(now() + 3600);
    let (_silent, silent) = silent_listener();
    let mut vars = home.base_env();
    vars.extend([
        ("AZURE_TENANT_ID".to_owned(), emu.tenant_id().to_owned()),
        ("AZURE_CLIENT_ID".to_owned(), emu.client_id().to_owned()),
        ("AZURE_CLIENT_SECRET".to_owned(), "wrong-secret".to_owned()),
        ("AZURE_AUTHORITY_HOST".to_owned(), emu.authority_host()),
    ]);
    let credential = dac(&emu, vars, &silent);
    let e = credential.get_token_blocking(&MGMT.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("AADSTS7000215"), "{}", e.message());
    assert!(!e.message().contains("wrong-secret"));
    assert_eq!(home.az_runs(), 0, "the chain stopped before the CLI");
}

#[test]
fn token_credentials_variable_and_exclusions_shape_the_chain() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let home = Home::new();
    let build = |extra: &[(&str, &str)], options: DefaultAzureCredentialOptions| {
        let mut vars = home.base_env();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        DefaultAzureCredential::with_options(
            options.env(Arc::new(vars.into_iter().collect::<MapEnv>())),
        )
    };
    let d = DefaultAzureCredentialOptions::default;
    assert_eq!(
        build(&[("AZURE_TOKEN_CREDENTIALS", "prod")], d())
            .unwrap()
            .members(),
        [
            "EnvironmentCredential",
            "WorkloadIdentityCredential",
            "ManagedIdentityCredential"
        ]
    );
    let mut dev = vec![
        "VisualStudioCodeCredential",
        "AzureCliCredential",
        "AzurePowerShellCredential",
        "AzureDeveloperCliCredential",
    ];
    if cfg!(feature = "shared-cache") {
        dev.insert(0, "SharedTokenCacheCredential");
    }
    assert_eq!(
        build(&[("AZURE_TOKEN_CREDENTIALS", "dev")], d())
            .unwrap()
            .members(),
        dev
    );
    assert_eq!(
        build(
            &[("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")],
            d()
        )
        .unwrap()
        .members(),
        ["ManagedIdentityCredential"]
    );
    let e = build(&[("AZURE_TOKEN_CREDENTIALS", "bogus")], d()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(
        e.message()
            .starts_with("Invalid value for AZURE_TOKEN_CREDENTIALS: bogus.")
    );
    let only_cli = d()
        .exclude(DefaultMember::Environment, true)
        .exclude(DefaultMember::WorkloadIdentity, true)
        .exclude(DefaultMember::ManagedIdentity, true)
        .exclude(DefaultMember::SharedTokenCache, true)
        .exclude(DefaultMember::VisualStudioCode, true)
        .exclude(DefaultMember::AzurePowerShell, true)
        .exclude(DefaultMember::AzureDeveloperCli, true);
    assert_eq!(
        build(&[], only_cli).unwrap().members(),
        ["AzureCliCredential"]
    );
    // A selected environment set with an empty value fails construction, naming it.
    let e = build(
        &[
            ("AZURE_TENANT_ID", ""),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ],
        d(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("AZURE_TENANT_ID"), "{e}");
    drop(emu);
}

#[test]
fn in_a_github_actions_job_the_github_credential_answers() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let home = Home::new();
    let (_silent, silent) = silent_listener();
    let mut vars = home.base_env();
    vars.extend(emu.github_actions_env());
    vars.extend([
        ("AZURE_CLIENT_ID".to_owned(), emu.client_id().to_owned()),
        ("AZURE_TENANT_ID".to_owned(), emu.tenant_id().to_owned()),
        ("AZURE_AUTHORITY_HOST".to_owned(), emu.authority_host()),
    ]);
    let credential = dac(&emu, vars, &silent);
    assert_eq!(
        &credential.members()[..3],
        [
            "EnvironmentCredential",
            "WorkloadIdentityCredential",
            "GitHubActionsCredential"
        ]
    );
    let token = credential.get_token_blocking(&MGMT.into()).unwrap();
    assert_eq!(credential.selected(), Some("GitHubActionsCredential"));
    assert!(emu.verify_access_token(token.token().secret()).is_ok());
    // Elsewhere (no GitHub variables) it is not a member at all.
    let credential = dac(&emu, home.base_env(), &silent);
    assert!(!credential.members().contains(&"GitHubActionsCredential"));
}
