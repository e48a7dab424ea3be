//! Keyless Azure OpenAI, as a user writes it: DefaultAzureCredential and a bearer token
//! provider feed a chat-completions call; no API key anywhere.
//!
//! ```sh
//! AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com AZURE_OPENAI_DEPLOYMENT=gpt-4o \
//!   cargo run -p identity-chain --example keyless_openai
//! ```
//! (`cargo xtask demo` runs the same flow against identity-emulator.)

use identity_chain::{DefaultAzureCredential, get_bearer_token_provider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("AZURE_OPENAI_ENDPOINT")?;
    let deployment = std::env::var("AZURE_OPENAI_DEPLOYMENT").unwrap_or_else(|_| "gpt-4o".into());

    let credential = DefaultAzureCredential::new()?;
    let provider = get_bearer_token_provider(
        credential,
        &["https://cognitiveservices.azure.com/.default"],
    );

    identity_core::transport::install_default_tls_provider();
    let client = reqwest::Client::new();
    let body = r#"{"messages":[{"role":"user","content":"Say hello in one word."}]}"#;
    let request = client
        .post(format!(
            "{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21"
        ))
        .header("Content-Type", "application/json")
        .body(body);
    let response = provider.send(request).await?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}
