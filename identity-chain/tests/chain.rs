//! ChainedTokenCredential: order, continue vs stop, the aggregated message, and the fast chain's
//! event order (no wall-clock assertions: who started before whom finished).

use identity_chain::{ChainAttempts, ChainMember, ChainedTokenCredential};
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, ErrorKind, Result, TokenCredential,
    TokenRequest,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Token,
    Unavailable,
    AuthFailed,
}

/// A scripted member: waits `delay`, then answers `outcome`; logs "start NAME" / "end NAME".
#[derive(Debug)]
struct Scripted {
    name: &'static str,
    delay: Duration,
    outcome: Outcome,
    log: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    fn answer(&self) -> Result<AccessToken> {
        match self.outcome {
            Outcome::Token => Ok(AccessToken::new(
                self.name,
                SystemTime::now() + Duration::from_secs(600),
            )),
            Outcome::Unavailable => Err(Error::unavailable(
                self.name,
                format!("{} is not configured", self.name),
            )),
            Outcome::AuthFailed => Err(Error::authentication(
                self.name,
                "AADSTS7000215: Invalid client secret provided.",
            )
            .with_status(401)),
        }
    }
    fn note(&self, what: &str) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{what} {}", self.name));
    }
}

impl BlockingTokenCredential for Scripted {
    fn get_token_blocking(&self, _: &TokenRequest) -> Result<AccessToken> {
        self.note("start");
        std::thread::sleep(self.delay);
        self.note("end");
        self.answer()
    }
    fn name(&self) -> &'static str {
        self.name
    }
}

impl TokenCredential for Scripted {
    fn get_token<'a>(&'a self, _: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            self.note("start");
            futures_timer::Delay::new(self.delay).await;
            self.note("end");
            self.answer()
        })
    }
    fn name(&self) -> &'static str {
        self.name
    }
}

struct Fixture {
    log: Arc<Mutex<Vec<String>>>,
}

impl Fixture {
    fn new() -> Self {
        Self {
            log: Arc::default(),
        }
    }
    fn member(&self, name: &'static str, delay_ms: u64, outcome: Outcome) -> ChainMember {
        ChainMember::new(Arc::new(Scripted {
            name,
            delay: Duration::from_millis(delay_ms),
            outcome,
            log: self.log.clone(),
        }))
    }
    fn events(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn position(&self, event: &str) -> Option<usize> {
        self.events().iter().position(|e| e == event)
    }
}

fn req() -> TokenRequest {
    TokenRequest::new("https://vault.azure.net/.default")
}

/// Runs the chain through both forms and checks they agree.
fn both(chain: &ChainedTokenCredential) -> (Result<AccessToken>, Result<AccessToken>) {
    let blocking = chain.get_token_blocking(&req());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let asynchronous = rt.block_on(chain.get_token(&req()));
    (blocking, asynchronous)
}

#[test]
fn first_success_wins_and_unavailable_moves_on() {
    let f = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        f.member("A", 0, Outcome::Unavailable),
        f.member("B", 0, Outcome::Token),
        f.member("C", 0, Outcome::Token),
    ]);
    for r in [both(&chain).0, both(&chain).1] {
        assert_eq!(r.unwrap().token().secret(), "B");
    }
}

#[test]
fn an_authentication_failure_stops_the_chain_with_the_aggregated_message() {
    let f = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        f.member("EnvironmentCredential", 0, Outcome::Unavailable),
        f.member("ClientSecretCredential", 0, Outcome::AuthFailed),
        f.member("AzureCliCredential", 0, Outcome::Token),
    ])
    .with_head_start(Duration::from_secs(5));
    let (b, a) = both(&chain);
    for e in [b.unwrap_err(), a.unwrap_err()] {
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(
            e.message(),
            "ChainedTokenCredential failed to retrieve a token from the included credentials.\nAttempted credentials:\n\tEnvironmentCredential: EnvironmentCredential is not configured\n\tClientSecretCredential: AADSTS7000215: Invalid client secret provided.\nTo mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot."
        );
        let attempts = std::error::Error::source(&e)
            .unwrap()
            .downcast_ref::<ChainAttempts>()
            .unwrap();
        assert_eq!(attempts.attempts.len(), 2);
        assert!(!attempts.all_unavailable());
    }
    // With a long head start and fast members, C never ran.
    assert!(f.position("start AzureCliCredential").is_none());
}

