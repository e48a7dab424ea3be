//! The public-client core the user credentials are thin structs over: authority and tenant,
//! transports, the signed-in account and its refresh tokens (served silently to later scopes and
//! tenants), the access-token cache, logging.

use crate::options::{CancellationToken, InteractiveOptions};
use crate::persist::Persistence;
use crate::protocol::record_from_response;
use crate::record::AuthenticationRecord;
use identity_cache::{CacheOptions, TokenCache};
use identity_core::authority::authority_host;
use identity_core::clock::{AsyncSleep, BlockingSleep, Clock};
use identity_core::env::Env;
use identity_core::pipeline::{AsyncPipeline, BlockingPipeline};
use identity_core::protocol::entra::{
    ClientAuth, DEVELOPER_SIGN_ON_CLIENT_ID, Grant, TokenRequestParams, TokenResponse,
    decorate_scopes, merge_cae_claims, parse_token_response, token_endpoint, token_request,
    token_span,
};
use identity_core::retry::RetryPolicy;
use identity_core::runtime::default_async_sleep;
use identity_core::transport::{default_async_client, default_blocking_client};
use identity_core::validate::{resolve_tenant, validate_tenant_id};
use identity_core::{
    AccessToken, BoxFuture, Error, ErrorKind, Request, Response, Result, Secret, TokenRequest,
};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tracing::Instrument as _;

/// The variable that pins every request to the configured tenant.
const DISABLE_MULTITENANT: &str = "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH";

/// The message of [`ErrorKind::AuthenticationRequired`] (§1.2).
const AUTHENTICATION_REQUIRED: &str =
    "Interactive authentication is required to get a token. Call 'authenticate' to begin.";

/// Longest single sleep, so that cancellation is noticed within about a second.
pub(crate) const SLEEP_SLICE: Duration = Duration::from_secs(1);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The transports, clock and environment of one credential.
pub(crate) struct Transport {
    pub(crate) env: Arc<dyn Env>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) blocking_sleep: Arc<dyn BlockingSleep>,
    async_sleep: Option<Arc<dyn AsyncSleep>>,
    blocking: std::result::Result<BlockingPipeline, Error>,
    asynchronous: std::result::Result<AsyncPipeline, Error>,
    policy: RetryPolicy,
}

