//! [`AuthorizationCodeCredential`] (PROTOCOL.md §5.7).

use crate::core::{Transport, lock};
use crate::options::{InteractiveOptions, transport_builder_methods};
use crate::persist::Persistence;
use crate::protocol::home_account_id;
use identity_cache::{CacheOptions, TokenCache};
use identity_core::authority::authority_host;
use identity_core::protocol::entra::{
    ClientAuth, Grant, TokenRequestParams, TokenResponse, decode_jwt_claims_unverified,
    join_scopes, token_endpoint, token_request, token_span,
};
use identity_core::validate::{resolve_tenant, validate_tenant_id};
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, Request, Result, Secret,
    TokenCredential, TokenRequest,
};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use tracing::Instrument as _;

const NAME: &str = "AuthorizationCodeCredential";

const NOTHING_LEFT: &str = "No authorization code, cached access token, or refresh token available. Obtain a new authorization code and build a new AuthorizationCodeCredential.";

/// Redeems an authorization code obtained elsewhere (a web app's redirect), then keeps the
/// account's refresh tokens in memory for later requests.
///
/// The first `get_token` redeems the code (scopes in the caller's order, `client_secret` when
/// given) and forgets it. Later requests use the cached access token, or a refresh token of the
/// redeemed account whose scopes include every requested scope; otherwise they fail without a
/// request.
pub struct AuthorizationCodeCredential {
    authority: String,
    tenant: String,
    client_id: String,
    redirect_uri: String,
    client_secret: Option<Secret>,
    additionally_allowed: Vec<String>,
    transport: Transport,
    cache: TokenCache,
    state: Mutex<CodeState>,
    /// The persistent cache, when configured (feature `persistent`).
    persist: Option<Persistence>,
}

#[derive(Default)]
struct CodeState {
    code: Option<Secret>,
    home_account_id: Option<String>,
    /// (scopes of the request that obtained it, tenant, refresh token).
    refresh: Vec<(Vec<String>, String, Secret)>,
}

/// Builds an [`AuthorizationCodeCredential`].
#[must_use]
pub struct AuthorizationCodeCredentialBuilder {
    options: InteractiveOptions,
    tenant_id: String,
    client_id: String,
    authorization_code: Secret,
    redirect_uri: String,
    client_secret: Option<Secret>,
}

impl AuthorizationCodeCredential {
    /// A builder for the code `authorization_code` that `client_id` received at `redirect_uri`
    /// from tenant `tenant_id`.
    pub fn builder(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        authorization_code: impl Into<Secret>,
        redirect_uri: impl Into<String>,
    ) -> AuthorizationCodeCredentialBuilder {
        AuthorizationCodeCredentialBuilder {
            options: InteractiveOptions::default(),
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            authorization_code: authorization_code.into(),
            redirect_uri: redirect_uri.into(),
            client_secret: None,
        }
    }

    /// The account the code was redeemed for (`{uid}.{utid}`), once redeemed.
    pub fn home_account_id(&self) -> Option<String> {
        lock(&self.state).home_account_id.clone()
    }

    fn resolve(&self, request: &TokenRequest) -> Result<String> {
        request.validate().map_err(|e| e.with_credential(NAME))?;
        resolve_tenant(
            &self.tenant,
            request.tenant_id(),
            &self.additionally_allowed,
            false,
        )
        .map_err(|e| e.with_credential(NAME))
    }

