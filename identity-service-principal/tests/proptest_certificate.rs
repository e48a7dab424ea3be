//! Property tests of certificate loading (issue #13; the `certificate` fuzz target runs the same
//! properties for longer): PEM and PKCS#12 (AES/PBKDF2, 3DES, RC2), with and without a
//! password. Arbitrary and mutated files never panic and never show the password; crafted
//! key-derivation parameters are refused before any work; 10 MB files fail quickly.
//! Certificates are made with the `openssl` command line, as users make them.
#![cfg(feature = "certificate")]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use identity_core::ErrorKind;
use identity_service_principal::ClientCertificate;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PASSWORD: &str = "PLANTED-p12-password-7f3a9c";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files every test reads, made once: (name, bytes, needs the password).
fn files() -> &'static [(&'static str, Vec<u8>, bool)] {
    static FILES: OnceLock<Vec<(&'static str, Vec<u8>, bool)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("sp-cert-proptest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pass = format!("pass:{PASSWORD}");
        #[rustfmt::skip]
        let commands: [&[&str]; 7] = [
            &["req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "30", "-subj", "/CN=proptest"],
            &["pkcs8", "-topk8", "-in", "key.pem", "-out", "key-enc.pem", "-passout", &pass],
            &["pkcs8", "-topk8", "-in", "key.pem", "-out", "key-scrypt.pem", "-passout", &pass, "-scrypt", "-scrypt_N", "1024", "-scrypt_r", "8", "-scrypt_p", "1"],
            &["pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-out", "modern.p12", "-passout", &pass],
            &["pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-out", "legacy.p12", "-passout", &pass, "-legacy"],
            &["pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-out", "des3.p12", "-passout", &pass, "-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"],
            &["pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-out", "nopass.p12", "-passout", "pass:"],
        ];
        for args in commands {
            openssl(&dir, args);
        }
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let pem = |key: &str| [read("cert.pem"), read(key)].concat();
        let files = vec![
            ("pem", pem("key.pem"), false),
            ("encrypted pem", pem("key-enc.pem"), true),
            ("scrypt pem", pem("key-scrypt.pem"), true),
            ("modern p12", read("modern.p12"), true),
            ("legacy p12", read("legacy.p12"), true),
            ("3des p12", read("des3.p12"), true),
            ("p12 without password", read("nopass.p12"), false),
        ];
        let _ = std::fs::remove_dir_all(&dir);
        files
    })
}

fn load(data: &[u8], password: Option<&str>) -> Result<ClientCertificate, identity_core::Error> {
    let result = ClientCertificate::from_bytes(data, password);
    match &result {
        Ok(c) => {
            assert_eq!(c.thumbprint_sha1_hex().len(), 40);
            assert!(!c.chain_der().is_empty());
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(PASSWORD), "the password shows: {shown}");
        }
    }
    result
}

fn password() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("")),
        Just(Some(PASSWORD)),
        Just(Some("wrong"))
    ]
}

/// The DER of a PEM body.
fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = &pem[pem.find(&begin).unwrap() + begin.len()..pem.find(&end).unwrap()];
    STANDARD
        .decode(body.split_whitespace().collect::<String>())
        .unwrap()
}

fn der_pem(der: &[u8], label: &str) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A DER element: tag and either content bytes or children (SEQUENCE).
enum Der {
    Leaf(u8, Vec<u8>),
    Seq(Vec<Der>),
}

fn der_parse(mut data: &[u8]) -> Vec<Der> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let tag = data[0];
        let (len, header) = match data[1] {
            n if n < 0x80 => (usize::from(n), 2),
            n => {
                let k = usize::from(n & 0x7f);
                let len = data[2..2 + k]
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | usize::from(*b));
                (len, 2 + k)
            }
        };
        let content = &data[header..header + len];
        out.push(if tag == 0x30 {
            Der::Seq(der_parse(content))
        } else {
            Der::Leaf(tag, content.to_vec())
        });
        data = &data[header + len..];
    }
    out
}

fn der_write(items: &[Der]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        let (tag, content) = match item {
            Der::Leaf(tag, content) => (*tag, content.clone()),
            Der::Seq(children) => (0x30, der_write(children)),
        };
        out.push(tag);
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend(content);
    }
    out
}

