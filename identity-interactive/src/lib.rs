//! Credentials that sign a person in: device code, interactive browser and authorization code.
//!
//! Not implemented yet: this crate holds no code so far. See the workspace README for the status of each crate.
