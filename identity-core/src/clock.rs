//! Time, injectable: a [`Clock`] for "now" and sleepers for waiting, blocking or async.

use crate::credential::BoxFuture;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Tells the time. Protocol code never reads the clock itself: it is handed `now`.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Waits in a blocking context.
pub trait BlockingSleep: Send + Sync + fmt::Debug {
    /// Blocks the current thread for `duration`.
    fn sleep(&self, duration: Duration);
}

/// Waits in an async context. Implemented for tokio and async-std behind features; implement
/// it for any other executor (it is one method).
pub trait AsyncSleep: Send + Sync + fmt::Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// `std::thread::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleep;

impl BlockingSleep for ThreadSleep {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A manual clock for tests and simulations: time moves only when told to, or when something
/// sleeps on it (every sleep returns at once and advances the clock by its duration, and is
/// recorded).
///
/// ```
/// use identity_core::clock::{BlockingSleep, Clock, VirtualClock};
/// use std::time::Duration;
/// let clock = VirtualClock::new();
/// let t0 = clock.now();
/// clock.sleep(Duration::from_secs(5));
/// assert_eq!(clock.now(), t0 + Duration::from_secs(5));
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
/// ```
#[derive(Clone)]
pub struct VirtualClock {
    inner: Arc<Mutex<VirtualState>>,
}

struct VirtualState {
    now: SystemTime,
    sleeps: Vec<Duration>,
}

impl VirtualClock {
    /// A clock that starts at a fixed time (2025-01-01T00:00:00Z).
    pub fn new() -> Self {
        Self::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600))
    }

    /// A clock that starts at `now`.
    pub fn starting_at(now: SystemTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new(VirtualState {
                now,
                sleeps: Vec::new(),
            })),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.lock().now += by;
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record_sleep(&self, duration: Duration) {
        let mut state = self.lock();
        state.now += duration;
        state.sleeps.push(duration);
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock")
            .field("now", &self.lock().now)
            .finish()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> SystemTime {
        self.lock().now
    }
}

impl BlockingSleep for VirtualClock {
    fn sleep(&self, duration: Duration) {
        self.record_sleep(duration);
    }
}

impl AsyncSleep for VirtualClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.record_sleep(duration);
        Box::pin(std::future::ready(()))
    }
}
