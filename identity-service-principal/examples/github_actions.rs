//! The program of `examples/github-actions.yml`: gets an Azure Resource Manager token in a
//! GitHub Actions job with GitHubActionsCredential and prints who it is (never the token).

use identity_core::protocol::entra::decode_jwt_claims_unverified;
use identity_core::{BlockingTokenCredential, TokenRequest};
use identity_service_principal::GitHubActionsCredential;

fn main() -> Result<(), identity_core::Error> {
    let credential = GitHubActionsCredential::builder().build()?;
    let token = credential
        .get_token_blocking(&TokenRequest::new("https://management.azure.com/.default"))?;
    let claims = decode_jwt_claims_unverified(token.token().secret()).unwrap_or_default();
    println!(
        "signed in as app {} in tenant {}; token expires at {:?}",
        claims.get("appid").and_then(|v| v.as_str()).unwrap_or("?"),
        claims.get("tid").and_then(|v| v.as_str()).unwrap_or("?"),
        token.expires_on()
    );
    Ok(())
}
