//! JWT claims decoding (`decode_jwt_claims_unverified`): id tokens, assertions, access tokens.
//! Round trip: any JSON object encoded as a JWT payload decodes back to itself.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_core::protocol::entra::decode_jwt_claims_unverified;
use identity_fuzz::{Input, json_object, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mode = input.byte();
    let rest = input.rest();
    // The raw text as a token.
    let _ = decode_jwt_claims_unverified(&text(rest));
    // The bytes as a payload, with and without padding and signature.
    let payload = URL_SAFE_NO_PAD.encode(rest);
    let padding = "=".repeat(usize::from(mode % 3));
    let token = format!("eyJhbGciOiJub25lIn0.{payload}{padding}.sig");
    let decoded = decode_jwt_claims_unverified(&token);
    if let Some(object) = json_object(rest) {
        assert_eq!(decoded.as_ref(), Some(&object), "round trip of {token}");
    } else {
        assert_eq!(
            decoded, None,
            "a payload that is not a JSON object decoded: {token}"
        );
    }
});
