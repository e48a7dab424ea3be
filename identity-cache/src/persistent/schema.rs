//! The MSAL token cache JSON schema (PROTOCOL.md §10.4), shared with MSAL-based tools (Azure
//! CLI, Azure PowerShell, other MSAL applications): the five maps, their key formats, their
//! entries, and the pure operations the credentials need (add a token response, find an access
//! token, list accounts and refresh tokens). Fields and sections this crate does not know are
//! kept, so another tool's data survives a round trip.

use base64::Engine as _;
use identity_core::protocol::entra::{TokenResponse, decode_jwt_claims_unverified};
use identity_core::{AccessToken, from_unix_seconds, unix_seconds};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Scopes MSAL adds to user requests and never writes into `target`.
const RESERVED_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// How long an access token must still be valid to be returned from the cache (§10.2).
pub const ACCESS_TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// Timestamps are strings of epoch seconds; other writers may use numbers: both are read.
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn parse_ts(s: Option<&str>) -> Option<i64> {
    s?.trim().parse::<i64>().ok()
}

/// An `AccessToken` entry.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccessTokenEntry {
    /// Always `AccessToken`.
    #[serde(default)]
    pub credential_type: String,
    /// The access token.
    #[serde(default)]
    pub secret: String,
    /// `{uid}.{utid}`; `null` for application tokens.
    #[serde(default)]
    pub home_account_id: Option<String>,
    /// The authority host, e.g. `login.microsoftonline.com`.
    #[serde(default)]
    pub environment: String,
    /// The application (client) id.
    #[serde(default)]
    pub client_id: String,
    /// The space-joined, sorted scopes.
    #[serde(default)]
    pub target: String,
    /// The tenant.
    #[serde(default)]
    pub realm: String,
    /// `Bearer` unless the service said otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// When the token was stored (epoch seconds, a string).
    #[serde(default, deserialize_with = "timestamp")]
    pub cached_at: Option<String>,
    /// When the token expires (epoch seconds, a string).
    #[serde(default, deserialize_with = "timestamp")]
    pub expires_on: Option<String>,
    /// The extended expiry (epoch seconds, a string).
    #[serde(default, deserialize_with = "timestamp")]
    pub extended_expires_on: Option<String>,
    /// When to refresh proactively (epoch seconds, a string).
    #[serde(
        default,
        deserialize_with = "timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_on: Option<String>,
    /// Proof-of-possession key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The extended cache key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_cache_key: Option<String>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `RefreshToken` entry.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefreshTokenEntry {
    /// Always `RefreshToken`.
    #[serde(default)]
    pub credential_type: String,
    /// The refresh token.
    #[serde(default)]
    pub secret: String,
    /// `{uid}.{utid}`.
    #[serde(default)]
    pub home_account_id: Option<String>,
    /// The authority host.
    #[serde(default)]
    pub environment: String,
    /// The application (client) id.
    #[serde(default)]
    pub client_id: String,
    /// The space-joined, sorted scopes it was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// When it was written (epoch seconds, a string).
    #[serde(
        default,
        deserialize_with = "timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modification_time: Option<String>,
    /// `"1"` for a family (FOCI) refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An `IdToken` entry.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdTokenEntry {
    /// Always `IdToken`.
    #[serde(default)]
    pub credential_type: String,
    /// The ID token (a JWT).
    #[serde(default)]
    pub secret: String,
    /// `{uid}.{utid}`.
    #[serde(default)]
    pub home_account_id: Option<String>,
    /// The authority host.
    #[serde(default)]
    pub environment: String,
    /// The tenant.
    #[serde(default)]
    pub realm: String,
    /// The application (client) id.
    #[serde(default)]
    pub client_id: String,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An `Account` entry (no secret).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountEntry {
    /// `{uid}.{utid}`.
    #[serde(default)]
    pub home_account_id: String,
    /// The authority host.
    #[serde(default)]
    pub environment: String,
    /// The tenant.
    #[serde(default)]
    pub realm: String,
    /// The ID token's `oid`, else its `sub`.
    #[serde(default)]
    pub local_account_id: String,
    /// `preferred_username`, else `upn`, else empty.
    #[serde(default)]
    pub username: String,
    /// `MSSTS` (or `ADFS`).
    #[serde(default)]
    pub authority_type: String,
    /// The grant that created the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_source: Option<String>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An `AppMetadata` entry (no secret).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppMetadataEntry {
    /// The application (client) id.
    #[serde(default)]
    pub client_id: String,
    /// The authority host.
    #[serde(default)]
    pub environment: String,
    /// `"1"` when the application is in the Microsoft family (FOCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
    /// Fields this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The whole cache document. `Debug` shows key counts only: never a secret.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MsalCache {
    /// Access tokens by key.
    #[serde(rename = "AccessToken", default)]
    pub access_tokens: BTreeMap<String, AccessTokenEntry>,
    /// Refresh tokens by key.
    #[serde(rename = "RefreshToken", default)]
    pub refresh_tokens: BTreeMap<String, RefreshTokenEntry>,
    /// ID tokens by key.
    #[serde(rename = "IdToken", default)]
    pub id_tokens: BTreeMap<String, IdTokenEntry>,
    /// Accounts by key.
    #[serde(rename = "Account", default)]
    pub accounts: BTreeMap<String, AccountEntry>,
    /// Application metadata by key.
    #[serde(rename = "AppMetadata", default)]
    pub app_metadata: BTreeMap<String, AppMetadataEntry>,
    /// Sections this crate does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

macro_rules! redacted_debug {
    ($t:ty, $($field:ident),*) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($field), &self.$field))*
                    .field("secret", &"<redacted>")
                    .finish_non_exhaustive()
            }
        }
    };
}
redacted_debug!(
    AccessTokenEntry,
    home_account_id,
    environment,
    client_id,
    realm,
    target,
    expires_on
);
redacted_debug!(
    RefreshTokenEntry,
    home_account_id,
    environment,
    client_id,
    target,
    family_id
);
redacted_debug!(IdTokenEntry, home_account_id, environment, client_id, realm);

