#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod chained;

pub use chained::{
    Attempt, ChainAttempts, ChainMember, ChainedTokenCredential, DEFAULT_HEAD_START,
};
