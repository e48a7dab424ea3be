//! Public value types: settings, endpoints, faults, recorded requests, claims and errors.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Runtime settings. Change them with [`crate::Emulator::update_settings`] or `PUT /_emulator/settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Lifetime of Entra access tokens (`expires_in`), seconds. Short ones (< 300) are allowed.
    pub token_lifetime_secs: u64,
    /// `refresh_in` sent with Entra tokens, seconds; none when `None`.
    pub refresh_in_secs: Option<u64>,
    /// Lifetime of managed-identity tokens, seconds (the real services give about 24 h).
    pub managed_identity_token_lifetime_secs: u64,
    /// `refresh_in` sent with managed-identity tokens (as a string, like the other numbers).
    pub managed_identity_refresh_in_secs: Option<u64>,
    /// Added to the real clock for everything the emulator mints and checks.
    pub clock_offset_secs: i64,
    /// Tolerance for client assertions' `nbf` and `exp`, seconds.
    pub assertion_clock_skew_secs: i64,
    /// Reject a client assertion whose `jti` was already used (by the same client) while it is
    /// still valid. Off by default: Entra accepts reuse, and MSAL reuses a certificate assertion
    /// for up to 9 minutes.
    pub reject_assertion_replay: bool,
    /// Lifetime of authorization codes, seconds.
    pub authorization_code_lifetime_secs: u64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_token_lifetime_secs: u64,
    /// Whether the user at `/authorize` consents (`false` → `access_denied`).
    pub user_consents: bool,
    /// How device-code sign-ins proceed.
    pub device_code: DeviceCodeSettings,
    /// The format of Azure ML's `expires_on`.
    pub azure_ml_expires_on: ExpiresOnFormat,
    /// The `sub` of the tokens the emulated GitHub Actions job gets (default
    /// `repo:emulator-org/emulator-repo:ref:refs/heads/main`).
    pub github_actions_subject: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_lifetime_secs: 3599,
            refresh_in_secs: None,
            managed_identity_token_lifetime_secs: 86_399,
            managed_identity_refresh_in_secs: None,
            clock_offset_secs: 0,
            assertion_clock_skew_secs: 60,
            reject_assertion_replay: false,
            authorization_code_lifetime_secs: 600,
            refresh_token_lifetime_secs: 90 * 86_400,
            user_consents: true,
            device_code: DeviceCodeSettings::default(),
            azure_ml_expires_on: ExpiresOnFormat::EpochString,
            github_actions_subject: crate::registry::DEFAULT_GITHUB_ACTIONS_SUBJECT.to_owned(),
        }
    }
}

/// How a device-code sign-in proceeds, poll by poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceCodeSettings {
    /// `expires_in` of the device code, seconds; polls after that get `expired_token`.
    pub expires_in_secs: u64,
    /// `interval` the client is told to wait between polls, seconds.
    pub interval_secs: u64,
    /// The first this-many polls are answered `slow_down`.
    pub slow_down_polls: u32,
    /// Then this many polls are answered `authorization_pending`.
    pub pending_polls: u32,
    /// What happens after that.
    pub outcome: DeviceCodeOutcome,
}

impl Default for DeviceCodeSettings {
    fn default() -> Self {
        Self {
            expires_in_secs: 900,
            interval_secs: 5,
            slow_down_polls: 0,
            pending_polls: 1,
            outcome: DeviceCodeOutcome::Approve,
        }
    }
}

/// The end of a device-code sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceCodeOutcome {
    /// The user signs in: tokens are issued.
    Approve,
    /// The user declines: `authorization_declined`.
    Decline,
    /// The code expires: `expired_token`.
    Expire,
    /// Stay `authorization_pending` until approved through the control API or `/devicelogin`.
    Manual,
}

/// How `expires_on` is written (Azure ML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiresOnFormat {
    /// A JSON integer.
    Epoch,
    /// Epoch seconds as a string.
    EpochString,
    /// `MM/DD/YYYY HH:MM:SS +00:00`.
    DateString,
}

