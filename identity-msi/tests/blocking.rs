//! Every plain-HTTP source over real sockets against identity-emulator, blocking.
#![cfg(feature = "ureq")]

mod common;

use common::*;
use identity_core::clock::VirtualClock;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenRequest};
use identity_emulator::*;
use identity_msi::{ManagedIdentityCredential, ManagedIdentityId, ManagedIdentitySource as Source};
use std::sync::Arc;
use std::time::Duration;

fn token_oid(emu: &Emulator, credential: &ManagedIdentityCredential) -> String {
    let token = credential
        .get_token_blocking(&SCOPE.into())
        .unwrap_or_else(|e| panic!("{e}"));
    let claims = emu
        .verify_access_token(token.token().secret())
        .expect("a token the emulator issued");
    assert_eq!(claims.aud(), Some(ARM));
    assert!(token.expires_on() > std::time::SystemTime::now());
    claims.oid().expect("oid").to_owned()
}

fn user_ids() -> [ManagedIdentityId; 3] {
    [
        ManagedIdentityId::ClientId(USER_ASSIGNED_CLIENT_ID.into()),
        ManagedIdentityId::ObjectId(USER_ASSIGNED_OBJECT_ID.into()),
        ManagedIdentityId::ResourceId(USER_ASSIGNED_RESOURCE_ID.into()),
    ]
}

#[test]
fn every_plain_source_system_and_user_assigned() {
    let emu = start();
    for (source, emulated, endpoint) in [
        (Source::Imds, ManagedIdentitySource::Imds, Endpoint::Imds),
        (
            Source::AppService,
            ManagedIdentitySource::AppService,
            Endpoint::AppService,
        ),
        (
            Source::AzureMl,
            ManagedIdentitySource::AzureMl,
            Endpoint::AzureMl,
        ),
        (Source::AzureArc, ManagedIdentitySource::Arc, Endpoint::Arc),
    ] {
        let credential = builder(&emu, emulated, &[]).build().unwrap();
        assert_eq!(credential.source(), source);
        assert_eq!(
            token_oid(&emu, &credential),
            SYSTEM_ASSIGNED_OBJECT_ID,
            "{source}"
        );
        for id in user_ids() {
            let credential = builder(&emu, emulated, &[])
                .identity(id.clone())
                .build()
                .unwrap();
            assert_eq!(
                token_oid(&emu, &credential),
                USER_ASSIGNED_OBJECT_ID,
                "{source} {id:?}"
            );
        }
        assert!(count(&emu, endpoint) >= 4, "{source}");
    }
    // The wire parameters of §6.2.
    let q = |e: Endpoint, name: &str| {
        emu.requests_for(e)
            .iter()
            .any(|r| r.query_param(name).is_some())
    };
    assert!(
        q(Endpoint::Imds, "msi_res_id")
            && q(Endpoint::Imds, "object_id")
            && q(Endpoint::Imds, "client_id")
    );
    assert!(q(Endpoint::AppService, "mi_res_id"));
    assert!(q(Endpoint::AzureMl, "clientid"));
    assert!(q(Endpoint::Arc, "msi_res_id"));
    // Arc: a challenge then the token request with the key, per token.
    let arc = emu.requests_for(Endpoint::Arc);
    assert_eq!(arc.len(), 8);
    assert_eq!(arc[0].status, Some(401));
    assert_eq!(arc[1].header("authorization"), Some(MASK));
    assert_eq!(arc[1].status, Some(200));
}

#[test]
fn cloud_shell() {
    let emu = start();
    let credential = builder(&emu, ManagedIdentitySource::CloudShell, &[])
        .build()
        .unwrap();
    assert_eq!(credential.source(), Source::CloudShell);
    let token = credential.get_token_blocking(&SCOPE.into()).unwrap();
    let claims = emu.verify_access_token(token.token().secret()).unwrap();
    assert_eq!(claims.oid(), Some(DEFAULT_USER_OBJECT_ID));
    let r = &emu.requests_for(Endpoint::CloudShell)[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.form_field("resource"), Some(ARM));
    assert_eq!(r.header("metadata"), Some("true"));
    // An explicit user-assigned id is refused at build…
    let e = builder(&emu, ManagedIdentitySource::CloudShell, &[])
        .identity(ManagedIdentityId::ClientId("c".into()))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(
        e.message()
            .starts_with("client_id should not be set for cloud shell managed identity.")
    );
    // …one from AZURE_CLIENT_ID is sent as a form field (as inside DefaultAzureCredential).
    let credential = builder(
        &emu,
        ManagedIdentitySource::CloudShell,
        &[("AZURE_CLIENT_ID", "from-env")],
    )
    .build()
    .unwrap();
    credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert_eq!(
        emu.requests_for(Endpoint::CloudShell)[1].form_field("client_id"),
        Some("from-env")
    );
}

