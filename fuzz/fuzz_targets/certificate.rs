//! PEM and PKCS#12 certificate loading (`ClientCertificate::from_bytes`), with no password, an
//! empty one or a planted one: the password never shows in an error.
#![no_main]

use identity_fuzz::{Input, PLANTED, assert_hidden, plants_itself};
use identity_service_principal::ClientCertificate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let password = match input.byte() % 4 {
        0 => None,
        1 => Some(""),
        2 => Some("password"),
        _ => Some(PLANTED),
    };
    let bytes = input.rest();
    match ClientCertificate::from_bytes(bytes, password) {
        Ok(certificate) => {
            assert!(!certificate.chain_der().is_empty());
            assert_eq!(certificate.thumbprint_sha1_hex().len(), 40);
            assert_eq!(certificate.thumbprint_sha256_hex().len(), 64);
            let _ = format!("{certificate:?}");
        }
        Err(e) if !plants_itself(bytes) => assert_hidden("a certificate error", &e),
        Err(_) => {}
    }
});
