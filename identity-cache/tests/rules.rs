//! The caching rules, on a virtual clock.

use identity_cache::{CacheOptions, CachedCredential, TokenCache};
use identity_core::clock::{Clock, VirtualClock};
use identity_core::{
    AccessToken, BlockingTokenCredential, Error, ErrorKind, Result, TokenCredential, TokenRequest,
    TransportError, TransportErrorKind,
};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn setup(jitter: bool) -> (TokenCache, VirtualClock) {
    let clock = VirtualClock::new();
    let mut options = CacheOptions::default();
    options.clock = Arc::new(clock.clone());
    if !jitter {
        options.jitter_max = Duration::ZERO;
    }
    (TokenCache::with_options(options), clock)
}

fn token(clock: &VirtualClock, name: &str, lifetime: u64) -> AccessToken {
    AccessToken::new(name, clock.now() + secs(lifetime))
}

/// Calls `get_blocking`, counting fetches; the fetch returns a token of `lifetime` named
/// after the fetch count.
struct Counter {
    calls: Cell<usize>,
}

impl Counter {
    fn new() -> Self {
        Self {
            calls: Cell::new(0),
        }
    }

    fn get(
        &self,
        cache: &TokenCache,
        clock: &VirtualClock,
        request: &TokenRequest,
        lifetime: u64,
    ) -> String {
        cache
            .get_blocking(request, || {
                self.calls.set(self.calls.get() + 1);
                Ok(token(clock, &format!("t{}", self.calls.get()), lifetime))
            })
            .unwrap()
            .token()
            .secret()
            .to_owned()
    }

    fn calls(&self) -> usize {
        self.calls.get()
    }
}

fn req() -> TokenRequest {
    TokenRequest::new("https://vault.azure.net/.default")
}

#[test]
fn expiry_margin_of_five_minutes() {
    let (cache, clock) = setup(false);
    let c = Counter::new();
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t1");
    clock.advance(secs(3299));
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t1");
    assert_eq!(c.calls(), 1);
    clock.advance(secs(1));
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t2");
    assert_eq!(c.calls(), 2);
}

#[test]
fn refresh_on_from_the_service() {
    let (cache, clock) = setup(false);
    let mut n = 0;
    let mut get = |cache: &TokenCache| {
        cache
            .get_blocking(&req(), || {
                n += 1;
                Ok(token(&clock, &format!("t{n}"), 3600)
                    .with_refresh_on(Some(clock.now() + secs(600))))
            })
            .unwrap()
            .token()
            .secret()
            .to_owned()
    };
    assert_eq!(get(&cache), "t1");
    clock.advance(secs(599));
    assert_eq!(get(&cache), "t1");
    clock.advance(secs(1));
    assert_eq!(get(&cache), "t2");
}

#[test]
fn half_life_for_tokens_of_two_hours_or_more() {
    let (cache, clock) = setup(false);
    let c = Counter::new();
    assert_eq!(c.get(&cache, &clock, &req(), 7200), "t1");
    clock.advance(secs(3599));
    assert_eq!(c.get(&cache, &clock, &req(), 7200), "t1");
    clock.advance(secs(1));
    assert_eq!(c.get(&cache, &clock, &req(), 7200), "t2");

    // Just under two hours: no half-life refresh, only the margin.
    let (cache, clock) = setup(false);
    let c = Counter::new();
    c.get(&cache, &clock, &req(), 7199);
    clock.advance(secs(3600));
    c.get(&cache, &clock, &req(), 7199);
    assert_eq!(c.calls(), 1);
    clock.advance(secs(7199 - 300 - 3600));
    c.get(&cache, &clock, &req(), 7199);
    assert_eq!(c.calls(), 2);
}

#[test]
fn short_lived_tokens_are_cached() {
    let (cache, clock) = setup(false);
    let c = Counter::new();
    // 3 minutes: margin = 45 s.
    assert_eq!(c.get(&cache, &clock, &req(), 180), "t1");
    clock.advance(secs(134));
    assert_eq!(c.get(&cache, &clock, &req(), 180), "t1");
    assert_eq!(c.calls(), 1);
    clock.advance(secs(1));
    assert_eq!(c.get(&cache, &clock, &req(), 180), "t2");
    // An already expired token is returned to its caller but never reused.
    let (cache, clock) = setup(false);
    let c = Counter::new();
    c.get(&cache, &clock, &req(), 0);
    c.get(&cache, &clock, &req(), 0);
    assert_eq!(c.calls(), 2);
}

#[test]
fn jitter_brings_the_refresh_forward_by_at_most_60_s() {
    for _ in 0..20 {
        let (cache, clock) = setup(true);
        let c = Counter::new();
        let get = |c: &Counter| {
            cache
                .get_blocking(&req(), || {
                    c.calls.set(c.calls.get() + 1);
                    Ok(token(&clock, "t", 3600).with_refresh_on(Some(clock.now() + secs(1800))))
                })
                .unwrap();
        };
        get(&c);
        clock.advance(secs(1739));
        get(&c);
        assert_eq!(c.calls(), 1);
        clock.advance(secs(61));
        get(&c);
        assert_eq!(c.calls(), 2);
    }
}

