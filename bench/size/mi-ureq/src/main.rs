//! Gets a managed-identity token over ureq and prints when it expires: the size table's
//! managed-identity program (a copy of identity-msi/examples/imds_blocking.rs).
use identity_core::BlockingTokenCredential;
use identity_msi::ManagedIdentityCredential;

fn main() {
    let scope = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://management.azure.com/.default".to_owned());
    let result = ManagedIdentityCredential::builder()
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
