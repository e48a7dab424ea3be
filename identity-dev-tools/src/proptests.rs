//! Property tests of the developer-tool output parsers (issue #13; the `fuzz/` crate runs the
//! same properties for longer): az, azd and pwsh stdout/stderr classification and expiry formats.

use crate::process::Output;
use crate::tool::sealed::ToolImpl;
use crate::{AzureCli, AzureDeveloperCli, AzurePowerShell};
use identity_core::{AccessToken, Result, unix_seconds};
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

fn classify(tool: u8, code: Option<i32>, stdout: &str, stderr: &str) -> Result<AccessToken> {
    let output = Output {
        code,
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
        truncated: false,
    };
    match tool % 3 {
        0 => AzureCli.parse(&output, t0()),
        1 => AzureDeveloperCli.parse(&output, t0()),
        _ => AzurePowerShell.parse(&output, t0()),
    }
}

fn utc(naive: &chrono::NaiveDateTime) -> Option<i64> {
    Some(naive.and_utc().timestamp())
}

fn exit_code() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        Just(Some(0)),
        Just(Some(1)),
        Just(Some(127)),
        Just(None),
        any::<i32>().prop_map(Some)
    ]
}

fn output_object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        Just("expiresOn".to_owned()),
        Just("expires_on".to_owned()),
        Just("tokenType".to_owned()),
        Just("error".to_owned()),
        Just("data".to_owned()),
        ".{0,8}",
    ];
    let value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        any::<i64>().prop_map(|n| Value::String(n.to_string())),
        Just(Value::String("2026-11-23 00:28:00.000000".to_owned())),
        Just(Value::String("2026-11-23T00:28:00Z".to_owned())),
        ".{0,16}".prop_map(Value::String),
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|pairs| pairs.into_iter().collect())
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
    fn any_output_is_classified_without_panics(
        tool in any::<u8>(),
        code in exit_code(),
        stdout in ".{0,80}",
        stderr in ".{0,80}",
    ) {
        let _ = classify(tool, code, &stdout, &stderr);
        let _ = crate::az::parse_token(&stdout, utc);
        let _ = crate::azd::parse_token(&stdout);
        let _ = crate::pwsh::parse_token(&stdout);
    }

    #[test]
    fn a_planted_token_never_shows(
        tool in any::<u8>(),
        code in exit_code(),
        mut object in output_object(),
        expiry in ".{0,12}",
        around in ".{0,20}",
        stderr in ".{0,40}",
        pretty in any::<bool>(),
    ) {
        let stdout = match tool % 3 {
            0 | 1 => {
                let key = if tool % 3 == 0 { "accessToken" } else { "token" };
                object.insert(key.to_owned(), Value::String(PLANTED.to_owned()));
                if pretty { serde_json::to_string_pretty(&object) } else { serde_json::to_string(&object) }.unwrap()
            }
            _ => format!("{around}\nazsdk%{PLANTED}%{expiry}\n{around}"),
        };
        match classify(tool, code, &stdout, &stderr) {
            Ok(token) => {
                let debug = format!("{token:?}");
                prop_assert!(!debug.contains(PLANTED), "{}", debug);
            }
            Err(e) => assert_hidden("a developer-tool error", &e),
        }
    }

    #[test]
    fn tool_expiries_round_trip(secs in 0i64..253_402_300_799) {
        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        let az = format!(r#"{{"accessToken":"t","expiresOn":"{}"}}"#, at.format("%Y-%m-%d %H:%M:%S%.6f"));
        prop_assert_eq!(crate::az::parse_token(&az, utc).map(|t| unix_seconds(t.expires_on())), Some(secs));
        let az = format!(r#"{{"accessToken":"t","expires_on":"{secs}"}}"#);
        prop_assert_eq!(crate::az::parse_token(&az, utc).map(|t| unix_seconds(t.expires_on())), Some(secs));
        let azd = format!(r#"{{"token":"t","expiresOn":"{}"}}"#, at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        prop_assert_eq!(crate::azd::parse_token(&azd).map(|t| unix_seconds(t.expires_on())), Some(secs));
        let pwsh = format!("WARNING: x\nazsdk%t%{secs}\n");
        prop_assert_eq!(crate::pwsh::parse_token(&pwsh).map(|t| unix_seconds(t.expires_on())), Some(secs));
    }
}

/// Regressions found by these properties and the fuzz targets (FUZZING.md).
mod regressions {
    use super::*;

    #[test]
    fn pwsh_does_not_quote_the_token_of_an_unparsable_line() {
        for stdout in [
            format!("azsdk%{PLANTED}%not-a-number\n"),
            format!("noise azsdk%{PLANTED}\n"),
            format!("xazsdk%{PLANTED}%1\n"),
        ] {
            let e = classify(2, Some(0), &stdout, "").unwrap_err();
            assert!(
                e.message()
                    .starts_with("Unexpected output from Get-AzAccessToken"),
                "{e}"
            );
            assert!(e.message().contains("azsdk%****"), "{e}");
            assert_hidden("a pwsh error", &e);
        }
    }
}

/// 10 MB of output, deeply nested JSON and invalid UTF-8 (already replaced by the process
/// reader): a short, clear error from every tool, never the token.
#[test]
fn huge_deep_and_invalid_output_fails_with_short_errors() {
    let pad = "x".repeat(10 * 1024 * 1024);
    let lossy = String::from_utf8_lossy(b"\xff\xfe{\"a\":\xc3\x28}").into_owned();
    for tool in 0..3u8 {
        let huge = match tool {
            0 => format!("{{\"accessToken\":\"{PLANTED}\",\"pad\":\"{pad}\""),
            1 => format!("{{\"token\":\"{PLANTED}\",\"pad\":\"{pad}\""),
            _ => format!("azsdk%{PLANTED}%{pad}"),
        };
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for text in [huge, deep, lossy.clone()] {
            for (code, stdout, stderr) in
                [(Some(0), text.as_str(), ""), (Some(1), "", text.as_str())]
            {
                let e = classify(tool, code, stdout, stderr).unwrap_err();
                let shown = e.to_string().chars().count();
                assert!(shown < 2_500, "{shown} characters");
                assert_hidden("a huge-output error", &e);
            }
        }
    }
}
