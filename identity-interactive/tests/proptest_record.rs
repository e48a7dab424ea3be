//! Property tests of the AuthenticationRecord JSON (issue #13; the `auth_record` fuzz target
//! runs the same properties for longer): whatever reads writes back the same record; any record
//! round-trips; arbitrary, huge and deeply nested input fails with a clear error.

use identity_interactive::AuthenticationRecord;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_record_round_trips(
        authority in ".{0,24}",
        client_id in ".{0,24}",
        home_account_id in ".{0,24}",
        tenant_id in ".{0,24}",
        username in ".{0,24}",
    ) {
        let record = AuthenticationRecord::new(authority, client_id, home_account_id, tenant_id, username);
        prop_assert_eq!(AuthenticationRecord::from_json(&record.to_json()).unwrap(), record);
    }

    #[test]
    fn what_reads_writes_back_the_same(
        fields in prop::collection::vec(
            (prop_oneof![Just("authority"), Just("clientId"), Just("homeAccountId"), Just("tenantId"), Just("username"), Just("version"), Just("extra")],
             prop_oneof![Just("\"1.0\"".to_owned()), "\"[^\"\\\\]{0,12}\"", Just("1".to_owned()), Just("null".to_owned())]),
            0..9,
        ),
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let json = format!("{{{}}}", body.join(","));
        match AuthenticationRecord::from_json(&json) {
            Ok(record) => {
                prop_assert_eq!(record.version(), "1.0");
                prop_assert_eq!(AuthenticationRecord::from_json(&record.to_json()).unwrap(), record);
            }
            Err(e) => prop_assert!(e.message().starts_with("Not a valid authentication record") || e.message().starts_with("Unexpected version"), "{}", e),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        let _ = AuthenticationRecord::from_json(&text);
    }
}

#[test]
fn huge_and_deep_input_fails_with_a_clear_error() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(r#"{{"authority":"{}"#, "x".repeat(10 * 1024 * 1024));
    for text in [deep, huge, "\u{fffd}".repeat(1000)] {
        let e = AuthenticationRecord::from_json(&text).unwrap_err();
        assert!(
            e.message().starts_with("Not a valid authentication record"),
            "{e}"
        );
        assert!(e.to_string().len() < 1_000);
    }
}
