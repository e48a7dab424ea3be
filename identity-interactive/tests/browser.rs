//! InteractiveBrowserCredential against identity-emulator with a command-line "browser": a
//! shell script (BROWSER) that fetches the authorize URL with curl and delivers the redirect to
//! the credential's loopback listener — following the 302 (query) or posting the form
//! (form_post) — in the background, as a real browser would.
#![cfg(all(unix, feature = "rustls", any(feature = "ureq", feature = "reqwest")))]

mod common;

use common::*;
use identity_core::env::MapEnv;
use identity_core::{ErrorKind, TokenRequest};
use identity_emulator::*;
use identity_interactive::{InteractiveBrowserCredential, ResponseMode};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static DIRS: AtomicU32 = AtomicU32::new(0);

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "azid-int-browser-{}-{}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The "browser" script and its directory (removed on drop).
struct Browser {
    dir: PathBuf,
    script: PathBuf,
}

impl Browser {
    fn command(&self) -> String {
        self.script.display().to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A BROWSER script: `background` returns at once; otherwise it stays in the foreground
/// after delivering the redirect (a browser that does not detach).
fn curl_browser(emu: &Emulator, background: bool) -> Browser {
    let dir = temp_dir();
    let script = dir.join("browser.sh");
    let body = format!(
        r#"#!/bin/sh
url="$1"
dir='{dir}'
deliver() {{
  curl -sS --noproxy '*' --cacert '{ca}' -D "$dir/h" -o "$dir/page.html" "$url" || exit 1
  location=$(tr -d '\r' < "$dir/h" | sed -n 's/^[Ll]ocation: //p')
  if [ -n "$location" ]; then
    curl -sS --noproxy '*' -o "$dir/done.html" "$location"
  else
    action=$(sed -n 's/.*action="\([^"]*\)".*/\1/p' "$dir/page.html" | head -n 1)
    set --
    for pair in $(grep -o 'name="[^"]*" value="[^"]*"' "$dir/page.html" | sed 's/name="\([^"]*\)" value="\([^"]*\)"/\1=\2/'); do
      set -- "$@" --data-urlencode "$pair"
    done
    curl -sS --noproxy '*' -o "$dir/done.html" "$@" "$action"
  fi
}}
{run}
"#,
        dir = dir.display(),
        ca = emu.ca_path().display(),
        run = if background {
            "deliver >\"$dir/log\" 2>&1 &"
        } else {
            "deliver >\"$dir/log\" 2>&1\nsleep 3"
        }
    );
    std::fs::write(&script, body).unwrap();
    make_executable(&script);
    Browser { dir, script }
}

fn make_executable(path: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The emulator's environment plus PATH (for curl) and BROWSER.
fn env_with_browser(emu: &Emulator, browser: &str) -> MapEnv {
    let mut env = emu_env(emu);
    env.set("PATH", std::env::var("PATH").unwrap_or_default());
    env.set("BROWSER", browser);
    env
}

fn credential(emu: &Emulator, env: MapEnv, mode: ResponseMode) -> InteractiveBrowserCredential {
    InteractiveBrowserCredential::builder()
        .options(options(emu, env))
        .response_mode(mode)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The page the "browser" got back from the listener (curl may still be writing it).
fn page_shown(browser: &Browser) -> String {
    let path = browser.dir.join("done.html");
    for _ in 0..100 {
        if let Ok(page) = std::fs::read_to_string(&path)
            && page.contains("</html>")
        {
            return page;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the browser got no page from the listener");
}

fn query<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.query
        .iter()
        .chain(r.form.iter())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(feature = "ureq")]
fn get_blocking(
    c: &InteractiveBrowserCredential,
    r: &TokenRequest,
) -> identity_core::Result<identity_core::AccessToken> {
    identity_core::BlockingTokenCredential::get_token_blocking(c, r)
}

#[cfg(feature = "ureq")]
#[test]
fn both_response_modes_sign_in_and_later_scopes_are_silent() {
    for mode in [ResponseMode::Query, ResponseMode::FormPost] {
        let emu = emulator();
        let browser = curl_browser(&emu, true);
        let cred = credential(&emu, env_with_browser(&emu, &browser.command()), mode);
        let (token, logs) = capture_logs(|| get_blocking(&cred, &TokenRequest::new(SCOPE)));
        let token = token.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_no_secrets(&logs, &[token.token().secret()]);
        let claims = emu.verify_access_token(token.token().secret()).unwrap();
        assert_eq!(claims.aud(), Some("https://vault.azure.net"));
        assert_eq!(claims.oid(), Some(DEFAULT_USER_OBJECT_ID));

        let authorize = emu.requests_for(Endpoint::Authorize);
        assert_eq!(authorize.len(), 1);
        let a = &authorize[0];
        assert_eq!(query(a, "response_mode"), Some(mode.as_str()));
        assert_eq!(query(a, "code_challenge_method"), Some("S256"));
        assert_eq!(query(a, "code_challenge").map(str::len), Some(43));
        assert_eq!(query(a, "state").map(str::len), Some(22));
        assert_eq!(query(a, "nonce").map(str::len), Some(64));
        assert_eq!(query(a, "prompt"), Some("select_account"));
        assert_eq!(query(a, "client_info"), Some("1"));
        assert_eq!(
            query(a, "scope"),
            Some("https://vault.azure.net/.default offline_access openid profile")
        );
        let redirect = query(a, "redirect_uri").unwrap().to_owned();
        assert!(redirect.starts_with("http://localhost:"), "{redirect}");

        let redeem = grants(&emu, "authorization_code");
        assert_eq!(redeem.len(), 1);
        assert_eq!(form(&redeem[0], "redirect_uri"), Some(redirect.as_str()));
        assert_eq!(form(&redeem[0], "code_verifier"), Some("****"));
        assert_eq!(
            redeem[0].header("x-anchormailbox"),
            Some(format!("Oid:{DEFAULT_USER_OBJECT_ID}@{DEFAULT_TENANT_ID}").as_str())
        );
        let page = page_shown(&browser);
        assert!(page.contains("Authentication complete."), "{page}");

        let record = cred.authentication_record().unwrap();
        assert_eq!(record.username(), DEFAULT_USERNAME);
        // Another scope, another tenant: the refresh token, no browser.
        let other = get_blocking(&cred, &TokenRequest::new(OTHER_SCOPE)).unwrap();
        assert!(emu.verify_access_token(other.token().secret()).is_ok());
        get_blocking(
            &cred,
            &TokenRequest::new(OTHER_SCOPE).with_tenant_id(DEFAULT_TENANT_ID),
        )
        .unwrap();
        assert_eq!(emu.requests_for(Endpoint::Authorize).len(), 1);
        assert_eq!(grants(&emu, "refresh_token").len(), 2);
    }
}

#[cfg(feature = "ureq")]
#[test]
fn a_browser_that_stays_in_the_foreground_does_not_block_the_sign_in() {
    let emu = emulator();
    let browser = curl_browser(&emu, false);
    let cred = credential(
        &emu,
        env_with_browser(&emu, &browser.command()),
        ResponseMode::FormPost,
    );
    let t = get_blocking(&cred, &TokenRequest::new(SCOPE)).unwrap();
    assert!(emu.verify_access_token(t.token().secret()).is_ok());
}

#[cfg(feature = "ureq")]
#[test]
fn options_configured_redirect_uri_and_hints() {
    let emu = emulator();
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let browser = curl_browser(&emu, true);
    // The CLI app registers http://localhost (any port): bind that host; path and query are
    // dropped from what is sent.
    let cred = InteractiveBrowserCredential::builder()
        .options(options(&emu, env_with_browser(&emu, &browser.command())))
        .redirect_uri(format!("http://localhost:{port}/ignored/path?x=1"))
        .login_hint(DEFAULT_USERNAME)
        .domain_hint("organizations")
        .prompt(Some("login".into()))
        .response_mode(ResponseMode::Query)
        .build()
        .unwrap();
    get_blocking(&cred, &TokenRequest::new(SCOPE)).unwrap();
    let a = &emu.requests_for(Endpoint::Authorize)[0];
    assert_eq!(
        query(a, "redirect_uri"),
        Some(format!("http://localhost:{port}").as_str())
    );
    assert_eq!(query(a, "login_hint"), Some(DEFAULT_USERNAME));
    assert_eq!(query(a, "domain_hint"), Some("organizations"));
    assert_eq!(query(a, "prompt"), Some("login"));
    assert_eq!(
        query(a, "X-AnchorMailbox"),
        Some(format!("UPN:{DEFAULT_USERNAME}").as_str())
    );
    let e = InteractiveBrowserCredential::builder()
        .redirect_uri("http://localhost")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("must be a URL with port number"));
}

#[cfg(feature = "ureq")]
#[test]
fn an_error_redirect_is_an_authentication_failure_with_a_failure_page() {
    let emu = emulator();
    emu.update_settings(|s| s.user_consents = false);
    let browser = curl_browser(&emu, true);
    let cred = credential(
        &emu,
        env_with_browser(&emu, &browser.command()),
        ResponseMode::FormPost,
    );
    let e = get_blocking(&cred, &TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.error_code(), Some("access_denied"));
    assert!(e.message().contains("AADSTS65004"), "{e}");
    let page = page_shown(&browser);
    assert!(page.contains("Authentication failed."), "{page}");
    assert!(grants(&emu, "authorization_code").is_empty());
}

#[cfg(feature = "ureq")]
#[test]
fn no_browser_a_failing_browser_and_a_timeout() {
    let emu = emulator();
    // No BROWSER and no graphical session.
    let mut env = emu_env(&emu);
    env.set("PATH", std::env::var("PATH").unwrap_or_default());
    let cred = credential(&emu, env, ResponseMode::FormPost);
    let e = get_blocking(&cred, &TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().starts_with("Failed to open a browser"), "{e}");
    assert!(e.message().contains("DeviceCodeCredential"));
    // A browser command that fails.
    let cred = credential(
        &emu,
        env_with_browser(&emu, "false"),
        ResponseMode::FormPost,
    );
    let e = get_blocking(&cred, &TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().contains("`false` exited with"), "{e}");
    // A browser that never signs in: the timeout.
    let cred = InteractiveBrowserCredential::builder()
        .options(options(&emu, env_with_browser(&emu, "true")))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let e = get_blocking(&cred, &TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(
        e.message()
            .starts_with("Timed out after waiting 1 seconds for the user to authenticate"),
        "{e}"
    );
    assert!(emu.requests().is_empty());
}

#[cfg(feature = "ureq")]
#[test]
fn disable_automatic_authentication_needs_authenticate() {
    let emu = emulator();
    let browser = curl_browser(&emu, true);
    let mut o = options(&emu, env_with_browser(&emu, &browser.command()));
    o.disable_automatic_authentication = true;
    let cred = InteractiveBrowserCredential::builder()
        .options(o)
        .build()
        .unwrap();
    let e = get_blocking(&cred, &TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthenticationRequired);
    assert!(emu.requests().is_empty());
    let record = cred
        .authenticate_blocking(&TokenRequest::new("https://management.azure.com/.default"))
        .unwrap();
    assert_eq!(record.tenant_id(), DEFAULT_TENANT_ID);
    assert!(get_blocking(&cred, &TokenRequest::new(SCOPE)).is_ok());
    assert_eq!(emu.requests_for(Endpoint::Authorize).len(), 1);
}

#[cfg(feature = "reqwest")]
#[test]
fn async_sign_in_in_both_modes() {
    for mode in [ResponseMode::FormPost, ResponseMode::Query] {
        let emu = emulator();
        let browser = curl_browser(&emu, true);
        let cred = credential(&emu, env_with_browser(&emu, &browser.command()), mode);
        block_on(async {
            use identity_core::TokenCredential;
            let t = cred.get_token(&TokenRequest::new(SCOPE)).await.unwrap();
            assert!(emu.verify_access_token(t.token().secret()).is_ok());
            let r = cred
                .authenticate(&TokenRequest::new(OTHER_SCOPE))
                .await
                .unwrap();
            assert_eq!(r.username(), DEFAULT_USERNAME);
        });
        assert_eq!(emu.requests_for(Endpoint::Authorize).len(), 1);
        assert_eq!(grants(&emu, "refresh_token").len(), 1);
    }
}

#[cfg(all(feature = "reqwest", feature = "tokio"))]
#[test]
fn async_timeout_and_dropped_future() {
    let emu = emulator();
    let cred = InteractiveBrowserCredential::builder()
        .options(options(&emu, env_with_browser(&emu, "true")))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    use identity_core::TokenCredential;
    let e = block_on(cred.get_token(&TokenRequest::new(SCOPE))).unwrap_err();
    assert!(
        e.message().starts_with("Timed out after waiting 1 seconds"),
        "{e}"
    );
    // Dropping the future releases the redirect port (the listener thread stops).
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cred = InteractiveBrowserCredential::builder()
        .options(options(&emu, env_with_browser(&emu, "true")))
        .redirect_uri(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    block_on(async {
        let r = tokio::time::timeout(
            Duration::from_millis(300),
            cred.get_token(&TokenRequest::new(SCOPE)),
        )
        .await;
        assert!(r.is_err());
    });
    let mut freed = false;
    for _ in 0..50 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            freed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        freed,
        "the listener kept the port after the future was dropped"
    );
}
