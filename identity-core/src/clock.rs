//! Time, injectable: a [`Clock`] for "now" and sleepers for waiting, blocking or async.

use crate::credential::BoxFuture;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Tells the time. Protocol code never reads the clock itself: it is handed `now`.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// The current time to within a few milliseconds, for hot paths such as a cache hit
    /// (default: [`Clock::now`]).
    fn now_coarse(&self) -> SystemTime {
        self.now()
    }
}

/// The system clock. [`Clock::now_coarse`] reads the kernel's coarse monotonic clock (a few
/// nanoseconds instead of ~20) anchored to the wall clock, re-anchored every second.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn now_coarse(&self) -> SystemTime {
        coarse::now()
    }
}

mod coarse {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// Wall-clock nanoseconds minus coarse monotonic nanoseconds, as of the last anchoring.
    static OFFSET: AtomicU64 = AtomicU64::new(0);
    /// Coarse monotonic nanoseconds of the last anchoring (0: never).
    static ANCHORED_AT: AtomicU64 = AtomicU64::new(0);
    const REANCHOR_EVERY: u64 = 1_000_000_000;

    fn monotonic_nanos() -> u64 {
        let now = coarsetime::Instant::now_without_cache_update();
        coarsetime::Duration::from_u64(now.as_u64()).as_nanos()
    }

    pub(super) fn now() -> SystemTime {
        let mono = monotonic_nanos();
        let anchored = ANCHORED_AT.load(Ordering::Relaxed);
        if anchored == 0 || mono.wrapping_sub(anchored) > REANCHOR_EVERY {
            let wall = SystemTime::now();
            let wall_nanos = wall
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0);
            OFFSET.store(wall_nanos.wrapping_sub(mono), Ordering::Relaxed);
            ANCHORED_AT.store(mono.max(1), Ordering::Relaxed);
            return wall;
        }
        let offset = OFFSET.load(Ordering::Relaxed);
        UNIX_EPOCH + Duration::from_nanos(offset.wrapping_add(mono))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_time_tracks_the_wall_clock() {
        for _ in 0..50 {
            let precise = SystemClock.now();
            let coarse = SystemClock.now_coarse();
            let skew = match coarse.duration_since(precise) {
                Ok(ahead) => ahead,
                Err(behind) => behind.duration(),
            };
            assert!(
                skew < Duration::from_millis(100),
                "coarse time is {skew:?} off"
            );
        }
        let clock = VirtualClock::new();
        assert_eq!(clock.now_coarse(), clock.now());
    }
}
