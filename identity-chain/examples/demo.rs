//! `cargo xtask demo`: starts identity-emulator on 127.0.0.1 and shows DefaultAzureCredential
//! picking managed identity, then the environment, then the Azure CLI, as the environment
//! changes; then the keyless Azure OpenAI call. Claims are shown, never a token. No traffic
//! leaves the machine: IMDS is pointed at a loopback address that never answers.

use identity_chain::{
    DefaultAzureCredential, DefaultAzureCredentialOptions, get_bearer_token_provider,
};
use identity_core::env::MapEnv;
use identity_core::protocol::entra::decode_jwt_claims_unverified;
use identity_core::transport::{TransportOptions, tls};
use identity_core::{AccessToken, BlockingTokenCredential};
use identity_emulator::{Emulator, EmulatorConfig, ManagedIdentitySource};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let emu = Emulator::start(EmulatorConfig::default())?;
    let silent_imds = std::net::TcpListener::bind("127.0.0.1:0")?;
    let imds = format!("http://{}", silent_imds.local_addr()?);
    println!(
        "identity-emulator: Entra {}  managed identity {}  CA {}\n",
        emu.authority_host(),
        emu.mi_url(),
        emu.ca_path().display()
    );
    let path = std::env::var("PATH").unwrap_or_default();
    let home = std::env::temp_dir().join(format!("azid-demo-{}", std::process::id()));
    std::fs::create_dir_all(&home)?;
    let base = vec![
        ("PATH".to_owned(), path.clone()),
        ("HOME".to_owned(), home.display().to_string()),
    ];
    let dac = |extra: Vec<(String, String)>| -> Res<DefaultAzureCredential> {
        let mut vars = base.clone();
        vars.extend(extra);
        let mut options = DefaultAzureCredentialOptions::default()
            .env(Arc::new(vars.into_iter().collect::<MapEnv>()))
            .transport_options(TransportOptions::default().with_root_certificate_pem(emu.ca_pem()));
        options.imds_endpoint = Some(imds.clone());
        Ok(DefaultAzureCredential::with_options(options)?)
    };
    let scope = "https://management.azure.com/.default";

    println!("1. An App Service with a managed identity (IDENTITY_ENDPOINT, IDENTITY_HEADER):");
    let credential = dac(emu.managed_identity_env(ManagedIdentitySource::AppService))?;
    show(&credential, scope)?;

    println!(
        "2. A CI job with a service principal (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET):"
    );
    let sp: Vec<_> = emu
        .env_vars()
        .into_iter()
        .filter(|(k, _)| k.starts_with("AZURE_") && k != "AZURE_POD_IDENTITY_AUTHORITY_HOST")
        .collect();
    let credential = dac(sp)?;
    show(&credential, scope)?;

    println!("3. A developer laptop (no service principal, no managed identity):");
    match az_logged_into(&emu, &home)? {
        Some((az_dir, config)) => {
            let credential = dac(vec![
                ("PATH".into(), format!("{}:{path}", az_dir.display())),
                ("AZURE_CONFIG_DIR".into(), config.display().to_string()),
                (
                    "REQUESTS_CA_BUNDLE".into(),
                    emu.ca_path().display().to_string(),
                ),
                ("AZURE_CORE_INSTANCE_DISCOVERY".into(), "false".into()),
            ])?;
            show(&credential, scope)?;
        }
        None => {
            println!(
                "   (the Azure CLI is not installed here: `cargo xtask ci` installs it; this is what DefaultAzureCredential says then)"
            );
            let credential = dac(Vec::new())?;
            let started = Instant::now();
            match credential.get_token_blocking(&scope.into()) {
                Ok(_) => println!("   unexpected: a token"),
                Err(e) => println!(
                    "   failed after {:.1} s (the IMDS probe's bound):\n   {}\n",
                    started.elapsed().as_secs_f64(),
                    e.to_string().replace('\n', "\n   ")
                ),
            }
        }
    }

    println!(
        "4. Keyless Azure OpenAI: a bearer token provider for https://cognitiveservices.azure.com/.default feeds a chat completion:"
    );
    let sp: Vec<_> = emu
        .env_vars()
        .into_iter()
        .filter(|(k, _)| k.starts_with("AZURE_") && k != "AZURE_POD_IDENTITY_AUTHORITY_HOST")
        .collect();
    let provider =
        get_bearer_token_provider(dac(sp)?, &["https://cognitiveservices.azure.com/.default"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let config = tls::client_config(tls::root_store(tls::trusted_roots(&[emu
        .ca_pem()
        .to_owned()])?))?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()?;
    let url = format!(
        "{}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
        emu.authority_host()
    );
    let body = r#"{"messages":[{"role":"user","content":"Hello from Rust, without an API key"}]}"#;
    let answer = rt.block_on(async {
        let response = provider
            .send(
                client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(body),
            )
            .await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok::<_, Box<dyn std::error::Error>>((status, text))
    })?;
    println!("   HTTP {}: {}\n", answer.0, answer.1);
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}

fn show(credential: &DefaultAzureCredential, scope: &str) -> Res<()> {
    let started = Instant::now();
    let token = credential.get_token_blocking(&scope.into())?;
    println!(
        "   answered by {} in {:.0} ms",
        credential.selected().unwrap_or("?"),
        started.elapsed().as_secs_f64() * 1000.0
    );
    claims(&token);
    Ok(())
}

fn claims(token: &AccessToken) {
    let claims = decode_jwt_claims_unverified(token.token().secret()).unwrap_or_default();
    let mut line = String::new();
    for name in ["aud", "tid", "appid", "oid", "xms_mirid"] {
        if let Some(v) = claims.get(name).and_then(|v| v.as_str()) {
            line.push_str(&format!("{name}={v}  "));
        }
    }
    println!(
        "   claims: {line}\n   expires in {} s\n",
        token.expires_in(SystemTime::now()).as_secs()
    );
}

/// When the Azure CLI installed by `cargo xtask ci` is here, logs it into the emulator as a
/// custom cloud in a private config directory.
fn az_logged_into(emu: &Emulator, home: &std::path::Path) -> Res<Option<(PathBuf, PathBuf)>> {
    let tools = std::env::var("AZID_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/azure-identity-rs/tools")
        });
    let az = tools.join("azure-cli-2.91.0/bin/az");
    if !az.is_file() {
        return Ok(None);
    }
    let config = home.join("azure");
    std::fs::create_dir_all(&config)?;
    std::fs::write(
        config.join("versionCheck.json"),
        format!("{{\"last_checked\": \"{}\"}}", "2099-01-01 00:00:00.000000"),
    )?;
    let run = |args: &[&str]| -> Res<bool> {
        Ok(Command::new(&az)
            .args(args)
            .env("AZURE_CONFIG_DIR", &config)
            .env("REQUESTS_CA_BUNDLE", emu.ca_path())
            .env("AZURE_CORE_INSTANCE_DISCOVERY", "false")
            .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?
            .success())
    };
    let authority = emu.authority_host();
    let arm = format!("{authority}/");
    let ok = run(&[
        "cloud",
        "register",
        "--name",
        "Emulator",
        "--skip-endpoint-discovery",
        "--endpoint-active-directory",
        &authority,
        "--endpoint-resource-manager",
        &arm,
        "--endpoint-active-directory-resource-id",
        "https://management.core.windows.net/",
        "--endpoint-active-directory-graph-resource-id",
        "https://graph.windows.net/",
    ])? && run(&["cloud", "set", "--name", "Emulator"])?
        && run(&[
            "login",
            "--service-principal",
            "-u",
            emu.client_id(),
            "-p",
            emu.client_secret(),
            "--tenant",
            emu.tenant_id(),
            "--allow-no-subscriptions",
            "--output",
            "none",
        ])?;
    println!(
        "   (az login into the emulator as a custom cloud: {})",
        if ok { "done" } else { "failed" }
    );
    Ok(ok.then(|| (az.parent().map(PathBuf::from).unwrap_or_default(), config)))
}
