//! [`WorkloadIdentityCredential`] (PROTOCOL.md §5.4): a client assertion read from the
//! projected service-account token file.

use crate::client::{
    AuthContext, AuthSource, ClientAuthValue, ClientConfig, ConfidentialClient, GrantKind,
    impl_credential_traits,
};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::{BoxFuture, Error, Result, Secret};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

const NAME: &str = "WorkloadIdentityCredential";

/// The file is read again when more than this has passed since the last read.
pub(crate) const REREAD_AFTER: Duration = Duration::from_secs(600);

/// The federated token file, cached for [`REREAD_AFTER`].
pub(crate) struct FederatedTokenFile {
    path: PathBuf,
    cached: Mutex<Option<(Secret, SystemTime)>>,
}

impl FederatedTokenFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: Mutex::new(None),
        }
    }

    /// The assertion: the cached content if read at most 600 s before `now`, else the file's
    /// content now (UTF-8, not trimmed).
    pub(crate) fn assertion(&self, name: &'static str, now: SystemTime) -> Result<Secret> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((content, read_at)) = cached.as_ref() {
            let age = now.duration_since(*read_at).unwrap_or_default();
            if age <= REREAD_AFTER {
                return Ok(content.clone());
            }
        }
        let content = read_token_file(name, &self.path)?;
        *cached = Some((content.clone(), now));
        Ok(content)
    }
}

/// Reads and checks the file: it must hold one JWT.
pub(crate) fn read_token_file(name: &'static str, path: &Path) -> Result<Secret> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::authentication(
            name,
            format!(
                "Cannot read the federated token file '{}' (AZURE_FEDERATED_TOKEN_FILE): {e}. Check that the pod uses a service account with workload identity enabled (label azure.workload.identity/use: \"true\") so that the token is projected.",
                path.display()
            ),
        )
        .with_source(e)
    })?;
    let content =
        String::from_utf8(bytes).map_err(|_| malformed(name, path, "it is not UTF-8 text"))?;
    check_jwt_shape(&content).map_err(|why| malformed(name, path, why))?;
    Ok(Secret::new(content))
}

fn malformed(name: &'static str, path: &Path, why: &str) -> Error {
    Error::authentication(
        name,
        format!(
            "The federated token file '{}' does not hold a token: {why}. It should contain the service-account token (a JWT) that Kubernetes projects; check AZURE_FEDERATED_TOKEN_FILE.",
            path.display()
        ),
    )
}

/// Checks that `text` looks like a compact JWS: three non-empty base64url segments.
pub(crate) fn check_jwt_shape(text: &str) -> std::result::Result<(), &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the file is empty");
    }
    let segments: Vec<&str> = text.split('.').collect();
    if segments.len() != 3 || segments.iter().any(|s| s.is_empty()) {
        return Err("it is not a JWT (three '.'-separated segments)");
    }
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    };
    if !segments.iter().all(|s| b64url(s)) {
        return Err("it is not a JWT (a segment is not base64url)");
    }
    Ok(())
}

impl fmt::Debug for FederatedTokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedTokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuthSource for FederatedTokenFile {
    fn blocking(&self, cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        self.assertion(cx.name, cx.now)
            .map(ClientAuthValue::Assertion)
    }
    fn future<'a>(&'a self, cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>> {
        Box::pin(std::future::ready(self.blocking(cx)))
    }
}

/// Authenticates a Kubernetes workload (AKS workload identity) with the service-account token
/// projected into a file, exchanged as a federated client assertion.
///
/// Settings not given to the builder come from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
/// `AZURE_FEDERATED_TOKEN_FILE` (as set by the workload-identity webhook).
///
/// ```no_run
/// use identity_core::BlockingTokenCredential;
/// use identity_service_principal::WorkloadIdentityCredential;
/// let credential = WorkloadIdentityCredential::builder().build()?;
/// let token = credential.get_token_blocking(&"https://vault.azure.net/.default".into())?;
/// # Ok::<(), identity_core::Error>(())
/// ```
pub struct WorkloadIdentityCredential {
    client: ConfidentialClient,
}

impl WorkloadIdentityCredential {
    /// A builder.
    pub fn builder() -> WorkloadIdentityCredentialBuilder {
        WorkloadIdentityCredentialBuilder::default()
    }
}

