//! [`TokenCachePersistenceOptions`] (PROTOCOL.md §10.3).

use std::path::PathBuf;
use std::time::Duration;

/// Where and how a credential persists its tokens across processes.
///
/// Two caches are kept apart: `{name}.nocae` for ordinary tokens and `{name}.cae` for tokens of
/// requests with continuous access evaluation. On Linux each cache lives in the Secret Service
/// (GNOME Keyring, KWallet) of the D-Bus session; when none is reachable the cache is refused
/// unless [`allow_unencrypted_storage`](Self::allow_unencrypted_storage) is set, in which case it
/// is a file readable only by its owner, `~/.IdentityService/{name}.nocae` (mode 0600 in a 0700
/// directory).
///
/// ```
/// use identity_cache::persistent::TokenCachePersistenceOptions;
/// let options = TokenCachePersistenceOptions::default().with_name("my_app");
/// assert_eq!(options.cache_file_name(false), "my_app.nocae");
/// assert_eq!(options.cache_file_name(true), "my_app.cae");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCachePersistenceOptions {
    /// The cache name (default `msal.cache`, the cache the Azure tools share).
    pub name: String,
    /// Store the cache as a plain owner-only file when no Secret Service is reachable
    /// (default false: fail instead).
    pub allow_unencrypted_storage: bool,
    /// The directory of the signal, lock and unencrypted files (default `$HOME/.IdentityService`,
    /// `HOME` read from the credential's environment).
    pub directory: Option<PathBuf>,
    /// Never use the Secret Service, even when one is reachable (the cache must then be allowed
    /// unencrypted storage). For tests and for machines whose keyring prompts.
    pub disable_secret_service: bool,
    /// How long a writer waits for another process's lock before giving up on the write
    /// (default 5 s, as msal-extensions).
    pub lock_timeout: Duration,
}

impl Default for TokenCachePersistenceOptions {
    fn default() -> Self {
        Self {
            name: "msal.cache".to_owned(),
            allow_unencrypted_storage: false,
            directory: None,
            disable_secret_service: false,
            lock_timeout: Duration::from_secs(5),
        }
    }
}

impl TokenCachePersistenceOptions {
    /// Sets the cache name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Allows (or not) an unencrypted file when no Secret Service is reachable.
    #[must_use]
    pub fn with_allow_unencrypted_storage(mut self, allow: bool) -> Self {
        self.allow_unencrypted_storage = allow;
        self
    }

    /// Sets the directory of the cache files (instead of `$HOME/.IdentityService`).
    #[must_use]
    pub fn with_directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.directory = Some(directory.into());
        self
    }

    /// Never use the Secret Service.
    #[must_use]
    pub fn with_secret_service_disabled(mut self, disabled: bool) -> Self {
        self.disable_secret_service = disabled;
        self
    }

    /// Sets how long a writer waits for the cross-process lock.
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// `{name}.cae` or `{name}.nocae`.
    pub fn cache_file_name(&self, cae: bool) -> String {
        format!("{}.{}", self.name, if cae { "cae" } else { "nocae" })
    }
}
