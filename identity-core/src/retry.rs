//! The retry policy (PROTOCOL.md §3.2, and the IMDS variant of §6.3), written once as pure
//! code and driven by a blocking and an async driver ([`crate::pipeline`]).

use crate::error::{TransportError, TransportErrorKind};
use crate::http::{Headers, Response};
use std::time::{Duration, SystemTime};

/// Which status codes are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryStatuses {
    /// 408, 429, 500, 502, 503, 504 and 506–998 (azure-core's default set).
    Default,
    /// The default set plus 404, 410 and every 5xx (the IMDS guidance).
    Imds,
}

impl RetryStatuses {
    fn contains(self, status: u16) -> bool {
        let default = matches!(status, 408 | 429 | 500 | 502 | 503 | 504 | 506..=998);
        match self {
            Self::Default => default,
            Self::Imds => default || matches!(status, 404 | 410 | 500..=599),
        }
    }
}

/// How a request is retried.
///
/// ```
/// use identity_core::retry::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_status_retries, 3);
/// assert_eq!(p.backoff(2, 503), Duration::from_millis(1600));
/// let imds = RetryPolicy::imds();
/// assert_eq!(imds.backoff(2, 410), Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries of any kind, at most.
    pub max_retries: u32,
    /// Retries after a retryable status, at most.
    pub max_status_retries: u32,
    /// Retries after a connection failure, at most.
    pub max_connect_retries: u32,
    /// Retries after a read failure or timeout, at most.
    pub max_read_retries: u32,
    /// The backoff after the n-th failure (n ≥ 2) is `factor × 2^(n−1)`; the first retry is
    /// immediate.
    pub backoff_factor: Duration,
    /// The factor after a 410 (IMDS keeps retrying 410 for at least 70 s), if different.
    pub gone_backoff_factor: Option<Duration>,
    /// Cap on a computed backoff (a server's `Retry-After` is not capped by it).
    pub backoff_max: Duration,
    /// The retried status codes. Any status ≥ 400 with a non-empty `Retry-After` is retried too.
    pub statuses: RetryStatuses,
    /// Bound on the whole exchange, waits included: a retry that would wait past it is not made
    /// and the request fails with [`TransportErrorKind::DeadlineExceeded`].
    pub deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    /// The policy of every request except IMDS: 3 retries per failure type (4 attempts), 0.8 s
    /// factor, 120 s cap, 10 minutes in all.
    fn default() -> Self {
        Self {
            max_retries: 10,
            max_status_retries: 3,
            max_connect_retries: 3,
            max_read_retries: 3,
            backoff_factor: Duration::from_millis(800),
            gone_backoff_factor: None,
            backoff_max: Duration::from_secs(120),
            statuses: RetryStatuses::Default,
            deadline: Some(Duration::from_secs(600)),
        }
    }
}

impl RetryPolicy {
    /// The IMDS policy: 5 retries (6 attempts) on 404, 410, 429 and 5xx; 0.8 s factor (waits
    /// 0, 1.6, 3.2, 6.4, 12.8 s), 2.5 s after a 410 (0, 5, 10, 20, 40 s = 75 s); 60 s cap.
    pub fn imds() -> Self {
        Self {
            max_retries: 5,
            max_status_retries: 5,
            gone_backoff_factor: Some(Duration::from_millis(2500)),
            backoff_max: Duration::from_secs(60),
            statuses: RetryStatuses::Imds,
            deadline: Some(Duration::from_secs(180)),
            ..Self::default()
        }
    }

    /// No retries at all (the IMDS availability probe).
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            max_status_retries: 0,
            max_connect_retries: 0,
            max_read_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The computed wait after `failures` failures (counting the one just seen) whose last
    /// status was `status` (0 for a transport error).
    pub fn backoff(&self, failures: u32, status: u16) -> Duration {
        if failures <= 1 {
            return Duration::ZERO;
        }
        let factor = match (status, self.gone_backoff_factor) {
            (410, Some(f)) => f,
            _ => self.backoff_factor,
        };
        let exp = 2f64.powi(i32::try_from(failures - 1).unwrap_or(i32::MAX).min(64));
        let secs = factor.as_secs_f64() * exp;
        if secs >= self.backoff_max.as_secs_f64() {
            self.backoff_max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// True when `status` (with these headers) is worth another attempt.
    pub fn is_retryable_status(&self, status: u16, headers: &Headers) -> bool {
        self.statuses.contains(status)
            || (status >= 400
                && headers
                    .get("retry-after")
                    .is_some_and(|v| !v.trim().is_empty()))
    }
}

/// The server's requested delay: `retry-after-ms`, then `x-ms-retry-after-ms` (milliseconds),
/// then `Retry-After` (seconds or an HTTP date). `None` when absent, unparsable, or zero (so
/// the computed backoff applies).
pub fn retry_after(headers: &Headers, now: SystemTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        // A value too large for a Duration (it used to panic) or too small to be a wait at all
        // is no hint.
        if let Some(ms) = headers.get(name).and_then(|v| v.trim().parse::<f64>().ok())
            && ms.is_finite()
            && ms > 0.0
            && let Ok(delay) = Duration::try_from_secs_f64(ms / 1000.0)
            && !delay.is_zero()
        {
            return Some(delay);
        }
    }
    let value = headers.get("retry-after")?.trim();
    let delay = match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Duration::try_from_secs_f64(secs).ok()?,
        Ok(_) => return None,
        Err(_) => crate::http_date::parse_http_date(value)?
            .duration_since(now)
            .ok()?,
    };
    (!delay.is_zero()).then_some(delay)
}

