//! Source detection (PROTOCOL.md §6.1).

use identity_core::env::Env;
use std::fmt;

/// The hosting environment a [`ManagedIdentityCredential`](crate::ManagedIdentityCredential)
/// talks to, as detected from the environment variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentitySource {
    /// Service Fabric: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`.
    ServiceFabric,
    /// App Service, Azure Functions, Container Apps: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    AppService,
    /// Azure Arc: `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`.
    AzureArc,
    /// Cloud Shell: `MSI_ENDPOINT` without `MSI_SECRET`.
    CloudShell,
    /// Azure Machine Learning (and the legacy App Service pair): `MSI_ENDPOINT` + `MSI_SECRET`.
    AzureMl,
    /// The Azure Instance Metadata Service (VMs, VM scale sets, AKS, ACI); the fallback.
    Imds,
    /// `IDENTITY_ENDPOINT` is set but nothing else identifies the platform.
    Unknown,
}

impl ManagedIdentitySource {
    /// The name used in messages: `App Service`, `Azure Arc`, …
    pub fn display_name(self) -> &'static str {
        match self {
            Self::ServiceFabric => "Service Fabric",
            Self::AppService => "App Service",
            Self::AzureArc => "Azure Arc",
            Self::CloudShell => "Cloud Shell",
            Self::AzureMl => "Azure ML",
            Self::Imds => "IMDS",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ManagedIdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The detected source with the values it needs. Secret values (`IDENTITY_HEADER`,
/// `MSI_SECRET`) are redacted in `Debug`.
#[derive(Clone)]
pub(crate) enum Detected {
    ServiceFabric {
        endpoint: String,
        header: identity_core::Secret,
        thumbprint: String,
    },
    AppService {
        endpoint: String,
        header: identity_core::Secret,
    },
    AzureArc {
        endpoint: String,
    },
    CloudShell {
        endpoint: String,
    },
    AzureMl {
        endpoint: String,
        secret: identity_core::Secret,
    },
    Imds {
        base: String,
        /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` is present (even empty): never probe.
        overridden: bool,
    },
    Unknown,
}

/// The default IMDS address.
pub(crate) const IMDS_DEFAULT_BASE: &str = "http://169.254.169.254";

impl Detected {
    pub(crate) fn kind(&self) -> ManagedIdentitySource {
        match self {
            Self::ServiceFabric { .. } => ManagedIdentitySource::ServiceFabric,
            Self::AppService { .. } => ManagedIdentitySource::AppService,
            Self::AzureArc { .. } => ManagedIdentitySource::AzureArc,
            Self::CloudShell { .. } => ManagedIdentitySource::CloudShell,
            Self::AzureMl { .. } => ManagedIdentitySource::AzureMl,
            Self::Imds { .. } => ManagedIdentitySource::Imds,
            Self::Unknown => ManagedIdentitySource::Unknown,
        }
    }

    /// First match wins; "set" means non-empty. Step 3 of §6.1 (workload identity) is not
    /// done here: the chain puts WorkloadIdentityCredential before this credential.
    pub(crate) fn detect(env: &dyn Env) -> Self {
        let get = |name: &str| env.non_empty(name);
        if let Some(endpoint) = get("IDENTITY_ENDPOINT") {
            return match (
                get("IDENTITY_HEADER"),
                get("IDENTITY_SERVER_THUMBPRINT"),
                get("IMDS_ENDPOINT"),
            ) {
                (Some(header), Some(thumbprint), _) => Self::ServiceFabric {
                    endpoint,
                    header: header.into(),
                    thumbprint,
                },
                (Some(header), None, _) => Self::AppService {
                    endpoint,
                    header: header.into(),
                },
                (None, _, Some(_)) => Self::AzureArc { endpoint },
                _ => Self::Unknown,
            };
        }
        if let Some(endpoint) = get("MSI_ENDPOINT") {
            return match get("MSI_SECRET") {
                Some(secret) => Self::AzureMl {
                    endpoint,
                    secret: secret.into(),
                },
                None => Self::CloudShell { endpoint },
            };
        }
        match env.var("AZURE_POD_IDENTITY_AUTHORITY_HOST") {
            Some(host) => {
                let trimmed = host.trim_matches('/');
                Self::Imds {
                    base: if trimmed.is_empty() {
                        IMDS_DEFAULT_BASE.to_owned()
                    } else {
                        trimmed.to_owned()
                    },
                    overridden: true,
                }
            }
            None => Self::Imds {
                base: IMDS_DEFAULT_BASE.to_owned(),
                overridden: false,
            },
        }
    }
}

impl fmt::Debug for Detected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Source");
        s.field("kind", &self.kind());
        match self {
            Self::ServiceFabric {
                endpoint,
                thumbprint,
                ..
            } => {
                s.field("endpoint", endpoint)
                    .field("thumbprint", thumbprint);
            }
            Self::AppService { endpoint, .. }
            | Self::AzureArc { endpoint }
            | Self::CloudShell { endpoint }
            | Self::AzureMl { endpoint, .. } => {
                s.field("endpoint", endpoint);
            }
            Self::Imds { base, overridden } => {
                s.field("base", base).field("overridden", overridden);
            }
            Self::Unknown => {}
        }
        s.finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::env::MapEnv;

    fn kind(pairs: &[(&str, &str)]) -> ManagedIdentitySource {
        let env: MapEnv = pairs.iter().copied().collect();
        Detected::detect(&env).kind()
    }

    #[test]
    fn detection_order() {
        use ManagedIdentitySource as S;
        let e = ("IDENTITY_ENDPOINT", "http://e");
        let h = ("IDENTITY_HEADER", "h");
        let t = ("IDENTITY_SERVER_THUMBPRINT", "ab");
        let i = ("IMDS_ENDPOINT", "http://i");
        let m = ("MSI_ENDPOINT", "http://m");
        let s = ("MSI_SECRET", "s");
        assert_eq!(kind(&[e, h, t, i, m, s]), S::ServiceFabric);
        assert_eq!(kind(&[e, h, i, m]), S::AppService);
        assert_eq!(kind(&[e, i, m]), S::AzureArc);
        assert_eq!(kind(&[e, m, s]), S::Unknown);
        assert_eq!(kind(&[m, s]), S::AzureMl);
        assert_eq!(kind(&[m]), S::CloudShell);
        assert_eq!(kind(&[]), S::Imds);
        // Empty values are unset.
        assert_eq!(kind(&[("IDENTITY_ENDPOINT", ""), h, m]), S::CloudShell);
        assert_eq!(kind(&[e, ("IDENTITY_HEADER", ""), i]), S::AzureArc);
        assert_eq!(kind(&[m, ("MSI_SECRET", "")]), S::CloudShell);
    }

    #[test]
    fn pod_identity_override() {
        let env = MapEnv::new().with(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            "/http://10.0.0.1:8080/",
        );
        match Detected::detect(&env) {
            Detected::Imds { base, overridden } => {
                assert_eq!(base, "http://10.0.0.1:8080");
                assert!(overridden);
            }
            other => panic!("{other:?}"),
        }
        let env = MapEnv::new().with("AZURE_POD_IDENTITY_AUTHORITY_HOST", "");
        assert!(matches!(
            Detected::detect(&env),
            Detected::Imds { overridden: true, ref base } if base == IMDS_DEFAULT_BASE
        ));
    }

    #[test]
    fn debug_hides_secrets() {
        let env = MapEnv::new()
            .with("IDENTITY_ENDPOINT", "http://e")
            .with("IDENTITY_HEADER", "planted-header-secret");
        let dbg = format!("{:?}", Detected::detect(&env));
        assert!(!dbg.contains("planted-header-secret"), "{dbg}");
        assert!(dbg.contains("AppService"));
    }
}
