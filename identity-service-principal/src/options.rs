//! [`CredentialOptions`]: the settings every credential of this crate takes.

use identity_core::clock::{AsyncSleep, BlockingSleep, Clock, SystemClock, ThreadSleep};
use identity_core::env::{Env, SystemEnv};
use identity_core::transport::TransportOptions;
use identity_core::{AsyncHttpClient, HttpClient};
use std::fmt;
use std::sync::Arc;

/// Options shared by every credential of this crate: authority, tenants, instance discovery,
/// transports, and the injected environment and clock.
///
/// Builders expose each field as a method (`.authority_host(..)`, `.env(..)`, …); set them here
/// to share one configuration between credentials.
///
/// ```
/// use identity_service_principal::CredentialOptions;
/// let mut options = CredentialOptions::default();
/// options.authority_host = Some("https://login.microsoftonline.us".into());
/// options.additionally_allowed_tenants = vec!["*".into()];
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct CredentialOptions {
    /// The Microsoft Entra authority host (`https://login.microsoftonline.com` by default, or
    /// `AZURE_AUTHORITY_HOST`). See [`identity_core::authority::AzureAuthorityHosts`] for the
    /// sovereign clouds.
    pub authority_host: Option<String>,
    /// Tenants besides the configured one that a request may name (`"*"` for any); see
    /// PROTOCOL.md §2.3.
    pub additionally_allowed_tenants: Vec<String>,
    /// Skips instance discovery (authority validation) for authority hosts that are neither
    /// well known nor local. Well-known and loopback hosts never need it.
    pub disable_instance_discovery: bool,
    /// Where environment variables are read (default: the process environment).
    pub env: Arc<dyn Env>,
    /// The blocking HTTP client (default: the compiled-in `ureq` transport).
    pub http_client: Option<Arc<dyn HttpClient>>,
    /// The async HTTP client (default: the compiled-in `reqwest` transport).
    pub async_http_client: Option<Arc<dyn AsyncHttpClient>>,
    /// How async retries wait (default: tokio or async-std, per the enabled feature).
    pub async_sleep: Option<Arc<dyn AsyncSleep>>,
    /// How blocking retries wait (default: `std::thread::sleep`).
    pub blocking_sleep: Arc<dyn BlockingSleep>,
    /// Options of the default transports (extra root certificates, proxy, timeouts).
    pub transport_options: TransportOptions,
    /// Where "now" comes from (default: the system clock); tests use a `VirtualClock`.
    pub clock: Arc<dyn Clock>,
    /// Keep client-credential tokens in the persistent MSAL cache (feature `persistent`): the
    /// Secret Service, or an owner-only file when allowed. Not for `OnBehalfOfCredential`.
    #[cfg(feature = "persistent")]
    pub cache_persistence: Option<identity_cache::persistent::TokenCachePersistenceOptions>,
}

impl Default for CredentialOptions {
    fn default() -> Self {
        Self {
            authority_host: None,
            additionally_allowed_tenants: Vec::new(),
            disable_instance_discovery: false,
            env: Arc::new(SystemEnv),
            http_client: None,
            async_http_client: None,
            async_sleep: None,
            blocking_sleep: Arc::new(ThreadSleep),
            transport_options: TransportOptions::default(),
            clock: Arc::new(SystemClock),
            #[cfg(feature = "persistent")]
            cache_persistence: None,
        }
    }
}

impl fmt::Debug for CredentialOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("CredentialOptions");
        d.field("authority_host", &self.authority_host)
            .field(
                "additionally_allowed_tenants",
                &self.additionally_allowed_tenants,
            )
            .field(
                "disable_instance_discovery",
                &self.disable_instance_discovery,
            )
            .field("env", &self.env)
            .field("http_client", &self.http_client.is_some())
            .field("async_http_client", &self.async_http_client.is_some())
            .field("transport_options", &self.transport_options);
        #[cfg(feature = "persistent")]
        d.field("cache_persistence", &self.cache_persistence);
        d.finish_non_exhaustive()
    }
}

/// The builder methods of the shared options, for every credential builder with an `options`
/// field.
macro_rules! common_builder_methods {
    () => {
        /// Keep tokens in the persistent cache described by `options` (feature `persistent`).
        #[cfg(feature = "persistent")]
        pub fn cache_persistence(
            mut self,
            options: identity_cache::persistent::TokenCachePersistenceOptions,
        ) -> Self {
            self.options.cache_persistence = Some(options);
            self
        }

        /// Replaces all shared options at once.
        pub fn options(mut self, options: $crate::CredentialOptions) -> Self {
            self.options = options;
            self
        }

        /// The Microsoft Entra authority host, e.g.
        /// [`AzureAuthorityHosts::AZURE_GOVERNMENT`](identity_core::authority::AzureAuthorityHosts::AZURE_GOVERNMENT)
        /// (default: `AZURE_AUTHORITY_HOST`, else the public cloud). Must be `https`.
        pub fn authority_host(mut self, authority_host: impl Into<String>) -> Self {
            self.options.authority_host = Some(authority_host.into());
            self
        }

        /// Tenants besides the configured one that a token request may name; `"*"` allows any.
        pub fn additionally_allowed_tenants<I, S>(mut self, tenants: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.options.additionally_allowed_tenants =
                tenants.into_iter().map(Into::into).collect();
            self
        }

        /// Skips instance discovery for authority hosts that are neither well known nor local.
        pub fn disable_instance_discovery(mut self, disable: bool) -> Self {
            self.options.disable_instance_discovery = disable;
            self
        }

        /// Reads environment variables from `env` instead of the process environment.
        pub fn env(mut self, env: std::sync::Arc<dyn identity_core::env::Env>) -> Self {
            self.options.env = env;
            self
        }

        /// Uses this blocking HTTP client.
        pub fn http_client(
            mut self,
            client: std::sync::Arc<dyn identity_core::HttpClient>,
        ) -> Self {
            self.options.http_client = Some(client);
            self
        }

        /// Uses this async HTTP client.
        pub fn async_http_client(
            mut self,
            client: std::sync::Arc<dyn identity_core::AsyncHttpClient>,
        ) -> Self {
            self.options.async_http_client = Some(client);
            self
        }

        /// Waits between async retries with `sleep`.
        pub fn async_sleep(
            mut self,
            sleep: std::sync::Arc<dyn identity_core::clock::AsyncSleep>,
        ) -> Self {
            self.options.async_sleep = Some(sleep);
            self
        }

        /// Waits between blocking retries with `sleep`.
        pub fn blocking_sleep(
            mut self,
            sleep: std::sync::Arc<dyn identity_core::clock::BlockingSleep>,
        ) -> Self {
            self.options.blocking_sleep = sleep;
            self
        }

        /// Options of the default transports (e.g. an extra trusted root certificate).
        pub fn transport_options(
            mut self,
            options: identity_core::transport::TransportOptions,
        ) -> Self {
            self.options.transport_options = options;
            self
        }

        /// Tells the time with `clock` (tests use a `VirtualClock`).
        pub fn clock(mut self, clock: std::sync::Arc<dyn identity_core::clock::Clock>) -> Self {
            self.options.clock = clock;
            self
        }
    };
}
pub(crate) use common_builder_methods;
