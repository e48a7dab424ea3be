//! EnvironmentCredential against identity-emulator: the secret and certificate sets.
#![cfg(all(
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
#[cfg(feature = "certificate")]
use identity_core::env::MapEnv;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential, TokenRequest};
use identity_service_principal::EnvironmentCredential;

#[test]
fn secret_then_certificate() {
    let emu = emulator();
    let ((), logs) = capture_logs(|| {
        // The emulator's environment has the secret set.
        let c = EnvironmentCredential::builder()
            .options(options(&emu, emu_env(&emu)))
            .build()
            .unwrap();
        assert_eq!(c.selected(), Some("ClientSecretCredential"));
        let t = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        let t = block_on(c.get_token(&TokenRequest::new("https://storage.azure.com/.default")))
            .unwrap();
        emu.verify_access_token(t.token().secret()).unwrap();
        // The certificate set (feature `certificate`; without it EnvironmentCredential's unit
        // tests check the configuration error).
        #[cfg(feature = "certificate")]
        {
            let env: MapEnv = emu
                .env_vars()
                .into_iter()
                .filter(|(k, _)| k != "AZURE_CLIENT_SECRET")
                .chain([
                    (
                        "AZURE_CLIENT_CERTIFICATE_PATH".to_owned(),
                        emu.default_app_certificate_path().display().to_string(),
                    ),
                    (
                        "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN".to_owned(),
                        "true".to_owned(),
                    ),
                ])
                .collect();
            let c = EnvironmentCredential::builder()
                .options(options(&emu, env))
                .build()
                .unwrap();
            assert_eq!(c.selected(), Some("CertificateCredential"));
            let t = block_on(c.get_token(&TokenRequest::new(SCOPE))).unwrap();
            emu.verify_access_token(t.token().secret()).unwrap();
            let t = c
                .get_token_blocking(&TokenRequest::new("https://storage.azure.com/.default"))
                .unwrap();
            emu.verify_access_token(t.token().secret()).unwrap();
        }
        // Inner failures propagate unchanged (they stop a chain).
        let env = emu_env(&emu).with("AZURE_CLIENT_SECRET", "planted-wrong-env-secret");
        let c = EnvironmentCredential::builder()
            .options(options(&emu, env))
            .build()
            .unwrap();
        let e = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.credential(), "ClientSecretCredential");
    });
    assert_no_secrets(&logs, &[emu.client_secret(), "planted-wrong-env-secret"]);
}
