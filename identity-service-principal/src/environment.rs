//! [`EnvironmentCredential`] (PROTOCOL.md §5.11): a client secret or certificate credential
//! configured by environment variables.

use crate::certificate_credential::CertificateCredential;
use crate::client::log_result;
use crate::client_secret::ClientSecretCredential;
use crate::options::{CredentialOptions, common_builder_methods};
use crate::username_password::UsernamePasswordCredential;
use identity_core::env::Env;
use identity_core::protocol::entra::token_span;
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, Result, TokenCredential, TokenRequest,
};
use std::fmt;

const NAME: &str = "EnvironmentCredential";

const TENANT: &str = "AZURE_TENANT_ID";
const CLIENT: &str = "AZURE_CLIENT_ID";
const SECRET: &str = "AZURE_CLIENT_SECRET";
const CERT_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
const CERT_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
const SEND_CHAIN: &str = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
const USERNAME: &str = "AZURE_USERNAME";
const PASSWORD: &str = "AZURE_PASSWORD";

/// The variables whose presence this credential reports.
const KNOWN: [&str; 8] = [
    TENANT,
    CLIENT,
    SECRET,
    CERT_PATH,
    CERT_PASSWORD,
    SEND_CHAIN,
    USERNAME,
    PASSWORD,
];

/// The unavailable message of PROTOCOL.md §5.11 (`\n` is a real newline).
pub const ENVIRONMENT_UNAVAILABLE: &str = "EnvironmentCredential authentication unavailable. Environment variables are not fully configured.\nVisit https://aka.ms/azsdk/python/identity/environmentcredential/troubleshoot to troubleshoot this issue.";

enum Inner {
    Secret(ClientSecretCredential),
    Certificate(CertificateCredential),
    UsernamePassword(UsernamePasswordCredential),
    Unavailable(String),
}

/// Authenticates a service principal configured by environment variables; the first complete
/// set wins ("present" means present, even if empty):
///
/// 1. `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` → [`ClientSecretCredential`];
/// 2. `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_CERTIFICATE_PATH` (+ optional
///    `AZURE_CLIENT_CERTIFICATE_PASSWORD`, `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` = `true`/`1`)
///    → [`CertificateCredential`];
/// 3. `AZURE_CLIENT_ID` + `AZURE_USERNAME` + `AZURE_PASSWORD` (+ optional `AZURE_TENANT_ID`,
///    default `organizations`) → the deprecated [`UsernamePasswordCredential`], with a warning.
///
/// A selected set with an empty value fails construction, naming the variable. With no set,
/// `get_token` returns an unavailable error (a chain moves on) that lists the variables found.
///
/// ```no_run
/// use identity_core::BlockingTokenCredential;
/// use identity_service_principal::EnvironmentCredential;
/// let credential = EnvironmentCredential::builder().build()?;
/// let token = credential.get_token_blocking(&"https://vault.azure.net/.default".into())?;
/// # Ok::<(), identity_core::Error>(())
/// ```
pub struct EnvironmentCredential {
    inner: Inner,
}

impl EnvironmentCredential {
    /// A builder.
    pub fn builder() -> EnvironmentCredentialBuilder {
        EnvironmentCredentialBuilder::default()
    }

    /// The credential the environment selected (`"ClientSecretCredential"`,
    /// `"CertificateCredential"` or `"UsernamePasswordCredential"`), or `None` when it is
    /// unavailable.
    pub fn selected(&self) -> Option<&'static str> {
        match self.inner {
            Inner::Secret(_) => Some("ClientSecretCredential"),
            Inner::Certificate(_) => Some("CertificateCredential"),
            Inner::UsernamePassword(_) => Some("UsernamePasswordCredential"),
            Inner::Unavailable(_) => None,
        }
    }

    fn unavailable(message: &str, request: &TokenRequest) -> Error {
        let _span = token_span(NAME, request.scopes(), request.tenant_id()).entered();
        let result: Result<AccessToken> = Err(Error::unavailable(NAME, message));
        log_result(NAME, &result);
        Error::unavailable(NAME, message)
    }
}

