//! The confidential-client core every credential of this crate is a thin struct over: authority,
//! tenant validation and resolution, instance discovery, client authentication, the token
//! request, the cache, logging. Request building and response checking are pure functions.

use crate::options::CredentialOptions;
use identity_cache::{CacheOptions, TokenCache};
use identity_core::authority::{authority_host, host_of, is_well_known};
use identity_core::clock::Clock;
use identity_core::env::Env;
use identity_core::pipeline::{AsyncPipeline, BlockingPipeline};
use identity_core::protocol::entra::{
    self, ClientAuth, Grant, TokenRequestParams, decorate_scopes, join_scopes, merge_cae_claims,
    parse_token_response, token_endpoint, token_span,
};
use identity_core::retry::RetryPolicy;
use identity_core::runtime::default_async_sleep;
use identity_core::transport::{default_async_client, default_blocking_client};
use identity_core::validate::{resolve_tenant, validate_tenant_id};
use identity_core::{
    AccessToken, BoxFuture, Error, ErrorKind, Request, Response, Result, Secret, TokenRequest,
};
use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;
use tracing::Instrument as _;

/// The variable that pins every request to the configured tenant.
pub(crate) const DISABLE_MULTITENANT: &str = "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH";

/// The host that answers instance discovery for every cloud.
const DISCOVERY_HOST: &str = "https://login.microsoftonline.com";

/// How the client proves itself on one request.
pub(crate) enum ClientAuthValue {
    /// A public client: no client authentication.
    None,
    /// A client secret.
    Secret(Secret),
    /// A client assertion (JWT).
    Assertion(Secret),
}

/// What an [`AuthSource`] knows about the request it authenticates.
pub(crate) struct AuthContext<'a> {
    /// The credential's name, for errors.
    pub(crate) name: &'static str,
    /// The token endpoint (the `aud` of a certificate assertion).
    #[cfg(feature = "certificate")]
    pub(crate) endpoint: &'a str,
    /// The application (client) id (`iss` and `sub` of a certificate assertion).
    #[cfg(feature = "certificate")]
    pub(crate) client_id: &'a str,
    /// The resolved tenant (ADFS assertions are always RS256).
    #[cfg(feature = "certificate")]
    pub(crate) tenant: &'a str,
    /// Now.
    pub(crate) now: SystemTime,
    /// The transports and environment, for sources that make requests of their own.
    pub(crate) transport: &'a Transport,
}

/// Where a credential's client authentication comes from: a secret, a certificate, a callback,
/// a file, another service. Blocking and async forms.
pub(crate) trait AuthSource: Send + Sync + fmt::Debug {
    fn blocking(&self, cx: &AuthContext<'_>) -> Result<ClientAuthValue>;
    fn future<'a>(&'a self, cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>>;
}

/// A public client (the username/password flow): nothing to authenticate the client with.
#[derive(Debug)]
pub(crate) struct PublicClient;

impl AuthSource for PublicClient {
    fn blocking(&self, _cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        Ok(ClientAuthValue::None)
    }
    fn future<'a>(&'a self, _cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>> {
        Box::pin(std::future::ready(Ok(ClientAuthValue::None)))
    }
}

/// A static client secret.
pub(crate) struct SecretAuth(pub(crate) Secret);

impl fmt::Debug for SecretAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretAuth").field(&self.0).finish()
    }
}

impl AuthSource for SecretAuth {
    fn blocking(&self, _cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        Ok(ClientAuthValue::Secret(self.0.clone()))
    }
    fn future<'a>(&'a self, _cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>> {
        Box::pin(std::future::ready(Ok(ClientAuthValue::Secret(
            self.0.clone(),
        ))))
    }
}

/// The transports, clock and environment of one credential.
pub(crate) struct Transport {
    pub(crate) env: Arc<dyn Env>,
    pub(crate) clock: Arc<dyn Clock>,
    blocking: std::result::Result<BlockingPipeline, Error>,
    asynchronous: std::result::Result<AsyncPipeline, Error>,
}