#[test]
fn azure_client_id_is_honoured_unless_system_assigned_is_forced() {
    let emu = start();
    let extra = [("AZURE_CLIENT_ID", USER_ASSIGNED_CLIENT_ID)];
    let credential = builder(&emu, ManagedIdentitySource::Imds, &extra)
        .build()
        .unwrap();
    assert_eq!(
        credential.identity(),
        &ManagedIdentityId::ClientId(USER_ASSIGNED_CLIENT_ID.into())
    );
    assert_eq!(token_oid(&emu, &credential), USER_ASSIGNED_OBJECT_ID);
    let credential = builder(&emu, ManagedIdentitySource::Imds, &extra)
        .identity(ManagedIdentityId::SystemAssigned)
        .build()
        .unwrap();
    assert_eq!(token_oid(&emu, &credential), SYSTEM_ASSIGNED_OBJECT_ID);
    // An empty AZURE_CLIENT_ID is unset.
    let credential = builder(
        &emu,
        ManagedIdentitySource::AppService,
        &[("AZURE_CLIENT_ID", "")],
    )
    .build()
    .unwrap();
    assert_eq!(credential.identity(), &ManagedIdentityId::SystemAssigned);
}

#[test]
fn tokens_are_cached_and_claims_bypass_the_cache() {
    let emu = start();
    let credential = builder(&emu, ManagedIdentitySource::AppService, &[])
        .build()
        .unwrap();
    let first = credential.get_token_blocking(&SCOPE.into()).unwrap();
    let second = credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert_eq!(first.token().secret(), second.token().secret());
    assert_eq!(count(&emu, Endpoint::AppService), 1);
    // Tenant and CAE are ignored by the protocol (but keep separate cache entries).
    credential
        .get_token_blocking(&TokenRequest::new(SCOPE).with_claims(r#"{"access_token":{}}"#))
        .unwrap();
    assert_eq!(count(&emu, Endpoint::AppService), 2);
    let e = credential
        .get_token_blocking(&["a/.default", "b/.default"].into())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        e.message(),
        "This credential requires exactly one scope per token request."
    );
    assert_eq!(count(&emu, Endpoint::AppService), 2);
}

#[test]
fn unknown_platform_is_unavailable() {
    let emu = start();
    let credential = ManagedIdentityCredential::builder()
        .env(Arc::new(
            identity_core::env::MapEnv::new().with("IDENTITY_ENDPOINT", emu.app_service_endpoint()),
        ))
        .build()
        .unwrap();
    assert_eq!(credential.source(), Source::Unknown);
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().contains("No managed identity endpoint found."));
    assert!(emu.requests().is_empty());
}

// ----- IMDS faults: outcome and attempt count from the emulator's log ---------------------------

fn imds_fault(
    faults: Vec<Fault>,
    id: Option<ManagedIdentityId>,
) -> (
    Emulator,
    VirtualClock,
    identity_core::Result<identity_core::AccessToken>,
) {
    let emu = start();
    emu.inject_sequence(Endpoint::Imds, faults);
    let clock = VirtualClock::new();
    let mut b = virtual_builder(&emu, ManagedIdentitySource::Imds, &clock);
    if let Some(id) = id {
        b = b.identity(id);
    }
    let result = b.build().unwrap().get_token_blocking(&SCOPE.into());
    (emu, clock, result)
}

#[test]
fn imds_retries_5xx_six_attempts_then_fails_authentication() {
    let (emu, clock, r) = imds_fault(vec![Fault::status(503); 6], None);
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.status(), Some(503));
    assert_eq!(count(&emu, Endpoint::Imds), 6);
    assert_eq!(clock.sleeps(), secs(&[0.0, 1.6, 3.2, 6.4, 12.8]));
}

