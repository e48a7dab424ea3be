//! `peer-azure-identity <scenario> <iterations>`: the official azure_identity crate's side of
//! `cargo xtask bench`, printing `{"samples_ns": [...]}`. Same scenarios and environment as
//! bench/ours (see its main.rs); scenarios the official crate has no equivalent for are refused.
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, DeveloperToolsCredential,
    ManagedIdentityCredential,
};
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SCOPE: &str = "https://vault.azure.net/.default";
const BATCH: u32 = 100_000;

fn var(name: &str) -> Res<String> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

fn secret_credential() -> Res<Arc<ClientSecretCredential>> {
    let ca = std::fs::read(var("BENCH_CA")?)?;
    let client = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&ca)?)
        .build()?;
    let options = ClientSecretCredentialOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(client))),
            ..Default::default()
        },
    };
    Ok(ClientSecretCredential::new(
        &var("AZURE_TENANT_ID")?,
        var("AZURE_CLIENT_ID")?,
        Secret::new(var("AZURE_CLIENT_SECRET")?),
        Some(options),
    )?)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(scenario), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: peer-azure-identity <scenario> <iterations>");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(scenario, n)) {
        Ok(samples) => println!("{}", serde_json::json!({ "samples_ns": samples })),
        Err(e) => {
            eprintln!("peer-azure-identity {scenario}: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(scenario: &str, n: usize) -> Res<Vec<u64>> {
    let mut samples = Vec::with_capacity(n);
    match scenario {
        "secret-async" => {
            for _ in 0..n {
                let started = Instant::now();
                secret_credential()?.get_token(&[SCOPE], None).await?;
                samples.push(started.elapsed().as_nanos() as u64);
            }
        }
        "mi-async" => {
            for _ in 0..n {
                let started = Instant::now();
                ManagedIdentityCredential::new(None)?
                    .get_token(&[SCOPE], None)
                    .await?;
                samples.push(started.elapsed().as_nanos() as u64);
            }
        }
        "cached-1t" | "cached-2t" => {
            let threads = if scenario == "cached-1t" { 1 } else { 2 };
            let credential = secret_credential()?;
            credential.get_token(&[SCOPE], None).await?;
            for _ in 0..n {
                let barrier = Arc::new(std::sync::Barrier::new(threads));
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        let (credential, barrier) = (credential.clone(), barrier.clone());
                        std::thread::spawn(move || -> Result<u64, String> {
                            let rt = tokio::runtime::Builder::new_current_thread()
                                .enable_all()
                                .build()
                                .map_err(|e| e.to_string())?;
                            barrier.wait();
                            let started = Instant::now();
                            rt.block_on(async {
                                for _ in 0..BATCH {
                                    std::hint::black_box(
                                        credential
                                            .get_token(&[SCOPE], None)
                                            .await
                                            .map_err(|e| e.to_string())?,
                                    );
                                }
                                Ok::<_, String>(())
                            })?;
                            Ok(started.elapsed().as_nanos() as u64 / u64::from(BATCH))
                        })
                    })
                    .collect();
                let mut per_call = 0;
                for h in handles {
                    per_call = per_call.max(h.join().map_err(|_| "a bench thread panicked")??);
                }
                samples.push(per_call);
            }
        }
        "herd-1000" | "keys-5" => {
            let scopes: Vec<String> = if scenario == "herd-1000" {
                vec![SCOPE.to_owned(); 1000]
            } else {
                (0..5)
                    .map(|i| format!("https://bench-{i}.example.com/.default"))
                    .collect()
            };
            for _ in 0..n {
                let credential = secret_credential()?;
                let started = Instant::now();
                let tasks: Vec<_> = scopes
                    .iter()
                    .cloned()
                    .map(|scope| {
                        let credential = credential.clone();
                        tokio::spawn(async move {
                            credential
                                .get_token(&[scope.as_str()], None)
                                .await
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await??;
                }
                samples.push(started.elapsed().as_nanos() as u64);
            }
        }
        // The official crate has no DefaultAzureCredential: its DeveloperToolsCredential (az, azd)
        // is the nearest thing. PATH comes from the environment xtask gives this process.
        "dac-none" => {
            for _ in 0..n {
                let started = Instant::now();
                if DeveloperToolsCredential::new(None)?
                    .get_token(&[SCOPE], None)
                    .await
                    .is_ok()
                {
                    return Err("a token with nothing available".into());
                }
                samples.push(started.elapsed().as_nanos() as u64);
            }
        }
        "dac-slow-az" => {
            for _ in 0..n {
                let started = Instant::now();
                DeveloperToolsCredential::new(None)?
                    .get_token(&[SCOPE], None)
                    .await?;
                samples.push(started.elapsed().as_nanos() as u64);
            }
        }
        other => return Err(format!("no equivalent of scenario '{other}' in azure_identity").into()),
    }
    Ok(samples)
}
