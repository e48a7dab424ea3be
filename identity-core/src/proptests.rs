//! Property tests of the parsers of untrusted bytes (issue #13; the `fuzz/` crate runs the same
//! properties for longer): token and error responses, JWT claims, expiry numbers,
//! WWW-Authenticate challenges, Retry-After headers and the scrubber.

use crate::http::{Headers, Response};
use crate::protocol::challenge::{claims_challenge, parse_www_authenticate};
use crate::protocol::entra::{
    decode_jwt_claims_unverified, entra_error, flexible_int, parse_token_response, refresh_on,
};
use crate::protocol::scrub::scrub;
use crate::retry::retry_after;
use crate::token::from_unix_seconds;
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PLANTED: &str = "PLANTED-s3cr3t-7f3a9c";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Any JSON value, nested a few levels, with keys that hit the interesting names.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "[0-9]{1,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("access_token".to_owned()),
        Just("expires_in".to_owned()),
        Just("expires_on".to_owned()),
        Just("refresh_in".to_owned()),
        Just("error".to_owned()),
        Just("error_description".to_owned()),
        Just("error_codes".to_owned()),
        ".{0,8}",
    ]
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((json_key(), json_value()), 0..6)
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn assert_hidden(what: &str, value: &(impl std::fmt::Display + std::fmt::Debug)) {
    let display = value.to_string();
    let debug = format!("{value:?}");
    assert!(
        !display.contains(PLANTED) && !debug.contains(PLANTED),
        "{what} shows the planted secret: {display} / {debug}"
    );
}

