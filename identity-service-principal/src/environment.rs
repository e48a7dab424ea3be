//! [`EnvironmentCredential`] (PROTOCOL.md §5.11): a client secret or certificate credential
//! configured by environment variables.

#[cfg(feature = "certificate")]
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
    #[cfg(feature = "certificate")]
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
///    → `CertificateCredential`, which needs the `certificate` feature: without it this set
///    fails construction with an error that says to enable the feature;
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
            #[cfg(feature = "certificate")]
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
            #[cfg(feature = "certificate")]
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
            #[cfg(feature = "certificate")]
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
            #[cfg(feature = "certificate")]
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
            certificate_set(tenant, client, &*env, self.options)?
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

/// The certificate set, once selected and its ids read: a [`CertificateCredential`].
#[cfg(feature = "certificate")]
fn certificate_set(
    tenant: String,
    client: String,
    env: &dyn Env,
    options: CredentialOptions,
) -> Result<Inner> {
    let path = required(
        env,
        CERT_PATH,
        "it should be the path of a PEM or PKCS#12 certificate with its private key",
    )?;
    let mut builder = CertificateCredential::builder()
        .tenant_id(tenant)
        .client_id(client)
        .certificate_path(path)
        .send_certificate_chain(send_chain(env));
    if let Some(password) = env.non_empty(CERT_PASSWORD) {
        builder = builder.password(password);
    }
    Ok(Inner::Certificate(builder.options(options).build()?))
}

/// The certificate set without the `certificate` feature: a configuration error that says how
/// to get certificate support (never a credential that cannot work).
#[cfg(not(feature = "certificate"))]
fn certificate_set(
    _tenant: String,
    _client: String,
    _env: &dyn Env,
    _options: CredentialOptions,
) -> Result<Inner> {
    Err(Error::invalid_configuration(
        NAME,
        format!(
            "{CERT_PATH} is set (with {TENANT} and {CLIENT}, without {SECRET}), which selects CertificateCredential, but identity-service-principal was built without certificate support. Enable its `certificate` feature (or the `env` feature of identity-chain, which enables it), or set {SECRET} instead, or unset {CERT_PATH}."
        ),
    ))
}

/// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`: `true` or `1` (any case) enable it, as the .NET, Java
/// and JavaScript libraries do; any other non-empty value is ignored with a warning (Python
/// enables it for any non-empty value, PROTOCOL.md §12 item 8).
#[cfg(feature = "certificate")]
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
        #[cfg(feature = "certificate")]
        let e = build(
            MapEnv::new()
                .with(TENANT, "t")
                .with(CLIENT, "c")
                .with(CERT_PATH, "/nonexistent/sp/c.pem"),
        )
        .unwrap_err();
        #[cfg(feature = "certificate")]
        {
            assert_eq!(e.credential(), "CertificateCredential");
            assert!(
                e.message().starts_with("Cannot read the certificate file"),
                "{e}"
            );
        }
    }

    /// Without the `certificate` feature the certificate set, selected by the same rules,
    /// fails construction and says how to get certificate support; the secret set still wins.
    #[test]
    #[cfg(not(feature = "certificate"))]
    fn certificate_set_without_the_feature_is_a_clear_error() {
        let cert_set = || {
            MapEnv::new()
                .with(TENANT, "t")
                .with(CLIENT, "c")
                .with(CERT_PATH, "/etc/app/cert.pem")
        };
        for env in [
            cert_set(),
            cert_set()
                .with(CERT_PASSWORD, "pw")
                .with(SEND_CHAIN, "true"),
            // The certificate set wins over username/password, as with the feature.
            cert_set()
                .with(USERNAME, "u@contoso.com")
                .with(PASSWORD, "planted-pw"),
        ] {
            let e = build(env).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
            assert_eq!(e.credential(), NAME);
            assert!(
                e.message()
                    .starts_with("AZURE_CLIENT_CERTIFICATE_PATH is set"),
                "{e}"
            );
            assert!(
                e.message().contains(
                    "built without certificate support. Enable its `certificate` feature"
                ),
                "{e}"
            );
            assert!(
                e.message().contains("`env` feature of identity-chain"),
                "{e}"
            );
            assert!(!e.message().contains("planted-pw"), "{e}");
        }
        // The secret set still wins over the certificate set.
        let e = build(cert_set().with(SECRET, "s"));
        if let Ok(c) = e {
            assert_eq!(c.selected(), Some("ClientSecretCredential"));
        } else {
            // No usable transport in this feature set: the secret credential's error.
            let e = e.unwrap_err();
            assert_eq!(e.credential(), "ClientSecretCredential", "{e}");
            assert!(!e.message().contains(CERT_PATH), "{e}");
        }
        // An empty tenant or client id is reported first, as with the feature.
        let e = build(cert_set().with(CLIENT, "")).unwrap_err();
        assert!(
            e.message().starts_with("AZURE_CLIENT_ID is set but empty"),
            "{e}"
        );
    }

    #[test]
    #[cfg(feature = "certificate")]
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
