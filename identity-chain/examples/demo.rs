//! `cargo xtask demo`: starts identity-emulator on 127.0.0.1 and gets tokens through what this
//! workspace has so far, printing which path answered and the token's claims (never the token).

use identity_core::env::MapEnv;
use identity_core::pipeline::BlockingPipeline;
use identity_core::protocol::entra::{self, ClientAuth, Grant, TokenRequestParams};
use identity_core::retry::RetryPolicy;
use identity_core::transport::{TransportOptions, default_blocking_client};
use identity_core::{AccessToken, Secret, TokenRequest};
use identity_emulator::{Emulator, EmulatorConfig};
use std::time::SystemTime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::start(EmulatorConfig::default())?;
    println!("identity-emulator is up:");
    println!("  Entra (HTTPS)            {}", emu.authority_host());
    println!("  managed identity (HTTP)  {}", emu.mi_url());
    println!("  CA certificate           {}", emu.ca_path().display());
    println!();

    let client = default_blocking_client(
        &TransportOptions::default().with_root_certificate_pem(emu.ca_pem()),
    )?;
    let pipeline = BlockingPipeline::new(client, &MapEnv::new());
    let request = TokenRequest::new("https://management.azure.com/.default");

    // The Entra client-credentials protocol of identity-core, driven by hand: the credential
    // crates wrap exactly this (plus caching) behind `get_token`.
    let endpoint = entra::token_endpoint(&emu.authority_host(), emu.tenant_id());
    let secret = Secret::new(emu.client_secret());
    let scope = entra::join_scopes(request.scopes());
    let sent = SystemTime::now();
    let response = pipeline.send(
        entra::token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: emu.client_id(),
            grant: Grant::ClientCredentials,
            client_auth: ClientAuth::Secret(&secret),
            scope: &scope,
            claims: None,
            client_info: false,
        }),
        &RetryPolicy::default(),
    )?;
    let token = entra::parse_token_response(&response, sent)?.token;
    show("identity-core Entra protocol (client secret)", &token);

    // A wrong secret: the error names the failure, carries the AADSTS code, holds no secret.
    let wrong = Secret::new("not-the-secret");
    let response = pipeline.send(
        entra::token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: emu.client_id(),
            grant: Grant::ClientCredentials,
            client_auth: ClientAuth::Secret(&wrong),
            scope: &scope,
            claims: None,
            client_info: false,
        }),
        &RetryPolicy::default(),
    )?;
    match entra::parse_token_response(&response, SystemTime::now()) {
        Ok(_) => println!("unexpected: a wrong secret was accepted"),
        Err(e) => println!(
            "a wrong secret is refused:\n  {e}\n  (status {:?}, AADSTS {:?})\n",
            e.status(),
            e.aadsts_codes()
        ),
    }

    println!(
        "No credential type exists yet (see the README's credential table): the demo shows\n\
         DefaultAzureCredential and friends as soon as they land."
    );
    Ok(())
}

fn show(path: &str, token: &AccessToken) {
    println!("token from: {path}");
    let claims = entra::decode_jwt_claims_unverified(token.token().secret()).unwrap_or_default();
    for name in ["aud", "tid", "appid", "oid", "iss"] {
        if let Some(value) = claims.get(name) {
            println!("  {name:<6} {value}");
        }
    }
    let left = token.expires_in(SystemTime::now()).as_secs();
    println!(
        "  expires in {left} s (token type {})\n",
        token.token_type()
    );
}