/// 64 cases (CI runs these under many feature sets); failures become unit tests, not files.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn token_responses_never_panic(status in 100u16..600, body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_token_response(&Response::new(status, body), t0());
    }

    #[test]
    fn planted_secrets_never_show(
        status in prop_oneof![Just(200u16), 400u16..600],
        mut object in json_object(),
        plant in 1u8..8,
        pretty in any::<bool>(),
    ) {
        for (bit, field) in ["access_token", "refresh_token", "id_token"].into_iter().enumerate() {
            if plant & (1 << bit) != 0 {
                object.insert(field.to_owned(), Value::String(PLANTED.to_owned()));
            }
        }
        let body = if pretty {
            serde_json::to_vec_pretty(&object)
        } else {
            serde_json::to_vec(&object)
        }
        .unwrap();
        match parse_token_response(&Response::new(status, body), t0()) {
            Ok(parsed) => {
                let debug = format!("{parsed:?}");
                prop_assert!(!debug.contains(PLANTED), "{}", debug);
            }
            Err(e) => assert_hidden("a token response error", &e),
        }
        assert_hidden("an Entra error", &entra_error(status, &object));
    }

    #[test]
    fn scrub_masks_every_secret_value(mut object in json_object(), pretty in any::<bool>()) {
        object.insert("access_token".to_owned(), Value::String(PLANTED.to_owned()));
        let text = if pretty {
            serde_json::to_string_pretty(&object)
        } else {
            serde_json::to_string(&object)
        }
        .unwrap();
        prop_assert!(!scrub(&text, 1 << 30).contains(PLANTED), "{}", text);
    }

    #[test]
    fn expiry_numbers_never_panic(n in any::<i64>(), r in any::<i64>(), f in any::<f64>(), s in ".{0,24}") {
        for v in [Value::from(n), Value::from(f), Value::String(s.clone()), Value::String(n.to_string())] {
            let _ = flexible_int(&v);
        }
        prop_assert_eq!(flexible_int(&Value::String(format!(" {n} "))), Some(n));
        let expires_on = from_unix_seconds(n);
        if let Some(at) = refresh_on(t0(), expires_on, Some(r)) {
            prop_assert!(at > t0());
        }
        if let Some(at) = refresh_on(t0(), expires_on, None) {
            prop_assert!(at > t0() && at < expires_on);
        }
        for body in [
            format!(r#"{{"access_token":"at","expires_in":{n},"refresh_in":{r}}}"#),
            format!(r#"{{"access_token":"at","expires_on":"{n}","refresh_in":"{r}"}}"#),
            format!(r#"{{"access_token":"at","expires_in":{f:?}}}"#),
        ] {
            let _ = parse_token_response(&Response::new(200, body), t0());
        }
    }

    #[test]
    fn jwt_claims_round_trip(object in json_object(), pad in 0usize..3) {
        // Compared with the payload text read back (floats do not survive printing exactly).
        let text = Value::Object(object).to_string();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&text);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}{}.sig", "=".repeat(pad));
        let expected: Map<String, Value> = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(decode_jwt_claims_unverified(&token), Some(expected));
    }

    #[test]
    fn jwt_garbage_never_panics(token in ".{0,64}") {
        let _ = decode_jwt_claims_unverified(&token);
    }

    #[test]
    fn challenges_round_trip(
        challenges in prop::collection::vec(
            ("[A-Za-z][A-Za-z0-9_-]{0,8}", prop::collection::vec(("[a-z_]{1,8}", ".{0,16}"), 0..4)),
            0..4,
        ),
    ) {
        let header = challenges
            .iter()
            .map(|(scheme, params)| {
                let params: Vec<String> = params
                    .iter()
                    .map(|(n, v)| format!("{n}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect();
                if params.is_empty() { scheme.clone() } else { format!("{scheme} {}", params.join(", ")) }
            })
            .collect::<Vec<_>>()
            .join(", ");
        prop_assert_eq!(parse_www_authenticate(&header), challenges, "{}", header);
    }

    #[test]
    fn claims_challenges_round_trip(object in json_object(), alphabet in 0u8..4) {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let json = Value::Object(object).to_string();
        let encoded = match alphabet {
            0 => STANDARD.encode(&json),
            1 => STANDARD_NO_PAD.encode(&json),
            2 => URL_SAFE.encode(&json),
            _ => URL_SAFE_NO_PAD.encode(&json),
        };
        let header = format!(r#"Bearer realm="", error="insufficient_claims", claims="{encoded}""#);
        prop_assert_eq!(claims_challenge(&header), Some(json));
    }

    #[test]
    fn www_authenticate_never_panics(header in ".{0,64}") {
        let _ = parse_www_authenticate(&header);
        let _ = claims_challenge(&header);
    }

    #[test]
    fn retry_after_is_never_zero_and_never_panics(
        ms in prop_oneof![".{0,12}", any::<f64>().prop_map(|f| f.to_string()), any::<u64>().prop_map(|n| n.to_string())],
        secs in prop_oneof![".{0,12}", any::<f64>().prop_map(|f| f.to_string()), any::<u64>().prop_map(|n| n.to_string())],
        which in 0u8..3,
    ) {
        let mut headers = Headers::new();
        headers.insert(["retry-after-ms", "x-ms-retry-after-ms", "retry-after"][usize::from(which)], ms);
        headers.insert("retry-after", secs);
        if let Some(d) = retry_after(&headers, t0()) {
            prop_assert!(!d.is_zero());
        }
    }

    #[test]
    fn whole_retry_after_seconds_read_exactly(secs in 1u32..u32::MAX) {
        let mut headers = Headers::new();
        headers.insert("Retry-After", secs.to_string());
        prop_assert_eq!(retry_after(&headers, t0()), Some(Duration::from_secs(u64::from(secs))));
        let date = httpdate::fmt_http_date(t0() + Duration::from_secs(u64::from(secs)));
        let mut headers = Headers::new();
        headers.insert("retry-after", date);
        prop_assert_eq!(retry_after(&headers, t0()), Some(Duration::from_secs(u64::from(secs))));
    }

    /// Our HTTP-date reader agrees with the `httpdate` crate on every date it can write
    /// (1970 to 9999) and on the RFC 850 and asctime spellings of the same instant.
    #[test]
    fn http_dates_agree_with_the_httpdate_crate(secs in 0u64..253_402_300_800) {
        let time = std::time::UNIX_EPOCH + Duration::from_secs(secs);
        let imf = httpdate::fmt_http_date(time);
        prop_assert_eq!(crate::http_date::parse_http_date(&imf), Some(time));
        // "Sun, 06 Nov 1994 08:49:37 GMT" → asctime "Sun Nov  6 08:49:37 1994".
        let f: Vec<&str> = imf.split(' ').collect();
        let day: u32 = f[1].parse().unwrap();
        let asctime = format!("{} {} {day:>2} {} {}", &f[0][..3], f[2], f[4], f[3]);
        prop_assert_eq!(httpdate::parse_http_date(&asctime).ok(), Some(time));
        prop_assert_eq!(crate::http_date::parse_http_date(&asctime), Some(time));
    }

    /// Dates spelled in each of the three forms, with fields in and out of range: where both
    /// readers accept one, they read the same instant.
    #[test]
    fn http_date_reader_never_contradicts_httpdate(
        wday in 0usize..7, day in 0u32..33, month in 0usize..12, year in 1965u32..2100,
        h in 0u32..25, m in 0u32..61, s in 0u32..62, form in 0u8..3,
    ) {
        const D: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const L: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
        const M: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let text = match form {
            0 => format!("{}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT", D[wday], M[month]),
            1 => format!("{}, {day:02}-{}-{:02} {h:02}:{m:02}:{s:02} GMT", L[wday], M[month], year % 100),
            _ => format!("{} {} {day:>2} {h:02}:{m:02}:{s:02} {year}", D[wday], M[month]),
        };
        if let (Some(ours), Ok(theirs)) = (crate::http_date::parse_http_date(&text), httpdate::parse_http_date(&text)) {
            prop_assert_eq!(ours, theirs, "{}", text);
        }
    }
}

/// 10 MB bodies and deeply nested JSON: a clear, short error, quickly.
#[test]
fn huge_and_deep_bodies_fail_fast_with_short_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        "{{\"access_token\":\"{PLANTED}\",\"x\":{}{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let huge = format!(
        "{{\"access_token\":\"{PLANTED}\",\"pad\":\"{}\"",
        "x".repeat(10 * 1024 * 1024)
    );
    let garbage: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for body in [
        deep.into_bytes(),
        deep_object.into_bytes(),
        huge.into_bytes(),
        garbage,
    ] {
        let e = parse_token_response(&Response::new(200, body), t0()).unwrap_err();
        let shown = e.to_string().chars().count();
        assert!(shown < 1_500, "{shown} characters");
        assert_hidden("a huge-body error", &e);
    }
}

/// Invalid UTF-8 in a body is quoted lossily, never a panic.
#[test]
fn invalid_utf8_bodies_are_quoted_lossily() {
    let e = parse_token_response(
        &Response::new(200, b"\xff\xfe{\"a\":\xc3\x28}".to_vec()),
        t0(),
    )
    .unwrap_err();
    assert!(
        e.message()
            .starts_with("Unexpected response from Microsoft Entra ID")
    );
}

/// Regressions found by these properties and the fuzz targets (FUZZING.md).
mod regressions {
    use super::*;

    #[test]
    fn huge_expires_in_and_refresh_in_are_errors_not_panics() {
        let body = r#"{"access_token":"at","expires_in":9223372036854775807}"#;
        let e = parse_token_response(&Response::new(200, body), t0()).unwrap_err();
        assert!(
            e.message()
                .starts_with("Unexpected response from Microsoft Entra ID")
        );
        let body = r#"{"access_token":"at","expires_in":3600,"refresh_in":"9223372036854775807"}"#;
        let r = parse_token_response(&Response::new(200, body), t0()).unwrap();
        assert_eq!(r.token.refresh_on(), None);
        assert_eq!(refresh_on(t0(), t0(), Some(i64::MAX)), None);
    }

    #[test]
    fn huge_and_tiny_retry_after_ms_are_no_hint() {
        for value in ["1e300", "1.7976931348623157e308", "1e-300"] {
            let mut headers = Headers::new();
            headers.insert("retry-after-ms", value);
            assert_eq!(retry_after(&headers, t0()), None, "{value}");
            headers.insert("retry-after", "7");
            assert_eq!(
                retry_after(&headers, t0()),
                Some(Duration::from_secs(7)),
                "{value}"
            );
        }
    }
}
