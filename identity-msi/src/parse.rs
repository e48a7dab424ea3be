//! The generic managed-identity response parser (PROTOCOL.md §6.9), shared by every source.

use identity_core::AccessToken;
use identity_core::http::Response;
use identity_core::protocol::entra::{flexible_int, refresh_on};
use identity_core::protocol::scrub::scrub;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest quoted body in an error message.
pub(crate) const MAX_QUOTED: usize = 1000;

/// Why a response did not yield a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseFailure {
    /// Empty body: "No token received."
    Empty,
    /// A body declared as JSON that is not JSON.
    InvalidJson(String),
    /// A non-JSON body of another type.
    ContentType(String),
    /// JSON without a usable token (the text is scrubbed).
    Unexpected(String),
}

impl ParseFailure {
    /// The message, in azure-identity's words.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Empty => "No token received.".to_owned(),
            Self::InvalidJson(detail) => {
                format!("Failed to deserialize JSON from response: {detail}")
            }
            Self::ContentType(t) => format!("Unexpected content type \"{t}\""),
            Self::Unexpected(body) => format!("Unexpected response \"{body}\""),
        }
    }

    /// §6.9: only an unexpected content type is "unavailable"; the rest are auth failures.
    pub(crate) fn generic_is_unavailable(&self) -> bool {
        matches!(self, Self::ContentType(_))
    }
}

/// A parsed token and the JSON it came from (for source-specific checks).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) token: AccessToken,
    pub(crate) body: Map<String, Value>,
}

/// The body as a JSON object, if it is one.
pub(crate) fn json_object(response: &Response) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The body, scrubbed of tokens and truncated, for quoting in an error.
pub(crate) fn quoted_body(response: &Response) -> String {
    scrub(response.text().trim(), MAX_QUOTED)
}

/// Parses a token response. `date_strings` accepts the Azure ML date formats of §6.6 in
/// `expires_on`.
pub(crate) fn parse_token(
    response: &Response,
    request_time: SystemTime,
    date_strings: bool,
) -> Result<Parsed, ParseFailure> {
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseFailure::Empty);
    }
    let body = match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(ParseFailure::Unexpected(quoted_body(response))),
        Err(e) => {
            let content_type = response.content_type().unwrap_or("").to_owned();
            return Err(if content_type.to_ascii_lowercase().contains("json") {
                ParseFailure::InvalidJson(e.to_string())
            } else {
                ParseFailure::ContentType(content_type)
            });
        }
    };
    let unexpected = || ParseFailure::Unexpected(quoted_body(response));
    let token = match body.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err(unexpected()),
    };
    let expires_on = match (body.get("expires_on"), body.get("expires_in")) {
        (Some(v), _) if !v.is_null() => {
            let secs = flexible_int(v)
                .or_else(|| {
                    date_strings
                        .then(|| v.as_str().and_then(parse_azure_ml_date))
                        .flatten()
                })
                .ok_or_else(unexpected)?;
            // checked_add: an expiry past the end of time (it used to panic) is unexpected.
            UNIX_EPOCH
                .checked_add(Duration::from_secs(
                    u64::try_from(secs).map_err(|_| unexpected())?,
                ))
                .ok_or_else(unexpected)?
        }
        (_, Some(v)) => {
            let secs = flexible_int(v).ok_or_else(unexpected)?;
            request_time
                .checked_add(Duration::from_secs(
                    u64::try_from(secs).map_err(|_| unexpected())?,
                ))
                .ok_or_else(unexpected)?
        }
        _ => return Err(unexpected()),
    };
    let refresh_in = body.get("refresh_in").and_then(flexible_int);
    let mut access = AccessToken::new(token, expires_on).with_refresh_on(refresh_on(
        request_time,
        expires_on,
        refresh_in,
    ));
    if let Some(Value::String(t)) = body.get("token_type")
        && !t.is_empty()
    {
        access = access.with_token_type(t.clone());
    }
    Ok(Parsed {
        token: access,
        body,
    })
}

