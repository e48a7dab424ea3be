//! The Retry-After family (`retry-after-ms`, `x-ms-retry-after-ms`, `retry-after` as seconds or
//! an HTTP date) read by the retry policy for IMDS and Entra. Properties: a delay is never zero;
//! whole seconds read exactly; an HTTP date written back reads as its distance from now.
#![no_main]

use identity_core::http::Headers;
use identity_core::retry::retry_after;
use identity_fuzz::{Input, t0, text};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let choice = input.byte();
    let values: Vec<String> = (0..3).map(|_| text(input.part())).collect();
    let names = ["retry-after-ms", "x-ms-retry-after-ms", "retry-after"];
    let mut headers = Headers::new();
    for (i, (name, value)) in names.iter().zip(&values).enumerate() {
        if choice & (1 << i) != 0 {
            headers.insert(*name, value.clone());
        }
    }
    if let Some(delay) = retry_after(&headers, t0()) {
        assert!(!delay.is_zero());
    }
    // retry-after alone.
    let mut only = Headers::new();
    only.insert("Retry-After", values[2].clone());
    let delay = retry_after(&only, t0());
    if let Ok(secs) = values[2].trim().parse::<u32>() {
        assert_eq!(
            delay,
            (secs > 0).then(|| Duration::from_secs(u64::from(secs)))
        );
    }
    if let Some(d) = delay {
        let secs = d.as_secs();
        if (1..6_000_000_000).contains(&secs) {
            let mut dated = Headers::new();
            dated.insert(
                "retry-after",
                httpdate::fmt_http_date(t0() + Duration::from_secs(secs)),
            );
            assert_eq!(retry_after(&dated, t0()), Some(Duration::from_secs(secs)));
        }
    }
});
