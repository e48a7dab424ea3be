//! The one error type of the Azure Identity crates.

use std::fmt;

/// Result alias with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is: this decides what a credential chain does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The credential could not even try: configuration or environment missing, tool not
    /// installed, endpoint absent, user not logged in. A chain moves on to the next credential.
    Unavailable,
    /// An interactive credential needs a person to sign in (automatic authentication is
    /// disabled). A chain moves on.
    AuthenticationRequired,
    /// Authentication was attempted and failed (a rejected secret, an `AADSTS…` error, an
    /// unexpected response). A chain stops and reports it.
    Authentication,
    /// The request could not be completed at the HTTP level after retries.
    Transport(TransportErrorKind),
    /// The credential was configured wrongly (a bad tenant id, a bad authority, a missing value).
    InvalidConfiguration,
    /// The token request itself is wrong (no scope, an invalid scope, two scopes where one is
    /// required).
    InvalidRequest,
}

impl ErrorKind {
    /// True when a chain should try the next credential after this error.
    pub fn chain_continues(self) -> bool {
        matches!(self, Self::Unavailable | Self::AuthenticationRequired)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable => f.write_str("credential unavailable"),
            Self::AuthenticationRequired => f.write_str("authentication required"),
            Self::Authentication => f.write_str("authentication failed"),
            Self::Transport(k) => write!(f, "transport error ({k})"),
            Self::InvalidConfiguration => f.write_str("invalid configuration"),
            Self::InvalidRequest => f.write_str("invalid token request"),
        }
    }
}

/// Why an HTTP exchange failed below the HTTP status level. The retry policy reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be established (refused, unreachable, DNS).
    Connect,
    /// The connection or the response did not arrive in time.
    Timeout,
    /// TLS failed (certificate not trusted, handshake error).
    Tls,
    /// Reading or writing the connection failed once it was open.
    Io,
    /// The response body was larger than the cap (1 MiB by default).
    BodyTooLarge,
    /// The request could not be built (bad URL, bad header).
    InvalidRequest,
    /// A retry would have waited past the request's deadline.
    DeadlineExceeded,
    /// Anything else.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::Io => "io",
            Self::BodyTooLarge => "body too large",
            Self::InvalidRequest => "invalid request",
            Self::DeadlineExceeded => "deadline exceeded",
            Self::Other => "other",
        })
    }
}

/// An HTTP-level failure reported by an [`HttpClient`](crate::HttpClient) or
/// [`AsyncHttpClient`](crate::AsyncHttpClient). A non-2xx status is not a transport error: it
/// is a [`Response`](crate::Response).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    #[source]
    source: Option<BoxError>,
}

impl TransportError {
    /// A transport error of `kind` that says `message` (which must hold no secret).
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind, read by the retry policy.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

/// The error of every credential.
///
/// It names the credential, says what failed, why, and what to do next; it carries the HTTP
/// status and the Microsoft Entra error codes (`AADSTS…`) when there are some. It never holds
/// a secret: messages are built from our own text and from service error descriptions that
/// carry no token, and response bodies are scrubbed before they are quoted.
///
/// ```
/// use identity_core::{Error, ErrorKind};
/// let e = Error::unavailable("AzureCliCredential", "Azure CLI not found on path. Install it or run `az login`.");
/// assert_eq!(e.kind(), ErrorKind::Unavailable);
/// assert!(e.kind().chain_continues());
/// assert_eq!(e.to_string(), "AzureCliCredential: Azure CLI not found on path. Install it or run `az login`.");
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<Inner>);

#[derive(Debug, thiserror::Error)]
#[error("{}", self.display())]
struct Inner {
    kind: ErrorKind,
    credential: &'static str,
    message: String,
    status: Option<u16>,
    error_code: Option<String>,
    aadsts_codes: Vec<u32>,
    correlation_id: Option<String>,
    #[source]
    source: Option<BoxError>,
}

