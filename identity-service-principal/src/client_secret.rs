//! [`ClientSecretCredential`] (PROTOCOL.md §5.1).

use crate::client::{
    ClientConfig, ConfidentialClient, GrantKind, SecretAuth, impl_credential_traits,
};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::{Error, Result, Secret};

const NAME: &str = "ClientSecretCredential";

/// Authenticates an application (service principal) with a client secret.
///
/// ```no_run
/// use identity_core::{BlockingTokenCredential, Secret};
/// use identity_service_principal::ClientSecretCredential;
/// let credential = ClientSecretCredential::builder()
///     .tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .client_id("00000000-0000-0000-0000-000000000001")
///     .client_secret(Secret::new(std::env::var("MY_SECRET")?))
///     .build()?;
/// let token = credential.get_token_blocking(&"https://vault.azure.net/.default".into())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientSecretCredential {
    client: ConfidentialClient,
}

impl ClientSecretCredential {
    /// A builder.
    pub fn builder() -> ClientSecretCredentialBuilder {
        ClientSecretCredentialBuilder::default()
    }
}

impl_credential_traits!(ClientSecretCredential);

/// Builds a [`ClientSecretCredential`]; tenant id, client id and secret are required.
#[derive(Debug, Default)]
#[must_use]
pub struct ClientSecretCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    options: CredentialOptions,
}

impl ClientSecretCredentialBuilder {
    /// The directory (tenant) id or a verified domain of the tenant.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The application (client) id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The client secret's value (not its id).
    pub fn client_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    common_builder_methods!();

    /// Validates the settings and builds the credential.
    pub fn build(self) -> Result<ClientSecretCredential> {
        let config = ClientConfig::new(
            NAME,
            self.tenant_id.as_deref().unwrap_or(""),
            self.client_id.as_deref().unwrap_or(""),
            &self.options,
        )?;
        let secret = self.client_secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::invalid_configuration(
                NAME,
                "secret should be a Microsoft Entra application's client secret (its value, not its id); pass it to the builder or set AZURE_CLIENT_SECRET.",
            )
        })?;
        Ok(ClientSecretCredential {
            client: ConfidentialClient::new(
                config,
                GrantKind::ClientCredentials,
                0,
                Box::new(SecretAuth(secret)),
                &self.options,
            )?,
        })
    }
}
