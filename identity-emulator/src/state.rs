//! Shared emulator state, the request/response values handlers work on, and token minting.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use crate::jwt::SigningKey;
use crate::model::{Endpoint, Fault, RecordedRequest, Settings};
use crate::registry::{App, ManagedIdentity, Registry, User};
use crate::util;

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An incoming request, body read and parsed.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    /// Names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Parsed when the body is `application/x-www-form-urlencoded`.
    pub(crate) form: Vec<(String, String)>,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn form(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty form field.
    pub(crate) fn form_nonempty(&self, name: &str) -> Option<&str> {
        self.form(name).filter(|v| !v.is_empty())
    }

    /// Query parameter, else form field.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query(name).or_else(|| self.form(name))
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn json(status: u16, value: &Value) -> Self {
        Self::raw(
            status,
            "application/json; charset=utf-8",
            value.to_string().into_bytes(),
        )
    }

    pub(crate) fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    pub(crate) fn html(status: u16, body: String) -> Self {
        Self::raw(status, "text/html; charset=utf-8", body.into_bytes())
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub(crate) fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
    }
}

/// An authorization code handed out by `/authorize`.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) challenge: Option<(String, String)>,
    pub(crate) nonce: Option<String>,
    pub(crate) username: String,
    pub(crate) expires_at: i64,
    pub(crate) redeemed: bool,
}

/// A refresh token the emulator issued.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) expires_at: i64,
}

/// A device-code sign-in in progress.
#[derive(Debug, Clone)]
pub(crate) struct DeviceFlow {
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) tenant_id: String,
    pub(crate) user_code: String,
    pub(crate) expires_at: i64,
    pub(crate) polls: u32,
    pub(crate) approved_by: Option<String>,
    pub(crate) completed: bool,
}

/// Per-flow state.
#[derive(Debug, Default)]
pub(crate) struct Flows {
    pub(crate) auth_codes: HashMap<String, AuthCode>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) device_codes: HashMap<String, DeviceFlow>,
    pub(crate) seen_jti: HashMap<(String, String), i64>,
    pub(crate) arc_keys: HashSet<String>,
    /// Key files written by the emulated Arc agent (removed when the emulator stops).
    pub(crate) arc_key_files: Vec<PathBuf>,
}

/// The request log.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) next_seq: u64,
    pub(crate) entries: Vec<RecordedRequest>,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub(crate) key: SigningKey,
    /// `https://127.0.0.1:{https_port}`.
    pub(crate) entra_base: String,
    /// `http://127.0.0.1:{http_port}`.
    pub(crate) mi_base: String,
    pub(crate) app_service_header: String,
    pub(crate) azure_ml_secret: String,
    pub(crate) service_fabric_secret: String,
    pub(crate) arc_key_dir: PathBuf,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) settings: Mutex<Settings>,
    pub(crate) faults: Mutex<HashMap<Endpoint, VecDeque<Fault>>>,
    pub(crate) log: Mutex<Log>,
    pub(crate) flows: Mutex<Flows>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No secrets: the identity headers and the registry stay out of debug output.
        f.debug_struct("Shared")
            .field("entra_base", &self.entra_base)
            .field("mi_base", &self.mi_base)
            .finish_non_exhaustive()
    }
}

/// Reserved OpenID scopes.
pub(crate) const RESERVED_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];
/// Microsoft Graph, for bare scope names such as `User.Read`.
pub(crate) const GRAPH: &str = "https://graph.microsoft.com";

/// A parsed `scope` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scopes {
    /// The single resource (becomes `aud`).
    pub(crate) resource: String,
    /// Delegated scope names on that resource (`scp`), empty for `/.default`.
    pub(crate) names: Vec<String>,
    /// Whether `{resource}/.default` was used.
    pub(crate) default: bool,
    /// Reserved scopes present (`openid`, `offline_access`, …).
    pub(crate) reserved: Vec<String>,
}

/// Why a `scope` was rejected: (code, description).
pub(crate) type ScopeError = (u32, String);

