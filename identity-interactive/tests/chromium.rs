//! The real thing: InteractiveBrowserCredential with a headless Chromium as the system browser
//! (through BROWSER and a wrapper script that starts Chromium in the background and returns),
//! signing in against identity-emulator in both response modes.
//!
//! Needs `AZID_CHROMIUM` = the Chromium binary (`scripts/install-chromium.sh` installs it and
//! prints the path). Without it the tests print SKIPPED and pass.
#![cfg(all(unix, feature = "rustls", any(feature = "ureq", feature = "reqwest")))]

mod common;

use common::*;
use identity_core::TokenRequest;
use identity_emulator::*;
use identity_interactive::{InteractiveBrowserCredential, ResponseMode};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn chromium() -> Option<String> {
    match std::env::var("AZID_CHROMIUM") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            eprintln!(
                "\n==================== SKIPPED ====================\n\
                 The Chromium browser test did not run: set AZID_CHROMIUM to a Chromium binary\n\
                 (export AZID_CHROMIUM=\"$(identity-interactive/scripts/install-chromium.sh)\").\n\
                 =================================================\n"
            );
            None
        }
    }
}

/// A fresh directory for Chromium's profile and the wrapper.
fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("azid-int-chromium-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The BROWSER wrapper: starts Chromium headless in the background, returns at once. It keeps
/// Chromium's pid so the test can stop the process it started.
fn wrapper(dir: &Path, chromium: &str) -> PathBuf {
    let script = dir.join("browser.sh");
    let body = format!(
        r#"#!/bin/sh
'{chromium}' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --ignore-certificate-errors --user-data-dir='{dir}/profile' \
  --virtual-time-budget=15000 --dump-dom "$1" >'{dir}/dom.html' 2>'{dir}/chromium.log' &
echo $! >'{dir}/pid'
"#,
        dir = dir.display()
    );
    std::fs::write(&script, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The page Chromium ended on (`--dump-dom`), once it is written (bounded wait).
fn final_page(dir: &Path) -> String {
    for _ in 0..300 {
        if let Ok(page) = std::fs::read_to_string(dir.join("dom.html"))
            && page.contains("</html>")
        {
            return page;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    String::new()
}

fn chromium_pid(dir: &Path) -> Option<String> {
    let pid = std::fs::read_to_string(dir.join("pid")).ok()?;
    let pid = pid.trim().to_owned();
    (!pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit())).then_some(pid)
}

fn running(pid: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Stops the Chromium this test started (by its pid), if it is still running, and waits
/// (bounded) until it has exited.
fn stop_chromium(dir: &Path) {
    let Some(pid) = chromium_pid(dir) else { return };
    if running(&pid) {
        let _ = std::process::Command::new("kill")
            .arg(&pid)
            .stderr(std::process::Stdio::null())
            .status();
    }
    for _ in 0..100 {
        if !running(&pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn credential(
    emu: &Emulator,
    dir: &Path,
    script: &Path,
    mode: ResponseMode,
) -> InteractiveBrowserCredential {
    let mut env = emu_env(emu);
    env.set("PATH", std::env::var("PATH").unwrap_or_default());
    env.set("HOME", dir.display().to_string());
    env.set("BROWSER", script.display().to_string());
    InteractiveBrowserCredential::builder()
        .options(options(emu, env))
        .response_mode(mode)
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap()
}

fn check(
    emu: &Emulator,
    dir: &Path,
    mode: ResponseMode,
    token: identity_core::Result<identity_core::AccessToken>,
) {
    let token = token.unwrap_or_else(|e| {
        stop_chromium(dir);
        let log = std::fs::read_to_string(dir.join("chromium.log")).unwrap_or_default();
        panic!("{mode:?}: {e}\nChromium log:\n{log}")
    });
    let claims = emu.verify_access_token(token.token().secret()).unwrap();
    assert_eq!(claims.aud(), Some("https://vault.azure.net"));
    assert_eq!(claims.oid(), Some(DEFAULT_USER_OBJECT_ID));
    let a = &emu.requests_for(Endpoint::Authorize)[0];
    assert!(
        a.query
            .iter()
            .any(|(k, v)| k == "response_mode" && v == mode.as_str()),
        "{:?}",
        a.query
    );
    // Chromium, not some other client, fetched the authorize page.
    assert!(
        a.header("user-agent")
            .is_some_and(|ua| ua.contains("Chrome")),
        "{:?}",
        a.header("user-agent")
    );
    assert_eq!(grants(emu, "authorization_code").len(), 1);
    let page = final_page(dir);
    stop_chromium(dir);
    assert!(
        page.contains("Authentication complete."),
        "{mode:?}: {page}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(feature = "ureq")]
#[test]
fn chromium_signs_in_in_both_response_modes() {
    let Some(chromium) = chromium() else { return };
    for mode in [ResponseMode::Query, ResponseMode::FormPost] {
        let emu = emulator();
        let dir = temp_dir(mode.as_str());
        let script = wrapper(&dir, &chromium);
        let cred = credential(&emu, &dir, &script, mode);
        let token = identity_core::BlockingTokenCredential::get_token_blocking(
            &cred,
            &TokenRequest::new(SCOPE),
        );
        check(&emu, &dir, mode, token);
        let record = cred.authentication_record().unwrap();
        assert_eq!(record.username(), DEFAULT_USERNAME);
    }
}

#[cfg(all(feature = "reqwest", feature = "tokio"))]
#[test]
fn chromium_signs_in_async() {
    let Some(chromium) = chromium() else { return };
    let emu = emulator();
    let dir = temp_dir("async");
    let script = wrapper(&dir, &chromium);
    let cred = credential(&emu, &dir, &script, ResponseMode::FormPost);
    let token = block_on(identity_core::TokenCredential::get_token(
        &cred,
        &TokenRequest::new(SCOPE),
    ));
    check(&emu, &dir, ResponseMode::FormPost, token);
}