    fn key(tenant: &str) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        tenant.hash(&mut h);
        h.finish()
    }

    /// The next request: redeem the code, or refresh with a token whose target covers the scopes.
    fn next_request(&self, request: &TokenRequest, tenant: &str) -> Result<(Request, bool)> {
        let state = lock(&self.state);
        let scope = join_scopes(request.scopes());
        let endpoint = token_endpoint(&self.authority, tenant);
        let client_auth = self
            .client_secret
            .as_ref()
            .map_or(ClientAuth::None, ClientAuth::Secret);
        if let Some(code) = &state.code {
            let r = token_request(&TokenRequestParams {
                endpoint: &endpoint,
                client_id: &self.client_id,
                grant: Grant::AuthorizationCode {
                    code,
                    redirect_uri: &self.redirect_uri,
                    code_verifier: None,
                },
                client_auth,
                scope: &scope,
                claims: request.claims(),
                client_info: true,
            });
            return Ok((r, true));
        }
        let rt = state
            .refresh
            .iter()
            .find(|(target, _, _)| request.scopes().iter().all(|s| target.contains(s)))
            .map(|(_, _, rt)| rt.clone())
            .or_else(|| self.persisted_refresh_token(request, state.home_account_id.as_deref()))
            .ok_or_else(|| Error::authentication(NAME, NOTHING_LEFT))?;
        let r = token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: &self.client_id,
            grant: Grant::RefreshToken { refresh_token: &rt },
            client_auth,
            scope: &scope,
            claims: request.claims(),
            client_info: true,
        });
        Ok((r, false))
    }

    /// The persisted refresh token of the redeemed account.
    #[cfg(feature = "persistent")]
    fn persisted_refresh_token(
        &self,
        request: &TokenRequest,
        home: Option<&str>,
    ) -> Option<Secret> {
        self.persist
            .as_ref()?
            .refresh_token(request.enable_cae(), home?, &self.client_id)
    }

    #[cfg(not(feature = "persistent"))]
    fn persisted_refresh_token(&self, _: &TokenRequest, _: Option<&str>) -> Option<Secret> {
        match *self.persist.as_ref()? {}
    }

    /// A persisted access token of the redeemed account (no claims).
    #[cfg(feature = "persistent")]
    fn persisted_access_token(&self, request: &TokenRequest, tenant: &str) -> Option<AccessToken> {
        let persist = self.persist.as_ref()?;
        if request.claims().is_some_and(|c| !c.is_empty()) {
            return None;
        }
        let home = lock(&self.state).home_account_id.clone()?;
        persist.access_token(
            request.enable_cae(),
            &home,
            &self.client_id,
            tenant,
            request.scopes(),
            self.transport.clock.now(),
        )
    }

    #[cfg(not(feature = "persistent"))]
    fn persisted_access_token(&self, _: &TokenRequest, _: &str) -> Option<AccessToken> {
        match *self.persist.as_ref()? {}
    }

    #[cfg(feature = "persistent")]
    fn persist_response(
        &self,
        request: &TokenRequest,
        tenant: &str,
        redeemed: bool,
        r: &TokenResponse,
    ) {
        if let Some(p) = &self.persist {
            let grant = if redeemed {
                "authorization_code"
            } else {
                "refresh_token"
            };
            p.store(
                request.enable_cae(),
                &self.client_id,
                tenant,
                request.scopes(),
                r,
                self.transport.clock.now(),
                grant,
            );
        }
    }

    #[cfg(not(feature = "persistent"))]
    fn persist_response(&self, _: &TokenRequest, _: &str, _: bool, _: &TokenResponse) {
        if let Some(p) = &self.persist {
            match *p {}
        }
    }

    fn accept(
        &self,
        request: &TokenRequest,
        tenant: &str,
        redeemed: bool,
        response: TokenResponse,
    ) -> AccessToken {
        self.persist_response(request, tenant, redeemed, &response);
        let mut state = lock(&self.state);
        if redeemed {
            state.code = None;
            let claims = response
                .id_token
                .as_ref()
                .and_then(|t| decode_jwt_claims_unverified(t.secret()));
            state.home_account_id =
                home_account_id(response.client_info.as_deref(), claims.as_ref());
        }
        if let Some(rt) = response.refresh_token {
            let scopes = request.scopes().to_vec();
            match state
                .refresh
                .iter_mut()
                .find(|(target, t, _)| *target == scopes && t == tenant)
            {
                Some(entry) => entry.2 = rt,
                None => state.refresh.push((scopes, tenant.to_owned(), rt)),
            }
        }
        response.token
    }

    fn log<T>(result: &Result<T>) {
        match result {
            Ok(_) => tracing::debug!("{NAME}.get_token succeeded"),
            Err(e) => tracing::warn!("{NAME}.get_token failed: {e}"),
        }
    }
}

