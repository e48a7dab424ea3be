//! [`InteractiveOptions`]: the settings every credential of this crate takes, and
//! [`CancellationToken`].

use crate::record::AuthenticationRecord;
use identity_core::clock::{AsyncSleep, BlockingSleep, Clock, SystemClock, ThreadSleep};
use identity_core::env::{Env, SystemEnv};
use identity_core::transport::TransportOptions;
use identity_core::{AsyncHttpClient, HttpClient};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Settings shared by the credentials of this crate. Build one with `Default` and set fields,
/// or use the builder methods of each credential.
#[derive(Clone)]
#[non_exhaustive]
pub struct InteractiveOptions {
    /// The authority host (default: `AZURE_AUTHORITY_HOST`, else the public cloud).
    pub authority_host: Option<String>,
    /// The tenant (default `organizations`; an [`AuthenticationRecord`]'s tenant when one is given).
    pub tenant_id: Option<String>,
    /// The application (client) id (default: the Azure CLI's public client,
    /// `04b07795-8ddb-461a-bbee-02f9e1bf7b46`; a record's client id when one is given).
    pub client_id: Option<String>,
    /// Tenants other than the configured one a request may ask for (`"*"` for any).
    pub additionally_allowed_tenants: Vec<String>,
    /// When true, `get_token` never prompts: without a signed-in account it fails with
    /// [`ErrorKind::AuthenticationRequired`](identity_core::ErrorKind::AuthenticationRequired);
    /// call `authenticate` to sign in.
    pub disable_automatic_authentication: bool,
    /// The account of an earlier sign-in (its client id, authority and tenant are used).
    pub authentication_record: Option<AuthenticationRecord>,
    /// Cancels a sign-in in progress (device-code polling, waiting for the browser).
    pub cancellation: CancellationToken,
    /// The environment (default: the process environment).
    pub env: Arc<dyn Env>,
    /// The blocking HTTP client (default: the compiled-in `ureq` transport).
    pub http_client: Option<Arc<dyn HttpClient>>,
    /// The async HTTP client (default: the compiled-in `reqwest` transport).
    pub async_http_client: Option<Arc<dyn AsyncHttpClient>>,
    /// The async sleep (default: `tokio` or `async-std`, whichever is compiled in).
    pub async_sleep: Option<Arc<dyn AsyncSleep>>,
    /// The blocking sleep (default: the thread sleeps).
    pub blocking_sleep: Arc<dyn BlockingSleep>,
    /// Options of the default transports (extra root certificates, proxy, timeouts).
    pub transport_options: TransportOptions,
    /// The clock (tests use a [`VirtualClock`](identity_core::clock::VirtualClock) for it and
    /// for both sleeps).
    pub clock: Arc<dyn Clock>,
    /// Keep tokens in the persistent MSAL cache (Secret Service, or an owner-only file when
    /// allowed), so that a later process with the [`AuthenticationRecord`] signs in silently.
    #[cfg(feature = "persistent")]
    pub cache_persistence: Option<identity_cache::persistent::TokenCachePersistenceOptions>,
}

