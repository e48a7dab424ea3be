//! [`SharedTokenCacheCredential`] (PROTOCOL.md §5.12): tokens of the account that developer
//! tools (Azure CLI, Visual Studio, other MSAL applications) left in the shared MSAL cache.

use crate::core::{Transport, lock};
use crate::options::{InteractiveOptions, transport_builder_methods};
use crate::record::AuthenticationRecord;
use identity_cache::persistent::schema::{AccountEntry, MsalCache, TokenEvent};
use identity_cache::persistent::{PersistentTokenCache, TokenCachePersistenceOptions};
use identity_cache::{CacheOptions, TokenCache};
use identity_core::authority::authority_host;
use identity_core::protocol::entra::{
    ClientAuth, DEVELOPER_SIGN_ON_CLIENT_ID, Grant, TokenRequestParams, TokenResponse, join_scopes,
    merge_cae_claims, token_endpoint, token_request, token_span,
};
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, Request, Result, Secret,
    TokenCredential, TokenRequest, unix_seconds,
};
use std::fmt;
use std::sync::{Mutex, OnceLock};
use tracing::Instrument as _;

const NAME: &str = "SharedTokenCacheCredential";

const UNAVAILABLE: &str = "Shared token cache unavailable";
const NO_ACCOUNTS: &str =
    "SharedTokenCacheCredential authentication unavailable. No accounts were found in the cache.";
const MULTIPLE_ACCOUNTS: &str = "SharedTokenCacheCredential authentication unavailable. Multiple accounts\nwere found in the cache. Use username and tenant id to disambiguate.";
const NO_MATCHING_ACCOUNTS: &str = "SharedTokenCacheCredential authentication unavailable. No account\nmatching the specified{username}{tenant} was found in the cache.";
const MULTIPLE_MATCHING_ACCOUNTS: &str = "SharedTokenCacheCredential authentication unavailable. Multiple accounts\nmatching the specified{username}{tenant} were found in the cache.";
const NO_TOKEN: &str = "Token acquisition failed for user '{username}'. To fix, re-authenticate\nthrough developer tooling supporting Azure single sign on";

/// Authority hosts that are the same cloud (§5.12).
const ALIASES: [&[&str]; 3] = [
    &[
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
    ],
    &["login.chinacloudapi.cn", "login.partner.microsoftonline.cn"],
    &["login.microsoftonline.us", "login.usgovcloudapi.net"],
];

fn same_cloud(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || ALIASES.iter().any(|group| {
            group.iter().any(|h| h.eq_ignore_ascii_case(a))
                && group.iter().any(|h| h.eq_ignore_ascii_case(b))
        })
}

/// Reads the shared MSAL token cache that developer tools write, and gets tokens for the one
/// account found there (or the one named by `username`/`tenant_id`, or by an
/// [`AuthenticationRecord`]): a cached access token, else the account's refresh token.
///
/// The cache is `msal.cache` with unencrypted storage allowed by default (§5.12); every failure
/// to find a usable account is [`ErrorKind::Unavailable`](identity_core::ErrorKind::Unavailable),
/// so a chain moves on. Part of `DefaultAzureCredential` (row 4) through identity-chain's
/// `shared-cache` feature.
pub struct SharedTokenCacheCredential {
    authority: String,
    environment: String,
    username: Option<String>,
    tenant_id: Option<String>,
    record: Option<AuthenticationRecord>,
    client_id: String,
    persistence: TokenCachePersistenceOptions,
    options_env: std::sync::Arc<dyn identity_core::env::Env>,
    within_dac: bool,
    transport: Transport,
    cache: TokenCache,
    stores: [OnceLock<std::result::Result<PersistentTokenCache, String>>; 2],
    /// Serialises refreshes so that two callers do not spend one refresh token twice.
    refreshing: Mutex<()>,
}

/// Builds a [`SharedTokenCacheCredential`].
#[must_use]
pub struct SharedTokenCacheCredentialBuilder {
    options: InteractiveOptions,
    username: Option<String>,
    tenant_id: Option<String>,
    record: Option<AuthenticationRecord>,
    persistence: TokenCachePersistenceOptions,
    within_dac: bool,
}

