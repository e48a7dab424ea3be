//! The MSAL token cache JSON (`MsalCache::from_json`, `to_json`, the look-ups), as written by
//! other MSAL tools. Properties: what parses writes back and parses to the same cache (floats
//! among the unknown fields compared to the last bits); look-ups and purges never panic; the
//! cache's `Debug` never shows a secret; a planted secret never shows in a parse error.
#![no_main]

use identity_cache::persistent::MsalCache;
use identity_fuzz::{Input, PLANTED, assert_debug_hidden, plants_itself, t0, text};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Equal JSON, floats within a few units in the last place (serde_json's float parsing is not
/// correctly rounded in every case, so a float may move by an ulp when written and read back).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || ((x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let choice = input.byte();
    let bytes = input.rest();
    let Ok(mut cache) = MsalCache::from_json(bytes) else {
        if plants_itself(data) {
            return;
        }
        // A planted secret in a document that does not parse never shows in the error.
        let planted = text(bytes).replace("\"secret\":\"", &format!("\"secret\":\"{PLANTED}"));
        if let Err(e) = MsalCache::from_json(planted.as_bytes()) {
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(PLANTED),
                "a cache parse error shows the planted secret: {shown}"
            );
        }
        return;
    };
    // Round trip.
    let written = cache.to_json();
    let again = MsalCache::from_json(&written).expect("a written cache reads back");
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&written).expect("the cache writes JSON"),
        serde_json::from_slice(&again.to_json()).expect("the cache writes JSON"),
    );
    assert!(same(&a, &b), "round trip changed the cache:\n{a}\n{b}");
    // Debug shows no secret (unless the fuzzer wrote the secret into another field itself).
    if plants_itself(data) {
        return;
    }
    for entry in cache.access_tokens.values_mut() {
        entry.secret = PLANTED.to_owned();
    }
    for entry in cache.refresh_tokens.values_mut() {
        entry.secret = PLANTED.to_owned();
    }
    for entry in cache.id_tokens.values_mut() {
        entry.secret = PLANTED.to_owned();
    }
    assert_debug_hidden("the MSAL cache", &cache);
    for entry in cache.access_tokens.values() {
        assert_debug_hidden("an access token entry", entry);
    }
    // Look-ups over whatever the file held.
    let scopes: Vec<String> = match choice % 3 {
        0 => vec!["https://management.azure.com/.default".to_owned()],
        1 => vec![],
        _ => cache
            .access_tokens
            .values()
            .take(1)
            .flat_map(|e| e.target.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .collect(),
    };
    let homes: Vec<Option<String>> = cache
        .accounts
        .values()
        .map(|a| Some(a.home_account_id.clone()))
        .chain([None])
        .take(4)
        .collect();
    for home in &homes {
        let _ = cache.find_access_token(
            home.as_deref(),
            "login.microsoftonline.com",
            "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "organizations",
            &scopes,
            t0(),
        );
        if let Some(h) = home {
            let _ = cache.find_account_access_token(h, &scopes, t0());
            let _ = cache.refresh_tokens_of(h).count();
            let _ = cache.find_refresh_token(
                h,
                "login.microsoftonline.com",
                "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            );
        }
    }
    cache.purge_expired(t0());
});
