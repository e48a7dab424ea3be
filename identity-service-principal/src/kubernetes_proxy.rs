//! The AKS identity-binding token proxy of WorkloadIdentityCredential (PROTOCOL.md §5.4, opt-in
//! with `enable_azure_proxy`): token requests go to `AZURE_KUBERNETES_TOKEN_PROXY` over TLS that
//! trusts only the proxy's CA (`AZURE_KUBERNETES_CA_FILE` / `AZURE_KUBERNETES_CA_DATA`, else the
//! system store) with the SNI name `AZURE_KUBERNETES_SNI_NAME`.
//!
//! The settings and the URL rewriting are pure; the TLS clients need `rustls` with `ureq`
//! (blocking) or `reqwest` (async). The SNI name is the host of the URL actually requested, and
//! the connection is resolved to the proxy's address.

use identity_core::env::Env;
use identity_core::{Error, Result};
use std::path::{Path, PathBuf};

pub(crate) const TOKEN_PROXY: &str = "AZURE_KUBERNETES_TOKEN_PROXY";
pub(crate) const SNI_NAME: &str = "AZURE_KUBERNETES_SNI_NAME";
pub(crate) const CA_FILE: &str = "AZURE_KUBERNETES_CA_FILE";
pub(crate) const CA_DATA: &str = "AZURE_KUBERNETES_CA_DATA";

/// Where the proxy's CA comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaSource {
    /// The system trust store.
    System,
    /// PEM text.
    Data(String),
    /// A PEM file, re-read when its modification time changes.
    File(PathBuf),
}

/// The proxy settings.
#[cfg_attr(
    not(all(feature = "rustls", any(feature = "ureq", feature = "reqwest"))),
    allow(dead_code)
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxySettings {
    /// `https://host[:port]` as given (no trailing slash).
    pub(crate) origin: String,
    /// The proxy path without a trailing `/` (may be empty).
    pub(crate) path: String,
    /// The proxy host (brackets removed for IPv6).
    pub(crate) host: String,
    /// The proxy port.
    pub(crate) port: u16,
    /// The TLS SNI name, if any.
    pub(crate) sni: Option<String>,
    /// The CA.
    pub(crate) ca: CaSource,
}

fn config_error(message: impl Into<String>) -> Error {
    Error::invalid_configuration("WorkloadIdentityCredential", message)
}

/// The settings from the environment: `None` when no proxy variable is set.
pub(crate) fn settings_from_env(env: &dyn Env) -> Result<Option<ProxySettings>> {
    let proxy = env.non_empty(TOKEN_PROXY);
    let sni = env.non_empty(SNI_NAME);
    let ca_file = env.non_empty(CA_FILE);
    let ca_data = env.non_empty(CA_DATA);
    let Some(proxy) = proxy else {
        if sni.is_some() || ca_file.is_some() || ca_data.is_some() {
            return Err(config_error(
                "AZURE_KUBERNETES_TOKEN_PROXY is not set but other custom endpoint-related environment variables are present.",
            ));
        }
        return Ok(None);
    };
    let ca = match (ca_file, ca_data) {
        (Some(_), Some(_)) => {
            return Err(config_error(
                "AZURE_KUBERNETES_CA_FILE and AZURE_KUBERNETES_CA_DATA are both set: set only one.",
            ));
        }
        (Some(f), None) => CaSource::File(PathBuf::from(f)),
        (None, Some(d)) => CaSource::Data(d),
        (None, None) => CaSource::System,
    };
    let (origin, path, host, port) = parse_proxy_url(&proxy)?;
    Ok(Some(ProxySettings {
        origin,
        path,
        host,
        port,
        sni,
        ca,
    }))
}

