//! [`ClientAssertionCredential`] (PROTOCOL.md §5.3) and the callback client authentication
//! that OnBehalfOfCredential shares.

use crate::client::{
    AuthContext, AuthSource, ClientAuthValue, ClientConfig, ConfidentialClient, GrantKind,
    impl_credential_traits,
};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::{BoxFuture, Error, Result, Secret};
use std::fmt;
use std::sync::Arc;

const NAME: &str = "ClientAssertionCredential";

/// A blocking assertion callback: returns a fresh client assertion (a JWT) on each call.
pub type AssertionCallback = Arc<dyn Fn() -> Result<String> + Send + Sync>;

/// An async assertion callback.
pub type AsyncAssertionCallback = Arc<dyn Fn() -> BoxFuture<'static, Result<String>> + Send + Sync>;

/// Client authentication by a user callback, called for every token request (only the access
/// token is cached).
#[derive(Clone)]
pub(crate) struct CallbackAuth {
    pub(crate) blocking: Option<AssertionCallback>,
    pub(crate) asynchronous: Option<AsyncAssertionCallback>,
}

impl fmt::Debug for CallbackAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackAuth")
            .field("blocking", &self.blocking.is_some())
            .field("async", &self.asynchronous.is_some())
            .finish()
    }
}

fn checked(name: &'static str, assertion: Result<String>) -> Result<ClientAuthValue> {
    let assertion = assertion.map_err(|e| e.with_credential(name))?;
    if assertion.trim().is_empty() {
        return Err(Error::authentication(
            name,
            "The assertion callback returned an empty assertion; it must return a signed JWT.",
        ));
    }
    Ok(ClientAuthValue::Assertion(Secret::new(assertion)))
}

impl AuthSource for CallbackAuth {
    fn blocking(&self, cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        match &self.blocking {
            Some(f) => checked(cx.name, f()),
            None => Err(Error::invalid_configuration(
                cx.name,
                "Only an async assertion callback was given, so the blocking get_token_blocking cannot get an assertion: also pass `.assertion_callback(..)`, or call the async get_token.",
            )),
        }
    }

    fn future<'a>(&'a self, cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>> {
        Box::pin(async move {
            match (&self.asynchronous, &self.blocking) {
                (Some(f), _) => checked(cx.name, f().await),
                (None, Some(f)) => checked(cx.name, f()),
                (None, None) => Err(Error::invalid_configuration(
                    cx.name,
                    "No assertion callback.",
                )),
            }
        })
    }
}

/// Authenticates an application with a client assertion that a callback provides (for
/// example a token from another identity provider trusted through a federated credential).
///
/// ```no_run
/// use identity_core::BlockingTokenCredential;
/// use identity_service_principal::ClientAssertionCredential;
/// let credential = ClientAssertionCredential::builder()
///     .tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .client_id("00000000-0000-0000-0000-000000000001")
///     .assertion_callback(|| std::fs::read_to_string("/var/run/token"))
///     .build()?;
/// let token = credential.get_token_blocking(&"https://vault.azure.net/.default".into())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientAssertionCredential {
    client: ConfidentialClient,
}

impl ClientAssertionCredential {
    /// A builder.
    pub fn builder() -> ClientAssertionCredentialBuilder {
        ClientAssertionCredentialBuilder::default()
    }
}

impl_credential_traits!(ClientAssertionCredential);

/// Builds a [`ClientAssertionCredential`]: tenant id, client id and at least one callback.
#[derive(Debug, Default)]
#[must_use]
pub struct ClientAssertionCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    callbacks: Option<CallbackAuth>,
    options: CredentialOptions,
}

impl ClientAssertionCredentialBuilder {
    /// The directory (tenant) id.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The application (client) id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The blocking callback; also used by the async `get_token` when no async callback is
    /// given (it then runs on the executor thread, so keep it quick).
    pub fn assertion_callback<F, E>(mut self, callback: F) -> Self
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

    /// The async callback, used by the async `get_token`.
    pub fn async_assertion_callback<F>(mut self, callback: F) -> Self
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
    pub fn build(self) -> Result<ClientAssertionCredential> {
        let config = ClientConfig::new(
            NAME,
            self.tenant_id.as_deref().unwrap_or(""),
            self.client_id.as_deref().unwrap_or(""),
            &self.options,
        )?;
        let auth = self.callbacks.ok_or_else(|| {
            Error::invalid_configuration(
                NAME,
                "An assertion callback is required: pass `.assertion_callback(..)` or `.async_assertion_callback(..)`.",
            )
        })?;
        Ok(ClientAssertionCredential {
            client: ConfidentialClient::new(
                config,
                GrantKind::ClientCredentials,
                0,
                Box::new(auth),
                &self.options,
            )?,
        })
    }
}

/// Turns a callback's error into an authentication error that keeps it as the source.
pub(crate) fn callback_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    let e = e.into();
    match e.downcast::<Error>() {
        Ok(e) => *e,
        Err(e) => {
            Error::authentication("", format!("The assertion callback failed: {e}")).with_source(e)
        }
    }
}
