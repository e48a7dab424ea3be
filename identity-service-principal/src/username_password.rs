//! [`UsernamePasswordCredential`] (PROTOCOL.md §5.10, deprecated).

use crate::client::{
    ClientConfig, ConfidentialClient, GrantKind, PublicClient, impl_credential_traits,
};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::{Error, Result, Secret};
use std::hash::{Hash, Hasher};

const NAME: &str = "UsernamePasswordCredential";

/// The deprecation warning every construction logs.
const DEPRECATED: &str = "UsernamePasswordCredential is deprecated: the username/password flow cannot satisfy multifactor authentication, which Microsoft Entra ID enforces for more and more accounts (https://aka.ms/azsdk/identity/mfa). Use InteractiveBrowserCredential, DeviceCodeCredential or a service principal instead.";

/// Authenticates a user with a username and a password (the resource-owner password grant of a
/// public client application). **Deprecated**: it cannot satisfy multifactor authentication and
/// does not work for federated accounts; it exists because `EnvironmentCredential` selects it
/// from `AZURE_USERNAME` / `AZURE_PASSWORD`, as Python's does.
///
/// The tenant defaults to `organizations`. Before the token request the credential asks
/// `/common/userrealm/{username}` whether the account is federated, and stops with a clear error
/// if it is.
///
/// ```no_run
/// use identity_core::BlockingTokenCredential;
/// use identity_service_principal::UsernamePasswordCredential;
/// let credential = UsernamePasswordCredential::builder()
///     .client_id("00000000-0000-0000-0000-000000000001")
///     .username("alice@contoso.com")
///     .password(std::env::var("MY_PASSWORD")?)
///     .build()?;
/// let token = credential.get_token_blocking(&"https://vault.azure.net/.default".into())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UsernamePasswordCredential {
    client: ConfidentialClient,
}

impl UsernamePasswordCredential {
    /// A builder.
    pub fn builder() -> UsernamePasswordCredentialBuilder {
        UsernamePasswordCredentialBuilder::default()
    }
}

impl_credential_traits!(UsernamePasswordCredential);

/// Builds a [`UsernamePasswordCredential`]; client id, username and password are required, the
/// tenant defaults to `organizations`.
#[derive(Debug, Default)]
#[must_use]
pub struct UsernamePasswordCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    options: CredentialOptions,
}

impl UsernamePasswordCredentialBuilder {
    /// The tenant (default `organizations`).
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The application (client) id of a public client application.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The user's sign-in name, e.g. `alice@contoso.com`.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The user's password.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    common_builder_methods!();

    /// Validates the settings and builds the credential (logging the deprecation warning).
    pub fn build(self) -> Result<UsernamePasswordCredential> {
        let tenant = self
            .tenant_id
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "organizations".to_owned());
        let config = ClientConfig::new(
            NAME,
            &tenant,
            self.client_id.as_deref().unwrap_or(""),
            &self.options,
        )?;
        let username = self.username.filter(|u| !u.is_empty()).ok_or_else(|| {
            Error::invalid_configuration(
                NAME,
                "username should be the user's sign-in name (e.g. alice@contoso.com); pass it to the builder or set AZURE_USERNAME.",
            )
        })?;
        let password = self.password.filter(|p| !p.is_empty()).ok_or_else(|| {
            Error::invalid_configuration(
                NAME,
                "password should be the user's password; pass it to the builder or set AZURE_PASSWORD.",
            )
        })?;
        tracing::warn!("{DEPRECATED}");
        // Tokens of different users never share a cache entry.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        username.to_ascii_lowercase().hash(&mut h);
        Ok(UsernamePasswordCredential {
            client: ConfidentialClient::new(
                config,
                GrantKind::Password { username, password },
                h.finish(),
                Box::new(PublicClient),
                &self.options,
            )?,
        })
    }
}
