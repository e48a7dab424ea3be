//! ChainedTokenCredential and DefaultAzureCredential, composing the credential families through Cargo features.
//!
//! Not implemented yet: this crate holds no code so far (its `examples/demo.rs` is `cargo xtask demo`).
//! See the workspace README for the status of each crate.
