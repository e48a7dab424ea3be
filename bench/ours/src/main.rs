//! `bench-ours <scenario> <iterations>`: runs one benchmark scenario of `cargo xtask bench`
//! against identity-emulator and prints `{"samples_ns": [...]}` on stdout.
//!
//! The emulator's coordinates come from the environment that `identity-emulator` prints
//! (`AZURE_AUTHORITY_HOST`, `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`,
//! `IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), plus `BENCH_CA` (the emulator's CA file),
//! `BENCH_IMDS` (an address that accepts connections and never answers), `BENCH_EMPTY_PATH`
//! (a directory with no tools) and `BENCH_AZ_DIR` (a directory holding a slow fake `az`).
#![forbid(unsafe_code)]

use identity_chain::{DefaultAzureCredential, DefaultAzureCredentialOptions};
use identity_core::env::{MapEnv, SystemEnv};
use identity_core::http::{AsyncHttpClient, HttpClient, Request};
use identity_core::transport::{ReqwestClient, TransportOptions, UreqClient};
use identity_core::{BlockingTokenCredential, TokenCredential, TokenRequest};
use identity_msi::{ManagedIdentityCredential, ManagedIdentityId};
use identity_service_principal::ClientSecretCredential;
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const SCOPE: &str = "https://vault.azure.net/.default";
/// Calls per sample in the cached scenarios.
const BATCH: u32 = 100_000;

fn var(name: &str) -> Res<String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (run through `cargo xtask bench`)").into())
}

fn transport() -> Res<TransportOptions> {
    let ca = std::fs::read_to_string(var("BENCH_CA")?)?;
    Ok(TransportOptions::default().with_root_certificate_pem(ca))
}

fn secret_blocking() -> Res<ClientSecretCredential> {
    Ok(ClientSecretCredential::builder()
        .tenant_id(var("AZURE_TENANT_ID")?)
        .client_id(var("AZURE_CLIENT_ID")?)
        .client_secret(var("AZURE_CLIENT_SECRET")?)
        .authority_host(var("AZURE_AUTHORITY_HOST")?)
        .transport_options(transport()?)
        .build()?)
}

fn token_form() -> Res<Request> {
    let (client_id, secret) = (var("AZURE_CLIENT_ID")?, var("AZURE_CLIENT_SECRET")?);
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        var("AZURE_AUTHORITY_HOST")?,
        var("AZURE_TENANT_ID")?
    );
    Ok(Request::post(url).form([
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("grant_type", "client_credentials"),
        ("scope", SCOPE),
    ]))
}

fn mi_request() -> Res<Request> {
    let url = format!(
        "{}?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net",
        var("IDENTITY_ENDPOINT")?
    );
    Ok(Request::get(url).header("X-IDENTITY-HEADER", var("IDENTITY_HEADER")?))
}

fn managed_identity() -> Res<ManagedIdentityCredential> {
    // System-assigned, as the peers' ManagedIdentityCredential (ours alone would take
    // AZURE_CLIENT_ID as a user-assigned client id).
    Ok(ManagedIdentityCredential::builder()
        .env(Arc::new(SystemEnv))
        .identity(ManagedIdentityId::SystemAssigned)
        .build()?)
}

fn dac(path: &str) -> Res<DefaultAzureCredential> {
    let home = std::env::temp_dir().join(format!("bench-ours-home-{}", std::process::id()));
    std::fs::create_dir_all(&home)?;
    let env: MapEnv = [
        ("PATH".to_owned(), path.to_owned()),
        ("HOME".to_owned(), home.display().to_string()),
    ]
    .into_iter()
    .collect();
    let mut options = DefaultAzureCredentialOptions::default().env(Arc::new(env));
    options.imds_endpoint = Some(var("BENCH_IMDS")?);
    Ok(DefaultAzureCredential::with_options(options)?)
}

fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn time<T>(f: impl FnOnce() -> Res<T>) -> Res<u64> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed().as_nanos() as u64)
}

fn check(ok: bool, what: &str) -> Res<()> {
    if ok { Ok(()) } else { Err(what.into()) }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(scenario), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: bench-ours <scenario> <iterations>");
        std::process::exit(2);
    };
    match run(scenario, n) {
        Ok(samples) => println!("{}", serde_json::json!({ "samples_ns": samples })),
        Err(e) => {
            eprintln!("bench-ours {scenario}: {e}");
            std::process::exit(1);
        }
    }
}

