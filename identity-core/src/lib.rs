#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod authority;
pub mod clock;
mod credential;
pub mod env;
mod error;
pub mod http;
mod http_date;
pub mod pipeline;
#[cfg(test)]
mod proptests;
pub mod protocol;
pub mod random;
mod request;
pub mod retry;
pub mod runtime;
mod secret;
mod token;
pub mod transport;
pub mod validate;

pub use credential::{BlockingTokenCredential, BoxFuture, TokenCredential};
pub use error::{Error, ErrorKind, Result, TransportError, TransportErrorKind};
pub use http::{AsyncHttpClient, HttpClient, Request, Response};
pub use request::TokenRequest;
pub use secret::Secret;
pub use token::{AccessToken, from_unix_seconds, unix_seconds};
