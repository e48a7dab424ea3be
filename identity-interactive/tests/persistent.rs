//! The persistent cache of the user credentials against identity-emulator: a device-code
//! sign-in in one process, a silent token in a second process from the persisted cache and the
//! AuthenticationRecord (owner-only file, and the real Secret Service under `dbus-run-session`
//! when `AZID_SECRET_SERVICE` is set); SharedTokenCacheCredential on the same cache.
#![cfg(all(feature = "persistent", feature = "rustls", feature = "ureq"))]

mod common;

use common::*;
use identity_core::clock::VirtualClock;
use identity_core::env::MapEnv;
use identity_core::protocol::entra::DEVELOPER_SIGN_ON_CLIENT_ID;
use identity_core::transport::TransportOptions;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenRequest};
use identity_emulator::*;
use identity_interactive::{
    AuthenticationRecord, DeviceCodeCredential, SharedTokenCacheCredential,
    TokenCachePersistenceOptions,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

/// `{authority}|{ca path}|{cache dir}|{record json}` for the silent child.
const SILENT_CHILD: &str = "AZID_PERSIST_SILENT_CHILD";
/// The cache directory for the Secret Service run (process 1 inside the D-Bus session).
const KEYRING_CHILD: &str = "AZID_PERSIST_KEYRING_CHILD";

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("azid-ia-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn file_options(dir: &Path) -> TokenCachePersistenceOptions {
    TokenCachePersistenceOptions::default()
        .with_directory(dir)
        .with_allow_unencrypted_storage(true)
        .with_secret_service_disabled(true)
}

fn keyring_options(dir: &Path) -> TokenCachePersistenceOptions {
    TokenCachePersistenceOptions::default()
        .with_directory(dir)
        .with_name("azid-interactive-test")
}

/// Process 1: signs in with the device code flow, persisting to `persistence`; then runs
/// process 2 and checks it got its tokens without any prompt.
fn sign_in_then_second_process(persistence: TokenCachePersistenceOptions, dir: &Path) {
    let emu = emulator();
    let clock = Arc::new(VirtualClock::starting_at(SystemTime::now()));
    let mut options = virtual_options(&emu, &clock);
    options.tenant_id = Some(emu.tenant_id().to_owned());
    if let Ok(bus) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        let mut env = emu_env(&emu);
        env.set("DBUS_SESSION_BUS_ADDRESS", bus);
        options.env = Arc::new(env);
    }
    let cred = DeviceCodeCredential::builder()
        .options(options)
        .cache_persistence(persistence)
        .prompt_callback(|_| {})
        .build()
        .unwrap();
    let record = cred
        .authenticate_blocking(&TokenRequest::new(SCOPE))
        .unwrap();
    assert_eq!(emu.requests_for(Endpoint::DeviceCode).len(), 1);
    let polls = grants(&emu, DEVICE_GRANT).len();

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["silent_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(
            SILENT_CHILD,
            format!(
                "{}|{}|{}|{}",
                emu.authority_host(),
                emu.ca_path().display(),
                dir.display(),
                record.to_json()
            ),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("SILENT-CHILD-OK"),
        "the second process failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No new device-code sign-in: the first scope came from the cached access token, the
    // other scope from one refresh-token grant.
    assert_eq!(emu.requests_for(Endpoint::DeviceCode).len(), 1);
    assert_eq!(grants(&emu, DEVICE_GRANT).len(), polls);
    let refreshes = grants(&emu, "refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(form(&refreshes[0], "client_info"), Some("1"));
    assert_eq!(
        form(&refreshes[0], "scope"),
        Some("https://storage.azure.com/.default offline_access openid profile")
    );
}

/// Process 2: the record and the persisted cache only; prompting is disabled, so anything but
/// a silent token fails.
#[test]
fn silent_child() {
    let Ok(spec) = std::env::var(SILENT_CHILD) else {
        return;
    };
    let mut parts = spec.splitn(4, '|');
    let (authority, ca, dir, record) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let record = AuthenticationRecord::from_json(record).unwrap();
    let persistence = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(_) if std::env::var(KEYRING_CHILD).is_ok() => keyring_options(Path::new(dir)),
        _ => file_options(Path::new(dir)),
    };
    let mut env = MapEnv::new();
    if let Ok(bus) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        env.set("DBUS_SESSION_BUS_ADDRESS", bus);
    }
    let cred = DeviceCodeCredential::builder()
        .env(Arc::new(env))
        .authority_host(authority)
        .transport_options(
            TransportOptions::default()
                .with_root_certificate_pem(std::fs::read_to_string(ca).unwrap()),
        )
        .authentication_record(record.clone())
        .cache_persistence(persistence)
        .disable_automatic_authentication(true)
        .prompt_callback(|_| panic!("the second process must not prompt"))
        .build()
        .unwrap();
    let (tokens, logs) = capture_logs(|| {
        let a = cred.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        let b = cred
            .get_token_blocking(&TokenRequest::new(OTHER_SCOPE))
            .unwrap();
        (a, b)
    });
    assert!(logs.contains("access token found in the persistent cache"));
    assert!(logs.contains("using the refresh token of the persistent cache"));
    assert_no_secrets(
        &logs,
        &[tokens.0.token().secret(), tokens.1.token().secret()],
    );
    assert_eq!(
        cred.authentication_record().unwrap().home_account_id(),
        record.home_account_id()
    );
    println!("SILENT-CHILD-OK");
}

