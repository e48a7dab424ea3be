//! CertificateCredential against identity-emulator, with certificates made by the `openssl`
//! command line as users make them: PEM (PKCS#8, PKCS#1, either order, encrypted), PKCS#12
//! (OpenSSL 3 default AES-256-CBC/PBKDF2 and legacy 3DES / RC2), chains, EC keys, expired
//! certificates.
#![cfg(all(
    feature = "certificate",
    feature = "ureq",
    feature = "reqwest",
    feature = "rustls",
    feature = "tokio"
))]

mod common;

use common::*;
use identity_core::clock::VirtualClock;
use identity_core::{BlockingTokenCredential, ErrorKind, TokenCredential, TokenRequest};
use identity_emulator::{Emulator, Endpoint};
use identity_service_principal::{AssertionAlgorithm, CertificateCredential, ClientCertificate};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const PASSWORD: &str = "planted-p12-password-4e7a";

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sp-cert-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `openssl` in `dir`; returns stdout+stderr; panics on failure.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed: {text}");
    text
}

/// A self-signed RSA certificate `cert.pem` + PKCS#8 key `key.pem`, valid `days`.
fn make_rsa_cert(dir: &Path, days: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            days,
            "-subj",
            "/CN=sp-test",
        ],
    );
}

fn cat(dir: &Path, out: &str, parts: &[&str]) -> PathBuf {
    let mut data = Vec::new();
    for p in parts {
        data.extend(std::fs::read(dir.join(p)).unwrap());
    }
    let path = dir.join(out);
    std::fs::write(&path, data).unwrap();
    path
}

fn register(emu: &Emulator, dir: &Path, cert: &str) {
    emu.add_certificate(emu.client_id(), &std::fs::read(dir.join(cert)).unwrap())
        .unwrap();
}

fn builder(emu: &Emulator) -> identity_service_principal::CertificateCredentialBuilder {
    CertificateCredential::builder()
        .tenant_id(emu.tenant_id())
        .client_id(emu.client_id())
        .options(options(emu, emu_env(emu)))
}

/// Gets a token blocking and another (other scope) async, and checks both with the emulator.
fn both_sides(emu: &Emulator, credential: &CertificateCredential) {
    let t = credential
        .get_token_blocking(&TokenRequest::new(SCOPE))
        .unwrap();
    emu.verify_access_token(t.token().secret()).unwrap();
    let t =
        block_on(credential.get_token(&TokenRequest::new("https://storage.azure.com/.default")))
            .unwrap();
    emu.verify_access_token(t.token().secret()).unwrap();
}

