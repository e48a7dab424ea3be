//! [`ManagedIdentityCredential`] and its builder: the thin glue between the sans-IO
//! [`Flow`](crate::flow::Flow), the transports and the shared token cache.

use crate::NAME;
use crate::direct::DirectHttpClient;
use crate::flow::{Action, Channel, Config, Flow};
use crate::id::ManagedIdentityId;
use crate::source::{Detected, ManagedIdentitySource};
use identity_cache::{CacheOptions, TokenCache};
use identity_core::clock::{AsyncSleep, BlockingSleep, Clock, SystemClock, ThreadSleep};
use identity_core::env::{Env, SystemEnv};
use identity_core::pipeline::{AsyncPipeline, BlockingPipeline};
use identity_core::protocol::entra::token_span;
use identity_core::retry::RetryPolicy;
use identity_core::transport::{TransportOptions, default_async_client, default_blocking_client};
use identity_core::{
    AccessToken, AsyncHttpClient, BlockingTokenCredential, BoxFuture, Error, HttpClient, Result,
    TokenCredential, TokenRequest,
};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::Instrument as _;

/// Default bound on one HTTP exchange.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most requests one token acquisition sends (probe or challenge, then the token request).
const MAX_STEPS: usize = 4;

/// Authenticates as an Azure managed identity, on every hosting environment of PROTOCOL.md §6:
/// Service Fabric, App Service / Azure Functions / Container Apps, Azure Arc, Cloud Shell,
/// Azure Machine Learning (and the legacy `MSI_ENDPOINT` + `MSI_SECRET` pair), and IMDS (Azure
/// VMs, VM scale sets, AKS, ACI).
///
/// The source is detected once, at [`build`](ManagedIdentityCredentialBuilder::build), from the
/// environment. Tokens are cached (one cache per credential, keyed by the source and the
/// identity); a request with claims bypasses the cache. Tenant and CAE options are ignored;
/// exactly one scope is required.
///
/// This crate does not wrap workload identity (PROTOCOL.md §6.1 step 3): put a
/// WorkloadIdentityCredential before this one in a chain.
///
/// `Debug` shows the source and the identity, never a secret header or a token.
pub struct ManagedIdentityCredential {
    config: Config,
    probe_done: AtomicBool,
    blocking: std::result::Result<BlockingPipeline, String>,
    asynchronous: std::result::Result<AsyncPipeline, String>,
    #[cfg(feature = "service-fabric")]
    pinned_blocking: Option<BlockingPipeline>,
    #[cfg(feature = "service-fabric")]
    pinned_async: std::result::Result<AsyncPipeline, String>,
    #[cfg(feature = "service-fabric")]
    last_sf_token: std::sync::Mutex<Option<String>>,
    cache: TokenCache,
    cache_key: u64,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityCredential")
            .field("source", &self.config.source)
            .field("identity", &self.config.id)
            .field("imds_probe", &self.config.imds_probe)
            .field("blocking", &self.blocking.is_ok())
            .field("async", &self.asynchronous.is_ok())
            .finish_non_exhaustive()
    }
}

/// Builds a [`ManagedIdentityCredential`]. Every setting has a default.
///
/// ```
/// use identity_msi::{ManagedIdentityCredential, ManagedIdentityId};
/// use identity_core::env::MapEnv;
/// use std::sync::Arc;
/// let credential = ManagedIdentityCredential::builder()
///     .identity(ManagedIdentityId::ClientId("0a550000-0000-4000-8000-000000000006".into()))
///     .env(Arc::new(MapEnv::new()))
///     .http_client(Arc::new(|_: &identity_core::Request| -> Result<identity_core::Response, identity_core::TransportError> {
///         Ok(identity_core::Response::new(400, "{}"))
///     }))
///     .build()
///     .unwrap();
/// assert_eq!(credential.source(), identity_msi::ManagedIdentitySource::Imds);
/// ```
#[must_use]
pub struct ManagedIdentityCredentialBuilder {
    identity: Option<ManagedIdentityId>,
    env: Arc<dyn Env>,
    http_client: Option<Arc<dyn HttpClient>>,
    async_http_client: Option<Arc<dyn AsyncHttpClient>>,
    async_sleep: Option<Arc<dyn AsyncSleep>>,
    blocking_sleep: Option<Arc<dyn BlockingSleep>>,
    clock: Option<Arc<dyn Clock>>,
    transport_options: TransportOptions,
    imds_probe: bool,
    arc_key_directory: Option<PathBuf>,
    imds_endpoint: Option<String>,
    request_timeout: Duration,
    imds_retry_policy: RetryPolicy,
    retry_policy: RetryPolicy,
}

