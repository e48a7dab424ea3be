//! [`TokenCache`]: the map, the hit path and the single-flight machinery.

use crate::options::{CacheOptions, Deadlines};
use arc_swap::{ArcSwap, ArcSwapOption};
use event_listener::Event;
use identity_core::{AccessToken, Error, Result, TokenRequest};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// An in-memory token cache with single flight and proactive refresh.
///
/// Cloning is cheap and shares the cache. See the [crate docs](crate) for the rules.
#[derive(Clone)]
pub struct TokenCache {
    shared: Arc<Shared>,
}

struct Shared {
    options: CacheOptions,
    /// Copy-on-write map: readers never lock; new keys and new tokens (both rare) replace the
    /// whole map under `insert_lock`.
    map: ArcSwap<SlotMap>,
    insert_lock: Mutex<()>,
}

type SlotMap = HashMap<u64, Vec<Entry>, BuildHasherDefault<IdentityHasher>>;

/// A key of the map snapshot: its slot and a copy of the slot's token as of the snapshot, so
/// that a hit is one atomic load of the map, not a second one of the slot.
#[derive(Clone)]
struct Entry {
    slot: Arc<Slot>,
    cached: Option<Arc<Cached>>,
}

/// One cache key: its token and its flight state.
struct Slot {
    /// The request, without claims, that this slot answers.
    key: TokenRequest,
    extra_key: u64,
    /// The token: the truth for the locked paths. The map snapshot's copy (what hits read)
    /// follows it; it is never ahead of it.
    token: ArcSwapOption<Cached>,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    flight: Option<Arc<Flight>>,
}

struct Cached {
    token: Arc<AccessToken>,
    deadlines: Deadlines,
}

/// One request in progress; its callers wait on it.
struct Flight {
    outcome: Mutex<Option<Outcome>>,
    cond: Condvar,
    event: Event,
}

#[derive(Clone)]
enum Outcome {
    Done(std::result::Result<Arc<AccessToken>, Arc<Error>>),
    /// The caller that made the request was dropped or panicked: another caller takes over.
    Abandoned,
}

/// What a caller does next.
enum Step {
    Hit(Arc<AccessToken>),
    Wait(Arc<Flight>),
    Lead(Leader),
}

