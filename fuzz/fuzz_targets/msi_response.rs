//! Managed-identity responses of every source (IMDS, App Service, Azure Arc, Azure ML, Cloud
//! Shell, Service Fabric), the generic parser, the IMDS probe and the Arc challenge.
//! Properties: a planted `access_token` never shows in an error nor in a token's `Debug`.
#![no_main]

use identity_core::http::Response;
use identity_fuzz::{
    Input, PLANTED, assert_debug_hidden, assert_hidden, json_object, plants_itself, t0, text,
};
use identity_msi::__fuzz as msi;
use identity_msi::ManagedIdentityId;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let status = 200 + input.u16() % 400;
    let choice = input.byte();
    let header = text(input.part());
    let body = input.rest();
    let source = usize::from(choice % 6);
    let id = match (choice / 6) % 3 {
        0 => ManagedIdentityId::SystemAssigned,
        1 => ManagedIdentityId::ClientId("0a550000-0000-4000-8000-000000000006".to_owned()),
        _ => ManagedIdentityId::ResourceId("/subscriptions/s/rg/id".to_owned()),
    };
    let content_type = match (choice / 18) % 4 {
        0 => "application/json",
        1 => "text/plain",
        2 => "text/html; charset=utf-8",
        _ => "",
    };
    let response = |body: Vec<u8>| {
        let r = Response::new(status, body).with_header("WWW-Authenticate", header.clone());
        if content_type.is_empty() {
            r
        } else {
            r.with_header("Content-Type", content_type)
        }
    };
    // The raw bytes through every reader.
    let _ = msi::token_outcome(source, response(body.to_vec()), &id, t0());
    let _ = msi::parse_token(&response(body.to_vec()), t0(), choice & 1 == 0);
    let _ = msi::json_object(&response(body.to_vec()));
    let _ = msi::imds_probe_outcome(response(body.to_vec()));
    if let Ok(path) = msi::arc_challenge_path(&response(body.to_vec())) {
        assert_eq!(status, 401);
        assert!(header.contains('='));
        assert_eq!(path, path.trim());
    }
    // A planted token.
    if plants_itself(data) {
        return;
    }
    let Some(mut object) = json_object(body) else {
        return;
    };
    object.insert("access_token".to_owned(), Value::String(PLANTED.to_owned()));
    let planted = if choice & 128 != 0 {
        serde_json::to_vec_pretty(&object)
    } else {
        serde_json::to_vec(&object)
    }
    .expect("a JSON object serialises");
    match msi::token_outcome(source, response(planted.clone()), &id, t0()) {
        Ok(token) => assert_debug_hidden("a managed-identity token", &token),
        Err(e) => assert_hidden("a managed-identity error", &e),
    }
    match msi::parse_token(&response(planted), t0(), choice & 1 == 0) {
        Ok(token) => assert_debug_hidden("a managed-identity token", &token),
        Err(e) => assert_hidden("a managed-identity parse error", &e),
    }
});
