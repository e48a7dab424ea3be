//! `cargo bench -p identity-cache --bench cache`: hit latency and throughput, and the cold-key
//! concurrency figures, printed as a markdown table.

use identity_cache::TokenCache;
use identity_core::clock::{Clock, SystemClock};
use identity_core::{AccessToken, TokenRequest};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

const HIT_CALLS: u32 = 2_000_000;
const RUNS: usize = 5;
const FETCH: Duration = Duration::from_millis(50);

fn token() -> AccessToken {
    // A realistic JWT length.
    AccessToken::new(
        "x".repeat(1500),
        SystemTime::now() + Duration::from_secs(3600),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn warm(request: &TokenRequest) -> TokenCache {
    let cache = TokenCache::new();
    cache.get_blocking(request, || Ok(token())).unwrap();
    cache
}

/// ns per call on one thread.
fn hit_latency(shared: bool) -> f64 {
    let request = TokenRequest::new("https://vault.azure.net/.default");
    let cache = warm(&request);
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..HIT_CALLS {
                    if shared {
                        black_box(
                            cache
                                .get_shared_blocking(black_box(&request), 0, || unreachable!())
                                .unwrap(),
                        );
                    } else {
                        black_box(
                            cache
                                .get_blocking(black_box(&request), || unreachable!())
                                .unwrap(),
                        );
                    }
                }
                start.elapsed().as_nanos() as f64 / f64::from(HIT_CALLS)
            })
            .collect(),
    )
}

/// Total calls per second with `threads` threads hitting one key.
fn hit_throughput(threads: u32) -> f64 {
    let request = Arc::new(TokenRequest::new("https://vault.azure.net/.default"));
    let cache = warm(&request);
    median(
        (0..RUNS)
            .map(|_| {
                let barrier = Arc::new(Barrier::new(threads as usize + 1));
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        let (cache, request, barrier) =
                            (cache.clone(), Arc::clone(&request), Arc::clone(&barrier));
                        std::thread::spawn(move || {
                            barrier.wait();
                            for _ in 0..HIT_CALLS {
                                black_box(
                                    cache
                                        .get_shared_blocking(&request, 0, || unreachable!())
                                        .unwrap(),
                                );
                            }
                        })
                    })
                    .collect();
                barrier.wait();
                let start = Instant::now();
                for h in handles {
                    h.join().unwrap();
                }
                f64::from(HIT_CALLS * threads) / start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// `callers` threads per key, `keys` keys, all cold; each fetch sleeps 50 ms. Returns the
/// median wall time in ms and the largest number of requests seen in a run.
fn cold(keys: usize, callers: usize, runs: usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut max_requests = 0;
    for _ in 0..runs {
        let cache = TokenCache::new();
        let requests = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(keys * callers + 1));
        let handles: Vec<_> = (0..keys * callers)
            .map(|i| {
                let (cache, requests, barrier) =
                    (cache.clone(), Arc::clone(&requests), Arc::clone(&barrier));
                let request = TokenRequest::new(format!("https://key{}/.default", i % keys));
                std::thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || {
                        barrier.wait();
                        cache
                            .get_shared_blocking(&request, 0, || {
                                requests.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(FETCH);
                                Ok(token())
                            })
                            .unwrap();
                    })
                    .unwrap()
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        times.push(start.elapsed().as_secs_f64() * 1e3);
        max_requests = max_requests.max(requests.load(Ordering::SeqCst));
    }
    (median(times), max_requests)
}

/// ns per read of the coarse clock a hit compares deadlines with, for the breakdown of a hit.
fn clock_cost() -> f64 {
    let clock = SystemClock;
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..HIT_CALLS {
                    black_box(black_box(&clock).now_coarse());
                }
                start.elapsed().as_nanos() as f64 / f64::from(HIT_CALLS)
            })
            .collect(),
    )
}

fn main() {
    let clock = clock_cost();
    let shared = hit_latency(true);
    let owned = hit_latency(false);
    let one = hit_throughput(1);
    let two = hit_throughput(2);
    let (thousand_ms, thousand_requests) = cold(1, 1000, 3);
    let (one_key_ms, _) = cold(1, 1, RUNS);
    let (five_keys_ms, five_requests) = cold(5, 1, RUNS);

    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| hit latency, 1 thread, `get_shared_blocking` (`Arc<AccessToken>`) | {shared:.1} ns/call |"
    );
    println!(
        "| hit latency, 1 thread, `get_blocking` (owned `AccessToken`: the token is shared, not copied) | {owned:.1} ns/call |"
    );
    println!(
        "| one coarse clock read alone (`Clock::now_coarse`, part of every hit) | {clock:.1} ns |"
    );
    println!(
        "| hit throughput, 1 thread | {:.1} M calls/s ({:.1} ns/call) |",
        one / 1e6,
        1e9 / one
    );
    println!(
        "| hit throughput, 2 threads (total) | {:.1} M calls/s ({:.1} ns/call per thread) |",
        two / 1e6,
        2e9 / two
    );
    println!(
        "| 1,000 cold callers, one key (fetch 50 ms) | {thousand_requests} request(s), {thousand_ms:.1} ms |"
    );
    println!(
        "| 5 cold keys at once vs one (fetch 50 ms) | {five_requests} requests, {five_keys_ms:.1} ms vs {one_key_ms:.1} ms = {:.2}x |",
        five_keys_ms / one_key_ms
    );
}
