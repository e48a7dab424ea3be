//! GitHubActionsCredential against identity-emulator playing GitHub's OIDC token endpoint and
//! Entra: a token (blocking and async), a fresh GitHub token per Entra request, the AADSTS70021
//! explanation, "unavailable" without the GitHub variables, and no request token or JWT in logs.
#![cfg(all(
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential, TokenRequest};
use identity_emulator::{DEFAULT_GITHUB_ACTIONS_REQUEST_TOKEN, Endpoint};
use identity_service_principal::GitHubActionsCredential;

fn github_env(emu: &identity_emulator::Emulator) -> identity_core::env::MapEnv {
    let mut env = emu_env(emu);
    for (k, v) in emu.github_actions_env() {
        env.set(k, v);
    }
    env
}

#[test]
fn tokens_blocking_and_async_with_a_fresh_github_token_each_time() {
    let emu = emulator();
    let ((), logs) = capture_logs(|| {
        let c = GitHubActionsCredential::builder()
            .options(options(&emu, github_env(&emu)))
            .build()
            .unwrap();
        let t = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        let claims = emu.verify_access_token(t.token().secret()).unwrap();
        assert_eq!(claims.aud(), Some("https://vault.azure.net"));
        let t = block_on(c.get_token(&TokenRequest::new("https://storage.azure.com/.default")))
            .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        // Cached: the same scope again makes no request.
        c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        let github = emu.requests_for(Endpoint::GitHubActionsOidc);
        assert_eq!(github.len(), 2, "one GitHub token per Entra request");
        assert_eq!(github[0].method, "GET");
        assert_eq!(
            github[0].query_param("audience"),
            Some("api://AzureADTokenExchange")
        );
        assert_eq!(github[0].query_param("api-version"), Some("2.0"));
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 2);
    });
    assert_no_secrets(&logs, &[DEFAULT_GITHUB_ACTIONS_REQUEST_TOKEN, "eyJ"]);
}

#[test]
fn a_subject_without_a_federated_credential_is_explained() {
    let emu = emulator();
    emu.set_github_actions_subject("repo:emulator-org/emulator-repo:environment:prod");
    let c = GitHubActionsCredential::builder()
        .options(options(&emu, github_env(&emu)))
        .build()
        .unwrap();
    let e = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.aadsts_codes(), [70021]);
    let m = e.message();
    assert!(m.contains("issuer 'https://token.actions.githubusercontent.com' and subject 'repo:emulator-org/emulator-repo:environment:prod'"), "{m}");
    assert!(m.contains(emu.client_id()), "{m}");
    assert!(
        !m.contains("eyJ") && !m.contains(DEFAULT_GITHUB_ACTIONS_REQUEST_TOKEN),
        "{m}"
    );
}

#[test]
fn without_the_github_variables_it_is_unavailable() {
    let emu = emulator();
    let c = GitHubActionsCredential::builder()
        .options(options(&emu, emu_env(&emu)))
        .build()
        .unwrap();
    let e = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        e.message()
            .contains("ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN not set")
    );
    assert!(e.message().contains("id-token: write"));
    let e = block_on(c.get_token(&TokenRequest::new(SCOPE))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    // A wrong request token: GitHub's refusal, without the token.
    let mut env = github_env(&emu);
    env.set(
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "planted-wrong-request-token",
    );
    let c = GitHubActionsCredential::builder()
        .options(options(&emu, env))
        .build()
        .unwrap();
    let e = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.status(), Some(401));
    assert!(!e.message().contains("planted-wrong-request-token"));
    // No tenant or client id: a configuration error naming the variables.
    let e = GitHubActionsCredential::builder()
        .options(options(&emu, identity_core::env::MapEnv::new()))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().contains("AZURE_TENANT_ID") && e.message().contains("AZURE_CLIENT_ID"));
}