/// An endpoint that faults can target and requests are classified by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /{tenant}/oauth2/v2.0/token`.
    Token,
    /// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
    Authorize,
    /// `POST /{tenant}/oauth2/v2.0/devicecode`.
    DeviceCode,
    /// `GET|POST /devicelogin` (a user entering a device code).
    DeviceLogin,
    /// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
    OpenIdConfiguration,
    /// `GET /common/discovery/instance`.
    InstanceDiscovery,
    /// `GET /{tenant}/discovery/v2.0/keys`.
    Keys,
    /// `GET /common/userrealm/{username}`.
    UserRealm,
    /// Azure Pipelines `POST …/oidctoken`.
    PipelinesOidc,
    /// IMDS `GET /metadata/identity/oauth2/token`.
    Imds,
    /// App Service `GET /msi/token`.
    AppService,
    /// Azure ML `GET /azureml/token`.
    AzureMl,
    /// Cloud Shell `POST /cloudshell/token`.
    CloudShell,
    /// Azure Arc `GET /arc/metadata/identity/oauth2/token`.
    Arc,
    /// Service Fabric `GET /metadata/identity/oauth2/token` on its own HTTPS listener.
    ServiceFabric,
    /// A sliver of Azure Resource Manager on the Entra listener, enough for `az login`:
    /// `GET /subscriptions` (none) and `GET /tenants` (the caller's), bearer token required.
    ResourceManager,
    /// An Azure OpenAI-compatible `POST /openai/deployments/{deployment}/chat/completions`
    /// that answers only a bearer token for `https://cognitiveservices.azure.com` from a
    /// registered tenant, unexpired (401 otherwise): the keyless Azure OpenAI scenario.
    OpenAiChat,
    /// GitHub Actions' OIDC token request (`GET …/idtoken?api-version=2.0&audience=…` with
    /// `Authorization: bearer {ACTIONS_ID_TOKEN_REQUEST_TOKEN}`) → `{"count": 1, "value": jwt}`.
    GitHubActionsOidc,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 18] = [
        Endpoint::Token,
        Endpoint::Authorize,
        Endpoint::DeviceCode,
        Endpoint::DeviceLogin,
        Endpoint::OpenIdConfiguration,
        Endpoint::InstanceDiscovery,
        Endpoint::Keys,
        Endpoint::UserRealm,
        Endpoint::PipelinesOidc,
        Endpoint::Imds,
        Endpoint::AppService,
        Endpoint::AzureMl,
        Endpoint::CloudShell,
        Endpoint::Arc,
        Endpoint::ServiceFabric,
        Endpoint::ResourceManager,
        Endpoint::OpenAiChat,
        Endpoint::GitHubActionsOidc,
    ];

    /// Whether this is a managed-identity endpoint.
    pub fn is_managed_identity(self) -> bool {
        matches!(
            self,
            Endpoint::Imds
                | Endpoint::AppService
                | Endpoint::AzureMl
                | Endpoint::CloudShell
                | Endpoint::Arc
                | Endpoint::ServiceFabric
        )
    }
}

/// A fault injected into the next request to an endpoint. Faults queue per endpoint: each
/// request takes the first one; [`Fault::Pass`] lets one request through in a sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Handle the request normally (a placeholder in a sequence).
    Pass,
    /// Answer with this status. `body` defaults to the endpoint family's usual error JSON;
    /// `retry_after` adds a `Retry-After` header with that value.
    Status {
        /// HTTP status code.
        status: u16,
        /// Body (sent as `application/json`); the endpoint's usual error body when `None`.
        body: Option<String>,
        /// `Retry-After` header value.
        retry_after: Option<String>,
    },
    /// Wait, then handle the request normally.
    Delay {
        /// Milliseconds to wait.
        millis: u64,
    },
    /// Never answer (the connection stays open until the client gives up or the emulator stops).
    Hang,
    /// `200` with `Content-Type: application/json` and a truncated JSON body.
    MalformedJson,
    /// `200` with `Content-Type: application/json` and an empty body.
    EmptyBody,
    /// `200` with `Content-Type: application/json` and a valid JSON body of about `bytes` bytes
    /// that holds no token.
    HugeBody {
        /// Body size in bytes.
        bytes: usize,
    },
    /// Handle the request normally but send this `Content-Type`.
    WrongContentType {
        /// The content type to send.
        content_type: String,
    },
    /// Reset the TCP connection (RST) without answering.
    ConnectionReset,
}

