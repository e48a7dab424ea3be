//! [`OnBehalfOfCredential`] (PROTOCOL.md §5.6): exchanges a user's token for a token to another
//! resource, authenticating the middle-tier application with a secret, a certificate (feature
//! `certificate`) or an assertion.

#[cfg(feature = "certificate")]
use crate::certificate::{AssertionAlgorithm, ClientCertificate};
#[cfg(feature = "certificate")]
use crate::certificate_credential::{CertificateAuth, CertificateSource, single_source};
use crate::client::{
    AuthSource, ClientConfig, ConfidentialClient, GrantKind, SecretAuth, impl_credential_traits,
};
use crate::client_assertion::{CallbackAuth, callback_error};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::{BoxFuture, Error, Result, Secret};
use sha2::Digest as _;
#[cfg(feature = "certificate")]
use std::path::PathBuf;
use std::sync::Arc;

const NAME: &str = "OnBehalfOfCredential";

/// Acts on behalf of a user: exchanges the user's access token (the "user assertion" a web API
/// received) for a token to a downstream API. Tokens are cached under a key derived from
/// SHA-256 of the user assertion, so different users never share tokens.
///
/// ```no_run
/// use identity_core::{BlockingTokenCredential, Secret};
/// use identity_service_principal::OnBehalfOfCredential;
/// # let incoming_token = String::new();
/// let credential = OnBehalfOfCredential::builder()
///     .tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .client_id("00000000-0000-0000-0000-000000000001")
///     .user_assertion(Secret::new(incoming_token))
///     .client_secret(Secret::new("the middle tier's secret"))
///     .build()?;
/// let token = credential.get_token_blocking(&"https://graph.microsoft.com/.default".into())?;
/// # Ok::<(), identity_core::Error>(())
/// ```
pub struct OnBehalfOfCredential {
    client: ConfidentialClient,
}

impl OnBehalfOfCredential {
    /// A builder.
    pub fn builder() -> OnBehalfOfCredentialBuilder {
        OnBehalfOfCredentialBuilder::default()
    }
}

impl_credential_traits!(OnBehalfOfCredential);

/// Builds an [`OnBehalfOfCredential`]: tenant id, client id, the user assertion and exactly one
/// client credential (secret, certificate or assertion callback). The certificate methods
/// (`client_certificate_path`, `client_certificate_data`, `client_certificate`, `password`,
/// `send_certificate_chain`, `assertion_algorithm`) need the `certificate` feature.
#[derive(Debug, Default)]
#[must_use]
pub struct OnBehalfOfCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    user_assertion: Option<Secret>,
    client_secret: Option<Secret>,
    #[cfg(feature = "certificate")]
    certificates: Vec<CertificateSource>,
    #[cfg(feature = "certificate")]
    password: Option<Secret>,
    #[cfg(feature = "certificate")]
    send_certificate_chain: bool,
    #[cfg(feature = "certificate")]
    algorithm: AssertionAlgorithm,
    callbacks: Option<CallbackAuth>,
    options: CredentialOptions,
}

impl OnBehalfOfCredentialBuilder {
    /// The directory (tenant) id.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The middle-tier application's (client) id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The user's access token, as received by the middle tier.
    pub fn user_assertion(mut self, assertion: impl Into<Secret>) -> Self {
        self.user_assertion = Some(assertion.into());
        self
    }

    /// Authenticates the application with a client secret.
    pub fn client_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Authenticates the application with a certificate file (PEM or PKCS#12).
    ///
    /// Needs the `certificate` feature.
    #[cfg(feature = "certificate")]
    pub fn client_certificate_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.certificates.push(CertificateSource::Path(path.into()));
        self
    }

