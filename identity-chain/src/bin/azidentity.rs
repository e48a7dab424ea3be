//! `azidentity`: tokens from DefaultAzureCredential for scripts, printed the way
//! `az account get-access-token --output json` prints them.
//!
//! ```text
//! azidentity token --scope S [--scope S…] [--tenant T] [--credential NAME] [--output json|raw]
//! azidentity explain --scope S [--tenant T]
//! ```
//! Exit codes: 0 a token, 1 authentication failed, 2 usage or configuration error, 3 no
//! credential available.

use identity_chain::{ChainAttempts, DefaultAzureCredential, DefaultAzureCredentialOptions};
use identity_core::env::MapEnv;
use identity_core::protocol::entra::decode_jwt_claims_unverified;
use identity_core::{AccessToken, BlockingTokenCredential, Error, ErrorKind, TokenRequest};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

const USAGE: &str = "usage:
  azidentity token --scope S [--scope S...] [--tenant T] [--credential NAME] [--output json|raw]
  azidentity explain --scope S [--tenant T]

--credential takes what AZURE_TOKEN_CREDENTIALS takes: dev, prod, environmentcredential,
workloadidentitycredential, githubactionscredential, managedidentitycredential, azureclicredential,
azurepowershellcredential, azuredeveloperclicredential, visualstudiocodecredential.
Exit codes: 0 token, 1 authentication failed, 2 usage error, 3 no credential available.";

struct Args {
    command: String,
    scopes: Vec<String>,
    tenant: Option<String>,
    credential: Option<String>,
    raw: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let command = it.next().cloned().ok_or("a command is required")?;
    if command != "token" && command != "explain" {
        return Err(format!("unknown command '{command}'"));
    }
    let mut parsed = Args {
        command,
        scopes: Vec::new(),
        tenant: None,
        credential: None,
        raw: false,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--scope" | "--scopes" => parsed.scopes.push(value()?),
            "--tenant" => parsed.tenant = Some(value()?),
            "--credential" => parsed.credential = Some(value()?),
            "--output" | "-o" => match value()?.as_str() {
                "json" => parsed.raw = false,
                "raw" => parsed.raw = true,
                other => return Err(format!("--output takes json or raw, not '{other}'")),
            },
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if parsed.scopes.is_empty() {
        return Err("at least one --scope is required".into());
    }
    Ok(parsed)
}

fn exit_code(e: &Error) -> u8 {
    let all_unavailable = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<ChainAttempts>())
        .is_some_and(ChainAttempts::all_unavailable);
    match e.kind() {
        ErrorKind::InvalidConfiguration | ErrorKind::InvalidRequest => 2,
        k if k.chain_continues() || all_unavailable => 3,
        _ => 1,
    }
}

fn credential(selection: Option<&str>) -> Result<DefaultAzureCredential, Error> {
    let mut env: MapEnv = std::env::vars().collect();
    if let Some(name) = selection {
        env.set("AZURE_TOKEN_CREDENTIALS", name);
    }
    DefaultAzureCredential::with_options(
        DefaultAzureCredentialOptions::default().env(Arc::new(env)),
    )
}

fn as_json(token: &AccessToken, tenant: Option<&str>) -> String {
    let claims = decode_jwt_claims_unverified(token.token().secret()).unwrap_or_default();
    let tenant = tenant.map(str::to_owned).or_else(|| {
        claims
            .get("tid")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
    });
    let local = chrono::DateTime::<chrono::Local>::from(token.expires_on())
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    let value = serde_json::json!({
        "accessToken": token.token().secret(),
        "expiresOn": local,
        "expires_on": token.expires_on_unix(),
        "tenant": tenant,
        "tokenType": token.token_type(),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::from(if args.is_empty() { 2 } else { 0 });
    }
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("azidentity: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut request = TokenRequest::with_scopes(args.scopes.clone());
    if let Some(t) = &args.tenant {
        request = request.with_tenant_id(t.clone());
    }
    let credential = match credential(args.credential.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("azidentity: {e}");
            return ExitCode::from(2);
        }
    };
    if args.command == "explain" {
        return explain(&credential, &request);
    }
    match credential.get_token_blocking(&request) {
        Ok(token) => {
            if args.raw {
                println!("{}", token.token().secret());
            } else {
                println!("{}", as_json(&token, args.tenant.as_deref()));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("azidentity: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Tries each member in order, on its own, and says what happened.
fn explain(credential: &DefaultAzureCredential, request: &TokenRequest) -> ExitCode {
    println!("DefaultAzureCredential, in order:");
    let mut first_success = None;
    for (i, member) in credential.chain_members().iter().enumerate() {
        let Some(c) = member.blocking_credential() else {
            continue;
        };
        let started = Instant::now();
        let outcome = c.get_token_blocking(request);
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok(token) => {
                println!(
                    "  {}. {} — token, expires in {} s ({ms} ms)",
                    i + 1,
                    member.name(),
                    token.expires_in(SystemTime::now()).as_secs()
                );
                first_success.get_or_insert(member.name());
            }
            Err(e) => {
                let what = if e.kind().chain_continues() {
                    "unavailable"
                } else {
                    "FAILED (a chain stops here)"
                };
                println!(
                    "  {}. {} — {what} ({ms} ms): {}",
                    i + 1,
                    member.name(),
                    e.message().replace('\n', "\n       ")
                );
            }
        }
    }
    match first_success {
        Some(name) => {
            println!(
                "DefaultAzureCredential would answer with {name} (unless a failure above stops it first)."
            );
            ExitCode::SUCCESS
        }
        None => ExitCode::from(3),
    }
}
