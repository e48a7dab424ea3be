//! Like `imds_blocking`, but over the crate's own [`DirectHttpClient`]: no `ureq`, no HTTP
//! stack at all — the smallest managed-identity binary.
//!
//! ```text
//! cargo run --release -p identity-msi --example imds_direct --no-default-features [-- SCOPE]
//! ```

use identity_core::BlockingTokenCredential;
use identity_msi::{DirectHttpClient, ManagedIdentityCredential};
use std::sync::Arc;

fn main() {
    let scope = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://management.azure.com/.default".to_owned());
    let result = ManagedIdentityCredential::builder()
        .http_client(Arc::new(DirectHttpClient::new()))
        .build()
        .and_then(|credential| credential.get_token_blocking(&scope.as_str().into()));
    match result {
        Ok(token) => println!(
            "token expires at {} (Unix seconds)",
            token.expires_on_unix()
        ),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
