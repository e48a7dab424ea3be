//! Non-cryptographic randomness for request ids and jitter, from the standard library's
//! randomly seeded hasher (no dependency). Never use it for secrets or PKCE.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A random 64-bit value.
pub fn u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

/// A random value in `0..=max` (0 when `max` is 0).
pub fn below_or_equal(max: u64) -> u64 {
    if max == 0 { 0 } else { u64() % (max + 1) }
}