/// What a request needs after looking in the cache.
enum Plan {
    Done(AccessToken),
    Refresh {
        http: Request,
        key: String,
        old: String,
        cae: bool,
        username: String,
    },
}

impl SharedTokenCacheCredential {
    /// A builder: default cache (`msal.cache`, unencrypted storage allowed), any one account.
    pub fn builder() -> SharedTokenCacheCredentialBuilder {
        SharedTokenCacheCredentialBuilder {
            options: InteractiveOptions::default(),
            username: None,
            tenant_id: None,
            record: None,
            persistence: TokenCachePersistenceOptions::default()
                .with_allow_unencrypted_storage(true),
            within_dac: false,
        }
    }

    fn store(&self, cae: bool) -> Result<&PersistentTokenCache> {
        self.stores[usize::from(cae)]
            .get_or_init(|| {
                PersistentTokenCache::open(&self.persistence, &*self.options_env, cae)
                    .map_err(|e| e.message().to_owned())
            })
            .as_ref()
            .map_err(|cause| {
                tracing::debug!("{NAME}: {cause}");
                Error::unavailable(NAME, UNAVAILABLE)
            })
    }

    fn filters(&self) -> (String, String) {
        let u = self
            .username
            .as_ref()
            .map(|u| format!(" username: {u}"))
            .unwrap_or_default();
        let t = self
            .tenant_id
            .as_ref()
            .map(|t| format!(" tenant: {t}"))
            .unwrap_or_default();
        (u, t)
    }

    /// The one account to use (§5.12).
    fn account(&self, cache: &MsalCache) -> Result<AccountEntry> {
        let mut candidates: Vec<&AccountEntry> = Vec::new();
        for a in cache.accounts.values() {
            let has_family_rt = cache
                .refresh_tokens_of(&a.home_account_id)
                .any(|(_, rt)| rt.family_id.is_some());
            let wanted = match &self.record {
                Some(r) => a.home_account_id == r.home_account_id(),
                None => has_family_rt,
            };
            if wanted
                && same_cloud(&a.environment, &self.environment)
                && !candidates
                    .iter()
                    .any(|c| c.home_account_id == a.home_account_id)
            {
                candidates.push(a);
            }
        }
        if candidates.is_empty() {
            return Err(Error::unavailable(NAME, NO_ACCOUNTS));
        }
        let filtered: Vec<&AccountEntry> = candidates
            .iter()
            .copied()
            .filter(|a| self.username.as_ref().is_none_or(|u| *u == a.username))
            .filter(|a| {
                self.tenant_id
                    .as_ref()
                    .is_none_or(|t| a.home_account_id.rsplit('.').next() == Some(t.as_str()))
            })
            .collect();
        if let [one] = filtered.as_slice() {
            return Ok((*one).clone());
        }
        if self.username.is_some() || self.tenant_id.is_some() {
            let (u, t) = self.filters();
            let template = if filtered.is_empty() {
                NO_MATCHING_ACCOUNTS
            } else {
                MULTIPLE_MATCHING_ACCOUNTS
            };
            return Err(Error::unavailable(
                NAME,
                template.replace("{username}", &u).replace("{tenant}", &t),
            ));
        }
        Err(Error::unavailable(NAME, MULTIPLE_ACCOUNTS))
    }

    fn tenant(&self) -> String {
        self.record
            .as_ref()
            .map(|r| r.tenant_id().to_owned())
            .or_else(|| self.tenant_id.clone())
            .unwrap_or_else(|| "organizations".to_owned())
    }