/// Replaces the `index`-th INTEGER (depth first) of the key-derivation parameters.
fn set_integer(items: &mut [Der], index: &mut usize, value: &[u8]) -> bool {
    for item in items {
        match item {
            Der::Leaf(0x02, content) => {
                if *index == 0 {
                    *content = value.to_vec();
                    return true;
                }
                *index -= 1;
            }
            Der::Seq(children) => {
                if set_integer(children, index, value) {
                    return true;
                }
            }
            Der::Leaf(..) => {}
        }
    }
    false
}

/// The encrypted key of `file` with its `nth` INTEGER (0: PBKDF2 iterations or scrypt N) set.
fn crafted_key(file: &str, nth: usize, value: &[u8]) -> Vec<u8> {
    let pem = String::from_utf8(files().iter().find(|f| f.0 == file).unwrap().1.clone()).unwrap();
    let mut tree = der_parse(&pem_der(&pem, "ENCRYPTED PRIVATE KEY"));
    assert!(set_integer(&mut tree, &mut { nth }, value));
    let key = der_pem(&der_write(&tree), "ENCRYPTED PRIVATE KEY");
    let cert = &pem[..pem.find("-----BEGIN ENCRYPTED").unwrap()];
    format!("{cert}{key}").into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), pem in any::<bool>(), password in password()) {
        let data = if pem {
            [b"-----BEGIN PRIVATE KEY-----\n".as_slice(), &data, b"\n-----END PRIVATE KEY-----\n"].concat()
        } else {
            data
        };
        prop_assert!(load(&data, password).is_err());
    }

    #[test]
    fn mutated_files_never_panic_nor_show_the_password(
        which in 0usize..7,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        password in password(),
    ) {
        let mut data = files()[which].1.clone();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] ^= byte;
        }
        if truncate {
            data.truncate(cut.index(data.len()));
        }
        let _ = load(&data, password);
    }
}

#[test]
fn every_format_loads_with_its_password_and_not_without() {
    for (name, data, needs_password) in files() {
        if *needs_password {
            load(data, Some(PASSWORD)).unwrap_or_else(|e| panic!("{name}: {e}"));
            for wrong in [None, Some("wrong")] {
                let e = load(data, wrong).expect_err(name);
                assert_eq!(e.kind(), ErrorKind::InvalidConfiguration, "{name}");
            }
        } else {
            load(data, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// Regression: a crafted scrypt N (2^40) made the process try to allocate a petabyte and abort;
/// 10^8 PBKDF2 iterations kept it busy for minutes. Both are refused before deriving anything.
#[test]
fn costly_key_derivation_is_refused_up_front() {
    let huge_n = crafted_key("scrypt pem", 0, &[0x01, 0, 0, 0, 0, 0]);
    let e = load(&huge_n, Some(PASSWORD)).unwrap_err();
    assert!(e.message().contains("scrypt with N=1099511627776"), "{e}");
    let many_iterations = crafted_key("encrypted pem", 0, &[0x05, 0xf5, 0xe1, 0x00]);
    let e = load(&many_iterations, Some(PASSWORD)).unwrap_err();
    assert!(e.message().contains("100000000 PBKDF2 iterations"), "{e}");
    // Ordinary parameters still load after the same rewriting.
    let bound_n = crafted_key("scrypt pem", 0, &[0x04, 0x00]);
    load(&bound_n, Some(PASSWORD)).unwrap();
}

#[test]
fn ten_megabyte_files_fail_with_a_clear_error() {
    let garbage: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let e = load(&garbage, Some(PASSWORD)).unwrap_err();
    assert!(
        e.message().starts_with("Failed to deserialize certificate"),
        "{e}"
    );
    let pem = [
        b"-----BEGIN CERTIFICATE-----\n".as_slice(),
        &vec![b'A'; 10 * 1024 * 1024],
        b"\n-----END CERTIFICATE-----\n",
    ]
    .concat();
    let e = load(&pem, None).unwrap_err();
    assert!(e.to_string().len() < 2_000, "{e}");
}
