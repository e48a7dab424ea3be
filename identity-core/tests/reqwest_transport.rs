//! The async transport and the same retry engine against a real HTTP server on 127.0.0.1.
#![cfg(all(feature = "reqwest", feature = "tokio"))]

mod support;

use identity_core::clock::VirtualClock;
use identity_core::env::MapEnv;
use identity_core::pipeline::AsyncPipeline;
use identity_core::retry::RetryPolicy;
use identity_core::runtime::TokioSleep;
use identity_core::transport::{ReqwestClient, TransportOptions};
use identity_core::{AsyncHttpClient, Request, TransportErrorKind};
use std::sync::Arc;
use std::time::Duration;
use support::{Scripted, Server, retry_script};

fn client() -> Arc<dyn AsyncHttpClient> {
    Arc::new(ReqwestClient::new(&TransportOptions::default()).unwrap())
}

#[tokio::test]
async fn retries_429_then_500s_then_succeeds() {
    let server = Server::start(retry_script());
    let clock = VirtualClock::new();
    let pipeline = AsyncPipeline::new(client(), Arc::new(TokioSleep), &MapEnv::new())
        .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
    let request = Request::post(server.url("/tenant/oauth2/v2.0/token"))
        .form([("grant_type", "client_credentials")]);
    let response = pipeline
        .send(request, &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"ok":true}"#);
    let seen = server.requests();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter()
            .all(|r| r.body == b"grant_type=client_credentials")
    );
    assert_eq!(
        clock.sleeps(),
        vec![
            Duration::from_secs(1),
            Duration::from_secs_f64(1.6),
            Duration::from_secs_f64(3.2)
        ]
    );
}

#[tokio::test]
async fn real_sleep_on_tokio() {
    let server = Server::start(vec![
        Scripted::new(429, "").header("retry-after-ms", "120"),
        Scripted::new(200, "ok"),
    ]);
    let pipeline = AsyncPipeline::new(client(), Arc::new(TokioSleep), &MapEnv::new());
    let started = std::time::Instant::now();
    let response = pipeline
        .send(Request::get(server.url("/x")), &RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(120));
}

#[tokio::test]
async fn errors_are_classified() {
    let big = vec![b'x'; identity_core::http::MAX_RESPONSE_BODY + 10];
    let server = Server::start(vec![
        Scripted::new(200, big),
        Scripted::new(200, "late").delay(Duration::from_secs(2)),
        Scripted::new(302, "").header("Location", "http://127.0.0.1:1/"),
    ]);
    let c = client();
    let e = c.send(&Request::get(server.url("/big"))).await.unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge);
    let e = c
        .send(&Request::get(server.url("/slow?client_id=cid")).timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Timeout, "{e}");
    assert!(!e.to_string().contains("client_id=cid"), "{e}");
    assert_eq!(
        c.send(&Request::get(server.url("/moved")))
            .await
            .unwrap()
            .status,
        302
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = c
        .send(&Request::get(format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Connect, "{e}");
}