impl Transport {
    /// The transports of `options`: the given clients, else the compiled-in defaults. Fails
    /// when neither a blocking nor an async client is available.
    pub(crate) fn new(name: &'static str, options: &CredentialOptions) -> Result<Self> {
        let env = options.env.clone();
        let clock = options.clock.clone();
        let blocking = match &options.http_client {
            Some(c) => Ok(c.clone()),
            None => default_blocking_client(&options.transport_options),
        }
        .map(|client| {
            BlockingPipeline::new(client, &*env)
                .with_time(clock.clone(), options.blocking_sleep.clone())
        })
        .map_err(|e| e.with_credential(name));
        let asynchronous = match &options.async_http_client {
            Some(c) => Ok(c.clone()),
            None => default_async_client(&options.transport_options),
        }
        .and_then(|client| {
            let sleep = options.async_sleep.clone().or_else(default_async_sleep).ok_or_else(|| {
                Error::invalid_configuration(
                    "",
                    "No async sleep is available for retries: enable the `tokio` or `async-std` feature, or pass your own AsyncSleep (`.async_sleep(..)`).",
                )
            })?;
            Ok(AsyncPipeline::new(client, sleep.clone(), &*env).with_time(clock.clone(), sleep))
        })
        .map_err(|e| e.with_credential(name));
        if let (Err(b), Err(a)) = (&blocking, &asynchronous) {
            return Err(Error::invalid_configuration(
                name,
                format!(
                    "{name} has no HTTP transport. Blocking: {}. Async: {}.",
                    b.message().trim_end_matches('.'),
                    a.message().trim_end_matches('.')
                ),
            ));
        }
        Ok(Self {
            env,
            clock,
            blocking,
            asynchronous,
        })
    }

    /// The blocking pipeline, or the configuration error that says how to get one.
    pub(crate) fn blocking(&self) -> Result<&BlockingPipeline> {
        self.blocking.as_ref().map_err(Error::duplicate)
    }

    /// The async pipeline, or the configuration error that says how to get one.
    pub(crate) fn asynchronous(&self) -> Result<&AsyncPipeline> {
        self.asynchronous.as_ref().map_err(Error::duplicate)
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("blocking", &self.blocking.is_ok())
            .field("async", &self.asynchronous.is_ok())
            .finish_non_exhaustive()
    }
}

/// The grant a credential uses.
#[derive(Clone)]
pub(crate) enum GrantKind {
    /// `client_credentials`.
    ClientCredentials,
    /// On-behalf-of the user whose token this is.
    OnBehalfOf(Secret),
    /// The deprecated resource-owner password grant of a public client.
    Password {
        /// The user's sign-in name.
        username: String,
        /// The user's password.
        password: Secret,
    },
}

/// The validated, shared settings of a confidential client.
#[derive(Debug)]
pub(crate) struct ClientConfig {
    pub(crate) name: &'static str,
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) authority: String,
    pub(crate) additionally_allowed_tenants: Vec<String>,
    pub(crate) disable_instance_discovery: bool,
}

impl ClientConfig {
    /// Validates the tenant and client ids and resolves the authority.
    pub(crate) fn new(
        name: &'static str,
        tenant_id: &str,
        client_id: &str,
        options: &CredentialOptions,
    ) -> Result<Self> {
        validate_tenant_id(tenant_id).map_err(|e| {
            Error::invalid_configuration(
                name,
                format!(
                    "{} (tenant_id '{tenant_id}'). Pass the directory (tenant) id or a verified domain, or set AZURE_TENANT_ID.",
                    e.message()
                ),
            )
        })?;
        if client_id.is_empty() {
            return Err(Error::invalid_configuration(
                name,
                "client_id should be the id of a Microsoft Entra application; pass it to the builder or set AZURE_CLIENT_ID.",
            ));
        }
        let authority = authority_host(options.authority_host.as_deref(), &*options.env)
            .map_err(|e| e.with_credential(name))?;
        Ok(Self {
            name,
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            authority,
            additionally_allowed_tenants: options.additionally_allowed_tenants.clone(),
            disable_instance_discovery: options.disable_instance_discovery,
        })
    }