impl Error {
    /// An error of `kind` from `credential` (its type name, e.g. `ManagedIdentityCredential`;
    /// empty when no credential is involved).
    pub fn new(kind: ErrorKind, credential: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            credential,
            message: message.into(),
            status: None,
            error_code: None,
            aadsts_codes: Vec::new(),
            correlation_id: None,
            source: None,
        }))
    }

    /// [`ErrorKind::Unavailable`]: a chain moves on.
    pub fn unavailable(credential: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, credential, message)
    }

    /// [`ErrorKind::Authentication`]: a chain stops.
    pub fn authentication(credential: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Authentication, credential, message)
    }

    /// [`ErrorKind::InvalidConfiguration`].
    pub fn invalid_configuration(credential: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfiguration, credential, message)
    }

    /// [`ErrorKind::InvalidRequest`].
    pub fn invalid_request(credential: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, credential, message)
    }

    /// A transport failure seen by `credential`.
    pub fn transport(credential: &'static str, error: TransportError) -> Self {
        let message = error.to_string();
        Self::new(ErrorKind::Transport(error.kind()), credential, message).with_source(error)
    }

    /// Sets the credential name if none is set yet.
    #[must_use]
    pub fn with_credential(mut self, credential: &'static str) -> Self {
        if self.0.credential.is_empty() {
            self.0.credential = credential;
        }
        self
    }

    /// Changes the kind, keeping everything else (e.g. a chain member turning a failure into
    /// "unavailable").
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.0.kind = kind;
        self
    }

    /// Sets the HTTP status of the response that caused the error.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status = Some(status);
        self
    }

    /// Sets the OAuth `error` code (e.g. `invalid_client`) and the `AADSTS` numbers.
    #[must_use]
    pub fn with_oauth_error(mut self, error_code: Option<String>, aadsts_codes: Vec<u32>) -> Self {
        self.0.error_code = error_code;
        self.0.aadsts_codes = aadsts_codes;
        self
    }

    /// Sets the service's correlation id, useful in a support request.
    #[must_use]
    pub fn with_correlation_id(mut self, id: Option<String>) -> Self {
        self.0.correlation_id = id;
        self
    }

    /// Attaches the underlying error (it must hold no secret either).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// A copy for another caller (an error is not `Clone` because of its source): the same
    /// kind, credential, message, status, OAuth codes and correlation id, without the source.
    pub fn duplicate(&self) -> Self {
        Self(Box::new(Inner {
            kind: self.0.kind,
            credential: self.0.credential,
            message: self.0.message.clone(),
            status: self.0.status,
            error_code: self.0.error_code.clone(),
            aadsts_codes: self.0.aadsts_codes.clone(),
            correlation_id: self.0.correlation_id.clone(),
            source: None,
        }))
    }

    /// The kind, which decides what a chain does.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The credential that failed (empty if none).
    pub fn credential(&self) -> &'static str {
        self.0.credential
    }

    /// The message, without the credential name.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The HTTP status of the failing response, if any.
    pub fn status(&self) -> Option<u16> {
        self.0.status
    }

    /// The OAuth `error` code of a Microsoft Entra error response (`invalid_client`, …).
    pub fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }

    /// The `AADSTS` error numbers of a Microsoft Entra error response (e.g. `7000215`).
    pub fn aadsts_codes(&self) -> &[u32] {
        &self.0.aadsts_codes
    }

    /// The correlation id the service returned, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.0.correlation_id.as_deref()
    }
}

impl Inner {
    fn display(&self) -> String {
        if self.credential.is_empty() || self.message.starts_with(self.credential) {
            self.message.clone()
        } else {
            format!("{}: {}", self.credential, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_credential_once() {
        let e = Error::unavailable(
            "EnvironmentCredential",
            "EnvironmentCredential authentication unavailable.",
        );
        assert_eq!(
            e.to_string(),
            "EnvironmentCredential authentication unavailable."
        );
        let e = Error::authentication("X", "boom").with_status(401);
        assert_eq!(e.to_string(), "X: boom");
        assert_eq!(e.status(), Some(401));
        assert!(!e.kind().chain_continues());
        assert!(ErrorKind::AuthenticationRequired.chain_continues());
    }

    #[test]
    fn transport_error_keeps_kind_and_source() {
        let t = TransportError::new(TransportErrorKind::Timeout, "timed out after 2 s");
        let e = Error::transport("ManagedIdentityCredential", t);
        assert_eq!(e.kind(), ErrorKind::Transport(TransportErrorKind::Timeout));
        assert!(std::error::Error::source(&e).is_some());
        let e = e.with_kind(ErrorKind::Unavailable);
        assert!(e.kind().chain_continues());
        let copy = e.duplicate();
        assert_eq!(copy.kind(), e.kind());
        assert_eq!(copy.to_string(), e.to_string());
        assert!(std::error::Error::source(&copy).is_none());
    }
}
