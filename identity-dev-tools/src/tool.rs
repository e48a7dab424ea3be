//! What the three tools have in common, and the one credential type that drives any of them.

use crate::process::{self, Invocation, Output, RunError};
use identity_cache::TokenCache;
use identity_core::clock::{Clock, SystemClock};
use identity_core::env::{Env, SystemEnv};
use identity_core::validate::{
    resolve_tenant, validate_scope, validate_subscription, validate_tenant_id,
};
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, ErrorKind, Result, TokenCredential,
    TokenRequest,
};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The default process timeout, as in the other Azure SDKs.
pub const DEFAULT_PROCESS_TIMEOUT: Duration = Duration::from_secs(10);

/// A developer tool: [`AzureCli`], [`AzureDeveloperCli`] or [`AzurePowerShell`]. Sealed: the
/// way a tool is called and read is this crate's business.
///
/// [`AzureCli`]: crate::AzureCli
/// [`AzureDeveloperCli`]: crate::AzureDeveloperCli
/// [`AzurePowerShell`]: crate::AzurePowerShell
pub trait Tool: sealed::ToolImpl {}

impl<T: sealed::ToolImpl> Tool for T {}

pub(crate) mod sealed {
    use super::*;

    /// How to call a tool and read what it says.
    pub trait ToolImpl: Send + Sync + fmt::Debug + Default + 'static {
        /// The credential's name (`AzureCliCredential`, …).
        const NAME: &'static str;
        /// The program looked up on `PATH`.
        const PROGRAM: &'static str;
        /// Whether the `subscription` option applies.
        const SUPPORTS_SUBSCRIPTION: bool;

        /// The arguments after the program name. Inputs are already validated.
        fn args(
            &self,
            scopes: &[String],
            tenant: &str,
            subscription: Option<&str>,
            claims: Option<&str>,
        ) -> Result<Vec<String>>;

        /// Variables added to the inherited environment.
        fn extra_env(&self) -> Vec<(String, String)>;

        /// The error for a claims challenge, when the tool cannot take one.
        fn claims_error(&self, claims: &str, tenant: &str, scopes: &[String]) -> Option<Error>;

        /// Reads the tool's output (any exit code). `now` is when it finished.
        fn parse(&self, output: &Output, now: SystemTime) -> Result<AccessToken>;

        /// The error when the program is not installed.
        fn not_found(&self) -> Error;

        /// The error when it did not finish in time (it was killed).
        fn timed_out(&self, after: Duration) -> Error;

        /// The error when it could not be started.
        fn launch_failed(&self, program: &std::path::Path, error: &std::io::Error) -> Error;

        /// The files whose size and modification time change when the user logs in, logs out or
        /// switches account; their state is part of the cache key.
        fn login_state_files(&self, env: &dyn Env) -> Vec<PathBuf>;
    }
}