    /// The tenant a request goes to (PROTOCOL.md §2.3). The common case, a request for the
    /// configured tenant or for none, borrows it without reading the environment: it is on
    /// every cache hit.
    pub(crate) fn resolve_tenant(
        &self,
        request: &TokenRequest,
        env: &dyn Env,
    ) -> Result<Cow<'_, str>> {
        match request.tenant_id() {
            None => return Ok(Cow::Borrowed(&self.tenant_id)),
            Some(t) if t == self.tenant_id => return Ok(Cow::Borrowed(&self.tenant_id)),
            Some(_) => {}
        }
        let tenant = resolve_tenant(
            &self.tenant_id,
            request.tenant_id(),
            &self.additionally_allowed_tenants,
            env.non_empty(DISABLE_MULTITENANT).is_some(),
        )
        .map_err(|e| e.with_credential(self.name))?;
        Ok(if tenant == self.tenant_id {
            Cow::Borrowed(&self.tenant_id)
        } else {
            Cow::Owned(tenant)
        })
    }

    /// Whether instance discovery must run before the first request.
    pub(crate) fn needs_instance_discovery(&self) -> bool {
        needs_instance_discovery(
            &self.authority,
            &self.tenant_id,
            self.disable_instance_discovery,
        )
    }
}

/// True for `localhost`, `127.0.0.1` and `::1` (with or without a port).
pub(crate) fn is_loopback_authority(authority: &str) -> bool {
    let host = host_of(authority);
    let host = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

/// The decision of this crate (documented in the README): no discovery for well-known hosts,
/// loopback hosts (local emulators) and ADFS; discovery for any other host unless disabled.
pub(crate) fn needs_instance_discovery(authority: &str, tenant: &str, disabled: bool) -> bool {
    !disabled
        && !tenant.eq_ignore_ascii_case("adfs")
        && !is_well_known(authority)
        && !is_loopback_authority(authority)
}

/// The instance-discovery GET (PROTOCOL.md §4.1 step 1).
/// `GET {authority}/common/userrealm/{username}?api-version=1.0`, which precedes the password
/// grant (PROTOCOL.md §4.3).
pub(crate) fn user_realm_request(authority: &str, username: &str) -> Request {
    let user: String = form_query(&[("u", username)])
        .trim_start_matches("u=")
        .replace('+', "%20");
    Request::get(format!(
        "{}/common/userrealm/{user}?api-version=1.0",
        authority.trim_end_matches('/')
    ))
    .header("Accept", "application/json")
}

/// Checks the user realm answer: a federated account (ADFS or another identity provider)
/// cannot use the password grant; a managed or unknown one goes on to Entra, which decides.
pub(crate) fn check_user_realm(
    name: &'static str,
    username: &str,
    response: &Response,
) -> Result<()> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let account_type = body
        .get("account_type")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    if account_type.eq_ignore_ascii_case("Federated") {
        return Err(Error::authentication(
            name,
            format!(
                "{username} is a federated account (another identity provider signs it in), which the username/password flow cannot sign in. Use InteractiveBrowserCredential or DeviceCodeCredential."
            ),
        ));
    }
    Ok(())
}

pub(crate) fn instance_discovery_request(authority: &str, tenant: &str) -> Request {
    let authorize = entra::authorize_endpoint(authority, tenant);
    let query: String = form_query(&[
        ("api-version", "1.0"),
        ("authorization_endpoint", &authorize),
    ]);
    Request::get(format!(
        "{DISCOVERY_HOST}/common/discovery/instance?{query}"
    ))
    .header("Accept", "application/json")
}

fn form_query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks the instance-discovery answer: `invalid_instance` (or any other failure) means the
/// authority is not a Microsoft Entra authority.
pub(crate) fn check_instance_discovery(
    name: &'static str,
    authority: &str,
    response: &Response,
) -> Result<()> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let ok = response.is_success()
        && body.get("error").is_none()
        && body.get("tenant_discovery_endpoint").is_some();
    if ok {
        return Ok(());
    }
    let detail = match body.get("error").and_then(|e| e.as_str()) {
        Some(e) => format!("error '{e}'"),
        None => format!("HTTP {}", response.status),
    };
    Err(Error::authentication(
        name,
        format!(
            "The authority provided, {authority}, is not well-known (instance discovery answered {detail}). If this authority is valid and trustworthy, disable this check with `.disable_instance_discovery(true)`."
        ),
    )
    .with_status(response.status))
}

