//! Async runtime adapters: one small trait ([`crate::clock::AsyncSleep`]), one
//! file per runtime behind a feature.

#[cfg(feature = "async-std")]
mod async_std;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "async-std")]
pub use self::async_std::AsyncStdSleep;
#[cfg(feature = "tokio")]
pub use self::tokio::TokioSleep;

use crate::clock::AsyncSleep;
use std::sync::Arc;

/// The sleeper of the enabled runtime: tokio if the `tokio` feature is on, else async-std if
/// `async-std` is on, else `None` (pass your own [`AsyncSleep`]).
pub fn default_async_sleep() -> Option<Arc<dyn AsyncSleep>> {
    #[cfg(feature = "tokio")]
    {
        Some(Arc::new(TokioSleep))
    }
    #[cfg(all(not(feature = "tokio"), feature = "async-std"))]
    {
        Some(Arc::new(AsyncStdSleep))
    }
    #[cfg(not(any(feature = "tokio", feature = "async-std")))]
    {
        None
    }
}
