#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "azure-core")]
mod azure_core_adapter;
mod bearer;
mod chained;
mod default;

#[cfg(feature = "azure-core")]
pub use azure_core_adapter::AzureCoreCredential;
pub use bearer::{BearerTokenProvider, get_bearer_token_provider};
pub use chained::{
    Attempt, ChainAttempts, ChainMember, ChainedTokenCredential, DEFAULT_HEAD_START,
};
pub use default::{DefaultAzureCredential, DefaultAzureCredentialOptions, DefaultMember};

pub use identity_core::{
    AccessToken, BlockingTokenCredential, Error, ErrorKind, TokenCredential, TokenRequest,
};
#[cfg(feature = "dev-tools")]
pub use identity_dev_tools::{
    AzureCliCredential, AzureDeveloperCliCredential, AzurePowerShellCredential,
    VisualStudioCodeCredential,
};
#[cfg(feature = "interactive")]
pub use identity_interactive::{
    AuthenticationRecord, AuthorizationCodeCredential, DeviceCodeCredential,
    InteractiveBrowserCredential,
};
#[cfg(feature = "shared-cache")]
pub use identity_interactive::{SharedTokenCacheCredential, TokenCachePersistenceOptions};
#[cfg(feature = "managed-identity")]
pub use identity_msi::{ManagedIdentityCredential, ManagedIdentityId};
#[cfg(any(
    feature = "env",
    feature = "workload-identity",
    feature = "service-principal"
))]
pub use identity_service_principal as service_principal;
