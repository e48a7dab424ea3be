//! [`Secret`]: a string that never shows itself.

use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A secret string: a client secret, an access or refresh token, an assertion, a header value
/// that authenticates.
///
/// `Debug` prints `Secret(****)`, there is no `Display` and no `PartialEq` (so a secret is never
/// compared in variable time or printed by accident), and the memory is zeroed when it is dropped.
/// Read the value only where it goes on the wire, with [`Secret::secret`]. Cloning is cheap
/// (a reference count); the value is zeroed when the last clone is dropped.
///
/// ```
/// use identity_core::Secret;
/// let s = Secret::new("p@ssw0rd");
/// assert_eq!(format!("{s:?}"), "Secret(****)");
/// assert_eq!(s.secret(), "p@ssw0rd");
/// ```
#[derive(Clone, Default)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::new(Zeroizing::new(value.into())))
    }

    /// The secret value. Put it on the wire; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s:#?}").contains("hunter2"));
        assert_eq!(s.secret(), "hunter2");
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
    }
}