impl Default for InteractiveOptions {
    fn default() -> Self {
        Self {
            authority_host: None,
            tenant_id: None,
            client_id: None,
            additionally_allowed_tenants: Vec::new(),
            disable_automatic_authentication: false,
            authentication_record: None,
            cancellation: CancellationToken::new(),
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

impl fmt::Debug for InteractiveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("InteractiveOptions");
        d.field("authority_host", &self.authority_host)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field(
                "additionally_allowed_tenants",
                &self.additionally_allowed_tenants,
            )
            .field(
                "disable_automatic_authentication",
                &self.disable_automatic_authentication,
            )
            .field("authentication_record", &self.authentication_record)
            .field("env", &self.env)
            .field("http_client", &self.http_client.is_some())
            .field("async_http_client", &self.async_http_client.is_some())
            .field("transport_options", &self.transport_options);
        #[cfg(feature = "persistent")]
        d.field("cache_persistence", &self.cache_persistence);
        d.finish_non_exhaustive()
    }
}

/// A flag that cancels a sign-in in progress: polling and waiting stop at the next check
/// (within about a second) with an authentication error. Clones share the flag. Dropping the
/// future of an async `get_token` cancels it too.
#[derive(Clone, Debug, Default)]
pub struct CancellationToken(Arc<AtomicBool>);

impl CancellationToken {
    /// A token not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every sign-in that watches this token, now and later (until [`reset`](Self::reset)).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Clears the flag so that later sign-ins may run.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// True once [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Builder methods shared by the credentials (transports, environment, clock).
macro_rules! transport_builder_methods {
    () => {
        /// The authority host, e.g. `https://login.microsoftonline.com`.
        pub fn authority_host(mut self, authority_host: impl Into<String>) -> Self {
            self.options.authority_host = Some(authority_host.into());
            self
        }

        /// Tenants other than the configured one a request may ask for (`"*"` for any).
        pub fn additionally_allowed_tenants<I, S>(mut self, tenants: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.options.additionally_allowed_tenants =
                tenants.into_iter().map(Into::into).collect();
            self
        }

        /// The environment to read (`AZURE_AUTHORITY_HOST`, `BROWSER`, …).
        pub fn env(mut self, env: std::sync::Arc<dyn identity_core::env::Env>) -> Self {
            self.options.env = env;
            self
        }

        /// The blocking HTTP client.
        pub fn http_client(
            mut self,
            client: std::sync::Arc<dyn identity_core::HttpClient>,
        ) -> Self {
            self.options.http_client = Some(client);
            self
        }

        /// The async HTTP client.
        pub fn async_http_client(
            mut self,
            client: std::sync::Arc<dyn identity_core::AsyncHttpClient>,
        ) -> Self {
            self.options.async_http_client = Some(client);
            self
        }

        /// The async sleep.
        pub fn async_sleep(
            mut self,
            sleep: std::sync::Arc<dyn identity_core::clock::AsyncSleep>,
        ) -> Self {
            self.options.async_sleep = Some(sleep);
            self
        }

        /// The blocking sleep.
        pub fn blocking_sleep(
            mut self,
            sleep: std::sync::Arc<dyn identity_core::clock::BlockingSleep>,
        ) -> Self {
            self.options.blocking_sleep = sleep;
            self
        }

        /// Options of the default transports.
        pub fn transport_options(
            mut self,
            options: identity_core::transport::TransportOptions,
        ) -> Self {
            self.options.transport_options = options;
            self
        }

        /// The clock.
        pub fn clock(mut self, clock: std::sync::Arc<dyn identity_core::clock::Clock>) -> Self {
            self.options.clock = clock;
            self
        }
    };
}
pub(crate) use transport_builder_methods;

/// Builder methods of the credentials that sign a user in themselves.
macro_rules! user_builder_methods {
    () => {
        /// All options at once.
        pub fn options(mut self, options: $crate::InteractiveOptions) -> Self {
            self.options = options;
            self
        }

        /// The tenant (default `organizations`).
        pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
            self.options.tenant_id = Some(tenant_id.into());
            self
        }

        /// The application (client) id (default: the Azure CLI's public client).
        pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
            self.options.client_id = Some(client_id.into());
            self
        }

        /// Never prompt from `get_token`; see [`InteractiveOptions::disable_automatic_authentication`].
        pub fn disable_automatic_authentication(mut self, disable: bool) -> Self {
            self.options.disable_automatic_authentication = disable;
            self
        }

        /// The account of an earlier sign-in.
        pub fn authentication_record(mut self, record: $crate::AuthenticationRecord) -> Self {
            self.options.authentication_record = Some(record);
            self
        }

        /// Keep tokens in the persistent cache described by `options` (feature `persistent`).
        #[cfg(feature = "persistent")]
        pub fn cache_persistence(
            mut self,
            options: identity_cache::persistent::TokenCachePersistenceOptions,
        ) -> Self {
            self.options.cache_persistence = Some(options);
            self
        }

        /// A token that cancels a sign-in in progress.
        pub fn cancellation(mut self, token: $crate::CancellationToken) -> Self {
            self.options.cancellation = token;
            self
        }

        $crate::options::transport_builder_methods!();
    };
}
pub(crate) use user_builder_methods;
