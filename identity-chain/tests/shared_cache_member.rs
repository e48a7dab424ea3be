//! SharedTokenCacheCredential in DefaultAzureCredential (feature `shared-cache`): row 4, left
//! out by `exclude`, part of `AZURE_TOKEN_CREDENTIALS=dev`, and its refresh failures are
//! "unavailable" so the chain goes on.
#![cfg(all(
    feature = "shared-cache",
    feature = "dev-tools",
    feature = "ureq",
    feature = "rustls"
))]

use identity_chain::{
    BlockingTokenCredential, DefaultAzureCredential, DefaultAzureCredentialOptions, DefaultMember,
    ErrorKind, TokenCachePersistenceOptions, TokenRequest,
};
use identity_core::clock::VirtualClock;
use identity_core::env::MapEnv;
use identity_core::protocol::entra::DEVELOPER_SIGN_ON_CLIENT_ID;
use identity_core::transport::TransportOptions;
use identity_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

const SCOPE: &str = "https://vault.azure.net/.default";

fn home() -> PathBuf {
    let d = std::env::temp_dir().join(format!("azid-chain-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A developer tool's sign-in left in `$HOME/.IdentityService/msal.cache.nocae`, with a family
/// refresh token as Entra issues to the Azure CLI.
fn sign_in(emu: &Emulator, home: &std::path::Path) {
    let clock = Arc::new(VirtualClock::starting_at(SystemTime::now()));
    let env: MapEnv = emu.env_vars().into_iter().collect();
    identity_interactive::DeviceCodeCredential::builder()
        .env(Arc::new(env))
        .transport_options(TransportOptions::default().with_root_certificate_pem(emu.ca_pem()))
        .clock(clock.clone())
        .blocking_sleep(clock)
        .client_id(DEVELOPER_SIGN_ON_CLIENT_ID)
        .cache_persistence(
            TokenCachePersistenceOptions::default()
                .with_directory(home.join(".IdentityService"))
                .with_allow_unencrypted_storage(true)
                .with_secret_service_disabled(true),
        )
        .prompt_callback(|_| {})
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap();
    let path = home.join(".IdentityService/msal.cache.nocae");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for rt in doc["RefreshToken"].as_object_mut().unwrap().values_mut() {
        rt["family_id"] = "1".into();
    }
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
}

/// Every member but the shared cache and the developer tools left out; no tool on PATH.
fn dac(emu: &Emulator, home: &std::path::Path, extra: &[(&str, &str)]) -> DefaultAzureCredential {
    let mut env = MapEnv::new()
        .with("HOME", home.display().to_string())
        .with("PATH", "/nonexistent")
        .with("AZURE_AUTHORITY_HOST", emu.authority_host());
    for (k, v) in extra {
        env.set(*k, *v);
    }
    let options = DefaultAzureCredentialOptions::default()
        .exclude(DefaultMember::Environment, true)
        .exclude(DefaultMember::WorkloadIdentity, true)
        .exclude(DefaultMember::ManagedIdentity, true)
        .env(Arc::new(env))
        .transport_options(TransportOptions::default().with_root_certificate_pem(emu.ca_pem()));
    DefaultAzureCredential::with_options(options).unwrap()
}

#[test]
fn row_four_answers_from_the_shared_cache_and_failures_are_unavailable() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let home = home();
    // Before any sign-in: unavailable, the chain goes on to the tools.
    let credential = dac(&emu, &home, &[]);
    assert_eq!(credential.members()[0], "SharedTokenCacheCredential");
    let e = credential
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap_err();
    assert!(
        e.message().contains("SharedTokenCacheCredential: SharedTokenCacheCredential authentication unavailable. No accounts were found in the cache."),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("AzureCliCredential: "),
        "{}",
        e.message()
    );

    sign_in(&emu, &home);
    let credential = dac(&emu, &home, &[("AZURE_TOKEN_CREDENTIALS", "dev")]);
    assert_eq!(
        credential.members()[..2],
        ["SharedTokenCacheCredential", "VisualStudioCodeCredential"]
    );
    let token = credential
        .get_token_blocking(&TokenRequest::new("https://storage.azure.com/.default"))
        .unwrap();
    assert_eq!(credential.selected(), Some("SharedTokenCacheCredential"));
    assert!(emu.verify_access_token(token.token().secret()).is_ok());

    // Excluded explicitly: gone.
    let options = DefaultAzureCredentialOptions::default()
        .exclude(DefaultMember::SharedTokenCache, true)
        .env(Arc::new(
            MapEnv::new().with("AZURE_TOKEN_CREDENTIALS", "dev"),
        ));
    assert!(
        !DefaultAzureCredential::with_options(options)
            .unwrap()
            .members()
            .contains(&"SharedTokenCacheCredential")
    );

    // A refused refresh token inside DAC: unavailable, and the chain goes on.
    emu.revoke_refresh_tokens();
    let credential = dac(&emu, &home, &[]);
    let e = credential
        .get_token_blocking(&TokenRequest::new("https://management.azure.com/.default"))
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Authentication,
        "the aggregate of unavailable members"
    );
    assert!(
        e.message()
            .contains("SharedTokenCacheCredential: Token acquisition failed for user"),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("AzureCliCredential: "),
        "{}",
        e.message()
    );
    let _ = std::fs::remove_dir_all(&home);
}
