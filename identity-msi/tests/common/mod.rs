//! Shared helpers of the integration tests: an emulator, the environment of one source, and
//! credential builders wired to a virtual clock.
#![allow(dead_code, unreachable_pub)]

use identity_core::clock::VirtualClock;
use identity_core::env::MapEnv;
use identity_emulator::{Emulator, EmulatorConfig, Endpoint, ManagedIdentitySource};
use identity_msi::{ManagedIdentityCredential, ManagedIdentityCredentialBuilder};
use std::sync::Arc;
use std::time::Duration;

pub const ARM: &str = "https://management.azure.com/";
pub const SCOPE: &str = "https://management.azure.com//.default";

pub fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("the emulator starts")
}

/// The variables of one source, plus extra pairs.
pub fn env(emu: &Emulator, source: ManagedIdentitySource, extra: &[(&str, &str)]) -> MapEnv {
    let mut env: MapEnv = emu.managed_identity_env(source).into_iter().collect();
    for (k, v) in extra {
        env.set(*k, *v);
    }
    env
}

/// A builder for `source` with the Arc key directory of the emulator and a short timeout.
pub fn builder(
    emu: &Emulator,
    source: ManagedIdentitySource,
    extra: &[(&str, &str)],
) -> ManagedIdentityCredentialBuilder {
    ManagedIdentityCredential::builder()
        .env(Arc::new(env(emu, source, extra)))
        .arc_key_directory(emu.arc_key_dir())
        .request_timeout(Duration::from_secs(10))
}

/// The same with a virtual clock for both the clock and the sleeps (blocking and async).
pub fn virtual_builder(
    emu: &Emulator,
    source: ManagedIdentitySource,
    clock: &VirtualClock,
) -> ManagedIdentityCredentialBuilder {
    builder(emu, source, &[])
        .clock(Arc::new(clock.clone()))
        .blocking_sleep(Arc::new(clock.clone()))
        .async_sleep(Arc::new(clock.clone()))
}

/// Short for a hang (it always runs out), generous otherwise (a loaded CI machine must not
/// turn a slow success into a timeout).
pub fn timeout_for(fault: &identity_emulator::Fault) -> Duration {
    if matches!(fault, identity_emulator::Fault::Hang) {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(5)
    }
}

pub fn count(emu: &Emulator, endpoint: Endpoint) -> usize {
    emu.requests_for(endpoint).len()
}

pub fn secs(v: &[f64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

/// A 127.0.0.1 listener that accepts connections and never answers. Returns its base URL;
/// the thread ends when the test process does (accepted sockets are held, not read).
pub fn silent_listener() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: at most 64 connections are accepted and held.
        for stream in listener.incoming().take(64) {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    format!("http://{addr}")
}