#[test]
fn imds_410_keeps_trying_for_at_least_70_seconds() {
    let (emu, clock, r) = imds_fault(vec![Fault::status(410); 6], None);
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Authentication);
    assert_eq!(count(&emu, Endpoint::Imds), 6);
    assert_eq!(clock.sleeps(), secs(&[0.0, 5.0, 10.0, 20.0, 40.0]));
    assert!(clock.sleeps().iter().sum::<Duration>() >= Duration::from_secs(70));
    // Recovery within the schedule yields a token.
    let (emu, clock, r) = imds_fault(
        vec![Fault::status(410), Fault::status(410), Fault::Pass],
        None,
    );
    r.unwrap();
    assert_eq!(count(&emu, Endpoint::Imds), 3);
    assert_eq!(clock.sleeps(), secs(&[0.0, 5.0]));
}

#[test]
fn imds_retries_404_and_429_with_retry_after() {
    let (emu, _, r) = imds_fault(vec![Fault::status(404); 6], None);
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Authentication);
    assert_eq!(count(&emu, Endpoint::Imds), 6);
    let (emu, clock, r) = imds_fault(
        vec![Fault::status_with_retry_after(429, 7), Fault::Pass],
        None,
    );
    r.unwrap();
    assert_eq!(count(&emu, Endpoint::Imds), 2);
    assert_eq!(clock.sleeps(), secs(&[7.0]));
}

#[test]
fn imds_400_is_unavailable_for_system_and_a_failure_for_user_assigned() {
    let (emu, _, r) = imds_fault(vec![Fault::status(400)], None);
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.message()
            .contains("No identity has been assigned to this resource."),
        "{e}"
    );
    assert_eq!(count(&emu, Endpoint::Imds), 1);
    // Unknown user-assigned identity: the emulator's own 400 "Identity not found".
    let (emu, _, r) = imds_fault(
        vec![],
        Some(ManagedIdentityId::ClientId(
            "11111111-0000-4000-8000-000000000000".into(),
        )),
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("Identity not found"), "{e}");
    assert_eq!(count(&emu, Endpoint::Imds), 1);
}

#[test]
fn imds_docker_desktop_403_is_unavailable() {
    let body = "connecting to 169.254.169.254:80: connecting to 169.254.169.254:80: dial tcp 169.254.169.254:80: connectex: A socket operation was attempted to an unreachable network.";
    let (emu, _, r) = imds_fault(vec![Fault::status_with_body(403, body)], None);
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Unavailable);
    assert_eq!(count(&emu, Endpoint::Imds), 1);
    let (_, _, r) = imds_fault(vec![Fault::status(403)], None);
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Authentication);
}

#[test]
fn imds_bad_bodies_are_unavailable() {
    for fault in [
        Fault::MalformedJson,
        Fault::EmptyBody,
        Fault::HugeBody {
            bytes: 2 * 1024 * 1024,
        },
    ] {
        let (emu, _, r) = imds_fault(vec![fault.clone()], None);
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{fault:?}: {e}");
        assert_eq!(count(&emu, Endpoint::Imds), 1, "{fault:?}");
    }
    // A JSON token under another content type is still a token (§6.9 reads the body).
    let (_, _, r) = imds_fault(vec![Fault::wrong_content_type()], None);
    r.unwrap();
    let (_, _, r) = imds_fault(vec![Fault::delay(Duration::from_millis(50))], None);
    r.unwrap();
}

#[test]
fn imds_connection_resets_are_retried_then_unavailable() {
    let (emu, clock, r) = imds_fault(vec![Fault::ConnectionReset; 6], None);
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().starts_with("ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint."), "{e}");
    // Read errors: 3 retries.
    assert_eq!(count(&emu, Endpoint::Imds), 4);
    assert_eq!(clock.sleeps().len(), 3);
}

