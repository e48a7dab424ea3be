#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod azure_pipelines;
#[cfg(feature = "certificate")]
mod certificate;
#[cfg(feature = "certificate")]
mod certificate_credential;
mod client;
mod client_assertion;
mod client_secret;
mod environment;
mod github_actions;
mod kubernetes_proxy;
mod on_behalf_of;
mod options;
#[cfg(feature = "persistent")]
mod persist;
mod username_password;
mod workload_identity;

pub use azure_pipelines::{
    AzurePipelinesCredential, AzurePipelinesCredentialBuilder, SYSTEM_OIDCREQUESTURI,
};
#[cfg(feature = "certificate")]
pub use certificate::{AssertionAlgorithm, ClientCertificate};
#[cfg(feature = "certificate")]
pub use certificate_credential::{CertificateCredential, CertificateCredentialBuilder};
pub use client_assertion::{
    AssertionCallback, AsyncAssertionCallback, ClientAssertionCredential,
    ClientAssertionCredentialBuilder,
};
pub use client_secret::{ClientSecretCredential, ClientSecretCredentialBuilder};
pub use environment::{
    ENVIRONMENT_UNAVAILABLE, EnvironmentCredential, EnvironmentCredentialBuilder,
};
pub use github_actions::{
    ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL, GitHubActionsCredential,
    GitHubActionsCredentialBuilder,
};
#[cfg(feature = "persistent")]
pub use identity_cache::persistent::TokenCachePersistenceOptions;
pub use on_behalf_of::{OnBehalfOfCredential, OnBehalfOfCredentialBuilder};
pub use options::CredentialOptions;
pub use username_password::{UsernamePasswordCredential, UsernamePasswordCredentialBuilder};
pub use workload_identity::{WorkloadIdentityCredential, WorkloadIdentityCredentialBuilder};
