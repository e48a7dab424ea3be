//! Gets a token with ClientSecretCredential from AZURE_TENANT_ID, AZURE_CLIENT_ID and
//! AZURE_CLIENT_SECRET, asynchronously: the size table's client-secret-only program.
use identity_core::TokenCredential;
use identity_service_principal::ClientSecretCredential;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let credential = ClientSecretCredential::builder()
        .tenant_id(var("AZURE_TENANT_ID"))
        .client_id(var("AZURE_CLIENT_ID"))
        .client_secret(var("AZURE_CLIENT_SECRET"))
        .build();
    let result = match credential {
        Ok(c) => c.get_token(&"https://vault.azure.net/.default".into()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(token) => println!("token expires at {}", token.expires_on_unix()),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
