//! Environment access, injectable so that tests control it.

use std::collections::HashMap;
use std::fmt;

/// Reads environment variables. [`SystemEnv`] reads the process environment; [`MapEnv`] is a
/// fixed map for tests and for callers that configure credentials from elsewhere.
pub trait Env: Send + Sync + fmt::Debug {
    /// The variable's value: `Some("")` when it is present but empty, `None` when it is absent
    /// or not valid Unicode.
    fn var(&self, name: &str) -> Option<String>;

    /// The value when present and non-empty.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).filter(|v| !v.is_empty())
    }

    /// The whole environment a child process (a developer tool) should get: `None` means
    /// "inherit this process's environment" (the [`SystemEnv`] case); `Some` is the complete
    /// list, so that a [`MapEnv`] fully describes what a tool sees.
    fn child_environment(&self) -> Option<Vec<(String, String)>> {
        None
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemEnv;

impl Env for SystemEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables.
///
/// ```
/// use identity_core::env::{Env, MapEnv};
/// let env = MapEnv::new().with("AZURE_TENANT_ID", "t").with("EMPTY", "");
/// assert_eq!(env.var("AZURE_TENANT_ID").as_deref(), Some("t"));
/// assert_eq!(env.var("EMPTY").as_deref(), Some(""));
/// assert_eq!(env.non_empty("EMPTY"), None);
/// ```
#[derive(Clone, Default)]
pub struct MapEnv(HashMap<String, String>);

impl MapEnv {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a variable.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Sets a variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }
}

impl fmt::Debug for MapEnv {
    // Values may be secrets (AZURE_CLIENT_SECRET): list the names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("MapEnv").field(&names).finish()
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn child_environment(&self) -> Option<Vec<(String, String)>> {
        let mut vars: Vec<_> = self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort();
        Some(vars)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let env = MapEnv::new().with("AZURE_CLIENT_SECRET", "s3cr3t");
        let dbg = format!("{env:?}");
        assert!(dbg.contains("AZURE_CLIENT_SECRET"));
        assert!(!dbg.contains("s3cr3t"));
    }
}
