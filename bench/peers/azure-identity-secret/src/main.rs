//! Gets a token with the official crate's ClientSecretCredential (AZURE_TENANT_ID,
//! AZURE_CLIENT_ID, AZURE_CLIENT_SECRET): the size table's client-secret-only program.
use azure_core::credentials::{Secret, TokenCredential};
use azure_identity::ClientSecretCredential;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let credential = ClientSecretCredential::new(
        &var("AZURE_TENANT_ID"),
        var("AZURE_CLIENT_ID"),
        Secret::new(var("AZURE_CLIENT_SECRET")),
        None,
    )
    .expect("credential");
    match credential.get_token(&["https://vault.azure.net/.default"], None).await {
        Ok(token) => println!("token expires at {}", token.expires_on),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
