//! The bearer token provider (PROTOCOL.md §9): a callable that returns the access token for
//! fixed scopes, from the cache, and (feature `reqwest`) a helper that authorises a `reqwest`
//! request and answers a CAE claims challenge once.

use identity_cache::TokenCache;
use identity_core::{BlockingTokenCredential, Result, TokenCredential, TokenRequest};
use std::fmt;

/// Returns the bearer token (without the `Bearer ` prefix) for fixed scopes, served from a
/// cache with the refresh rules of identity-cache (refresh ahead of expiry with jitter, the old
/// token kept if a refresh fails). CAE is off, as in the other SDKs' providers.
pub struct BearerTokenProvider<C> {
    credential: C,
    request: TokenRequest,
    cache: TokenCache,
}

impl<C> fmt::Debug for BearerTokenProvider<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokenProvider")
            .field("scopes", &self.request.scopes())
            .finish_non_exhaustive()
    }
}

/// A provider of bearer tokens for `scopes` from `credential` (any credential of ours, a chain,
/// `DefaultAzureCredential`, an `Arc` of one, or your own).
///
/// ```
/// use identity_chain::get_bearer_token_provider;
/// use identity_core::{AccessToken, BlockingTokenCredential, Result, TokenRequest};
/// use std::time::{Duration, SystemTime};
///
/// #[derive(Debug)]
/// struct Static;
/// impl BlockingTokenCredential for Static {
///     fn get_token_blocking(&self, _: &TokenRequest) -> Result<AccessToken> {
///         Ok(AccessToken::new("eyJ0...", SystemTime::now() + Duration::from_secs(3600)))
///     }
/// }
/// let provider = get_bearer_token_provider(Static, &["https://cognitiveservices.azure.com/.default"]);
/// assert_eq!(provider.token_blocking()?, "eyJ0...");
/// # Ok::<(), identity_core::Error>(())
/// ```
pub fn get_bearer_token_provider<C>(credential: C, scopes: &[&str]) -> BearerTokenProvider<C> {
    BearerTokenProvider {
        credential,
        request: TokenRequest::with_scopes(scopes.iter().copied()),
        cache: TokenCache::new(),
    }
}

impl<C> BearerTokenProvider<C> {
    /// The scopes.
    pub fn scopes(&self) -> &[String] {
        self.request.scopes()
    }

    /// The credential.
    pub fn credential(&self) -> &C {
        &self.credential
    }
}

impl<C: BlockingTokenCredential> BearerTokenProvider<C> {
    /// The token, blocking.
    pub fn token_blocking(&self) -> Result<String> {
        let t = self.cache.get_blocking(&self.request, || {
            self.credential.get_token_blocking(&self.request)
        })?;
        Ok(t.token().secret().to_owned())
    }
}

impl<C: TokenCredential> BearerTokenProvider<C> {
    /// The token.
    pub async fn token(&self) -> Result<String> {
        let t = self
            .cache
            .get(&self.request, || self.credential.get_token(&self.request))
            .await?;
        Ok(t.token().secret().to_owned())
    }

    /// Sends `request` with `Authorization: Bearer …`. On a 401 whose `WWW-Authenticate`
    /// carries a CAE claims challenge (`error="insufficient_claims"`), gets a token with those
    /// claims and sends the request once more. Other answers are returned as they are.
    ///
    /// The request body must be clonable (not a stream) for the retry.
    #[cfg(feature = "reqwest")]
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        use identity_core::{Error, TransportError, TransportErrorKind};
        let failed = |e: reqwest::Error| {
            Error::transport(
                "BearerTokenProvider",
                TransportError::new(
                    TransportErrorKind::Other,
                    format!("the request failed: {}", e.without_url()),
                ),
            )
        };
        let retry = request.try_clone();
        let token = self.token().await?;
        let response = request.bearer_auth(token).send().await.map_err(failed)?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(identity_core::protocol::challenge::claims_challenge);
        let (Some(claims), Some(retry)) = (challenge, retry) else {
            return Ok(response);
        };
        tracing::info!(
            "the resource asked for more claims (CAE); getting a new token and retrying once"
        );
        let with_claims = self.request.clone().with_claims(claims);
        let token = self
            .cache
            .get(&with_claims, || self.credential.get_token(&with_claims))
            .await?;
        retry
            .bearer_auth(token.token().secret())
            .send()
            .await
            .map_err(failed)
    }
}
