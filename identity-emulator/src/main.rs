//! `identity-emulator`: runs the emulator until SIGINT or SIGTERM and prints how to use it.

use std::path::PathBuf;
use std::process::ExitCode;

use identity_emulator::{Emulator, EmulatorConfig, ManagedIdentitySource};

const USAGE: &str = "\
identity-emulator: a local Microsoft Entra ID and Azure managed-identity emulator (tests only)

USAGE: identity-emulator [OPTIONS]

OPTIONS:
  --port N                 plain-HTTP port: managed identity and /_emulator/ control (default: random)
  --https-port N           HTTPS port of the Entra endpoints (default: random)
  --service-fabric-port N  HTTPS port of the Service Fabric endpoint (default: random)
  --config FILE            JSON registry (tenants, apps, users, managed_identities, service_connections)
  --ca-out PATH            where to write the emulator CA certificate (PEM)
  --state-dir DIR          where to keep the CA and other files (default: a temporary directory)
  --arc-key-dir DIR        where the emulated Azure Arc agent writes key files
  -h, --help               print this help
";

struct Args {
    config: EmulatorConfig,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut config = EmulatorConfig::default();
    let mut registry_file: Option<PathBuf> = None;
    let mut ports = (0u16, 0u16, 0u16);
    let mut paths: (Option<PathBuf>, Option<PathBuf>, Option<PathBuf>) = (None, None, None);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let port = |v: String| {
            v.parse::<u16>()
                .map_err(|_| format!("{name}: '{v}' is not a port number"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => ports.0 = port(value()?)?,
            "--https-port" => ports.1 = port(value()?)?,
            "--service-fabric-port" => ports.2 = port(value()?)?,
            "--config" => registry_file = Some(PathBuf::from(value()?)),
            "--ca-out" => paths.0 = Some(PathBuf::from(value()?)),
            "--state-dir" => paths.1 = Some(PathBuf::from(value()?)),
            "--arc-key-dir" => paths.2 = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if let Some(file) = registry_file {
        config = EmulatorConfig::from_registry_file(&file).map_err(|e| e.to_string())?;
    }
    config.http_port = ports.0;
    config.https_port = ports.1;
    config.service_fabric_port = ports.2;
    config.ca_path = paths.0;
    config.state_dir = paths.1;
    config.arc_key_dir = paths.2;
    Ok(Some(Args { config }))
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

fn exports(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("export {k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn inline(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_banner(emu: &Emulator) -> Result<(), identity_emulator::Error> {
    let token_file = emu.state_dir().join("federated-token");
    let workload = emu.workload_identity_env(&token_file)?;
    println!(
        "identity-emulator is running (emulator-only credentials; never trust its CA elsewhere)"
    );
    println!("  Entra ID (HTTPS):         {}", emu.authority_host());
    println!(
        "  Managed identity (HTTP):  {}   control API: {}/_emulator/",
        emu.mi_url(),
        emu.mi_url()
    );
    println!(
        "  Service Fabric (HTTPS):   {}",
        emu.service_fabric_endpoint()
    );
    println!("  CA certificate:           {}", emu.ca_path().display());
    println!();
    println!(
        "# Point the Azure SDKs at the emulator (client secret + App Service managed identity):"
    );
    println!("{}", exports(&emu.env_vars()));
    println!();
    println!(
        "# Other credentials and managed-identity sources (use one set in place of IDENTITY_ENDPOINT/IDENTITY_HEADER):"
    );
    println!(
        "#   certificate:        AZURE_CLIENT_CERTIFICATE_PATH={}",
        quote(&emu.default_app_certificate_path().display().to_string())
    );
    println!("#   workload identity:  {}", inline(&workload[3..]));
    println!(
        "#   IMDS:               {}",
        inline(&emu.managed_identity_env(ManagedIdentitySource::Imds))
    );
    println!(
        "#   Azure ML:           {}",
        inline(&emu.managed_identity_env(ManagedIdentitySource::AzureMl))
    );
    println!(
        "#   Cloud Shell:        {}",
        inline(&emu.managed_identity_env(ManagedIdentitySource::CloudShell))
    );
    println!(
        "#   Azure Arc:          {}   (key files in {})",
        inline(&emu.managed_identity_env(ManagedIdentitySource::Arc)),
        emu.arc_key_dir().display()
    );
    println!(
        "#   Service Fabric:     {}",
        inline(&emu.managed_identity_env(ManagedIdentitySource::ServiceFabric))
    );
    println!(
        "#   Azure Pipelines:    SYSTEM_OIDCREQUESTURI={} service connection {} system access token {}",
        quote(&emu.pipelines_oidc_request_uri()),
        identity_emulator::DEFAULT_SERVICE_CONNECTION_ID,
        identity_emulator::DEFAULT_SYSTEM_ACCESS_TOKEN
    );
    println!();
    println!("Press Ctrl-C to stop.");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("identity-emulator: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emu = match Emulator::start(args.config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("identity-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = print_banner(&emu) {
        eprintln!("identity-emulator: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("identity-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(wait_for_signal());
    drop(emu);
    println!("identity-emulator stopped");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_options() {
        let a = parse(&[
            "--port",
            "8080",
            "--https-port=8443",
            "--ca-out",
            "/tmp/ca.pem",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.config.http_port, 8080);
        assert_eq!(a.config.https_port, 8443);
        assert_eq!(a.config.ca_path, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "x"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--config", "/nonexistent/registry.json"]).is_err());
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
