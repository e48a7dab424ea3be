//! OnBehalfOfCredential against identity-emulator: a user token from the emulator exchanged
//! with a secret, a certificate or an assertion.
#![cfg(all(
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
use identity_core::transport::{TransportOptions, UreqClient};
use identity_core::{
    BlockingTokenCredential, ErrorKind, HttpClient, Request, TokenCredential, TokenRequest,
};
use identity_emulator::{
    AZURE_CLI_CLIENT_ID, DEFAULT_USER_OBJECT_ID, DEFAULT_USER_PASSWORD, DEFAULT_USERNAME, Emulator,
    Endpoint,
};
use identity_service_principal::OnBehalfOfCredential;

const GRAPH: &str = "https://graph.microsoft.com/.default";

/// A user's token for the default app (what a web API receives), by the password grant.
fn user_token(emu: &Emulator) -> String {
    let client =
        UreqClient::new(&TransportOptions::default().with_root_certificate_pem(emu.ca_pem()))
            .unwrap();
    let scope = format!("api://{}/access_as_user openid", emu.client_id());
    let request = Request::post(emu.token_endpoint("organizations")).form([
        ("grant_type", "password"),
        ("client_id", AZURE_CLI_CLIENT_ID),
        ("username", DEFAULT_USERNAME),
        ("password", DEFAULT_USER_PASSWORD),
        ("scope", scope.as_str()),
    ]);
    let response = client.send(&request).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn builder(
    emu: &Emulator,
    assertion: &str,
) -> identity_service_principal::OnBehalfOfCredentialBuilder {
    OnBehalfOfCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .user_assertion(assertion)
        .options(options(emu, emu_env(emu)))
}

fn check_user_token(emu: &Emulator, token: &str) {
    let claims = emu.verify_access_token(token).unwrap();
    assert_eq!(claims.oid(), Some(DEFAULT_USER_OBJECT_ID));
    assert_eq!(claims.aud(), Some("https://graph.microsoft.com"));
}

#[test]
fn secret_certificate_and_assertion() {
    let emu = emulator();
    let user = user_token(&emu);
    emu.clear_requests();
    let ((), logs) = capture_logs(|| {
        let with_secret = builder(&emu, &user)
            .client_secret(emu.client_secret())
            .build()
            .unwrap();
        let t = with_secret
            .get_token_blocking(&TokenRequest::new(GRAPH))
            .unwrap();
        check_user_token(&emu, t.token().secret());
        // Cached (async side shares it).
        let t2 = block_on(with_secret.get_token(&TokenRequest::new(GRAPH))).unwrap();
        assert_eq!(t.token().secret(), t2.token().secret());
        let recorded = emu.requests_for(Endpoint::Token);
        assert_eq!(recorded.len(), 1);
        assert_eq!(
            recorded[0].form_field("grant_type"),
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        );
        assert_eq!(
            recorded[0].form_field("requested_token_use"),
            Some("on_behalf_of")
        );
        assert_eq!(
            recorded[0].form_field("scope"),
            Some("https://graph.microsoft.com/.default offline_access openid profile")
        );

        #[cfg(feature = "certificate")]
        {
            let with_cert = builder(&emu, &user)
                .client_certificate_path(emu.default_app_certificate_path())
                .build()
                .unwrap();
            let t = block_on(with_cert.get_token(&TokenRequest::new(GRAPH))).unwrap();
            check_user_token(&emu, t.token().secret());
            let t = with_cert
                .get_token_blocking(&TokenRequest::new("https://storage.azure.com/.default"))
                .unwrap();
            emu.verify_access_token(t.token().secret()).unwrap();
        }

        let federated = emu.default_federated_token();
        let with_assertion = builder(&emu, &user)
            .client_assertion_callback(move || -> identity_core::Result<String> {
                Ok(federated.clone())
            })
            .build()
            .unwrap();
        let t = with_assertion
            .get_token_blocking(&TokenRequest::new(GRAPH))
            .unwrap();
        check_user_token(&emu, t.token().secret());
    });
    assert_no_secrets(&logs, &[emu.client_secret()]);
}

#[test]
fn bad_user_assertion_and_configuration_errors() {
    let emu = emulator();
    let ((), logs) = capture_logs(|| {
        let app_token = {
            let c = identity_service_principal::ClientSecretCredential::builder()
                .tenant_id(emu.tenant_id())
                .client_id(emu.client_id())
                .client_secret(emu.client_secret())
                .options(options(&emu, emu_env(&emu)))
                .build()
                .unwrap();
            c.get_token_blocking(&TokenRequest::new(format!(
                "api://{}/.default",
                emu.client_id()
            )))
            .unwrap()
        };
        // An app token is not a user token: Entra refuses, the error names the credential.
        let c = builder(&emu, app_token.token().secret())
            .client_secret(emu.client_secret())
            .build()
            .unwrap();
        let e = c.get_token_blocking(&TokenRequest::new(GRAPH)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.credential(), "OnBehalfOfCredential");
        assert_eq!(e.error_code(), Some("invalid_grant"));
        // Configuration errors.
        let e = builder(&emu, "").client_secret("s").build().unwrap_err();
        assert!(e.message().starts_with("A user assertion is required"));
        let e = builder(&emu, "u").build().unwrap_err();
        assert!(
            e.message()
                .starts_with("Give exactly one client credential")
        );
        #[cfg(feature = "certificate")]
        {
            let e = builder(&emu, "u")
                .client_secret("s")
                .client_certificate_data(b"x".to_vec())
                .build()
                .unwrap_err();
            assert!(
                e.message()
                    .starts_with("Give exactly one client credential")
            );
        }
        let e = builder(&emu, "u")
            .client_secret("s")
            .client_assertion_callback(|| -> identity_core::Result<String> { Ok("a".into()) })
            .build()
            .unwrap_err();
        assert!(
            e.message()
                .starts_with("Give exactly one client credential")
        );
    });
    assert_no_secrets(&logs, &[emu.client_secret()]);
}
