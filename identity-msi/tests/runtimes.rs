//! The async side without reqwest: Service Fabric's own transport on async-std and on a plain
//! `futures`-style executor, and clear errors for a side with no transport.

mod common;

#[cfg(all(feature = "service-fabric", feature = "async-std"))]
#[test]
fn service_fabric_on_async_std() {
    use common::*;
    use identity_core::TokenCredential;
    let emu = start();
    let credential = builder(
        &emu,
        identity_emulator::ManagedIdentitySource::ServiceFabric,
        &[],
    )
    .build()
    .unwrap();
    let token = async_std::task::block_on(credential.get_token(&SCOPE.into())).unwrap();
    assert_eq!(
        emu.verify_access_token(token.token().secret())
            .unwrap()
            .aud(),
        Some(ARM)
    );
}

#[cfg(all(
    not(any(feature = "tokio", feature = "async-std")),
    any(feature = "reqwest", not(feature = "ureq"))
))]
#[test]
fn async_side_without_a_timer_says_which_feature() {
    use common::*;
    use identity_core::{ErrorKind, TokenCredential};
    let emu = start();
    let credential = builder(
        &emu,
        identity_emulator::ManagedIdentitySource::AppService,
        &[],
    )
    .build()
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = runtime
        .block_on(credential.get_token(&SCOPE.into()))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("`tokio`"), "{e}");
    assert!(emu.requests().is_empty());
}

/// Without `ureq`, the blocking side uses the crate's own DirectHttpClient.
#[cfg(not(feature = "ureq"))]
#[test]
fn without_ureq_the_blocking_side_uses_the_direct_client() {
    use common::*;
    use identity_core::BlockingTokenCredential;
    let emu = start();
    for source in [
        identity_emulator::ManagedIdentitySource::AppService,
        identity_emulator::ManagedIdentitySource::Imds,
    ] {
        let credential = builder(&emu, source, &[]).build().unwrap();
        let token = credential.get_token_blocking(&SCOPE.into()).unwrap();
        assert_eq!(
            emu.verify_access_token(token.token().secret())
                .unwrap()
                .aud(),
            Some(ARM)
        );
    }
}

/// Without `reqwest`, the async side uses DirectHttpClient on a thread, with tokio's timer.
#[cfg(all(feature = "tokio", not(feature = "reqwest")))]
#[test]
fn without_reqwest_the_async_side_uses_the_direct_client() {
    use common::*;
    use identity_core::TokenCredential;
    let emu = start();
    emu.inject(
        identity_emulator::Endpoint::Imds,
        identity_emulator::Fault::status_with_retry_after(503, 1),
    );
    let credential = builder(&emu, identity_emulator::ManagedIdentitySource::Imds, &[])
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = runtime
        .block_on(credential.get_token(&SCOPE.into()))
        .unwrap();
    assert_eq!(
        emu.verify_access_token(token.token().secret())
            .unwrap()
            .aud(),
        Some(ARM)
    );
    assert_eq!(count(&emu, identity_emulator::Endpoint::Imds), 2);
}

#[cfg(not(feature = "service-fabric"))]
#[test]
fn service_fabric_without_the_feature_says_so() {
    use identity_core::{BlockingTokenCredential, ErrorKind};
    let env = identity_core::env::MapEnv::new()
        .with(
            "IDENTITY_ENDPOINT",
            "https://127.0.0.1:1/metadata/identity/oauth2/token",
        )
        .with("IDENTITY_HEADER", "h")
        .with(
            "IDENTITY_SERVER_THUMBPRINT",
            "0123456789abcdef0123456789abcdef01234567",
        );
    let client: std::sync::Arc<dyn identity_core::HttpClient> = std::sync::Arc::new(
        |_: &identity_core::Request| -> Result<identity_core::Response, identity_core::TransportError> {
            panic!("no request may be sent")
        },
    );
    let credential = identity_msi::ManagedIdentityCredential::builder()
        .env(std::sync::Arc::new(env))
        .http_client(client)
        .build()
        .unwrap();
    let e = credential
        .get_token_blocking(&"https://x/.default".into())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("`service-fabric` feature"), "{e}");
}

#[cfg(all(feature = "ureq", not(feature = "reqwest")))]
#[test]
fn with_ureq_alone_the_async_side_says_which_feature() {
    use common::*;
    use identity_core::{ErrorKind, TokenCredential};
    let emu = start();
    let credential = builder(
        &emu,
        identity_emulator::ManagedIdentitySource::AppService,
        &[],
    )
    .build()
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = runtime
        .block_on(credential.get_token(&SCOPE.into()))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(
        e.message().contains("`reqwest`") && e.message().contains("DirectHttpClient"),
        "{e}"
    );
    assert!(emu.requests().is_empty());
}
