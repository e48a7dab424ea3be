//! Feature-gated builds pull in only their families: a managed-identity-only blocking build has
//! no reqwest, tokio, TLS, process-running or interactive code.

use std::process::Command;

fn tree(features: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            "-p",
            "identity-chain",
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
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn managed_identity_only_blocking_build() {
    let crates = tree("managed-identity,ureq");
    assert!(crates.iter().any(|c| c == "identity-msi"));
    for banned in [
        "reqwest",
        "tokio",
        "hyper",
        "rustls",
        "ring",
        "identity-dev-tools",
        "identity-service-principal",
        "identity-interactive",
        "chrono",
    ] {
        assert!(
            !crates.iter().any(|c| c == banned),
            "{banned} in the managed-identity-only build"
        );
    }
}

#[test]
fn dev_tools_only_build_has_no_http_stack() {
    let crates = tree("dev-tools");
    assert!(crates.iter().any(|c| c == "identity-dev-tools"));
    for banned in [
        "reqwest",
        "ureq",
        "tokio",
        "hyper",
        "rustls",
        "identity-msi",
        "identity-service-principal",
    ] {
        assert!(
            !crates.iter().any(|c| c == banned),
            "{banned} in the dev-tools-only build"
        );
    }
}