#[test]
fn nothing_available_lists_everything() {
    let f = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        f.member("A", 0, Outcome::Unavailable),
        f.member("B", 0, Outcome::Unavailable),
    ]);
    let e = chain.get_token_blocking(&req()).unwrap_err();
    let attempts = std::error::Error::source(&e)
        .unwrap()
        .downcast_ref::<ChainAttempts>()
        .unwrap();
    assert!(attempts.all_unavailable());
    assert!(
        e.message()
            .contains("\tA: A is not configured\n\tB: B is not configured\n")
    );
    let empty = ChainedTokenCredential::from_members(vec![]);
    assert_eq!(
        empty.get_token_blocking(&req()).unwrap_err().kind(),
        ErrorKind::InvalidConfiguration
    );
}

/// A slow member does not hold back the next: B starts before A ends, and the answer is B's
/// (A was unavailable).
#[test]
fn a_slow_member_does_not_hold_back_the_next_blocking() {
    let f = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        f.member("A", 800, Outcome::Unavailable),
        f.member("B", 0, Outcome::Token),
    ])
    .with_head_start(Duration::from_millis(50));
    assert_eq!(
        chain.get_token_blocking(&req()).unwrap().token().secret(),
        "B"
    );
    assert!(
        f.position("start B").unwrap() < f.position("end A").unwrap(),
        "{:?}",
        f.events()
    );
}

#[test]
fn a_slow_member_does_not_hold_back_the_next_async() {
    let f = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        f.member("A", 800, Outcome::Unavailable),
        f.member("B", 0, Outcome::Token),
    ])
    .with_head_start(Duration::from_millis(50));
    let token = async_std::task::block_on(chain.get_token(&req())).unwrap();
    assert_eq!(token.token().secret(), "B");
    assert!(
        f.position("start B").unwrap() < f.position("end A").unwrap(),
        "{:?}",
        f.events()
    );
}

/// The answer is the sequential one: a slow first member that succeeds wins over a fast second
/// one, and a fast authentication failure after a slow success does not count.
#[test]
fn the_answer_is_the_sequential_one() {
    let f = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        f.member("A", 500, Outcome::Token),
        f.member("B", 0, Outcome::AuthFailed),
    ])
    .with_head_start(Duration::from_millis(20));
    let (b, a) = both(&chain);
    assert_eq!(b.unwrap().token().secret(), "A");
    assert_eq!(a.unwrap().token().secret(), "A");
    let events = f.events();
    assert!(
        f.position("end B").unwrap() < f.position("end A").unwrap(),
        "B ran alongside A: {events:?}"
    );
    // A slow unavailable first member, then a fast stop: the chain stops on B.
    let g = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        g.member("A", 300, Outcome::Unavailable),
        g.member("B", 0, Outcome::AuthFailed),
        g.member("C", 0, Outcome::Token),
    ])
    .with_head_start(Duration::from_millis(20));
    let (b, a) = both(&chain);
    assert_eq!(b.unwrap_err().kind(), ErrorKind::Authentication);
    assert_eq!(a.unwrap_err().kind(), ErrorKind::Authentication);
}

/// An exclusive member starts only after everything ahead of it answered.
#[test]
fn exclusive_members_wait_their_turn() {
    let f = Fixture::new();
    let chain = ChainedTokenCredential::from_members(vec![
        f.member("A", 300, Outcome::Unavailable),
        f.member("Browser", 0, Outcome::Token).exclusive(),
    ])
    .with_head_start(Duration::from_millis(10));
    let (b, a) = both(&chain);
    assert_eq!(b.unwrap().token().secret(), "Browser");
    assert_eq!(a.unwrap().token().secret(), "Browser");
    let events = f.events();
    // In each run, A ended before the browser started.
    let starts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == "start Browser")
        .map(|(i, _)| i)
        .collect();
    let ends: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == "end A")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 2);
    assert!(ends[0] < starts[0] && ends[1] < starts[1], "{events:?}");
}

#[test]
fn async_only_and_blocking_only_members() {
    let f = Fixture::new();
    let scripted = Arc::new(Scripted {
        name: "OnlyAsync",
        delay: Duration::ZERO,
        outcome: Outcome::Token,
        log: f.log.clone(),
    });
    let chain = ChainedTokenCredential::new(vec![scripted as Arc<dyn TokenCredential>]);
    let e = chain.get_token_blocking(&req()).unwrap_err();
    assert!(
        e.message().contains("OnlyAsync has no blocking form"),
        "{}",
        e.message()
    );
    assert_eq!(
        futures_executor::block_on(chain.get_token(&req()))
            .unwrap()
            .token()
            .secret(),
        "OnlyAsync"
    );
}
