//! Property tests of the managed-identity response parsers (issue #13; the `fuzz/` crate runs
//! the same properties for longer): every source's reading of a response, the Azure ML dates,
//! the Azure Arc challenge.

use crate::id::ManagedIdentityId;
use crate::parse::{parse_azure_ml_date, parse_token};
use crate::sources::{app_service, arc, azure_ml, cloud_shell, imds, service_fabric};
use identity_core::http::Response;
use identity_core::{AccessToken, Error};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PLANTED: &str = "PLANTED-s3cr3t-7f3a9c";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// 64 cases (CI runs these under many feature sets); failures become unit tests, not files.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn outcome(source: u8, response: Response, id: &ManagedIdentityId) -> Result<AccessToken, Error> {
    match source % 6 {
        0 => imds::token_outcome(Ok(response), id, t0()),
        1 => app_service::token_outcome(Ok(response), t0()),
        2 => arc::token_outcome(Ok(response), id, t0()),
        3 => azure_ml::token_outcome(Ok(response), t0()),
        4 => cloud_shell::token_outcome(Ok(response), t0()),
        _ => service_fabric::token_outcome(Ok(response), t0()),
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<i64>().prop_map(|n| Value::String(n.to_string())),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn body_object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        Just("expires_in".to_owned()),
        Just("expires_on".to_owned()),
        Just("refresh_in".to_owned()),
        Just("token_type".to_owned()),
        Just("client_id".to_owned()),
        Just("error".to_owned()),
        Just("error_description".to_owned()),
        Just("statusCode".to_owned()),
        Just("message".to_owned()),
        ".{0,8}",
    ];
    prop::collection::vec((key, scalar()), 0..6).prop_map(|pairs| pairs.into_iter().collect())
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json")),
        Just(Some("text/plain")),
        Just(Some("text/html; charset=utf-8")),
    ]
}

fn response(status: u16, body: Vec<u8>, content_type: Option<&str>) -> Response {
    let r = Response::new(status, body);
    match content_type {
        Some(t) => r.with_header("Content-Type", t),
        None => r,
    }
}

