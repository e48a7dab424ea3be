//! AuthenticationRecord JSON (`from_json`, `to_json`). Properties: what parses writes back and
//! parses to the same record; any five strings make a record that round-trips.
#![no_main]

use identity_fuzz::{Input, text};
use identity_interactive::AuthenticationRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let json = text(input.rest());
    if let Ok(record) = AuthenticationRecord::from_json(&json) {
        assert_eq!(record.version(), "1.0");
        let again = AuthenticationRecord::from_json(&record.to_json())
            .expect("a written record reads back");
        assert_eq!(again, record);
    }
    let mut parts = Input::new(data);
    let fields: Vec<String> = (0..5).map(|_| text(parts.part())).collect();
    let record = AuthenticationRecord::new(
        fields[0].clone(),
        fields[1].clone(),
        fields[2].clone(),
        fields[3].clone(),
        fields[4].clone(),
    );
    let again =
        AuthenticationRecord::from_json(&record.to_json()).expect("a new record reads back");
    assert_eq!(again, record);
});
