//! VisualStudioCodeCredential, as PROTOCOL.md §5.13 describes the current behaviour: VS Code's
//! sign-in is reused only through the OS authentication broker (WAM). This library has no broker
//! binding, so the credential is always unavailable; it says why, after checking what it can.

use identity_core::env::{Env, SystemEnv};
use identity_core::validate::validate_tenant_id;
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, Result, TokenCredential, TokenRequest,
};
use std::path::PathBuf;
use std::sync::Arc;

const NAME: &str = "VisualStudioCodeCredential";
/// The client id of the VS Code Azure Resources extension.
pub const VSCODE_CLIENT_ID: &str = "aebc6443-996d-45c2-90f0-388ff96faa56";
const MAX_RECORD: u64 = 10 * 1024;

/// Always unavailable, with the reason: the VS Code Azure Resources extension's sign-in can be
/// reused only through the Windows authentication broker, which this library does not bind.
/// Use [`AzureCliCredential`](crate::AzureCliCredential) on a developer machine instead.
#[derive(Debug, Clone)]
pub struct VisualStudioCodeCredential {
    env: Arc<dyn Env>,
}

impl Default for VisualStudioCodeCredential {
    fn default() -> Self {
        Self::new(Arc::new(SystemEnv))
    }
}

impl VisualStudioCodeCredential {
    /// A credential reading `HOME` from `env`.
    pub fn new(env: Arc<dyn Env>) -> Self {
        Self { env }
    }

    fn record_paths(&self) -> Vec<PathBuf> {
        let Some(home) = self.env.non_empty("HOME").map(PathBuf::from) else {
            return Vec::new();
        };
        [".azure", ".Azure"]
            .iter()
            .map(|d| {
                home.join(d)
                    .join("ms-azuretools.vscode-azureresourcegroups/authRecord.json")
            })
            .collect()
    }

    /// Why no token can be had here.
    fn reason(&self) -> Error {
        let Some(path) = self.record_paths().into_iter().find(|p| p.is_file()) else {
            return Error::unavailable(
                NAME,
                "VisualStudioCodeCredential authentication unavailable. No authentication record of the Visual Studio Code Azure Resources extension was found (~/.azure/ms-azuretools.vscode-azureresourcegroups/authRecord.json); sign in with that extension, or use AzureCliCredential (`az login`).",
            );
        };
        let invalid = |why: &str| {
            Error::unavailable(
                NAME,
                format!(
                    "VisualStudioCodeCredential authentication unavailable. The authentication record {} is invalid: {why}.",
                    path.display()
                ),
            )
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_RECORD => return invalid("it is larger than 10 KiB"),
            Ok(_) => {}
            Err(e) => return invalid(&e.to_string()),
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            return invalid("it is not readable UTF-8");
        };
        let Ok(serde_json::Value::Object(record)) = serde_json::from_str(&text) else {
            return invalid("it is not a JSON object");
        };
        let field = |name: &str| {
            record
                .get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        for name in [
            "tenantId",
            "clientId",
            "username",
            "homeAccountId",
            "authority",
        ] {
            if field(name).is_none() {
                return invalid(&format!("'{name}' is missing or empty"));
            }
        }
        if field("tenantId").is_some_and(|t| validate_tenant_id(t).is_err()) {
            return invalid("'tenantId' is not a valid tenant id");
        }
        if field("clientId") != Some(VSCODE_CLIENT_ID) {
            return invalid(&format!(
                "'clientId' is not the Azure Resources extension's ({VSCODE_CLIENT_ID})"
            ));
        }
        Error::unavailable(
            NAME,
            "VisualStudioCodeCredential authentication unavailable. Visual Studio Code's sign-in can be reused only through the Microsoft authentication broker (WAM), which is available on Windows and is not supported by this library. Use AzureCliCredential (`az login`) or AzureDeveloperCliCredential (`azd auth login`) instead.",
        )
    }
}

impl BlockingTokenCredential for VisualStudioCodeCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        request.validate().map_err(|e| e.with_credential(NAME))?;
        Err(self.reason())
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl TokenCredential for VisualStudioCodeCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move { self.get_token_blocking(request) })
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;
    use identity_core::env::MapEnv;

    fn home_with(record: Option<&str>) -> (PathBuf, VisualStudioCodeCredential) {
        let home = std::env::temp_dir().join(format!(
            "vscode-cred-{}-{}",
            std::process::id(),
            identity_core::random::u64()
        ));
        let dir = home.join(".azure/ms-azuretools.vscode-azureresourcegroups");
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(r) = record {
            std::fs::write(dir.join("authRecord.json"), r).unwrap();
        }
        let env = MapEnv::new().with("HOME", home.to_string_lossy());
        (home.clone(), VisualStudioCodeCredential::new(Arc::new(env)))
    }

    fn message(record: Option<&str>) -> String {
        let (home, cred) = home_with(record);
        let e = cred
            .get_token_blocking(&"https://x/.default".into())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        std::fs::remove_dir_all(home).ok();
        e.message().to_owned()
    }

    #[test]
    fn always_unavailable_with_the_reason() {
        assert!(message(None).contains("No authentication record"));
        assert!(message(Some("not json")).contains("not a JSON object"));
        assert!(message(Some(r#"{"tenantId":"t"}"#)).contains("'clientId' is missing"));
        let wrong_client =
            r#"{"tenantId":"t","clientId":"x","username":"u","homeAccountId":"h","authority":"a"}"#;
        assert!(message(Some(wrong_client)).contains("Azure Resources extension's"));
        let good = format!(
            r#"{{"tenantId":"t","clientId":"{VSCODE_CLIENT_ID}","username":"u","homeAccountId":"h","authority":"login.microsoftonline.com"}}"#
        );
        assert!(message(Some(&good)).contains("broker (WAM)"));
        assert!(message(Some(&" ".repeat(11 * 1024))).contains("larger than 10 KiB"));
    }
}
