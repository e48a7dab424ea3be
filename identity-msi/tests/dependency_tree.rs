//! The plain-HTTP sources build with no TLS code: without `service-fabric` there is no
//! rustls, ring, tokio, hyper or reqwest under the blocking transport.

use std::process::Command;

fn tree(features: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "tree",
            "--manifest-path",
            manifest,
            "-p",
            "identity-msi",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--no-default-features",
            "--features",
            features,
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut crates: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

fn has(crates: &[String], name: &str) -> bool {
    crates.iter().any(|c| c == name)
}

#[test]
fn blocking_build_has_no_tls_and_no_async_stack() {
    let crates = tree("ureq");
    assert!(has(&crates, "ureq"));
    for banned in [
        "rustls",
        "ring",
        "tokio",
        "hyper",
        "reqwest",
        "webpki-roots",
        "aws-lc-rs",
        "openssl",
        "native-tls",
    ] {
        assert!(
            !has(&crates, banned),
            "{banned} in the ureq-only build: {crates:?}"
        );
    }
    println!(
        "ureq-only build: {} crates (identity-msi included)",
        crates.len()
    );
}

#[test]
fn async_build_without_service_fabric_has_no_tls() {
    let crates = tree("reqwest,tokio");
    assert!(has(&crates, "reqwest"));
    for banned in ["rustls", "ring", "aws-lc-rs", "openssl", "native-tls"] {
        assert!(!has(&crates, banned), "{banned} in the reqwest build");
    }
}

#[test]
fn service_fabric_brings_rustls_with_ring() {
    let crates = tree("ureq,service-fabric");
    assert!(has(&crates, "rustls"));
    assert!(has(&crates, "ring"));
    assert!(has(&crates, "sha1"));
    for banned in ["tokio", "hyper", "reqwest", "aws-lc-rs", "aws-lc-sys"] {
        assert!(
            !has(&crates, banned),
            "{banned} in the ureq+service-fabric build"
        );
    }
}