/// The caller that makes the request. Dropping it unfinished abandons the flight.
struct Leader {
    slot: Arc<Slot>,
    flight: Option<Arc<Flight>>,
    /// The still-usable token during a proactive refresh.
    stale: Option<Arc<Cached>>,
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenCache {
    /// A cache with the system clock and the default policy.
    pub fn new() -> Self {
        Self::with_options(CacheOptions::default())
    }

    /// A cache with the given clock and policy.
    pub fn with_options(options: CacheOptions) -> Self {
        Self {
            shared: Arc::new(Shared {
                options,
                map: ArcSwap::from_pointee(SlotMap::default()),
                insert_lock: Mutex::new(()),
            }),
        }
    }

    /// The options the cache was built with.
    pub fn options(&self) -> &CacheOptions {
        &self.shared.options
    }

    /// Forgets every cached token. Requests in progress finish but their results are not kept.
    pub fn clear(&self) {
        let _guard = lock(&self.shared.insert_lock);
        self.shared.map.store(Arc::new(SlotMap::default()));
    }

    /// The number of keys the cache knows.
    pub fn len(&self) -> usize {
        self.shared.map.load().values().map(Vec::len).sum()
    }

    /// True when the cache knows no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gets the token for `request` from the cache, or by calling `fetch` (on this thread) when
    /// it is missing or due for refresh. Concurrent callers of one key share one `fetch`.
    pub fn get_blocking(
        &self,
        request: &TokenRequest,
        fetch: impl FnOnce() -> Result<AccessToken>,
    ) -> Result<AccessToken> {
        self.get_shared_blocking(request, 0, fetch)
            .map(|t| (*t).clone())
    }

    /// [`get_blocking`](Self::get_blocking) with a credential-specific key part (e.g. a hash
    /// of the resolved tenant or of a tool's login state): different `extra_key`s never share
    /// a token.
    pub fn get_blocking_with_key(
        &self,
        request: &TokenRequest,
        extra_key: u64,
        fetch: impl FnOnce() -> Result<AccessToken>,
    ) -> Result<AccessToken> {
        self.get_shared_blocking(request, extra_key, fetch)
            .map(|t| (*t).clone())
    }

    /// The fastest form: the token is shared, not copied (a hit is a few atomic loads and an
    /// `Arc` clone).
    pub fn get_shared_blocking(
        &self,
        request: &TokenRequest,
        extra_key: u64,
        fetch: impl FnOnce() -> Result<AccessToken>,
    ) -> Result<Arc<AccessToken>> {
        if let Some(token) = self.hit(request, extra_key) {
            return Ok(token);
        }
        if request.claims().is_some() {
            return self.bypass(request, extra_key, fetch());
        }
        let mut fetch = Some(fetch);
        loop {
            match self.step(request, extra_key) {
                Step::Hit(token) => return Ok(token),
                Step::Lead(leader) => {
                    let Some(fetch) = fetch.take() else {
                        // Unreachable: a caller leads at most once (it returns after leading).
                        return Err(Error::unavailable("", "token cache: fetch already used"));
                    };
                    let result = fetch();
                    return leader.finish(result);
                }
                Step::Wait(flight) => {
                    let mut outcome = lock(&flight.outcome);
                    while outcome.is_none() {
                        outcome = flight
                            .cond
                            .wait(outcome)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                    match outcome.clone() {
                        Some(Outcome::Done(result)) => return result.map_err(|e| share_error(&e)),
                        _ => continue,
                    }
                }
            }
        }
    }

    /// Gets the token for `request` from the cache, or by awaiting `fetch()` when it is missing
    /// or due for refresh. Runtime-agnostic (tokio, async-std, any `futures` executor).
    ///
    /// Cancellation-safe: if the caller doing the request is dropped, a waiting caller takes
    /// over with its own `fetch`.
    pub async fn get<F, Fut>(&self, request: &TokenRequest, fetch: F) -> Result<AccessToken>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken>>,
    {
        self.get_shared(request, 0, fetch)
            .await
            .map(|t| (*t).clone())
    }

    /// [`get`](Self::get) with a credential-specific key part.
    pub async fn get_with_key<F, Fut>(
        &self,
        request: &TokenRequest,
        extra_key: u64,
        fetch: F,
    ) -> Result<AccessToken>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken>>,
    {
        self.get_shared(request, extra_key, fetch)
            .await
            .map(|t| (*t).clone())
    }

    /// The async form of [`get_shared_blocking`](Self::get_shared_blocking).
    pub async fn get_shared<F, Fut>(
        &self,
        request: &TokenRequest,
        extra_key: u64,
        fetch: F,
    ) -> Result<Arc<AccessToken>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken>>,
    {
        if let Some(token) = self.hit(request, extra_key) {
            return Ok(token);
        }
        if request.claims().is_some() {
            let result = fetch().await;
            return self.bypass(request, extra_key, result);
        }
        let mut fetch = Some(fetch);
        loop {
            match self.step(request, extra_key) {
                Step::Hit(token) => return Ok(token),
                Step::Lead(leader) => {
                    let Some(fetch) = fetch.take() else {
                        return Err(Error::unavailable("", "token cache: fetch already used"));
                    };
                    let result = fetch().await;
                    return leader.finish(result);
                }
                Step::Wait(flight) => {
                    let outcome = loop {
                        if let Some(outcome) = lock(&flight.outcome).clone() {
                            break outcome;
                        }
                        let listener = flight.event.listen();
                        if let Some(outcome) = lock(&flight.outcome).clone() {
                            break outcome;
                        }
                        listener.await;
                    };
                    match outcome {
                        Outcome::Done(result) => return result.map_err(|e| share_error(&e)),
                        Outcome::Abandoned => continue,
                    }
                }
            }
        }
    }

    /// The lock-free hit path: a usable token not yet due for refresh.
    fn hit(&self, request: &TokenRequest, extra_key: u64) -> Option<Arc<AccessToken>> {
        if request.claims().is_some() {
            return None;
        }
        let map = self.shared.map.load();
        let cached = find(&map, request, extra_key)?.cached.as_ref()?;
        let now = self.shared.options.clock.now_coarse();
        (now < cached.deadlines.refresh_at && now < cached.deadlines.usable_until)
            .then(|| Arc::clone(&cached.token))
    }

    fn slot(&self, request: &TokenRequest, extra_key: u64) -> Arc<Slot> {
        if let Some(entry) = find(&self.shared.map.load(), request, extra_key) {
            return Arc::clone(&entry.slot);
        }
        let _guard = lock(&self.shared.insert_lock);
        let current = self.shared.map.load_full();
        if let Some(entry) = find(&current, request, extra_key) {
            return Arc::clone(&entry.slot);
        }
        let key = if request.claims().is_some() {
            without_claims(request)
        } else {
            request.clone()
        };
        let slot = Arc::new(Slot {
            key,
            extra_key,
            token: ArcSwapOption::empty(),
            state: Mutex::new(SlotState::default()),
        });
        let mut map = SlotMap::clone(&current);
        map.entry(map_key(request.fingerprint_without_claims(), extra_key))
            .or_default()
            .push(Entry {
                slot: Arc::clone(&slot),
                cached: None,
            });
        self.shared.map.store(Arc::new(map));
        slot
    }

    /// Decides, under the slot's state lock, whether to use the token, wait or lead.
    fn step(&self, request: &TokenRequest, extra_key: u64) -> Step {
        let slot = self.slot(request, extra_key);
        let mut state = lock(&slot.state);
        let now = self.shared.options.clock.now();
        let cached = slot.token.load_full();
        let usable = cached
            .as_ref()
            .filter(|c| now < c.deadlines.usable_until)
            .cloned();
        if let Some(c) = &usable {
            if now < c.deadlines.refresh_at || state.flight.is_some() {
                return Step::Hit(Arc::clone(&c.token));
            }
        } else if let Some(flight) = &state.flight {
            return Step::Wait(Arc::clone(flight));
        }
        let flight = Arc::new(Flight {
            outcome: Mutex::new(None),
            cond: Condvar::new(),
            event: Event::new(),
        });
        state.flight = Some(Arc::clone(&flight));
        if let Some(c) = &usable {
            // A proactive refresh: until it ends (and for the back-off if it is abandoned),
            // other callers take the lock-free path with the current token.
            self.shared.set_token(
                &slot,
                c.postponed(now + self.shared.options.failure_backoff),
            );
        }
        drop(state);
        Step::Lead(Leader {
            slot,
            flight: Some(flight),
            stale: usable,
            shared: Arc::clone(&self.shared),
        })
    }

    /// A claims challenge: the request always goes out; a token it yields replaces the entry.
    fn bypass(
        &self,
        request: &TokenRequest,
        extra_key: u64,
        result: Result<AccessToken>,
    ) -> Result<Arc<AccessToken>> {
        let token = Arc::new(result?);
        let slot = self.slot(request, extra_key);
        self.shared
            .set_token(&slot, self.shared.cached(Arc::clone(&token)));
        Ok(token)
    }
}

impl Shared {
    /// Stores a slot's token, then brings the map snapshot's copy up to date. The copy is read
    /// back from the slot under the insert lock, so concurrent stores leave the latest one.
    fn set_token(&self, slot: &Arc<Slot>, cached: Cached) {
        slot.token.store(Some(Arc::new(cached)));
        let _guard = lock(&self.insert_lock);
        let current = slot.token.load_full();
        let hash = map_key(slot.key.fingerprint(), slot.extra_key);
        let mut map = SlotMap::clone(&self.map.load());
        let Some(entry) = map
            .get_mut(&hash)
            .and_then(|entries| entries.iter_mut().find(|e| Arc::ptr_eq(&e.slot, slot)))
        else {
            // The cache was cleared meanwhile: the token is not kept.
            return;
        };
        entry.cached = current;
        self.map.store(Arc::new(map));
    }

    fn cached(&self, token: Arc<AccessToken>) -> Cached {
        let now = self.options.clock.now();
        let jitter = identity_core::random::u64() as f64 / u64::MAX as f64;
        let deadlines = self
            .options
            .deadlines(token.expires_on(), token.refresh_on(), now, jitter);
        Cached { token, deadlines }
    }
}

impl Cached {
    /// The same token with its next refresh attempt moved to `refresh_at`.
    fn postponed(&self, refresh_at: SystemTime) -> Self {
        Self {
            token: Arc::clone(&self.token),
            deadlines: Deadlines {
                usable_until: self.deadlines.usable_until,
                refresh_at,
            },
        }
    }
}

impl Leader {
    fn finish(mut self, result: Result<AccessToken>) -> Result<Arc<AccessToken>> {
        let outcome = match result {
            Ok(token) => {
                let token = Arc::new(token);
                let cached = self.shared.cached(Arc::clone(&token));
                self.shared.set_token(&self.slot, cached);
                Ok(token)
            }
            Err(error) => {
                let now = self.shared.options.clock.now();
                match self.stale.take() {
                    Some(stale) if now < stale.deadlines.usable_until => {
                        tracing::warn!(
                            error = %error,
                            credential = error.credential(),
                            "token refresh failed; the cached token stays in use until its expiry margin"
                        );
                        let postponed = stale.postponed(now + self.shared.options.failure_backoff);
                        self.shared.set_token(&self.slot, postponed);
                        Ok(Arc::clone(&stale.token))
                    }
                    _ => Err(Arc::new(error)),
                }
            }
        };
        self.publish(Outcome::Done(outcome.clone()));
        outcome.map_err(|e| share_error(&e))
    }

    fn publish(&mut self, outcome: Outcome) {
        let Some(flight) = self.flight.take() else {
            return;
        };
        {
            let mut state = lock(&self.slot.state);
            if state
                .flight
                .as_ref()
                .is_some_and(|f| Arc::ptr_eq(f, &flight))
            {
                state.flight = None;
            }
        }
        *lock(&flight.outcome) = Some(outcome);
        flight.cond.notify_all();
        flight.event.notify(usize::MAX);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.publish(Outcome::Abandoned);
    }
}

fn find<'m>(map: &'m SlotMap, request: &TokenRequest, extra_key: u64) -> Option<&'m Entry> {
    map.get(&map_key(request.fingerprint_without_claims(), extra_key))?
        .iter()
        .find(|e| e.slot.extra_key == extra_key && same_key(&e.slot.key, request))
}

