//! Gets a managed-identity token with the official azure_identity crate and prints its expiry.
use azure_core::credentials::TokenCredential;
use azure_identity::ManagedIdentityCredential;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let credential = ManagedIdentityCredential::new(None).expect("credential");
    match credential.get_token(&["https://management.azure.com/.default"], None).await {
        Ok(token) => println!("token expires at {}", token.expires_on),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