impl Fault {
    /// `Status` with the endpoint's usual error body.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            body: None,
            retry_after: None,
        }
    }

    /// `Status` with a `Retry-After: {secs}` header.
    pub fn status_with_retry_after(status: u16, secs: u64) -> Self {
        Fault::Status {
            status,
            body: None,
            retry_after: Some(secs.to_string()),
        }
    }

    /// `Status` with the given JSON body.
    pub fn status_with_body(status: u16, body: impl Into<String>) -> Self {
        Fault::Status {
            status,
            body: Some(body.into()),
            retry_after: None,
        }
    }

    /// `Delay` for `d`.
    pub fn delay(d: Duration) -> Self {
        Fault::Delay {
            millis: d.as_millis() as u64,
        }
    }

    /// `WrongContentType` with `text/html`.
    pub fn wrong_content_type() -> Self {
        Fault::WrongContentType {
            content_type: "text/html; charset=utf-8".into(),
        }
    }

    /// A short description for the request log.
    pub(crate) fn describe(&self) -> String {
        match self {
            Fault::Pass => "pass".into(),
            Fault::Status { status, .. } => format!("status {status}"),
            Fault::Delay { millis } => format!("delay {millis} ms"),
            Fault::Hang => "hang".into(),
            Fault::MalformedJson => "malformed json".into(),
            Fault::EmptyBody => "empty body".into(),
            Fault::HugeBody { bytes } => format!("huge body {bytes} bytes"),
            Fault::WrongContentType { content_type } => format!("content type {content_type}"),
            Fault::ConnectionReset => "connection reset".into(),
        }
    }
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Listener {
    /// The HTTPS Entra listener.
    Entra,
    /// The plain-HTTP managed-identity (and control) listener.
    ManagedIdentity,
    /// The Service Fabric HTTPS listener.
    ServiceFabric,
}

/// A request the emulator received, with secret values replaced by `****`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Sequence number (per emulator, from 0).
    pub seq: u64,
    /// The listener.
    pub listener: Listener,
    /// The endpoint, when the path is one.
    pub endpoint: Option<Endpoint>,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query parameters, in order (secret values masked).
    pub query: Vec<(String, String)>,
    /// Headers, names lower-cased (secret values masked).
    pub headers: Vec<(String, String)>,
    /// Form fields of an `application/x-www-form-urlencoded` body (secret values masked).
    pub form: Vec<(String, String)>,
    /// Response status; `None` when no response was sent (hang, reset).
    pub status: Option<u16>,
    /// The fault applied, if any.
    pub fault: Option<String>,
}

impl RecordedRequest {
    /// First header value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// First query parameter by name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First form field by name.
    pub fn form_field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The mask that replaces secret values in recorded requests.
pub const MASK: &str = "****";

/// Form fields and query parameters whose values are masked in recorded requests.
pub const MASKED_FIELDS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "assertion",
    "code",
    "code_verifier",
    "refresh_token",
    "password",
    "device_code",
    "access_token",
    "id_token",
    "user_federated_identity_credential",
];

/// Headers whose values are masked in recorded requests.
pub const MASKED_HEADERS: &[&str] = &[
    "authorization",
    "secret",
    "x-identity-header",
    "cookie",
    "proxy-authorization",
];

/// Claims of a token the emulator issued and verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// `aud`.
    pub fn aud(&self) -> Option<&str> {
        self.str("aud")
    }

    /// `tid`.
    pub fn tid(&self) -> Option<&str> {
        self.str("tid")
    }

    /// `oid`.
    pub fn oid(&self) -> Option<&str> {
        self.str("oid")
    }

    /// `appid` (the client the token was issued to).
    pub fn appid(&self) -> Option<&str> {
        self.str("appid")
    }

    /// `scp` (delegated scopes, space-separated), for user tokens.
    pub fn scp(&self) -> Option<&str> {
        self.str("scp")
    }

    /// `exp`.
    pub fn exp(&self) -> Option<i64> {
        self.0.get("exp").and_then(Value::as_i64)
    }

    /// `iat`.
    pub fn iat(&self) -> Option<i64> {
        self.0.get("iat").and_then(Value::as_i64)
    }
}

/// Errors from the emulator's API.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding a listener, writing a file, or starting the server thread failed.
    Io(std::io::Error),
    /// Creating certificates or keys failed.
    Crypto(String),
    /// A registry entry or configuration value is invalid.
    InvalidRegistry(String),
    /// A token did not verify.
    InvalidToken(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "identity emulator I/O error: {e}"),
            Error::Crypto(e) => write!(
                f,
                "identity emulator could not create keys or certificates: {e}"
            ),
            Error::InvalidRegistry(e) => write!(f, "invalid identity emulator registry: {e}"),
            Error::InvalidToken(e) => write!(f, "token rejected by the identity emulator: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
