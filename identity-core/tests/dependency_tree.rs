//! The pay-for-what-you-use guarantees, checked from `cargo tree`: the blocking transport pulls
//! in no async stack, and without `rustls` there is no TLS code at all.

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
            "identity-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--no-default-features",
        ])
        .args(if features.is_empty() {
            vec![]
        } else {
            vec!["--features", features]
        })
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn has(crates: &[String], name: &str) -> bool {
    crates.iter().any(|c| c == name)
}

#[test]
fn no_features_means_no_http_stack() {
    let crates = tree("");
    for banned in ["ureq", "reqwest", "tokio", "hyper", "rustls", "ring"] {
        assert!(!has(&crates, banned), "{banned} in the no-feature build");
    }
}

#[test]
fn blocking_transport_has_no_async_stack_and_no_tls() {
    let crates = tree("ureq");
    assert!(has(&crates, "ureq"));
    for banned in [
        "tokio",
        "hyper",
        "reqwest",
        "rustls",
        "ring",
        "webpki-roots",
    ] {
        assert!(!has(&crates, banned), "{banned} in the ureq-only build");
    }
}

#[test]
fn blocking_transport_with_tls_has_rustls_but_no_async_stack() {
    let crates = tree("ureq,rustls");
    assert!(has(&crates, "rustls"));
    assert!(has(&crates, "ring"));
    for banned in ["tokio", "hyper", "reqwest", "aws-lc-rs", "aws-lc-sys"] {
        assert!(!has(&crates, banned), "{banned} in the ureq+rustls build");
    }
}

#[test]
fn async_transport_without_tls_has_no_rustls() {
    let crates = tree("reqwest");
    assert!(has(&crates, "reqwest"));
    for banned in ["rustls", "ring", "aws-lc-rs"] {
        assert!(!has(&crates, banned), "{banned} in the reqwest-only build");
    }
}

#[test]
fn async_transport_with_tls_uses_ring_not_aws_lc() {
    let crates = tree("reqwest,rustls");
    assert!(has(&crates, "rustls"));
    assert!(has(&crates, "ring"));
    for banned in [
        "aws-lc-rs",
        "aws-lc-sys",
        "openssl",
        "openssl-sys",
        "native-tls",
    ] {
        assert!(
            !has(&crates, banned),
            "{banned} in the reqwest+rustls build"
        );
    }
}