impl fmt::Debug for ManagedIdentityCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityCredentialBuilder")
            .field("identity", &self.identity)
            .field("env", &self.env)
            .field("imds_probe", &self.imds_probe)
            .field("arc_key_directory", &self.arc_key_directory)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ManagedIdentityCredentialBuilder {
    fn default() -> Self {
        Self {
            identity: None,
            env: Arc::new(SystemEnv),
            http_client: None,
            async_http_client: None,
            async_sleep: None,
            blocking_sleep: None,
            clock: None,
            transport_options: TransportOptions::default(),
            imds_probe: false,
            arc_key_directory: None,
            imds_endpoint: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            imds_retry_policy: RetryPolicy::imds(),
            retry_policy: RetryPolicy::default(),
        }
    }
}

impl ManagedIdentityCredentialBuilder {
    /// The identity to ask for. Without one, a non-empty `AZURE_CLIENT_ID` selects that
    /// client id, else the system-assigned identity; [`ManagedIdentityId::SystemAssigned`]
    /// forces the system-assigned identity even when `AZURE_CLIENT_ID` is set.
    pub fn identity(mut self, identity: ManagedIdentityId) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Where environment variables are read (default: the process environment).
    pub fn env(mut self, env: Arc<dyn Env>) -> Self {
        self.env = env;
        self
    }

    /// The blocking HTTP client (default: the `ureq` transport when that feature is on, else
    /// [`DirectHttpClient`]).
    /// Service Fabric always uses the built-in pinned TLS transport instead.
    pub fn http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The async HTTP client (default: the `reqwest` transport when that feature is on; none
    /// when only `ureq` is on; else [`DirectHttpClient`], which runs each exchange on a
    /// short-lived thread).
    pub fn async_http_client(mut self, client: Arc<dyn AsyncHttpClient>) -> Self {
        self.async_http_client = Some(client);
        self
    }

    /// How async retries wait (default: tokio's or async-std's timer, per the features).
    pub fn async_sleep(mut self, sleep: Arc<dyn AsyncSleep>) -> Self {
        self.async_sleep = Some(sleep);
        self
    }

    /// How blocking retries wait (default: `std::thread::sleep`). Tests pass a
    /// [`VirtualClock`](identity_core::clock::VirtualClock).
    pub fn blocking_sleep(mut self, sleep: Arc<dyn BlockingSleep>) -> Self {
        self.blocking_sleep = Some(sleep);
        self
    }

    /// The clock (default: the system clock), used by the cache, the retry deadlines and the
    /// expiry arithmetic.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Options of the default transports.
    pub fn transport_options(mut self, options: TransportOptions) -> Self {
        self.transport_options = options;
        self
    }

    /// Probes IMDS before the first token request (default false; credential chains set it):
    /// a GET without the `Metadata` header, no retries, the whole probe bounded at 1 s, done
    /// only until it first succeeds and never when `AZURE_POD_IDENTITY_AUTHORITY_HOST` is
    /// present. No answer → [`ErrorKind::Unavailable`](identity_core::ErrorKind::Unavailable).
    pub fn imds_probe(mut self, probe: bool) -> Self {
        self.imds_probe = probe;
        self
    }

    /// The directory Azure Arc key files must be in (default `/var/opt/azcmagent/tokens` on
    /// Linux, `%PROGRAMDATA%\AzureConnectedMachineAgent\Tokens` on Windows).
    pub fn arc_key_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.arc_key_directory = Some(dir.into());
        self
    }

