//! [`CacheOptions`] and the timing rules derived from them.

use identity_core::clock::{Clock, SystemClock};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How a [`TokenCache`](crate::TokenCache) decides when a token is stale.
///
/// ```
/// use identity_cache::CacheOptions;
/// use identity_core::clock::VirtualClock;
/// use std::{sync::Arc, time::Duration};
/// let mut options = CacheOptions::default();
/// options.clock = Arc::new(VirtualClock::new());
/// options.jitter_max = Duration::ZERO;
/// assert_eq!(options.expiry_margin, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheOptions {
    /// Where "now" comes from (default: the system clock).
    pub clock: Arc<dyn Clock>,
    /// A token is not handed out within this margin of its expiry (default 5 minutes). For a
    /// short-lived token the margin is at most a quarter of its lifetime (see the crate docs).
    pub expiry_margin: Duration,
    /// Tokens living at least this long, and without a service-given `refresh_on`, are
    /// refreshed proactively at half their lifetime (default 2 hours).
    pub half_life_threshold: Duration,
    /// The largest random amount by which a proactive refresh is brought forward (default 60 s;
    /// it is also bounded by a twentieth of the token's lifetime). Zero disables jitter.
    pub jitter_max: Duration,
    /// After a proactive refresh attempt, the next one waits at least this long (default 30 s).
    /// Refreshes that are *required* (no valid token left) are never delayed.
    pub failure_backoff: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            expiry_margin: Duration::from_secs(300),
            half_life_threshold: Duration::from_secs(2 * 3600),
            jitter_max: Duration::from_secs(60),
            failure_backoff: Duration::from_secs(30),
        }
    }
}

/// The two deadlines of a cached token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// Until this instant (exclusive) the token may be handed out.
    pub(crate) usable_until: SystemTime,
    /// From this instant on, a proactive refresh is attempted.
    pub(crate) refresh_at: SystemTime,
}

impl CacheOptions {
    /// The expiry margin for a token of `lifetime`: `min(expiry_margin, lifetime / 4)`.
    pub(crate) fn margin_for(&self, lifetime: Duration) -> Duration {
        self.expiry_margin.min(lifetime / 4)
    }

    /// The deadlines of `token` received at `now`, with `jitter` in `0..=1` (a fraction of the
    /// jitter bound; the cache draws it at random).
    pub(crate) fn deadlines(
        &self,
        expires_on: SystemTime,
        refresh_on: Option<SystemTime>,
        now: SystemTime,
        jitter: f64,
    ) -> Deadlines {
        let lifetime = expires_on.duration_since(now).unwrap_or_default();
        let usable_until = expires_on - self.margin_for(lifetime);
        let base = match refresh_on {
            Some(r) => r,
            None if lifetime >= self.half_life_threshold => now + lifetime / 2,
            None => usable_until,
        }
        .min(usable_until);
        let bound = self.jitter_max.min(lifetime / 20);
        let jitter = bound.mul_f64(jitter.clamp(0.0, 1.0));
        let refresh_at = base.checked_sub(jitter).unwrap_or(base).max(now);
        Deadlines {
            usable_until,
            refresh_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> CacheOptions {
        CacheOptions::default()
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn margins() {
        let o = opts();
        assert_eq!(o.margin_for(S(3600)), S(300));
        assert_eq!(o.margin_for(S(1200)), S(300));
        assert_eq!(o.margin_for(S(180)), S(45));
        assert_eq!(o.margin_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn deadlines_without_jitter() {
        let o = opts();
        let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
        // One hour, no refresh_on: refresh when the margin is reached.
        let d = o.deadlines(t0 + S(3600), None, t0, 0.0);
        assert_eq!(d.usable_until, t0 + S(3300));
        assert_eq!(d.refresh_at, t0 + S(3300));
        // refresh_on wins.
        let d = o.deadlines(t0 + S(3600), Some(t0 + S(1800)), t0, 0.0);
        assert_eq!(d.refresh_at, t0 + S(1800));
        // refresh_on past the margin is capped by it.
        let d = o.deadlines(t0 + S(3600), Some(t0 + S(3500)), t0, 0.0);
        assert_eq!(d.refresh_at, t0 + S(3300));
        // Half life from 2 hours on.
        let d = o.deadlines(t0 + S(7200), None, t0, 0.0);
        assert_eq!(d.refresh_at, t0 + S(3600));
        let d = o.deadlines(t0 + S(86400), None, t0, 0.0);
        assert_eq!(d.refresh_at, t0 + S(43200));
        // Already expired.
        let d = o.deadlines(t0 - S(1), None, t0, 0.0);
        assert!(d.usable_until <= t0);
    }

    #[test]
    fn jitter_is_bounded() {
        let o = opts();
        let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
        let d = o.deadlines(t0 + S(3600), Some(t0 + S(1800)), t0, 1.0);
        assert_eq!(d.refresh_at, t0 + S(1740));
        // A 3-minute token: at most 9 s.
        let d = o.deadlines(t0 + S(180), None, t0, 1.0);
        assert_eq!(d.usable_until, t0 + S(135));
        assert_eq!(d.refresh_at, t0 + S(126));
        // Never before `now`.
        let d = o.deadlines(t0 + S(3600), Some(t0), t0, 1.0);
        assert_eq!(d.refresh_at, t0);
    }
}
