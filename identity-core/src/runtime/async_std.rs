use crate::clock::AsyncSleep;
use crate::credential::BoxFuture;
use std::time::Duration;

/// Sleeps on async-std's timer. async-std is unmaintained upstream (a RustSec advisory says so); this
/// adapter is kept for existing users, isolated behind the `async-std` feature.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdSleep;

impl AsyncSleep for AsyncStdSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async_std::task::sleep(duration))
    }
}
