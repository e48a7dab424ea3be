//! InteractiveBrowserCredential in DefaultAzureCredential (feature `interactive`): left out by
//! default, selectable, and "unavailable" (suggesting device code) where no browser can open.
#![cfg(all(feature = "interactive", feature = "ureq", feature = "rustls"))]

use identity_chain::{
    BlockingTokenCredential, DefaultAzureCredential, DefaultAzureCredentialOptions, DefaultMember,
};
use identity_core::env::MapEnv;
use std::sync::Arc;

fn build(vars: &[(&str, &str)], options: DefaultAzureCredentialOptions) -> DefaultAzureCredential {
    let env: MapEnv = vars.iter().map(|(k, v)| (*k, *v)).collect();
    DefaultAzureCredential::with_options(options.env(Arc::new(env))).unwrap()
}

#[test]
fn left_out_by_default_and_selectable() {
    let d = DefaultAzureCredentialOptions::default;
    assert!(
        !build(&[("PATH", "/usr/bin:/bin")], d())
            .members()
            .contains(&"InteractiveBrowserCredential")
    );
    let only = build(
        &[
            ("PATH", "/usr/bin:/bin"),
            ("AZURE_TOKEN_CREDENTIALS", "interactivebrowsercredential"),
        ],
        d(),
    );
    assert_eq!(only.members(), ["InteractiveBrowserCredential"]);
    let with = build(
        &[("PATH", "/usr/bin:/bin")],
        d().exclude(DefaultMember::InteractiveBrowser, false),
    );
    assert_eq!(with.members().last(), Some(&"InteractiveBrowserCredential"));
    // No BROWSER, no display: no browser can open, so it is unavailable and says what to use.
    let e = only
        .get_token_blocking(&"https://management.azure.com/.default".into())
        .unwrap_err();
    assert!(
        e.message().contains("DeviceCodeCredential"),
        "{}",
        e.message()
    );
}
