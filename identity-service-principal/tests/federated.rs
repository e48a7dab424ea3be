//! ClientAssertionCredential, WorkloadIdentityCredential and AzurePipelinesCredential against
//! identity-emulator over real sockets.
#![cfg(all(
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
use identity_core::clock::VirtualClock;
use identity_core::{
    BlockingTokenCredential, BoxFuture, Error, ErrorKind, Result, Secret, TokenCredential,
    TokenRequest,
};
use identity_emulator::{
    DEFAULT_SERVICE_CONNECTION_ID, DEFAULT_SYSTEM_ACCESS_TOKEN, Emulator, Endpoint,
};
use identity_service_principal::{
    AzurePipelinesCredential, ClientAssertionCredential, WorkloadIdentityCredential,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn client_assertion_blocking_and_async_callbacks() {
    let emu = emulator();
    let federated = emu.default_federated_token();
    let ((), logs) = capture_logs(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (c1, f1) = (calls.clone(), federated.clone());
        let (c2, f2) = (calls.clone(), federated.clone());
        let credential = ClientAssertionCredential::builder()
            .tenant_id(emu.tenant_id())
            .client_id(emu.client_id())
            .assertion_callback(move || -> Result<String> {
                c1.fetch_add(1, Ordering::SeqCst);
                Ok(f1.clone())
            })
            .async_assertion_callback(move || -> BoxFuture<'static, Result<String>> {
                c2.fetch_add(100, Ordering::SeqCst);
                let f = f2.clone();
                Box::pin(async move { Ok(f) })
            })
            .options(options(&emu, emu_env(&emu)))
            .build()
            .unwrap();
        let t = credential
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let t = block_on(
            credential.get_token(&TokenRequest::new("https://storage.azure.com/.default")),
        )
        .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 101);
        // Cached: no further callback.
        credential
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 101);
        let recorded = emu.requests_for(Endpoint::Token);
        assert_eq!(
            recorded[0].form_field("client_assertion_type"),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
    });
    assert_no_secrets(&logs, &[]);
}

#[test]
fn client_assertion_callback_errors() {
    let emu = emulator();
    let ((), logs) = capture_logs(|| {
        let failing = ClientAssertionCredential::builder()
            .tenant_id(emu.tenant_id())
            .client_id(emu.client_id())
            .assertion_callback(|| -> std::result::Result<String, std::io::Error> {
                Err(std::io::Error::other("token service down"))
            })
            .options(options(&emu, emu_env(&emu)))
            .build()
            .unwrap();
        let e = failing
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.credential(), "ClientAssertionCredential");
        assert!(e.message().contains("token service down"));
        // Our own error kind is kept.
        let unavailable = ClientAssertionCredential::builder()
            .tenant_id(emu.tenant_id())
            .client_id(emu.client_id())
            .assertion_callback(|| -> Result<String> { Err(Error::unavailable("", "not here")) })
            .options(options(&emu, emu_env(&emu)))
            .build()
            .unwrap();
        let e = block_on(unavailable.get_token(&TokenRequest::new(SCOPE))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        // Async-only callback: the blocking side says what to do.
        let async_only = ClientAssertionCredential::builder()
            .tenant_id(emu.tenant_id())
            .client_id(emu.client_id())
            .async_assertion_callback(|| -> BoxFuture<'static, Result<String>> {
                Box::pin(async { Ok("x.y.z".to_owned()) })
            })
            .options(options(&emu, emu_env(&emu)))
            .build()
            .unwrap();
        let e = async_only
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
        assert!(e.message().contains(".assertion_callback("));
        // A garbage assertion: Entra's error, named.
        let e = block_on(async_only.get_token(&TokenRequest::new(SCOPE))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.credential(), "ClientAssertionCredential");
        assert!(e.status().is_some());
        assert!(emu.requests_for(Endpoint::Token).len() == 1);
    });
    assert_no_secrets(&logs, &[]);
}

