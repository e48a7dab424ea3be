//! TLS through both transports against identity-emulator's HTTPS listener: its CA trusted
//! through `TransportOptions` works; without it the failure is classified as TLS.
#![cfg(all(
    feature = "rustls",
    any(feature = "ureq", all(feature = "reqwest", feature = "tokio"))
))]

use identity_core::transport::TransportOptions;
use identity_core::{Request, TransportErrorKind};
use identity_emulator::{Emulator, EmulatorConfig};

fn discovery_url(emu: &Emulator) -> String {
    format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        emu.authority_host(),
        emu.tenant_id()
    )
}

#[cfg(feature = "ureq")]
#[test]
fn ureq_over_tls() {
    use identity_core::HttpClient;
    use identity_core::transport::UreqClient;
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let trusted =
        UreqClient::new(&TransportOptions::default().with_root_certificate_pem(emu.ca_pem()))
            .unwrap();
    let r = trusted.send(&Request::get(discovery_url(&emu))).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("token_endpoint"));
    let untrusted = UreqClient::new(&TransportOptions::default()).unwrap();
    let e = untrusted
        .send(&Request::get(discovery_url(&emu)))
        .unwrap_err();
    assert_eq!(e.kind(), TransportErrorKind::Tls, "{e}");
}

#[cfg(all(feature = "reqwest", feature = "tokio"))]
#[tokio::test]
async fn reqwest_over_tls() {
    use identity_core::AsyncHttpClient;
    use identity_core::transport::ReqwestClient;
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let trusted =
        ReqwestClient::new(&TransportOptions::default().with_root_certificate_pem(emu.ca_pem()))
            .unwrap();
    let r = trusted
        .send(&Request::get(discovery_url(&emu)))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let untrusted = ReqwestClient::new(&TransportOptions::default()).unwrap();
    let e = untrusted
        .send(&Request::get(discovery_url(&emu)))
        .await
        .unwrap_err();
    // reqwest reports certificate failures as connect errors.
    assert!(
        matches!(
            e.kind(),
            TransportErrorKind::Tls | TransportErrorKind::Connect
        ),
        "{e}"
    );
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}
