//! [`ChainedTokenCredential`]: credentials tried in order (PROTOCOL.md §8.1), with the fast
//! chain: a member that is slow to answer does not hold back the start of the next ones, yet
//! the answer is always the one the sequential chain would give.

use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, ErrorKind, Result, TokenCredential,
    TokenRequest,
};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

const TROUBLESHOOT: &str = "To mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot.";

/// How long a member runs alone before the next one starts alongside it (default 250 ms).
pub const DEFAULT_HEAD_START: Duration = Duration::from_millis(250);

/// One credential of a chain: its async and/or blocking form, and whether it may start before
/// the members ahead of it have answered.
#[derive(Clone)]
pub struct ChainMember {
    name: &'static str,
    asynchronous: Option<Arc<dyn TokenCredential>>,
    blocking: Option<Arc<dyn BlockingTokenCredential>>,
    exclusive: bool,
}

impl fmt::Debug for ChainMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainMember")
            .field("name", &self.name)
            .field("async", &self.asynchronous.is_some())
            .field("blocking", &self.blocking.is_some())
            .field("exclusive", &self.exclusive)
            .finish()
    }
}

impl ChainMember {
    /// A credential with both forms (all of this workspace's credentials).
    pub fn new<C>(credential: Arc<C>) -> Self
    where
        C: TokenCredential + BlockingTokenCredential + 'static,
    {
        Self {
            name: TokenCredential::name(&*credential),
            asynchronous: Some(credential.clone()),
            blocking: Some(credential),
            exclusive: false,
        }
    }

    /// An async-only credential (e.g. one of your own).
    pub fn asynchronous(credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            name: credential.name(),
            asynchronous: Some(credential),
            blocking: None,
            exclusive: false,
        }
    }

    /// A blocking-only credential.
    pub fn blocking(credential: Arc<dyn BlockingTokenCredential>) -> Self {
        Self {
            name: credential.name(),
            asynchronous: None,
            blocking: Some(credential),
            exclusive: false,
        }
    }

    /// Starts this member only once every member ahead of it has answered "unavailable" (for
    /// credentials with side effects, such as opening a browser).
    #[must_use]
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }

    /// The member's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The async form, if any.
    pub fn async_credential(&self) -> Option<&Arc<dyn TokenCredential>> {
        self.asynchronous.as_ref()
    }

    /// The blocking form, if any.
    pub fn blocking_credential(&self) -> Option<&Arc<dyn BlockingTokenCredential>> {
        self.blocking.as_ref()
    }
}

/// What happened to one member.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The credential.
    pub credential: &'static str,
    /// Its error's kind.
    pub kind: ErrorKind,
    /// Its error's message.
    pub message: String,
}

/// The attempts of a chain that got no token: the `source` of its error.
#[derive(Debug, Clone)]
pub struct ChainAttempts {
    /// In chain order.
    pub attempts: Vec<Attempt>,
}

impl ChainAttempts {
    /// True when every member was unavailable (none attempted authentication and failed).
    pub fn all_unavailable(&self) -> bool {
        self.attempts.iter().all(|a| a.kind.chain_continues())
    }
}

