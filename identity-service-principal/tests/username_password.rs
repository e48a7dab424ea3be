//! UsernamePasswordCredential and EnvironmentCredential's username/password set, against
//! identity-emulator over real sockets.
#![cfg(all(
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential, TokenRequest};
use identity_emulator::{
    AZURE_CLI_CLIENT_ID, DEFAULT_TENANT_ID, DEFAULT_USER_PASSWORD, DEFAULT_USERNAME, Endpoint,
};
use identity_service_principal::{EnvironmentCredential, UsernamePasswordCredential};

fn credential(emu: &identity_emulator::Emulator, password: &str) -> UsernamePasswordCredential {
    UsernamePasswordCredential::builder()
        .client_id(AZURE_CLI_CLIENT_ID)
        .username(DEFAULT_USERNAME)
        .password(password)
        .options(options(emu, emu_env(emu)))
        .build()
        .unwrap()
}

#[test]
fn user_token_blocking_and_async_after_the_user_realm() {
    let emu = emulator();
    let ((), logs) = capture_logs(|| {
        let c = credential(&emu, DEFAULT_USER_PASSWORD);
        let request = TokenRequest::new(SCOPE);
        let t1 = c.get_token_blocking(&request).unwrap();
        let claims = emu.verify_access_token(t1.token().secret()).unwrap();
        assert_eq!(claims.aud(), Some("https://vault.azure.net"));
        assert_eq!(
            claims.get("upn").and_then(|v| v.as_str()),
            Some(DEFAULT_USERNAME)
        );
        // The user realm question comes first, then one token request; async shares the cache.
        let t2 = block_on(c.get_token(&request)).unwrap();
        assert_eq!(t1.token().secret(), t2.token().secret());
        let realm = emu.requests_for(Endpoint::UserRealm);
        assert_eq!(realm.len(), 1);
        // MSAL percent-encodes the name ('@' as %40).
        assert!(
            realm[0].path.starts_with("/common/userrealm/alice"),
            "{}",
            realm[0].path
        );
        let tokens = emu.requests_for(Endpoint::Token);
        assert_eq!(tokens.len(), 1);
        assert!(realm[0].seq < tokens[0].seq);
        let form = |k: &str| tokens[0].form_field(k).map(str::to_owned);
        assert_eq!(form("grant_type").as_deref(), Some("password"));
        assert_eq!(form("username").as_deref(), Some(DEFAULT_USERNAME));
        assert_eq!(form("client_id").as_deref(), Some(AZURE_CLI_CLIENT_ID));
        assert_eq!(form("client_secret"), None);
        assert_eq!(form("client_info").as_deref(), Some("1"));
        let scope = form("scope").unwrap();
        for s in [SCOPE, "offline_access", "openid", "profile"] {
            assert!(scope.split(' ').any(|x| x == s), "{scope}");
        }
        assert!(tokens[0].path.starts_with("/organizations/"));
    });
    assert!(logs.contains("deprecated"), "{logs}");
    assert_no_secrets(&logs, &[DEFAULT_USER_PASSWORD]);
}

#[test]
fn a_wrong_password_is_an_authentication_failure() {
    let emu = emulator();
    let (e, logs) = capture_logs(|| {
        credential(&emu, "not-the-password-planted")
            .get_token_blocking(&TokenRequest::new(SCOPE))
            .unwrap_err()
    });
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.credential(), "UsernamePasswordCredential");
    assert!(e.to_string().contains("AADSTS50126"), "{e}");
    assert!(!format!("{e} {e:?}").contains("not-the-password-planted"));
    assert_no_secrets(&logs, &["not-the-password-planted"]);
}

#[test]
fn missing_settings_are_configuration_errors() {
    let emu = emulator();
    let e = UsernamePasswordCredential::builder()
        .client_id(AZURE_CLI_CLIENT_ID)
        .password("p")
        .options(options(&emu, emu_env(&emu)))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("AZURE_USERNAME"), "{e}");
    let e = UsernamePasswordCredential::builder()
        .client_id(AZURE_CLI_CLIENT_ID)
        .username(DEFAULT_USERNAME)
        .options(options(&emu, emu_env(&emu)))
        .build()
        .unwrap_err();
    assert!(e.message().contains("AZURE_PASSWORD"), "{e}");
}

#[test]
fn environment_credential_selects_username_and_password() {
    let emu = emulator();
    let env: identity_core::env::MapEnv = [
        ("AZURE_AUTHORITY_HOST", emu.authority_host().to_owned()),
        ("AZURE_CLIENT_ID", AZURE_CLI_CLIENT_ID.to_owned()),
        ("AZURE_TENANT_ID", DEFAULT_TENANT_ID.to_owned()),
        ("AZURE_USERNAME", DEFAULT_USERNAME.to_owned()),
        ("AZURE_PASSWORD", DEFAULT_USER_PASSWORD.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let c = EnvironmentCredential::builder()
        .options(options(&emu, env))
        .build()
        .unwrap();
    assert_eq!(c.selected(), Some("UsernamePasswordCredential"));
    let token = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
    assert!(emu.verify_access_token(token.token().secret()).is_ok());
    let tokens = emu.requests_for(Endpoint::Token);
    assert!(
        tokens[0]
            .path
            .starts_with(&format!("/{DEFAULT_TENANT_ID}/"))
    );
}
