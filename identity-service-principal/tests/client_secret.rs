//! ClientSecretCredential against identity-emulator over real sockets.
#![cfg(all(
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
use identity_core::{BlockingTokenCredential, ErrorKind, Secret, TokenCredential, TokenRequest};
use identity_emulator::{Endpoint, Fault};
use identity_service_principal::ClientSecretCredential;

fn credential(emu: &identity_emulator::Emulator, secret: &str) -> ClientSecretCredential {
    ClientSecretCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .client_secret(Secret::new(secret))
        .options(options(emu, emu_env(emu)))
        .build()
        .unwrap()
}

#[test]
fn blocking_and_async_tokens_cached() {
    let emu = emulator();
    let ((), logs) = capture_logs(|| {
        let c = credential(&emu, emu.client_secret());
        let request = TokenRequest::new(SCOPE);
        let t1 = c.get_token_blocking(&request).unwrap();
        let claims = emu.verify_access_token(t1.token().secret()).unwrap();
        assert_eq!(claims.appid(), Some(emu.client_id()));
        assert_eq!(claims.aud(), Some("https://vault.azure.net"));
        let t2 = c.get_token_blocking(&request).unwrap();
        assert_eq!(t1.token().secret(), t2.token().secret());
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 1);
        // Async shares the cache.
        let t3 = block_on(c.get_token(&request)).unwrap();
        assert_eq!(t1.token().secret(), t3.token().secret());
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 1);
        let recorded = &emu.requests_for(Endpoint::Token)[0];
        assert_eq!(
            recorded.form_field("grant_type"),
            Some("client_credentials")
        );
        assert_eq!(recorded.form_field("scope"), Some(SCOPE));
        assert!(recorded.header("authorization").is_none());
    });
    assert_no_secrets(&logs, &[emu.client_secret()]);
    assert!(logs.contains("ClientSecretCredential.get_token succeeded"));
}

#[test]
fn async_only_fresh_credential() {
    let emu = emulator();
    let (token, logs) = capture_logs(|| {
        let c = credential(&emu, emu.client_secret());
        block_on(c.get_token(&TokenRequest::new(SCOPE)))
    });
    let token = token.unwrap();
    emu.verify_access_token(token.token().secret()).unwrap();
    assert_no_secrets(&logs, &[emu.client_secret()]);
}

#[test]
fn wrong_secret_is_a_clear_authentication_error() {
    let emu = emulator();
    const WRONG: &str = "planted-wrong-secret-5b1c";
    let (result, logs) =
        capture_logs(|| credential(&emu, WRONG).get_token_blocking(&TokenRequest::new(SCOPE)));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.credential(), "ClientSecretCredential");
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.aadsts_codes(), [7000215]);
    assert!(e.to_string().starts_with("ClientSecretCredential: "));
    assert!(!e.to_string().contains(WRONG));
    assert!(logs.contains("ClientSecretCredential.get_token failed"));
    assert_no_secrets(&logs, &[WRONG, emu.client_secret()]);
}

