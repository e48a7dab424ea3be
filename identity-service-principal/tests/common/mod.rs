//! Shared test helpers: an emulator, options that trust it, and log capture.
#![allow(dead_code, unreachable_pub)]

use identity_core::env::MapEnv;
use identity_core::transport::TransportOptions;
use identity_emulator::{Emulator, EmulatorConfig};
use identity_service_principal::CredentialOptions;
use std::io::Write;
use std::sync::{Arc, Mutex};

pub const SCOPE: &str = "https://vault.azure.net/.default";

pub fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator starts")
}

/// The emulator's environment (authority, tenant, client id, secret, …) as a MapEnv.
pub fn emu_env(emu: &Emulator) -> MapEnv {
    emu.env_vars().into_iter().collect()
}

/// Options that trust the emulator's CA and read `env`.
pub fn options(emu: &Emulator, env: MapEnv) -> CredentialOptions {
    let mut o = CredentialOptions::default();
    o.env = Arc::new(env);
    o.transport_options = TransportOptions::default().with_root_certificate_pem(emu.ca_pem());
    o
}

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `f` with every log line at TRACE captured on this thread; returns its result and the
/// logs. Async code runs in `f` on a current-thread runtime so its logs are captured too.
pub fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    (r, captured.text())
}

/// Asserts that the logs hold none of `secrets`, and no JWT (`eyJ…`): no token, no assertion.
pub fn assert_no_secrets(logs: &str, secrets: &[&str]) {
    assert!(!logs.is_empty(), "nothing was logged");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!logs.contains(s), "a secret leaked into the logs: {logs}");
    }
    assert!(!logs.contains("eyJ"), "a JWT leaked into the logs: {logs}");
}

/// A current-thread tokio runtime (keeps async logs on the capturing thread).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