/// Options of a developer-tool credential.
#[derive(Clone)]
#[non_exhaustive]
pub struct DevToolOptions {
    /// The tenant to request tokens from (default: the tool's current tenant).
    pub tenant_id: Option<String>,
    /// Azure CLI only: the subscription whose tenant is used (name or id).
    pub subscription: Option<String>,
    /// Tenants a request may name besides `tenant_id` (`"*"` for any). Without `tenant_id`,
    /// any requested tenant is allowed.
    pub additionally_allowed_tenants: Vec<String>,
    /// Bound on each run of the tool (default 10 s); the tool is killed past it.
    pub process_timeout: Duration,
    /// Cache tokens (default true). The cache entry is keyed by the tool's login state too, so
    /// a login, logout or account switch is seen at once.
    pub cache_tokens: bool,
    /// Set by `DefaultAzureCredential`: failures other than invalid requests become
    /// "unavailable" so that the chain moves on.
    pub within_default_chain: bool,
    /// The environment (`PATH`, `HOME`, `AZURE_CONFIG_DIR`, …).
    pub env: Arc<dyn Env>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for DevToolOptions {
    fn default() -> Self {
        Self {
            tenant_id: None,
            subscription: None,
            additionally_allowed_tenants: Vec::new(),
            process_timeout: DEFAULT_PROCESS_TIMEOUT,
            cache_tokens: true,
            within_default_chain: false,
            env: Arc::new(SystemEnv),
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for DevToolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevToolOptions")
            .field("tenant_id", &self.tenant_id)
            .field("subscription", &self.subscription)
            .field(
                "additionally_allowed_tenants",
                &self.additionally_allowed_tenants,
            )
            .field("process_timeout", &self.process_timeout)
            .field("cache_tokens", &self.cache_tokens)
            .field("within_default_chain", &self.within_default_chain)
            .finish_non_exhaustive()
    }
}

/// A credential that gets tokens from a developer tool: see [`AzureCliCredential`],
/// [`AzureDeveloperCliCredential`] and [`AzurePowerShellCredential`].
///
/// [`AzureCliCredential`]: crate::AzureCliCredential
/// [`AzureDeveloperCliCredential`]: crate::AzureDeveloperCliCredential
/// [`AzurePowerShellCredential`]: crate::AzurePowerShellCredential
pub struct DevToolCredential<T: Tool> {
    tool: T,
    options: DevToolOptions,
    cache: TokenCache,
}

impl<T: Tool> fmt::Debug for DevToolCredential<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(T::NAME)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DevToolCredential`].
#[derive(Debug)]
pub struct DevToolCredentialBuilder<T: Tool> {
    options: DevToolOptions,
    _tool: std::marker::PhantomData<T>,
}

impl<T: Tool> DevToolCredentialBuilder<T> {
    /// Sets the tenant.
    #[must_use]
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.options.tenant_id = Some(tenant_id.into());
        self
    }
    /// Sets the subscription (Azure CLI only).
    #[must_use]
    pub fn subscription(mut self, subscription: impl Into<String>) -> Self {
        self.options.subscription = Some(subscription.into());
        self
    }
    /// Allows requests for these tenants too (`"*"` for any).
    #[must_use]
    pub fn additionally_allowed_tenants<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        tenants: I,
    ) -> Self {
        self.options.additionally_allowed_tenants = tenants.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the bound on each run of the tool.
    #[must_use]
    pub fn process_timeout(mut self, timeout: Duration) -> Self {
        self.options.process_timeout = timeout;
        self
    }
    /// Turns the token cache on or off.
    #[must_use]
    pub fn cache_tokens(mut self, on: bool) -> Self {
        self.options.cache_tokens = on;
        self
    }
    /// Marks the credential as a member of `DefaultAzureCredential`.
    #[must_use]
    pub fn within_default_chain(mut self, on: bool) -> Self {
        self.options.within_default_chain = on;
        self
    }
    /// Sets the environment the credential reads.
    #[must_use]
    pub fn env(mut self, env: Arc<dyn Env>) -> Self {
        self.options.env = env;
        self
    }
    /// Sets the clock.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.options.clock = clock;
        self
    }
    /// Replaces all options.
    #[must_use]
    pub fn options(mut self, options: DevToolOptions) -> Self {
        self.options = options;
        self
    }
    /// Validates the options (tenant, subscription) and builds the credential.
    pub fn build(self) -> Result<DevToolCredential<T>> {
        DevToolCredential::new(self.options)
    }
}

fn is_option_like(value: &str) -> bool {
    value.starts_with('-')
}

impl<T: Tool> DevToolCredential<T> {
    /// A builder with default options.
    pub fn builder() -> DevToolCredentialBuilder<T> {
        DevToolCredentialBuilder {
            options: DevToolOptions::default(),
            _tool: std::marker::PhantomData,
        }
    }

    /// A credential with `options`, validated.
    pub fn new(options: DevToolOptions) -> Result<Self> {
        if let Some(tenant) = &options.tenant_id {
            validate_tenant_id(tenant).map_err(|e| e.with_credential(T::NAME))?;
        }
        if let Some(subscription) = &options.subscription {
            if !T::SUPPORTS_SUBSCRIPTION {
                return Err(Error::invalid_configuration(
                    T::NAME,
                    format!(
                        "{} does not take a subscription; select the tenant with tenant_id instead.",
                        T::NAME
                    ),
                ));
            }
            validate_subscription(subscription).map_err(|e| e.with_credential(T::NAME))?;
            if is_option_like(subscription) {
                return Err(Error::invalid_configuration(
                    T::NAME,
                    "A subscription must not start with '-'.",
                ));
            }
        }
        if options.process_timeout.is_zero() {
            return Err(Error::invalid_configuration(
                T::NAME,
                "process_timeout must be greater than zero.",
            ));
        }
        let mut cache_options = identity_cache::CacheOptions::default();
        cache_options.clock = options.clock.clone();
        Ok(Self {
            tool: T::default(),
            options,
            cache: TokenCache::with_options(cache_options),
        })
    }

    /// The options.
    pub fn options(&self) -> &DevToolOptions {
        &self.options
    }

    /// Checks the request and works out the tenant, before any process starts.
    fn prepare(&self, request: &TokenRequest) -> Result<String> {
        request.validate().map_err(|e| e.with_credential(T::NAME))?;
        for scope in request.scopes() {
            validate_scope(scope).map_err(|e| e.with_credential(T::NAME))?;
            if is_option_like(scope) {
                return Err(Error::invalid_request(
                    T::NAME,
                    identity_core::validate::INVALID_SCOPE_MESSAGE,
                ));
            }
        }
        let disabled = self
            .options
            .env
            .non_empty("AZURE_IDENTITY_DISABLE_MULTITENANTAUTH")
            .is_some();
        let configured = self.options.tenant_id.as_deref().unwrap_or("");
        let tenant = resolve_tenant(
            configured,
            request.tenant_id(),
            &self.options.additionally_allowed_tenants,
            disabled,
        )
        .map_err(|e| e.with_credential(T::NAME))?;
        if !tenant.is_empty() {
            validate_tenant_id(&tenant).map_err(|e| e.with_credential(T::NAME))?;
            if is_option_like(&tenant) {
                return Err(Error::invalid_request(
                    T::NAME,
                    identity_core::validate::INVALID_TENANT_MESSAGE,
                ));
            }
        }
        if let Some(claims) = request.claims()
            && let Some(error) = self.tool.claims_error(claims, &tenant, request.scopes())
        {
            return Err(error);
        }
        Ok(tenant)
    }

    fn invocation(&self, request: &TokenRequest, tenant: &str) -> Result<Invocation> {
        let path = self.options.env.var("PATH");
        let program = process::find_on_path(T::PROGRAM, path.as_deref())
            .ok_or_else(|| self.tool.not_found())?;
        let cwd = process::working_directory(&*self.options.env).ok_or_else(|| {
            Error::unavailable(T::NAME, format!("Failed to invoke {}: SYSTEMROOT is not set, so there is no safe working directory.", T::PROGRAM))
        })?;
        let args = self.tool.args(
            request.scopes(),
            tenant,
            self.options.subscription.as_deref(),
            request.claims(),
        )?;
        // The tool sees the credential's environment: this process's, or all of an injected
        // one; plus the tool's own switches.
        let base = self.options.env.child_environment();
        let clear_env = base.is_some();
        let mut env = base.unwrap_or_default();
        env.extend(self.tool.extra_env());
        Ok(Invocation {
            program,
            args,
            env,
            clear_env,
            cwd,
            timeout: self.options.process_timeout,
        })
    }

    fn finish(
        &self,
        program: &std::path::Path,
        outcome: std::result::Result<Output, RunError>,
    ) -> Result<AccessToken> {
        match outcome {
            Ok(output) if output.truncated => Err(Error::authentication(
                T::NAME,
                format!(
                    "{} printed more than 1 MiB, which no token answer does; run it by hand to see what is wrong.",
                    program.display()
                ),
            )),
            Ok(output) => self.tool.parse(&output, self.options.clock.now()),
            Err(RunError::NotFound) => Err(self.tool.not_found()),
            Err(RunError::TimedOut(after)) => Err(self.tool.timed_out(after)),
            Err(RunError::Launch(e)) => Err(self.tool.launch_failed(program, &e)),
        }
    }

    /// The part of the cache key that is this credential's own: the tool, the subscription
    /// and the login state.
    fn login_key(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        T::NAME.hash(&mut h);
        self.options.subscription.hash(&mut h);
        for file in self.tool.login_state_files(&*self.options.env) {
            file.hash(&mut h);
            match std::fs::metadata(&file) {
                Ok(meta) => {
                    meta.len().hash(&mut h);
                    meta.modified().ok().hash(&mut h);
                }
                Err(_) => "absent".hash(&mut h),
            }
        }
        h.finish()
    }

    fn conclude(&self, result: Result<AccessToken>) -> Result<AccessToken> {
        match result {
            Ok(token) => {
                tracing::debug!("{}.get_token succeeded", T::NAME);
                Ok(token)
            }
            Err(e) => {
                let e =
                    if self.options.within_default_chain && e.kind() == ErrorKind::Authentication {
                        e.with_kind(ErrorKind::Unavailable)
                    } else {
                        e
                    };
                if self.options.within_default_chain {
                    tracing::debug!(error = %e, "{}.get_token failed", T::NAME);
                } else {
                    tracing::warn!(error = %e, "{}.get_token failed", T::NAME);
                }
                Err(e)
            }
        }
    }

    fn blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let tenant = self.prepare(request)?;
        let fetch = || {
            let invocation = self.invocation(request, &tenant)?;
            let outcome = process::run(&invocation);
            self.finish(&invocation.program, outcome)
        };
        if self.options.cache_tokens {
            self.cache
                .get_blocking_with_key(request, self.login_key(), fetch)
        } else {
            fetch()
        }
    }

    async fn asynchronous(&self, request: &TokenRequest) -> Result<AccessToken> {
        let tenant = self.prepare(request)?;
        let fetch = || async {
            let invocation = self.invocation(request, &tenant)?;
            let program = invocation.program.clone();
            let outcome = process::run_async(invocation).await;
            self.finish(&program, outcome)
        };
        if self.options.cache_tokens {
            self.cache
                .get_with_key(request, self.login_key(), fetch)
                .await
        } else {
            fetch().await
        }
    }
}

impl<T: Tool> BlockingTokenCredential for DevToolCredential<T> {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let span = identity_core::protocol::entra::token_span(
            T::NAME,
            request.scopes(),
            request.tenant_id(),
        );
        let _guard = span.enter();
        self.conclude(self.blocking(request))
    }
    fn name(&self) -> &'static str {
        T::NAME
    }
}

impl<T: Tool> TokenCredential for DevToolCredential<T> {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        use tracing::Instrument as _;
        let span = identity_core::protocol::entra::token_span(
            T::NAME,
            request.scopes(),
            request.tenant_id(),
        );
        Box::pin(async move { self.conclude(self.asynchronous(request).await) }.instrument(span))
    }
    fn name(&self) -> &'static str {
        T::NAME
    }
}

/// Replaces every `"key": "value"` pair (key and value) with `****`, as the Python library
/// sanitises tool output, and shortens the text.
pub(crate) fn sanitize(text: &str, key: &str) -> String {
    let needle = format!("\"{key}\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&needle) {
        out.push_str(&rest[..start]);
        let after_key = &rest[start + needle.len()..];
        let trimmed = after_key.trim_start();
        let replaced = trimmed
            .strip_prefix(':')
            .map(str::trim_start)
            .and_then(|v| v.strip_prefix('"'))
            .map(|value| {
                let mut escaped = false;
                let end = value.char_indices().find(|&(_, c)| {
                    let stop = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    stop
                });
                match end {
                    Some((i, _)) => &value[i + 1..],
                    None => "",
                }
            });
        match replaced {
            Some(remaining) => {
                out.push_str("****");
                rest = remaining;
            }
            None => {
                out.push_str(&needle);
                rest = after_key;
            }
        }
    }
    out.push_str(rest);
    const MAX: usize = 2000;
    if out.chars().count() > MAX {
        let cut: String = out.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_removes_the_whole_pair() {
        assert_eq!(
            sanitize(r#"{"accessToken": "abc\"d", "x": 1}"#, "accessToken"),
            r#"{****, "x": 1}"#
        );
        assert_eq!(
            sanitize(r#"{"token":"t1"} {"token" : "t2"}"#, "token"),
            "{****} {****}"
        );
        assert_eq!(
            sanitize(r#"{"accessToken": 5}"#, "accessToken"),
            r#"{"accessToken": 5}"#
        );
        assert_eq!(
            sanitize(r#"{"accessToken": "unterminated"#, "accessToken"),
            "{****"
        );
    }
}