/// Checks the proxy URL: `https`, no userinfo, query or fragment.
fn parse_proxy_url(url: &str) -> Result<(String, String, String, u16)> {
    let bad = |why: &str| {
        config_error(format!(
            "AZURE_KUBERNETES_TOKEN_PROXY '{url}' is not valid: {why}. It must be an https URL without user information, query or fragment."
        ))
    };
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
        .ok_or_else(|| bad("the scheme is not https"))?;
    if url.contains('?') || url.contains('#') {
        return Err(bad("it has a query or fragment"));
    }
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if authority.contains('@') {
        return Err(bad("it has user information"));
    }
    if authority.is_empty() {
        return Err(bad("it has no host"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
        let port = after.strip_prefix(':').map(str::parse::<u16>).transpose();
        (
            h.to_owned(),
            port.map_err(|_| bad("bad port"))?.unwrap_or(443),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
            None => (authority.to_owned(), 443),
        }
    };
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };
    Ok((format!("https://{authority}"), path, host, port))
}

// Without `rustls` the settings are validated but no client uses them.
#[cfg_attr(
    not(all(feature = "rustls", any(feature = "ureq", feature = "reqwest"))),
    allow(dead_code)
)]
impl ProxySettings {
    /// The URL of `url` through the proxy: `{proxy}{proxy path}{original path and query}`;
    /// unchanged when it already points at the proxy's origin and path.
    pub(crate) fn rewrite(&self, url: &str) -> String {
        let prefix = format!("{}{}", self.origin, self.path);
        if let Some(after) = url.get(prefix.len()..)
            && url[..prefix.len()].eq_ignore_ascii_case(&prefix)
            && (after.is_empty() || after.starts_with('/') || after.starts_with('?'))
        {
            return url.to_owned();
        }
        let without_scheme = url.split_once("://").map_or(url, |(_, r)| r);
        let path_and_query = without_scheme
            .find(['/', '?'])
            .map_or("", |i| &without_scheme[i..]);
        let path_and_query = if path_and_query.starts_with('?') {
            format!("/{path_and_query}")
        } else {
            path_and_query.to_owned()
        };
        format!("{prefix}{path_and_query}")
    }

    /// The URL to request: the rewritten URL with the SNI name as its host (the connection is
    /// resolved to the proxy's address).
    pub(crate) fn request_url(&self, url: &str) -> String {
        let rewritten = self.rewrite(url);
        match &self.sni {
            None => rewritten,
            Some(sni) => {
                let rest = &rewritten[self.origin.len()..];
                format!("https://{sni}:{}{rest}", self.port)
            }
        }
    }
}

/// Reads the CA file: it must exist and not be empty.
pub(crate) fn read_ca_file(path: &Path) -> Result<(String, Option<std::time::SystemTime>)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        config_error(format!(
            "Failed to read CA file ({}) named by AZURE_KUBERNETES_CA_FILE: {e}",
            path.display()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(config_error(format!(
            "CA file ({}) is empty: AZURE_KUBERNETES_CA_FILE must name the PEM of the token proxy's CA.",
            path.display()
        )));
    }
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Ok((text, mtime))
}

#[cfg(all(feature = "rustls", any(feature = "ureq", feature = "reqwest")))]
pub(crate) mod clients {
    //! The TLS clients of the proxy, rebuilt when the CA file changes.

    use super::{CaSource, ProxySettings, read_ca_file};
    use identity_core::transport::TransportOptions;
    use identity_core::{Error, Result, TransportError, TransportErrorKind};
    use std::sync::{Arc, Mutex};
    use std::time::SystemTime;

    /// The CA PEM now, and the file's modification time (files only).
    fn current_ca(settings: &ProxySettings) -> Result<(Option<String>, Option<SystemTime>)> {
        match &settings.ca {
            CaSource::System => Ok((None, None)),
            CaSource::Data(d) => Ok((Some(d.clone()), None)),
            CaSource::File(p) => read_ca_file(p).map(|(t, m)| (Some(t), m)),
        }
    }

    fn file_mtime(settings: &ProxySettings) -> Option<SystemTime> {
        match &settings.ca {
            CaSource::File(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            _ => None,
        }
    }

    /// The roots: only the proxy's CA when given, else the system store (plus the caller's
    /// extra roots).
    fn roots(
        ca: Option<&str>,
        options: &TransportOptions,
    ) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
        match ca {
            Some(pem) => identity_core::transport::tls::parse_pem_certificates(pem),
            None => {
                identity_core::transport::tls::trusted_roots(&options.extra_root_certificates_pem)
            }
        }
    }