    /// Authenticates the application with certificate bytes (PEM or PKCS#12).
    ///
    /// Needs the `certificate` feature.
    #[cfg(feature = "certificate")]
    pub fn client_certificate_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.certificates.push(CertificateSource::Data(data.into()));
        self
    }

    /// Authenticates the application with a parsed certificate.
    ///
    /// Needs the `certificate` feature.
    #[cfg(feature = "certificate")]
    pub fn client_certificate(mut self, certificate: ClientCertificate) -> Self {
        self.certificates
            .push(CertificateSource::Parsed(Arc::new(certificate)));
        self
    }

    /// The password of the certificate.
    ///
    /// Needs the `certificate` feature.
    #[cfg(feature = "certificate")]
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sends the certificate chain (`x5c`) with each assertion.
    ///
    /// Needs the `certificate` feature.
    #[cfg(feature = "certificate")]
    pub fn send_certificate_chain(mut self, send: bool) -> Self {
        self.send_certificate_chain = send;
        self
    }

    /// The certificate assertion's algorithm (default PS256).
    ///
    /// Needs the `certificate` feature.
    #[cfg(feature = "certificate")]
    pub fn assertion_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Authenticates the application with a client assertion from a blocking callback.
    pub fn client_assertion_callback<F, E>(mut self, callback: F) -> Self
    where
        F: Fn() -> std::result::Result<String, E> + Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let callbacks = self.callbacks.get_or_insert(CallbackAuth {
            blocking: None,
            asynchronous: None,
        });
        callbacks.blocking = Some(Arc::new(move || callback().map_err(callback_error)));
        self
    }

    /// Authenticates the application with a client assertion from an async callback.
    pub fn async_client_assertion_callback<F>(mut self, callback: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<String>> + Send + Sync + 'static,
    {
        let callbacks = self.callbacks.get_or_insert(CallbackAuth {
            blocking: None,
            asynchronous: None,
        });
        callbacks.asynchronous = Some(Arc::new(callback));
        self
    }

    common_builder_methods!();

    /// Validates the settings and builds the credential.
    pub fn build(self) -> Result<OnBehalfOfCredential> {
        let config = ClientConfig::new(
            NAME,
            self.tenant_id.as_deref().unwrap_or(""),
            self.client_id.as_deref().unwrap_or(""),
            &self.options,
        )?;
        let user_assertion = self
            .user_assertion
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                Error::invalid_configuration(
                    NAME,
                    "A user assertion is required: pass the access token the middle tier received (`.user_assertion(..)`).",
                )
            })?;
        #[cfg(feature = "certificate")]
        let certificates = usize::from(!self.certificates.is_empty());
        #[cfg(not(feature = "certificate"))]
        let certificates = 0;
        let given = usize::from(self.client_secret.is_some())
            + certificates
            + usize::from(self.callbacks.is_some());
        if given != 1 {
            return Err(one_credential_error());
        }
        let auth: Box<dyn AuthSource> = match (self.client_secret, self.callbacks) {
            (Some(secret), _) => {
                if secret.is_empty() {
                    return Err(Error::invalid_configuration(
                        NAME,
                        "The client secret is empty.",
                    ));
                }
                Box::new(SecretAuth(secret))
            }
            (None, Some(callbacks)) => Box::new(callbacks),
            #[cfg(feature = "certificate")]
            (None, None) => {
                let certificate = single_source(NAME, self.certificates)?
                    .load(self.password.as_ref())
                    .map_err(|e| e.with_credential(NAME))?;
                certificate.warn_if_not_valid(NAME, self.options.clock.now());
                Box::new(CertificateAuth::new(
                    certificate,
                    self.algorithm,
                    self.send_certificate_chain,
                ))
            }
            // Without certificates, `given == 1` means a secret or a callback.
            #[cfg(not(feature = "certificate"))]
            (None, None) => return Err(one_credential_error()),
        };
        let digest = sha2::Sha256::digest(user_assertion.secret().as_bytes());
        let mut salt = [0u8; 8];
        salt.copy_from_slice(&digest[..8]);
        Ok(OnBehalfOfCredential {
            client: ConfidentialClient::new(
                config,
                GrantKind::OnBehalfOf(user_assertion),
                u64::from_le_bytes(salt),
                auth,
                &self.options,
            )?,
        })
    }
}

/// The error of a builder given no client credential or more than one.
fn one_credential_error() -> Error {
    Error::invalid_configuration(
        NAME,
        if cfg!(feature = "certificate") {
            "Give exactly one client credential: `.client_secret(..)`, a certificate (`.client_certificate_path(..)`, `_data` or `.client_certificate(..)`) or `.client_assertion_callback(..)`."
        } else {
            "Give exactly one client credential: `.client_secret(..)` or `.client_assertion_callback(..)`. A certificate needs the `certificate` feature of identity-service-principal."
        },
    )
}
