//! Validation of tenants, scopes and subscriptions, scope → resource conversion and tenant
//! resolution (PROTOCOL.md §2.2–2.4).

use crate::error::{Error, Result};

/// The message for an invalid tenant id.
pub const INVALID_TENANT_MESSAGE: &str = "Invalid tenant ID provided. You can locate your tenant ID by following the instructions here: https://learn.microsoft.com/partner-center/find-ids-and-domain-names";

/// The message for an invalid scope.
pub const INVALID_SCOPE_MESSAGE: &str = "An invalid scope was provided. Only alphanumeric characters, '.', '-', '_', ':', and '/' are allowed.";

/// Checks a tenant id: non-empty, ASCII letters, digits, `-` and `.` only.
///
/// ```
/// use identity_core::validate::validate_tenant_id;
/// assert!(validate_tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
/// assert!(validate_tenant_id("contoso.onmicrosoft.com").is_ok());
/// assert!(validate_tenant_id("bad tenant").is_err());
/// ```
pub fn validate_tenant_id(tenant: &str) -> Result<()> {
    if !tenant.is_empty()
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        Ok(())
    } else {
        Err(Error::invalid_configuration("", INVALID_TENANT_MESSAGE))
    }
}

/// Checks a scope for the tool credentials (which pass it to a subprocess): non-empty and only
/// ASCII letters, digits, `_ - . : /`.
pub fn validate_scope(scope: &str) -> Result<()> {
    if !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
    {
        Ok(())
    } else {
        Err(Error::invalid_request("", INVALID_SCOPE_MESSAGE))
    }
}

/// Checks an Azure CLI subscription name or id: non-empty; letters, digits, `_ - .` and spaces.
pub fn validate_subscription(subscription: &str) -> Result<()> {
    if !subscription.is_empty()
        && subscription
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
    {
        Ok(())
    } else {
        Err(Error::invalid_configuration(
            "",
            format!(
                "Invalid subscription '{subscription}' provided. A subscription name may hold only alphanumeric characters, '.', '-', '_' and spaces; use the subscription ID instead (`az account list --output table` lists them)."
            ),
        ))
    }
}

/// Converts the scopes of a request to a v1 resource, as managed identity, the Azure CLI and
/// PowerShell need: exactly one scope, with a trailing `/.default` removed.
///
/// ```
/// use identity_core::validate::scope_to_resource;
/// assert_eq!(scope_to_resource(&["https://vault.azure.net/.default"]).unwrap(), "https://vault.azure.net");
/// assert_eq!(scope_to_resource(&["https://x//.default"]).unwrap(), "https://x/");
/// assert!(scope_to_resource(&["a", "b"]).is_err());
/// ```
pub fn scope_to_resource<S: AsRef<str>>(scopes: &[S]) -> Result<String> {
    match scopes {
        [scope] => {
            let scope = scope.as_ref();
            Ok(scope.strip_suffix("/.default").unwrap_or(scope).to_owned())
        }
        _ => Err(Error::invalid_request(
            "",
            "This credential requires exactly one scope per token request.",
        )),
    }
}