impl fmt::Display for ChainAttempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.attempts {
            writeln!(f, "\t{}: {}", a.credential, a.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ChainAttempts {}

/// The chain's error: PROTOCOL.md §8.1's aggregated message, an authentication failure, with
/// the attempts as its [`source`](std::error::Error::source).
pub(crate) fn aggregate(chain: &'static str, attempts: Vec<Attempt>, notes: &[String]) -> Error {
    let mut message = format!(
        "{chain} failed to retrieve a token from the included credentials.\nAttempted credentials:\n"
    );
    for a in &attempts {
        message.push_str(&format!("\t{}: {}\n", a.credential, a.message));
    }
    for note in notes {
        message.push_str(note);
        message.push('\n');
    }
    message.push_str(TROUBLESHOOT);
    tracing::warn!("{}", message);
    Error::authentication(chain, message).with_source(ChainAttempts { attempts })
}

fn attempt(member: &ChainMember, error: &Error) -> Attempt {
    Attempt {
        credential: member.name,
        kind: error.kind(),
        message: error.message().to_owned(),
    }
}

fn missing_form(member: &ChainMember, form: &str) -> Error {
    Error::unavailable(
        member.name,
        format!("{} has no {form} form in this chain.", member.name),
    )
}

/// Tries its credentials in order: the first token wins; "unavailable" moves on; any other
/// error stops the chain. Every call walks the chain from the start (as in Python;
/// `DefaultAzureCredential` remembers its winner instead).
///
/// ```
/// use identity_chain::ChainedTokenCredential;
/// use identity_core::{AccessToken, BoxFuture, Error, Result, TokenCredential, TokenRequest};
/// use std::sync::Arc;
/// use std::time::{Duration, SystemTime};
///
/// #[derive(Debug)]
/// struct NotHere;
/// impl TokenCredential for NotHere {
///     fn get_token<'a>(&'a self, _: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
///         Box::pin(async { Err(Error::unavailable("NotHere", "not configured")) })
///     }
/// }
/// #[derive(Debug)]
/// struct Mine;
/// impl TokenCredential for Mine {
///     fn get_token<'a>(&'a self, _: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
///         Box::pin(async { Ok(AccessToken::new("t", SystemTime::now() + Duration::from_secs(60))) })
///     }
/// }
/// let chain = ChainedTokenCredential::new(vec![Arc::new(NotHere) as Arc<dyn TokenCredential>, Arc::new(Mine)]);
/// let token = futures_executor::block_on(chain.get_token(&"https://x/.default".into()))?;
/// assert_eq!(token.token().secret(), "t");
/// # Ok::<(), identity_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ChainedTokenCredential {
    name: &'static str,
    members: Vec<ChainMember>,
    head_start: Duration,
}

impl ChainedTokenCredential {
    /// A chain of async credentials, in this order.
    pub fn new(credentials: Vec<Arc<dyn TokenCredential>>) -> Self {
        Self::from_members(
            credentials
                .into_iter()
                .map(ChainMember::asynchronous)
                .collect(),
        )
    }

    /// A chain of blocking credentials, in this order.
    pub fn new_blocking(credentials: Vec<Arc<dyn BlockingTokenCredential>>) -> Self {
        Self::from_members(credentials.into_iter().map(ChainMember::blocking).collect())
    }

    /// A chain of members (credentials with both forms, or one).
    pub fn from_members(members: Vec<ChainMember>) -> Self {
        Self {
            name: "ChainedTokenCredential",
            members,
            head_start: DEFAULT_HEAD_START,
        }
    }

    /// Sets how long a member runs alone before the next starts alongside it.
    #[must_use]
    pub fn with_head_start(mut self, head_start: Duration) -> Self {
        self.head_start = head_start;
        self
    }

    fn check(&self) -> Result<()> {
        if self.members.is_empty() {
            return Err(Error::invalid_configuration(
                self.name,
                "A chain needs at least one credential.",
            ));
        }
        Ok(())
    }

    /// The members, in order.
    pub fn members(&self) -> &[ChainMember] {
        &self.members
    }

    /// Runs the chain: the index of the member that answered and its token, or the attempts.
    pub(crate) async fn run<'a>(
        &'a self,
        request: &'a TokenRequest,
    ) -> std::result::Result<(usize, AccessToken), Vec<Attempt>> {
        let n = self.members.len();
        let mut futures: Vec<Option<BoxFuture<'a, Result<AccessToken>>>> =
            (0..n).map(|_| None).collect();
        let mut results: Vec<Option<Result<AccessToken>>> = (0..n).map(|_| None).collect();
        let mut attempts = Vec::new();
        let mut started = 0usize;
        let mut next = 0usize;
        let mut timer: Option<futures_timer::Delay> = None;
        let start = |i: usize,
                     futures: &mut Vec<Option<BoxFuture<'a, Result<AccessToken>>>>,
                     results: &mut Vec<Option<Result<AccessToken>>>| {
            let member = &self.members[i];
            match &member.asynchronous {
                Some(c) => futures[i] = Some(c.get_token(request)),
                None => results[i] = Some(Err(missing_form(member, "async"))),
            }
        };
        std::future::poll_fn(|cx| {
            loop {
                // Settle every answer that is in, in chain order.
                while next < n {
                    if next >= started {
                        start(next, &mut futures, &mut results);
                        started = next + 1;
                        timer = None;
                    }
                    match results[next].take() {
                        Some(Ok(token)) => return Poll::Ready(Ok((next, token))),
                        Some(Err(e)) => {
                            attempts.push(attempt(&self.members[next], &e));
                            if !e.kind().chain_continues() {
                                return Poll::Ready(Err(std::mem::take(&mut attempts)));
                            }
                            next += 1;
                        }
                        None => break,
                    }
                }
                if next >= n {
                    return Poll::Ready(Err(std::mem::take(&mut attempts)));
                }
                // Poll what runs.
                let mut progressed = false;
                for i in next..started {
                    if let Some(f) = futures[i].as_mut()
                        && let Poll::Ready(r) = f.as_mut().poll(cx)
                    {
                        futures[i] = None;
                        results[i] = Some(r);
                        progressed = true;
                    }
                }
                if progressed {
                    continue;
                }
                // Give the next member a start once the head start has passed.
                if started < n && !self.members[started].exclusive {
                    let t = timer.get_or_insert_with(|| futures_timer::Delay::new(self.head_start));
                    if Pin::new(t).poll(cx).is_ready() {
                        start(started, &mut futures, &mut results);
                        started += 1;
                        timer = None;
                        continue;
                    }
                }
                return Poll::Pending;
            }
        })
        .await
    }

