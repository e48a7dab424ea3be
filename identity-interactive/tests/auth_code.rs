//! AuthorizationCodeCredential against identity-emulator (§5.7): the code is redeemed once, then
//! refresh tokens of the redeemed account serve requests whose scopes they cover.
#![cfg(all(feature = "rustls", feature = "ureq"))]

mod common;

use common::*;
use identity_core::transport::{TransportOptions, default_blocking_client};
use identity_core::{BlockingTokenCredential, ErrorKind, Request, TokenRequest};
use identity_emulator::*;
use identity_interactive::AuthorizationCodeCredential;

const REDIRECT: &str = "http://localhost:8400";

/// What a browser would do: GET the authorize URL and read the code from the 302's Location.
fn obtain_code(emu: &Emulator, client_id: &str, scope: &str) -> String {
    let client = default_blocking_client(
        &TransportOptions::default().with_root_certificate_pem(emu.ca_pem()),
    )
    .unwrap();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "s")
        .finish();
    let url = format!(
        "{}/{DEFAULT_TENANT_ID}/oauth2/v2.0/authorize?{query}",
        emu.authority_host()
    );
    let r = client.send(&Request::get(url)).unwrap();
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.headers.get("location").unwrap();
    let q = location.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

fn build(
    emu: &Emulator,
    client_id: &str,
    code: &str,
    secret: Option<&str>,
) -> AuthorizationCodeCredential {
    let mut b = AuthorizationCodeCredential::builder(DEFAULT_TENANT_ID, client_id, code, REDIRECT)
        .options(options(emu, emu_env(emu)));
    if let Some(s) = secret {
        b = b.client_secret(s);
    }
    b.build().unwrap()
}

#[test]
fn public_client_code_then_refresh_tokens_bound_to_their_scopes() {
    let emu = emulator();
    let code = obtain_code(
        &emu,
        AZURE_CLI_CLIENT_ID,
        &format!("{SCOPE} offline_access openid profile"),
    );
    let cred = build(&emu, AZURE_CLI_CLIENT_ID, &code, None);
    assert!(!format!("{cred:?}").contains(&code));
    let (token, logs) = capture_logs(|| cred.get_token_blocking(&TokenRequest::new(SCOPE)));
    let token = token.unwrap();
    assert_no_secrets(&logs, &[&code, token.token().secret()]);
    let claims = emu.verify_access_token(token.token().secret()).unwrap();
    assert_eq!(claims.aud(), Some("https://vault.azure.net"));
    assert_eq!(claims.oid(), Some(DEFAULT_USER_OBJECT_ID));
    assert_eq!(
        cred.home_account_id().as_deref(),
        Some(format!("{DEFAULT_USER_OBJECT_ID}.{DEFAULT_TENANT_ID}").as_str())
    );
    let redeem = grants(&emu, "authorization_code");
    assert_eq!(redeem.len(), 1);
    assert_eq!(form(&redeem[0], "scope"), Some(SCOPE));
    assert_eq!(form(&redeem[0], "redirect_uri"), Some(REDIRECT));
    assert_eq!(form(&redeem[0], "client_info"), Some("1"));
    assert_eq!(form(&redeem[0], "code_verifier"), None);
    assert_eq!(form(&redeem[0], "client_secret"), None);

    // Cached.
    let again = cred.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
    assert_eq!(again.token().secret(), token.token().secret());
    // A claims challenge bypasses the cache: the refresh token (its target covers the scope).
    let fresh = cred
        .get_token_blocking(&TokenRequest::new(SCOPE).with_claims(r#"{"access_token":{}}"#))
        .unwrap();
    assert!(emu.verify_access_token(fresh.token().secret()).is_ok());
    let refreshes = grants(&emu, "refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(form(&refreshes[0], "scope"), Some(SCOPE));
    // A scope no refresh token covers: refused without a request.
    let before = emu.requests().len();
    let e = cred
        .get_token_blocking(&TokenRequest::new(OTHER_SCOPE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(
        e.message()
            .starts_with("No authorization code, cached access token, or refresh token available.")
    );
    assert_eq!(e.credential(), "AuthorizationCodeCredential");
    assert_eq!(emu.requests().len(), before);
}

#[test]
fn confidential_client_sends_its_secret() {
    let emu = emulator();
    let code = obtain_code(&emu, DEFAULT_CLIENT_ID, &format!("{SCOPE} offline_access"));
    let cred = build(&emu, DEFAULT_CLIENT_ID, &code, Some(DEFAULT_CLIENT_SECRET));
    assert!(!format!("{cred:?}").contains(DEFAULT_CLIENT_SECRET));
    let (t, logs) = capture_logs(|| cred.get_token_blocking(&TokenRequest::new(SCOPE)));
    let t = t.unwrap();
    assert_no_secrets(&logs, &[DEFAULT_CLIENT_SECRET, &code]);
    assert_eq!(
        emu.verify_access_token(t.token().secret()).unwrap().appid(),
        Some(DEFAULT_CLIENT_ID)
    );
    assert_eq!(
        form(&grants(&emu, "authorization_code")[0], "client_secret"),
        Some("****")
    );

    // A wrong secret: the service's error, no secret in it.
    let code = obtain_code(&emu, DEFAULT_CLIENT_ID, SCOPE);
    let cred = build(&emu, DEFAULT_CLIENT_ID, &code, Some("wrong-secret-value"));
    let e = cred
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.error_code(), Some("invalid_client"));
    assert!(!e.to_string().contains("wrong-secret-value"));
}

#[test]
fn a_code_is_single_use() {
    let emu = emulator();
    let code = obtain_code(&emu, AZURE_CLI_CLIENT_ID, SCOPE);
    build(&emu, AZURE_CLI_CLIENT_ID, &code, None)
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap();
    let e = build(&emu, AZURE_CLI_CLIENT_ID, &code, None)
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap_err();
    assert_eq!(e.error_code(), Some("invalid_grant"));
    assert_eq!(e.aadsts_codes(), &[54005]);
    assert!(!e.to_string().contains(&code));
}

#[cfg(feature = "reqwest")]
#[test]
fn async_redeem_and_refresh() {
    let emu = emulator();
    let code = obtain_code(
        &emu,
        AZURE_CLI_CLIENT_ID,
        &format!("{SCOPE} offline_access"),
    );
    let cred = build(&emu, AZURE_CLI_CLIENT_ID, &code, None);
    block_on(async {
        use identity_core::TokenCredential;
        let t = cred.get_token(&TokenRequest::new(SCOPE)).await.unwrap();
        assert!(emu.verify_access_token(t.token().secret()).is_ok());
        let t = cred
            .get_token(&TokenRequest::new(SCOPE).with_claims(r#"{"id_token":{}}"#))
            .await
            .unwrap();
        assert!(emu.verify_access_token(t.token().secret()).is_ok());
        let e = cred
            .get_token(&TokenRequest::new(OTHER_SCOPE))
            .await
            .unwrap_err();
        assert!(e.message().starts_with("No authorization code"));
    });
    assert_eq!(grants(&emu, "authorization_code").len(), 1);
    assert_eq!(grants(&emu, "refresh_token").len(), 1);
}
