#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod bearer;
mod chained;

pub use bearer::{BearerTokenProvider, get_bearer_token_provider};
pub use chained::{
    Attempt, ChainAttempts, ChainMember, ChainedTokenCredential, DEFAULT_HEAD_START,
};