    fn plan(&self, request: &TokenRequest) -> Result<Plan> {
        request.validate().map_err(|e| e.with_credential(NAME))?;
        let cae = request.enable_cae();
        let cache = self
            .store(cae)?
            .read()
            .map_err(|e| Error::unavailable(NAME, UNAVAILABLE).with_source(e))?;
        let account = self.account(&cache)?;
        let home = account.home_account_id.clone();
        let claims = request.claims().filter(|c| !c.is_empty());
        if claims.is_none()
            && let Some(token) =
                cache.find_account_access_token(&home, request.scopes(), self.transport.clock.now())
        {
            tracing::debug!("{NAME}: access token found in the shared cache");
            return Ok(Plan::Done(token));
        }
        let first = match &self.record {
            Some(r) => cache
                .find_refresh_token(&home, &self.environment, r.client_id())
                .map(|(k, e)| (k, e.secret.clone())),
            None => cache
                .refresh_tokens_of(&home)
                .next()
                .map(|(k, e)| (k.clone(), e.secret.clone())),
        };
        let Some((key, old)) = first else {
            return Err(Error::unavailable(
                NAME,
                NO_TOKEN.replace("{username}", &account.username),
            ));
        };
        let claims =
            merge_cae_claims(request.claims(), cae).map_err(|e| e.with_credential(NAME))?;
        let endpoint = token_endpoint(&self.authority, &self.tenant());
        let rt = Secret::from(old.clone());
        let http = token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: &self.client_id,
            grant: Grant::RefreshToken { refresh_token: &rt },
            client_auth: ClientAuth::None,
            scope: &join_scopes(request.scopes()),
            claims: claims.as_deref(),
            client_info: true,
        });
        Ok(Plan::Refresh {
            http,
            key,
            old,
            cae,
            username: account.username,
        })
    }

    /// Stores a refresh result (or drops a refused refresh token) and shapes the error.
    fn finish(
        &self,
        request: &TokenRequest,
        key: &str,
        old: &str,
        cae: bool,
        username: &str,
        result: Result<TokenResponse>,
    ) -> Result<AccessToken> {
        let store = self.store(cae)?;
        match result {
            Ok(response) => {
                let now = self.transport.clock.now();
                let tenant = self.tenant();
                let written = store.modify(|c| {
                    if let Some(new) = &response.refresh_token {
                        // AadClient: replace in place only when exactly one entry holds it.
                        if c.refresh_tokens
                            .values()
                            .filter(|e| e.secret == old)
                            .count()
                            == 1
                            && let Some(e) = c.refresh_tokens.get_mut(key)
                        {
                            e.secret = new.secret().to_owned();
                            e.last_modification_time = Some(unix_seconds(now).to_string());
                        }
                    }
                    if response.client_info.is_some() {
                        let mut at_only = response.clone();
                        at_only.refresh_token = None;
                        at_only.id_token = None;
                        at_only.foci = None;
                        c.add(&TokenEvent::new(
                            &self.environment,
                            &self.client_id,
                            &tenant,
                            request.scopes(),
                            &at_only,
                            now,
                        ));
                    }
                });
                if let Err(e) = written {
                    tracing::warn!("{NAME}: the shared cache could not be updated: {e}");
                }
                Ok(response.token)
            }
            Err(e) => {
                if e.error_code() == Some("invalid_grant")
                    && let Err(w) = store.modify(|c| c.remove_refresh_token(key, old))
                {
                    tracing::warn!("{NAME}: the refused refresh token could not be removed: {w}");
                }
                let e = e.with_credential(NAME);
                if self.within_dac {
                    let message = format!(
                        "{}\n{}",
                        NO_TOKEN.replace("{username}", username),
                        e.message()
                    );
                    Err(Error::unavailable(NAME, message).with_source(e))
                } else {
                    Err(e)
                }
            }
        }
    }

    fn acquire_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        match self.plan(request)? {
            Plan::Done(t) => Ok(t),
            Plan::Refresh { .. } => {
                let _one = lock(&self.refreshing);
                // Another caller may have refreshed meanwhile: plan again under the lock.
                match self.plan(request)? {
                    Plan::Done(t) => Ok(t),
                    Plan::Refresh {
                        http,
                        key,
                        old,
                        cae,
                        username,
                    } => {
                        let result = self.transport.token_blocking(NAME, http);
                        self.finish(request, &key, &old, cae, &username, result)
                    }
                }
            }
        }
    }

    async fn acquire_async(&self, request: &TokenRequest) -> Result<AccessToken> {
        match self.plan(request)? {
            Plan::Done(t) => Ok(t),
            Plan::Refresh {
                http,
                key,
                old,
                cae,
                username,
            } => {
                let result = self.transport.token_async(NAME, http).await;
                self.finish(request, &key, &old, cae, &username, result)
            }
        }
    }

    fn log<T>(result: &Result<T>) {
        match result {
            Ok(_) => tracing::debug!("{NAME}.get_token succeeded"),
            Err(e) => tracing::warn!("{NAME}.get_token failed: {e}"),
        }
    }
}

