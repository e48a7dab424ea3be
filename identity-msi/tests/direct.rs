//! `DirectHttpClient` (no transport feature needed) against identity-emulator: every plain
//! source, blocking and async, faults with their attempt counts, and the probe bound.

mod common;

use common::*;
use identity_core::clock::VirtualClock;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential};
use identity_emulator::*;
use identity_msi::{
    DirectHttpClient, ManagedIdentityCredential, ManagedIdentityCredentialBuilder,
    ManagedIdentityId,
};
use std::sync::Arc;
use std::time::Duration;

fn direct(b: ManagedIdentityCredentialBuilder) -> ManagedIdentityCredentialBuilder {
    let client = Arc::new(DirectHttpClient::new());
    b.http_client(client.clone()).async_http_client(client)
}

const PLAIN: [(ManagedIdentitySource, Endpoint); 5] = [
    (ManagedIdentitySource::Imds, Endpoint::Imds),
    (ManagedIdentitySource::AppService, Endpoint::AppService),
    (ManagedIdentitySource::AzureMl, Endpoint::AzureMl),
    (ManagedIdentitySource::CloudShell, Endpoint::CloudShell),
    (ManagedIdentitySource::Arc, Endpoint::Arc),
];

#[test]
fn every_plain_source_blocking_and_async() {
    let emu = start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = VirtualClock::new();
    for (source, endpoint) in PLAIN {
        let mut ids = vec![ManagedIdentityId::SystemAssigned];
        if source != ManagedIdentitySource::CloudShell {
            ids.extend([
                ManagedIdentityId::ClientId(USER_ASSIGNED_CLIENT_ID.into()),
                ManagedIdentityId::ObjectId(USER_ASSIGNED_OBJECT_ID.into()),
                ManagedIdentityId::ResourceId(USER_ASSIGNED_RESOURCE_ID.into()),
            ]);
        }
        for id in ids {
            let credential = direct(builder(&emu, source, &[]))
                .identity(id.clone())
                .async_sleep(Arc::new(clock.clone()))
                .build()
                .unwrap();
            let blocking = credential
                .get_token_blocking(&SCOPE.into())
                .unwrap_or_else(|e| panic!("{source:?} {id:?}: {e}"));
            let claims = emu.verify_access_token(blocking.token().secret()).unwrap();
            assert_eq!(claims.aud(), Some(ARM));
            if id.is_user_assigned() {
                assert_eq!(claims.oid(), Some(USER_ASSIGNED_OBJECT_ID));
            }
            // A claims request skips the cache: the async side really goes to the endpoint.
            let before = count(&emu, endpoint);
            let request = identity_core::TokenRequest::new(SCOPE).with_claims("{}");
            let token = runtime
                .block_on(credential.get_token(&request))
                .unwrap_or_else(|e| panic!("{source:?} {id:?}: {e}"));
            assert!(emu.verify_access_token(token.token().secret()).is_ok());
            assert!(count(&emu, endpoint) > before);
        }
    }
}