fn assert_hidden(what: &str, value: &(impl std::fmt::Display + std::fmt::Debug)) {
    let display = value.to_string();
    let debug = format!("{value:?}");
    assert!(
        !display.contains(PLANTED) && !debug.contains(PLANTED),
        "{what} shows the planted secret: {display} / {debug}"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(
        source in any::<u8>(),
        status in 100u16..600,
        body in prop::collection::vec(any::<u8>(), 0..200),
        content_type in content_type(),
        header in ".{0,40}",
    ) {
        let r = response(status, body, content_type).with_header("WWW-Authenticate", header);
        let _ = outcome(source, r.clone(), &ManagedIdentityId::SystemAssigned);
        let _ = parse_token(&r, t0(), source % 2 == 0);
        let _ = arc::challenge_path(&r);
        let _ = imds::probe_outcome(Ok(r));
    }

    #[test]
    fn a_planted_token_never_shows(
        source in any::<u8>(),
        status in prop_oneof![Just(200u16), 400u16..600],
        mut object in body_object(),
        content_type in content_type(),
        pretty in any::<bool>(),
        user_assigned in any::<bool>(),
    ) {
        object.insert("access_token".to_owned(), Value::String(PLANTED.to_owned()));
        let body = if pretty {
            serde_json::to_vec_pretty(&object)
        } else {
            serde_json::to_vec(&object)
        }
        .unwrap();
        let id = if user_assigned {
            ManagedIdentityId::ClientId("0a550000-0000-4000-8000-000000000006".to_owned())
        } else {
            ManagedIdentityId::SystemAssigned
        };
        match outcome(source, response(status, body, content_type), &id) {
            Ok(token) => {
                let debug = format!("{token:?}");
                prop_assert!(!debug.contains(PLANTED), "{}", debug);
            }
            Err(e) => assert_hidden("a managed-identity error", &e),
        }
    }

    #[test]
    fn any_expiry_number_reads_or_fails_cleanly(n in any::<i64>(), r in any::<i64>(), strings in any::<bool>()) {
        for field in ["expires_in", "expires_on"] {
            let body = if strings {
                format!(r#"{{"access_token":"t","{field}":"{n}","refresh_in":"{r}"}}"#)
            } else {
                format!(r#"{{"access_token":"t","{field}":{n},"refresh_in":{r}}}"#)
            };
            if let Ok(p) = parse_token(&Response::new(200, body), t0(), true) {
                prop_assert!(n >= 0);
                if let Some(at) = p.token.refresh_on() {
                    prop_assert!(at > t0());
                }
            }
        }
    }

    #[test]
    fn azure_ml_dates_agree_with_a_calendar(
        month in 1u32..=12, day in 1u32..=28, year in 1970i64..=9999,
        hour in 0u32..=23, minute in 0u32..=59, second in 0u32..=59,
        offset_minutes in -(14 * 60)..=(14 * 60i64),
        meridiem in any::<bool>(),
    ) {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let offset = format!("{sign}{:02}:{:02}", offset_minutes.abs() / 60, offset_minutes.abs() % 60);
        let text = if meridiem {
            let (h12, m) = match hour { 0 => (12, "AM"), 1..=11 => (hour, "AM"), 12 => (12, "PM"), _ => (hour - 12, "PM") };
            format!("{month:02}/{day:02}/{year} {h12:02}:{minute:02}:{second:02} {m} {offset}")
        } else {
            format!("{month:02}/{day:02}/{year} {hour:02}:{minute:02}:{second:02} {offset}")
        };
        let days = days_since_epoch(year, month, day);
        let want = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
        prop_assert_eq!(parse_azure_ml_date(&text), Some(want), "{}", text);
    }

    #[test]
    fn azure_ml_garbage_never_panics(text in "[0-9/: +-AMP]{0,40}", other in ".{0,40}") {
        let _ = parse_azure_ml_date(&text);
        let _ = parse_azure_ml_date(&other);
    }
}

/// Days since 1970-01-01, counted the slow way (an independent check of the fast formula).
fn days_since_epoch(year: i64, month: u32, day: u32) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: i64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += lengths[..(month as usize - 1)].iter().sum::<i64>();
    days + i64::from(day) - 1
}

/// Regressions found by these properties and the fuzz targets (FUZZING.md).
mod regressions {
    use super::*;

    #[test]
    fn expiries_past_the_end_of_time_are_unexpected_not_panics() {
        for body in [
            r#"{"access_token":"t","expires_in":"9223372036854775807"}"#,
            r#"{"access_token":"t","expires_in":9223372036854775807,"refresh_in":1}"#,
            r#"{"access_token":"t","expires_on":"100","refresh_in":"9223372036854775807"}"#,
        ] {
            match parse_token(&Response::new(200, body), t0(), false) {
                Ok(p) => assert_eq!(p.token.refresh_on(), None, "{body}"),
                Err(f) => assert!(f.message().starts_with("Unexpected response"), "{body}"),
            }
        }
    }

    #[test]
    fn huge_azure_ml_years_and_offsets_are_rejected() {
        for text in [
            "01/01/9223372036854775807 00:00:00 +00:00",
            "01/01/2024 00:00:00 +9223372036854775807:00",
            "01/01/2024 00:00:00 +00:9223372036854775807",
            "01/01/0 00:00:00 +00:00",
            "01/01/2024 00:00:00 +24:00",
        ] {
            assert_eq!(parse_azure_ml_date(text), None, "{text}");
        }
        assert_eq!(
            parse_azure_ml_date("01/01/2024 00:00:00 +14:00"),
            Some(1_704_067_200 - 14 * 3600)
        );
    }
}

/// 10 MB bodies, deeply nested JSON and invalid UTF-8 from any source: a short, clear error.
#[test]
fn huge_deep_and_invalid_bodies_fail_with_short_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(
        "{{\"access_token\":\"{PLANTED}\",\"pad\":\"{}\"",
        "x".repeat(10 * 1024 * 1024)
    );
    let garbage: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    for body in [
        deep.into_bytes(),
        huge.into_bytes(),
        garbage,
        b"\xff\xfe{\"a\":\xc3\x28}".to_vec(),
    ] {
        for source in 0..6 {
            for content_type in [Some("application/json"), Some("text/html"), None] {
                let r = response(200, body.clone(), content_type);
                let e = outcome(source, r, &ManagedIdentityId::SystemAssigned).unwrap_err();
                let shown = e.to_string().chars().count();
                assert!(shown < 1_500, "{shown} characters");
                assert_hidden("a huge-body error", &e);
            }
        }
    }
}
