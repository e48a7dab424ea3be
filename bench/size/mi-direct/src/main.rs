//! Gets a managed-identity token over identity-msi's built-in HTTP client and prints when it
//! expires: the size table's smallest program (a copy of identity-msi/examples/imds_direct.rs).
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