#[test]
fn a_hanging_imds_is_bounded_by_the_request_timeout() {
    let emu = start();
    emu.inject_sequence(Endpoint::Imds, vec![Fault::Hang; 4]);
    let clock = VirtualClock::new();
    let credential = virtual_builder(&emu, ManagedIdentitySource::Imds, &clock)
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    println!(
        "4 hung attempts of 300 ms each took {:?}",
        started.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(count(&emu, Endpoint::Imds), 4);
}

// ----- other sources' faults ---------------------------------------------------------------------

#[test]
fn app_service_errors() {
    let emu = start();
    let clock = VirtualClock::new();
    let credential = virtual_builder(&emu, ManagedIdentitySource::AppService, &clock)
        .build()
        .unwrap();
    emu.inject(Endpoint::AppService, Fault::status(400));
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(
        e.message(),
        "ManagedIdentityCredential authentication unavailable. App Service managed identity configuration not found in environment. Token request error: (invalid_scope) 400, Injected fault: HTTP 400"
    );
    assert_eq!(count(&emu, Endpoint::AppService), 1);
    // 500: the default policy, 3 retries.
    emu.clear_requests();
    emu.inject_sequence(Endpoint::AppService, vec![Fault::status(500); 4]);
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(count(&emu, Endpoint::AppService), 4);
    assert_eq!(clock.sleeps(), secs(&[0.0, 1.6, 3.2]));
    // Transport failures and unusable bodies are authentication failures naming the cause.
    for (fault, attempts, words) in [
        (Fault::ConnectionReset, 4, "could not be reached"),
        (Fault::MalformedJson, 1, "Failed to deserialize JSON"),
        (Fault::EmptyBody, 1, "No token received."),
        (
            Fault::HugeBody {
                bytes: 2 * 1024 * 1024,
            },
            1,
            "larger than",
        ),
    ] {
        emu.clear_requests();
        emu.inject_sequence(Endpoint::AppService, vec![fault.clone(); attempts]);
        let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication, "{fault:?}");
        assert!(e.message().contains(words), "{fault:?}: {e}");
        assert_eq!(count(&emu, Endpoint::AppService), attempts, "{fault:?}");
    }
    // A wrong header: 401 from the emulator, unavailable.
    let credential = builder(
        &emu,
        ManagedIdentitySource::AppService,
        &[("IDENTITY_HEADER", "wrong")],
    )
    .build()
    .unwrap();
    assert_eq!(
        credential
            .get_token_blocking(&SCOPE.into())
            .unwrap_err()
            .status(),
        Some(401)
    );
}

#[test]
fn azure_ml_date_strings_and_errors() {
    let emu = start();
    emu.update_settings(|s| s.azure_ml_expires_on = ExpiresOnFormat::DateString);
    let credential = builder(&emu, ManagedIdentitySource::AzureMl, &[])
        .build()
        .unwrap();
    let token = credential.get_token_blocking(&SCOPE.into()).unwrap();
    let lifetime = token
        .expires_on()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(lifetime > Duration::from_secs(86_000), "{lifetime:?}");
    emu.update_settings(|s| s.azure_ml_expires_on = ExpiresOnFormat::Epoch);
    let credential = builder(&emu, ManagedIdentitySource::AzureMl, &[])
        .build()
        .unwrap();
    credential.get_token_blocking(&SCOPE.into()).unwrap();
    let credential = builder(
        &emu,
        ManagedIdentitySource::AzureMl,
        &[("MSI_SECRET", "wrong")],
    )
    .build()
    .unwrap();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().contains("Azure ML managed identity configuration not found in environment. Token request error: (invalid_scope) 401"), "{e}");
}

#[test]
fn cloud_shell_errors() {
    let emu = start();
    emu.inject(Endpoint::CloudShell, Fault::status(400));
    let credential = builder(&emu, ManagedIdentitySource::CloudShell, &[])
        .build()
        .unwrap();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().ends_with("Cloud Shell managed identity configuration not found in environment. Token request error: (unknown_error) Injected fault: HTTP 400"), "{e}");
    assert_eq!(count(&emu, Endpoint::CloudShell), 1);
}