    /// The IMDS base address (default `http://169.254.169.254`, or
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`). Unlike that variable, this setting does not turn
    /// the availability probe off. For tests and unusual networks.
    pub fn imds_endpoint(mut self, base: impl Into<String>) -> Self {
        self.imds_endpoint = Some(base.into());
        self
    }

    /// Bound on each HTTP exchange (default 30 s; the IMDS probe is always bounded at 1 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The IMDS retry policy (default [`RetryPolicy::imds`]).
    pub fn imds_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.imds_retry_policy = policy;
        self
    }

    /// The retry policy of the other sources (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Detects the source and builds the credential.
    ///
    /// Fails with [`ErrorKind::InvalidConfiguration`](identity_core::ErrorKind::InvalidConfiguration)
    /// when a user-assigned identity is configured for Cloud Shell (which has none). There is
    /// always a transport: without the `ureq` / `reqwest` features, [`DirectHttpClient`].
    pub fn build(self) -> Result<ManagedIdentityCredential> {
        let mut source = Detected::detect(&*self.env);
        if let (Detected::Imds { base, .. }, Some(endpoint)) = (&mut source, &self.imds_endpoint) {
            endpoint.trim_matches('/').clone_into(base);
        }
        let (id, id_explicit) = match self.identity {
            Some(id) => (id, true),
            None => match self.env.non_empty("AZURE_CLIENT_ID") {
                Some(client_id) => (ManagedIdentityId::ClientId(client_id), false),
                None => (ManagedIdentityId::SystemAssigned, false),
            },
        };
        if id_explicit && id.is_user_assigned() && matches!(source, Detected::CloudShell { .. }) {
            return Err(Error::invalid_configuration(
                NAME,
                format!(
                    "client_id should not be set for cloud shell managed identity. Cloud Shell has no user-assigned identities: remove the configured {}.",
                    id.describe()
                ),
            ));
        }
        let clock: Arc<dyn Clock> = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let blocking_sleep: Arc<dyn BlockingSleep> =
            self.blocking_sleep.unwrap_or_else(|| Arc::new(ThreadSleep));
        let async_sleep = self
            .async_sleep
            .or_else(identity_core::runtime::default_async_sleep);
        let env = self.env;
        let blocking_pipeline = |client: Arc<dyn HttpClient>| {
            BlockingPipeline::new(client, &*env).with_time(clock.clone(), blocking_sleep.clone())
        };
        let async_pipeline = |client: Arc<dyn AsyncHttpClient>| match &async_sleep {
            Some(sleep) => Ok(AsyncPipeline::new(client, sleep.clone(), &*env)
                .with_time(clock.clone(), sleep.clone())),
            None => Err(NO_ASYNC_SLEEP.to_owned()),
        };
        let blocking = match self.http_client {
            Some(c) => Ok(c),
            None => default_blocking(&self.transport_options),
        }
        .map(blocking_pipeline)
        .map_err(|e| e.message().to_owned());
        let asynchronous = match self.async_http_client {
            Some(c) => Ok(c),
            None => default_async(&self.transport_options),
        }
        .map_err(|e| e.message().to_owned())
        .and_then(async_pipeline);

        #[cfg(feature = "service-fabric")]
        let (pinned_blocking, pinned_async) = match &source {
            Detected::ServiceFabric { thumbprint, .. } => {
                match crate::sources::service_fabric::normalize_thumbprint(thumbprint)
                    .and_then(|t| crate::pinned::PinnedClient::new(&t))
                {
                    Ok(client) => (
                        Some(blocking_pipeline(Arc::new(client.clone()))),
                        async_pipeline(Arc::new(crate::pinned::ThreadedPinnedClient(client))),
                    ),
                    // The flow reports the bad thumbprint at get_token.
                    Err(e) => (None, Err(e.message().to_owned())),
                }
            }
            _ => (None, Err("not a Service Fabric source".to_owned())),
        };

        let mut cache_options = CacheOptions::default();
        cache_options.clock = clock.clone();
        let cache_key = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            source.kind().hash(&mut h);
            id.hash_value().hash(&mut h);
            h.finish()
        };
        Ok(ManagedIdentityCredential {
            config: Config {
                source,
                id,
                id_explicit,
                env,
                arc_key_directory: self.arc_key_directory,
                imds_probe: self.imds_probe,
                request_timeout: self.request_timeout,
                imds_retry: self.imds_retry_policy,
                retry: self.retry_policy,
            },
            probe_done: AtomicBool::new(false),
            blocking,
            asynchronous,
            #[cfg(feature = "service-fabric")]
            pinned_blocking,
            #[cfg(feature = "service-fabric")]
            pinned_async,
            #[cfg(feature = "service-fabric")]
            last_sf_token: std::sync::Mutex::new(None),
            cache: TokenCache::with_options(cache_options),
            cache_key,
            clock,
        })
    }
}

/// The blocking transport: `ureq` (through identity-core) when that feature is on, else the
/// crate's own [`DirectHttpClient`].
fn default_blocking(options: &TransportOptions) -> Result<Arc<dyn HttpClient>> {
    if cfg!(feature = "ureq") {
        default_blocking_client(options)
    } else {
        Ok(Arc::new(DirectHttpClient::new()))
    }
}

/// The async transport: `reqwest` when that feature is on; else none when `ureq` is on (a
/// program that chose the blocking transport does not link a second one); else
/// [`DirectHttpClient`].
fn default_async(options: &TransportOptions) -> Result<Arc<dyn AsyncHttpClient>> {
    if cfg!(feature = "reqwest") {
        default_async_client(options)
    } else if cfg!(feature = "ureq") {
        Err(Error::invalid_configuration(
            NAME,
            "No async HTTP transport is compiled in: enable the `reqwest` feature, or pass an AsyncHttpClient (identity_msi::DirectHttpClient is one) with async_http_client.",
        ))
    } else {
        Ok(Arc::new(DirectHttpClient::new()))
    }
}

const NO_ASYNC_SLEEP: &str = "No async timer is compiled in: enable the `tokio` or `async-std` feature of identity-msi, or pass your own AsyncSleep with async_sleep.";
#[cfg(not(feature = "service-fabric"))]
const NO_SERVICE_FABRIC: &str = "This is a Service Fabric environment (IDENTITY_SERVER_THUMBPRINT is set), which needs TLS with certificate pinning: enable the `service-fabric` feature of identity-msi.";

impl ManagedIdentityCredential {
    /// A builder with every setting at its default.
    pub fn builder() -> ManagedIdentityCredentialBuilder {
        ManagedIdentityCredentialBuilder::default()
    }

    /// The credential with every setting at its default: the source and identity come from
    /// the process environment.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// The detected hosting environment.
    pub fn source(&self) -> ManagedIdentitySource {
        self.config.source.kind()
    }

    /// The identity tokens are requested for.
    pub fn identity(&self) -> &ManagedIdentityId {
        &self.config.id
    }

    fn blocking_pipeline(&self, channel: &Channel) -> Result<&BlockingPipeline> {
        match channel {
            Channel::Plain => self
                .blocking
                .as_ref()
                .map_err(|m| Error::invalid_configuration(NAME, m.clone())),
            #[cfg(feature = "service-fabric")]
            Channel::Pinned(_) => self.pinned_blocking.as_ref().ok_or_else(|| {
                Error::invalid_configuration(
                    NAME,
                    "The Service Fabric transport could not be set up.",
                )
            }),
            #[cfg(not(feature = "service-fabric"))]
            Channel::Pinned(_) => Err(Error::invalid_configuration(NAME, NO_SERVICE_FABRIC)),
        }
    }

    fn async_pipeline(&self, channel: &Channel) -> Result<&AsyncPipeline> {
        match channel {
            Channel::Plain => self
                .asynchronous
                .as_ref()
                .map_err(|m| Error::invalid_configuration(NAME, m.clone())),
            #[cfg(feature = "service-fabric")]
            Channel::Pinned(_) => self
                .pinned_async
                .as_ref()
                .map_err(|m| Error::invalid_configuration(NAME, m.clone())),
            #[cfg(not(feature = "service-fabric"))]
            Channel::Pinned(_) => Err(Error::invalid_configuration(NAME, NO_SERVICE_FABRIC)),
        }
    }

    /// The SHA-256 of the last Service Fabric token (for `token_sha256_to_refresh`).
    fn last_sf_token_hash(&self) -> Option<String> {
        #[cfg(feature = "service-fabric")]
        {
            self.last_sf_token
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        }
        #[cfg(not(feature = "service-fabric"))]
        {
            None
        }
    }

    fn finish(&self, result: Result<AccessToken>) -> Result<AccessToken> {
        #[cfg(feature = "service-fabric")]
        if let (Ok(token), Detected::ServiceFabric { .. }) = (&result, &self.config.source) {
            *self.last_sf_token.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(crate::pinned::token_sha256(token.token().secret()));
        }
        result
    }

    fn fetch_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let hash = self.last_sf_token_hash();
        let (mut flow, mut action) = Flow::start(
            &self.config,
            &self.probe_done,
            request,
            hash.as_deref(),
            self.clock.now(),
        );
        for _ in 0..MAX_STEPS {
            match action {
                Action::Done(result) => return self.finish(result),
                Action::Send(out) => {
                    let pipeline = self.blocking_pipeline(&out.channel)?;
                    let outcome = pipeline.send(out.request, &out.policy);
                    action = flow.advance(outcome, self.clock.now());
                }
            }
        }
        match action {
            Action::Done(result) => self.finish(result),
            Action::Send(_) => Err(too_many_steps()),
        }
    }

    async fn fetch_async(&self, request: &TokenRequest) -> Result<AccessToken> {
        let hash = self.last_sf_token_hash();
        let (mut flow, mut action) = Flow::start(
            &self.config,
            &self.probe_done,
            request,
            hash.as_deref(),
            self.clock.now(),
        );
        for _ in 0..MAX_STEPS {
            match action {
                Action::Done(result) => return self.finish(result),
                Action::Send(out) => {
                    let pipeline = self.async_pipeline(&out.channel)?;
                    let outcome = pipeline.send(out.request, &out.policy).await;
                    action = flow.advance(outcome, self.clock.now());
                }
            }
        }
        match action {
            Action::Done(result) => self.finish(result),
            Action::Send(_) => Err(too_many_steps()),
        }
    }

    /// True once the IMDS probe has succeeded (it is not repeated after that).
    pub fn imds_probe_succeeded(&self) -> bool {
        self.probe_done.load(Ordering::Acquire)
    }
}

fn too_many_steps() -> Error {
    Error::authentication(
        NAME,
        "ManagedIdentityCredential: internal error: too many requests for one token.",
    )
}

fn log_outcome(result: &Result<AccessToken>) {
    match result {
        Ok(_) => tracing::debug!("ManagedIdentityCredential.get_token succeeded"),
        Err(e) => {
            tracing::warn!(error = %e, kind = %e.kind(), "ManagedIdentityCredential.get_token failed")
        }
    }
}

impl BlockingTokenCredential for ManagedIdentityCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let span = token_span(NAME, request.scopes(), None);
        let _guard = span.enter();
        let result = request
            .validate()
            .map_err(|e| e.with_credential(NAME))
            .and_then(|()| {
                self.cache
                    .get_blocking_with_key(request, self.cache_key, || self.fetch_blocking(request))
            });
        log_outcome(&result);
        result
    }

    fn name(&self) -> &'static str {
        NAME
    }
}

impl TokenCredential for ManagedIdentityCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        let span = token_span(NAME, request.scopes(), None);
        Box::pin(
            async move {
                let result = match request.validate() {
                    Err(e) => Err(e.with_credential(NAME)),
                    Ok(()) => {
                        self.cache
                            .get_with_key(request, self.cache_key, || self.fetch_async(request))
                            .await
                    }
                };
                log_outcome(&result);
                result
            }
            .instrument(span),
        )
    }

    fn name(&self) -> &'static str {
        NAME
    }
}
