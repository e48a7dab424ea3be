//! A local emulator of Microsoft Entra ID and the Azure managed-identity endpoints, for tests and demos.
//!
//! Not implemented yet: this crate holds no code so far. See the workspace README for the status of each crate.