impl SharedTokenCacheCredentialBuilder {
    transport_builder_methods!();

    /// Use only the account with this user name (default: `AZURE_USERNAME` inside
    /// DefaultAzureCredential).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Use only an account whose home tenant is this one.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// Use exactly this account, with the record's client id, authority and tenant.
    pub fn authentication_record(mut self, record: AuthenticationRecord) -> Self {
        self.record = Some(record);
        self
    }

    /// Which cache to read (default `msal.cache`, unencrypted storage allowed).
    pub fn cache_persistence(mut self, options: TokenCachePersistenceOptions) -> Self {
        self.persistence = options;
        self
    }

    /// Inside DefaultAzureCredential a refresh failure is
    /// [`Unavailable`](identity_core::ErrorKind::Unavailable) so the chain goes on; outside it
    /// is returned as is.
    pub fn within_default_azure_credential(mut self, within: bool) -> Self {
        self.within_dac = within;
        self
    }

    /// Builds the credential. The cache is opened on the first request.
    pub fn build(self) -> Result<SharedTokenCacheCredential> {
        let authority = match (&self.options.authority_host, &self.record) {
            (None, Some(r)) => format!("https://{}", r.authority()),
            _ => authority_host(self.options.authority_host.as_deref(), &*self.options.env)
                .map_err(|e| e.with_credential(NAME))?,
        };
        if let Some(t) = &self.tenant_id {
            identity_core::validate::validate_tenant_id(t).map_err(|e| e.with_credential(NAME))?;
        }
        let environment = authority
            .split_once("://")
            .map_or(authority.as_str(), |(_, h)| h)
            .trim_end_matches('/')
            .to_owned();
        let transport = Transport::new(NAME, &self.options)?;
        let mut cache_options = CacheOptions::default();
        cache_options.clock = self.options.clock.clone();
        Ok(SharedTokenCacheCredential {
            authority,
            environment,
            username: self.username,
            tenant_id: self.tenant_id,
            client_id: self
                .record
                .as_ref()
                .map_or(DEVELOPER_SIGN_ON_CLIENT_ID.to_owned(), |r| {
                    r.client_id().to_owned()
                }),
            record: self.record,
            persistence: self.persistence,
            options_env: self.options.env.clone(),
            within_dac: self.within_dac,
            transport,
            cache: TokenCache::with_options(cache_options),
            stores: [OnceLock::new(), OnceLock::new()],
            refreshing: Mutex::new(()),
        })
    }
}

impl fmt::Debug for SharedTokenCacheCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTokenCacheCredentialBuilder")
            .field("username", &self.username)
            .field("tenant_id", &self.tenant_id)
            .field("authentication_record", &self.record)
            .field("cache_persistence", &self.persistence)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SharedTokenCacheCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(NAME)
            .field("authority", &self.authority)
            .field("username", &self.username)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("cache_persistence", &self.persistence)
            .finish_non_exhaustive()
    }
}

impl BlockingTokenCredential for SharedTokenCacheCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let span = token_span(NAME, request.scopes(), request.tenant_id());
        let _guard = span.enter();
        let result = self
            .cache
            .get_blocking(request, || self.acquire_blocking(request))
            .map_err(|e| e.with_credential(NAME));
        Self::log(&result);
        result
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl TokenCredential for SharedTokenCacheCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        let span = token_span(NAME, request.scopes(), request.tenant_id());
        Box::pin(
            async move {
                let result = self
                    .cache
                    .get(request, || self.acquire_async(request))
                    .await
                    .map_err(|e| e.with_credential(NAME));
                Self::log(&result);
                result
            }
            .instrument(span),
        )
    }
    fn name(&self) -> &'static str {
        NAME
    }
}