fn failing() -> Error {
    Error::transport(
        "FakeCredential",
        TransportError::new(TransportErrorKind::Timeout, "timed out")
            .with_source(std::io::Error::other("socket")),
    )
    .with_status(503)
    .with_correlation_id(Some("cid".into()))
}

#[test]
fn stale_if_error_and_30_s_back_off() {
    let (cache, clock) = setup(false);
    let calls = Cell::new(0);
    let ok = |name: &str| {
        calls.set(calls.get() + 1);
        Ok(token(&clock, name, 3600).with_refresh_on(Some(clock.now() + secs(1800))))
    };
    let fail = || {
        calls.set(calls.get() + 1);
        Err(failing())
    };
    let secret = |r: Result<AccessToken>| r.unwrap().token().secret().to_owned();
    assert_eq!(secret(cache.get_blocking(&req(), || ok("old"))), "old");
    clock.advance(secs(1800));
    // Refresh fails: the old token is returned.
    assert_eq!(secret(cache.get_blocking(&req(), fail)), "old");
    assert_eq!(calls.get(), 2);
    // Within 30 s: no new attempt.
    clock.advance(secs(29));
    assert_eq!(secret(cache.get_blocking(&req(), fail)), "old");
    assert_eq!(calls.get(), 2);
    // After 30 s: another attempt, which fails again.
    clock.advance(secs(1));
    assert_eq!(secret(cache.get_blocking(&req(), fail)), "old");
    assert_eq!(calls.get(), 3);
    clock.advance(secs(30));
    assert_eq!(secret(cache.get_blocking(&req(), || ok("new"))), "new");
    assert_eq!(calls.get(), 4);
    assert_eq!(secret(cache.get_blocking(&req(), fail)), "new");
    assert_eq!(calls.get(), 4);
}

#[test]
fn a_required_refresh_fails_with_an_equivalent_error() {
    let (cache, clock) = setup(false);
    cache
        .get_blocking(&req(), || Ok(token(&clock, "old", 3600)))
        .unwrap();
    clock.advance(secs(3300));
    let e = cache.get_blocking(&req(), || Err(failing())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport(TransportErrorKind::Timeout));
    assert_eq!(e.credential(), "FakeCredential");
    assert_eq!(e.message(), "timed out");
    assert_eq!(e.status(), Some(503));
    assert_eq!(e.correlation_id(), Some("cid"));
    assert_eq!(e.to_string(), failing().to_string());
    let source = std::error::Error::source(&e).unwrap();
    assert_eq!(source.to_string(), "timed out");
    assert_eq!(source.source().unwrap().to_string(), "socket");
    // No back-off for required refreshes.
    let t = cache
        .get_blocking(&req(), || Ok(token(&clock, "new", 3600)))
        .unwrap();
    assert_eq!(t.token().secret(), "new");
}

