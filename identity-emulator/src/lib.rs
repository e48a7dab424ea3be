#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cert;
mod control;
mod entra;
mod jwt;
mod mi;
mod model;
mod registry;
mod server;
mod state;
mod tls;
mod util;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use model::{
    Claims, DeviceCodeOutcome, DeviceCodeSettings, Endpoint, Error, ExpiresOnFormat, Fault,
    Listener, MASK, MASKED_FIELDS, MASKED_HEADERS, RecordedRequest, Settings,
};
pub use registry::*;

use state::{Flows, Log, Shared, lock};

/// Start-up options. `Default` gives random ports, the well-known registry and default settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// Port of the plain-HTTP managed-identity and control listener (0 = random).
    pub http_port: u16,
    /// Port of the HTTPS Entra listener (0 = random).
    pub https_port: u16,
    /// Port of the HTTPS Service Fabric listener (0 = random).
    pub service_fabric_port: u16,
    /// The directory to serve.
    pub registry: Registry,
    /// Initial runtime settings.
    pub settings: Settings,
    /// Where the CA and other files go; a fresh temporary directory (removed on drop) when `None`.
    pub state_dir: Option<PathBuf>,
    /// Where the CA PEM is written; `{state_dir}/ca.pem` when `None`.
    pub ca_path: Option<PathBuf>,
    /// Where the Azure Arc agent writes its key files; `{state_dir}/arc-tokens` when `None`.
    pub arc_key_dir: Option<PathBuf>,
    /// The App Service `IDENTITY_HEADER`; random when `None`.
    pub app_service_header: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            http_port: 0,
            https_port: 0,
            service_fabric_port: 0,
            registry: Registry::well_known(),
            settings: Settings::default(),
            state_dir: None,
            ca_path: None,
            arc_key_dir: None,
            app_service_header: None,
        }
    }
}

impl EmulatorConfig {
    /// Sets the plain-HTTP (managed identity, control) and HTTPS (Entra) ports; 0 = random.
    pub fn with_ports(mut self, http_port: u16, https_port: u16) -> Self {
        self.http_port = http_port;
        self.https_port = https_port;
        self
    }

    /// Uses this registry instead of the well-known one.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Uses these initial settings.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Keeps the CA and other files in `dir` (created if needed, not removed on drop).
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn with_ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_path = Some(path.into());
        self
    }

    /// Makes the emulated Azure Arc agent write its key files into `dir`.
    pub fn with_arc_key_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.arc_key_dir = Some(dir.into());
        self
    }

    /// Reads a JSON registry file (the [`Registry`] format) into a config with default settings.
    pub fn from_registry_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)?;
        let registry: Registry = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidRegistry(format!("{}: {e}", path.display())))?;
        Ok(Self {
            registry,
            ..Self::default()
        })
    }
}

/// A managed-identity source, for [`Emulator::managed_identity_env`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedIdentitySource {
    /// IMDS through `AZURE_POD_IDENTITY_AUTHORITY_HOST`.
    Imds,
    /// App Service: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    AppService,
    /// Azure ML: `MSI_ENDPOINT` + `MSI_SECRET`.
    AzureMl,
    /// Cloud Shell: `MSI_ENDPOINT` alone.
    CloudShell,
    /// Azure Arc: `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`.
    Arc,
    /// Service Fabric: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`.
    ServiceFabric,
}

/// A running emulator. Dropping it stops the server and removes its temporary directory.
pub struct Emulator {
    shared: Arc<Shared>,
    http_port: u16,
    https_port: u16,
    service_fabric_port: u16,
    ca_pem: String,
    ca_path: PathBuf,
    state_dir: PathBuf,
    owns_state_dir: bool,
    service_fabric_thumbprint: String,
    service_fabric_pem: String,
    tenant_id: String,
    client_id: String,
    client_secret: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets (client secret, identity headers) are deliberately left out.
        f.debug_struct("Emulator")
            .field("authority_host", &self.shared.entra_base)
            .field("mi_url", &self.shared.mi_base)
            .field("service_fabric_port", &self.service_fabric_port)
            .field("ca_path", &self.ca_path)
            .finish_non_exhaustive()
    }
}