/// Parses a space-separated `scope` value.
pub(crate) fn parse_scopes(scope: &str) -> Result<Scopes, ScopeError> {
    let mut resource: Option<String> = None;
    let mut names = Vec::new();
    let mut default = false;
    let mut reserved = Vec::new();
    for s in scope.split_whitespace() {
        if RESERVED_SCOPES.contains(&s) {
            reserved.push(s.to_owned());
            continue;
        }
        let (res, name) = if let Some(r) = s.strip_suffix("/.default") {
            default = true;
            (r.to_owned(), None)
        } else if let Some(idx) = s
            .rfind('/')
            .filter(|&i| i > 0 && !s[..i].ends_with('/') && i + 1 < s.len())
        {
            (s[..idx].to_owned(), Some(s[idx + 1..].to_owned()))
        } else if !s.contains('/') {
            (GRAPH.to_owned(), Some(s.to_owned()))
        } else {
            return Err((
                70011,
                format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope '{s}' is not valid."
                ),
            ));
        };
        if res.is_empty() {
            return Err((
                70011,
                format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope '{s}' is not valid."
                ),
            ));
        }
        match &resource {
            Some(existing) if !existing.eq_ignore_ascii_case(&res) => {
                return Err((
                    28000,
                    format!(
                        "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
                    ),
                ));
            }
            _ => resource = Some(res),
        }
        if let Some(n) = name {
            names.push(n);
        }
    }
    let resource = match resource {
        Some(r) => r,
        None if !reserved.is_empty() => {
            names.push("User.Read".to_owned());
            GRAPH.to_owned()
        }
        None => {
            return Err((
                900144,
                "The request body must contain the following parameter: 'scope'.".to_owned(),
            ));
        }
    };
    if default && !names.is_empty() {
        return Err((
            70011,
            format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. static scope limit exceeded."
            ),
        ));
    }
    Ok(Scopes {
        resource,
        names,
        default,
        reserved,
    })
}

impl Scopes {
    /// The `scp` claim value for user tokens.
    pub(crate) fn scp(&self) -> String {
        if self.names.is_empty() {
            "user_impersonation".to_owned()
        } else {
            self.names.join(" ")
        }
    }

    /// The `scope` field of a user-flow response: `{resource}/{name}…` plus reserved scopes.
    pub(crate) fn response_scope(&self) -> String {
        let mut out: Vec<String> = if self.default {
            vec![format!("{}/.default", self.resource)]
        } else {
            let sep = if self.resource.ends_with('/') {
                ""
            } else {
                "/"
            };
            self.names
                .iter()
                .map(|n| format!("{}{sep}{n}", self.resource))
                .collect()
        };
        for r in ["openid", "profile", "email", "offline_access"] {
            if self.reserved.iter().any(|x| x == r) {
                out.push(r.to_owned());
            }
        }
        out.join(" ")
    }
}

impl Shared {
    /// The emulator's clock (real time plus the configured offset).
    pub(crate) fn now(&self) -> i64 {
        util::unix_now() + lock(&self.settings).clock_offset_secs
    }

    pub(crate) fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// `{authority}/{tid}/v2.0`.
    pub(crate) fn issuer(&self, tid: &str) -> String {
        format!("{}/{tid}/v2.0", self.entra_base)
    }

    fn base_claims(&self, tid: &str, aud: &str, now: i64, lifetime: u64) -> Map<String, Value> {
        let mut c = Map::new();
        c.insert("aud".into(), json!(aud));
        c.insert("iss".into(), json!(self.issuer(tid)));
        c.insert("iat".into(), json!(now));
        c.insert("nbf".into(), json!(now));
        c.insert("exp".into(), json!(now + lifetime as i64));
        c.insert("tid".into(), json!(tid));
        c.insert("uti".into(), json!(util::random_token(16)));
        c.insert("ver".into(), json!("2.0"));
        c
    }

    /// An app-only access token (`idtyp: app`). `acr`: "1" secret, "2" certificate/assertion.
    pub(crate) fn mint_app_token(
        &self,
        app: &App,
        tid: &str,
        resource: &str,
        acr: &str,
        now: i64,
        lifetime: u64,
    ) -> String {
        let mut c = self.base_claims(tid, resource, now, lifetime);
        let oid = app.effective_object_id();
        c.insert("appid".into(), json!(app.client_id));
        c.insert("azp".into(), json!(app.client_id));
        c.insert("appidacr".into(), json!(acr));
        c.insert("azpacr".into(), json!(acr));
        c.insert("idtyp".into(), json!("app"));
        c.insert("oid".into(), json!(oid));
        c.insert("sub".into(), json!(oid));
        self.key.sign(&Value::Object(c))
    }

