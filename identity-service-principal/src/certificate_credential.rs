//! [`CertificateCredential`] (PROTOCOL.md §5.2) and the certificate client authentication
//! that OnBehalfOfCredential shares.

use crate::certificate::{AssertionAlgorithm, ClientCertificate};
use crate::client::{
    AuthContext, AuthSource, ClientAuthValue, ClientConfig, ConfidentialClient, GrantKind,
    impl_credential_traits,
};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::{BoxFuture, Error, Result, Secret};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const NAME: &str = "CertificateCredential";

/// An assertion is reused for the same audience until this long before its expiry.
const REUSE_MARGIN: Duration = Duration::from_secs(60);

struct CachedAssertion {
    audience: String,
    algorithm: AssertionAlgorithm,
    assertion: Secret,
    expires: SystemTime,
}

impl CachedAssertion {
    /// Same audience and algorithm, and more than 60 s left.
    fn reusable(&self, audience: &str, algorithm: AssertionAlgorithm, now: SystemTime) -> bool {
        self.audience == audience
            && self.algorithm == algorithm
            && now + REUSE_MARGIN < self.expires
    }
}

/// Client authentication by a certificate: a signed assertion, reused until 60 s before it
/// expires.
pub(crate) struct CertificateAuth {
    certificate: Arc<ClientCertificate>,
    algorithm: AssertionAlgorithm,
    send_chain: bool,
    cached: Mutex<Option<CachedAssertion>>,
}

impl CertificateAuth {
    pub(crate) fn new(
        certificate: Arc<ClientCertificate>,
        algorithm: AssertionAlgorithm,
        send_chain: bool,
    ) -> Self {
        Self {
            certificate,
            algorithm,
            send_chain,
            cached: Mutex::new(None),
        }
    }

    fn assertion(&self, cx: &AuthContext<'_>) -> Result<Secret> {
        let algorithm = if cx.tenant.eq_ignore_ascii_case("adfs") {
            AssertionAlgorithm::Rs256
        } else {
            self.algorithm
        };
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cached
            .as_ref()
            .filter(|c| c.reusable(cx.endpoint, algorithm, cx.now))
        {
            return Ok(c.assertion.clone());
        }
        let (assertion, expires) = self
            .certificate
            .assertion(
                cx.endpoint,
                cx.client_id,
                cx.now,
                algorithm,
                self.send_chain,
            )
            .map_err(|e| e.with_credential(cx.name))?;
        *cached = Some(CachedAssertion {
            audience: cx.endpoint.to_owned(),
            algorithm,
            assertion: assertion.clone(),
            expires,
        });
        Ok(assertion)
    }
}

impl fmt::Debug for CertificateAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuth")
            .field("certificate", &self.certificate)
            .field("algorithm", &self.algorithm)
            .field("send_chain", &self.send_chain)
            .finish_non_exhaustive()
    }
}

impl AuthSource for CertificateAuth {
    fn blocking(&self, cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        self.assertion(cx).map(ClientAuthValue::Assertion)
    }
    fn future<'a>(&'a self, cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>> {
        Box::pin(std::future::ready(self.blocking(cx)))
    }
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub(crate) enum CertificateSource {
    Path(PathBuf),
    Data(Vec<u8>),
    Parsed(Arc<ClientCertificate>),
}

impl CertificateSource {
    pub(crate) fn load(self, password: Option<&Secret>) -> Result<Arc<ClientCertificate>> {
        let password = password.map(Secret::secret);
        match self {
            Self::Path(p) => ClientCertificate::from_path(p, password).map(Arc::new),
            Self::Data(d) => ClientCertificate::from_bytes(&d, password).map(Arc::new),
            Self::Parsed(c) => Ok(c),
        }
    }
}

/// Authenticates an application with a certificate: a client assertion signed with its RSA
/// key (PS256 with an `x5t#S256` thumbprint by default; RS256 with `x5t` on request and for
/// ADFS).
///
/// Needs the `certificate` feature (`identity-service-principal = { features = ["certificate"] }`,
/// or identity-chain's `env` or `service-principal` feature).
///
/// ```no_run
/// use identity_core::BlockingTokenCredential;
/// use identity_service_principal::CertificateCredential;
/// let credential = CertificateCredential::builder()
///     .tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .client_id("00000000-0000-0000-0000-000000000001")
///     .certificate_path("/etc/app/cert.pem")
///     .send_certificate_chain(true)
///     .build()?;
/// let token = credential.get_token_blocking(&"https://vault.azure.net/.default".into())?;
/// # Ok::<(), identity_core::Error>(())
/// ```
pub struct CertificateCredential {
    client: ConfidentialClient,
}

impl CertificateCredential {
    /// A builder.
    pub fn builder() -> CertificateCredentialBuilder {
        CertificateCredentialBuilder::default()
    }
}

impl_credential_traits!(CertificateCredential);

/// Builds a [`CertificateCredential`]: tenant id, client id and exactly one certificate source.
/// Needs the `certificate` feature.
#[derive(Debug, Default)]
#[must_use]
pub struct CertificateCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    sources: Vec<CertificateSource>,
    password: Option<Secret>,
    send_certificate_chain: bool,
    algorithm: AssertionAlgorithm,
    options: CredentialOptions,
}

impl CertificateCredentialBuilder {
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