    fn tls_failure(e: &Error) -> TransportError {
        TransportError::new(TransportErrorKind::Tls, e.message().to_owned())
    }

    /// A client built for one CA version, and that version.
    struct Built<C> {
        mtime: Option<SystemTime>,
        client: Arc<C>,
    }

    /// Keeps the client for the current CA.
    pub(crate) struct Rebuilding<C> {
        settings: Arc<ProxySettings>,
        options: TransportOptions,
        build: fn(&ProxySettings, Option<&str>, &TransportOptions) -> Result<C>,
        current: Mutex<Option<Built<C>>>,
    }

    impl<C> Rebuilding<C> {
        pub(crate) fn new(
            settings: Arc<ProxySettings>,
            options: TransportOptions,
            build: fn(&ProxySettings, Option<&str>, &TransportOptions) -> Result<C>,
        ) -> Result<Self> {
            let this = Self {
                settings,
                options,
                build,
                current: Mutex::new(None),
            };
            this.client()?;
            Ok(this)
        }

        pub(crate) fn settings(&self) -> &ProxySettings {
            &self.settings
        }

        /// The client for the CA as it is now.
        pub(crate) fn client(&self) -> Result<Arc<C>> {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            let mtime = file_mtime(&self.settings);
            if let Some(built) = current.as_ref() {
                if built.mtime == mtime {
                    return Ok(built.client.clone());
                }
                tracing::debug!(
                    "WorkloadIdentityCredential: the token proxy's CA file changed; reloading it"
                );
            }
            let (ca, mtime) = current_ca(&self.settings)?;
            let client = Arc::new((self.build)(&self.settings, ca.as_deref(), &self.options)?);
            *current = Some(Built {
                mtime,
                client: client.clone(),
            });
            Ok(client)
        }

        pub(crate) fn client_for_send(&self) -> std::result::Result<Arc<C>, TransportError> {
            self.client().map_err(|e| tls_failure(&e))
        }
    }

    #[cfg(feature = "ureq")]
    pub(crate) mod blocking {
        use super::{Rebuilding, roots};
        use crate::kubernetes_proxy::ProxySettings;
        use identity_core::http::{HttpClient, Method, read_capped, redact_url};
        use identity_core::transport::TransportOptions;
        use identity_core::{Error, Request, Response, Result, TransportError, TransportErrorKind};
        use std::fmt;
        use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
        use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

        /// Resolves every name to the proxy's address.
        #[derive(Debug)]
        struct ProxyResolver {
            proxy: ureq::http::Uri,
        }

        impl Resolver for ProxyResolver {
            fn resolve(
                &self,
                _uri: &ureq::http::Uri,
                config: &ureq::config::Config,
                timeout: NextTimeout,
            ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
                DefaultResolver::default().resolve(&self.proxy, config, timeout)
            }
        }

        pub(crate) fn agent(
            settings: &ProxySettings,
            ca: Option<&str>,
            options: &TransportOptions,
        ) -> Result<ureq::Agent> {
            use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
            let roots: Vec<Certificate<'static>> = roots(ca, options)?
                .iter()
                .map(|c| Certificate::from_der(c).to_owned())
                .collect();
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .timeout_connect(Some(options.default_connect_timeout))
                .proxy(None)
                .tls_config(
                    TlsConfig::builder()
                        .provider(TlsProvider::Rustls)
                        .root_certs(RootCerts::new_with_certs(&roots))
                        .unversioned_rustls_crypto_provider(
                            identity_core::transport::tls::provider(),
                        )
                        .build(),
                )
                .build();
            let host = if settings.host.contains(':') {
                format!("[{}]", settings.host)
            } else {
                settings.host.clone()
            };
            let proxy = format!("https://{host}:{}/", settings.port)
                .parse()
                .map_err(|e| {
                    Error::invalid_configuration("", format!("Bad token proxy address: {e}"))
                })?;
            Ok(ureq::Agent::with_parts(
                config,
                DefaultConnector::new(),
                ProxyResolver { proxy },
            ))
        }

        /// The blocking client of the proxy.
        pub(crate) struct ProxyClient(pub(crate) Rebuilding<ureq::Agent>);

