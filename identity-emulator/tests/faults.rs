//! Fault injection and the request log, over real sockets.

mod common;

use std::time::{Duration, Instant};

use common::*;
use identity_emulator::*;

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).unwrap()
}

fn imds(emu: &Emulator) -> std::io::Result<Response> {
    imds_with_timeout(emu, Duration::from_secs(20))
}

fn imds_with_timeout(emu: &Emulator, t: Duration) -> std::io::Result<Response> {
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net",
        emu.imds_base()
    );
    request_with_timeout("GET", &url, &[("Metadata", "true")], None, &Trust::None, t)
}

fn secret_token(emu: &Emulator) -> std::io::Result<Response> {
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
        ("scope", "https://vault.azure.net/.default"),
    ]);
    request_with_timeout(
        "POST",
        &emu.token_endpoint(DEFAULT_TENANT_ID),
        &[],
        Some(("application/x-www-form-urlencoded", &body)),
        &ca(emu),
        Duration::from_secs(20),
    )
}

#[test]
fn status_sequence_then_normal_answers() {
    let emu = start();
    emu.inject_sequence(
        Endpoint::Imds,
        [
            Fault::status(503),
            Fault::status_with_retry_after(429, 2),
            Fault::Pass,
            Fault::status(410),
        ],
    );
    assert_eq!(emu.pending_faults(Endpoint::Imds), 4);
    let r = imds(&emu).unwrap();
    assert_eq!(r.status, 503);
    assert!(r.json()["error"].is_string());
    let r = imds(&emu).unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(imds(&emu).unwrap().status, 200);
    assert_eq!(imds(&emu).unwrap().status, 410);
    assert_eq!(imds(&emu).unwrap().status, 200);
    assert_eq!(emu.pending_faults(Endpoint::Imds), 0);
    let statuses: Vec<_> = emu
        .requests_for(Endpoint::Imds)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [Some(503), Some(429), Some(200), Some(410), Some(200)]
    );
    assert_eq!(
        emu.requests_for(Endpoint::Imds)[0].fault.as_deref(),
        Some("status 503")
    );
}

#[test]
fn status_faults_use_each_family_error_shape_or_a_given_body() {
    let emu = start();
    emu.inject(Endpoint::Token, Fault::status(500));
    let body = secret_token(&emu).unwrap().json();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );
    let header = emu.app_service_header().to_owned();
    emu.inject(Endpoint::AppService, Fault::status(500));
    let r = get(
        &format!(
            "{}?api-version=2019-08-01&resource=x",
            emu.app_service_endpoint()
        ),
        &[("X-IDENTITY-HEADER", &header)],
        &Trust::None,
    );
    assert_eq!(r.json()["statusCode"], 500);
    emu.inject(
        Endpoint::Imds,
        Fault::status_with_body(
            400,
            r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
        ),
    );
    assert_eq!(
        imds(&emu).unwrap().json()["error_description"],
        "Identity not found"
    );
    // Faults are per endpoint: the token endpoint is untouched by IMDS faults.
    emu.inject(Endpoint::Imds, Fault::status(500));
    assert_eq!(secret_token(&emu).unwrap().status, 200);
    emu.clear_faults();
    assert_eq!(imds(&emu).unwrap().status, 200);
}

