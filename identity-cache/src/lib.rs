#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cache;
mod credential;
mod options;
#[cfg(feature = "persistent")]
pub mod persistent;

pub use cache::TokenCache;
pub use credential::CachedCredential;
pub use options::CacheOptions;
