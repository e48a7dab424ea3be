//! The `identity-emulator` binary: start, banner with export lines, serve, stop on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn binary_prints_exports_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_identity-emulator"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut exports = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("banner within 30 s");
        if let Some(rest) = line.strip_prefix("export ") {
            let (k, v) = rest.split_once('=').unwrap();
            exports.push((k.to_owned(), v.trim_matches('\'').to_owned()));
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let env = |k: &str| {
        exports
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no export {k}"))
    };
    for k in [
        "AZURE_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
    ] {
        env(k);
    }
    let ca_pem = std::fs::read_to_string(env("SSL_CERT_FILE")).unwrap();
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        env("AZURE_AUTHORITY_HOST"),
        env("AZURE_TENANT_ID")
    );
    let r = post_form(
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &env("AZURE_CLIENT_ID")),
            ("client_secret", &env("AZURE_CLIENT_SECRET")),
            ("scope", "https://vault.azure.net/.default"),
        ],
        &Trust::Ca(ca_pem),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(
        &format!(
            "{}?api-version=2019-08-01&resource=x",
            env("IDENTITY_ENDPOINT")
        ),
        &[("X-IDENTITY-HEADER", &env("IDENTITY_HEADER"))],
        &Trust::None,
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the emulator did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    reader.join().unwrap();
    assert!(rx.try_iter().any(|l| l.contains("stopped")));
    assert!(
        !std::path::Path::new(&env("SSL_CERT_FILE")).exists(),
        "the temporary state directory is removed on exit"
    );
}

#[test]
fn binary_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_identity-emulator"))
        .arg("--nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
    let out = Command::new(env!("CARGO_BIN_EXE_identity-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--https-port"));
}