/// The token POST for `request` (pure).
pub(crate) fn build_token_request(
    config: &ClientConfig,
    grant: &GrantKind,
    request: &TokenRequest,
    endpoint: &str,
    auth: &ClientAuthValue,
) -> Result<Request> {
    let claims = merge_cae_claims(request.claims(), request.enable_cae())
        .map_err(|e| e.with_credential(config.name))?;
    let (grant, scope, client_info) = match grant {
        GrantKind::ClientCredentials => (
            Grant::ClientCredentials,
            join_scopes(request.scopes()),
            false,
        ),
        GrantKind::OnBehalfOf(user_assertion) => (
            Grant::OnBehalfOf { user_assertion },
            decorate_scopes(request.scopes()).map_err(|e| e.with_credential(config.name))?,
            true,
        ),
        GrantKind::Password { username, password } => (
            Grant::Password { username, password },
            decorate_scopes(request.scopes()).map_err(|e| e.with_credential(config.name))?,
            true,
        ),
    };
    let client_auth = match auth {
        ClientAuthValue::None => ClientAuth::None,
        ClientAuthValue::Secret(s) => ClientAuth::Secret(s),
        ClientAuthValue::Assertion(a) => ClientAuth::Assertion(a),
    };
    Ok(entra::token_request(&TokenRequestParams {
        endpoint,
        client_id: &config.client_id,
        grant,
        client_auth,
        scope: &scope,
        claims: claims.as_deref(),
        client_info,
    }))
}

/// The extra cache key of a tenant: the credential's salt and the tenant.
fn tenant_key(salt: u64, tenant: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    salt.hash(&mut h);
    tenant.hash(&mut h);
    h.finish()
}

/// The confidential client: configuration + client authentication + transports + cache.
pub(crate) struct ConfidentialClient {
    pub(crate) config: ClientConfig,
    grant: GrantKind,
    key_salt: u64,
    /// `cache_key` of the configured tenant, computed once.
    home_key: u64,
    auth: Box<dyn AuthSource>,
    pub(crate) transport: Transport,
    cache: TokenCache,
    discovered: AtomicBool,
    /// The persistent cache of application tokens (feature `persistent`).
    #[cfg(feature = "persistent")]
    persist: Option<crate::persist::AppPersistence>,
}

impl ConfidentialClient {
    /// A client over validated settings.
    pub(crate) fn new(
        config: ClientConfig,
        grant: GrantKind,
        key_salt: u64,
        auth: Box<dyn AuthSource>,
        options: &CredentialOptions,
    ) -> Result<Self> {
        let transport = Transport::new(config.name, options)?;
        #[cfg(feature = "persistent")]
        let persist = match (&options.cache_persistence, &grant) {
            (None, _) => None,
            (Some(p), GrantKind::ClientCredentials) => Some(crate::persist::AppPersistence::open(
                config.name,
                p,
                &*options.env,
                &config.authority,
            )?),
            (Some(_), GrantKind::OnBehalfOf(_)) => {
                return Err(Error::invalid_configuration(
                    config.name,
                    "OnBehalfOfCredential keeps its tokens in memory only: remove cache_persistence.",
                ));
            }
            (Some(_), GrantKind::Password { .. }) => {
                return Err(Error::invalid_configuration(
                    config.name,
                    "UsernamePasswordCredential keeps its tokens in memory only: remove cache_persistence.",
                ));
            }
        };
        let mut cache_options = CacheOptions::default();
        cache_options.clock = options.clock.clone();
        let home_key = tenant_key(key_salt, &config.tenant_id);
        Ok(Self {
            config,
            grant,
            key_salt,
            home_key,
            auth,
            transport,
            cache: TokenCache::with_options(cache_options),
            discovered: AtomicBool::new(false),
            #[cfg(feature = "persistent")]
            persist,
        })
    }