/// `MM/DD/YYYY HH:MM:SS +00:00` or `MM/DD/YYYY hh:MM:SS AM +00:00` → Unix seconds.
pub(crate) fn parse_azure_ml_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (date, time, meridiem, offset) = match parts.as_slice() {
        [d, t, o] => (*d, *t, None, *o),
        [d, t, m, o] => (*d, *t, Some(*m), *o),
        _ => return None,
    };
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let d: Vec<&str> = date.split('/').collect();
    let t: Vec<&str> = time.split(':').collect();
    let ([mo, da, yr], [hh, mi, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    let (month, day, year) = (num(mo)?, num(da)?, num(yr)?);
    let (mut hour, minute, second) = (num(hh)?, num(mi)?, num(ss)?);
    match meridiem.map(str::to_ascii_uppercase).as_deref() {
        None => {}
        Some("AM") if (1..=12).contains(&hour) => hour %= 12,
        Some("PM") if (1..=12).contains(&hour) => hour = hour % 12 + 12,
        Some(_) => return None,
    }
    // The year and offset bounds keep the arithmetic below from overflowing (a 19-digit year
    // used to panic in debug builds and wrap in release builds).
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(1..=9999).contains(&year)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let (sign, rest) = match offset.as_bytes().first()? {
        b'+' => (1, &offset[1..]),
        b'-' => (-1, &offset[1..]),
        _ => return None,
    };
    let (oh, om) = rest.split_once(':')?;
    let (oh, om) = (num(oh)?, num(om)?);
    if oh > 23 || om > 59 {
        return None;
    }
    let offset_secs = sign * (oh * 3600 + om * 60);
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn json(body: &str) -> Response {
        Response::new(200, body).with_header("Content-Type", "application/json")
    }

    #[test]
    fn imds_strings() {
        // PROTOCOL.md §6.3: numbers are strings.
        let r = json(
            r#"{"access_token":"tok","client_id":"c","expires_in":"86399","expires_on":"1700086399","ext_expires_in":"86399","not_before":"1700000000","resource":"https://management.azure.com/","token_type":"Bearer"}"#,
        );
        let p = parse_token(&r, t0(), false).unwrap();
        assert_eq!(p.token.expires_on_unix(), 1_700_086_399);
        assert_eq!(p.token.token().secret(), "tok");
        // ≥ 2 h: refresh at half-life.
        assert_eq!(
            p.token.refresh_on(),
            Some(t0() + Duration::from_secs(86_399 / 2))
        );
    }

    #[test]
    fn expires_in_fallback_refresh_in_and_no_resource() {
        let r = json(r#"{"access_token":"tok","expires_in":3600,"refresh_in":"600"}"#);
        let p = parse_token(&r, t0(), false).unwrap();
        assert_eq!(p.token.expires_on(), t0() + Duration::from_secs(3600));
        assert_eq!(p.token.refresh_on(), Some(t0() + Duration::from_secs(600)));
        // Under two hours without refresh_in: no proactive refresh.
        let r = json(r#"{"access_token":"tok","expires_in":3600}"#);
        assert_eq!(
            parse_token(&r, t0(), false).unwrap().token.refresh_on(),
            None
        );
    }

    #[test]
    fn integer_expires_on() {
        let r = json(r#"{"access_token":"tok","expires_on":1700003600,"token_type":"Bearer"}"#);
        assert_eq!(
            parse_token(&r, t0(), false)
                .unwrap()
                .token
                .expires_on_unix(),
            1_700_003_600
        );
    }

    #[test]
    fn azure_ml_dates() {
        assert_eq!(
            parse_azure_ml_date("11/14/2023 22:13:20 +00:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_azure_ml_date("11/14/2023 10:13:20 PM +00:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_azure_ml_date("11/14/2023 12:13:20 AM +00:00"),
            Some(1_699_920_800)
        );
        assert_eq!(parse_azure_ml_date("01/01/1970 00:00:00 +00:00"), Some(0));
        assert_eq!(
            parse_azure_ml_date("11/14/2023 23:13:20 +01:00"),
            Some(1_700_000_000)
        );
        for bad in [
            "",
            "11/14/2023",
            "13/01/2023 00:00:00 +00:00",
            "11/14/2023 13:00:00 PM +00:00",
            "x/1/2023 00:00:00 +00:00",
        ] {
            assert_eq!(parse_azure_ml_date(bad), None, "{bad}");
        }
        let r = json(
            r#"{"access_token":"tok","expires_on":"11/14/2023 22:13:20 +00:00","resource":"r","token_type":"Bearer"}"#,
        );
        assert_eq!(
            parse_token(&r, t0(), true).unwrap().token.expires_on_unix(),
            1_700_000_000
        );
        assert!(matches!(
            parse_token(&r, t0(), false),
            Err(ParseFailure::Unexpected(_))
        ));
    }

    #[test]
    fn failures() {
        assert_eq!(
            parse_token(&json("  "), t0(), false).unwrap_err(),
            ParseFailure::Empty
        );
        assert!(matches!(
            parse_token(&json("{\"access_token\":"), t0(), false),
            Err(ParseFailure::InvalidJson(_))
        ));
        let html = Response::new(200, "<html>").with_header("Content-Type", "text/html");
        let e = parse_token(&html, t0(), false).unwrap_err();
        assert_eq!(e.message(), "Unexpected content type \"text/html\"");
        assert!(e.generic_is_unavailable());
        // No expiry: the token is masked in the message.
        let e = parse_token(&json(r#"{"access_token":"secret-tok"}"#), t0(), false).unwrap_err();
        assert!(!e.message().contains("secret-tok"), "{}", e.message());
        assert!(e.message().starts_with("Unexpected response"));
        assert!(!e.generic_is_unavailable());
        assert!(matches!(
            parse_token(&json(r#"{"expires_in":"10"}"#), t0(), false),
            Err(ParseFailure::Unexpected(_))
        ));
    }
}
