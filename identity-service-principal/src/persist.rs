//! The persistent cache of application tokens (feature `persistent`): client-credential access
//! tokens in the MSAL schema (`home_account_id` null), shared by every process of the
//! application that uses the same cache, so a new process reuses a token instead of asking
//! Microsoft Entra again.

use identity_cache::persistent::schema::TokenEvent;
use identity_cache::persistent::{CachePair, TokenCachePersistenceOptions};
use identity_core::env::Env;
use identity_core::protocol::entra::TokenResponse;
use identity_core::{AccessToken, Result, TokenRequest};
use std::time::SystemTime;

/// The two caches (non-CAE, CAE) of one credential and its authority host.
#[derive(Debug)]
pub(crate) struct AppPersistence {
    caches: CachePair,
}

impl AppPersistence {
    /// Opens both caches; `authority` is `https://host`.
    pub(crate) fn open(
        name: &'static str,
        options: &TokenCachePersistenceOptions,
        env: &dyn Env,
        authority: &str,
    ) -> Result<Self> {
        Ok(Self {
            caches: CachePair::open(name, options, env, authority)?,
        })
    }

    /// A stored application token for `client_id` in `tenant` covering the request's scopes and
    /// valid for 5 more minutes; none for claims requests.
    pub(crate) fn access_token(
        &self,
        client_id: &str,
        tenant: &str,
        request: &TokenRequest,
        now: SystemTime,
    ) -> Option<AccessToken> {
        if request.claims().is_some_and(|c| !c.is_empty()) {
            return None;
        }
        match self.caches.cache(request.enable_cae()).read() {
            Ok(c) => c.find_access_token(
                None,
                self.caches.environment(),
                client_id,
                tenant,
                request.scopes(),
                now,
            ),
            Err(e) => {
                tracing::warn!("the persistent token cache could not be read: {e}");
                None
            }
        }
    }

    /// Writes the application token of `response` (a failure is logged, not returned).
    pub(crate) fn store(
        &self,
        client_id: &str,
        tenant: &str,
        request: &TokenRequest,
        response: &TokenResponse,
        now: SystemTime,
    ) {
        let event = TokenEvent::new(
            self.caches.environment(),
            client_id,
            tenant,
            request.scopes(),
            response,
            now,
        )
        .app_token();
        if let Err(e) = self.caches.cache(request.enable_cae()).modify(|c| {
            c.purge_expired(now);
            c.add(&event);
        }) {
            tracing::warn!("the token could not be written to the persistent cache: {e}");
        }
    }
}
