//! Shared test helpers: an emulator, options that trust it, log capture.
#![allow(dead_code, unreachable_pub)]

use identity_core::clock::VirtualClock;
use identity_core::env::MapEnv;
use identity_core::transport::TransportOptions;
use identity_emulator::{Emulator, EmulatorConfig, Endpoint, RecordedRequest};
use identity_interactive::InteractiveOptions;
use std::io::Write;
use std::sync::{Arc, Mutex};

pub const SCOPE: &str = "https://vault.azure.net/.default";
pub const OTHER_SCOPE: &str = "https://storage.azure.com/.default";

pub fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("emulator starts")
}

/// The emulator's environment as a MapEnv (authority host, tenant, …).
pub fn emu_env(emu: &Emulator) -> MapEnv {
    emu.env_vars().into_iter().collect()
}

/// Options that trust the emulator's CA and read `env`, on the real clock.
pub fn options(emu: &Emulator, env: MapEnv) -> InteractiveOptions {
    let mut o = InteractiveOptions::default();
    o.env = Arc::new(env);
    o.transport_options = TransportOptions::default().with_root_certificate_pem(emu.ca_pem());
    o
}

/// Options on a virtual clock (both sleeps too): long polls take no time.
pub fn virtual_options(emu: &Emulator, clock: &Arc<VirtualClock>) -> InteractiveOptions {
    let mut o = options(emu, emu_env(emu));
    o.clock = clock.clone();
    o.blocking_sleep = clock.clone();
    o.async_sleep = Some(clock.clone());
    o
}

/// The value of a form field of a recorded request.
pub fn form<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.form
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Token-endpoint requests with this grant type.
pub fn grants(emu: &Emulator, grant: &str) -> Vec<RecordedRequest> {
    emu.requests_for(Endpoint::Token)
        .into_iter()
        .filter(|r| form(r, "grant_type") == Some(grant))
        .collect()
}

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

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

/// Runs `f` with every log line at TRACE captured on this thread.
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

/// Asserts that the logs hold none of `secrets`, and no JWT.
pub fn assert_no_secrets(logs: &str, secrets: &[&str]) {
    assert!(!logs.is_empty(), "nothing was logged");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!logs.contains(s), "a secret leaked into the logs: {logs}");
    }
    assert!(!logs.contains("eyJ"), "a JWT leaked into the logs: {logs}");
}

/// A current-thread tokio runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
