//! Construction without transports, and the errors that name what to enable. No network.
#![cfg(any(feature = "ureq", not(feature = "reqwest")))]

use identity_core::ErrorKind;
use identity_interactive::DeviceCodeCredential;

#[cfg(not(any(feature = "ureq", feature = "reqwest")))]
#[test]
fn no_transport_is_a_configuration_error_naming_the_features() {
    use identity_interactive::{AuthorizationCodeCredential, InteractiveBrowserCredential};
    let e = DeviceCodeCredential::builder().build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(
        e.message().contains("`ureq`") && e.message().contains("`reqwest`"),
        "{e}"
    );
    let e = InteractiveBrowserCredential::builder().build().unwrap_err();
    assert_eq!(e.credential(), "InteractiveBrowserCredential");
    let e = AuthorizationCodeCredential::builder("t", "c", "code", "http://localhost:1")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
}

#[cfg(all(feature = "ureq", not(feature = "reqwest")))]
#[test]
fn the_async_side_without_a_transport_says_which_feature() {
    use identity_core::TokenRequest;
    let c = DeviceCodeCredential::builder().build().unwrap();
    let e = futures_lite_block_on(identity_core::TokenCredential::get_token(
        &c,
        &TokenRequest::new("https://vault.azure.net/.default"),
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("`reqwest`"), "{e}");
}

/// Polls a future that completes without waking (the error is immediate).
#[cfg(all(feature = "ureq", not(feature = "reqwest")))]
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[cfg(feature = "ureq")]
#[test]
fn a_record_supplies_client_authority_and_tenant() {
    use identity_core::TokenRequest;
    use identity_interactive::AuthenticationRecord;
    let record =
        AuthenticationRecord::new("login.example.test", "my-client", "u.t", "my-tenant", "a@b");
    let c = DeviceCodeCredential::builder()
        .authentication_record(record.clone())
        .disable_automatic_authentication(true)
        .env(std::sync::Arc::new(identity_core::env::MapEnv::new()))
        .build()
        .unwrap();
    let debug = format!("{c:?}");
    assert!(debug.contains("https://login.example.test"), "{debug}");
    assert!(
        debug.contains("my-client") && debug.contains("my-tenant"),
        "{debug}"
    );
    assert_eq!(c.authentication_record(), Some(record));
    // No refresh token in memory for it: interaction is required, and nothing is sent.
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &c,
        &TokenRequest::new("https://vault.azure.net/.default"),
    );
    assert_eq!(e.unwrap_err().kind(), ErrorKind::AuthenticationRequired);
    // Bad settings are refused at construction.
    let e = DeviceCodeCredential::builder()
        .tenant_id("not a tenant!")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
}