#[test]
fn workload_identity_from_environment_rereads_the_file() {
    let emu = emulator();
    let dir = temp_dir("wi");
    let path = dir.join("token");
    let env: identity_core::env::MapEnv = emu
        .workload_identity_env(&path)
        .unwrap()
        .into_iter()
        .collect();
    let clock = VirtualClock::new();
    let ((), logs) = capture_logs(|| {
        let credential = WorkloadIdentityCredential::builder()
            .options(options(&emu, env))
            .clock(Arc::new(clock.clone()))
            .blocking_sleep(Arc::new(clock.clone()))
            .async_sleep(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let t = credential
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        // Within 600 s the cached content is used, even though the file went bad.
        std::fs::write(&path, "garbage").unwrap();
        clock.advance(Duration::from_secs(300));
        let t = block_on(
            credential.get_token(&TokenRequest::new("https://storage.azure.com/.default")),
        )
        .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        // After 600 s the file is read again: a malformed file is a clear error.
        clock.advance(Duration::from_secs(301));
        let e = credential
            .get_token_blocking(&TokenRequest::new("https://graph.microsoft.com/.default"))
            .unwrap_err();
        assert_eq!(e.credential(), "WorkloadIdentityCredential");
        assert!(e.message().contains("does not hold a token"), "{e}");
        assert!(e.message().contains(&path.display().to_string()));
        // A fresh token in the file works again.
        emu.write_federated_token_file(
            &path,
            identity_emulator::DEFAULT_WORKLOAD_ISSUER,
            identity_emulator::DEFAULT_WORKLOAD_SUBJECT,
            Duration::from_secs(3600),
        )
        .unwrap();
        credential
            .get_token_blocking(&TokenRequest::new("https://graph.microsoft.com/.default"))
            .unwrap();
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 3);
        // A token from an issuer the app does not trust: Entra's error.
        emu.write_federated_token_file(
            &path,
            "https://other.invalid/",
            "sub",
            Duration::from_secs(3600),
        )
        .unwrap();
        clock.advance(Duration::from_secs(601));
        let e = credential
            .get_token_blocking(&TokenRequest::new("https://x.example/.default"))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.status().is_some());
    });
    assert_no_secrets(&logs, &[]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn workload_identity_missing_file() {
    let emu = emulator();
    let c = WorkloadIdentityCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .token_file_path("/nonexistent/sp-test/token")
        .options(options(&emu, emu_env(&emu)))
        .build()
        .unwrap();
    let e = block_on(c.get_token(&TokenRequest::new(SCOPE))).unwrap_err();
    assert!(e.to_string().starts_with("WorkloadIdentityCredential: Cannot read the federated token file '/nonexistent/sp-test/token'"), "{e}");
    assert!(emu.requests_for(Endpoint::Token).is_empty());
}

fn pipelines(
    emu: &Emulator,
    env: identity_core::env::MapEnv,
    sat: &str,
) -> AzurePipelinesCredential {
    AzurePipelinesCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .service_connection_id(DEFAULT_SERVICE_CONNECTION_ID)
        .system_access_token(Secret::new(sat))
        .options(options(emu, env))
        .build()
        .unwrap()
}

#[test]
fn azure_pipelines_blocking_and_async() {
    let emu = emulator();
    let env = emu_env(&emu).with("SYSTEM_OIDCREQUESTURI", emu.pipelines_oidc_request_uri());
    let ((), logs) = capture_logs(|| {
        let c = pipelines(&emu, env.clone(), DEFAULT_SYSTEM_ACCESS_TOKEN);
        let t = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        let t = block_on(c.get_token(&TokenRequest::new("https://storage.azure.com/.default")))
            .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        let oidc = emu.requests_for(Endpoint::PipelinesOidc);
        assert_eq!(oidc.len(), 2);
        assert_eq!(oidc[0].method, "POST");
        assert_eq!(oidc[0].query_param("api-version"), Some("7.1"));
        assert_eq!(
            oidc[0].query_param("serviceConnectionId"),
            Some(DEFAULT_SERVICE_CONNECTION_ID)
        );
        assert_eq!(oidc[0].header("x-tfs-fedauthredirect"), Some("Suppress"));
        assert_eq!(oidc[0].header("content-type"), Some("application/json"));
        // A wrong system access token: the OIDC endpoint's refusal, clearly.
        let wrong = pipelines(&emu, env.clone(), "planted-wrong-sat-8d2e");
        let e = wrong
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(
            e.to_string().starts_with(
                "AzurePipelinesCredential: Unexpected response from OIDC token endpoint."
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("planted-wrong-sat-8d2e"));
    });
    assert_no_secrets(
        &logs,
        &[DEFAULT_SYSTEM_ACCESS_TOKEN, "planted-wrong-sat-8d2e"],
    );
}

#[test]
fn azure_pipelines_without_request_uri_is_unavailable() {
    let emu = emulator();
    let c = pipelines(&emu, emu_env(&emu), DEFAULT_SYSTEM_ACCESS_TOKEN);
    let e = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.message()
            .starts_with("Missing value for the SYSTEM_OIDCREQUESTURI environment variable.")
    );
    let e = block_on(c.get_token(&TokenRequest::new(SCOPE))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(emu.requests().is_empty());
    let e = AzurePipelinesCredential::builder()
        .tenant_id("t")
        .client_id("c")
        .build()
        .unwrap_err();
    assert!(
        e.message()
            .starts_with("Missing required arguments: service_connection_id, system_access_token."),
        "{e}"
    );
    assert!(
        e.message()
            .contains("https://aka.ms/azsdk/python/identity/azurepipelinescredential/troubleshoot")
    );
}