impl fmt::Debug for MsalCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsalCache")
            .field("access_tokens", &self.access_tokens.len())
            .field("refresh_tokens", &self.refresh_tokens.len())
            .field("id_tokens", &self.id_tokens.len())
            .field("accounts", &self.accounts.len())
            .field("app_metadata", &self.app_metadata.len())
            .finish_non_exhaustive()
    }
}

/// `{home_account_id}-{environment}-accesstoken-{client_id}-{realm}-{target}`, lower-cased.
pub fn access_token_key(
    home_account_id: Option<&str>,
    environment: &str,
    client_id: &str,
    realm: &str,
    target: &str,
) -> String {
    [
        home_account_id.unwrap_or(""),
        environment,
        "accesstoken",
        client_id,
        realm,
        target,
    ]
    .join("-")
    .to_lowercase()
}

/// `{home_account_id}-{environment}-refreshtoken-{client_id}--{target}`, lower-cased.
pub fn refresh_token_key(
    home_account_id: &str,
    environment: &str,
    client_id: &str,
    target: &str,
) -> String {
    [
        home_account_id,
        environment,
        "refreshtoken",
        client_id,
        "",
        target,
    ]
    .join("-")
    .to_lowercase()
}

/// `{home_account_id}-{environment}-idtoken-{client_id}-{realm}-`, lower-cased.
pub fn id_token_key(
    home_account_id: &str,
    environment: &str,
    client_id: &str,
    realm: &str,
) -> String {
    [
        home_account_id,
        environment,
        "idtoken",
        client_id,
        realm,
        "",
    ]
    .join("-")
    .to_lowercase()
}

/// `{home_account_id}-{environment}-{realm}`, lower-cased.
pub fn account_key(home_account_id: &str, environment: &str, realm: &str) -> String {
    [home_account_id, environment, realm]
        .join("-")
        .to_lowercase()
}

/// `appmetadata-{environment}-{client_id}` (not lower-cased).
pub fn app_metadata_key(environment: &str, client_id: &str) -> String {
    format!("appmetadata-{environment}-{client_id}")
}

/// The `target` of a cache entry: the scopes without MSAL's reserved ones, sorted, space-joined.
pub fn target_of<'a>(scopes: impl IntoIterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = scopes
        .into_iter()
        .filter(|s| !s.is_empty() && !RESERVED_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
        .collect();
    v.sort_unstable();
    v.dedup();
    v.join(" ")
}