    fn name(&self) -> &'static str {
        self.config.name
    }

    fn cache_key(&self, tenant: &str) -> u64 {
        if tenant == self.config.tenant_id {
            self.home_key
        } else {
            tenant_key(self.key_salt, tenant)
        }
    }

    /// A blocking `get_token`: validation, tenant, cache, request, logging.
    pub(crate) fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let span = token_span(self.name(), request.scopes(), request.tenant_id());
        let _guard = span.enter();
        let result = self.get_blocking_inner(request);
        log_result(self.name(), &result);
        result
    }

    fn get_blocking_inner(&self, request: &TokenRequest) -> Result<AccessToken> {
        request
            .validate()
            .map_err(|e| e.with_credential(self.name()))?;
        let tenant = self.config.resolve_tenant(request, &*self.transport.env)?;
        let pipeline = self.transport.blocking()?;
        self.cache
            .get_blocking_with_key(request, self.cache_key(&tenant), || {
                self.fetch_blocking(pipeline, request, &tenant)
            })
    }

    fn fetch_blocking(
        &self,
        pipeline: &BlockingPipeline,
        request: &TokenRequest,
        tenant: &str,
    ) -> Result<AccessToken> {
        if let Some(token) = self.persisted_token(request, tenant) {
            return Ok(token);
        }
        if self.config.needs_instance_discovery() && !self.discovered.load(Ordering::Acquire) {
            let discovery = instance_discovery_request(&self.config.authority, tenant);
            let response = pipeline
                .send(discovery, &RetryPolicy::default())
                .map_err(|e| Error::transport(self.name(), e))?;
            check_instance_discovery(self.name(), &self.config.authority, &response)?;
            self.discovered.store(true, Ordering::Release);
        }
        if let GrantKind::Password { username, .. } = &self.grant {
            let response = pipeline
                .send(
                    user_realm_request(&self.config.authority, username),
                    &RetryPolicy::default(),
                )
                .map_err(|e| Error::transport(self.name(), e))?;
            check_user_realm(self.name(), username, &response)?;
        }
        let endpoint = token_endpoint(&self.config.authority, tenant);
        let cx = AuthContext {
            name: self.name(),
            #[cfg(feature = "certificate")]
            endpoint: &endpoint,
            #[cfg(feature = "certificate")]
            client_id: &self.config.client_id,
            #[cfg(feature = "certificate")]
            tenant,
            now: self.transport.clock.now(),
            transport: &self.transport,
        };
        let auth = self.auth.blocking(&cx)?;
        let http = build_token_request(&self.config, &self.grant, request, &endpoint, &auth)?;
        drop(auth);
        let sent_at = self.transport.clock.now();
        let response = pipeline
            .send(http, &RetryPolicy::default())
            .map_err(|e| Error::transport(self.name(), e))?;
        self.finish(request, tenant, &response, sent_at)
    }

    /// An async `get_token`.
    pub(crate) fn get_token_async<'a>(
        &'a self,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, Result<AccessToken>> {
        let span = token_span(self.name(), request.scopes(), request.tenant_id());
        Box::pin(
            async move {
                let result = self.get_async_inner(request).await;
                log_result(self.name(), &result);
                result
            }
            .instrument(span),
        )
    }

    async fn get_async_inner(&self, request: &TokenRequest) -> Result<AccessToken> {
        request
            .validate()
            .map_err(|e| e.with_credential(self.name()))?;
        let tenant = self.config.resolve_tenant(request, &*self.transport.env)?;
        let pipeline = self.transport.asynchronous()?;
        self.cache
            .get_with_key(request, self.cache_key(&tenant), || {
                self.fetch_async(pipeline, request, &tenant)
            })
            .await
    }

    async fn fetch_async(
        &self,
        pipeline: &AsyncPipeline,
        request: &TokenRequest,
        tenant: &str,
    ) -> Result<AccessToken> {
        if let Some(token) = self.persisted_token(request, tenant) {
            return Ok(token);
        }
        if self.config.needs_instance_discovery() && !self.discovered.load(Ordering::Acquire) {
            let discovery = instance_discovery_request(&self.config.authority, tenant);
            let response = pipeline
                .send(discovery, &RetryPolicy::default())
                .await
                .map_err(|e| Error::transport(self.name(), e))?;
            check_instance_discovery(self.name(), &self.config.authority, &response)?;
            self.discovered.store(true, Ordering::Release);
        }
        if let GrantKind::Password { username, .. } = &self.grant {
            let response = pipeline
                .send(
                    user_realm_request(&self.config.authority, username),
                    &RetryPolicy::default(),
                )
                .await
                .map_err(|e| Error::transport(self.name(), e))?;
            check_user_realm(self.name(), username, &response)?;
        }
        let endpoint = token_endpoint(&self.config.authority, tenant);
        let cx = AuthContext {
            name: self.name(),
            #[cfg(feature = "certificate")]
            endpoint: &endpoint,
            #[cfg(feature = "certificate")]
            client_id: &self.config.client_id,
            #[cfg(feature = "certificate")]
            tenant,
            now: self.transport.clock.now(),
            transport: &self.transport,
        };
        let auth = self.auth.future(&cx).await?;
        let http = build_token_request(&self.config, &self.grant, request, &endpoint, &auth)?;
        drop(auth);
        let sent_at = self.transport.clock.now();
        let response = pipeline
            .send(http, &RetryPolicy::default())
            .await
            .map_err(|e| Error::transport(self.name(), e))?;
        self.finish(request, tenant, &response, sent_at)
    }

    fn finish(
        &self,
        request: &TokenRequest,
        tenant: &str,
        response: &Response,
        sent_at: SystemTime,
    ) -> Result<AccessToken> {
        let response =
            parse_token_response(response, sent_at).map_err(|e| e.with_credential(self.name()))?;
        #[cfg(feature = "persistent")]
        if let Some(p) = &self.persist {
            p.store(&self.config.client_id, tenant, request, &response, sent_at);
        }
        #[cfg(not(feature = "persistent"))]
        let _ = (request, tenant);
        Ok(response.token)
    }

    /// An application token of the persistent cache, when one is configured.
    #[cfg(feature = "persistent")]
    fn persisted_token(&self, request: &TokenRequest, tenant: &str) -> Option<AccessToken> {
        let token = self.persist.as_ref()?.access_token(
            &self.config.client_id,
            tenant,
            request,
            self.transport.clock.now(),
        )?;
        tracing::debug!(
            credential = self.name(),
            "access token found in the persistent cache"
        );
        Some(token)
    }

    #[cfg(not(feature = "persistent"))]
    fn persisted_token(&self, _request: &TokenRequest, _tenant: &str) -> Option<AccessToken> {
        None
    }
}

