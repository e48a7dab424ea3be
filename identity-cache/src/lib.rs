//! In-memory token cache with single flight and proactive refresh, shared by every credential.
//!
//! Not implemented yet: this crate holds no code so far. See the workspace README for the status of each crate.