/// True when `target` (space-separated) holds every scope of `scopes` (case-insensitive).
pub fn target_covers(target: &str, scopes: &[String]) -> bool {
    let have: Vec<String> = target.split_whitespace().map(str::to_lowercase).collect();
    scopes
        .iter()
        .filter(|s| !RESERVED_SCOPES.contains(&s.to_ascii_lowercase().as_str()))
        .all(|s| have.contains(&s.to_lowercase()))
}

/// §10.5: `{uid}.{utid}` from `client_info` (base64url JSON, padding tolerated), else the ID
/// token's `sub`.
pub fn home_account_id(
    client_info: Option<&str>,
    id_claims: Option<&Map<String, Value>>,
) -> Option<String> {
    if let Some(ci) = client_info {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(ci.trim_end_matches('='))
            .ok();
        let v: Option<Value> = bytes.and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(v) = v
            && let (Some(uid), Some(utid)) = (
                v.get("uid").and_then(Value::as_str),
                v.get("utid").and_then(Value::as_str),
            )
        {
            return Some(format!("{uid}.{utid}"));
        }
    }
    id_claims?.get("sub")?.as_str().map(str::to_owned)
}

/// One successful token response to store: where it came from and what was asked.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TokenEvent<'a> {
    /// The authority host (`login.microsoftonline.com`), without scheme.
    pub environment: &'a str,
    /// The application (client) id.
    pub client_id: &'a str,
    /// The tenant of the token endpoint.
    pub realm: &'a str,
    /// The scopes requested (used when the response has no `scope`).
    pub scopes: &'a [String],
    /// The response.
    pub response: &'a TokenResponse,
    /// When the request was sent.
    pub now: SystemTime,
    /// The grant, written as the account's `account_source` (e.g. `device_code`).
    pub grant: Option<&'a str>,
    /// Store an application token (`home_account_id` null) even without an account.
    pub app_token: bool,
}

impl<'a> TokenEvent<'a> {
    /// An event for `response`, obtained by `client_id` from `environment`/`realm` for `scopes`.
    pub fn new(
        environment: &'a str,
        client_id: &'a str,
        realm: &'a str,
        scopes: &'a [String],
        response: &'a TokenResponse,
        now: SystemTime,
    ) -> Self {
        Self {
            environment,
            client_id,
            realm,
            scopes,
            response,
            now,
            grant: None,
            app_token: false,
        }
    }

    /// Sets the grant written as `account_source`.
    #[must_use]
    pub fn with_grant(mut self, grant: &'a str) -> Self {
        self.grant = Some(grant);
        self
    }

    /// Marks an application (client-credential) token: no account, `home_account_id` null.
    #[must_use]
    pub fn app_token(mut self) -> Self {
        self.app_token = true;
        self
    }
}

/// Finds an access token in `entries` that covers `scopes` and is valid for at least
/// [`ACCESS_TOKEN_MARGIN`] at `now`; `matches` filters the candidates.
fn find_at<'a>(
    entries: impl Iterator<Item = &'a AccessTokenEntry>,
    scopes: &[String],
    now: SystemTime,
    respect_refresh_on: bool,
    matches: impl Fn(&AccessTokenEntry) -> bool,
) -> Option<AccessToken> {
    let now = unix_seconds(now);
    entries
        .filter(|e| matches(e) && target_covers(&e.target, scopes))
        .filter(|e| {
            !respect_refresh_on || parse_ts(e.refresh_on.as_deref()).is_none_or(|r| r > now)
        })
        .filter_map(|e| {
            let expires = parse_ts(e.expires_on.as_deref())?;
            // saturating: an `expires_on` near i64::MIN in a cache file written by another tool
            // used to overflow (a panic in debug builds, an expired token served in release).
            (expires.saturating_sub(ACCESS_TOKEN_MARGIN.as_secs() as i64) > now)
                .then_some((e, expires))
        })
        .max_by_key(|(_, expires)| *expires)
        .map(|(e, expires)| {
            AccessToken::new(e.secret.clone(), from_unix_seconds(expires))
                .with_refresh_on(parse_ts(e.refresh_on.as_deref()).map(from_unix_seconds))
                .with_token_type(e.token_type.clone().unwrap_or_else(|| "Bearer".to_owned()))
        })
}

