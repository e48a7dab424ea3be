//! The two drivers of the retry policy: [`BlockingPipeline`] and [`AsyncPipeline`]. Both add
//! the SDK headers, log redacted requests, and run the same [`RetryState`].

use crate::clock::{AsyncSleep, BlockingSleep, Clock, SystemClock, ThreadSleep};
use crate::env::Env;
use crate::error::{TransportError, TransportErrorKind};
use crate::http::{AsyncHttpClient, HttpClient, Request, Response, redact_url};
use crate::retry::{RetryDecision, RetryPolicy, RetryState};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The `User-Agent` of every request: `azsdk-rust-identity/{version} ({os}; {arch})`, followed
/// by `AZURE_HTTP_USER_AGENT` when set.
pub fn user_agent(env: &dyn Env) -> String {
    let base = format!(
        "azsdk-rust-identity/{} ({}; {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    match env.non_empty("AZURE_HTTP_USER_AGENT") {
        Some(extra) => format!("{base} {extra}"),
        None => base,
    }
}

/// A random UUID (version 4 layout), for request ids. Not for secrets.
pub fn new_request_id() -> String {
    let a = crate::random::u64();
    let b = crate::random::u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a & 0x0fff) as u16,
        ((b >> 48) as u16 & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn prepare(mut request: Request, user_agent: &str) -> Request {
    if request.headers.get("user-agent").is_none() {
        request.headers.insert("User-Agent", user_agent);
    }
    if request.headers.get("x-ms-client-request-id").is_none() {
        request
            .headers
            .insert("x-ms-client-request-id", new_request_id());
    }
    request
}

fn elapsed_since(start: SystemTime, clock: &dyn Clock) -> Duration {
    clock.now().duration_since(start).unwrap_or_default()
}

/// The attempt's timeout: the request's own, shortened to what is left of the deadline.
fn attempt(request: &Request, policy: &RetryPolicy, elapsed: Duration) -> Request {
    let mut r = request.clone();
    if let Some(deadline) = policy.deadline {
        let left = deadline
            .saturating_sub(elapsed)
            .max(Duration::from_millis(1));
        r.timeout = Some(r.timeout.map_or(left, |t| t.min(left)));
    }
    r
}

/// What the driver does with one outcome.
enum Step {
    Done(Result<Response, TransportError>),
    Wait(Duration),
}

fn decide(
    state: &mut RetryState,
    policy: &RetryPolicy,
    outcome: Result<Response, TransportError>,
    now: SystemTime,
    elapsed: Duration,
    url: &str,
) -> Step {
    let decision = match &outcome {
        Ok(response) => state.on_response(policy, response, now, elapsed),
        Err(error) => state.on_error(policy, error, elapsed),
    };
    match decision {
        RetryDecision::Stop => Step::Done(outcome),
        RetryDecision::Retry(wait) => {
            match &outcome {
                Ok(r) => {
                    tracing::debug!(status = r.status, ?wait, url = %redact_url(url), "retrying")
                }
                Err(e) => tracing::debug!(error = %e, ?wait, url = %redact_url(url), "retrying"),
            }
            Step::Wait(wait)
        }
        RetryDecision::DeadlineExceeded { wait, deadline } => {
            let what = match &outcome {
                Ok(r) => format!("answered HTTP {}", r.status),
                Err(e) => format!("failed ({e})"),
            };
            Step::Done(Err(TransportError::new(
                TransportErrorKind::DeadlineExceeded,
                format!(
                    "{} {what}; the next retry would wait {} s, past the request's deadline of {} s, so no further attempt was made. Try again later.",
                    redact_url(url),
                    tenths_of_seconds(wait),
                    deadline.as_secs()
                ),
            )))
        }
    }
}

/// Sends requests on the calling thread with retries.
#[derive(Clone)]
pub struct BlockingPipeline {
    client: Arc<dyn HttpClient>,
    sleep: Arc<dyn BlockingSleep>,
    clock: Arc<dyn Clock>,
    user_agent: String,
}

impl BlockingPipeline {
    /// A pipeline over `client`, with the system clock and thread sleep.
    pub fn new(client: Arc<dyn HttpClient>, env: &dyn Env) -> Self {
        Self {
            client,
            sleep: Arc::new(ThreadSleep),
            clock: Arc::new(SystemClock),
            user_agent: user_agent(env),
        }
    }

    /// Replaces the clock and the sleeper (tests use a [`VirtualClock`](crate::clock::VirtualClock) for both).
    #[must_use]
    pub fn with_time(mut self, clock: Arc<dyn Clock>, sleep: Arc<dyn BlockingSleep>) -> Self {
        self.clock = clock;
        self.sleep = sleep;
        self
    }

    /// The pipeline's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sends `request`, retrying per `policy`. A non-2xx final response is `Ok`.
    pub fn send(&self, request: Request, policy: &RetryPolicy) -> Result<Response, TransportError> {
        let request = prepare(request, &self.user_agent);
        let span = tracing::debug_span!("http", method = request.method.as_str(), url = %redact_url(&request.url));
        let _guard = span.enter();
        let start = self.clock.now();
        let mut state = RetryState::new();
        loop {
            let elapsed = elapsed_since(start, &*self.clock);
            let outcome = self.client.send(&attempt(&request, policy, elapsed));
            log_outcome(&outcome);
            let now = self.clock.now();
            let elapsed = now.duration_since(start).unwrap_or_default();
            match decide(&mut state, policy, outcome, now, elapsed, &request.url) {
                Step::Done(result) => return result,
                Step::Wait(wait) => self.sleep.sleep(wait),
            }
        }
    }
}

/// Sends requests asynchronously with retries.
#[derive(Clone)]
pub struct AsyncPipeline {
    client: Arc<dyn AsyncHttpClient>,
    sleep: Arc<dyn AsyncSleep>,
    clock: Arc<dyn Clock>,
    user_agent: String,
}

impl AsyncPipeline {
    /// A pipeline over `client`, sleeping with `sleep`, on the system clock.
    pub fn new(
        client: Arc<dyn AsyncHttpClient>,
        sleep: Arc<dyn AsyncSleep>,
        env: &dyn Env,
    ) -> Self {
        Self {
            client,
            sleep,
            clock: Arc::new(SystemClock),
            user_agent: user_agent(env),
        }
    }

    /// Replaces the clock and the sleeper.
    #[must_use]
    pub fn with_time(mut self, clock: Arc<dyn Clock>, sleep: Arc<dyn AsyncSleep>) -> Self {
        self.clock = clock;
        self.sleep = sleep;
        self
    }

    /// The pipeline's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sends `request`, retrying per `policy`. A non-2xx final response is `Ok`.
    pub async fn send(
        &self,
        request: Request,
        policy: &RetryPolicy,
    ) -> Result<Response, TransportError> {
        use tracing::Instrument as _;
        let request = prepare(request, &self.user_agent);
        let span = tracing::debug_span!("http", method = request.method.as_str(), url = %redact_url(&request.url));
        let start = self.clock.now();
        let mut state = RetryState::new();
        loop {
            let elapsed = elapsed_since(start, &*self.clock);
            let outcome = self
                .client
                .send(&attempt(&request, policy, elapsed))
                .instrument(span.clone())
                .await;
            log_outcome(&outcome);
            let now = self.clock.now();
            let elapsed = now.duration_since(start).unwrap_or_default();
            match decide(&mut state, policy, outcome, now, elapsed, &request.url) {
                Step::Done(result) => return result,
                Step::Wait(wait) => self.sleep.sleep(wait).await,
            }
        }
    }
}

fn log_outcome(outcome: &Result<Response, TransportError>) {
    match outcome {
        Ok(r) => {
            tracing::trace!(status = r.status, headers = ?r.headers, body_len = r.body.len(), "response")
        }
        Err(e) => tracing::trace!(error = %e, "transport error"),
    }
}

impl fmt::Debug for BlockingPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPipeline")
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AsyncPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPipeline")
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

/// `2.5` for 2.45–2.549 s: one decimal without float formatting (which a managed-identity
/// binary would otherwise link only for this message).
fn tenths_of_seconds(d: Duration) -> String {
    let tenths = (d.as_millis() + 50) / 100;
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::VirtualClock;
    use crate::env::MapEnv;
    use std::sync::Mutex;

    fn scripted(
        responses: Vec<Result<Response, TransportError>>,
    ) -> (Arc<dyn HttpClient>, Arc<Mutex<Vec<Request>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let queue = Mutex::new(responses.into_iter());
        let log = seen.clone();
        let client = move |r: &Request| {
            log.lock().unwrap().push(r.clone());
            queue
                .lock()
                .unwrap()
                .next()
                .unwrap_or_else(|| Ok(Response::new(599, "script exhausted")))
        };
        (Arc::new(client), seen)
    }

    #[test]
    fn user_agent_and_request_id() {
        let env = MapEnv::new().with("AZURE_HTTP_USER_AGENT", "myapp/1");
        let ua = user_agent(&env);
        assert!(ua.starts_with("azsdk-rust-identity/"));
        assert!(ua.ends_with(" myapp/1"));
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn blocking_driver_follows_the_schedule_on_a_virtual_clock() {
        let (client, seen) = scripted(vec![
            Ok(Response::new(429, "").with_header("Retry-After", "7")),
            Ok(Response::new(500, "")),
            Ok(Response::new(500, "")),
            Ok(Response::new(200, "ok")),
        ]);
        let clock = VirtualClock::new();
        let p = BlockingPipeline::new(client, &MapEnv::new())
            .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
        let r = p
            .send(
                Request::post("http://127.0.0.1:1/t"),
                &RetryPolicy::default(),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            clock.sleeps(),
            vec![
                Duration::from_secs(7),
                Duration::from_secs_f64(1.6),
                Duration::from_secs_f64(3.2)
            ]
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        // One request id for all attempts, and the user agent.
        let id = seen[0].headers.get("x-ms-client-request-id").unwrap();
        assert!(
            seen.iter()
                .all(|r| r.headers.get("x-ms-client-request-id") == Some(id))
        );
        assert!(seen[0].headers.get("user-agent").is_some());
    }

    #[test]
    fn deadline_stops_a_long_retry_after() {
        let (client, seen) = scripted(vec![Ok(
            Response::new(503, "").with_header("Retry-After", "3600")
        )]);
        let clock = VirtualClock::new();
        let p = BlockingPipeline::new(client, &MapEnv::new())
            .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
        let e = p
            .send(
                Request::get("http://127.0.0.1:1/t?resource=secret-ish"),
                &RetryPolicy::default(),
            )
            .unwrap_err();
        assert_eq!(e.kind(), TransportErrorKind::DeadlineExceeded);
        assert!(e.to_string().contains("HTTP 503"), "{e}");
        assert!(!e.to_string().contains("secret-ish"));
        assert!(clock.sleeps().is_empty());
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn imds_gone_schedule_keeps_trying_for_75_seconds() {
        let (client, seen) = scripted((0..6).map(|_| Ok(Response::new(410, ""))).collect());
        let clock = VirtualClock::new();
        let p = BlockingPipeline::new(client, &MapEnv::new())
            .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
        let r = p
            .send(Request::get("http://127.0.0.1:1/t"), &RetryPolicy::imds())
            .unwrap();
        assert_eq!(r.status, 410);
        assert_eq!(seen.lock().unwrap().len(), 6);
        assert_eq!(
            clock.sleeps().iter().sum::<Duration>(),
            Duration::from_secs(75)
        );
    }

    #[test]
    fn attempt_timeout_is_bounded_by_the_deadline() {
        let (client, seen) = scripted(vec![Ok(Response::new(200, ""))]);
        let clock = VirtualClock::new();
        let p = BlockingPipeline::new(client, &MapEnv::new())
            .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
        let policy = RetryPolicy::none().with_deadline(Some(Duration::from_secs(1)));
        p.send(
            Request::get("http://127.0.0.1:1/t").timeout(Duration::from_secs(300)),
            &policy,
        )
        .unwrap();
        assert_eq!(
            seen.lock().unwrap()[0].timeout,
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn async_driver_matches_blocking() {
        let seen = Arc::new(Mutex::new(0u32));
        let count = seen.clone();
        fn higher_ranked<F>(f: F) -> F
        where
            F: for<'a> Fn(&'a Request) -> crate::BoxFuture<'a, Result<Response, TransportError>>,
        {
            f
        }
        let client = higher_ranked(move |_r: &Request| {
            let n = {
                let mut c = count.lock().unwrap();
                *c += 1;
                *c
            };
            Box::pin(async move {
                if n < 3 {
                    Err(TransportError::new(TransportErrorKind::Connect, "refused"))
                } else {
                    Ok(Response::new(200, ""))
                }
            })
        });
        let clock = VirtualClock::new();
        let p = AsyncPipeline::new(Arc::new(client), Arc::new(clock.clone()), &MapEnv::new())
            .with_time(Arc::new(clock.clone()), Arc::new(clock.clone()));
        let r = futures_executor::block_on(p.send(
            Request::get("http://127.0.0.1:1/t"),
            &RetryPolicy::default(),
        ))
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(*seen.lock().unwrap(), 3);
        assert_eq!(
            clock.sleeps(),
            vec![Duration::ZERO, Duration::from_secs_f64(1.6)]
        );
    }
}