/// Which tenant a request goes to (PROTOCOL.md §2.3).
///
/// `configured` is the credential's tenant (empty for the tool credentials when none is set),
/// `requested` the request's tenant, `additionally_allowed` the credential's allow-list, and
/// `multitenant_disabled` whether `AZURE_IDENTITY_DISABLE_MULTITENANTAUTH` is set to a
/// non-empty value.
///
/// ```
/// use identity_core::validate::resolve_tenant;
/// assert_eq!(resolve_tenant("home", None, &[], false).unwrap(), "home");
/// assert_eq!(resolve_tenant("home", Some("other"), &["*".into()], false).unwrap(), "other");
/// assert!(resolve_tenant("home", Some("other"), &[], false).is_err());
/// ```
pub fn resolve_tenant(
    configured: &str,
    requested: Option<&str>,
    additionally_allowed: &[String],
    multitenant_disabled: bool,
) -> Result<String> {
    let Some(requested) = requested else {
        return Ok(configured.to_owned());
    };
    if requested == configured {
        return Ok(configured.to_owned());
    }
    if configured == "adfs" || multitenant_disabled {
        tracing::info!(
            "a token was requested for tenant {requested}, but the credential is pinned to its configured tenant {configured}"
        );
        return Ok(configured.to_owned());
    }
    if configured.is_empty()
        || additionally_allowed
            .iter()
            .any(|t| t == "*" || t == requested)
        || (additionally_allowed.is_empty() && configured == "organizations")
    {
        return Ok(requested.to_owned());
    }
    Err(Error::authentication(
        "",
        format!(
            "The current credential is not configured to acquire tokens for tenant {requested}. To enable acquiring tokens for this tenant add it to the additionally_allowed_tenants when creating the credential, or add \"*\" to additionally_allowed_tenants to allow acquiring tokens for any tenant."
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn tenant_ids() {
        for ok in [
            "organizations",
            "a-b.c",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "adfs",
        ] {
            assert!(validate_tenant_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "tenant;rm", "ténant", "a_b", "a\nb"] {
            let e = validate_tenant_id(bad).unwrap_err();
            assert_eq!(e.message(), INVALID_TENANT_MESSAGE);
            assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
        }
    }

    #[test]
    fn scopes() {
        for ok in [
            "https://management.azure.com/.default",
            "api://abc_d-e/.default",
            "https://x//.default",
        ] {
            assert!(validate_scope(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "https://x/.default;rm -rf",
            "a\"b",
            "a'b",
            "a$b",
            "a\nb",
        ] {
            assert_eq!(
                validate_scope(bad).unwrap_err().message(),
                INVALID_SCOPE_MESSAGE,
                "{bad}"
            );
        }
        // A leading '-' passes the character rule of PROTOCOL.md §2.4; a tool credential must
        // reject it itself (or pass `--flag=value`) so that a scope cannot become an option.
        assert!(validate_scope("--tenant").is_ok());
    }

    #[test]
    fn subscriptions() {
        assert!(validate_subscription("My Subscription_1.0-a").is_ok());
        assert!(validate_subscription("0b1f6471-1bf0-4dda-aec3-111122223333").is_ok());
        for bad in ["", "a;b", "a'b", "a\"b", "a&b", "a\tb"] {
            let e = validate_subscription(bad).unwrap_err();
            assert!(e.message().contains("subscription ID"), "{bad}");
        }
    }

    #[test]
    fn scope_to_resource_rules() {
        assert_eq!(
            scope_to_resource(&["https://management.azure.com/.default"]).unwrap(),
            "https://management.azure.com"
        );
        assert_eq!(
            scope_to_resource(&["https://x//.default"]).unwrap(),
            "https://x/"
        );
        assert_eq!(scope_to_resource(&["https://x"]).unwrap(), "https://x");
        assert_eq!(scope_to_resource(&["/.default"]).unwrap(), "");
        let e = scope_to_resource::<&str>(&[]).unwrap_err();
        assert_eq!(
            e.message(),
            "This credential requires exactly one scope per token request."
        );
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(scope_to_resource(&["a", "b"]).is_err());
    }

    #[test]
    fn tenant_resolution() {
        let none: &[String] = &[];
        let star = &["*".to_owned()];
        let listed = &["t2".to_owned()];
        assert_eq!(resolve_tenant("d", None, none, false).unwrap(), "d");
        assert_eq!(resolve_tenant("d", Some("d"), none, false).unwrap(), "d");
        // An empty requested tenant is a value, not absence.
        assert!(resolve_tenant("d", Some(""), none, false).is_err());
        assert_eq!(
            resolve_tenant("adfs", Some("x"), none, false).unwrap(),
            "adfs"
        );
        // "adfs" is compared case-sensitively here.
        assert!(resolve_tenant("ADFS", Some("x"), none, false).is_err());
        assert_eq!(resolve_tenant("d", Some("x"), star, true).unwrap(), "d");
        assert_eq!(resolve_tenant("", Some("x"), none, false).unwrap(), "x");
        assert_eq!(resolve_tenant("d", Some("x"), star, false).unwrap(), "x");
        assert_eq!(
            resolve_tenant("d", Some("t2"), listed, false).unwrap(),
            "t2"
        );
        assert!(resolve_tenant("d", Some("t3"), listed, false).is_err());
        assert_eq!(
            resolve_tenant("organizations", Some("x"), none, false).unwrap(),
            "x"
        );
        assert!(resolve_tenant("organizations", Some("x"), listed, false).is_err());
        let e = resolve_tenant("d", Some("x"), none, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().starts_with(
            "The current credential is not configured to acquire tokens for tenant x."
        ));
    }
}
