//! TRACE logs, errors and `Debug` output across token requests, retries and failures hold
//! none of the planted secrets (identity headers, the Azure ML secret, issued tokens).
#![cfg(feature = "ureq")]

mod common;

use common::*;
use identity_core::BlockingTokenCredential;
use identity_emulator::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

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
fn trace_logs_errors_and_debug_hold_no_secret() {
    const PLANTED: &str = "planted-token-in-an-error-body-5e11";
    let emu = start();
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let mut secrets = vec![
        emu.app_service_header().to_owned(),
        emu.azure_ml_secret().to_owned(),
        PLANTED.to_owned(),
    ];
    let mut outputs = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        for source in [
            ManagedIdentitySource::AppService,
            ManagedIdentitySource::AzureMl,
            ManagedIdentitySource::Arc,
            ManagedIdentitySource::Imds,
        ] {
            let credential = builder(&emu, source, &[]).build().unwrap();
            outputs.push(format!("{credential:?}"));
            let token = credential.get_token_blocking(&SCOPE.into()).unwrap();
            outputs.push(format!("{token:?}"));
            secrets.push(token.token().secret().to_owned());
        }
        // A retried failure whose body carries a token-like value.
        emu.inject_sequence(
            Endpoint::AppService,
            vec![
                Fault::status_with_body(
                    500,
                    format!(r#"{{"statusCode":500,"message":"x","access_token":"{PLANTED}"}}"#)
                );
                4
            ],
        );
        let clock = identity_core::clock::VirtualClock::new();
        let credential = virtual_builder(&emu, ManagedIdentitySource::AppService, &clock)
            .build()
            .unwrap();
        let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
        outputs.push(e.to_string());
        outputs.push(format!("{e:?}"));
        emu.inject(
            Endpoint::Imds,
            Fault::status_with_body(200, format!(r#"{{"access_token":"{PLANTED}"}}"#)),
        );
        let credential = builder(&emu, ManagedIdentitySource::Imds, &[])
            .build()
            .unwrap();
        let e = credential.get_token_blocking(&SCOPE.into()).unwrap_err();
        outputs.push(e.to_string());
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("ManagedIdentityCredential.get_token succeeded"),
        "{logs}"
    );
    assert!(logs.contains("retrying"), "{logs}");
    for secret in &secrets {
        assert!(secret.len() > 8);
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs:\n{logs}"
        );
        for out in &outputs {
            assert!(!out.contains(secret.as_str()), "a secret leaked into {out}");
        }
    }
}
