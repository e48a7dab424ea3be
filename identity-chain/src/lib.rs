//! ChainedTokenCredential and DefaultAzureCredential, composing the credential families through Cargo features.
//!
//! Not implemented yet: this crate holds no code so far. See the workspace README for the status of each crate.
