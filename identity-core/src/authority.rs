//! Authority hosts (PROTOCOL.md §2.1): the `https` rule, sovereign clouds, `AZURE_AUTHORITY_HOST`.

use crate::env::Env;
use crate::error::{Error, Result};

/// The Microsoft Entra authority hosts of the national clouds, as `https://` URLs.
#[derive(Debug, Clone, Copy)]
pub struct AzureAuthorityHosts;

impl AzureAuthorityHosts {
    /// The global Azure cloud.
    pub const AZURE_PUBLIC_CLOUD: &'static str = "https://login.microsoftonline.com";
    /// Azure operated by 21Vianet (China).
    pub const AZURE_CHINA: &'static str = "https://login.chinacloudapi.cn";
    /// Azure US Government.
    pub const AZURE_GOVERNMENT: &'static str = "https://login.microsoftonline.us";
}

/// The hosts MSAL treats as well known: no instance discovery is needed for them.
pub const WELL_KNOWN_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "login.microsoftonline.de",
    "login-us.microsoftonline.com",
    "login.microsoftonline.us",
    "login.usgovcloudapi.net",
    "login.sovcloud-identity.fr",
    "login.sovcloud-identity.de",
    "login.sovcloud-identity.sg",
];

/// The environment variable that overrides the default authority host.
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";

/// Normalises an authority: a value without a URL scheme gets `https://`; any scheme other
/// than `https` (compared case-insensitively) is rejected; trailing spaces and `/` are removed.
///
/// As with a generic URL parser, `localhost:8443` has the scheme `localhost` and is rejected;
/// write `https://localhost:8443`.
///
/// ```
/// use identity_core::authority::normalize_authority;
/// assert_eq!(normalize_authority("login.microsoftonline.us/").unwrap(), "https://login.microsoftonline.us");
/// assert!(normalize_authority("http://localhost").is_err());
/// ```
pub fn normalize_authority(authority: &str) -> Result<String> {
    let trimmed = authority.trim_end_matches([' ', '/']);
    match url_scheme(authority) {
        None => Ok(format!("https://{trimmed}")),
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => Ok(trimmed.to_owned()),
        Some(_) => Err(Error::invalid_configuration(
            "",
            format!(
                "'{authority}' is an invalid authority. The value must be a TLS protected (https) URL."
            ),
        )),
    }
}

/// The scheme a generic URL parser would see: letters first, then letters, digits, `+ - .`,
/// up to the first `:`.
fn url_scheme(value: &str) -> Option<&str> {
    let (candidate, _) = value.split_once(':')?;
    let mut bytes = candidate.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(candidate)
}

/// The authority to use: an explicit one if given and non-empty, else `AZURE_AUTHORITY_HOST`
/// (present even if empty), else the public cloud.
pub fn authority_host(explicit: Option<&str>, env: &dyn Env) -> Result<String> {
    match explicit.filter(|a| !a.is_empty()) {
        Some(a) => normalize_authority(a),
        None => match env.var(AZURE_AUTHORITY_HOST) {
            Some(a) => normalize_authority(&a),
            None => Ok(AzureAuthorityHosts::AZURE_PUBLIC_CLOUD.to_owned()),
        },
    }
}

/// The host part of a normalised authority (`https://host[:port][/path]` → `host[:port]`).
pub fn host_of(authority: &str) -> &str {
    let rest = authority
        .split_once("://")
        .map_or(authority, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// True when MSAL knows the host without instance discovery.
pub fn is_well_known(authority: &str) -> bool {
    let host = host_of(authority);
    WELL_KNOWN_HOSTS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(host))
}

/// The Azure Resource Manager scope for a cloud, used when `authenticate()` is called without
/// scopes; `None` for other authorities.
pub fn default_arm_scope(authority: &str) -> Option<&'static str> {
    match host_of(authority).to_ascii_lowercase().as_str() {
        "login.microsoftonline.com" => Some("https://management.core.windows.net//.default"),
        "login.chinacloudapi.cn" => Some("https://management.core.chinacloudapi.cn//.default"),
        "login.microsoftonline.us" => Some("https://management.core.usgovcloudapi.net//.default"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn normalisation() {
        let ok = [
            (
                "login.microsoftonline.com",
                "https://login.microsoftonline.com",
            ),
            (
                "https://login.microsoftonline.com/",
                "https://login.microsoftonline.com",
            ),
            ("HTTPS://Login.Example.com//  ", "HTTPS://Login.Example.com"),
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
            // No scheme: a parser sees none before a digit.
            ("127.0.0.1:8443", "https://127.0.0.1:8443"),
            ("", "https://"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize_authority(input).unwrap(), want, "{input}");
        }
        for bad in [
            "http://login.microsoftonline.com",
            "localhost:8443",
            "ftp://x",
            "Http://x",
        ] {
            let e = normalize_authority(bad).unwrap_err();
            assert_eq!(
                e.message(),
                format!(
                    "'{bad}' is an invalid authority. The value must be a TLS protected (https) URL."
                )
            );
        }
    }

    #[test]
    fn from_env() {
        let env = MapEnv::new();
        assert_eq!(
            authority_host(None, &env).unwrap(),
            AzureAuthorityHosts::AZURE_PUBLIC_CLOUD
        );
        let env = MapEnv::new().with(AZURE_AUTHORITY_HOST, "login.chinacloudapi.cn");
        assert_eq!(
            authority_host(None, &env).unwrap(),
            AzureAuthorityHosts::AZURE_CHINA
        );
        assert_eq!(
            authority_host(Some(""), &env).unwrap(),
            AzureAuthorityHosts::AZURE_CHINA
        );
        assert_eq!(
            authority_host(Some("https://login.microsoftonline.us/"), &env).unwrap(),
            AzureAuthorityHosts::AZURE_GOVERNMENT
        );
        // Present but empty is not unset.
        let env = MapEnv::new().with(AZURE_AUTHORITY_HOST, "");
        assert_eq!(authority_host(None, &env).unwrap(), "https://");
    }

    #[test]
    fn hosts_and_arm_scopes() {
        assert!(is_well_known("https://login.microsoftonline.com"));
        assert!(is_well_known("https://LOGIN.windows.net/"));
        assert!(!is_well_known("https://127.0.0.1:8443"));
        assert_eq!(host_of("https://127.0.0.1:8443/x"), "127.0.0.1:8443");
        assert_eq!(
            default_arm_scope(AzureAuthorityHosts::AZURE_PUBLIC_CLOUD),
            Some("https://management.core.windows.net//.default")
        );
        assert_eq!(
            default_arm_scope(AzureAuthorityHosts::AZURE_CHINA),
            Some("https://management.core.chinacloudapi.cn//.default")
        );
        assert_eq!(
            default_arm_scope(AzureAuthorityHosts::AZURE_GOVERNMENT),
            Some("https://management.core.usgovcloudapi.net//.default")
        );
        assert_eq!(default_arm_scope("https://127.0.0.1:1"), None);
    }
}