    /// The blocking chain: members run on threads so that a slow one does not hold back the
    /// start of the next; answers are taken in chain order.
    pub(crate) fn run_blocking(
        &self,
        request: &TokenRequest,
    ) -> std::result::Result<(usize, AccessToken), Vec<Attempt>> {
        let n = self.members.len();
        let (tx, rx) = mpsc::channel::<(usize, Result<AccessToken>)>();
        let mut results: Vec<Option<Result<AccessToken>>> = (0..n).map(|_| None).collect();
        let mut attempts = Vec::new();
        let mut started = 0usize;
        let mut next = 0usize;
        let start = |i: usize| {
            let member = self.members[i].clone();
            let tx = tx.clone();
            let error_tx = tx.clone();
            let request = request.clone();
            match member.blocking.clone() {
                Some(c) => {
                    let spawned = std::thread::Builder::new()
                        .name(format!("chain-{}", member.name))
                        .spawn(move || {
                            let _ = tx.send((i, c.get_token_blocking(&request)));
                        });
                    if let Err(e) = spawned {
                        let _ = error_tx.send((
                            i,
                            Err(Error::unavailable(
                                member.name,
                                format!("could not start a thread: {e}"),
                            )),
                        ));
                    }
                }
                None => {
                    let _ = error_tx.send((i, Err(missing_form(&member, "blocking"))));
                }
            }
        };
        loop {
            while next < n {
                if next >= started {
                    start(next);
                    started = next + 1;
                }
                match results[next].take() {
                    Some(Ok(token)) => return Ok((next, token)),
                    Some(Err(e)) => {
                        attempts.push(attempt(&self.members[next], &e));
                        if !e.kind().chain_continues() {
                            return Err(attempts);
                        }
                        next += 1;
                    }
                    None => break,
                }
            }
            if next >= n {
                return Err(attempts);
            }
            let wait_for_next_start = started < n && !self.members[started].exclusive;
            let received = if wait_for_next_start {
                match rx.recv_timeout(self.head_start) {
                    Ok(r) => Some(r),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        start(started);
                        started += 1;
                        None
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                }
            } else {
                rx.recv().ok()
            };
            if let Some((i, r)) = received {
                results[i] = Some(r);
            }
        }
    }
}

impl TokenCredential for ChainedTokenCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            self.check()?;
            match self.run(request).await {
                Ok((i, token)) => {
                    tracing::info!(
                        "{} acquired a token from {}",
                        self.name,
                        self.members[i].name
                    );
                    Ok(token)
                }
                Err(attempts) => Err(aggregate(self.name, attempts, &[])),
            }
        })
    }
    fn name(&self) -> &'static str {
        self.name
    }
}

impl BlockingTokenCredential for ChainedTokenCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        self.check()?;
        match self.run_blocking(request) {
            Ok((i, token)) => {
                tracing::info!(
                    "{} acquired a token from {}",
                    self.name,
                    self.members[i].name
                );
                Ok(token)
            }
            Err(attempts) => Err(aggregate(self.name, attempts, &[])),
        }
    }
    fn name(&self) -> &'static str {
        self.name
    }
}
