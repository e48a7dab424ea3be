#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod __fuzz;
mod credential;
mod direct;
mod flow;
mod http1;
mod id;
mod parse;
#[cfg(feature = "service-fabric")]
mod pinned;
#[cfg(test)]
mod proptests;
mod source;
mod sources;

pub use credential::{ManagedIdentityCredential, ManagedIdentityCredentialBuilder};
pub use direct::DirectHttpClient;
pub use id::ManagedIdentityId;
pub use source::ManagedIdentitySource;

/// The credential's name, as errors and logs show it.
pub(crate) const NAME: &str = "ManagedIdentityCredential";
