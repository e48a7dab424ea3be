#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod auth_code;
mod browser;
mod core;
mod device_code;
mod loopback;
mod options;
mod persist;
mod protocol;
mod record;
#[cfg(feature = "persistent")]
mod shared_cache;

pub use auth_code::{AuthorizationCodeCredential, AuthorizationCodeCredentialBuilder};
pub use browser::{InteractiveBrowserCredential, InteractiveBrowserCredentialBuilder};
pub use device_code::{DeviceCodeCredential, DeviceCodeCredentialBuilder};
#[cfg(feature = "persistent")]
pub use identity_cache::persistent::TokenCachePersistenceOptions;
pub use options::{CancellationToken, InteractiveOptions};
pub use protocol::{DeviceCodeInfo, ResponseMode};
pub use record::AuthenticationRecord;
#[cfg(feature = "persistent")]
pub use shared_cache::{SharedTokenCacheCredential, SharedTokenCacheCredentialBuilder};