    /// A PEM or PKCS#12 file.
    pub fn certificate_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.sources.push(CertificateSource::Path(path.into()));
        self
    }

    /// PEM or PKCS#12 bytes.
    pub fn certificate_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.sources.push(CertificateSource::Data(data.into()));
        self
    }

    /// An already parsed certificate.
    pub fn certificate(mut self, certificate: ClientCertificate) -> Self {
        self.sources
            .push(CertificateSource::Parsed(Arc::new(certificate)));
        self
    }

    /// The password of a PKCS#12 file or of an encrypted PEM key.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sends the certificate chain (`x5c`, leaf first) with each assertion, for subject
    /// name / issuer authentication (default false).
    pub fn send_certificate_chain(mut self, send: bool) -> Self {
        self.send_certificate_chain = send;
        self
    }

    /// The assertion's algorithm (default PS256; ADFS always uses RS256).
    pub fn assertion_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    common_builder_methods!();

    /// Reads the certificate, validates the settings and builds the credential. An expired
    /// certificate is logged at WARN (Microsoft Entra ID decides).
    pub fn build(mut self) -> Result<CertificateCredential> {
        let config = ClientConfig::new(
            NAME,
            self.tenant_id.as_deref().unwrap_or(""),
            self.client_id.as_deref().unwrap_or(""),
            &self.options,
        )?;
        let source = single_source(NAME, std::mem::take(&mut self.sources))?;
        let certificate = source
            .load(self.password.as_ref())
            .map_err(|e| e.with_credential(NAME))?;
        certificate.warn_if_not_valid(NAME, self.options.clock.now());
        let auth = CertificateAuth::new(certificate, self.algorithm, self.send_certificate_chain);
        Ok(CertificateCredential {
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

/// Exactly one certificate source.
pub(crate) fn single_source(
    name: &'static str,
    mut sources: Vec<CertificateSource>,
) -> Result<CertificateSource> {
    match sources.len() {
        1 => Ok(sources.remove(0)),
        0 => Err(Error::invalid_configuration(
            name,
            "A certificate is required: pass `.certificate_path(..)`, `.certificate_data(..)` or `.certificate(..)` (or set AZURE_CLIENT_CERTIFICATE_PATH).",
        )),
        _ => Err(Error::invalid_configuration(
            name,
            "Give exactly one certificate: a path, data or a parsed certificate, not several.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_reuse_window() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let c = CachedAssertion {
            audience: "aud".into(),
            algorithm: AssertionAlgorithm::Ps256,
            assertion: Secret::new("a.b.c"),
            expires: t0 + Duration::from_secs(600),
        };
        assert!(c.reusable("aud", AssertionAlgorithm::Ps256, t0));
        assert!(c.reusable(
            "aud",
            AssertionAlgorithm::Ps256,
            t0 + Duration::from_secs(539)
        ));
        assert!(!c.reusable(
            "aud",
            AssertionAlgorithm::Ps256,
            t0 + Duration::from_secs(540)
        ));
        assert!(!c.reusable("other", AssertionAlgorithm::Ps256, t0));
        assert!(!c.reusable("aud", AssertionAlgorithm::Rs256, t0));
    }

    fn header_of(assertion: &ClientAuthValue) -> (String, serde_json::Value) {
        use base64::Engine as _;
        let ClientAuthValue::Assertion(a) = assertion else {
            panic!("not an assertion")
        };
        let header = a.secret().split('.').next().unwrap().to_owned();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&header)
            .unwrap();
        (
            a.secret().to_owned(),
            serde_json::from_slice(&json).unwrap(),
        )
    }

    #[test]
    fn adfs_uses_rs256_and_assertions_are_reused_until_60_s_before_expiry() {
        use crate::client::Transport;
        use identity_core::env::MapEnv;
        use identity_core::{Request, Response, TransportError};
        let certificate = ClientCertificate::from_bytes(
            include_bytes!("../../identity-emulator/testdata/default-app.pem"),
            None,
        )
        .unwrap();
        let auth = CertificateAuth::new(Arc::new(certificate), AssertionAlgorithm::Ps256, false);
        let no_network = |_: &Request| -> std::result::Result<Response, TransportError> {
            Err(TransportError::new(
                identity_core::TransportErrorKind::Other,
                "unused",
            ))
        };
        let options = CredentialOptions {
            env: Arc::new(MapEnv::new()),
            http_client: Some(Arc::new(no_network)),
            ..Default::default()
        };
        let transport = Transport::new("T", &options).unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cx = |tenant: &'static str, endpoint: &'static str, now| AuthContext {
            name: "T",
            endpoint,
            client_id: "cid",
            tenant,
            now,
            transport: &transport,
        };
        let (first, header) = header_of(&auth.blocking(&cx("t", "https://h/t/token", t0)).unwrap());
        assert_eq!(header["alg"], "PS256");
        let (again, _) = header_of(
            &auth
                .blocking(&cx("t", "https://h/t/token", t0 + Duration::from_secs(539)))
                .unwrap(),
        );
        assert_eq!(first, again);
        let (fresh, _) = header_of(
            &auth
                .blocking(&cx("t", "https://h/t/token", t0 + Duration::from_secs(540)))
                .unwrap(),
        );
        assert_ne!(first, fresh);
        let (adfs, header) = header_of(
            &auth
                .blocking(&cx("adfs", "https://h/adfs/oauth2/token", t0))
                .unwrap(),
        );
        assert_ne!(adfs, fresh);
        assert_eq!(header["alg"], "RS256");
        assert!(header.get("x5t").is_some());
    }
}