impl_credential_traits!(WorkloadIdentityCredential);

/// Builds a [`WorkloadIdentityCredential`].
#[derive(Debug, Default)]
#[must_use]
pub struct WorkloadIdentityCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    token_file_path: Option<PathBuf>,
    enable_azure_proxy: bool,
    options: CredentialOptions,
}

impl WorkloadIdentityCredentialBuilder {
    /// The tenant id (default: `AZURE_TENANT_ID`).
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The application (client) id (default: `AZURE_CLIENT_ID`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The token file (default: `AZURE_FEDERATED_TOKEN_FILE`).
    pub fn token_file_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file_path = Some(path.into());
        self
    }

    /// Sends token requests through the AKS identity-binding token proxy when
    /// `AZURE_KUBERNETES_TOKEN_PROXY` is set (with `AZURE_KUBERNETES_SNI_NAME` and
    /// `AZURE_KUBERNETES_CA_FILE` or `AZURE_KUBERNETES_CA_DATA`); default false. The proxy gets
    /// its own TLS clients (they replace any custom HTTP client), which need the `rustls`
    /// feature with `ureq` and/or `reqwest`.
    pub fn enable_azure_proxy(mut self, enable: bool) -> Self {
        self.enable_azure_proxy = enable;
        self
    }

    common_builder_methods!();

    /// Reads missing settings from the environment, validates them and builds the credential.
    pub fn build(self) -> Result<WorkloadIdentityCredential> {
        let env = &*self.options.env;
        let pick = |given: Option<String>, var: &str| {
            given
                .filter(|v| !v.is_empty())
                .or_else(|| env.non_empty(var))
        };
        let tenant_id = pick(self.tenant_id, "AZURE_TENANT_ID");
        let client_id = pick(self.client_id, "AZURE_CLIENT_ID");
        let path = pick(
            self.token_file_path
                .map(|p| p.to_string_lossy().into_owned()),
            "AZURE_FEDERATED_TOKEN_FILE",
        );
        let missing: Vec<&str> = [
            ("'tenant_id' (AZURE_TENANT_ID)", tenant_id.is_none()),
            ("'client_id' (AZURE_CLIENT_ID)", client_id.is_none()),
            (
                "'token_file_path' (AZURE_FEDERATED_TOKEN_FILE)",
                path.is_none(),
            ),
        ]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect();
        let (Some(tenant_id), Some(client_id), Some(path)) = (tenant_id, client_id, path) else {
            return Err(Error::invalid_configuration(
                NAME,
                format!(
                    "WorkloadIdentityCredential authentication unavailable. The workload options are not fully configured. See the troubleshooting guide for more information: https://aka.ms/azsdk/python/identity/workloadidentitycredential/troubleshoot. Missing required arguments: {}.",
                    missing.join(", ")
                ),
            ));
        };
        let config = ClientConfig::new(NAME, &tenant_id, &client_id, &self.options)?;
        let mut options = self.options;
        if self.enable_azure_proxy
            && let Some(settings) = crate::kubernetes_proxy::settings_from_env(&*options.env)?
        {
            if let crate::kubernetes_proxy::CaSource::File(p) = &settings.ca {
                crate::kubernetes_proxy::read_ca_file(p)?;
            }
            apply_proxy(&mut options, settings).map_err(|e| e.with_credential(NAME))?;
        }
        let options = &options;
        Ok(WorkloadIdentityCredential {
            client: ConfidentialClient::new(
                config,
                GrantKind::ClientCredentials,
                0,
                Box::new(FederatedTokenFile::new(PathBuf::from(path))),
                options,
            )?,
        })
    }
}