#[test]
fn tenants_cae_claims_and_retries() {
    let emu = emulator();
    let ((), logs) = capture_logs(|| {
        let c = credential(&emu, emu.client_secret());
        // Another tenant is refused without additionally_allowed_tenants, before any request.
        let other = TokenRequest::new(SCOPE).with_tenant_id("emulator.onmicrosoft.com");
        let e = c.get_token_blocking(&other).unwrap_err();
        assert!(e.message().contains("additionally_allowed_tenants"));
        assert!(emu.requests_for(Endpoint::Token).is_empty());
        let c = ClientSecretCredential::builder()
            .tenant_id(emu.tenant_id())
            .client_id(emu.client_id())
            .client_secret(emu.client_secret())
            .options(options(&emu, emu_env(&emu)))
            .additionally_allowed_tenants(["*"])
            .build()
            .unwrap();
        c.get_token_blocking(&other).unwrap();
        let recorded = emu.requests_for(Endpoint::Token);
        assert_eq!(recorded.len(), 1);
        assert!(recorded[0].path.starts_with("/emulator.onmicrosoft.com/"));
        // CAE: the CP1 capability goes in the claims; a separate cache entry.
        let cae = TokenRequest::new(SCOPE).with_enable_cae(true);
        block_on(c.get_token(&cae)).unwrap();
        let recorded = emu.requests_for(Endpoint::Token);
        assert_eq!(recorded.len(), 2);
        assert_eq!(
            recorded[1].form_field("claims"),
            Some(r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#)
        );
        // A claims challenge bypasses the cache.
        c.get_token_blocking(
            &TokenRequest::new(SCOPE)
                .with_claims(r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#),
        )
        .unwrap();
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 3);
        // A 503 is retried (the default policy; the first retry is immediate).
        emu.inject(Endpoint::Token, Fault::status(503));
        c.get_token_blocking(&TokenRequest::new("https://storage.azure.com/.default"))
            .unwrap();
        let statuses: Vec<u16> = emu
            .requests_for(Endpoint::Token)
            .iter()
            .map(|r| r.status.unwrap_or(0))
            .collect();
        assert_eq!(statuses[3..], [503, 200]);
    });
    assert_no_secrets(&logs, &[emu.client_secret()]);
}

#[test]
fn construction_errors_name_the_credential() {
    let e = ClientSecretCredential::builder()
        .tenant_id("t")
        .client_id("c")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(
        e.to_string()
            .starts_with("ClientSecretCredential: secret should be")
    );
    let e = ClientSecretCredential::builder()
        .tenant_id("not a tenant")
        .client_id("c")
        .client_secret("s")
        .build()
        .unwrap_err();
    assert!(e.message().starts_with("Invalid tenant ID provided."));
    let dbg = format!(
        "{:?}",
        ClientSecretCredential::builder()
            .tenant_id("t")
            .client_id("c")
            .client_secret("planted-debug-secret")
            .build()
            .unwrap()
    );
    assert!(!dbg.contains("planted-debug-secret"), "{dbg}");
    assert!(dbg.contains("ClientSecretCredential"));
    // A request without scopes is refused before any I/O, naming the credential.
    let c = ClientSecretCredential::builder()
        .tenant_id("t")
        .client_id("c")
        .client_secret("s")
        .build()
        .unwrap();
    let e = c
        .get_token_blocking(&TokenRequest::with_scopes(Vec::<String>::new()))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        e.to_string(),
        "ClientSecretCredential: \"get_token\" requires at least one scope"
    );
}

#[test]
fn authority_from_builder_environment_or_sovereign_cloud() {
    use identity_core::authority::AzureAuthorityHosts;
    let emu = emulator();
    // No AZURE_AUTHORITY_HOST: the builder's authority is used.
    let env: identity_core::env::MapEnv = emu
        .env_vars()
        .into_iter()
        .filter(|(k, _)| k != "AZURE_AUTHORITY_HOST")
        .collect();
    let c = ClientSecretCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .options(options(&emu, env.clone()))
        .authority_host(format!("{}/", emu.authority_host()))
        .build()
        .unwrap();
    c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
    assert_eq!(emu.requests_for(Endpoint::Token).len(), 1);
    // A sovereign cloud (no request made here: no network but 127.0.0.1 in tests).
    let gov = ClientSecretCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .options(options(&emu, env.clone()))
        .authority_host(AzureAuthorityHosts::AZURE_GOVERNMENT)
        .build()
        .unwrap();
    assert!(format!("{gov:?}").contains("https://login.microsoftonline.us"));
    let default = ClientSecretCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .options(options(&emu, env))
        .build()
        .unwrap();
    assert!(format!("{default:?}").contains("https://login.microsoftonline.com"));
    // http is refused.
    let e = ClientSecretCredential::builder()
        .tenant_id("t")
        .client_id("c")
        .client_secret("s")
        .authority_host("http://127.0.0.1:1")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("TLS protected (https)"));
}
