//! WorkloadIdentityCredential through the AKS token proxy, played by identity-emulator: the
//! authority is the (unreachable here) public cloud, and every token request goes to the proxy,
//! over TLS that trusts only the proxy's CA, with its SNI name.
#![cfg(all(
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
use identity_core::env::MapEnv;
use identity_core::transport::TransportOptions;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential, TokenRequest};
use identity_emulator::{Emulator, Endpoint};
use identity_service_principal::{CredentialOptions, WorkloadIdentityCredential};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn proxy_env(emu: &Emulator, token_file: &Path) -> MapEnv {
    let mut env: MapEnv = emu
        .workload_identity_env(token_file)
        .unwrap()
        .into_iter()
        .collect();
    env.set("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com");
    env.set("AZURE_KUBERNETES_TOKEN_PROXY", emu.authority_host());
    env.set("AZURE_KUBERNETES_SNI_NAME", "localhost");
    env
}

/// Options that do NOT trust the emulator CA: only the proxy settings may.
fn plain_options(env: MapEnv) -> CredentialOptions {
    let mut o = CredentialOptions::default();
    o.env = Arc::new(env);
    o.transport_options = TransportOptions::default();
    o
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sp-proxy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn token_requests_go_through_the_proxy_with_its_ca() {
    let emu = emulator();
    let d = temp("data");
    let env = proxy_env(&emu, &d.join("token")).with("AZURE_KUBERNETES_CA_DATA", emu.ca_pem());
    let ((), logs) = capture_logs(|| {
        let c = WorkloadIdentityCredential::builder()
            .options(plain_options(env.clone()))
            .enable_azure_proxy(true)
            .build()
            .unwrap();
        let t = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        let t = block_on(c.get_token(&TokenRequest::new("https://storage.azure.com/.default")))
            .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        let recorded = emu.requests_for(Endpoint::Token);
        assert_eq!(recorded.len(), 2);
        assert_eq!(
            recorded[0].path,
            format!("/{}/oauth2/v2.0/token", emu.tenant_id())
        );
        // Without enable_azure_proxy the variables are ignored: the request goes to the
        // authority (unreachable offline; a connection error, not the emulator).
        let clock = identity_core::clock::VirtualClock::new();
        let direct = WorkloadIdentityCredential::builder()
            .options(plain_options(
                env.clone()
                    .with("AZURE_AUTHORITY_HOST", "https://127.0.0.1:1"),
            ))
            .clock(Arc::new(clock.clone()))
            .blocking_sleep(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let e = direct
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Transport(_)), "{e}");
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 2);
    });
    assert_no_secrets(&logs, &[]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn ca_file_is_reloaded_when_it_changes() {
    let emu = emulator();
    let d = temp("file");
    let ca = d.join("ca.pem");
    std::fs::write(&ca, emu.ca_pem()).unwrap();
    let env = proxy_env(&emu, &d.join("token"))
        .with("AZURE_KUBERNETES_CA_FILE", ca.display().to_string());
    let set_mtime = |secs: u64| {
        let f = std::fs::File::options().write(true).open(&ca).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    };
    set_mtime(1_700_000_000);
    // Retries of the TLS failures wait on a virtual clock.
    let clock = identity_core::clock::VirtualClock::new();
    let ((), logs) = capture_logs(|| {
        let c = WorkloadIdentityCredential::builder()
            .options(plain_options(env))
            .clock(Arc::new(clock.clone()))
            .blocking_sleep(Arc::new(clock.clone()))
            .async_sleep(Arc::new(clock.clone()))
            .enable_azure_proxy(true)
            .build()
            .unwrap();
        c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        // Another CA (the Service Fabric listener's self-signed certificate): the proxy's TLS
        // certificate is no longer trusted.
        std::fs::write(&ca, emu.service_fabric_certificate_pem()).unwrap();
        set_mtime(1_700_000_100);
        let e = c
            .get_token_blocking(&TokenRequest::new("https://storage.azure.com/.default"))
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Transport(_)), "{e}");
        assert!(e.message().contains("UnknownIssuer"), "{e}");
        let e = block_on(c.get_token(&TokenRequest::new("https://storage.azure.com/.default")))
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Transport(_)), "{e}");
        // The right CA again.
        std::fs::write(&ca, emu.ca_pem()).unwrap();
        set_mtime(1_700_000_200);
        c.get_token_blocking(&TokenRequest::new("https://storage.azure.com/.default"))
            .unwrap();
        block_on(c.get_token(&TokenRequest::new("https://graph.microsoft.com/.default"))).unwrap();
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 3);
    });
    assert_no_secrets(&logs, &[]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn proxy_configuration_errors() {
    let emu = emulator();
    let d = temp("errors");
    let base = proxy_env(&emu, &d.join("token"));
    let build = |env: MapEnv| {
        WorkloadIdentityCredential::builder()
            .options(plain_options(env))
            .enable_azure_proxy(true)
            .build()
    };
    let empty = d.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let e = build(
        base.clone()
            .with("AZURE_KUBERNETES_CA_FILE", empty.display().to_string()),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("WorkloadIdentityCredential: CA file ("),
        "{e}"
    );
    let e = build(
        base.clone()
            .with("AZURE_KUBERNETES_CA_FILE", "/nonexistent/sp/ca.pem"),
    )
    .unwrap_err();
    assert!(e.message().starts_with("Failed to read CA file"), "{e}");
    let e = build(base.clone().with("AZURE_KUBERNETES_CA_DATA", "not pem")).unwrap_err();
    assert_eq!(e.credential(), "WorkloadIdentityCredential");
    let e = build(
        base.clone()
            .with("AZURE_KUBERNETES_TOKEN_PROXY", "http://127.0.0.1:1"),
    )
    .unwrap_err();
    assert!(e.message().contains("not valid"), "{e}");
    let mut no_proxy = base.clone();
    no_proxy.set("AZURE_KUBERNETES_TOKEN_PROXY", "");
    let e = build(no_proxy).unwrap_err();
    assert!(
        e.message()
            .starts_with("AZURE_KUBERNETES_TOKEN_PROXY is not set"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