impl BlockingTokenCredential for EnvironmentCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        match &self.inner {
            Inner::Secret(c) => c.get_token_blocking(request),
            Inner::Certificate(c) => c.get_token_blocking(request),
            Inner::UsernamePassword(c) => c.get_token_blocking(request),
            Inner::Unavailable(m) => Err(Self::unavailable(m, request)),
        }
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl TokenCredential for EnvironmentCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        match &self.inner {
            Inner::Secret(c) => c.get_token(request),
            Inner::Certificate(c) => c.get_token(request),
            Inner::UsernamePassword(c) => c.get_token(request),
            Inner::Unavailable(m) => {
                Box::pin(std::future::ready(Err(Self::unavailable(m, request))))
            }
        }
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl fmt::Debug for EnvironmentCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Secret(c) => f.debug_tuple(NAME).field(c).finish(),
            Inner::Certificate(c) => f.debug_tuple(NAME).field(c).finish(),
            Inner::UsernamePassword(c) => f.debug_tuple(NAME).field(c).finish(),
            Inner::Unavailable(_) => f.debug_tuple(NAME).field(&"unavailable").finish(),
        }
    }
}

/// Builds an [`EnvironmentCredential`]; the shared options (authority, allowed tenants,
/// transports, the environment to read) pass to the selected credential.
#[derive(Debug, Default)]
#[must_use]
pub struct EnvironmentCredentialBuilder {
    options: CredentialOptions,
}

/// The value of a variable of a selected set: present and non-empty, else a construction error
/// naming it.
fn required(env: &dyn Env, var: &str, what: &str) -> Result<String> {
    match env.var(var) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::invalid_configuration(
            NAME,
            format!(
                "{var} is set but empty: {what}. Set it, or unset the EnvironmentCredential variables to use another credential."
            ),
        )),
    }
}

const TENANT_WHAT: &str =
    "tenant_id should be a Microsoft Entra tenant's id (also called its 'directory id')";
const CLIENT_WHAT: &str = "client_id should be the id of a Microsoft Entra application";

impl EnvironmentCredentialBuilder {
    common_builder_methods!();

    /// Reads the environment and builds the selected credential.
    pub fn build(self) -> Result<EnvironmentCredential> {
        let env = self.options.env.clone();
        let present = |v: &str| env.var(v).is_some();
        let set: Vec<&str> = KNOWN.iter().copied().filter(|v| present(v)).collect();
        tracing::debug!(
            "EnvironmentCredential: variables present: {}",
            set.join(", ")
        );
        let inner = if present(TENANT) && present(CLIENT) && present(SECRET) {
            let tenant = required(&*env, TENANT, TENANT_WHAT)?;
            let client = required(&*env, CLIENT, CLIENT_WHAT)?;
            let secret = required(
                &*env,
                SECRET,
                "secret should be a Microsoft Entra application's client secret",
            )?;
            Inner::Secret(
                ClientSecretCredential::builder()
                    .tenant_id(tenant)
                    .client_id(client)
                    .client_secret(secret)
                    .options(self.options)
                    .build()?,
            )
        } else if present(TENANT) && present(CLIENT) && present(CERT_PATH) {
            let tenant = required(&*env, TENANT, TENANT_WHAT)?;
            let client = required(&*env, CLIENT, CLIENT_WHAT)?;
            let path = required(
                &*env,
                CERT_PATH,
                "it should be the path of a PEM or PKCS#12 certificate with its private key",
            )?;
            let mut builder = CertificateCredential::builder()
                .tenant_id(tenant)
                .client_id(client)
                .certificate_path(path)
                .send_certificate_chain(send_chain(&*env));
            if let Some(password) = env.non_empty(CERT_PASSWORD) {
                builder = builder.password(password);
            }
            Inner::Certificate(builder.options(self.options).build()?)
        } else if present(CLIENT) && present(USERNAME) && present(PASSWORD) {
            let client = required(&*env, CLIENT, CLIENT_WHAT)?;
            let username = required(&*env, USERNAME, "it should be the user's sign-in name")?;
            let password = required(&*env, PASSWORD, "it should be the user's password")?;
            let mut builder = UsernamePasswordCredential::builder()
                .client_id(client)
                .username(username)
                .password(password);
            if let Some(tenant) = env.non_empty(TENANT) {
                builder = builder.tenant_id(tenant);
            }
            Inner::UsernamePassword(builder.options(self.options).build()?)
        } else {
            let found = if set.is_empty() {
                "None of AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH is set.".to_owned()
            } else {
                format!(
                    "Set: {}. A service principal needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH.",
                    set.join(", ")
                )
            };
            Inner::Unavailable(format!("{ENVIRONMENT_UNAVAILABLE}\n{found}"))
        };
        Ok(EnvironmentCredential { inner })
    }
}

/// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`: `true` or `1` (any case) enable it, as the .NET, Java
/// and JavaScript libraries do; any other non-empty value is ignored with a warning (Python
/// enables it for any non-empty value, PROTOCOL.md §12 item 8).
fn send_chain(env: &dyn Env) -> bool {
    match env.non_empty(SEND_CHAIN) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => true,
        Some(v) => {
            tracing::warn!(
                "EnvironmentCredential: AZURE_CLIENT_SEND_CERTIFICATE_CHAIN='{v}' is not 'true' or '1'; the certificate chain is not sent."
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;
    use identity_core::env::MapEnv;
    use std::sync::Arc;

    fn build(env: MapEnv) -> Result<EnvironmentCredential> {
        EnvironmentCredential::builder().env(Arc::new(env)).build()
    }

    #[test]
    fn selection_and_unavailable_messages() {
        let e = build(MapEnv::new()).unwrap();
        assert_eq!(e.selected(), None);
        let err = e.get_token_blocking(&TokenRequest::new("s")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.message().starts_with(ENVIRONMENT_UNAVAILABLE));
        assert!(err.message().contains("\nNone of AZURE_TENANT_ID"));
        let e = build(MapEnv::new().with(TENANT, "t").with(CLIENT, "c")).unwrap();
        let err = e.get_token_blocking(&TokenRequest::new("s")).unwrap_err();
        assert!(
            err.message()
                .contains("\nSet: AZURE_TENANT_ID, AZURE_CLIENT_ID."),
            "{err}"
        );
        assert_eq!(err.to_string(), err.message());
    }

    /// AZURE_CLIENT_ID + AZURE_USERNAME + AZURE_PASSWORD select the username/password flow
    /// (it needs a usable transport to build: ureq, or reqwest with an async sleep).
    #[test]
    #[cfg(any(
        feature = "ureq",
        all(feature = "reqwest", any(feature = "tokio", feature = "async-std"))
    ))]
    fn username_and_password_select_the_deprecated_flow() {
        let e = build(
            MapEnv::new()
                .with(CLIENT, "c")
                .with(USERNAME, "u@contoso.com")
                .with(PASSWORD, "planted-pw"),
        )
        .unwrap();
        assert_eq!(e.selected(), Some("UsernamePasswordCredential"));
        assert!(!format!("{e:?}").contains("planted-pw"));
        let err = build(
            MapEnv::new()
                .with(CLIENT, "c")
                .with(USERNAME, "u@contoso.com")
                .with(PASSWORD, ""),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
        assert!(
            err.message().contains("AZURE_PASSWORD is set but empty"),
            "{err}"
        );
    }

    #[test]
    fn empty_values_fail_construction_naming_the_variable() {
        let e = build(
            MapEnv::new()
                .with(TENANT, "")
                .with(CLIENT, "c")
                .with(SECRET, "s"),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
        assert!(
            e.to_string().starts_with(
                "EnvironmentCredential: AZURE_TENANT_ID is set but empty: tenant_id should be"
            ),
            "{e}"
        );
        let e = build(
            MapEnv::new()
                .with(TENANT, "t")
                .with(CLIENT, "c")
                .with(SECRET, ""),
        )
        .unwrap_err();
        assert!(
            e.message()
                .starts_with("AZURE_CLIENT_SECRET is set but empty"),
            "{e}"
        );
        // Secret wins over certificate even when empty: the set is selected, then fails.
        let e = build(
            MapEnv::new()
                .with(TENANT, "t")
                .with(CLIENT, "c")
                .with(SECRET, "")
                .with(CERT_PATH, "/x"),
        )
        .unwrap_err();
        assert!(e.message().starts_with("AZURE_CLIENT_SECRET"), "{e}");
        let e = build(
            MapEnv::new()
                .with(TENANT, "t")
                .with(CLIENT, "")
                .with(CERT_PATH, "/x"),
        )
        .unwrap_err();
        assert!(
            e.message().starts_with("AZURE_CLIENT_ID is set but empty"),
            "{e}"
        );
        // A certificate that cannot be read: the certificate credential's error.
        let e = build(
            MapEnv::new()
                .with(TENANT, "t")
                .with(CLIENT, "c")
                .with(CERT_PATH, "/nonexistent/sp/c.pem"),
        )
        .unwrap_err();
        assert_eq!(e.credential(), "CertificateCredential");
        assert!(
            e.message().starts_with("Cannot read the certificate file"),
            "{e}"
        );
    }

    #[test]
    fn send_chain_values() {
        let env = |v: &str| MapEnv::new().with(SEND_CHAIN, v);
        assert!(send_chain(&env("true")));
        assert!(send_chain(&env("TRUE")));
        assert!(send_chain(&env("1")));
        assert!(!send_chain(&env("false")));
        assert!(!send_chain(&env("")));
        assert!(!send_chain(&MapEnv::new()));
    }
}