/// DEBUG on success (with the token's non-secret claims), WARN on failure; never a token.
pub(crate) fn log_result(name: &'static str, result: &Result<AccessToken>) {
    match result {
        // Decoding the claims costs microseconds per call: only when DEBUG is on.
        Ok(token) if tracing::enabled!(tracing::Level::DEBUG) => {
            let claims = entra::decode_jwt_claims_unverified(token.token().secret());
            let claim = |k: &str| {
                claims
                    .as_ref()
                    .and_then(|c| c.get(k))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            tracing::debug!(
                appid = %claim("appid"),
                tid = %claim("tid"),
                oid = %claim("oid"),
                "{name}.get_token succeeded"
            );
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::Unavailable => {
            tracing::debug!("{name}.get_token failed: {e}");
        }
        Err(e) => tracing::warn!("{name}.get_token failed: {e}"),
    }
}

impl fmt::Debug for ConfidentialClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(self.config.name)
            .field("tenant_id", &self.config.tenant_id)
            .field("client_id", &self.config.client_id)
            .field("authority", &self.config.authority)
            .field(
                "additionally_allowed_tenants",
                &self.config.additionally_allowed_tenants,
            )
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Implements both credential traits for a struct with a `client: ConfidentialClient` field.
macro_rules! impl_credential_traits {
    ($ty:ident) => {
        impl identity_core::BlockingTokenCredential for $ty {
            fn get_token_blocking(
                &self,
                request: &identity_core::TokenRequest,
            ) -> identity_core::Result<identity_core::AccessToken> {
                self.client.get_token_blocking(request)
            }
            fn name(&self) -> &'static str {
                stringify!($ty)
            }
        }

        impl identity_core::TokenCredential for $ty {
            fn get_token<'a>(
                &'a self,
                request: &'a identity_core::TokenRequest,
            ) -> identity_core::BoxFuture<'a, identity_core::Result<identity_core::AccessToken>>
            {
                self.client.get_token_async(request)
            }
            fn name(&self) -> &'static str {
                stringify!($ty)
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.client, f)
            }
        }
    };
}
pub(crate) use impl_credential_traits;

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::env::MapEnv;

    #[test]
    fn user_realm_request_and_federated_accounts() {
        let r = user_realm_request(
            "https://login.microsoftonline.com/",
            "alice smith@contoso.com",
        );
        assert_eq!(
            r.url,
            "https://login.microsoftonline.com/common/userrealm/alice%20smith%40contoso.com?api-version=1.0"
        );
        let federated = Response::new(
            200,
            r#"{"ver":"1.0","account_type":"Federated","domain_name":"contoso.com"}"#,
        );
        let e = check_user_realm("UsernamePasswordCredential", "a@contoso.com", &federated)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().contains("federated account"), "{e}");
        for body in [
            r#"{"account_type":"Managed"}"#,
            r#"{"account_type":"Unknown"}"#,
            "not json",
        ] {
            assert!(check_user_realm("U", "a@b.c", &Response::new(200, body)).is_ok());
        }
    }

    fn config(tenant: &str, allowed: &[&str]) -> ClientConfig {
        let options = CredentialOptions {
            env: Arc::new(MapEnv::new()),
            additionally_allowed_tenants: allowed.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        ClientConfig::new("TestCredential", tenant, "cid", &options).unwrap()
    }

    fn form(r: &Request) -> Vec<(String, String)> {
        String::from_utf8_lossy(&r.body)
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn construction_validates_ids_and_authority() {
        let mut options = CredentialOptions {
            env: Arc::new(MapEnv::new()),
            ..Default::default()
        };
        let e = ClientConfig::new("X", "bad tenant", "cid", &options).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
        assert!(e.message().starts_with("Invalid tenant ID provided."));
        assert_eq!(e.credential(), "X");
        let e = ClientConfig::new("X", "t", "", &options).unwrap_err();
        assert!(e.message().contains("AZURE_CLIENT_ID"));
        options.authority_host = Some("http://login.example".into());
        let e = ClientConfig::new("X", "t", "cid", &options).unwrap_err();
        assert!(e.message().contains("TLS protected (https)"));
        options.authority_host = None;
        options.env =
            Arc::new(MapEnv::new().with("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"));
        let c = ClientConfig::new("X", "t", "cid", &options).unwrap();
        assert_eq!(c.authority, "https://login.microsoftonline.us");
    }

    #[test]
    fn tenant_resolution() {
        let env = MapEnv::new();
        let c = config("home", &[]);
        assert_eq!(
            c.resolve_tenant(&TokenRequest::new("s"), &env).unwrap(),
            "home"
        );
        let other = TokenRequest::new("s").with_tenant_id("other");
        let e = c.resolve_tenant(&other, &env).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().contains("additionally_allowed_tenants"));
        assert_eq!(e.credential(), "TestCredential");
        let c = config("home", &["other"]);
        assert_eq!(c.resolve_tenant(&other, &env).unwrap(), "other");
        let c = config("home", &["*"]);
        assert_eq!(c.resolve_tenant(&other, &env).unwrap(), "other");
        let pinned = MapEnv::new().with(DISABLE_MULTITENANT, "1");
        assert_eq!(c.resolve_tenant(&other, &pinned).unwrap(), "home");
        let empty = MapEnv::new().with(DISABLE_MULTITENANT, "");
        assert_eq!(c.resolve_tenant(&other, &empty).unwrap(), "other");
    }

    #[test]
    fn instance_discovery_rule() {
        assert!(!needs_instance_discovery(
            "https://login.microsoftonline.com",
            "t",
            false
        ));
        assert!(!needs_instance_discovery(
            "https://login.chinacloudapi.cn",
            "t",
            false
        ));
        assert!(!needs_instance_discovery(
            "https://127.0.0.1:8443",
            "t",
            false
        ));
        assert!(!needs_instance_discovery("https://localhost", "t", false));
        assert!(!needs_instance_discovery("https://[::1]:9000", "t", false));
        assert!(!needs_instance_discovery(
            "https://login.contoso.com",
            "adfs",
            false
        ));
        assert!(!needs_instance_discovery(
            "https://login.contoso.com",
            "t",
            true
        ));
        assert!(needs_instance_discovery(
            "https://login.contoso.com",
            "t",
            false
        ));
        assert!(needs_instance_discovery("https://127.0.0.2", "t", false));
        let r = instance_discovery_request("https://login.contoso.com", "t");
        assert_eq!(
            r.url,
            "https://login.microsoftonline.com/common/discovery/instance?api-version=1.0&authorization_endpoint=https%3A%2F%2Flogin.contoso.com%2Ft%2Foauth2%2Fv2.0%2Fauthorize"
        );
    }

    #[test]
    fn instance_discovery_answers() {
        let ok = Response::new(
            200,
            r#"{"tenant_discovery_endpoint":"https://login.contoso.com/t/v2.0/.well-known/openid-configuration","api-version":"1.1","metadata":[]}"#,
        );
        check_instance_discovery("X", "https://login.contoso.com", &ok).unwrap();
        let bad = Response::new(
            400,
            r#"{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance."}"#,
        );
        let e = check_instance_discovery("X", "https://login.contoso.com", &bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(
            e.message().starts_with(
                "The authority provided, https://login.contoso.com, is not well-known"
            )
        );
        assert!(e.message().contains("invalid_instance"));
        assert!(e.message().contains("disable_instance_discovery"));
    }

    #[test]
    fn client_credentials_body_with_cae() {
        let c = config("t", &[]);
        let request = TokenRequest::with_scopes(["b", "a", "a"]).with_enable_cae(true);
        let r = build_token_request(
            &c,
            &GrantKind::ClientCredentials,
            &request,
            "https://h/t/oauth2/v2.0/token",
            &ClientAuthValue::Secret(Secret::new("s")),
        )
        .unwrap();
        let f = form(&r);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("grant_type"), Some("client_credentials"));
        assert_eq!(get("client_secret"), Some("s"));
        assert_eq!(get("scope"), Some("b+a+a"));
        assert_eq!(
            get("claims"),
            Some(
                "%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22CP1%22%5D%7D%7D%7D"
            )
        );
        assert_eq!(get("client_info"), None);
        // Bad claims with CAE: a clear request error naming the credential.
        let e = build_token_request(
            &c,
            &GrantKind::ClientCredentials,
            &TokenRequest::new("s")
                .with_claims("nope")
                .with_enable_cae(true),
            "e",
            &ClientAuthValue::Secret(Secret::new("s")),
        )
        .unwrap_err();
        assert_eq!(e.credential(), "TestCredential");
    }

    #[test]
    fn on_behalf_of_body() {
        let c = config("t", &[]);
        let r = build_token_request(
            &c,
            &GrantKind::OnBehalfOf(Secret::new("user-jwt")),
            &TokenRequest::new("https://graph.microsoft.com/.default"),
            "e",
            &ClientAuthValue::Assertion(Secret::new("client-jwt")),
        )
        .unwrap();
        let f = form(&r);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("assertion"), Some("user-jwt"));
        assert_eq!(get("requested_token_use"), Some("on_behalf_of"));
        assert_eq!(get("client_assertion"), Some("client-jwt"));
        assert_eq!(get("client_info"), Some("1"));
        assert_eq!(
            get("scope"),
            Some("https%3A%2F%2Fgraph.microsoft.com%2F.default+offline_access+openid+profile")
        );
    }

    #[test]
    fn no_transport_is_a_clear_error() {
        let options = CredentialOptions {
            env: Arc::new(MapEnv::new()),
            ..Default::default()
        };
        let result = Transport::new("X", &options);
        let has_sleep = cfg!(any(feature = "tokio", feature = "async-std"));
        let has_async = cfg!(feature = "reqwest") && has_sleep;
        if cfg!(feature = "ureq") || has_async {
            let t = result.unwrap();
            if !cfg!(feature = "ureq") {
                assert!(t.blocking().unwrap_err().message().contains("`ureq`"));
            }
            if !has_async {
                assert!(t.asynchronous().is_err());
            }
        } else {
            let e = result.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
            assert!(e.message().contains("`ureq`"), "{e}");
            let async_hint = if cfg!(feature = "reqwest") {
                "`tokio`"
            } else {
                "`reqwest`"
            };
            assert!(e.message().contains(async_hint), "{e}");
        }
    }
}