/// What to do after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Return this outcome to the caller.
    Stop,
    /// Wait this long, then send again.
    Retry(Duration),
    /// A retry was warranted but its wait would pass the deadline.
    DeadlineExceeded {
        /// The wait that would have been needed.
        wait: Duration,
        /// The deadline.
        deadline: Duration,
    },
}

/// The counters of one request's retries. Feed it each outcome; it says what to do.
#[derive(Clone, Debug, Default)]
pub struct RetryState {
    failures: u32,
    retries: u32,
    status_retries: u32,
    connect_retries: u32,
    read_retries: u32,
}

impl RetryState {
    /// A fresh state for a new request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attempts made so far, as counted by the outcomes fed in.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Decides after a response. `elapsed` is the time since the first attempt began.
    pub fn on_response(
        &mut self,
        policy: &RetryPolicy,
        response: &Response,
        now: SystemTime,
        elapsed: Duration,
    ) -> RetryDecision {
        if !policy.is_retryable_status(response.status, &response.headers)
            || self.retries >= policy.max_retries
            || self.status_retries >= policy.max_status_retries
        {
            return RetryDecision::Stop;
        }
        self.failures += 1;
        let wait = retry_after(&response.headers, now)
            .unwrap_or_else(|| policy.backoff(self.failures, response.status));
        self.status_retries += 1;
        self.schedule(policy, wait, elapsed)
    }

    /// Decides after a transport error.
    pub fn on_error(
        &mut self,
        policy: &RetryPolicy,
        error: &TransportError,
        elapsed: Duration,
    ) -> RetryDecision {
        let (used, max) = match error.kind() {
            TransportErrorKind::Connect => (&mut self.connect_retries, policy.max_connect_retries),
            TransportErrorKind::Timeout | TransportErrorKind::Io => {
                (&mut self.read_retries, policy.max_read_retries)
            }
            _ => return RetryDecision::Stop,
        };
        if *used >= max || self.retries >= policy.max_retries {
            return RetryDecision::Stop;
        }
        *used += 1;
        self.failures += 1;
        let wait = policy.backoff(self.failures, 0);
        self.schedule(policy, wait, elapsed)
    }

    fn schedule(
        &mut self,
        policy: &RetryPolicy,
        wait: Duration,
        elapsed: Duration,
    ) -> RetryDecision {
        if let Some(deadline) = policy.deadline
            && elapsed.saturating_add(wait) > deadline
        {
            return RetryDecision::DeadlineExceeded { wait, deadline };
        }
        self.retries += 1;
        RetryDecision::Retry(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16) -> Response {
        Response::new(status, "")
    }

    /// Feeds the same response until the state stops; returns the waits.
    fn schedule(policy: &RetryPolicy, response: &Response) -> Vec<Duration> {
        let mut state = RetryState::new();
        let mut waits = Vec::new();
        let mut elapsed = Duration::ZERO;
        for _ in 0..100 {
            match state.on_response(policy, response, SystemTime::UNIX_EPOCH, elapsed) {
                RetryDecision::Retry(w) => {
                    elapsed += w;
                    waits.push(w);
                }
                _ => break,
            }
        }
        waits
    }

    fn secs(v: &[f64]) -> Vec<Duration> {
        v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    #[test]
    fn default_schedule_is_three_retries() {
        let p = RetryPolicy::default();
        assert_eq!(schedule(&p, &resp(503)), secs(&[0.0, 1.6, 3.2]));
        assert_eq!(schedule(&p, &resp(429)), secs(&[0.0, 1.6, 3.2]));
        for s in [408, 500, 502, 504, 506, 998] {
            assert_eq!(schedule(&p, &resp(s)).len(), 3, "{s}");
        }
        for s in [200, 400, 401, 403, 404, 410, 501, 505, 999] {
            assert!(schedule(&p, &resp(s)).is_empty(), "{s}");
        }
    }

    #[test]
    fn retry_after_makes_any_error_retryable() {
        let p = RetryPolicy::default();
        let r = resp(400).with_header("Retry-After", "2");
        assert_eq!(schedule(&p, &r), secs(&[2.0, 2.0, 2.0]));
        let r = resp(501).with_header("Retry-After", "1");
        assert_eq!(schedule(&p, &r).len(), 3);
        // An empty Retry-After does not; the millisecond headers alone do not either.
        assert!(schedule(&p, &resp(400).with_header("Retry-After", " ")).is_empty());
        assert!(schedule(&p, &resp(400).with_header("retry-after-ms", "100")).is_empty());
        // But they set the delay when the status is retryable.
        assert_eq!(
            schedule(&p, &resp(503).with_header("retry-after-ms", "250")),
            secs(&[0.25, 0.25, 0.25])
        );
        assert_eq!(
            schedule(&p, &resp(503).with_header("x-ms-retry-after-ms", "1500")),
            secs(&[1.5, 1.5, 1.5])
        );
        // Zero falls back to the computed backoff.
        assert_eq!(
            schedule(&p, &resp(503).with_header("Retry-After", "0")),
            secs(&[0.0, 1.6, 3.2])
        );
    }

    #[test]
    fn retry_after_http_date() {
        let now = crate::http_date::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let mut h = Headers::new();
        h.insert("Retry-After", "Sun, 06 Nov 1994 08:49:47 GMT");
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(10)));
        let mut past = Headers::new();
        past.insert("Retry-After", "Sun, 06 Nov 1994 08:49:00 GMT");
        assert_eq!(retry_after(&past, now), None);
        let mut junk = Headers::new();
        junk.insert("Retry-After", "soon");
        assert_eq!(retry_after(&junk, now), None);
    }

