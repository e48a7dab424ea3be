//! Microsoft Entra token and error responses (`parse_token_response`, `entra_error`).
//! Properties: a success carries the body's token; a planted `access_token`, `refresh_token` or
//! `id_token` never shows in an error's `Display`/`Debug` nor in a parsed response's `Debug`.
#![no_main]

use identity_core::http::Response;
use identity_core::protocol::entra::{entra_error, parse_token_response};
use identity_fuzz::{
    Input, PLANTED, assert_debug_hidden, assert_hidden, json_object, plants_itself, t0,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SECRET_FIELDS: [&str; 3] = ["access_token", "refresh_token", "id_token"];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let status = 200 + input.u16() % 400;
    let choice = input.byte();
    let body = input.rest();
    let content_type = match choice % 3 {
        0 => "application/json; charset=utf-8",
        1 => "text/html",
        _ => "",
    };
    let response = |body: Vec<u8>| {
        let r = Response::new(status, body);
        if content_type.is_empty() {
            r
        } else {
            r.with_header("Content-Type", content_type)
        }
    };
    // The raw bytes.
    match parse_token_response(&response(body.to_vec()), t0()) {
        Ok(parsed) => {
            assert!(response(body.to_vec()).is_success());
            assert!(!parsed.token.token().secret().is_empty());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if plants_itself(data) {
        return;
    }
    let Some(mut object) = json_object(body) else {
        return;
    };
    let _ = entra_error(status, &object);
    // The same object with secrets planted in every secret field.
    for (i, field) in SECRET_FIELDS.iter().enumerate() {
        if choice & (8 << i) != 0 || *field == "access_token" {
            object.insert((*field).to_owned(), Value::String(PLANTED.to_owned()));
        }
    }
    let planted = if choice & 64 != 0 {
        serde_json::to_vec_pretty(&object)
    } else {
        serde_json::to_vec(&object)
    }
    .expect("a JSON object serialises");
    match parse_token_response(&response(planted), t0()) {
        Ok(parsed) => assert_debug_hidden("a parsed token response", &parsed),
        Err(e) => assert_hidden("an Entra response error", &e),
    }
    assert_hidden("an Entra error", &entra_error(status, &object));
});
