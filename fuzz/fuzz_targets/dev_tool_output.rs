//! az / azd / pwsh stdout and stderr classification (exit code, stdout, stderr → token or
//! error), and each tool's token parser. Properties: a token planted where each tool prints
//! it never shows in an error.
#![no_main]

use identity_dev_tools::__fuzz as tools;
use identity_fuzz::{
    Input, PLANTED, assert_debug_hidden, assert_hidden, json_object, plants_itself, t0, text,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let choice = input.byte();
    let tool = usize::from(choice % 3);
    let code = match (choice / 3) % 5 {
        0 => Some(0),
        1 => Some(1),
        2 => Some(127),
        3 => None,
        _ => Some(i32::from(input.byte())),
    };
    let stdout_bytes = input.part();
    let stdout = text(stdout_bytes);
    let stderr = text(input.rest());
    // The raw output.
    let _ = tools::classify(tool, code, &stdout, &stderr, t0());
    let _ = tools::az_parse_token(&stdout, false);
    let _ = tools::azd_parse_token(&stdout);
    let _ = tools::pwsh_parse_token(&stdout);
    // A planted token where the tool prints it.
    if plants_itself(data) {
        return;
    }
    let planted = match tool {
        0 | 1 => {
            let Some(mut object) = json_object(stdout_bytes) else {
                return;
            };
            let key = if tool == 0 { "accessToken" } else { "token" };
            object.insert(key.to_owned(), Value::String(PLANTED.to_owned()));
            if choice & 128 != 0 {
                serde_json::to_string_pretty(&object)
            } else {
                serde_json::to_string(&object)
            }
            .expect("a JSON object serialises")
        }
        _ => {
            // `azsdk%{token}%{expiry}` framed by whatever the fuzzer printed around it.
            let (before, after) = stdout.split_at(stdout.find('\n').unwrap_or(0));
            format!("{before}\nazsdk%{PLANTED}%{after}")
        }
    };
    match tools::classify(tool, code, &planted, &stderr, t0()) {
        Ok(token) => assert_debug_hidden("a developer-tool token", &token),
        Err(e) => assert_hidden("a developer-tool error", &e),
    }
});
