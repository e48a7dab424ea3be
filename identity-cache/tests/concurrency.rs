//! Single flight and parallel keys with real threads and tasks (tokio, async-std, futures).

use identity_cache::{CacheOptions, TokenCache};
use identity_core::clock::{Clock, VirtualClock};
use identity_core::{AccessToken, Error, ErrorKind, Result, TokenRequest};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

const CALLERS: usize = 1000;
const KEYS: usize = 5;

fn token(name: &str) -> AccessToken {
    AccessToken::new(name, SystemTime::now() + Duration::from_secs(3600))
}

fn key(i: usize) -> TokenRequest {
    TokenRequest::new(format!("https://key{i}/.default"))
}

/// Counts fetches; `overlap` checks that all five fetches were in progress at once.
#[derive(Default)]
struct Probe {
    requests: AtomicUsize,
    entered: AtomicUsize,
    finished: AtomicUsize,
    /// Set when a fetch started after another finished, or finished before all 5 started.
    serialised: AtomicBool,
}

impl Probe {
    /// Marks the start of a fetch.
    fn enter(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.finished.load(Ordering::SeqCst) > 0 {
            self.serialised.store(true, Ordering::SeqCst);
        }
        self.entered.fetch_add(1, Ordering::SeqCst);
    }

    fn all_entered(&self) -> bool {
        self.entered.load(Ordering::SeqCst) >= KEYS
    }

