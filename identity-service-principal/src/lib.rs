//! Service-principal credentials: client secret, certificate, client assertion, workload identity, Azure Pipelines, on-behalf-of and the environment credential.
//!
//! Not implemented yet: this crate holds no code so far. See the workspace README for the status of each crate.