/// Replaces the transports by the token proxy's own.
#[cfg(all(feature = "rustls", any(feature = "ureq", feature = "reqwest")))]
fn apply_proxy(
    options: &mut CredentialOptions,
    settings: crate::kubernetes_proxy::ProxySettings,
) -> Result<()> {
    use crate::kubernetes_proxy::clients::Rebuilding;
    let settings = std::sync::Arc::new(settings);
    options.http_client = None;
    options.async_http_client = None;
    #[cfg(feature = "ureq")]
    {
        use crate::kubernetes_proxy::clients::blocking::{ProxyClient, agent};
        let rebuilding =
            Rebuilding::new(settings.clone(), options.transport_options.clone(), agent)?;
        options.http_client = Some(std::sync::Arc::new(ProxyClient(rebuilding)));
    }
    #[cfg(feature = "reqwest")]
    {
        use crate::kubernetes_proxy::clients::asynchronous::{AsyncProxyClient, client};
        let rebuilding =
            Rebuilding::new(settings.clone(), options.transport_options.clone(), client)?;
        options.async_http_client = Some(std::sync::Arc::new(AsyncProxyClient(rebuilding)));
    }
    Ok(())
}

/// Without TLS and a transport the proxy cannot be used.
#[cfg(not(all(feature = "rustls", any(feature = "ureq", feature = "reqwest"))))]
fn apply_proxy(
    _options: &mut CredentialOptions,
    _settings: crate::kubernetes_proxy::ProxySettings,
) -> Result<()> {
    Err(Error::invalid_configuration(
        NAME,
        "The AKS token proxy (AZURE_KUBERNETES_TOKEN_PROXY) needs its own TLS client: enable the `rustls` feature with `ureq` and/or `reqwest`.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(check_jwt_shape("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln").is_ok());
        assert!(check_jwt_shape("a.b.c\n").is_ok());
        assert_eq!(check_jwt_shape(" \n"), Err("the file is empty"));
        assert!(check_jwt_shape("a.b").is_err());
        assert!(check_jwt_shape("a..c").is_err());
        assert!(check_jwt_shape("a.b c.d").is_err());
    }

    #[test]
    fn reread_after_600_seconds() {
        let dir = std::env::temp_dir().join(format!("sp-wi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "a.b.c").unwrap();
        let file = FederatedTokenFile::new(path.clone());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(file.assertion("X", t0).unwrap().secret(), "a.b.c");
        std::fs::write(&path, "d.e.f").unwrap();
        assert_eq!(
            file.assertion("X", t0 + Duration::from_secs(600))
                .unwrap()
                .secret(),
            "a.b.c"
        );
        assert_eq!(
            file.assertion("X", t0 + Duration::from_secs(601))
                .unwrap()
                .secret(),
            "d.e.f"
        );
        std::fs::write(&path, "not a token").unwrap();
        let e = file
            .assertion("X", t0 + Duration::from_secs(1300))
            .unwrap_err();
        assert!(e.message().contains("does not hold a token"), "{e}");
        assert!(!e.message().contains("not a token\""));
        std::fs::remove_file(&path).unwrap();
        let e = file
            .assertion("X", t0 + Duration::from_secs(2000))
            .unwrap_err();
        assert!(
            e.message()
                .starts_with("Cannot read the federated token file")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_settings_are_listed() {
        let env = identity_core::env::MapEnv::new()
            .with("AZURE_CLIENT_ID", "c")
            .with("AZURE_TENANT_ID", "");
        let e = WorkloadIdentityCredential::builder()
            .env(std::sync::Arc::new(env))
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), identity_core::ErrorKind::InvalidConfiguration);
        assert!(e.message().starts_with("WorkloadIdentityCredential authentication unavailable. The workload options are not fully configured."));
        assert!(e.message().ends_with("Missing required arguments: 'tenant_id' (AZURE_TENANT_ID), 'token_file_path' (AZURE_FEDERATED_TOKEN_FILE)."), "{e}");
    }

    #[test]
    #[cfg(not(all(feature = "rustls", any(feature = "ureq", feature = "reqwest"))))]
    fn proxy_without_tls_client_is_a_clear_error() {
        let env = identity_core::env::MapEnv::new()
            .with("AZURE_TENANT_ID", "t")
            .with("AZURE_CLIENT_ID", "c")
            .with("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")
            .with("AZURE_KUBERNETES_TOKEN_PROXY", "https://10.0.0.1");
        let e = WorkloadIdentityCredential::builder()
            .env(std::sync::Arc::new(env.clone()))
            .enable_azure_proxy(true)
            .build()
            .unwrap_err();
        assert_eq!(e.credential(), "WorkloadIdentityCredential");
        assert!(e.message().contains("enable the `rustls` feature"), "{e}");
    }
}