#[test]
fn faults_and_attempts() {
    use ErrorKind::{Authentication as Auth, Unavailable as Unav};
    let cases: Vec<(
        ManagedIdentitySource,
        Endpoint,
        Fault,
        usize,
        Option<ErrorKind>,
        usize,
    )> = vec![
        (
            ManagedIdentitySource::Imds,
            Endpoint::Imds,
            Fault::status(410),
            6,
            Some(Auth),
            6,
        ),
        (
            ManagedIdentitySource::Imds,
            Endpoint::Imds,
            Fault::ConnectionReset,
            4,
            Some(Unav),
            4,
        ),
        (
            ManagedIdentitySource::Imds,
            Endpoint::Imds,
            Fault::Hang,
            4,
            Some(Unav),
            4,
        ),
        (
            ManagedIdentitySource::Imds,
            Endpoint::Imds,
            Fault::HugeBody {
                bytes: 2 * 1024 * 1024,
            },
            1,
            Some(Unav),
            1,
        ),
        (
            ManagedIdentitySource::Imds,
            Endpoint::Imds,
            Fault::wrong_content_type(),
            1,
            None,
            1,
        ),
        (
            ManagedIdentitySource::AppService,
            Endpoint::AppService,
            Fault::status(503),
            4,
            Some(Unav),
            4,
        ),
        (
            ManagedIdentitySource::AppService,
            Endpoint::AppService,
            Fault::MalformedJson,
            1,
            Some(Auth),
            1,
        ),
        (
            ManagedIdentitySource::AppService,
            Endpoint::AppService,
            Fault::EmptyBody,
            1,
            Some(Auth),
            1,
        ),
        (
            ManagedIdentitySource::AppService,
            Endpoint::AppService,
            Fault::ConnectionReset,
            4,
            Some(Auth),
            4,
        ),
        (
            ManagedIdentitySource::AppService,
            Endpoint::AppService,
            Fault::Hang,
            4,
            Some(Auth),
            4,
        ),
        (
            ManagedIdentitySource::Arc,
            Endpoint::Arc,
            Fault::delay(Duration::from_millis(20)),
            1,
            None,
            2,
        ),
    ];
    for (source, endpoint, fault, queued, kind, attempts) in cases {
        let emu = start();
        emu.inject_sequence(endpoint, vec![fault.clone(); queued]);
        let clock = VirtualClock::new();
        let credential = direct(virtual_builder(&emu, source, &clock))
            .request_timeout(timeout_for(&fault))
            .build()
            .unwrap();
        let result = credential.get_token_blocking(&SCOPE.into());
        match (kind, &result) {
            (None, Ok(_)) => {}
            (Some(k), Err(e)) => assert_eq!(e.kind(), k, "{source:?} {fault:?}: {e}"),
            _ => panic!("{source:?} {fault:?}: expected {kind:?}, got {result:?}"),
        }
        assert_eq!(count(&emu, endpoint), attempts, "{source:?} {fault:?}");
    }
}

#[test]
fn probe_of_a_silent_endpoint_is_bounded() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for asynchronous in [false, true] {
        let credential = direct(ManagedIdentityCredential::builder())
            .env(Arc::new(identity_core::env::MapEnv::new()))
            .async_sleep(Arc::new(VirtualClock::new()))
            .imds_endpoint(silent_listener())
            .imds_probe(true)
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let e = if asynchronous {
            runtime
                .block_on(credential.get_token(&SCOPE.into()))
                .unwrap_err()
        } else {
            credential.get_token_blocking(&SCOPE.into()).unwrap_err()
        };
        println!(
            "DirectHttpClient probe (async: {asynchronous}) returned after {:?}",
            started.elapsed()
        );
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().starts_with("ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint."), "{e}");
    }
}

#[test]
fn probe_then_token_and_refused_connections() {
    let emu = start();
    let credential = direct(ManagedIdentityCredential::builder())
        .env(Arc::new(identity_core::env::MapEnv::new()))
        .imds_endpoint(emu.imds_base())
        .imds_probe(true)
        .build()
        .unwrap();
    credential.get_token_blocking(&SCOPE.into()).unwrap();
    let log = emu.requests_for(Endpoint::Imds);
    assert_eq!(
        (log.len(), log[0].header("metadata"), log[0].status),
        (2, None, Some(400))
    );
    // Nothing listens on the port: a connect failure, unavailable, at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let credential = direct(ManagedIdentityCredential::builder())
        .env(Arc::new(identity_core::env::MapEnv::new()))
        .imds_endpoint(format!("http://127.0.0.1:{port}"))
        .imds_probe(true)
        .build()
        .unwrap();
    assert_eq!(
        credential
            .get_token_blocking(&SCOPE.into())
            .unwrap_err()
            .kind(),
        ErrorKind::Unavailable
    );
}

#[test]
fn https_is_refused() {
    let emu = start();
    let credential = direct(builder(
        &emu,
        ManagedIdentitySource::AppService,
        &[("IDENTITY_ENDPOINT", "https://127.0.0.1:1/msi/token")],
    ))
    .build()
    .unwrap();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("plain http://"), "{e}");
}