    /// A delegated (user) access token.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mint_user_token(
        &self,
        user: &User,
        client_id: &str,
        tid: &str,
        scopes: &Scopes,
        acr: &str,
        now: i64,
        lifetime: u64,
    ) -> String {
        let mut c = self.base_claims(tid, &scopes.resource, now, lifetime);
        let oid = user.effective_object_id();
        c.insert("appid".into(), json!(client_id));
        c.insert("azp".into(), json!(client_id));
        c.insert("appidacr".into(), json!(acr));
        c.insert("azpacr".into(), json!(acr));
        c.insert("idtyp".into(), json!("user"));
        c.insert("oid".into(), json!(oid));
        c.insert(
            "sub".into(),
            json!(util::uuid_from_name(&format!(
                "sub:{oid}:{}",
                scopes.resource
            ))),
        );
        c.insert("scp".into(), json!(scopes.scp()));
        c.insert("name".into(), json!(user.display_name));
        c.insert("preferred_username".into(), json!(user.username));
        c.insert("upn".into(), json!(user.username));
        self.key.sign(&Value::Object(c))
    }

    /// A managed-identity access token (v1 issuer, like the real ones).
    pub(crate) fn mint_mi_token(
        &self,
        mi: &ManagedIdentity,
        tid: &str,
        resource: &str,
        now: i64,
        lifetime: u64,
    ) -> String {
        let mut c = self.base_claims(tid, resource, now, lifetime);
        c.insert("iss".into(), json!(format!("{}/{tid}/", self.entra_base)));
        c.insert("ver".into(), json!("1.0"));
        c.insert("appid".into(), json!(mi.client_id));
        c.insert("appidacr".into(), json!("2"));
        c.insert("idtyp".into(), json!("app"));
        c.insert("oid".into(), json!(mi.object_id));
        c.insert("sub".into(), json!(mi.object_id));
        if !mi.resource_id.is_empty() {
            c.insert("xms_mirid".into(), json!(mi.resource_id));
        }
        self.key.sign(&Value::Object(c))
    }

    /// An ID token for a user sign-in.
    pub(crate) fn mint_id_token(
        &self,
        user: &User,
        client_id: &str,
        tid: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> String {
        let mut c = self.base_claims(tid, client_id, now, 3600);
        let oid = user.effective_object_id();
        c.remove("uti");
        c.insert("oid".into(), json!(oid));
        c.insert(
            "sub".into(),
            json!(util::uuid_from_name(&format!("sub:{oid}:{client_id}"))),
        );
        c.insert("name".into(), json!(user.display_name));
        c.insert("preferred_username".into(), json!(user.username));
        if let Some(n) = nonce {
            c.insert("nonce".into(), json!(n));
        }
        self.key.sign(&Value::Object(c))
    }

    /// A Kubernetes- or Pipelines-style federated token (ES256, our key).
    pub(crate) fn mint_federated_token(
        &self,
        issuer: &str,
        subject: &str,
        audience: &str,
        now: i64,
        lifetime: u64,
    ) -> String {
        let claims = json!({
            "iss": issuer,
            "sub": subject,
            "aud": [audience],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime as i64,
            "jti": util::uuid_v4(),
        });
        self.key.sign(&claims)
    }
}

/// `client_info`: base64url of `{"uid","utid"}`.
pub(crate) fn client_info(user: &User, tid: &str) -> String {
    util::b64url(
        json!({"uid": user.effective_object_id(), "utid": tid})
            .to_string()
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let s = parse_scopes("https://vault.azure.net/.default").unwrap();
        assert_eq!(s.resource, "https://vault.azure.net");
        assert!(s.default);
        assert_eq!(
            parse_scopes("https://x//.default").unwrap().resource,
            "https://x/"
        );
        let s = parse_scopes("api://abc/access_as_user openid offline_access profile").unwrap();
        assert_eq!(s.resource, "api://abc");
        assert_eq!(s.scp(), "access_as_user");
        assert_eq!(
            s.response_scope(),
            "api://abc/access_as_user openid profile offline_access"
        );
        assert_eq!(parse_scopes("User.Read").unwrap().resource, GRAPH);
        assert_eq!(
            parse_scopes("https://a/.default https://b/.default")
                .unwrap_err()
                .0,
            28000
        );
        assert_eq!(parse_scopes("").unwrap_err().0, 900144);
        assert_eq!(parse_scopes("openid").unwrap().resource, GRAPH);
    }
}