#[test]
fn claims_bypass_the_cache_and_replace_the_entry() {
    let (cache, clock) = setup(false);
    let c = Counter::new();
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t1");
    let challenged = req().with_claims(r#"{"access_token":{"nbf":{"essential":true}}}"#);
    assert_eq!(c.get(&cache, &clock, &challenged, 3600), "t2");
    assert_eq!(c.get(&cache, &clock, &challenged, 3600), "t3");
    // The plain request now gets the token of the last challenge.
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t3");
    assert_eq!(c.calls(), 3);
    // A failed challenge leaves the entry alone.
    let e = cache
        .get_blocking(&challenged, || Err(failing()))
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t3");
    // A challenge on a cold key fills it.
    let (cache, clock) = setup(false);
    let c = Counter::new();
    assert_eq!(c.get(&cache, &clock, &challenged, 3600), "t1");
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t1");
}

#[test]
fn keys_separate_tenants_cae_and_extra_keys() {
    let (cache, clock) = setup(false);
    let c = Counter::new();
    let plain = TokenRequest::with_scopes(["a", "b"]);
    assert_eq!(c.get(&cache, &clock, &plain, 3600), "t1");
    // Scope order and duplicates do not matter.
    let reordered = TokenRequest::with_scopes(["b", "a", "b"]);
    assert_eq!(c.get(&cache, &clock, &reordered, 3600), "t1");
    let tenant = plain.clone().with_tenant_id("t");
    assert_eq!(c.get(&cache, &clock, &tenant, 3600), "t2");
    let other_tenant = plain.clone().with_tenant_id("u");
    assert_eq!(c.get(&cache, &clock, &other_tenant, 3600), "t3");
    let cae = plain.clone().with_enable_cae(true);
    assert_eq!(c.get(&cache, &clock, &cae, 3600), "t4");
    let fewer = TokenRequest::new("a");
    assert_eq!(c.get(&cache, &clock, &fewer, 3600), "t5");
    for (r, want) in [
        (&plain, "t1"),
        (&tenant, "t2"),
        (&other_tenant, "t3"),
        (&cae, "t4"),
        (&fewer, "t5"),
    ] {
        assert_eq!(c.get(&cache, &clock, r, 3600), want);
    }
    let with_key = |k: u64, name: &str| {
        cache
            .get_blocking_with_key(&plain, k, || Ok(token(&clock, name, 3600)))
            .unwrap()
            .token()
            .secret()
            .to_owned()
    };
    assert_eq!(with_key(0, "x"), "t1");
    assert_eq!(with_key(7, "k7"), "k7");
    assert_eq!(with_key(7, "x"), "k7");
    assert_eq!(with_key(8, "k8"), "k8");
    assert_eq!(cache.len(), 7);
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(c.get(&cache, &clock, &plain, 3600), "t6");
}

/// A request that finishes after `clear()` answers its caller, but the cache keeps nothing.
#[test]
fn a_token_fetched_across_a_clear_is_not_kept() {
    let (cache, clock) = setup(false);
    let c = Counter::new();
    let during = cache
        .get_blocking(&req(), || {
            cache.clear();
            Ok(token(&clock, "during", 3600))
        })
        .unwrap();
    assert_eq!(during.token().secret(), "during");
    assert!(cache.is_empty());
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t1");
    assert_eq!(c.get(&cache, &clock, &req(), 3600), "t1");
    assert_eq!(c.calls(), 1);
}

/// Every refresh is seen by the next hit: tokens are replaced in place, one per refresh.
#[test]
fn each_refresh_is_served_by_the_hits_that_follow() {
    let (cache, clock) = setup(false);
    let c = Counter::new();
    for round in 1..=5 {
        for _ in 0..3 {
            assert_eq!(c.get(&cache, &clock, &req(), 3600), format!("t{round}"));
        }
        // Past the expiry margin (5 minutes before expiry): the next call refreshes.
        clock.advance(secs(3600 - 299));
    }
    assert_eq!(c.calls(), 5);
    assert_eq!(cache.len(), 1);
}

#[test]
fn shared_and_async_forms_agree() {
    let (cache, clock) = setup(false);
    let a = cache
        .get_shared_blocking(&req(), 0, || Ok(token(&clock, "a", 3600)))
        .unwrap();
    let b = futures_executor::block_on(
        cache.get_shared(&req(), 0, || async { Ok(token(&clock, "b", 3600)) }),
    )
    .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let c = futures_executor::block_on(cache.get(&req(), || async { unreachable!() })).unwrap();
    assert_eq!(c.token().secret(), "a");
    let d = futures_executor::block_on(
        cache.get_with_key(&req(), 1, || async { Ok(token(&clock, "d", 3600)) }),
    )
    .unwrap();
    assert_eq!(d.token().secret(), "d");
}

#[test]
fn debug_never_shows_a_token() {
    let (cache, clock) = setup(false);
    cache
        .get_blocking(&req(), || Ok(token(&clock, "hunter2-token", 3600)))
        .unwrap();
    let text = format!("{cache:?} {cache:#?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("keys: 1"), "{text}");
}

#[derive(Debug, Default)]
struct Fake {
    calls: AtomicUsize,
}

impl Fake {
    fn next(&self) -> Result<AccessToken> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken::new(
            format!("t{n}"),
            std::time::SystemTime::now() + secs(3600),
        ))
    }
}

impl BlockingTokenCredential for Fake {
    fn get_token_blocking(&self, _request: &TokenRequest) -> Result<AccessToken> {
        self.next()
    }
}

impl TokenCredential for Fake {
    fn get_token<'a>(
        &'a self,
        _request: &'a TokenRequest,
    ) -> identity_core::BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move { self.next() })
    }
    fn name(&self) -> &'static str {
        "FakeAsync"
    }
}

#[test]
fn cached_credential_blocking_and_async() {
    let credential = CachedCredential::new(Arc::new(Fake::default()));
    assert_eq!(BlockingTokenCredential::name(&credential), "Fake");
    assert_eq!(TokenCredential::name(&credential), "FakeAsync");
    let r = req();
    for _ in 0..5 {
        assert_eq!(
            credential.get_token_blocking(&r).unwrap().token().secret(),
            "t1"
        );
        let t = futures_executor::block_on(credential.get_token(&r)).unwrap();
        assert_eq!(t.token().secret(), "t1");
    }
    assert_eq!(credential.inner().calls.load(Ordering::SeqCst), 1);
    // Usable as a trait object, including the Arc form the chain holds.
    let dynamic: Arc<dyn TokenCredential> = Arc::new(credential.clone());
    assert_eq!(dynamic.name(), "FakeAsync");
    let cache = credential.cache().clone();
    cache.clear();
    let inner = credential.into_inner();
    assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
}
