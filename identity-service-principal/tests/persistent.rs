//! Client-credential tokens in the persistent cache (feature `persistent`): a new credential
//! (as a new process would) reuses the stored application token without a request; CAE tokens
//! are kept apart; OBO refuses persistence.
#![cfg(all(feature = "persistent", feature = "rustls", feature = "ureq"))]

mod common;

use common::*;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenRequest};
use identity_emulator::Endpoint;
use identity_service_principal::{
    ClientSecretCredential, OnBehalfOfCredential, TokenCachePersistenceOptions,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("azid-sp-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn persistence(dir: &Path) -> TokenCachePersistenceOptions {
    TokenCachePersistenceOptions::default()
        .with_directory(dir)
        .with_allow_unencrypted_storage(true)
        .with_secret_service_disabled(true)
}

fn credential(emu: &identity_emulator::Emulator, dir: &Path) -> ClientSecretCredential {
    ClientSecretCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .options(options(emu, emu_env(emu)))
        .cache_persistence(persistence(dir))
        .build()
        .unwrap()
}

#[test]
fn a_new_credential_reuses_the_persisted_application_token() {
    let emu = emulator();
    let dir = temp_dir("app");
    let first = credential(&emu, &dir)
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap();
    assert_eq!(emu.requests_for(Endpoint::Token).len(), 1);
    // The entry: an application token (home_account_id null) under MSAL's key.
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("msal.cache.nocae")).unwrap()).unwrap();
    let environment = emu
        .authority_host()
        .trim_start_matches("https://")
        .to_owned();
    let key = format!(
        "-{}-accesstoken-{}-{}-{SCOPE}",
        environment.to_lowercase(),
        emu.client_id().to_lowercase(),
        emu.tenant_id().to_lowercase()
    );
    let entry = &doc["AccessToken"][&key];
    assert_eq!(entry["home_account_id"], Value::Null, "{doc}");
    assert_eq!(entry["secret"], first.token().secret());
    assert!(doc["RefreshToken"].as_object().unwrap().is_empty());
    // A new credential (a new process) gets the same token without a request.
    let (second, logs) = capture_logs(|| {
        credential(&emu, &dir)
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap()
    });
    assert_eq!(second.token().secret(), first.token().secret());
    assert_eq!(emu.requests_for(Endpoint::Token).len(), 1);
    assert!(logs.contains("access token found in the persistent cache"));
    assert!(!logs.contains(first.token().secret()));
    assert!(!logs.contains(emu.client_secret()));
    // CAE tokens live in the other cache: a request.
    credential(&emu, &dir)
        .get_token_blocking(&TokenRequest::new(SCOPE).with_enable_cae(true))
        .unwrap();
    assert_eq!(emu.requests_for(Endpoint::Token).len(), 2);
    assert!(dir.join("msal.cache.cae").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("msal.cache.nocae")), 0o600);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn on_behalf_of_refuses_persistence() {
    let emu = emulator();
    let dir = temp_dir("obo");
    let e = OnBehalfOfCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .user_assertion("user-jwt")
        .options(options(&emu, emu_env(&emu)))
        .cache_persistence(persistence(&dir))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("cache_persistence"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
