#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cache;
mod credential;
mod options;

pub use cache::TokenCache;
pub use credential::CachedCredential;
pub use options::CacheOptions;
