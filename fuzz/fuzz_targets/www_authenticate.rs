//! WWW-Authenticate: the challenge parser, the CAE claims challenge and the Azure Arc
//! `Basic realm=` key-file challenge. Properties: challenges written back in canonical form
//! parse to the same list; a JSON object sent as a claims challenge (any base64 alphabet,
//! padded or not) decodes back to itself.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use identity_core::http::Response;
use identity_core::protocol::challenge::{claims_challenge, parse_www_authenticate};
use identity_fuzz::{Input, json_object, text};
use identity_msi::__fuzz as msi;
use libfuzzer_sys::fuzz_target;

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '=' | ',' | '"' | '\\'))
}

fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let choice = input.byte();
    let rest = input.rest();
    let header = text(rest);
    let parsed = parse_www_authenticate(&header);
    let _ = claims_challenge(&header);
    let arc = Response::new(401, "").with_header("WWW-Authenticate", header.clone());
    match msi::arc_challenge_path(&arc) {
        Ok(path) => assert_eq!(
            Some(path.as_str()),
            header.split_once('=').map(|(_, p)| p.trim())
        ),
        Err(e) => assert!(!header.contains('='), "{e}"),
    }
    // Canonical form round trip.
    let canonical = parsed.iter().enumerate().all(|(i, (scheme, params))| {
        (is_token(scheme) || (i == 0 && scheme.is_empty() && !params.is_empty()))
            && params.iter().all(|(name, _)| is_token(name))
    });
    if canonical {
        let written: Vec<String> = parsed
            .iter()
            .map(|(scheme, params)| {
                let params: Vec<String> = params
                    .iter()
                    .map(|(n, v)| format!("{n}={}", quote(v)))
                    .collect();
                [scheme.clone(), params.join(", ")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let again = parse_www_authenticate(&written.join(", "));
        assert_eq!(again, parsed, "canonical form of {header:?}: {written:?}");
    }
    // Claims challenge round trip.
    if let Some(object) = json_object(rest) {
        let json = serde_json::Value::Object(object).to_string();
        let encoded = match choice % 4 {
            0 => STANDARD.encode(&json),
            1 => STANDARD_NO_PAD.encode(&json),
            2 => URL_SAFE.encode(&json),
            _ => URL_SAFE_NO_PAD.encode(&json),
        };
        let header = format!(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="{encoded}""#
        );
        assert_eq!(claims_challenge(&header).as_deref(), Some(json.as_str()));
    }
});