    fn finish(&self) {
        if !self.all_entered() {
            self.serialised.store(true, Ordering::SeqCst);
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    fn assert_overlapped(&self) {
        assert_eq!(self.requests.load(Ordering::SeqCst), KEYS);
        assert!(
            !self.serialised.load(Ordering::SeqCst),
            "the 5 fetches did not all run at once"
        );
    }
}

/// Up to 10 s of polling, 1 ms apart.
const WAIT_STEPS: usize = 10_000;

#[test]
fn blocking_1000_cold_callers_one_request() {
    let cache = TokenCache::new();
    let probe = Arc::new(Probe::default());
    let barrier = Arc::new(Barrier::new(CALLERS));
    let handles: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cache, probe, barrier) = (cache.clone(), probe.clone(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    barrier.wait();
                    cache
                        .get_blocking(&key(0), || {
                            probe.enter();
                            std::thread::sleep(Duration::from_millis(20));
                            Ok(token("one"))
                        })
                        .unwrap()
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().token().secret(), "one");
    }
    assert_eq!(probe.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn blocking_5_cold_keys_overlap() {
    let cache = TokenCache::new();
    let probe = Arc::new(Probe::default());
    let handles: Vec<_> = (0..KEYS)
        .map(|i| {
            let (cache, probe) = (cache.clone(), probe.clone());
            std::thread::spawn(move || {
                cache
                    .get_blocking(&key(i), || {
                        probe.enter();
                        for _ in 0..WAIT_STEPS {
                            if probe.all_entered() {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        probe.finish();
                        Ok(token("k"))
                    })
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    probe.assert_overlapped();
}

#[test]
fn waiters_share_the_error() {
    let cache = TokenCache::new();
    let probe = Arc::new(Probe::default());
    let barrier = Arc::new(Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (cache, probe, barrier) = (cache.clone(), probe.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                cache
                    .get_blocking(&key(0), || {
                        probe.enter();
                        std::thread::sleep(Duration::from_millis(50));
                        Err(Error::authentication("Fake", "AADSTS7000215: bad secret")
                            .with_status(401)
                            .with_oauth_error(Some("invalid_client".into()), vec![7_000_215]))
                    })
                    .unwrap_err()
            })
        })
        .collect();
    for h in handles {
        let e = h.join().unwrap();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.to_string(), "Fake: AADSTS7000215: bad secret");
        assert_eq!(e.status(), Some(401));
        assert_eq!(e.error_code(), Some("invalid_client"));
        assert_eq!(e.aadsts_codes(), [7_000_215]);
    }
    // Errors are not cached: each flight makes one request, and there was at least one.
    let n = probe.requests.load(Ordering::SeqCst);
    assert!((1..=10).contains(&n), "{n}");
}

#[test]
fn during_a_proactive_refresh_others_get_the_old_token_at_once() {
    let clock = VirtualClock::new();
    let mut options = CacheOptions::default();
    options.clock = Arc::new(clock.clone());
    options.jitter_max = Duration::ZERO;
    let cache = TokenCache::with_options(options);
    let refresh_on = clock.now() + Duration::from_secs(600);
    let expires = clock.now() + Duration::from_secs(3600);
    cache
        .get_blocking(&key(0), || {
            Ok(AccessToken::new("old", expires).with_refresh_on(Some(refresh_on)))
        })
        .unwrap();
    clock.advance(Duration::from_secs(600));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let leader = {
        let cache = cache.clone();
        std::thread::spawn(move || {
            cache
                .get_blocking(&key(0), || {
                    entered_tx.send(()).unwrap();
                    release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                    Ok(token("new"))
                })
                .unwrap()
        })
    };
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // The refresh is in progress: other callers get the old token without waiting.
    for _ in 0..3 {
        let t = cache.get_blocking(&key(0), || unreachable!()).unwrap();
        assert_eq!(t.token().secret(), "old");
    }
    release_tx.send(()).unwrap();
    assert_eq!(leader.join().unwrap().token().secret(), "new");
    let t = cache.get_blocking(&key(0), || unreachable!()).unwrap();
    assert_eq!(t.token().secret(), "new");
}

#[test]
fn a_panicking_blocking_leader_hands_over() {
    let cache = TokenCache::new();
    let (entered_tx, entered_rx) = mpsc::channel();
    let leader = {
        let cache = cache.clone();
        std::thread::spawn(move || {
            cache.get_blocking(&key(0), || {
                entered_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                panic!("fetch panicked");
            })
        })
    };
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // This caller waits on the flight, sees it abandoned, and fetches itself.
    let t = cache.get_blocking(&key(0), || Ok(token("mine"))).unwrap();
    assert_eq!(t.token().secret(), "mine");
    assert!(leader.join().is_err());
}

#[test]
fn a_dropped_async_leader_hands_over() {
    let cache = TokenCache::new();
    let request = key(0);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let leader_fetched = AtomicBool::new(false);
    let mut leader = Box::pin(cache.get(&request, || {
        leader_fetched.store(true, Ordering::SeqCst);
        std::future::pending::<Result<AccessToken>>()
    }));
    assert!(leader.as_mut().poll(&mut cx).is_pending());
    assert!(leader_fetched.load(Ordering::SeqCst));
    let waiter_fetched = AtomicBool::new(false);
    let mut waiter = pin!(cache.get(&request, || async {
        waiter_fetched.store(true, Ordering::SeqCst);
        Ok(token("waiter"))
    }));
    // The waiter waits for the leader's flight.
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    assert!(!waiter_fetched.load(Ordering::SeqCst));
    drop(leader);
    // Now it takes over (bounded: a few polls at most).
    let mut result = None;
    for _ in 0..10 {
        if let Poll::Ready(r) = waiter.as_mut().poll(&mut cx) {
            result = Some(r);
            break;
        }
    }
    assert_eq!(result.unwrap().unwrap().token().secret(), "waiter");
    assert!(waiter_fetched.load(Ordering::SeqCst));
    // And the token is cached.
    let t = futures_executor::block_on(cache.get(&request, || async { unreachable!() }));
    assert_eq!(t.unwrap().token().secret(), "waiter");
}

/// The async fetch of the overlap test, with the runtime's sleep.
async fn overlapping_fetch<S, F>(probe: &Probe, sleep: S) -> Result<AccessToken>
where
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    probe.enter();
    for _ in 0..WAIT_STEPS {
        if probe.all_entered() {
            break;
        }
        sleep(Duration::from_millis(1)).await;
    }
    probe.finish();
    Ok(token("k"))
}

async fn counted_fetch<S, F>(probe: &Probe, sleep: S) -> Result<AccessToken>
where
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    probe.enter();
    sleep(Duration::from_millis(20)).await;
    Ok(token("one"))
}

#[test]
fn tokio_1000_cold_callers_and_5_keys() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let cache = TokenCache::new();
        let probe = Arc::new(Probe::default());
        let tasks: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (cache, probe) = (cache.clone(), probe.clone());
                tokio::spawn(async move {
                    cache
                        .get(&key(0), || counted_fetch(&probe, tokio::time::sleep))
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().token().secret(), "one");
        }
        assert_eq!(probe.requests.load(Ordering::SeqCst), 1);

        let cache = TokenCache::new();
        let probe = Arc::new(Probe::default());
        let tasks: Vec<_> = (0..KEYS)
            .map(|i| {
                let (cache, probe) = (cache.clone(), probe.clone());
                tokio::spawn(async move {
                    cache
                        .get(&key(i), || overlapping_fetch(&probe, tokio::time::sleep))
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        probe.assert_overlapped();
    });
}

#[test]
fn async_std_1000_cold_callers_and_5_keys() {
    async_std::task::block_on(async {
        let cache = TokenCache::new();
        let probe = Arc::new(Probe::default());
        let tasks: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (cache, probe) = (cache.clone(), probe.clone());
                async_std::task::spawn(async move {
                    cache
                        .get(&key(0), || counted_fetch(&probe, async_std::task::sleep))
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().token().secret(), "one");
        }
        assert_eq!(probe.requests.load(Ordering::SeqCst), 1);

        let cache = TokenCache::new();
        let probe = Arc::new(Probe::default());
        let tasks: Vec<_> = (0..KEYS)
            .map(|i| {
                let (cache, probe) = (cache.clone(), probe.clone());
                async_std::task::spawn(async move {
                    cache
                        .get(&key(i), || {
                            overlapping_fetch(&probe, async_std::task::sleep)
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        probe.assert_overlapped();
    });
}

/// A timer-free sleep for a plain `futures` executor: a thread wakes the task.
async fn thread_sleep(d: Duration) {
    let deadline = Instant::now() + d;
    std::future::poll_fn(|cx| {
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        std::thread::spawn(move || {
            std::thread::sleep(d);
            waker.wake();
        });
        Poll::Pending
    })
    .await;
}

#[test]
fn futures_executor_1000_cold_callers_and_5_keys() {
    let pool = futures_executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .unwrap();
    let cache = TokenCache::new();
    let probe = Arc::new(Probe::default());
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (cache, probe) = (cache.clone(), probe.clone());
            futures_util::task::SpawnExt::spawn_with_handle(&pool, async move {
                cache
                    .get(&key(0), || counted_fetch(&probe, thread_sleep))
                    .await
            })
            .unwrap()
        })
        .collect();
    for t in futures_executor::block_on(futures_util::future::join_all(tasks)) {
        assert_eq!(t.unwrap().token().secret(), "one");
    }
    assert_eq!(probe.requests.load(Ordering::SeqCst), 1);

    let cache = TokenCache::new();
    let probe = Arc::new(Probe::default());
    let tasks: Vec<_> = (0..KEYS)
        .map(|i| {
            let (cache, probe) = (cache.clone(), probe.clone());
            futures_util::task::SpawnExt::spawn_with_handle(&pool, async move {
                cache
                    .get(&key(i), || overlapping_fetch(&probe, thread_sleep))
                    .await
            })
            .unwrap()
        })
        .collect();
    for t in futures_executor::block_on(futures_util::future::join_all(tasks)) {
        t.unwrap();
    }
    probe.assert_overlapped();
}
