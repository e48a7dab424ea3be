use crate::clock::AsyncSleep;
use crate::credential::BoxFuture;
use std::time::Duration;

/// Sleeps on tokio's timer (needs a tokio runtime with the time driver enabled).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}