impl Transport {
    /// The transports of `options`: the given clients, else the compiled-in defaults. Fails
    /// when neither a blocking nor an async client is available.
    pub(crate) fn new(name: &'static str, options: &InteractiveOptions) -> Result<Self> {
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
        let async_sleep = options.async_sleep.clone().or_else(default_async_sleep);
        let asynchronous = match &options.async_http_client {
            Some(c) => Ok(c.clone()),
            None => default_async_client(&options.transport_options),
        }
        .and_then(|client| {
            let sleep = async_sleep.clone().ok_or_else(|| {
                Error::invalid_configuration(
                    "",
                    "No async sleep is available for polling and retries: enable the `tokio` or `async-std` feature, or pass your own AsyncSleep (`.async_sleep(..)`).",
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
            blocking_sleep: options.blocking_sleep.clone(),
            async_sleep,
            blocking,
            asynchronous,
            policy: RetryPolicy::default().with_deadline(Some(Duration::from_secs(120))),
        })
    }

    /// Sends on the blocking pipeline; returns the response and the time just before sending.
    pub(crate) fn send_blocking(
        &self,
        name: &'static str,
        request: Request,
    ) -> Result<(Response, SystemTime)> {
        let pipeline = self.blocking.as_ref().map_err(Error::duplicate)?;
        let now = self.clock.now();
        let response = pipeline
            .send(request, &self.policy)
            .map_err(|e| Error::transport(name, e))?;
        Ok((response, now))
    }

    /// Sends on the async pipeline; returns the response and the time just before sending.
    pub(crate) async fn send_async(
        &self,
        name: &'static str,
        request: Request,
    ) -> Result<(Response, SystemTime)> {
        let pipeline = self.asynchronous.as_ref().map_err(Error::duplicate)?;
        let now = self.clock.now();
        let response = pipeline
            .send(request, &self.policy)
            .await
            .map_err(|e| Error::transport(name, e))?;
        Ok((response, now))
    }

    /// Sends a token request (blocking) and parses the response.
    pub(crate) fn token_blocking(
        &self,
        name: &'static str,
        request: Request,
    ) -> Result<TokenResponse> {
        let (response, now) = self.send_blocking(name, request)?;
        parse_token_response(&response, now).map_err(|e| e.with_credential(name))
    }

    /// Sends a token request (async) and parses the response.
    pub(crate) async fn token_async(
        &self,
        name: &'static str,
        request: Request,
    ) -> Result<TokenResponse> {
        let (response, now) = self.send_async(name, request).await?;
        parse_token_response(&response, now).map_err(|e| e.with_credential(name))
    }

    /// Sleeps `duration` on the blocking sleeper in slices, stopping early when cancelled.
    pub(crate) fn sleep_blocking(&self, duration: Duration, cancel: &CancellationToken) {
        let mut left = duration;
        while !left.is_zero() && !cancel.is_cancelled() {
            let slice = left.min(SLEEP_SLICE);
            self.blocking_sleep.sleep(slice);
            left -= slice;
        }
    }

    /// Sleeps `duration` on the async sleeper in slices, stopping early when cancelled.
    pub(crate) async fn sleep_async(
        &self,
        name: &'static str,
        duration: Duration,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let sleep = self.async_sleep.as_ref().ok_or_else(|| {
            Error::invalid_configuration(
                name,
                "No async sleep is available: enable the `tokio` or `async-std` feature, or pass your own AsyncSleep.",
            )
        })?;
        let mut left = duration;
        while !left.is_zero() && !cancel.is_cancelled() {
            let slice = left.min(SLEEP_SLICE);
            sleep.sleep(slice).await;
            left -= slice;
        }
        Ok(())
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

/// What a user flow needs to know about one sign-in.
#[derive(Debug)]
pub(crate) struct FlowContext<'a> {
    pub(crate) name: &'static str,
    pub(crate) transport: &'a Transport,
    /// `https://host`.
    pub(crate) authority: &'a str,
    pub(crate) tenant: &'a str,
    pub(crate) client_id: &'a str,
    /// Decorated, sorted, space-separated.
    pub(crate) scope: &'a str,
    /// The caller's claims merged with the CAE capability.
    pub(crate) claims: Option<&'a str>,
    pub(crate) enable_cae: bool,
    /// The user name of the current record, a hint for the sign-in page.
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) cancel: &'a CancellationToken,
}

/// A way to sign a user in (device code, browser): blocking and async.
pub(crate) trait UserFlow: Send + Sync + fmt::Debug {
    /// The grant a sign-in uses, written as the cached account's `account_source`.
    #[cfg_attr(not(feature = "persistent"), allow(dead_code))]
    fn grant(&self) -> &'static str;
    fn sign_in_blocking(&self, cx: &FlowContext<'_>) -> Result<TokenResponse>;
    fn sign_in<'a>(&'a self, cx: &'a FlowContext<'a>) -> BoxFuture<'a, Result<TokenResponse>>;
}

/// The signed-in account and its refresh tokens.
#[derive(Default)]
struct Accounts {
    record: Option<AuthenticationRecord>,
    /// Refresh tokens keyed by (home_account_id, tenant, CAE).
    refresh: HashMap<(String, String, bool), Secret>,
    /// Bumped when another account replaces the current one: part of the cache key.
    generation: u64,
}

/// A public client (no client secret) that signs users in with a [`UserFlow`].
pub(crate) struct PublicClient<F> {
    pub(crate) name: &'static str,
    authority: String,
    tenant: String,
    client_id: String,
    additionally_allowed: Vec<String>,
    multitenant_disabled: bool,
    disable_automatic_authentication: bool,
    cancel: CancellationToken,
    pub(crate) transport: Transport,
    cache: TokenCache,
    accounts: Mutex<Accounts>,
    /// The persistent cache, when configured (feature `persistent`).
    persist: Option<Persistence>,
    pub(crate) flow: F,
}

impl<F: UserFlow> PublicClient<F> {
    pub(crate) fn new(name: &'static str, options: &InteractiveOptions, flow: F) -> Result<Self> {
        let record = options.authentication_record.clone();
        let authority = match (&options.authority_host, &record) {
            (Some(_), _) | (None, None) => {
                authority_host(options.authority_host.as_deref(), &*options.env)
                    .map_err(|e| e.with_credential(name))?
            }
            (None, Some(r)) => format!("https://{}", r.authority()),
        };
        let tenant = options
            .tenant_id
            .clone()
            .or_else(|| record.as_ref().map(|r| r.tenant_id().to_owned()))
            .unwrap_or_else(|| "organizations".to_owned());
        validate_tenant_id(&tenant).map_err(|e| e.with_credential(name))?;
        let client_id = options
            .client_id
            .clone()
            .or_else(|| record.as_ref().map(|r| r.client_id().to_owned()))
            .unwrap_or_else(|| DEVELOPER_SIGN_ON_CLIENT_ID.to_owned());
        let multitenant_disabled = options
            .env
            .non_empty(DISABLE_MULTITENANT)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let transport = Transport::new(name, options)?;
        #[cfg(feature = "persistent")]
        let persist = match &options.cache_persistence {
            Some(p) => Some(Persistence::open(name, p, &*options.env, &authority)?),
            None => None,
        };
        #[cfg(not(feature = "persistent"))]
        let persist = None;
        let mut cache_options = CacheOptions::default();
        cache_options.clock = options.clock.clone();
        let cache = TokenCache::with_options(cache_options);
        Ok(Self {
            name,
            authority,
            tenant,
            client_id,
            additionally_allowed: options.additionally_allowed_tenants.clone(),
            multitenant_disabled,
            disable_automatic_authentication: options.disable_automatic_authentication,
            cancel: options.cancellation.clone(),
            transport,
            cache,
            accounts: Mutex::new(Accounts {
                record,
                ..Accounts::default()
            }),
            persist,
            flow,
        })
    }

    /// The account signed in, if any.
    pub(crate) fn record(&self) -> Option<AuthenticationRecord> {
        lock(&self.accounts).record.clone()
    }

    fn resolve(&self, request: &TokenRequest) -> Result<String> {
        request
            .validate()
            .map_err(|e| e.with_credential(self.name))?;
        resolve_tenant(
            &self.tenant,
            request.tenant_id(),
            &self.additionally_allowed,
            self.multitenant_disabled,
        )
        .map_err(|e| e.with_credential(self.name))
    }

    fn cache_key(&self, tenant: &str) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        tenant.hash(&mut h);
        lock(&self.accounts).generation.hash(&mut h);
        h.finish()
    }

    fn required(&self) -> Error {
        Error::new(
            ErrorKind::AuthenticationRequired,
            self.name,
            AUTHENTICATION_REQUIRED,
        )
    }

    /// The refresh token to try for (tenant, CAE): the exact one, else one of the same account
    /// for another tenant (same CAE mode first).
    fn refresh_token_for(&self, tenant: &str, cae: bool) -> Option<Secret> {
        let accounts = lock(&self.accounts);
        let home = accounts.record.as_ref()?.home_account_id().to_owned();
        let exact = (home.clone(), tenant.to_owned(), cae);
        if let Some(rt) = accounts.refresh.get(&exact) {
            return Some(rt.clone());
        }
        let mut candidates: Vec<_> = accounts
            .refresh
            .iter()
            .filter(|((h, _, _), _)| *h == home)
            .collect();
        candidates.sort_by_key(|((_, t, c), _)| (*c != cae, t.clone()));
        if let Some((_, rt)) = candidates.first() {
            return Some((*rt).clone());
        }
        drop(accounts);
        self.persisted_refresh_token(&home, cae)
    }

    /// The refresh token of the account in the persistent cache (a record from an earlier
    /// process).
    #[cfg(feature = "persistent")]
    fn persisted_refresh_token(&self, home: &str, cae: bool) -> Option<Secret> {
        let rt = self
            .persist
            .as_ref()?
            .refresh_token(cae, home, &self.client_id)?;
        tracing::debug!(
            credential = self.name,
            "using the refresh token of the persistent cache"
        );
        Some(rt)
    }

    #[cfg(not(feature = "persistent"))]
    fn persisted_refresh_token(&self, _home: &str, _cae: bool) -> Option<Secret> {
        match *self.persist.as_ref()? {}
    }

    /// An access token of the signed-in account in the persistent cache (no claims).
    #[cfg(feature = "persistent")]
    fn persisted_access_token(&self, request: &TokenRequest, tenant: &str) -> Option<AccessToken> {
        let persist = self.persist.as_ref()?;
        if request.claims().is_some_and(|c| !c.is_empty()) {
            return None;
        }
        let home = self.record()?.home_account_id().to_owned();
        let token = persist.access_token(
            request.enable_cae(),
            &home,
            &self.client_id,
            tenant,
            request.scopes(),
            self.transport.clock.now(),
        )?;
        tracing::debug!(
            credential = self.name,
            "access token found in the persistent cache"
        );
        Some(token)
    }

    #[cfg(not(feature = "persistent"))]
    fn persisted_access_token(
        &self,
        _request: &TokenRequest,
        _tenant: &str,
    ) -> Option<AccessToken> {
        match *self.persist.as_ref()? {}
    }

    /// Writes a response to the persistent cache, when there is one.
    #[cfg(feature = "persistent")]
    fn persist_response(
        &self,
        request: &TokenRequest,
        tenant: &str,
        response: &TokenResponse,
        grant: &str,
    ) {
        if let Some(p) = &self.persist {
            p.store(
                request.enable_cae(),
                &self.client_id,
                tenant,
                request.scopes(),
                response,
                self.transport.clock.now(),
                grant,
            );
        }
    }

    #[cfg(not(feature = "persistent"))]
    fn persist_response(&self, _: &TokenRequest, _: &str, _: &TokenResponse, _: &str) {
        if let Some(p) = &self.persist {
            match *p {}
        }
    }

    fn store_refresh_token(&self, tenant: &str, cae: bool, rt: Option<&Secret>) {
        let mut accounts = lock(&self.accounts);
        if let (Some(rt), Some(record)) = (rt, &accounts.record) {
            let key = (record.home_account_id().to_owned(), tenant.to_owned(), cae);
            accounts.refresh.insert(key, rt.clone());
        }
    }

    /// Records the account of an interactive sign-in and keeps its refresh token.
    fn establish(&self, response: &TokenResponse, tenant: &str, cae: bool) -> Result<()> {
        let record = record_from_response(response).map_err(|e| e.with_credential(self.name))?;
        {
            let mut accounts = lock(&self.accounts);
            let changed = accounts
                .record
                .as_ref()
                .is_some_and(|r| r.home_account_id() != record.home_account_id());
            if changed {
                accounts.refresh.clear();
                accounts.generation += 1;
            }
            accounts.record = Some(record);
        }
        self.store_refresh_token(tenant, cae, response.refresh_token.as_ref());
        Ok(())
    }

    fn refresh_request(
        &self,
        tenant: &str,
        scope: &str,
        claims: Option<&str>,
        rt: &Secret,
    ) -> Request {
        let endpoint = token_endpoint(&self.authority, tenant);
        token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: &self.client_id,
            grant: Grant::RefreshToken { refresh_token: rt },
            client_auth: ClientAuth::None,
            scope,
            claims,
            client_info: true,
        })
    }