#[test]
fn arc_key_file_rules_and_errors() {
    let emu = start();
    // The default directory is /var/opt/azcmagent/tokens: the emulator's key file is elsewhere.
    let credential = ManagedIdentityCredential::builder()
        .env(Arc::new(env(&emu, ManagedIdentitySource::Arc, &[])))
        .arc_key_directory("/var/opt/azcmagent/tokens")
        .build()
        .unwrap();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("The key file path is invalid"), "{e}");
    assert_eq!(count(&emu, Endpoint::Arc), 1);
    // A challenge that is not 401.
    emu.clear_requests();
    emu.inject(Endpoint::Arc, Fault::status(400));
    let credential = builder(&emu, ManagedIdentitySource::Arc, &[])
        .build()
        .unwrap();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().contains("Azure Arc managed identity configuration not found in environment. Token request error: (invalid_request)"), "{e}");
    assert_eq!(count(&emu, Endpoint::Arc), 1);
    // A failing token request after a good challenge.
    emu.clear_requests();
    emu.inject_sequence(Endpoint::Arc, vec![Fault::Pass, Fault::status(400)]);
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(count(&emu, Endpoint::Arc), 2);
    // An unknown user-assigned id.
    let credential = builder(&emu, ManagedIdentitySource::Arc, &[])
        .identity(ManagedIdentityId::ObjectId(
            "11111111-0000-4000-8000-000000000000".into(),
        ))
        .build()
        .unwrap();
    assert!(
        credential
            .get_token_blocking(&SCOPE.into())
            .unwrap_err()
            .message()
            .contains("Identity not found")
    );
}

// ----- the probe ---------------------------------------------------------------------------------

#[test]
fn probe_once_then_real_requests() {
    let emu = start();
    let credential = ManagedIdentityCredential::builder()
        .env(Arc::new(identity_core::env::MapEnv::new()))
        .imds_endpoint(emu.imds_base())
        .imds_probe(true)
        .build()
        .unwrap();
    credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert!(credential.imds_probe_succeeded());
    let log = emu.requests_for(Endpoint::Imds);
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].header("metadata"), None);
    assert_eq!(log[0].status, Some(400));
    assert_eq!(log[1].header("metadata"), Some("true"));
    // No second probe.
    credential
        .get_token_blocking(&TokenRequest::new(SCOPE).with_claims("{}"))
        .unwrap();
    assert_eq!(count(&emu, Endpoint::Imds), 3);
}

#[test]
fn probe_is_skipped_with_the_pod_identity_override() {
    let emu = start();
    let credential = builder(&emu, ManagedIdentitySource::Imds, &[])
        .imds_probe(true)
        .build()
        .unwrap();
    credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert_eq!(count(&emu, Endpoint::Imds), 1);
    assert!(!credential.imds_probe_succeeded());
}

#[test]
fn probe_of_a_silent_endpoint_is_unavailable() {
    let base = silent_listener();
    let credential = ManagedIdentityCredential::builder()
        .env(Arc::new(identity_core::env::MapEnv::new()))
        .imds_endpoint(base)
        .imds_probe(true)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
    println!(
        "probe of a silent endpoint (blocking) returned after {:?}",
        started.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().starts_with("ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint."), "{e}");
    assert!(!credential.imds_probe_succeeded());
}

#[test]
fn probe_of_a_hanging_emulator_and_docker_desktop() {
    let emu = start();
    let probing = || {
        ManagedIdentityCredential::builder()
            .env(Arc::new(identity_core::env::MapEnv::new()))
            .imds_endpoint(emu.imds_base())
            .imds_probe(true)
            .build()
            .unwrap()
    };
    emu.inject(Endpoint::Imds, Fault::Hang);
    let e = probing().get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(count(&emu, Endpoint::Imds), 1);
    emu.clear_requests();
    emu.inject(
        Endpoint::Imds,
        Fault::status_with_body(
            403,
            "A socket operation was attempted to an unreachable network.",
        ),
    );
    let e = probing().get_token_blocking(&SCOPE.into()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.message()
            .starts_with("ManagedIdentityCredential authentication unavailable. Error:"),
        "{e}"
    );
    assert_eq!(count(&emu, Endpoint::Imds), 1);
}

#[test]
fn proactive_refresh_at_half_life_and_stale_if_error() {
    let emu = start();
    emu.set_managed_identity_token_lifetime(Duration::from_secs(7300));
    let clock = VirtualClock::starting_at(std::time::SystemTime::now());
    let credential = virtual_builder(&emu, ManagedIdentitySource::AppService, &clock)
        .build()
        .unwrap();
    let first = credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert!(first.refresh_on().is_some());
    clock.advance(Duration::from_secs(1800));
    credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert_eq!(count(&emu, Endpoint::AppService), 1);
    // Past half-life (3650 s): a refresh is tried; it fails, and the still-valid token is returned.
    clock.advance(Duration::from_secs(1900));
    emu.inject(Endpoint::AppService, Fault::status(400));
    let stale = credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert_eq!(stale.token().secret(), first.token().secret());
    assert_eq!(count(&emu, Endpoint::AppService), 2);
    // After the cache's failure backoff, the next call refreshes.
    clock.advance(Duration::from_secs(120));
    let fresh = credential.get_token_blocking(&SCOPE.into()).unwrap();
    assert_eq!(count(&emu, Endpoint::AppService), 3);
    assert_ne!(fresh.token().secret(), first.token().secret());
}

