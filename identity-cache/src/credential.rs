//! [`CachedCredential`]: any credential, cached.

use crate::TokenCache;
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Result, TokenCredential, TokenRequest,
};

/// Wraps a credential so that its tokens are cached by a [`TokenCache`].
///
/// It implements [`TokenCredential`] when the inner credential does and
/// [`BlockingTokenCredential`] when the inner one does; `name()` is the inner credential's.
/// Errors are the inner credential's, unchanged (waiters of a shared request get equivalent
/// copies).
#[derive(Debug, Clone)]
pub struct CachedCredential<C> {
    inner: C,
    cache: TokenCache,
}

impl<C> CachedCredential<C> {
    /// Caches `inner` with a new cache (system clock, default policy).
    pub fn new(inner: C) -> Self {
        Self::with_cache(inner, TokenCache::new())
    }

    /// Caches `inner` in `cache` (e.g. one built with [`TokenCache::with_options`]).
    ///
    /// Do not share one cache between credentials with different identities: the key is the
    /// request only.
    pub fn with_cache(inner: C, cache: TokenCache) -> Self {
        Self { inner, cache }
    }

    /// The wrapped credential.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The cache.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// Unwraps the credential.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

impl<C: TokenCredential> TokenCredential for CachedCredential<C> {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.cache.get(request, || self.inner.get_token(request)))
    }

    fn name(&self) -> &'static str {
        TokenCredential::name(&self.inner)
    }
}

impl<C: BlockingTokenCredential> BlockingTokenCredential for CachedCredential<C> {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        self.cache
            .get_blocking(request, || self.inner.get_token_blocking(request))
    }

    fn name(&self) -> &'static str {
        BlockingTokenCredential::name(&self.inner)
    }
}