    /// A refresh error that means "the user must sign in again" becomes AuthenticationRequired.
    fn silent_error(&self, e: Error) -> Error {
        match e.error_code() {
            Some(
                "invalid_grant" | "interaction_required" | "consent_required" | "login_required",
            ) => {
                tracing::info!(
                    credential = self.name,
                    "the refresh token was refused ({}); interactive authentication is required",
                    e.error_code().unwrap_or_default()
                );
                self.required().with_source(e)
            }
            _ => e,
        }
    }

    fn context<'a>(
        &'a self,
        tenant: &'a str,
        scope: &'a str,
        claims: Option<&'a str>,
        request: &TokenRequest,
        login_hint: Option<&'a str>,
    ) -> FlowContext<'a> {
        FlowContext {
            name: self.name,
            transport: &self.transport,
            authority: &self.authority,
            tenant,
            client_id: &self.client_id,
            scope,
            claims,
            enable_cae: request.enable_cae(),
            login_hint,
            cancel: &self.cancel,
        }
    }

    fn prepare(&self, request: &TokenRequest) -> Result<(String, Option<String>)> {
        let scope = decorate_scopes(request.scopes()).map_err(|e| e.with_credential(self.name))?;
        let claims = merge_cae_claims(request.claims(), request.enable_cae())
            .map_err(|e| e.with_credential(self.name))?;
        Ok((scope, claims))
    }

    fn acquire_blocking(
        &self,
        request: &TokenRequest,
        tenant: &str,
        prompt: bool,
    ) -> Result<AccessToken> {
        let (scope, claims) = self.prepare(request)?;
        let cae = request.enable_cae();
        if let Some(token) = self.persisted_access_token(request, tenant) {
            return Ok(token);
        }
        let silent = match self.refresh_token_for(tenant, cae) {
            None => Err(self.required()),
            Some(rt) => self
                .transport
                .token_blocking(
                    self.name,
                    self.refresh_request(tenant, &scope, claims.as_deref(), &rt),
                )
                .map_err(|e| self.silent_error(e)),
        };
        match silent {
            Ok(response) => {
                self.store_refresh_token(tenant, cae, response.refresh_token.as_ref());
                self.persist_response(request, tenant, &response, "refresh_token");
                Ok(response.token)
            }
            Err(e) if e.kind() == ErrorKind::AuthenticationRequired && prompt => {
                let hint = self.record().map(|r| r.username().to_owned());
                let cx = self.context(tenant, &scope, claims.as_deref(), request, hint.as_deref());
                let response = self.flow.sign_in_blocking(&cx)?;
                self.establish(&response, tenant, cae)?;
                self.persist_response(request, tenant, &response, self.flow.grant());
                Ok(response.token)
            }
            Err(e) => Err(e),
        }
    }

    async fn acquire_async(
        &self,
        request: &TokenRequest,
        tenant: &str,
        prompt: bool,
    ) -> Result<AccessToken> {
        let (scope, claims) = self.prepare(request)?;
        let cae = request.enable_cae();
        if let Some(token) = self.persisted_access_token(request, tenant) {
            return Ok(token);
        }
        let silent = match self.refresh_token_for(tenant, cae) {
            None => Err(self.required()),
            Some(rt) => self
                .transport
                .token_async(
                    self.name,
                    self.refresh_request(tenant, &scope, claims.as_deref(), &rt),
                )
                .await
                .map_err(|e| self.silent_error(e)),
        };
        match silent {
            Ok(response) => {
                self.store_refresh_token(tenant, cae, response.refresh_token.as_ref());
                self.persist_response(request, tenant, &response, "refresh_token");
                Ok(response.token)
            }
            Err(e) if e.kind() == ErrorKind::AuthenticationRequired && prompt => {
                let hint = self.record().map(|r| r.username().to_owned());
                let cx = self.context(tenant, &scope, claims.as_deref(), request, hint.as_deref());
                let response = self.flow.sign_in(&cx).await?;
                self.establish(&response, tenant, cae)?;
                self.persist_response(request, tenant, &response, self.flow.grant());
                Ok(response.token)
            }
            Err(e) => Err(e),
        }
    }

    fn log<T>(&self, result: &Result<T>) {
        match result {
            Ok(_) => tracing::debug!("{}.get_token succeeded", self.name),
            Err(e) => tracing::warn!("{}.get_token failed: {e}", self.name),
        }
    }

    /// `get_token` on the blocking side.
    pub(crate) fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let span = token_span(self.name, request.scopes(), request.tenant_id());
        let _guard = span.enter();
        let result = self.resolve(request).and_then(|tenant| {
            let prompt = !self.disable_automatic_authentication;
            self.cache
                .get_blocking_with_key(request, self.cache_key(&tenant), || {
                    self.acquire_blocking(request, &tenant, prompt)
                })
                .map_err(|e| e.with_credential(self.name))
        });
        self.log(&result);
        result
    }

    /// `get_token` on the async side.
    pub(crate) async fn get_token(&self, request: &TokenRequest) -> Result<AccessToken> {
        let span = token_span(self.name, request.scopes(), request.tenant_id());
        let result = async {
            let tenant = self.resolve(request)?;
            let prompt = !self.disable_automatic_authentication;
            self.cache
                .get_with_key(request, self.cache_key(&tenant), || {
                    self.acquire_async(request, &tenant, prompt)
                })
                .await
                .map_err(|e| e.with_credential(self.name))
        }
        .instrument(span)
        .await;
        self.log(&result);
        result
    }

    /// `authenticate` on the blocking side: silent if possible, else the user flow.
    pub(crate) fn authenticate_blocking(
        &self,
        request: &TokenRequest,
    ) -> Result<AuthenticationRecord> {
        let span = token_span(self.name, request.scopes(), request.tenant_id());
        let _guard = span.enter();
        let tenant = self.resolve(request)?;
        let key = self.cache_key(&tenant);
        self.cache
            .get_blocking_with_key(request, key, || {
                self.acquire_blocking(request, &tenant, true)
            })
            .map_err(|e| e.with_credential(self.name))?;
        self.record().ok_or_else(|| self.no_record())
    }

    /// `authenticate` on the async side.
    pub(crate) async fn authenticate(
        &self,
        request: &TokenRequest,
    ) -> Result<AuthenticationRecord> {
        let tenant = self.resolve(request)?;
        let key = self.cache_key(&tenant);
        self.cache
            .get_with_key(request, key, || self.acquire_async(request, &tenant, true))
            .await
            .map_err(|e| e.with_credential(self.name))?;
        self.record().ok_or_else(|| self.no_record())
    }

    fn no_record(&self) -> Error {
        Error::authentication(
            self.name,
            "The sign-in returned no identity token, so no AuthenticationRecord could be built.",
        )
    }
}

impl<F: fmt::Debug> fmt::Debug for PublicClient<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(self.name)
            .field("authority", &self.authority)
            .field("tenant_id", &self.tenant)
            .field("client_id", &self.client_id)
            .field(
                "disable_automatic_authentication",
                &self.disable_automatic_authentication,
            )
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}