/// What a fault does to one source: the outcome (`None` = a token) and the attempts logged.
type Expectation = (Fault, usize, Option<ErrorKind>, usize);

fn run_faults(source: ManagedIdentitySource, endpoint: Endpoint, table: &[Expectation]) {
    for (fault, queued, kind, attempts) in table {
        let emu = start();
        emu.inject_sequence(endpoint, vec![fault.clone(); *queued]);
        let clock = VirtualClock::new();
        let credential = virtual_builder(&emu, source, &clock)
            .request_timeout(timeout_for(fault))
            .build()
            .unwrap();
        let result = credential.get_token_blocking(&SCOPE.into());
        match (kind, &result) {
            (None, Ok(_)) => {}
            (Some(k), Err(e)) => assert_eq!(e.kind(), *k, "{source:?} {fault:?}: {e}"),
            _ => panic!("{source:?} {fault:?}: expected {kind:?}, got {result:?}"),
        }
        assert_eq!(count(&emu, endpoint), *attempts, "{source:?} {fault:?}");
    }
}

#[test]
fn every_fault_on_every_plain_source() {
    use ErrorKind::{Authentication as Auth, Unavailable as Unav};
    let huge = Fault::HugeBody {
        bytes: 2 * 1024 * 1024,
    };
    let common: Vec<Expectation> = vec![
        (Fault::status(500), 4, Some(Unav), 4),
        (Fault::status(400), 1, Some(Unav), 1),
        (Fault::status_with_retry_after(429, 1), 4, Some(Unav), 4),
        (Fault::MalformedJson, 1, Some(Auth), 1),
        (Fault::EmptyBody, 1, Some(Auth), 1),
        (huge.clone(), 1, Some(Auth), 1),
        (Fault::wrong_content_type(), 1, None, 1),
        (Fault::ConnectionReset, 4, Some(Auth), 4),
        (Fault::Hang, 4, Some(Auth), 4),
        (Fault::delay(Duration::from_millis(20)), 1, None, 1),
    ];
    for (source, endpoint) in [
        (ManagedIdentitySource::AppService, Endpoint::AppService),
        (ManagedIdentitySource::AzureMl, Endpoint::AzureMl),
        (ManagedIdentitySource::CloudShell, Endpoint::CloudShell),
    ] {
        run_faults(source, endpoint, &common);
    }
    // Arc: the fault hits the challenge; a challenge that is not a 401 is "unavailable".
    run_faults(
        ManagedIdentitySource::Arc,
        Endpoint::Arc,
        &[
            (Fault::status(500), 4, Some(Unav), 4),
            (Fault::MalformedJson, 1, Some(Unav), 1),
            (Fault::EmptyBody, 1, Some(Unav), 1),
            (huge, 1, Some(Auth), 1),
            (Fault::wrong_content_type(), 1, None, 2),
            (Fault::ConnectionReset, 4, Some(Auth), 4),
            (Fault::Hang, 4, Some(Auth), 4),
            (Fault::delay(Duration::from_millis(20)), 1, None, 2),
        ],
    );
    // IMDS: 6 attempts for retryable statuses; bodies and transport failures are "unavailable".
    run_faults(
        ManagedIdentitySource::Imds,
        Endpoint::Imds,
        &[
            (Fault::status(500), 6, Some(Auth), 6),
            (Fault::status(410), 6, Some(Auth), 6),
            (Fault::status(404), 6, Some(Auth), 6),
            (Fault::status_with_retry_after(429, 1), 6, Some(Auth), 6),
            (Fault::status(400), 1, Some(Unav), 1),
            (Fault::MalformedJson, 1, Some(Unav), 1),
            (Fault::EmptyBody, 1, Some(Unav), 1),
            (Fault::wrong_content_type(), 1, None, 1),
            (Fault::ConnectionReset, 4, Some(Unav), 4),
            (Fault::Hang, 4, Some(Unav), 4),
        ],
    );
}
