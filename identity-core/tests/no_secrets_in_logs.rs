//! Every log line at TRACE level, across a token request with a secret in the body, a secret
//! header, a token in the response and a failing retry, holds none of the planted secrets.
#![cfg(feature = "ureq")]

mod support;

use identity_core::env::MapEnv;
use identity_core::pipeline::BlockingPipeline;
use identity_core::protocol::entra::{self, ClientAuth, Grant, TokenRequestParams};
use identity_core::retry::RetryPolicy;
use identity_core::transport::{TransportOptions, UreqClient};
use identity_core::{Secret, TokenRequest};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use support::{Scripted, Server};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn trace_logs_hold_no_secret() {
    const SECRET: &str = "planted-client-secret-7f3a";
    const HEADER_SECRET: &str = "planted-identity-header-91b2";
    const TOKEN: &str = "planted-access-token-c0ffee";
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let server = Server::start(vec![
        Scripted::new(
            503,
            format!(r#"{{"error":"temporarily_unavailable","access_token":"{TOKEN}"}}"#),
        )
        .header("retry-after-ms", "10"),
        Scripted::new(
            200,
            format!(r#"{{"access_token":"{TOKEN}","expires_in":3600}}"#),
        ),
    ]);
    tracing::subscriber::with_default(subscriber, || {
        let client = Arc::new(UreqClient::new(&TransportOptions::default()).unwrap());
        let pipeline = BlockingPipeline::new(client, &MapEnv::new());
        let secret = Secret::new(SECRET);
        let scopes = TokenRequest::new("https://vault.azure.net/.default")
            .scopes()
            .to_vec();
        let scope = entra::join_scopes(&scopes);
        let endpoint = server.url("/tenant/oauth2/v2.0/token");
        let _span = entra::token_span("ClientSecretCredential", &scopes, Some("tenant")).entered();
        let request = entra::token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: "client",
            grant: Grant::ClientCredentials,
            client_auth: ClientAuth::Secret(&secret),
            scope: &scope,
            claims: None,
            client_info: false,
        })
        .header("X-IDENTITY-HEADER", HEADER_SECRET)
        .timeout(Duration::from_secs(10));
        tracing::debug!(?request, "sending");
        let response = pipeline.send(request, &RetryPolicy::default()).unwrap();
        tracing::debug!(?response, "received");
        let parsed = entra::parse_token_response(&response, SystemTime::now()).unwrap();
        tracing::info!(token = ?parsed.token, "got a token");
        assert_eq!(parsed.token.token().secret(), TOKEN);
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying"), "the retry was logged: {logs}");
    assert!(logs.contains("ClientSecretCredential"), "{logs}");
    for planted in [SECRET, HEADER_SECRET, TOKEN] {
        assert!(
            !logs.contains(planted),
            "{planted} leaked into the logs:\n{logs}"
        );
    }
    // The request really carried them.
    let seen = server.requests();
    assert!(String::from_utf8_lossy(&seen[0].body).contains(SECRET));
    assert_eq!(seen[0].header("x-identity-header"), Some(HEADER_SECRET));
}