#[test]
fn owner_only_file_sign_in_then_silent_in_a_second_process() {
    let dir = temp_dir("file");
    sign_in_then_second_process(file_options(&dir), &dir);
    // The document: the five MSAL sections, 0600 in a 0700 directory, nothing else there.
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("msal.cache.nocae")).unwrap()).unwrap();
    for section in [
        "AccessToken",
        "RefreshToken",
        "IdToken",
        "Account",
        "AppMetadata",
    ] {
        assert!(
            !doc[section].as_object().unwrap().is_empty(),
            "{section} is empty"
        );
    }
    let account = doc["Account"].as_object().unwrap().values().next().unwrap();
    assert_eq!(account["username"], DEFAULT_USERNAME);
    assert_eq!(account["account_source"], "device_code");
    // Two access tokens: the first process's and the second's (other scope).
    assert_eq!(doc["AccessToken"].as_object().unwrap().len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("msal.cache.nocae")), 0o600);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn persistence_without_secret_service_needs_consent() {
    let emu = emulator();
    let dir = temp_dir("refused");
    let e = DeviceCodeCredential::builder()
        .options(options(&emu, emu_env(&emu)))
        .cache_persistence(
            TokenCachePersistenceOptions::default()
                .with_directory(&dir)
                .with_secret_service_disabled(true),
        )
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert_eq!(e.credential(), "DeviceCodeCredential");
    assert!(
        e.message().contains("allow_unencrypted_storage=True"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Process 1 inside `dbus-run-session` with GNOME Keyring: the same two-process sign-in, the
/// cache in the Secret Service.
#[test]
fn keyring_child() {
    let Ok(dir) = std::env::var(KEYRING_CHILD) else {
        return;
    };
    let dir = PathBuf::from(dir);
    sign_in_then_second_process(keyring_options(&dir), &dir);
    // Only the (empty) signal file holds the cache name: the tokens are in the keyring.
    assert_eq!(
        std::fs::read(dir.join("azid-interactive-test.nocae")).unwrap(),
        b""
    );
    println!("KEYRING-CHILD-OK");
}

#[test]
fn secret_service_sign_in_then_silent_in_a_second_process() {
    let Ok(dbus_run_session) = std::env::var("AZID_SECRET_SERVICE") else {
        println!("SKIPPED: no Secret Service (set AZID_SECRET_SERVICE)");
        eprintln!("SKIPPED: no Secret Service (set AZID_SECRET_SERVICE)");
        return;
    };
    let home = temp_dir("keyring");
    let out = Command::new(dbus_run_session)
        .args([
            "--",
            "sh",
            "-c",
            "echo -n azid | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec \"$0\" keyring_child --exact --nocapture --test-threads=1",
        ])
        .arg(std::env::current_exe().unwrap())
        .env(KEYRING_CHILD, home.join(".IdentityService"))
        .env("HOME", &home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("KEYRING-CHILD-OK"),
        "the keyring run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&home);
}

fn shared(emu: &Emulator, dir: &Path) -> identity_interactive::SharedTokenCacheCredentialBuilder {
    SharedTokenCacheCredential::builder()
        .env(Arc::new(emu_env(emu)))
        .transport_options(TransportOptions::default().with_root_certificate_pem(emu.ca_pem()))
        .cache_persistence(file_options(dir))
}

fn edit(dir: &Path, f: impl FnOnce(&mut Value)) {
    let path = dir.join("msal.cache.nocae");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut doc);
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
}

#[test]
fn shared_token_cache_credential_reads_the_shared_cache() {
    let emu = emulator();
    let dir = temp_dir("shared");
    // Empty cache: no accounts.
    let e = shared(&emu, &dir)
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(
        e.message(),
        "SharedTokenCacheCredential authentication unavailable. No accounts were found in the cache."
    );
    // A developer tool signs in with the Azure CLI's client id.
    let clock = Arc::new(VirtualClock::starting_at(SystemTime::now()));
    let cred = DeviceCodeCredential::builder()
        .options(virtual_options(&emu, &clock))
        .client_id(DEVELOPER_SIGN_ON_CLIENT_ID)
        .cache_persistence(file_options(&dir))
        .prompt_callback(|_| {})
        .build()
        .unwrap();
    let first = cred.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
    // Without a family (FOCI) refresh token the account is not a candidate.
    let e = shared(&emu, &dir)
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap_err();
    assert!(
        e.message()
            .ends_with("No accounts were found in the cache.")
    );
    edit(&dir, |doc| {
        for rt in doc["RefreshToken"].as_object_mut().unwrap().values_mut() {
            rt["family_id"] = "1".into();
        }
    });
    emu.clear_requests();
    let stc = shared(&emu, &dir).build().unwrap();
    let (tokens, logs) = capture_logs(|| {
        let a = stc.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        let b = stc
            .get_token_blocking(&TokenRequest::new(OTHER_SCOPE))
            .unwrap();
        (a, b)
    });
    // The cached access token, then one refresh (undecorated scope, client_info, the CLI's id).
    assert_eq!(tokens.0.token().secret(), first.token().secret());
    let refreshes = grants(&emu, "refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(form(&refreshes[0], "scope"), Some(OTHER_SCOPE));
    assert_eq!(form(&refreshes[0], "client_info"), Some("1"));
    assert_eq!(
        form(&refreshes[0], "client_id"),
        Some(DEVELOPER_SIGN_ON_CLIENT_ID)
    );
    assert_eq!(
        emu.verify_access_token(tokens.1.token().secret())
            .unwrap()
            .aud(),
        Some("https://storage.azure.com")
    );
    assert_no_secrets(
        &logs,
        &[tokens.0.token().secret(), tokens.1.token().secret()],
    );
    // Filters.
    let e = shared(&emu, &dir)
        .username("nobody@example.com")
        .tenant_id("00000000-0000-0000-0000-000000000001")
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap_err();
    assert_eq!(
        e.message(),
        "SharedTokenCacheCredential authentication unavailable. No account\nmatching the specified username: nobody@example.com tenant: 00000000-0000-0000-0000-000000000001 was found in the cache."
    );
    assert!(
        shared(&emu, &dir)
            .username(DEFAULT_USERNAME)
            .build()
            .unwrap()
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .is_ok()
    );
    // A second account: ambiguous without a filter.
    edit(&dir, |doc| {
        let (k, mut account) = {
            let (k, v) = doc["Account"].as_object().unwrap().iter().next().unwrap();
            (k.clone(), v.clone())
        };
        let (rk, mut rt) = {
            let (k, v) = doc["RefreshToken"]
                .as_object()
                .unwrap()
                .iter()
                .next()
                .unwrap();
            (k.clone(), v.clone())
        };
        account["home_account_id"] = "other.tenant".into();
        account["username"] = "other@example.com".into();
        rt["home_account_id"] = "other.tenant".into();
        doc["Account"][format!("x{k}")] = account;
        doc["RefreshToken"][format!("x{rk}")] = rt;
    });
    let e = shared(&emu, &dir)
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap_err();
    assert_eq!(
        e.message(),
        "SharedTokenCacheCredential authentication unavailable. Multiple accounts\nwere found in the cache. Use username and tenant id to disambiguate."
    );
    // A revoked refresh token: the error propagates outside DefaultAzureCredential, is
    // unavailable inside it, and the refused token leaves the cache.
    emu.revoke_refresh_tokens();
    let scope3 = "https://management.azure.com/.default";
    let dac = shared(&emu, &dir)
        .username(DEFAULT_USERNAME)
        .within_default_azure_credential(true)
        .build()
        .unwrap();
    let e = dac
        .get_token_blocking(&TokenRequest::new(scope3))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.message().starts_with(&format!(
        "Token acquisition failed for user '{DEFAULT_USERNAME}'. To fix, re-authenticate\nthrough developer tooling supporting Azure single sign on"
    )));
    let e = shared(&emu, &dir)
        .username(DEFAULT_USERNAME)
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(scope3))
        .unwrap_err();
    // The refused token was removed: the account has no refresh token left, so it is no
    // longer a candidate.
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(
        e.message(),
        format!(
            "SharedTokenCacheCredential authentication unavailable. No account\nmatching the specified username: {DEFAULT_USERNAME} was found in the cache."
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shared_token_cache_refresh_failure_propagates_outside_dac() {
    let emu = emulator();
    let dir = temp_dir("shared-outside");
    let clock = Arc::new(VirtualClock::starting_at(SystemTime::now()));
    DeviceCodeCredential::builder()
        .options(virtual_options(&emu, &clock))
        .cache_persistence(file_options(&dir))
        .prompt_callback(|_| {})
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap();
    edit(&dir, |doc| {
        for rt in doc["RefreshToken"].as_object_mut().unwrap().values_mut() {
            rt["family_id"] = "1".into();
        }
    });
    emu.revoke_refresh_tokens();
    let e = shared(&emu, &dir)
        .build()
        .unwrap()
        .get_token_blocking(&TokenRequest::new(OTHER_SCOPE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.error_code(), Some("invalid_grant"));
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("msal.cache.nocae")).unwrap()).unwrap();
    assert!(doc["RefreshToken"].as_object().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a browser would do: GET the authorize URL and read the code from the 302's Location.
fn obtain_code(emu: &Emulator, redirect: &str) -> String {
    use identity_core::transport::default_blocking_client;
    let client = default_blocking_client(
        &TransportOptions::default().with_root_certificate_pem(emu.ca_pem()),
    )
    .unwrap();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", AZURE_CLI_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", &format!("{SCOPE} offline_access openid profile"))
        .append_pair("state", "s")
        .finish();
    let url = format!(
        "{}/{DEFAULT_TENANT_ID}/oauth2/v2.0/authorize?{query}",
        emu.authority_host()
    );
    let r = client.send(&identity_core::Request::get(url)).unwrap();
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.headers.get("location").unwrap();
    let q = location.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

#[test]
fn authorization_code_credential_persists_and_reuses_the_account_tokens() {
    use identity_interactive::AuthorizationCodeCredential;
    let emu = emulator();
    let dir = temp_dir("auth-code");
    let redirect = "http://localhost:8400";
    let code = obtain_code(&emu, redirect);
    let cred = AuthorizationCodeCredential::builder(
        DEFAULT_TENANT_ID,
        AZURE_CLI_CLIENT_ID,
        code,
        redirect,
    )
    .options(options(&emu, emu_env(&emu)))
    .cache_persistence(file_options(&dir))
    .build()
    .unwrap();
    cred.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("msal.cache.nocae")).unwrap()).unwrap();
    let account = doc["Account"].as_object().unwrap().values().next().unwrap();
    assert_eq!(account["account_source"], "authorization_code");
    assert_eq!(doc["RefreshToken"].as_object().unwrap().len(), 1);
    // In memory the refresh token only covers the scopes it was obtained for; the persisted
    // account refresh token serves another scope.
    let other = cred
        .get_token_blocking(&TokenRequest::new(OTHER_SCOPE))
        .unwrap();
    assert_eq!(
        emu.verify_access_token(other.token().secret())
            .unwrap()
            .aud(),
        Some("https://storage.azure.com")
    );
    assert_eq!(grants(&emu, "refresh_token").len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