/// `same_token_as`, ignoring claims, with a fast path that does not allocate.
fn same_key(key: &TokenRequest, request: &TokenRequest) -> bool {
    if key.enable_cae() != request.enable_cae() || key.tenant_id() != request.tenant_id() {
        return false;
    }
    if key.scopes() == request.scopes() {
        return true;
    }
    key.sorted_scopes() == request.sorted_scopes()
}

fn map_key(fingerprint: u64, extra_key: u64) -> u64 {
    fingerprint
        ^ extra_key
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
}

fn without_claims(request: &TokenRequest) -> TokenRequest {
    let mut r = TokenRequest::with_scopes(request.scopes().iter().cloned())
        .with_enable_cae(request.enable_cae());
    if let Some(t) = request.tenant_id() {
        r = r.with_tenant_id(t);
    }
    r
}

trait FingerprintExt {
    fn fingerprint_without_claims(&self) -> u64;
}

impl FingerprintExt for TokenRequest {
    /// The fingerprint of the request without its claims. Requests without claims (the hit
    /// path) use the precomputed one; a claims request recomputes it.
    fn fingerprint_without_claims(&self) -> u64 {
        if self.claims().is_none() {
            self.fingerprint()
        } else {
            without_claims(self).fingerprint()
        }
    }
}

/// A copy of a shared error for one caller: same kind, credential, message, status, OAuth
/// codes and correlation id; its source chain is the original's.
pub(crate) fn share_error(error: &Arc<Error>) -> Error {
    let mut e = error.duplicate();
    if std::error::Error::source(&**error).is_some() {
        e = e.with_source(SharedSource(Arc::clone(error)));
    }
    e
}

/// The source of a shared error, seen through the `Arc`.
struct SharedSource(Arc<Error>);

impl SharedSource {
    fn inner(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl fmt::Debug for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner() {
            Some(s) => fmt::Debug::fmt(s, f),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Display for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner() {
            Some(s) => fmt::Display::fmt(s, f),
            None => Ok(()),
        }
    }
}

impl std::error::Error for SharedSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner().and_then(std::error::Error::source)
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("keys", &self.len())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

/// The fingerprint is already a hash: use it as is.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