fn bind(port: u16) -> Result<std::net::TcpListener, Error> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn fresh_temp_dir() -> Result<PathBuf, Error> {
    let dir = std::env::temp_dir().join(format!(
        "identity-emulator-{}-{}",
        std::process::id(),
        util::hex(&util::random_bytes(6))
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Verifies a token the emulator issued (used by the Rust API and `/_emulator/verify`).
pub(crate) fn verify_with(shared: &Shared, token: &str) -> Result<Claims, Error> {
    let claims = shared
        .key
        .verify(token, shared.now())
        .map_err(|e| Error::InvalidToken(format!("{e:?}")))?;
    if !claims.contains_key("idtyp") || !claims.contains_key("tid") {
        return Err(Error::InvalidToken("not an access token".into()));
    }
    Ok(Claims(claims))
}

impl Emulator {
    /// Starts the emulator on its own thread (with its own single-threaded tokio runtime) and
    /// returns once every listener accepts connections.
    pub fn start(config: EmulatorConfig) -> Result<Self, Error> {
        config.registry.validate().map_err(Error::InvalidRegistry)?;
        let tls = tls::generate()?;
        let key = jwt::SigningKey::generate().map_err(Error::Crypto)?;
        let http = bind(config.http_port)?;
        let https = bind(config.https_port)?;
        let sf = bind(config.service_fabric_port)?;
        let (http_port, https_port, service_fabric_port) = (
            http.local_addr()?.port(),
            https.local_addr()?.port(),
            sf.local_addr()?.port(),
        );

        let (state_dir, owns_state_dir) = match &config.state_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (d.clone(), false)
            }
            None => (fresh_temp_dir()?, true),
        };
        let ca_path = config
            .ca_path
            .clone()
            .unwrap_or_else(|| state_dir.join("ca.pem"));
        if let Some(parent) = ca_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&ca_path, &tls.ca_pem)?;
        std::fs::write(
            state_dir.join("default-app.pem"),
            format!("{DEFAULT_APP_CERTIFICATE_PEM}{DEFAULT_APP_PRIVATE_KEY_PEM}"),
        )?;
        let arc_key_dir = config
            .arc_key_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("arc-tokens"));

        let registry = config.registry.clone();
        let tenant_id = registry
            .tenants
            .first()
            .map(|t| t.tenant_id.clone())
            .unwrap_or_default();
        let app = registry
            .apps
            .iter()
            .find(|a| !a.secrets.is_empty())
            .or(registry.apps.first());
        let client_id = app.map(|a| a.client_id.clone()).unwrap_or_default();
        let client_secret = app
            .and_then(|a| a.secrets.first().cloned())
            .unwrap_or_default();

        let shared = Arc::new(Shared {
            key,
            entra_base: format!("https://127.0.0.1:{https_port}"),
            mi_base: format!("http://127.0.0.1:{http_port}"),
            app_service_header: config
                .app_service_header
                .clone()
                .unwrap_or_else(|| util::random_token(24)),
            azure_ml_secret: util::random_token(24),
            service_fabric_secret: util::random_token(24),
            arc_key_dir,
            registry: Mutex::new(registry),
            settings: Mutex::new(config.settings.clone()),
            faults: Mutex::new(HashMap::new()),
            log: Mutex::new(Log::default()),
            flows: Mutex::new(Flows::default()),
        });

        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), std::io::Error>>();
        let thread_shared = shared.clone();
        let entra_tls = tokio_rustls::TlsAcceptor::from(tls.entra.clone());
        let sf_tls = tokio_rustls::TlsAcceptor::from(tls.service_fabric.clone());
        let thread = std::thread::Builder::new()
            .name(format!("identity-emulator-{http_port}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listeners = (|| {
                        Ok::<_, std::io::Error>((
                            tokio::net::TcpListener::from_std(http)?,
                            tokio::net::TcpListener::from_std(https)?,
                            tokio::net::TcpListener::from_std(sf)?,
                        ))
                    })();
                    let (http, https, sf) = match listeners {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    tokio::spawn(server::serve(
                        http,
                        Listener::ManagedIdentity,
                        None,
                        thread_shared.clone(),
                    ));
                    tokio::spawn(server::serve(
                        https,
                        Listener::Entra,
                        Some(entra_tls),
                        thread_shared.clone(),
                    ));
                    tokio::spawn(server::serve(
                        sf,
                        Listener::ServiceFabric,
                        Some(sf_tls),
                        thread_shared,
                    ));
                    let _ = ready_tx.send(Ok(()));
                    let _ = shutdown_rx.await;
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Io(e)),
            Err(_) => {
                return Err(Error::Io(std::io::Error::other(
                    "the emulator thread stopped during start-up",
                )));
            }
        }
        Ok(Self {
            shared,
            http_port,
            https_port,
            service_fabric_port,
            ca_pem: tls.ca_pem,
            ca_path,
            state_dir,
            owns_state_dir,
            service_fabric_thumbprint: tls.service_fabric_thumbprint,
            service_fabric_pem: tls.service_fabric_pem,
            tenant_id,
            client_id,
            client_secret,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    // ----- addresses ---------------------------------------------------------------------------

    /// `https://127.0.0.1:{https_port}`: use as `AZURE_AUTHORITY_HOST`.
    pub fn authority_host(&self) -> String {
        self.shared.entra_base.clone()
    }

    /// Same as [`Emulator::authority_host`].
    pub fn entra_url(&self) -> String {
        self.authority_host()
    }

    /// `https://127.0.0.1:{https_port}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.shared.entra_base)
    }

    /// `http://127.0.0.1:{http_port}`: the managed-identity and control listener.
    pub fn mi_url(&self) -> String {
        self.shared.mi_base.clone()
    }

    /// The IMDS base URL, for `AZURE_POD_IDENTITY_AUTHORITY_HOST` (the token path is
    /// `/metadata/identity/oauth2/token`).
    pub fn imds_base(&self) -> String {
        self.mi_url()
    }

    /// App Service `IDENTITY_ENDPOINT`.
    pub fn app_service_endpoint(&self) -> String {
        format!("{}/msi/token", self.shared.mi_base)
    }

    /// App Service `IDENTITY_HEADER`.
    pub fn app_service_header(&self) -> &str {
        &self.shared.app_service_header
    }

    /// Azure ML `MSI_ENDPOINT`.
    pub fn azure_ml_endpoint(&self) -> String {
        format!("{}/azureml/token", self.shared.mi_base)
    }

    /// Azure ML `MSI_SECRET`.
    pub fn azure_ml_secret(&self) -> &str {
        &self.shared.azure_ml_secret
    }

    /// Cloud Shell `MSI_ENDPOINT`.
    pub fn cloud_shell_endpoint(&self) -> String {
        format!("{}/cloudshell/token", self.shared.mi_base)
    }

    /// Azure Arc `IDENTITY_ENDPOINT`.
    pub fn arc_identity_endpoint(&self) -> String {
        format!("{}/arc/metadata/identity/oauth2/token", self.shared.mi_base)
    }

    /// Azure Arc `IMDS_ENDPOINT`.
    pub fn arc_imds_endpoint(&self) -> String {
        format!("{}/arc", self.shared.mi_base)
    }

    /// The directory the emulated Arc agent writes key files into.
    pub fn arc_key_dir(&self) -> &Path {
        &self.shared.arc_key_dir
    }

    /// Service Fabric `IDENTITY_ENDPOINT` (HTTPS, its own self-signed certificate).
    pub fn service_fabric_endpoint(&self) -> String {
        format!(
            "https://127.0.0.1:{}/metadata/identity/oauth2/token",
            self.service_fabric_port
        )
    }

    /// Service Fabric `IDENTITY_HEADER` (sent as the `Secret` header).
    pub fn service_fabric_header(&self) -> &str {
        &self.shared.service_fabric_secret
    }

    /// SHA-1 thumbprint (upper-case hex) of the Service Fabric certificate:
    /// `IDENTITY_SERVER_THUMBPRINT`.
    pub fn service_fabric_thumbprint(&self) -> &str {
        &self.service_fabric_thumbprint
    }

    /// The Service Fabric listener's certificate (PEM).
    pub fn service_fabric_certificate_pem(&self) -> &str {
        &self.service_fabric_pem
    }

    /// `SYSTEM_OIDCREQUESTURI` for Azure Pipelines.
    pub fn pipelines_oidc_request_uri(&self) -> String {
        format!(
            "{}/emulator-org/emulator-project/_apis/distributedtask/hubs/build/plans/00000000-0000-4000-8000-00000000000a/jobs/00000000-0000-4000-8000-00000000000b/oidctoken",
            self.shared.entra_base
        )
    }

    /// Port of the plain-HTTP listener.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// Port of the HTTPS Entra listener.
    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    /// Port of the HTTPS Service Fabric listener.
    pub fn service_fabric_port(&self) -> u16 {
        self.service_fabric_port
    }

    /// The emulator CA (PEM) that signs the Entra listener's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Where the CA PEM was written.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A PEM file holding the default app's certificate then its private key (for
    /// `AZURE_CLIENT_CERTIFICATE_PATH`).
    pub fn default_app_certificate_path(&self) -> PathBuf {
        self.state_dir.join("default-app.pem")
    }

    /// The first tenant's id ([`DEFAULT_TENANT_ID`] with the default registry).
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The first app with a secret ([`DEFAULT_CLIENT_ID`] with the default registry).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// That app's first secret ([`DEFAULT_CLIENT_SECRET`] with the default registry).
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// Environment for the Azure SDKs: authority, tenant, client id and secret, App Service
    /// managed identity, the IMDS override, and the CA bundle variables.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let ca = self.ca_path.display().to_string();
        let mut v = vec![
            ("AZURE_AUTHORITY_HOST".to_owned(), self.authority_host()),
            ("AZURE_TENANT_ID".to_owned(), self.tenant_id.clone()),
            ("AZURE_CLIENT_ID".to_owned(), self.client_id.clone()),
            ("AZURE_CLIENT_SECRET".to_owned(), self.client_secret.clone()),
        ];
        v.extend(self.managed_identity_env(ManagedIdentitySource::AppService));
        v.extend(self.managed_identity_env(ManagedIdentitySource::Imds));
        v.push(("SSL_CERT_FILE".to_owned(), ca.clone()));
        v.push(("REQUESTS_CA_BUNDLE".to_owned(), ca));
        v
    }

    /// The variables that select one managed-identity source (PROTOCOL.md §6.1).
    pub fn managed_identity_env(&self, source: ManagedIdentitySource) -> Vec<(String, String)> {
        let pair = |k: &str, v: String| (k.to_owned(), v);
        match source {
            ManagedIdentitySource::Imds => {
                vec![pair("AZURE_POD_IDENTITY_AUTHORITY_HOST", self.imds_base())]
            }
            ManagedIdentitySource::AppService => vec![
                pair("IDENTITY_ENDPOINT", self.app_service_endpoint()),
                pair("IDENTITY_HEADER", self.app_service_header().to_owned()),
            ],
            ManagedIdentitySource::AzureMl => vec![
                pair("MSI_ENDPOINT", self.azure_ml_endpoint()),
                pair("MSI_SECRET", self.azure_ml_secret().to_owned()),
            ],
            ManagedIdentitySource::CloudShell => {
                vec![pair("MSI_ENDPOINT", self.cloud_shell_endpoint())]
            }
            ManagedIdentitySource::Arc => vec![
                pair("IDENTITY_ENDPOINT", self.arc_identity_endpoint()),
                pair("IMDS_ENDPOINT", self.arc_imds_endpoint()),
            ],
            ManagedIdentitySource::ServiceFabric => vec![
                pair("IDENTITY_ENDPOINT", self.service_fabric_endpoint()),
                pair("IDENTITY_HEADER", self.service_fabric_header().to_owned()),
                pair(
                    "IDENTITY_SERVER_THUMBPRINT",
                    self.service_fabric_thumbprint.clone(),
                ),
            ],
        }
    }

    // ----- faults and the request log ----------------------------------------------------------

    /// Queues one fault for the next request to `endpoint`.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault) {
        self.shared.inject(endpoint, [fault]);
    }

    /// Queues several faults, one per request, in order (use [`Fault::Pass`] for a normal answer).
    pub fn inject_sequence(&self, endpoint: Endpoint, faults: impl IntoIterator<Item = Fault>) {
        self.shared.inject(endpoint, faults);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// How many faults are still queued for `endpoint`.
    pub fn pending_faults(&self, endpoint: Endpoint) -> usize {
        lock(&self.shared.faults)
            .get(&endpoint)
            .map_or(0, |q| q.len())
    }

    /// Every recorded request (secrets masked), oldest first. Control requests are not recorded.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).entries.clone()
    }

    /// Recorded requests to one endpoint.
    pub fn requests_for(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        lock(&self.shared.log)
            .entries
            .iter()
            .filter(|r| r.endpoint == Some(endpoint))
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).entries.clear();
    }

    // ----- registry ----------------------------------------------------------------------------

    /// A copy of the current registry (with secrets).
    pub fn registry(&self) -> Registry {
        lock(&self.shared.registry).clone()
    }

    /// Adds (or replaces) a tenant.
    pub fn add_tenant(&self, tenant: Tenant) -> Result<(), Error> {
        self.shared.add_tenant(tenant)
    }

    /// Adds (or replaces, by client id) an app registration.
    pub fn add_app(&self, app: App) -> Result<(), Error> {
        self.shared.add_app(app)
    }

    /// Adds a client secret to an app.
    pub fn add_secret(&self, client_id: &str, secret: &str) -> Result<(), Error> {
        self.shared.add_secret(client_id, secret)
    }

    /// Registers a certificate (PEM or DER, RSA key) on an app.
    pub fn add_certificate(&self, client_id: &str, pem_or_der: &[u8]) -> Result<(), Error> {
        self.shared.add_certificate(client_id, pem_or_der)
    }

    /// Adds a federated identity credential to an app.
    pub fn add_federated_credential(
        &self,
        client_id: &str,
        credential: FederatedCredential,
    ) -> Result<(), Error> {
        self.shared.add_federated_credential(client_id, credential)
    }

    /// Adds (or replaces, by username) a user.
    pub fn add_user(&self, user: User) -> Result<(), Error> {
        self.shared.add_user(user)
    }

    /// Adds (or replaces, by client id) a managed identity.
    pub fn add_managed_identity(&self, identity: ManagedIdentity) -> Result<(), Error> {
        self.shared.add_managed_identity(identity)
    }

    /// Adds (or replaces, by id) an Azure Pipelines service connection.
    pub fn add_service_connection(&self, connection: ServiceConnection) -> Result<(), Error> {
        self.shared.add_service_connection(connection)
    }

    // ----- settings ----------------------------------------------------------------------------

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.shared.settings()
    }

    /// Changes settings in place.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) {
        change(&mut lock(&self.shared.settings));
    }

    /// Sets the Entra access-token lifetime (whole seconds; short lifetimes are fine).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.update_settings(|s| s.token_lifetime_secs = lifetime.as_secs());
    }

    /// Sets (or removes) `refresh_in` on Entra tokens.
    pub fn set_refresh_in(&self, refresh_in: Option<Duration>) {
        self.update_settings(|s| s.refresh_in_secs = refresh_in.map(|d| d.as_secs()));
    }

    /// Sets the managed-identity token lifetime.
    pub fn set_managed_identity_token_lifetime(&self, lifetime: Duration) {
        self.update_settings(|s| s.managed_identity_token_lifetime_secs = lifetime.as_secs());
    }

    /// Shifts the emulator's clock by `secs` (positive = the future).
    pub fn set_clock_offset(&self, secs: i64) {
        self.update_settings(|s| s.clock_offset_secs = secs);
    }

    // ----- flows and tokens --------------------------------------------------------------------

    /// Approves a pending device-code sign-in by its user code, as `username` (the tenant's first
    /// user when `None`). Returns whether such a sign-in was pending.
    pub fn approve_device_code(&self, user_code: &str, username: Option<&str>) -> bool {
        entra::approve_device_code(&self.shared, user_code, username)
    }

    /// Invalidates every refresh token issued so far.
    pub fn revoke_refresh_tokens(&self) {
        self.shared.revoke_refresh_tokens();
    }

    /// A federated token (JWT signed by the emulator) that the token endpoint accepts as a client
    /// assertion for apps with a matching federated credential.
    pub fn federated_token(
        &self,
        issuer: &str,
        subject: &str,
        audience: &str,
        lifetime: Duration,
    ) -> String {
        self.shared.mint_federated_token(
            issuer,
            subject,
            audience,
            self.shared.now(),
            lifetime.as_secs(),
        )
    }

    /// The environment of a GitHub Actions job with `permissions: id-token: write`:
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` (this emulator's endpoint, already carrying a query) and
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub fn github_actions_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL".to_owned(),
                format!(
                    "{}/emulator-run/_apis/pipelines/workflows/1/idtoken?api-version=2.0",
                    self.authority_host()
                ),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_owned(),
                registry::DEFAULT_GITHUB_ACTIONS_REQUEST_TOKEN.to_owned(),
            ),
        ]
    }

    /// Sets the `sub` of the emulated GitHub Actions job's tokens (e.g.
    /// `repo:ORG/REPO:environment:prod`), to test a subject that no federated credential matches.
    pub fn set_github_actions_subject(&self, subject: impl Into<String>) {
        let subject = subject.into();
        self.update_settings(|s| s.github_actions_subject = subject);
    }

    /// A federated token with [`DEFAULT_WORKLOAD_ISSUER`] and [`DEFAULT_WORKLOAD_SUBJECT`], valid 1 h.
    pub fn default_federated_token(&self) -> String {
        self.federated_token(
            DEFAULT_WORKLOAD_ISSUER,
            DEFAULT_WORKLOAD_SUBJECT,
            FEDERATED_TOKEN_AUDIENCE,
            Duration::from_secs(3600),
        )
    }

    /// Writes a Kubernetes-style projected service-account token file (a federated token with the
    /// given issuer and subject, audience `api://AzureADTokenExchange`).
    pub fn write_federated_token_file(
        &self,
        path: &Path,
        issuer: &str,
        subject: &str,
        lifetime: Duration,
    ) -> Result<(), Error> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(
            path,
            self.federated_token(issuer, subject, FEDERATED_TOKEN_AUDIENCE, lifetime),
        )?;
        Ok(())
    }

    /// Writes the default federated token to `path` and returns the workload-identity variables
    /// (`AZURE_AUTHORITY_HOST`, `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`).
    pub fn workload_identity_env(&self, path: &Path) -> Result<Vec<(String, String)>, Error> {
        self.write_federated_token_file(
            path,
            DEFAULT_WORKLOAD_ISSUER,
            DEFAULT_WORKLOAD_SUBJECT,
            Duration::from_secs(3600),
        )?;
        Ok(vec![
            ("AZURE_AUTHORITY_HOST".to_owned(), self.authority_host()),
            ("AZURE_TENANT_ID".to_owned(), self.tenant_id.clone()),
            ("AZURE_CLIENT_ID".to_owned(), self.client_id.clone()),
            (
                "AZURE_FEDERATED_TOKEN_FILE".to_owned(),
                path.display().to_string(),
            ),
        ])
    }

    /// Verifies an access token this emulator issued (signature, `exp`, `nbf`) and returns its
    /// claims, for tests of a protected resource.
    pub fn verify_access_token(&self, token: &str) -> Result<Claims, Error> {
        verify_with(&self.shared, token)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for file in lock(&self.shared.flows).arc_key_files.drain(..) {
            let _ = std::fs::remove_file(file);
        }
        if self.owns_state_dir {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}