fn run(scenario: &str, n: usize) -> Res<Vec<u64>> {
    let request = TokenRequest::from(SCOPE);
    let mut samples = Vec::with_capacity(n);
    match scenario {
        // Cold: a new client or credential per call, so each pays its connection and TLS set-up.
        "floor-ureq-secret" => {
            let form = token_form()?;
            for _ in 0..n {
                samples.push(time(|| {
                    let response = UreqClient::new(&transport()?)?.send(&form)?;
                    check(
                        response.is_success(),
                        "token endpoint refused the floor request",
                    )
                })?);
            }
        }
        "secret-blocking" => {
            for _ in 0..n {
                samples.push(time(|| {
                    Ok(secret_blocking()?.get_token_blocking(&request)?)
                })?);
            }
        }
        "floor-reqwest-secret" => {
            let rt = runtime()?;
            let form = token_form()?;
            for _ in 0..n {
                samples.push(time(|| {
                    rt.block_on(async {
                        let response = ReqwestClient::new(&transport()?)?.send(&form).await?;
                        check(
                            response.is_success(),
                            "token endpoint refused the floor request",
                        )
                    })
                })?);
            }
        }
        "secret-async" => {
            let rt = runtime()?;
            for _ in 0..n {
                samples.push(time(|| {
                    rt.block_on(async { Ok(secret_blocking()?.get_token(&request).await?) })
                })?);
            }
        }
        "floor-ureq-mi" => {
            let get = mi_request()?;
            for _ in 0..n {
                samples.push(time(|| {
                    let response = UreqClient::new(&TransportOptions::default())?.send(&get)?;
                    check(
                        response.is_success(),
                        "MI endpoint refused the floor request",
                    )
                })?);
            }
        }
        "mi-blocking" => {
            for _ in 0..n {
                samples.push(time(|| {
                    Ok(managed_identity()?.get_token_blocking(&request)?)
                })?);
            }
        }
        "floor-reqwest-mi" => {
            let rt = runtime()?;
            let get = mi_request()?;
            for _ in 0..n {
                samples.push(time(|| {
                    rt.block_on(async {
                        let client = ReqwestClient::new(&TransportOptions::default())?;
                        let response = client.send(&get).await?;
                        check(
                            response.is_success(),
                            "MI endpoint refused the floor request",
                        )
                    })
                })?);
            }
        }
        "mi-async" => {
            let rt = runtime()?;
            for _ in 0..n {
                samples.push(time(|| {
                    rt.block_on(async { Ok(managed_identity()?.get_token(&request).await?) })
                })?);
            }
        }
        // Cached: one warm credential; each sample is the mean of BATCH calls, in ns per call.
        "cached-blocking-1t" => {
            let credential = secret_blocking()?;
            credential.get_token_blocking(&request)?;
            for _ in 0..n {
                let started = Instant::now();
                for _ in 0..BATCH {
                    std::hint::black_box(credential.get_token_blocking(&request)?);
                }
                samples.push(started.elapsed().as_nanos() as u64 / u64::from(BATCH));
            }
        }
        "cached-1t" | "cached-2t" => {
            let threads = if scenario == "cached-1t" { 1 } else { 2 };
            let credential = Arc::new(secret_blocking()?);
            runtime()?.block_on(credential.get_token(&request))?;
            for _ in 0..n {
                let barrier = Arc::new(std::sync::Barrier::new(threads));
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        let (credential, barrier, request) =
                            (credential.clone(), barrier.clone(), request.clone());
                        std::thread::spawn(move || -> Result<u64, String> {
                            let rt = runtime().map_err(|e| e.to_string())?;
                            barrier.wait();
                            let started = Instant::now();
                            rt.block_on(async {
                                for _ in 0..BATCH {
                                    std::hint::black_box(
                                        credential
                                            .get_token(&request)
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
        // Concurrency: many callers at once on a cold credential (2 worker threads).
        "herd-1000" | "keys-5" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let requests: Vec<TokenRequest> = if scenario == "herd-1000" {
                vec![request.clone(); 1000]
            } else {
                (0..5)
                    .map(|i| TokenRequest::from(format!("https://bench-{i}.example.com/.default")))
                    .collect()
            };
            for _ in 0..n {
                let credential = Arc::new(secret_blocking()?);
                samples.push(time(|| {
                    rt.block_on(async {
                        let tasks: Vec<_> = requests
                            .iter()
                            .cloned()
                            .map(|r| {
                                let credential = credential.clone();
                                tokio::spawn(async move { credential.get_token(&r).await })
                            })
                            .collect();
                        for t in tasks {
                            t.await??;
                        }
                        Ok(())
                    })
                })?);
            }
        }
        // DefaultAzureCredential: construction plus the first get_token.
        "dac-none" => {
            let path = var("BENCH_EMPTY_PATH")?;
            for _ in 0..n {
                samples.push(time(|| match dac(&path)?.get_token_blocking(&request) {
                    Ok(_) => Err("a token with nothing available".into()),
                    Err(_) => Ok(()),
                })?);
            }
        }
        "dac-slow-az" => {
            let path = var("BENCH_AZ_DIR")?;
            for _ in 0..n {
                samples.push(time(|| Ok(dac(&path)?.get_token_blocking(&request)?))?);
            }
        }
        other => return Err(format!("unknown scenario '{other}'").into()),
    }
    Ok(samples)
}