#[test]
fn pem_files_in_every_layout() {
    let emu = emulator();
    let d = dir("pem");
    make_rsa_cert(&d, "30");
    register(&emu, &d, "cert.pem");
    openssl(
        &d,
        &["rsa", "-in", "key.pem", "-traditional", "-out", "key1.pem"],
    );
    assert!(
        std::fs::read_to_string(d.join("key1.pem"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    openssl(
        &d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "key.pem",
            "-out",
            "key-enc.pem",
            "-passout",
            &format!("pass:{PASSWORD}"),
        ],
    );
    let ((), logs) = capture_logs(|| {
        for parts in [
            ["cert.pem", "key.pem"],
            ["key.pem", "cert.pem"],
            ["key1.pem", "cert.pem"],
            ["cert.pem", "key1.pem"],
        ] {
            let path = cat(&d, "combined.pem", &parts);
            let c = builder(&emu).certificate_path(&path).build().unwrap();
            both_sides(&emu, &c);
        }
        // RS256 + x5t on request; from bytes.
        let data = std::fs::read(cat(&d, "combined.pem", &["cert.pem", "key.pem"])).unwrap();
        let c = builder(&emu)
            .certificate_data(data)
            .assertion_algorithm(AssertionAlgorithm::Rs256)
            .build()
            .unwrap();
        both_sides(&emu, &c);
        // An encrypted PKCS#8 key: a clear error without the password, works with it.
        let path = cat(&d, "enc.pem", &["cert.pem", "key-enc.pem"]);
        let e = builder(&emu).certificate_path(&path).build().unwrap_err();
        assert_eq!(e.credential(), "CertificateCredential");
        assert!(e.message().contains("encrypted"), "{e}");
        let c = builder(&emu)
            .certificate_path(&path)
            .password(PASSWORD)
            .build()
            .unwrap();
        both_sides(&emu, &c);
        let e = builder(&emu)
            .certificate_path(&path)
            .password("wrong")
            .build()
            .unwrap_err();
        assert!(e.message().contains("password is wrong"), "{e}");
    });
    assert_no_secrets(&logs, &[PASSWORD]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pkcs12_modern_and_legacy_encodings() {
    let emu = emulator();
    let d = dir("p12");
    make_rsa_cert(&d, "30");
    register(&emu, &d, "cert.pem");
    let pass = format!("pass:{PASSWORD}");
    // OpenSSL 3 default: AES-256-CBC with PBKDF2.
    openssl(
        &d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-out",
            "modern.p12",
            "-passout",
            &pass,
        ],
    );
    let info = openssl(
        &d,
        &[
            "pkcs12",
            "-info",
            "-noout",
            "-in",
            "modern.p12",
            "-passin",
            &pass,
        ],
    );
    assert!(
        info.contains("PBKDF2") && info.contains("AES-256-CBC"),
        "{info}"
    );
    // Legacy: 3DES with a SHA-1 MAC.
    openssl(
        &d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-out",
            "legacy.p12",
            "-passout",
            &pass,
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    );
    let info = openssl(
        &d,
        &[
            "pkcs12",
            "-info",
            "-noout",
            "-in",
            "legacy.p12",
            "-passin",
            &pass,
        ],
    );
    assert!(info.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "{info}");
    // No password at all.
    openssl(
        &d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-out",
            "nopass.p12",
            "-passout",
            "pass:",
        ],
    );
    // `-legacy` (RC2-40 for the certificates) needs OpenSSL's legacy provider; use it when present.
    let rc2 = Command::new("openssl")
        .args([
            "pkcs12", "-export", "-legacy", "-in", "cert.pem", "-inkey", "key.pem", "-out",
            "rc2.p12", "-passout", &pass,
        ])
        .current_dir(&d)
        .output()
        .unwrap()
        .status
        .success();
    let ((), logs) = capture_logs(|| {
        for file in ["modern.p12", "legacy.p12"] {
            let c = builder(&emu)
                .certificate_path(d.join(file))
                .password(PASSWORD)
                .build()
                .unwrap();
            both_sides(&emu, &c);
            // The wrong password or none: a clear error naming the cause.
            let e = builder(&emu)
                .certificate_path(d.join(file))
                .password("nope")
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
            assert!(e.to_string().starts_with("CertificateCredential: The PKCS#12 certificate could not be opened: the password is wrong"), "{e}");
            assert!(
                builder(&emu)
                    .certificate_path(d.join(file))
                    .build()
                    .is_err()
            );
        }
        let c = builder(&emu)
            .certificate_path(d.join("nopass.p12"))
            .build()
            .unwrap();
        both_sides(&emu, &c);
        if rc2 {
            let c = builder(&emu)
                .certificate_path(d.join("rc2.p12"))
                .password(PASSWORD)
                .build()
                .unwrap();
            both_sides(&emu, &c);
        }
    });
    assert_no_secrets(&logs, &[PASSWORD]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn certificate_chain_is_sent_and_accepted() {
    let emu = emulator();
    let d = dir("chain");
    openssl(
        &d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=sp-test-ca",
        ],
    );
    openssl(
        &d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=sp-test-leaf",
        ],
    );
    openssl(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "30",
        ],
    );
    register(&emu, &d, "leaf.pem");
    // CA first in the file: the leaf is still found by its key.
    let path = cat(&d, "bundle.pem", &["ca.pem", "leaf.key", "leaf.pem"]);
    let pass = format!("pass:{PASSWORD}");
    openssl(
        &d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "leaf.pem",
            "-inkey",
            "leaf.key",
            "-certfile",
            "ca.pem",
            "-out",
            "chain.p12",
            "-passout",
            &pass,
        ],
    );
    let ((), logs) = capture_logs(|| {
        let certificate = ClientCertificate::from_path(&path, None).unwrap();
        assert_eq!(certificate.chain_der().len(), 2);
        assert!(certificate.subject().contains("sp-test-leaf"));
        let c = builder(&emu)
            .certificate(certificate)
            .send_certificate_chain(true)
            .build()
            .unwrap();
        both_sides(&emu, &c);
        let p12 = ClientCertificate::from_path(d.join("chain.p12"), Some(PASSWORD)).unwrap();
        assert_eq!(p12.chain_der().len(), 2);
        assert!(p12.subject().contains("sp-test-leaf"));
        let c = builder(&emu)
            .certificate(p12)
            .send_certificate_chain(true)
            .build()
            .unwrap();
        both_sides(&emu, &c);
    });
    assert_no_secrets(&logs, &[PASSWORD]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_certificates_give_clear_errors() {
    let emu = emulator();
    let d = dir("bad");
    openssl(
        &d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ec.key",
            "-out",
            "ec.pem",
            "-days",
            "30",
            "-subj",
            "/CN=sp-test-ec",
        ],
    );
    let pass = format!("pass:{PASSWORD}");
    openssl(
        &d,
        &[
            "pkcs12", "-export", "-in", "ec.pem", "-inkey", "ec.key", "-out", "ec.p12", "-passout",
            &pass,
        ],
    );
    make_rsa_cert(&d, "30");
    let ((), logs) = capture_logs(|| {
        for (file, password) in [
            (cat(&d, "ec-all.pem", &["ec.pem", "ec.key"]), None),
            (d.join("ec.p12"), Some(PASSWORD)),
        ] {
            let mut b = builder(&emu).certificate_path(file);
            if let Some(p) = password {
                b = b.password(p);
            }
            let e = b.build().unwrap_err();
            assert!(
                e.to_string().starts_with(
                    "CertificateCredential: The certificate must have an RSA private key"
                ),
                "{e}"
            );
            assert!(e.message().contains("elliptic-curve"), "{e}");
        }
        // A corrupt file.
        let mut data = std::fs::read(d.join("cert.pem")).unwrap();
        data.truncate(data.len() / 2);
        std::fs::write(d.join("corrupt.p12"), &data[40..]).unwrap();
        let e = builder(&emu)
            .certificate_path(d.join("corrupt.p12"))
            .build()
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "CertificateCredential: Failed to deserialize certificate in PEM or PKCS12 format"
            ),
            "{e}"
        );
        // A key that is not the certificate's.
        openssl(
            &d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "other.key",
            ],
        );
        let e = builder(&emu)
            .certificate_path(cat(&d, "mismatch.pem", &["cert.pem", "other.key"]))
            .build()
            .unwrap_err();
        assert!(e.message().contains("does not match"), "{e}");
        // Neither or both sources.
        let e = builder(&emu).build().unwrap_err();
        assert!(e.message().starts_with("A certificate is required"));
        let e = builder(&emu)
            .certificate_path("a")
            .certificate_data(vec![1])
            .build()
            .unwrap_err();
        assert!(e.message().starts_with("Give exactly one certificate"));
        // A certificate Entra does not know: its error, named.
        let c = builder(&emu)
            .certificate_path(cat(&d, "unknown.pem", &["cert.pem", "key.pem"]))
            .build()
            .unwrap();
        let e = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.credential(), "CertificateCredential");
        assert_eq!(e.aadsts_codes(), [700027]);
    });
    assert_no_secrets(&logs, &[PASSWORD]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn expired_certificate_warns_and_entra_decides() {
    let emu = emulator();
    let d = dir("expired");
    make_rsa_cert(&d, "1");
    register(&emu, &d, "cert.pem");
    // Three days later, for us and for the emulator.
    let later = SystemTime::now() + Duration::from_secs(3 * 86_400);
    emu.set_clock_offset(3 * 86_400);
    let clock = VirtualClock::starting_at(later);
    let ((), logs) = capture_logs(|| {
        let c = builder(&emu)
            .certificate_path(cat(&d, "all.pem", &["cert.pem", "key.pem"]))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let e = c.get_token_blocking(&TokenRequest::new(SCOPE)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().contains("expired"), "{e}");
        assert_eq!(emu.requests_for(Endpoint::Token).len(), 1);
    });
    assert!(
        logs.lines().any(|l| l.contains("WARN")
            && l.contains("CertificateCredential: the certificate")
            && l.contains("expired")),
        "{logs}"
    );
    assert_no_secrets(&logs, &[]);
    let _ = std::fs::remove_dir_all(&d);
}