impl AuthorizationCodeCredentialBuilder {
    transport_builder_methods!();

    /// All options at once (the tenant, client id and cancellation fields are not used).
    pub fn options(mut self, options: InteractiveOptions) -> Self {
        self.options = options;
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

    /// The client secret of a confidential application.
    pub fn client_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Builds the credential.
    pub fn build(self) -> Result<AuthorizationCodeCredential> {
        validate_tenant_id(&self.tenant_id).map_err(|e| e.with_credential(NAME))?;
        if self.client_id.is_empty()
            || self.redirect_uri.is_empty()
            || self.authorization_code.is_empty()
        {
            return Err(Error::invalid_configuration(
                NAME,
                "AuthorizationCodeCredential needs a client id, an authorization code and the redirect URI the code was sent to.",
            ));
        }
        let authority = authority_host(self.options.authority_host.as_deref(), &*self.options.env)
            .map_err(|e| e.with_credential(NAME))?;
        let transport = Transport::new(NAME, &self.options)?;
        #[cfg(feature = "persistent")]
        let persist = match &self.options.cache_persistence {
            Some(p) => Some(Persistence::open(NAME, p, &*self.options.env, &authority)?),
            None => None,
        };
        #[cfg(not(feature = "persistent"))]
        let persist = None;
        let mut cache_options = CacheOptions::default();
        cache_options.clock = self.options.clock.clone();
        Ok(AuthorizationCodeCredential {
            authority,
            tenant: self.tenant_id,
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            client_secret: self.client_secret,
            additionally_allowed: self.options.additionally_allowed_tenants,
            transport,
            cache: TokenCache::with_options(cache_options),
            state: Mutex::new(CodeState {
                code: Some(self.authorization_code),
                ..CodeState::default()
            }),
            persist,
        })
    }
}

impl fmt::Debug for AuthorizationCodeCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCodeCredentialBuilder")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("authorization_code", &self.authorization_code)
            .field("redirect_uri", &self.redirect_uri)
            .field("client_secret", &self.client_secret)
            .field("options", &self.options)
            .finish()
    }
}

impl fmt::Debug for AuthorizationCodeCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(NAME)
            .field("authority", &self.authority)
            .field("tenant_id", &self.tenant)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

impl BlockingTokenCredential for AuthorizationCodeCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        let span = token_span(NAME, request.scopes(), request.tenant_id());
        let _guard = span.enter();
        let result = self.resolve(request).and_then(|tenant| {
            self.cache
                .get_blocking_with_key(request, Self::key(&tenant), || {
                    if let Some(t) = self.persisted_access_token(request, &tenant) {
                        return Ok(t);
                    }
                    let (http, redeemed) = self.next_request(request, &tenant)?;
                    let response = self.transport.token_blocking(NAME, http)?;
                    Ok(self.accept(request, &tenant, redeemed, response))
                })
                .map_err(|e| e.with_credential(NAME))
        });
        Self::log(&result);
        result
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl TokenCredential for AuthorizationCodeCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        let span = token_span(NAME, request.scopes(), request.tenant_id());
        Box::pin(
            async move {
                let result = async {
                    let tenant = self.resolve(request)?;
                    self.cache
                        .get_with_key(request, Self::key(&tenant), || async {
                            if let Some(t) = self.persisted_access_token(request, &tenant) {
                                return Ok(t);
                            }
                            let (http, redeemed) = self.next_request(request, &tenant)?;
                            let response = self.transport.token_async(NAME, http).await?;
                            Ok(self.accept(request, &tenant, redeemed, response))
                        })
                        .await
                        .map_err(|e| e.with_credential(NAME))
                }
                .await;
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