#[test]
fn delay_and_hang() {
    let emu = start();
    emu.inject(Endpoint::Imds, Fault::delay(Duration::from_millis(300)));
    let t = Instant::now();
    assert_eq!(imds(&emu).unwrap().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    emu.inject(Endpoint::Imds, Fault::Hang);
    let t = Instant::now();
    let err = imds_with_timeout(&emu, Duration::from_millis(500)).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    // The hung request is recorded without a status, and the emulator still answers others.
    assert_eq!(
        emu.requests_for(Endpoint::Imds).last().unwrap().status,
        None
    );
    assert_eq!(imds(&emu).unwrap().status, 200);
    // Dropping an emulator with a hung connection does not block.
    emu.inject(Endpoint::Imds, Fault::Hang);
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x",
        emu.imds_base()
    );
    let waiter = std::thread::spawn(move || {
        request_with_timeout(
            "GET",
            &url,
            &[("Metadata", "true")],
            None,
            &Trust::None,
            Duration::from_secs(10),
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(waiter.join().unwrap().is_err());
}

#[test]
fn malformed_empty_huge_and_wrong_content_type() {
    let emu = start();
    emu.inject(Endpoint::Imds, Fault::MalformedJson);
    let r = imds(&emu).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    emu.inject(Endpoint::Imds, Fault::EmptyBody);
    let r = imds(&emu).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));
    emu.inject(Endpoint::Token, Fault::HugeBody { bytes: 5_000_000 });
    let r = secret_token(&emu).unwrap();
    assert!(r.body.len() >= 4_999_000, "{}", r.body.len());
    assert!(r.json().get("access_token").is_none());
    emu.inject(Endpoint::Imds, Fault::wrong_content_type());
    let r = imds(&emu).unwrap();
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.json()["access_token"].is_string());
}

#[test]
fn connection_reset_over_http_and_https() {
    let emu = start();
    emu.inject(Endpoint::Imds, Fault::ConnectionReset);
    let err = imds(&emu).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionAborted
        ),
        "{err:?}"
    );
    emu.inject(Endpoint::Token, Fault::ConnectionReset);
    assert!(secret_token(&emu).is_err());
    assert_eq!(secret_token(&emu).unwrap().status, 200);
    assert_eq!(
        emu.requests_for(Endpoint::Token)[0].fault.as_deref(),
        Some("connection reset")
    );
}

#[test]
fn recorded_requests_mask_secrets() {
    let emu = start();
    assert_eq!(secret_token(&emu).unwrap().status, 200);
    let header = emu.app_service_header().to_owned();
    get(
        &format!(
            "{}?api-version=2019-08-01&resource=x",
            emu.app_service_endpoint()
        ),
        &[("X-IDENTITY-HEADER", &header)],
        &Trust::None,
    );
    let url = format!(
        "{}?api-version=7.1&serviceConnectionId={DEFAULT_SERVICE_CONNECTION_ID}",
        emu.pipelines_oidc_request_uri()
    );
    request(
        "POST",
        &url,
        &[(
            "Authorization",
            &format!("Bearer {DEFAULT_SYSTEM_ACCESS_TOKEN}"),
        )],
        None,
        &ca(&emu),
    );
    let log = emu.requests();
    assert_eq!(log.len(), 3);
    let token = &log[0];
    assert_eq!(
        (token.method.as_str(), token.endpoint, token.listener),
        ("POST", Some(Endpoint::Token), Listener::Entra)
    );
    assert_eq!(token.form_field("client_secret"), Some(MASK));
    assert_eq!(token.form_field("client_id"), Some(DEFAULT_CLIENT_ID));
    assert_eq!(
        token.form_field("scope"),
        Some("https://vault.azure.net/.default")
    );
    assert_eq!(log[1].header("x-identity-header"), Some(MASK));
    assert_eq!(log[1].query_param("api-version"), Some("2019-08-01"));
    assert_eq!(log[2].header("authorization"), Some(MASK));
    let dump = format!("{log:?}{}", serde_json::to_string(&log).unwrap());
    for secret in [
        DEFAULT_CLIENT_SECRET,
        header.as_str(),
        DEFAULT_SYSTEM_ACCESS_TOKEN,
    ] {
        assert!(
            !dump.contains(secret),
            "a secret leaked into the request log"
        );
    }
    emu.clear_requests();
    assert!(emu.requests().is_empty());
}

#[test]
fn unknown_paths_are_404_and_recorded() {
    let emu = start();
    let r = get(&format!("{}/nope", emu.mi_url()), &[], &Trust::None);
    assert_eq!(r.status, 404);
    assert_eq!(emu.requests()[0].endpoint, None);
    assert_eq!(emu.requests()[0].status, Some(404));
}
