//! The blocking transport and the retry engine against a real HTTP server on 127.0.0.1.
#![cfg(feature = "ureq")]

mod support;

use identity_core::clock::VirtualClock;
use identity_core::env::MapEnv;
use identity_core::pipeline::BlockingPipeline;
use identity_core::retry::RetryPolicy;
use identity_core::transport::{TransportOptions, UreqClient};
use identity_core::{HttpClient, Request, TransportErrorKind};
use std::sync::Arc;
use std::time::Duration;
use support::{Scripted, Server, retry_script};

fn client() -> Arc<dyn HttpClient> {
    Arc::new(UreqClient::new(&TransportOptions::default()).unwrap())
}

#[test]
fn retries_429_then_500s_then_succeeds() {
    let server = Server::start(retry_script());
    let clock = VirtualClock::new();
    let pipeline = BlockingPipeline::new(client(), &MapEnv::new())
        .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
    let request = Request::post(server.url("/tenant/oauth2/v2.0/token"))
        .form([("grant_type", "client_credentials")]);
    let response = pipeline.send(request, &RetryPolicy::default()).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"ok":true}"#);
    assert_eq!(
        response.headers.get("content-type"),
        Some("application/json")
    );
    let seen = server.requests();
    assert_eq!(seen.len(), 4, "four attempts");
    assert!(
        seen.iter()
            .all(|r| r.method == "POST" && r.body == b"grant_type=client_credentials")
    );
    assert_eq!(
        clock.sleeps(),
        vec![
            Duration::from_secs(1),
            Duration::from_secs_f64(1.6),
            Duration::from_secs_f64(3.2)
        ]
    );
    let id = seen[0].header("x-ms-client-request-id").unwrap();
    assert!(
        seen.iter()
            .all(|r| r.header("x-ms-client-request-id") == Some(id))
    );
    assert!(
        seen[0]
            .header("user-agent")
            .unwrap()
            .starts_with("azsdk-rust-identity/")
    );
}

#[test]
fn real_waits_follow_retry_after_ms() {
    let server = Server::start(vec![
        Scripted::new(503, "").header("retry-after-ms", "150"),
        Scripted::new(200, "ok"),
    ]);
    let pipeline = BlockingPipeline::new(client(), &MapEnv::new());
    let started = std::time::Instant::now();
    let response = pipeline
        .send(Request::get(server.url("/x")), &RetryPolicy::default())
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(server.requests().len(), 2);
    // The wait really happened (a lower bound only; no upper bound on timing in tests).
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn non_2xx_is_a_response_and_redirects_are_not_followed() {
    let server = Server::start(vec![
        Scripted::new(302, "").header("Location", "http://127.0.0.1:1/elsewhere"),
        Scripted::new(401, "{\"error\":\"invalid_client\"}"),
    ]);
    let c = client();
    assert_eq!(c.send(&Request::get(server.url("/a"))).unwrap().status, 302);
    assert_eq!(c.send(&Request::get(server.url("/b"))).unwrap().status, 401);
}

#[test]
fn oversized_bodies_are_refused() {
    let big = vec![b'x'; identity_core::http::MAX_RESPONSE_BODY + 10];
    let server = Server::start(vec![Scripted::new(200, big)]);
    let e = client()
        .send(&Request::get(server.url("/big")))
        .unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge);
}

#[test]
fn timeouts_and_refused_connections_are_classified() {
    let server = Server::start(vec![
        Scripted::new(200, "late").delay(Duration::from_secs(2)),
    ]);
    let e = client()
        .send(&Request::get(server.url("/slow?resource=r")).timeout(Duration::from_millis(200)))
        .unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Timeout, "{e}");
    assert!(
        !e.to_string().contains("resource=r"),
        "query values are redacted: {e}"
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client()
        .send(&Request::get(format!("http://127.0.0.1:{port}/")))
        .unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Connect, "{e}");
}

#[test]
fn connect_failures_are_retried_three_times() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clock = VirtualClock::new();
    let pipeline = BlockingPipeline::new(client(), &MapEnv::new())
        .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
    let e = pipeline
        .send(
            Request::get(format!("http://127.0.0.1:{port}/")),
            &RetryPolicy::default(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Connect);
    assert_eq!(clock.sleeps().len(), 3);
}
