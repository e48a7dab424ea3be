//! [`AuthenticationRecord`] (PROTOCOL.md §10.6).

use identity_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The versions of the serialised record this crate reads.
const SUPPORTED_VERSIONS: [&str; 1] = ["1.0"];

/// The account a user signed in with: no secret, safe to store. Its JSON is the one every Azure
/// Identity library reads and writes:
/// `{"authority": "…", "clientId": "…", "homeAccountId": "uid.utid", "tenantId": "…", "username": "…", "version": "1.0"}`.
///
/// ```
/// use identity_interactive::AuthenticationRecord;
/// let json = r#"{"authority":"login.microsoftonline.com","clientId":"c","homeAccountId":"u.t","tenantId":"t","username":"a@b","version":"1.0"}"#;
/// let record = AuthenticationRecord::from_json(json).unwrap();
/// assert_eq!(record.username(), "a@b");
/// assert_eq!(AuthenticationRecord::from_json(&record.to_json()).unwrap(), record);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationRecord {
    authority: String,
    client_id: String,
    home_account_id: String,
    tenant_id: String,
    username: String,
    version: String,
}

impl AuthenticationRecord {
    /// A record of version 1.0. `authority` is a host (`login.microsoftonline.com`).
    pub fn new(
        authority: impl Into<String>,
        client_id: impl Into<String>,
        home_account_id: impl Into<String>,
        tenant_id: impl Into<String>,
        username: impl Into<String>,
    ) -> Self {
        Self {
            authority: authority.into(),
            client_id: client_id.into(),
            home_account_id: home_account_id.into(),
            tenant_id: tenant_id.into(),
            username: username.into(),
            version: SUPPORTED_VERSIONS[0].to_owned(),
        }
    }

    /// The authority host, e.g. `login.microsoftonline.com`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The application (client) id that signed the user in.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `{object id}.{home tenant id}`.
    pub fn home_account_id(&self) -> &str {
        &self.home_account_id
    }

    /// The tenant the user signed in to.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The user name (UPN or e-mail).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The record format version (`1.0`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the JSON form; the version must be a supported one and all five fields present.
    pub fn from_json(json: &str) -> Result<Self> {
        let record: Self = serde_json::from_str(json).map_err(|e| {
            Error::invalid_configuration(
                "AuthenticationRecord",
                format!(
                    "Not a valid authentication record ({e}); it needs authority, clientId, homeAccountId, tenantId, username and version."
                ),
            )
        })?;
        if !SUPPORTED_VERSIONS.contains(&record.version.as_str()) {
            return Err(Error::invalid_configuration(
                "AuthenticationRecord",
                format!(
                    "Unexpected version \"{}\". This package supports these versions: {}",
                    record.version,
                    SUPPORTED_VERSIONS.join(", ")
                ),
            ));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_version() {
        let r = AuthenticationRecord::new("h", "c", "u.t", "t", "a@b");
        assert_eq!(
            r.to_json(),
            r#"{"authority":"h","clientId":"c","homeAccountId":"u.t","tenantId":"t","username":"a@b","version":"1.0"}"#
        );
        assert_eq!(AuthenticationRecord::from_json(&r.to_json()).unwrap(), r);
        let e = AuthenticationRecord::from_json(
            r#"{"authority":"h","clientId":"c","homeAccountId":"u.t","tenantId":"t","username":"a@b","version":"2.0"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.message(),
            "Unexpected version \"2.0\". This package supports these versions: 1.0"
        );
        assert!(
            AuthenticationRecord::from_json(
                r#"{"authority":"h","clientId":"c","tenantId":"t","username":"a@b","version":"1.0"}"#
            )
            .is_err()
        );
    }
}
