//! The credential traits.

use crate::error::Result;
use crate::request::TokenRequest;
use crate::token::AccessToken;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, `Send` future: what the dyn-compatible async traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Gets tokens asynchronously. Dyn-compatible: a chain holds `Arc<dyn TokenCredential>` in
/// any order the user chooses, including the user's own types.
///
/// ```
/// use identity_core::{AccessToken, BoxFuture, Result, TokenCredential, TokenRequest};
/// use std::time::{Duration, SystemTime};
///
/// /// A credential of the user's own.
/// #[derive(Debug)]
/// struct Fixed;
/// impl TokenCredential for Fixed {
///     fn get_token<'a>(&'a self, _request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
///         Box::pin(async { Ok(AccessToken::new("t", SystemTime::now() + Duration::from_secs(60))) })
///     }
/// }
/// let credential: std::sync::Arc<dyn TokenCredential> = std::sync::Arc::new(Fixed);
/// assert_eq!(credential.name(), "Fixed");
/// ```
pub trait TokenCredential: Send + Sync + std::fmt::Debug {
    /// Gets a token for the request's scopes.
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>>;

    /// The credential's name, as shown in errors and logs (default: the type's name).
    fn name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
}

/// Gets tokens on the calling thread.
pub trait BlockingTokenCredential: Send + Sync + std::fmt::Debug {
    /// Gets a token for the request's scopes, blocking until it has one or fails.
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken>;

    /// The credential's name, as shown in errors and logs (default: the type's name).
    fn name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
}

impl<T: TokenCredential + ?Sized> TokenCredential for Arc<T> {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        (**self).get_token(request)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

impl<T: BlockingTokenCredential + ?Sized> BlockingTokenCredential for Arc<T> {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        (**self).get_token_blocking(request)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// `a::b::Name<c::D>` → `Name`.
fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(short_type_name("a::b::Name<c::D>"), "Name");
        assert_eq!(short_type_name("Name"), "Name");
    }
}
