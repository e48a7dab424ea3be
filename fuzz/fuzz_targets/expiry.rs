//! Every expiry format: `expires_in`/`expires_on`/`refresh_in` as numbers or strings
//! (`flexible_int`, `refresh_on`), App Service / Azure ML date strings, az `expiresOn` (local
//! time and UTC) and `expires_on`, azd's RFC 3339 UTC `expiresOn`, pwsh's `azsdk%…%{seconds}`.
//! Properties: Azure ML dates agree with chrono where chrono reads them; numbers written by
//! the tools read back as the same instant.
#![no_main]

use chrono::{DateTime, NaiveDateTime};
use identity_core::protocol::entra::{flexible_int, refresh_on};
use identity_core::{from_unix_seconds, unix_seconds};
use identity_dev_tools::__fuzz as tools;
use identity_fuzz::{Input, t0, text};
use identity_msi::__fuzz as msi;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let choice = input.byte();
    let s = text(input.rest());
    let value = serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s.clone()));
    let number = flexible_int(&value);
    let string_number = flexible_int(&Value::String(s.clone()));
    if let Ok(n) = s.trim().parse::<i64>() {
        assert_eq!(string_number, Some(n));
    }
    // refresh_in / expires_on pairs around a fixed request time.
    for n in [number, string_number].into_iter().flatten() {
        let expires_on = from_unix_seconds(n);
        if let Some(at) = refresh_on(t0(), expires_on, Some(n)) {
            assert!(at > t0());
        }
        if let Some(at) = refresh_on(t0(), expires_on, None) {
            assert!(at > t0() && at < expires_on);
        }
    }
    // Azure ML and App Service date strings.
    if let Some(secs) = msi::parse_azure_ml_date(&s) {
        let _ = from_unix_seconds(secs);
        let chrono_secs = DateTime::parse_from_str(s.trim(), "%m/%d/%Y %H:%M:%S %:z")
            .ok()
            .map(|d| d.timestamp());
        if let Some(c) = chrono_secs
            && !s.contains(":60 ")
            && choice % 2 == 0
        {
            assert_eq!(secs, c, "Azure ML date {s:?}");
        }
    }
    // az expiresOn, read as UTC and as local time.
    if let Some(secs) = tools::az_parse_expires_on_utc(&s) {
        let chrono_secs = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|d| d.and_utc().timestamp());
        assert_eq!(Some(secs), chrono_secs);
    }
    let _ = tools::az_parse_expires_on_local(&s);
    // The value in each tool's output.
    let quoted = Value::String(s.clone()).to_string();
    let az = format!(r#"{{"accessToken":"t","expiresOn":{quoted},"tokenType":"Bearer"}}"#);
    let _ = tools::az_parse_token(&az, choice % 2 == 0);
    let az = format!(r#"{{"accessToken":"t","expires_on":{}}}"#, value);
    // (Integers only: a float moves by an ulp when printed and read back by serde_json.)
    if let Some(token) = tools::az_parse_token(&az, false)
        && let Some(n) = number
        && !value.is_f64()
    {
        assert_eq!(unix_seconds(token.expires_on()), n.max(0));
    }
    let azd = format!(r#"{{"token":"t","expiresOn":{quoted}}}"#);
    if let Some(token) = tools::azd_parse_token(&azd) {
        let parsed = DateTime::parse_from_rfc3339(s.trim())
            .map(|d| d.timestamp())
            .ok();
        assert_eq!(
            Some(unix_seconds(token.expires_on())),
            parsed.map(|p| p.max(0))
        );
    }
    let pwsh = format!("\nazsdk%t%{s}\n");
    let _ = tools::pwsh_parse_token(&pwsh);
});
