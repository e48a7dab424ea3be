//! [`AccessToken`]: what every credential returns.

use crate::secret::Secret;
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An access token and when it expires.
///
/// `Debug` shows the expiry and type but never the token. Cloning is cheap: the token is
/// shared, not copied.
///
/// ```
/// use identity_core::AccessToken;
/// use std::time::{Duration, SystemTime};
/// let now = SystemTime::now();
/// let token = AccessToken::new("eyJ0eXAi...", now + Duration::from_secs(3600))
///     .with_refresh_on(Some(now + Duration::from_secs(1800)));
/// assert_eq!(token.token_type(), "Bearer");
/// assert!(!format!("{token:?}").contains("eyJ0eXAi"));
/// ```
#[derive(Clone, Debug)]
pub struct AccessToken {
    token: Secret,
    expires_on: SystemTime,
    refresh_on: Option<SystemTime>,
    token_type: Cow<'static, str>,
}

impl AccessToken {
    /// A bearer token that expires at `expires_on`.
    pub fn new(token: impl Into<Secret>, expires_on: SystemTime) -> Self {
        Self {
            token: token.into(),
            expires_on,
            refresh_on: None,
            token_type: Cow::Borrowed("Bearer"),
        }
    }

    /// Sets the time at which a proactive refresh is recommended.
    #[must_use]
    pub fn with_refresh_on(mut self, refresh_on: Option<SystemTime>) -> Self {
        self.refresh_on = refresh_on;
        self
    }

    /// Sets the token type (default `Bearer`).
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        let token_type = token_type.into();
        self.token_type = if token_type == "Bearer" {
            Cow::Borrowed("Bearer")
        } else {
            Cow::Owned(token_type)
        };
        self
    }

    /// The token. Send it in an `Authorization` header; never log it.
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// When the token expires.
    pub fn expires_on(&self) -> SystemTime {
        self.expires_on
    }

    /// `expires_on` as Unix seconds (0 for times before 1970).
    pub fn expires_on_unix(&self) -> i64 {
        unix_seconds(self.expires_on)
    }

    /// When a proactive refresh is recommended, if the service said (or the lifetime implies) so.
    pub fn refresh_on(&self) -> Option<SystemTime> {
        self.refresh_on
    }

    /// The token type, usually `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// Time left before expiry at `now` (zero once expired).
    pub fn expires_in(&self, now: SystemTime) -> Duration {
        self.expires_on.duration_since(now).unwrap_or_default()
    }
}

/// Seconds since the Unix epoch, saturating at 0 for earlier times.
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `SystemTime` for a count of Unix seconds (negative values clamp to the epoch).
pub fn from_unix_seconds(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}
