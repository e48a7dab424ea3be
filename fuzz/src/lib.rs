//! What the fuzz targets share: the planted secret, the checks on errors, and a tiny reader
//! that splits the fuzzer's bytes into the parts of a structured input.
#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A secret planted in secret positions of an input (a token value, a password): it must never
/// show in an error's `Display` or `Debug`, nor in the `Debug` of a parsed token.
pub const PLANTED: &str = "PLANTED-s3cr3t-7f3a9c";

/// Whether the fuzzer wrote the planted secret itself (it learns it from comparisons): such an
/// input holds the secret outside any secret position, so the secret may rightly show.
pub fn plants_itself(data: &[u8]) -> bool {
    data.windows(PLANTED.len()).any(|w| w == PLANTED.as_bytes())
}

/// A fixed "now" (2023-11-14T22:13:20Z), so runs are reproducible.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Panics when `PLANTED` shows in `value`'s `Display` or `Debug`.
pub fn assert_hidden<T: std::fmt::Display + std::fmt::Debug>(what: &str, value: &T) {
    let display = value.to_string();
    let debug = format!("{value:?}");
    assert!(
        !display.contains(PLANTED) && !debug.contains(PLANTED),
        "{what} shows the planted secret: Display {display:?}, Debug {debug}"
    );
}

/// Panics when `PLANTED` shows in `value`'s `Debug`.
pub fn assert_debug_hidden<T: std::fmt::Debug>(what: &str, value: &T) {
    let debug = format!("{value:?}");
    assert!(
        !debug.contains(PLANTED),
        "{what} shows the planted secret in its Debug: {debug}"
    );
}

/// Reads the fuzzer's bytes as a few small numbers followed by the rest.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the bytes.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next byte (0 when exhausted).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next two bytes as a little-endian number.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Everything up to the next NUL byte (consumed), or the rest.
    pub fn part(&mut self) -> &'a [u8] {
        match self.data.iter().position(|&b| b == 0) {
            Some(i) => {
                let (head, tail) = self.data.split_at(i);
                self.data = &tail[1..];
                head
            }
            None => std::mem::take(&mut self.data),
        }
    }

    /// The rest.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// The bytes as text, invalid UTF-8 replaced (as the transports and process reader do).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The bytes as a JSON object, if they are one.
pub fn json_object(bytes: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(bytes) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    }
}
