//! [`AzureCoreCredential`]: our credentials for the official Azure SDK for Rust clients, which
//! take `Arc<dyn azure_core::credentials::TokenCredential>`.

use identity_core::{TokenCredential, TokenRequest};
use std::sync::Arc;

/// Wraps any of our async credentials (a chain, `DefaultAzureCredential`, one credential, your
/// own) as an `azure_core::credentials::TokenCredential`.
///
/// ```no_run
/// use identity_chain::{AzureCoreCredential, DefaultAzureCredential};
/// let credential = AzureCoreCredential::new(DefaultAzureCredential::new()?).into_arc();
/// // e.g. azure_security_keyvault_secrets::SecretClient::new(url, credential, None)
/// # Ok::<(), identity_core::Error>(())
/// ```
#[derive(Debug)]
pub struct AzureCoreCredential<C>(C);

impl<C: TokenCredential + 'static> AzureCoreCredential<C> {
    /// Wraps `credential`.
    pub fn new(credential: C) -> Self {
        Self(credential)
    }

    /// As the `Arc<dyn azure_core::credentials::TokenCredential>` the SDK clients take.
    pub fn into_arc(self) -> Arc<dyn azure_core::credentials::TokenCredential> {
        Arc::new(self)
    }
}

#[async_trait::async_trait]
impl<C: TokenCredential + 'static> azure_core::credentials::TokenCredential
    for AzureCoreCredential<C>
{
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        let request = TokenRequest::with_scopes(scopes.iter().copied());
        let token = self
            .0
            .get_token(&request)
            .await
            .map_err(|e| azure_core::Error::new(azure_core::error::ErrorKind::Credential, e))?;
        Ok(azure_core::credentials::AccessToken::new(
            token.token().secret().to_owned(),
            azure_core::time::OffsetDateTime::from(token.expires_on()),
        ))
    }
}
