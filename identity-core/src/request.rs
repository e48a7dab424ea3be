//! [`TokenRequest`]: what a caller asks a credential for.

use crate::error::{Error, Result};
use std::hash::{Hash, Hasher};

/// A token request: one or more scopes, and optionally a tenant, a claims challenge and
/// Continuous Access Evaluation.
///
/// Build it once and reuse it: it is immutable once built, and it carries a precomputed
/// fingerprint so that cache look-ups are cheap.
///
/// ```
/// use identity_core::TokenRequest;
/// let simple: TokenRequest = "https://management.azure.com/.default".into();
/// let full = TokenRequest::new("https://vault.azure.net/.default")
///     .with_tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .with_enable_cae(true);
/// assert_eq!(simple.scopes(), ["https://management.azure.com/.default"]);
/// assert!(full.enable_cae());
/// ```
#[derive(Clone, Debug)]
pub struct TokenRequest {
    scopes: Vec<String>,
    tenant_id: Option<String>,
    claims: Option<String>,
    enable_cae: bool,
    fingerprint: u64,
}

impl TokenRequest {
    /// A request for one scope.
    pub fn new(scope: impl Into<String>) -> Self {
        Self::with_scopes([scope.into()])
    }

    /// A request for several scopes (at least one is needed for a credential to accept it).
    pub fn with_scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut request = Self {
            scopes: scopes.into_iter().map(Into::into).collect(),
            tenant_id: None,
            claims: None,
            enable_cae: false,
            fingerprint: 0,
        };
        request.refresh_fingerprint();
        request
    }

    /// Asks for a token from another tenant (subject to the credential's allowed tenants).
    #[must_use]
    pub fn with_tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self.refresh_fingerprint();
        self
    }

    /// Adds a claims challenge (a JSON document, as decoded from a `WWW-Authenticate`
    /// header). A request with claims always goes to the service.
    #[must_use]
    pub fn with_claims(mut self, claims: impl Into<String>) -> Self {
        let claims = claims.into();
        self.claims = (!claims.is_empty()).then_some(claims);
        self.refresh_fingerprint();
        self
    }

    /// Requests a token that supports Continuous Access Evaluation (client capability `CP1`).
    #[must_use]
    pub fn with_enable_cae(mut self, enable_cae: bool) -> Self {
        self.enable_cae = enable_cae;
        self.refresh_fingerprint();
        self
    }

    /// The scopes, in the caller's order.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The requested tenant, if any.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// The claims challenge, if any (never empty).
    pub fn claims(&self) -> Option<&str> {
        self.claims.as_deref()
    }

    /// Whether CAE is requested.
    pub fn enable_cae(&self) -> bool {
        self.enable_cae
    }

    /// A hash of what identifies a cached token for this request: the scopes as a sorted set,
    /// the tenant, the claims and CAE. Equal requests have equal fingerprints; a cache must
    /// still compare with [`TokenRequest::same_token_as`] because hashes can collide.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// True when both requests are answered by the same cached token (same scope set, tenant,
    /// claims and CAE mode).
    pub fn same_token_as(&self, other: &TokenRequest) -> bool {
        self.fingerprint == other.fingerprint
            && self.tenant_id == other.tenant_id
            && self.claims == other.claims
            && self.enable_cae == other.enable_cae
            && (self.scopes == other.scopes || self.sorted_scopes() == other.sorted_scopes())
    }

    /// The scopes sorted and without duplicates.
    pub fn sorted_scopes(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes
    }

    /// Checks what every credential requires: at least one scope, none empty.
    pub fn validate(&self) -> Result<()> {
        if self.scopes.is_empty() {
            return Err(Error::invalid_request(
                "",
                "\"get_token\" requires at least one scope",
            ));
        }
        if self.scopes.iter().any(String::is_empty) {
            return Err(Error::invalid_request("", "A scope must not be empty."));
        }
        Ok(())
    }

    fn refresh_fingerprint(&mut self) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.sorted_scopes().hash(&mut hasher);
        self.tenant_id.hash(&mut hasher);
        self.claims.hash(&mut hasher);
        self.enable_cae.hash(&mut hasher);
        self.fingerprint = hasher.finish();
    }
}

impl From<&str> for TokenRequest {
    fn from(scope: &str) -> Self {
        Self::new(scope)
    }
}

impl From<String> for TokenRequest {
    fn from(scope: String) -> Self {
        Self::new(scope)
    }
}

impl<const N: usize> From<[&str; N]> for TokenRequest {
    fn from(scopes: [&str; N]) -> Self {
        Self::with_scopes(scopes)
    }
}

impl From<&[&str]> for TokenRequest {
    fn from(scopes: &[&str]) -> Self {
        Self::with_scopes(scopes.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_scope_order_and_duplicates() {
        let a = TokenRequest::with_scopes(["b", "a"]);
        let b = TokenRequest::with_scopes(["a", "b", "a"]);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(a.same_token_as(&b));
        let t = a.clone().with_tenant_id("t");
        assert!(!a.same_token_as(&t));
        let cae = a.clone().with_enable_cae(true);
        assert!(!a.same_token_as(&cae));
        assert_ne!(a.fingerprint(), cae.fingerprint());
        let claims = a.clone().with_claims("{}");
        assert!(!a.same_token_as(&claims));
        // Empty claims are no claims.
        assert_eq!(a.clone().with_claims("").claims(), None);
    }

    #[test]
    fn validation() {
        let e = TokenRequest::with_scopes(Vec::<String>::new())
            .validate()
            .unwrap_err();
        assert_eq!(e.message(), "\"get_token\" requires at least one scope");
        assert!(TokenRequest::new("").validate().is_err());
        assert!(TokenRequest::from(["a", "b"]).validate().is_ok());
    }
}