impl MsalCache {
    /// Parses a cache document; empty input is an empty cache.
    pub fn from_json(bytes: &[u8]) -> serde_json::Result<Self> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        // serde_json quotes the offending value (`invalid type: string "…"`), which may be a
        // token: keep the kind of error and its position only.
        serde_json::from_slice(bytes).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Data => {
                    "a value has the wrong type or a required field is missing"
                }
                serde_json::error::Category::Eof => "the document is truncated",
                serde_json::error::Category::Io => "the document could not be read",
            };
            serde::de::Error::custom(format!("{what} at line {} column {}", e.line(), e.column()))
        })
    }

    /// The JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Stores the tokens of a response as MSAL does: access token, refresh token, ID token,
    /// account and application metadata. Returns the account's `home_account_id`, if any.
    pub fn add(&mut self, event: &TokenEvent<'_>) -> Option<String> {
        let r = event.response;
        let env = event.environment;
        let id_claims = r
            .id_token
            .as_ref()
            .and_then(|t| decode_jwt_claims_unverified(t.secret()));
        let home = if event.app_token {
            None
        } else {
            home_account_id(r.client_info.as_deref(), id_claims.as_ref())
        };
        let target = match &r.scope {
            Some(s) if !s.trim().is_empty() => target_of(s.split_whitespace()),
            _ => target_of(event.scopes.iter().map(String::as_str)),
        };
        let now = unix_seconds(event.now);
        let expires_on = unix_seconds(r.token.expires_on());
        let key = access_token_key(home.as_deref(), env, event.client_id, event.realm, &target);
        // Claims challenges and re-requests overwrite: drop other entries with the same
        // account, client and realm whose target is this target (MSAL replaces by key).
        self.access_tokens.insert(
            key,
            AccessTokenEntry {
                credential_type: "AccessToken".to_owned(),
                secret: r.token.token().secret().to_owned(),
                home_account_id: home.clone(),
                environment: env.to_owned(),
                client_id: event.client_id.to_owned(),
                target: target.clone(),
                realm: event.realm.to_owned(),
                token_type: Some(r.token.token_type().to_owned()),
                cached_at: Some(now.to_string()),
                expires_on: Some(expires_on.to_string()),
                extended_expires_on: Some(expires_on.to_string()),
                refresh_on: r.token.refresh_on().map(|t| unix_seconds(t).to_string()),
                ..AccessTokenEntry::default()
            },
        );
        let home = home?;
        if let Some(rt) = &r.refresh_token {
            let key = refresh_token_key(&home, env, event.client_id, &target);
            // One refresh token per account and client: a new one replaces the others.
            self.refresh_tokens.retain(|_, e| {
                !(e.home_account_id.as_deref() == Some(&home)
                    && e.environment.eq_ignore_ascii_case(env)
                    && e.client_id == event.client_id)
            });
            self.refresh_tokens.insert(
                key,
                RefreshTokenEntry {
                    credential_type: "RefreshToken".to_owned(),
                    secret: rt.secret().to_owned(),
                    home_account_id: Some(home.clone()),
                    environment: env.to_owned(),
                    client_id: event.client_id.to_owned(),
                    target: Some(target.clone()),
                    last_modification_time: Some(now.to_string()),
                    family_id: r.foci.clone(),
                    ..RefreshTokenEntry::default()
                },
            );
        }
        if let (Some(id_token), Some(claims)) = (&r.id_token, &id_claims) {
            self.id_tokens.insert(
                id_token_key(&home, env, event.client_id, event.realm),
                IdTokenEntry {
                    credential_type: "IdToken".to_owned(),
                    secret: id_token.secret().to_owned(),
                    home_account_id: Some(home.clone()),
                    environment: env.to_owned(),
                    realm: event.realm.to_owned(),
                    client_id: event.client_id.to_owned(),
                    ..IdTokenEntry::default()
                },
            );
            let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
            let account_key = account_key(&home, env, event.realm);
            let previous = self.accounts.remove(&account_key).unwrap_or_default();
            self.accounts.insert(
                account_key,
                AccountEntry {
                    home_account_id: home.clone(),
                    environment: env.to_owned(),
                    realm: event.realm.to_owned(),
                    local_account_id: text("oid").or_else(|| text("sub")).unwrap_or_default(),
                    username: text("preferred_username")
                        .or_else(|| text("upn"))
                        .unwrap_or_default(),
                    authority_type: if event.realm.eq_ignore_ascii_case("adfs") {
                        "ADFS".to_owned()
                    } else {
                        "MSSTS".to_owned()
                    },
                    // The grant that created the account, not the latest refresh.
                    account_source: previous
                        .account_source
                        .or_else(|| event.grant.map(str::to_owned)),
                    extra: previous.extra,
                },
            );
        }
        let app_key = app_metadata_key(env, event.client_id);
        let mut app = self.app_metadata.remove(&app_key).unwrap_or_default();
        app.client_id = event.client_id.to_owned();
        app.environment = env.to_owned();
        if r.foci.is_some() {
            app.family_id = r.foci.clone();
        }
        self.app_metadata.insert(app_key, app);
        Some(home)
    }

    /// An access token of `home_account_id` (`None`: an application token) for `client_id` in
    /// `environment` and `realm` covering `scopes`, valid for at least 5 more minutes and not
    /// past its `refresh_on` (MSAL refreshes those): the latest-expiring one.
    pub fn find_access_token(
        &self,
        home_account_id: Option<&str>,
        environment: &str,
        client_id: &str,
        realm: &str,
        scopes: &[String],
        now: SystemTime,
    ) -> Option<AccessToken> {
        find_at(self.access_tokens.values(), scopes, now, true, |e| {
            e.home_account_id.as_deref() == home_account_id
                && e.environment.eq_ignore_ascii_case(environment)
                && e.client_id == client_id
                && e.realm.eq_ignore_ascii_case(realm)
        })
    }

    /// Any access token of `home_account_id` covering `scopes` and valid for at least 5 more
    /// minutes, whatever its client, realm or environment (SharedTokenCacheCredential, §5.12).
    pub fn find_account_access_token(
        &self,
        home_account_id: &str,
        scopes: &[String],
        now: SystemTime,
    ) -> Option<AccessToken> {
        find_at(self.access_tokens.values(), scopes, now, false, |e| {
            e.home_account_id.as_deref() == Some(home_account_id)
        })
    }

    /// The refresh tokens of `home_account_id` in cache order: `(key, entry)`.
    pub fn refresh_tokens_of<'s>(
        &'s self,
        home_account_id: &'s str,
    ) -> impl Iterator<Item = (&'s String, &'s RefreshTokenEntry)> + 's {
        self.refresh_tokens
            .iter()
            .filter(move |(_, e)| e.home_account_id.as_deref() == Some(home_account_id))
    }

    /// The refresh token of `home_account_id` for `client_id` in `environment`, else a family
    /// (FOCI) refresh token of the same account when the application is in the family.
    pub fn find_refresh_token(
        &self,
        home_account_id: &str,
        environment: &str,
        client_id: &str,
    ) -> Option<(String, &RefreshTokenEntry)> {
        let same_env = |e: &RefreshTokenEntry| e.environment.eq_ignore_ascii_case(environment);
        let own: Vec<_> = self
            .refresh_tokens
            .iter()
            .filter(|(_, e)| e.home_account_id.as_deref() == Some(home_account_id) && same_env(e))
            .collect();
        if let Some((k, e)) = own.iter().find(|(_, e)| e.client_id == client_id) {
            return Some(((*k).clone(), e));
        }
        let in_family = self
            .app_metadata
            .get(&app_metadata_key(environment, client_id))
            .is_some_and(|a| a.family_id.as_deref() == Some("1"));
        if in_family {
            return own
                .into_iter()
                .find(|(_, e)| e.family_id.as_deref() == Some("1"))
                .map(|(k, e)| (k.clone(), e));
        }
        None
    }

    /// Removes the refresh token stored under `key` whose secret is `secret` (a refresh token
    /// that the service refused). Returns whether it was there.
    pub fn remove_refresh_token(&mut self, key: &str, secret: &str) -> bool {
        if self
            .refresh_tokens
            .get(key)
            .is_some_and(|e| e.secret == secret)
        {
            self.refresh_tokens.remove(key);
            true
        } else {
            false
        }
    }

    /// Drops access tokens that expired before `now` (MSAL purges them during searches).
    pub fn purge_expired(&mut self, now: SystemTime) {
        let now = unix_seconds(now);
        self.access_tokens
            .retain(|_, e| parse_ts(e.expires_on.as_deref()).is_none_or(|t| t > now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::Response;

    fn response(body: &str) -> TokenResponse {
        let r = Response::new(200, body.as_bytes().to_vec());
        identity_core::protocol::entra::parse_token_response(&r, from_unix_seconds(1_700_000_000))
            .unwrap()
    }

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b(r#"{"alg":"none"}"#), b(claims))
    }

    #[test]
    fn keys_follow_msal() {
        assert_eq!(
            access_token_key(
                None,
                "login.microsoftonline.com",
                "AppId",
                "Tenant",
                "https://vault.azure.net/.default"
            ),
            "-login.microsoftonline.com-accesstoken-appid-tenant-https://vault.azure.net/.default"
        );
        assert_eq!(
            refresh_token_key("u.t", "login.microsoftonline.com", "c", "a b"),
            "u.t-login.microsoftonline.com-refreshtoken-c--a b"
        );
        assert_eq!(
            id_token_key("U.T", "login.microsoftonline.com", "c", "t"),
            "u.t-login.microsoftonline.com-idtoken-c-t-"
        );
        assert_eq!(
            account_key("u.t", "Login.Microsoftonline.com", "T"),
            "u.t-login.microsoftonline.com-t"
        );
        assert_eq!(
            app_metadata_key("login.microsoftonline.com", "C"),
            "appmetadata-login.microsoftonline.com-C"
        );
        assert_eq!(
            target_of(["b", "openid", "A", "profile", "offline_access", "b"]),
            "A b"
        );
    }

    #[test]
    fn a_user_response_writes_five_entries_and_is_found_again() {
        let client_info = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"uid":"uid1","utid":"tid1"}"#);
        let id_token = jwt(
            r#"{"iss":"https://login.microsoftonline.com/tid1/v2.0","aud":"c","tid":"tid1","oid":"oid1","sub":"sub1","preferred_username":"user@contoso.com"}"#,
        );
        let body = format!(
            r#"{{"token_type":"Bearer","scope":"https://vault.azure.net/.default openid profile offline_access","expires_in":3600,"access_token":"AT1","refresh_token":"RT1","id_token":"{id_token}","client_info":"{client_info}","foci":"1"}}"#
        );
        let r = response(&body);
        let mut cache = MsalCache::default();
        let scopes = vec!["https://vault.azure.net/.default".to_owned()];
        let now = from_unix_seconds(1_700_000_000);
        let ev = TokenEvent::new(
            "login.microsoftonline.com",
            "c",
            "organizations",
            &scopes,
            &r,
            now,
        )
        .with_grant("device_code");
        assert_eq!(cache.add(&ev).as_deref(), Some("uid1.tid1"));
        let json: Value = serde_json::from_slice(&cache.to_json()).unwrap();
        let at = &json["AccessToken"]["uid1.tid1-login.microsoftonline.com-accesstoken-c-organizations-https://vault.azure.net/.default"];
        assert_eq!(at["secret"], "AT1");
        assert_eq!(at["expires_on"], "1700003600");
        assert_eq!(at["cached_at"], "1700000000");
        assert_eq!(at["credential_type"], "AccessToken");
        let rt = &json["RefreshToken"]["uid1.tid1-login.microsoftonline.com-refreshtoken-c--https://vault.azure.net/.default"];
        assert_eq!(rt["secret"], "RT1");
        assert_eq!(rt["family_id"], "1");
        let acc = &json["Account"]["uid1.tid1-login.microsoftonline.com-organizations"];
        assert_eq!(acc["username"], "user@contoso.com");
        assert_eq!(acc["local_account_id"], "oid1");
        assert_eq!(acc["authority_type"], "MSSTS");
        assert_eq!(acc["account_source"], "device_code");
        assert_eq!(
            json["IdToken"]["uid1.tid1-login.microsoftonline.com-idtoken-c-organizations-"]["secret"],
            id_token.as_str()
        );
        assert_eq!(
            json["AppMetadata"]["appmetadata-login.microsoftonline.com-c"]["family_id"],
            "1"
        );

        let t = cache
            .find_access_token(
                Some("uid1.tid1"),
                "login.microsoftonline.com",
                "c",
                "organizations",
                &scopes,
                now,
            )
            .unwrap();
        assert_eq!(t.token().secret(), "AT1");
        // Within the 5-minute margin: not returned.
        assert!(
            cache
                .find_access_token(
                    Some("uid1.tid1"),
                    "login.microsoftonline.com",
                    "c",
                    "organizations",
                    &scopes,
                    from_unix_seconds(1_700_003_400)
                )
                .is_none()
        );
        assert!(
            cache
                .find_access_token(
                    Some("uid1.tid1"),
                    "login.microsoftonline.com",
                    "c",
                    "other",
                    &scopes,
                    now
                )
                .is_none()
        );
        assert!(
            cache
                .find_account_access_token("uid1.tid1", &scopes, now)
                .is_some()
        );
        // Past refresh_on: MSAL refreshes, so the lookup skips it (the §5.12 one does not).
        let saved = cache.clone();
        for e in cache.access_tokens.values_mut() {
            e.refresh_on = Some("1700001000".into());
        }
        let later = from_unix_seconds(1_700_001_000);
        assert!(
            cache
                .find_access_token(
                    Some("uid1.tid1"),
                    "login.microsoftonline.com",
                    "c",
                    "organizations",
                    &scopes,
                    later
                )
                .is_none()
        );
        assert!(
            cache
                .find_account_access_token("uid1.tid1", &scopes, later)
                .is_some()
        );
        cache = saved;
        let (key, rt) = cache
            .find_refresh_token("uid1.tid1", "login.microsoftonline.com", "c")
            .unwrap();
        assert_eq!(rt.secret, "RT1");
        // A family member finds the family token.
        cache.app_metadata.insert(
            app_metadata_key("login.microsoftonline.com", "other-app"),
            AppMetadataEntry {
                client_id: "other-app".into(),
                environment: "login.microsoftonline.com".into(),
                family_id: Some("1".into()),
                ..Default::default()
            },
        );
        assert!(
            cache
                .find_refresh_token("uid1.tid1", "login.microsoftonline.com", "other-app")
                .is_some()
        );
        assert!(
            cache
                .find_refresh_token("uid1.tid1", "login.microsoftonline.com", "not-family")
                .is_none()
        );
        assert!(!cache.remove_refresh_token(&key, "other secret"));
        assert!(cache.remove_refresh_token(&key, "RT1"));
        cache.purge_expired(from_unix_seconds(1_700_003_601));
        assert!(cache.access_tokens.is_empty());
        // Debug never shows a secret.
        assert!(!format!("{cache:?}").contains("RT1"));
    }

    #[test]
    fn unknown_fields_and_sections_survive_a_round_trip() {
        let doc = r#"{"AccessToken":{"k":{"credential_type":"AccessToken","secret":"s","home_account_id":null,"environment":"e","client_id":"c","target":"t","realm":"r","cached_at":"1","expires_on":2,"extended_expires_on":"2","x_other":{"a":[1]}}},
            "RefreshToken":{},"IdToken":{},"Account":{"a":{"home_account_id":"h","environment":"e","realm":"r","local_account_id":"l","username":"u","authority_type":"MSSTS","client_info":"ci"}},
            "AppMetadata":{},"Other":{"x":1}}"#;
        let cache = MsalCache::from_json(doc.as_bytes()).unwrap();
        assert_eq!(cache.access_tokens["k"].expires_on.as_deref(), Some("2"));
        let back: Value = serde_json::from_slice(&cache.to_json()).unwrap();
        assert_eq!(back["Other"]["x"], 1);
        assert_eq!(back["AccessToken"]["k"]["x_other"]["a"][0], 1);
        assert_eq!(back["AccessToken"]["k"]["home_account_id"], Value::Null);
        assert_eq!(back["Account"]["a"]["client_info"], "ci");
        assert_eq!(MsalCache::from_json(b"  ").unwrap(), MsalCache::default());
        assert!(MsalCache::from_json(b"{\"AccessToken\":").is_err());
    }
}
