//! Service Fabric over the emulator's own HTTPS listener, with thumbprint pinning.
#![cfg(feature = "service-fabric")]

mod common;

use common::*;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenRequest};
use identity_emulator::*;
use identity_msi::{ManagedIdentityId, ManagedIdentitySource as Source};

const OTHER_THUMBPRINT: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn pinned_token_blocking() {
    let emu = start();
    let credential = builder(&emu, ManagedIdentitySource::ServiceFabric, &[])
        .build()
        .unwrap();
    assert_eq!(credential.source(), Source::ServiceFabric);
    let token = credential.get_token_blocking(&SCOPE.into()).unwrap();
    let claims = emu.verify_access_token(token.token().secret()).unwrap();
    assert_eq!(claims.aud(), Some(ARM));
    assert_eq!(claims.oid(), Some(SYSTEM_ASSIGNED_OBJECT_ID));
    let log = emu.requests_for(Endpoint::ServiceFabric);
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].query_param("api-version"),
        Some("2019-07-01-preview")
    );
    assert_eq!(log[0].header("secret"), Some(MASK));
    // Cached; a claims request goes out with the hash of the token it replaces.
    credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert_eq!(count(&emu, Endpoint::ServiceFabric), 1);
    credential
        .get_token_blocking(&TokenRequest::new(SCOPE).with_claims("{}"))
        .unwrap();
    let log = emu.requests_for(Endpoint::ServiceFabric);
    assert_eq!(log.len(), 2);
    let hash = log[1]
        .query_param("token_sha256_to_refresh")
        .expect("token_sha256_to_refresh");
    assert_eq!(hash.len(), 64);
}

#[test]
fn thumbprint_is_normalised() {
    let emu = start();
    let spaced: String = emu
        .service_fabric_thumbprint()
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let credential = builder(
        &emu,
        ManagedIdentitySource::ServiceFabric,
        &[("IDENTITY_SERVER_THUMBPRINT", &spaced)],
    )
    .build()
    .unwrap();
    credential.get_token_blocking(&SCOPE.into()).unwrap();
}

#[test]
fn wrong_thumbprint_fails_the_handshake() {
    let emu = start();
    let credential = builder(
        &emu,
        ManagedIdentitySource::ServiceFabric,
        &[("IDENTITY_SERVER_THUMBPRINT", OTHER_THUMBPRINT)],
    )
    .build()
    .unwrap();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(
        e.message().contains("could not be reached") && e.message().contains("thumbprint"),
        "{e}"
    );
    // The request never reached the HTTP layer.
    assert_eq!(count(&emu, Endpoint::ServiceFabric), 0);
}

#[test]
fn configuration_errors() {
    let emu = start();
    let check = |extra: &[(&str, &str)], id: Option<ManagedIdentityId>, words: &str| {
        let mut b = builder(&emu, ManagedIdentitySource::ServiceFabric, extra);
        if let Some(id) = id {
            b = b.identity(id);
        }
        let e = b
            .build()
            .unwrap()
            .get_token_blocking(&SCOPE.into())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
        assert!(e.message().contains(words), "{e}");
    };
    check(
        &[("IDENTITY_SERVER_THUMBPRINT", "not-a-thumbprint")],
        None,
        "IDENTITY_SERVER_THUMBPRINT must be a SHA-1 certificate thumbprint.",
    );
    let http = emu
        .service_fabric_endpoint()
        .replacen("https://", "http://", 1);
    check(
        &[("IDENTITY_ENDPOINT", &http)],
        None,
        "Service Fabric managed identity endpoint must use HTTPS.",
    );
    check(
        &[],
        Some(ManagedIdentityId::ClientId(USER_ASSIGNED_CLIENT_ID.into())),
        "not supported by the Service Fabric managed identity environment",
    );
    check(
        &[("AZURE_CLIENT_ID", USER_ASSIGNED_CLIENT_ID)],
        None,
        "AZURE_CLIENT_ID",
    );
    assert_eq!(count(&emu, Endpoint::ServiceFabric), 0);
    // Forcing the system-assigned identity works despite AZURE_CLIENT_ID.
    builder(
        &emu,
        ManagedIdentitySource::ServiceFabric,
        &[("AZURE_CLIENT_ID", USER_ASSIGNED_CLIENT_ID)],
    )
    .identity(ManagedIdentityId::SystemAssigned)
    .build()
    .unwrap()
    .get_token_blocking(&SCOPE.into())
    .unwrap();
}

#[test]
fn service_errors_and_faults() {
    let emu = start();
    let clock = identity_core::clock::VirtualClock::new();
    let credential = virtual_builder(&emu, ManagedIdentitySource::ServiceFabric, &clock)
        .build()
        .unwrap();
    // 404 is not retried.
    emu.inject(Endpoint::ServiceFabric, Fault::status(404));
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().contains("Service Fabric managed identity configuration not found in environment. Token request error: (invalid_request)"), "{e}");
    assert_eq!(count(&emu, Endpoint::ServiceFabric), 1);
    // A wrong Secret header: the service's SecretHeaderNotFound-style 401.
    let wrong = builder(
        &emu,
        ManagedIdentitySource::ServiceFabric,
        &[("IDENTITY_HEADER", "wrong")],
    )
    .build()
    .unwrap();
    assert_eq!(
        wrong
            .get_token_blocking(&SCOPE.into())
            .unwrap_err()
            .status(),
        Some(401)
    );
    // Bodies: malformed, empty, oversized; a reset connection.
    for (fault, words) in [
        (Fault::MalformedJson, "Failed to deserialize JSON"),
        (Fault::EmptyBody, "No token received."),
        (
            Fault::HugeBody {
                bytes: 2 * 1024 * 1024,
            },
            "larger than",
        ),
    ] {
        emu.clear_requests();
        emu.inject(Endpoint::ServiceFabric, fault.clone());
        let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication, "{fault:?}");
        assert!(e.message().contains(words), "{fault:?}: {e}");
        assert_eq!(count(&emu, Endpoint::ServiceFabric), 1);
    }
    emu.clear_requests();
    emu.inject_sequence(Endpoint::ServiceFabric, vec![Fault::ConnectionReset; 4]);
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(count(&emu, Endpoint::ServiceFabric), 4);
    // 5xx: the default policy's 3 retries, then "unavailable".
    emu.clear_requests();
    emu.inject_sequence(Endpoint::ServiceFabric, vec![Fault::status(500); 4]);
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(count(&emu, Endpoint::ServiceFabric), 4);
    // A JSON token under another content type, and a slow answer, are tokens.
    for fault in [
        Fault::wrong_content_type(),
        Fault::delay(std::time::Duration::from_millis(20)),
    ] {
        emu.clear_requests();
        emu.inject(Endpoint::ServiceFabric, fault.clone());
        let fresh = builder(&emu, ManagedIdentitySource::ServiceFabric, &[])
            .build()
            .unwrap();
        fresh
            .get_token_blocking(&SCOPE.into())
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(count(&emu, Endpoint::ServiceFabric), 1);
    }
    // A hanging endpoint is bounded by the request timeout.
    emu.clear_requests();
    emu.inject(Endpoint::ServiceFabric, Fault::Hang);
    let quick = builder(&emu, ManagedIdentitySource::ServiceFabric, &[])
        .request_timeout(std::time::Duration::from_millis(300))
        .retry_policy(identity_core::retry::RetryPolicy::none())
        .build()
        .unwrap();
    let e = quick.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(count(&emu, Endpoint::ServiceFabric), 1);
}
