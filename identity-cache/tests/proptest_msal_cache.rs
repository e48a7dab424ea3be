//! Property tests of the MSAL cache JSON (issue #13; the `msal_cache` fuzz target runs the same
//! properties for longer): documents written by other tools read, write back and read the
//! same; look-ups over any timestamps never panic; huge and deeply nested files fail cleanly.
#![cfg(feature = "persistent")]

use identity_cache::persistent::MsalCache;
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| format!("\"{n}\"")),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("null".to_owned()),
        "\"[a-zA-Z0-9 .:+-]{0,8}\"",
    ]
}

fn document(expires_on: &str, refresh_on: &str, cached_at: &str, target: &str) -> String {
    format!(
        r#"{{"AccessToken":{{"uid.tid-login.microsoftonline.com-accesstoken-c-tid-{target}":{{"credential_type":"AccessToken","secret":"at","home_account_id":"uid.tid","environment":"login.microsoftonline.com","client_id":"c","target":"{target}","realm":"tid","cached_at":{cached_at},"expires_on":{expires_on},"extended_expires_on":{expires_on},"refresh_on":{refresh_on}}}}},
"RefreshToken":{{"uid.tid-login.microsoftonline.com-refreshtoken-c--":{{"credential_type":"RefreshToken","secret":"rt","home_account_id":"uid.tid","environment":"login.microsoftonline.com","client_id":"c","target":"","family_id":"1"}}}},
"Account":{{"uid.tid-login.microsoftonline.com-tid":{{"home_account_id":"uid.tid","environment":"login.microsoftonline.com","realm":"tid","local_account_id":"o","username":"u","authority_type":"MSSTS"}}}},
"AppMetadata":{{"appmetadata-login.microsoftonline.com-c":{{"client_id":"c","environment":"login.microsoftonline.com","family_id":"1"}}}},
"Unknown":{{"kept":[1,"two",null]}}}}"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn documents_round_trip_and_look_ups_never_panic(
        expires_on in timestamp(),
        refresh_on in timestamp(),
        cached_at in timestamp(),
        target in "[a-zA-Z:/._ -]{0,40}",
    ) {
        let doc = document(&expires_on, &refresh_on, &cached_at, &target);
        let mut cache = MsalCache::from_json(doc.as_bytes()).unwrap();
        let again = MsalCache::from_json(&cache.to_json()).unwrap();
        prop_assert_eq!(&again, &cache);
        let scopes: Vec<String> = target.split_whitespace().map(str::to_owned).collect();
        let _ = cache.find_access_token(Some("uid.tid"), "login.microsoftonline.com", "c", "tid", &scopes, t0());
        let _ = cache.find_account_access_token("uid.tid", &scopes, t0());
        let _ = cache.find_refresh_token("uid.tid", "login.microsoftonline.com", "c");
        cache.purge_expired(t0());
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,80}") {
        let _ = MsalCache::from_json(text.as_bytes());
    }
}

/// Regression: an `expires_on` near i64::MIN overflowed the validity check.
#[test]
fn an_expiry_at_the_start_of_time_is_expired() {
    for expires_on in [
        "\"-9223372036854775808\"",
        "-9223372036854775808",
        "\"-9223372036854775700\"",
    ] {
        let doc = document(
            expires_on,
            "null",
            "\"1\"",
            "https://vault.azure.net/.default",
        );
        let cache = MsalCache::from_json(doc.as_bytes()).unwrap();
        let scopes = vec!["https://vault.azure.net/.default".to_owned()];
        assert!(
            cache
                .find_account_access_token("uid.tid", &scopes, t0())
                .is_none()
        );
        assert!(
            cache
                .find_access_token(
                    Some("uid.tid"),
                    "login.microsoftonline.com",
                    "c",
                    "tid",
                    &scopes,
                    t0()
                )
                .is_none()
        );
    }
}

/// Regression (found by the `msal_cache` fuzz target): serde_json quoted the offending value in
/// its error (`invalid type: string "…"`), and the cache's error message quoted that: a token
/// stored where an entry was expected showed in the error.
#[test]
fn a_token_in_the_wrong_place_does_not_show_in_the_error() {
    for doc in [
        r#"{"AccessToken":{"k":"PLANTED-s3cr3t-7f3a9c"}}"#,
        r#"{"RefreshToken":{"k":{"secret":["PLANTED-s3cr3t-7f3a9c"]}}}"#,
        r#"{"AccessToken":{"k":{"secret":"x","home_account_id":7}},"x":"PLANTED-s3cr3t-7f3a9c"}"#,
    ] {
        let e = MsalCache::from_json(doc.as_bytes()).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("PLANTED"), "{shown}");
        assert!(shown.contains("line 1 column"), "{shown}");
    }
}

#[test]
fn huge_and_deep_files_fail_cleanly() {
    let deep = format!(
        "{{\"Unknown\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(MsalCache::from_json(deep.as_bytes()).is_err());
    let huge = format!(
        "{{\"AccessToken\":{{\"k\":{{\"secret\":\"{}",
        "x".repeat(10 * 1024 * 1024)
    );
    let e = MsalCache::from_json(huge.as_bytes()).unwrap_err();
    assert!(e.to_string().len() < 200, "{e}");
    assert!(MsalCache::from_json(b"\xff\xfe{}").is_err());
}