    #[test]
    fn server_delay_is_not_capped_but_deadline_applies() {
        let p = RetryPolicy::default().with_deadline(None);
        let r = resp(429).with_header("Retry-After", "3600");
        assert_eq!(schedule(&p, &r), secs(&[3600.0, 3600.0, 3600.0]));
        let p = RetryPolicy::default().with_deadline(Some(Duration::from_secs(60)));
        let mut state = RetryState::new();
        assert_eq!(
            state.on_response(&p, &r, SystemTime::UNIX_EPOCH, Duration::ZERO),
            RetryDecision::DeadlineExceeded {
                wait: Duration::from_secs(3600),
                deadline: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn computed_backoff_is_capped() {
        let mut p = RetryPolicy::default().with_deadline(None);
        p.max_status_retries = 10;
        let waits = schedule(&p, &resp(503));
        assert_eq!(waits.len(), 10);
        assert_eq!(waits[7], Duration::from_secs_f64(0.8 * 128.0));
        assert_eq!(waits[8], Duration::from_secs(120));
        assert_eq!(waits[9], Duration::from_secs(120));
        assert_eq!(p.backoff(9, 503), Duration::from_secs(120));
        assert_eq!(p.backoff(40, 503), Duration::from_secs(120));
    }

    #[test]
    fn imds_schedules() {
        let p = RetryPolicy::imds();
        assert_eq!(schedule(&p, &resp(500)), secs(&[0.0, 1.6, 3.2, 6.4, 12.8]));
        let gone = schedule(&p, &resp(410));
        assert_eq!(gone, secs(&[0.0, 5.0, 10.0, 20.0, 40.0]));
        assert!(gone.iter().sum::<Duration>() >= Duration::from_secs(70));
        for s in [404, 429, 501, 505, 599] {
            assert_eq!(schedule(&p, &resp(s)).len(), 5, "{s}");
        }
        for s in [400, 401, 403] {
            assert!(schedule(&p, &resp(s)).is_empty(), "{s}");
        }
    }

    #[test]
    fn transport_errors() {
        let p = RetryPolicy::default();
        let mut state = RetryState::new();
        let connect = TransportError::new(TransportErrorKind::Connect, "refused");
        let mut waits = Vec::new();
        while let RetryDecision::Retry(w) = state.on_error(&p, &connect, Duration::ZERO) {
            waits.push(w);
        }
        assert_eq!(waits, secs(&[0.0, 1.6, 3.2]));
        // Read retries are counted apart, and the backoff keeps growing across kinds.
        let timeout = TransportError::new(TransportErrorKind::Timeout, "slow");
        assert_eq!(
            state.on_error(&p, &timeout, Duration::ZERO),
            RetryDecision::Retry(Duration::from_secs_f64(6.4))
        );
        let tls = TransportError::new(TransportErrorKind::Tls, "untrusted");
        assert_eq!(
            RetryState::new().on_error(&p, &tls, Duration::ZERO),
            RetryDecision::Stop
        );
        assert_eq!(
            RetryState::new().on_error(&RetryPolicy::none(), &connect, Duration::ZERO),
            RetryDecision::Stop
        );
    }

    #[test]
    fn total_retries_bound_everything() {
        let p = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        assert_eq!(schedule(&p, &resp(503)).len(), 2);
    }
}