        impl fmt::Debug for ProxyClient {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("ProxyClient")
                    .field("proxy", &self.0.settings().origin)
                    .finish_non_exhaustive()
            }
        }

        impl HttpClient for ProxyClient {
            fn send(&self, request: &Request) -> std::result::Result<Response, TransportError> {
                let agent = self.0.client_for_send()?;
                let url = self.0.settings().request_url(&request.url);
                let describe = |e: &dyn fmt::Display| {
                    format!(
                        "{} {} failed: {e}",
                        request.method.as_str(),
                        redact_url(&url)
                    )
                };
                let method = match request.method {
                    Method::Get => ureq::http::Method::GET,
                    Method::Post => ureq::http::Method::POST,
                };
                let mut builder = ureq::http::Request::builder().method(method).uri(&url);
                for (name, value) in request.headers.iter() {
                    builder = builder.header(name, value);
                }
                let http_request = builder.body(request.body.clone()).map_err(|e| {
                    TransportError::new(TransportErrorKind::InvalidRequest, describe(&e))
                })?;
                let mut configured = agent.configure_request(http_request);
                if let Some(t) = request.timeout {
                    configured = configured.timeout_global(Some(t));
                }
                if let Some(t) = request.connect_timeout {
                    configured = configured.timeout_connect(Some(t));
                }
                let response = agent.run(configured.build()).map_err(|e| {
                    let kind = match &e {
                        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
                        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
                            TransportErrorKind::Connect
                        }
                        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => TransportErrorKind::Tls,
                        ureq::Error::Io(io)
                            if io.kind() == std::io::ErrorKind::ConnectionRefused =>
                        {
                            TransportErrorKind::Connect
                        }
                        _ => TransportErrorKind::Io,
                    };
                    TransportError::new(kind, describe(&e)).with_source(e)
                })?;
                let mut out = Response::new(response.status().as_u16(), Vec::new());
                for (name, value) in response.headers() {
                    out.headers
                        .insert(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
                }
                out.body = read_capped(response.into_body().into_reader())?;
                Ok(out)
            }
        }
    }

    #[cfg(feature = "reqwest")]
    pub(crate) mod asynchronous {
        use super::{Rebuilding, roots};
        use crate::kubernetes_proxy::ProxySettings;
        use identity_core::http::AsyncHttpClient;
        use identity_core::transport::{ReqwestClient, TransportOptions};
        use identity_core::{BoxFuture, Error, Request, Response, Result, TransportError};
        use std::fmt;
        use std::net::ToSocketAddrs as _;

        pub(crate) fn client(
            settings: &ProxySettings,
            ca: Option<&str>,
            options: &TransportOptions,
        ) -> Result<ReqwestClient> {
            use identity_core::transport::tls;
            let config = tls::client_config(tls::root_store(roots(ca, options)?))?;
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(options.default_connect_timeout)
                .no_proxy()
                .tls_backend_preconfigured(config);
            if let Some(sni) = &settings.sni {
                let addrs: Vec<_> = (settings.host.as_str(), settings.port)
                    .to_socket_addrs()
                    .map_err(|e| {
                        Error::invalid_configuration(
                            "",
                            format!(
                                "Cannot resolve the token proxy host '{}': {e}",
                                settings.host
                            ),
                        )
                    })?
                    .collect();
                builder = builder.resolve_to_addrs(sni, &addrs);
            }
            let client = builder.build().map_err(|e| {
                Error::invalid_configuration(
                    "",
                    format!("The token proxy client could not be built: {e}"),
                )
            })?;
            Ok(ReqwestClient::from_client(client))
        }

        /// The async client of the proxy.
        pub(crate) struct AsyncProxyClient(pub(crate) Rebuilding<ReqwestClient>);

        impl fmt::Debug for AsyncProxyClient {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("AsyncProxyClient")
                    .field("proxy", &self.0.settings().origin)
                    .finish_non_exhaustive()
            }
        }

        impl AsyncHttpClient for AsyncProxyClient {
            fn send<'a>(
                &'a self,
                request: &'a Request,
            ) -> BoxFuture<'a, std::result::Result<Response, TransportError>> {
                Box::pin(async move {
                    let client = self.0.client_for_send()?;
                    let mut rewritten = request.clone();
                    rewritten.url = self.0.settings().request_url(&request.url);
                    client.send(&rewritten).await
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::env::MapEnv;

    fn settings(env: MapEnv) -> Result<Option<ProxySettings>> {
        settings_from_env(&env)
    }

    #[test]
    fn parsing_and_validation() {
        assert_eq!(settings(MapEnv::new()).unwrap(), None);
        let e = settings(MapEnv::new().with(SNI_NAME, "x")).unwrap_err();
        assert_eq!(
            e.message(),
            "AZURE_KUBERNETES_TOKEN_PROXY is not set but other custom endpoint-related environment variables are present."
        );
        let e = settings(
            MapEnv::new()
                .with(TOKEN_PROXY, "https://p")
                .with(CA_FILE, "/f")
                .with(CA_DATA, "d"),
        )
        .unwrap_err();
        assert!(e.message().contains("both set"));
        for bad in [
            "http://p",
            "https://user:pw@p",
            "https://p/x?q=1",
            "https://p#f",
            "https://",
            "https://p:port",
        ] {
            let e = settings(MapEnv::new().with(TOKEN_PROXY, bad)).unwrap_err();
            assert!(
                e.message().starts_with("AZURE_KUBERNETES_TOKEN_PROXY '"),
                "{bad}: {e}"
            );
        }
        let s = settings(
            MapEnv::new()
                .with(TOKEN_PROXY, "https://10.0.0.1:8443/proxy/")
                .with(SNI_NAME, "token.aks.internal")
                .with(CA_DATA, "pem"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.origin, "https://10.0.0.1:8443");
        assert_eq!(s.path, "/proxy");
        assert_eq!((s.host.as_str(), s.port), ("10.0.0.1", 8443));
        assert_eq!(s.ca, CaSource::Data("pem".into()));
        let s = settings(MapEnv::new().with(TOKEN_PROXY, "https://[fd00::1]"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.path.as_str()),
            ("fd00::1", 443, "")
        );
        assert_eq!(s.ca, CaSource::System);
    }

    #[test]
    fn rewriting() {
        let s = settings(
            MapEnv::new()
                .with(TOKEN_PROXY, "https://10.0.0.1:8443/proxy")
                .with(SNI_NAME, "token.aks.internal"),
        )
        .unwrap()
        .unwrap();
        let url = "https://login.microsoftonline.com/t/oauth2/v2.0/token?x=1";
        assert_eq!(
            s.rewrite(url),
            "https://10.0.0.1:8443/proxy/t/oauth2/v2.0/token?x=1"
        );
        // Not rewritten twice.
        assert_eq!(s.rewrite(&s.rewrite(url)), s.rewrite(url));
        assert_eq!(
            s.request_url(url),
            "https://token.aks.internal:8443/proxy/t/oauth2/v2.0/token?x=1"
        );
        let plain = settings(MapEnv::new().with(TOKEN_PROXY, "https://p.example"))
            .unwrap()
            .unwrap();
        assert_eq!(
            plain.request_url("https://login.microsoftonline.com/t/oauth2/v2.0/token"),
            "https://p.example/t/oauth2/v2.0/token"
        );
        // A prefix of the proxy path is not the proxy path.
        assert_eq!(
            s.rewrite("https://10.0.0.1:8443/proxyother/x"),
            "https://10.0.0.1:8443/proxy/proxyother/x"
        );
    }

    #[test]
    fn ca_file_checks() {
        let e = read_ca_file(Path::new("/nonexistent/sp/ca.pem")).unwrap_err();
        assert!(
            e.message()
                .starts_with("Failed to read CA file (/nonexistent/sp/ca.pem)")
        );
        let path = std::env::temp_dir().join(format!("sp-empty-ca-{}", std::process::id()));
        std::fs::write(&path, "\n").unwrap();
        let e = read_ca_file(&path).unwrap_err();
        assert!(e.message().starts_with("CA file ("), "{e}");
        assert!(e.message().contains("is empty"));
        let _ = std::fs::remove_file(&path);
    }
}
