//! Small helpers: clock, random identifiers, base64url, dates, form and query parsing.

use base64::Engine as _;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::{DecodePaddingMode, general_purpose};
use ring::rand::{SecureRandom as _, SystemRandom};

/// Base64url that accepts padded and unpadded input (Python's async path pads JWT segments).
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Unpadded base64url.
pub(crate) fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url (padded or not), falling back to standard base64.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_LENIENT
        .decode(text.trim())
        .ok()
        .or_else(|| STANDARD_LENIENT.decode(text.trim()).ok())
}

/// Standard base64 with padding.
pub(crate) fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes standard base64 (padded or not).
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .or_else(|| STANDARD_LENIENT.decode(text.trim()).ok())
}

/// Real Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `n` random bytes from the system generator.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // SystemRandom only fails when the OS has no entropy source; a zeroed buffer is then still
    // unique enough for an emulator's identifiers, but we try twice before giving up.
    if SystemRandom::new().fill(&mut buf).is_err() {
        let _ = SystemRandom::new().fill(&mut buf);
    }
    buf
}

/// A random UUID (version 4) in the canonical lower-case form.
pub(crate) fn uuid_v4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(&b)
}

/// A UUID-shaped identifier derived from a name (stable across runs).
pub(crate) fn uuid_from_name(name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut b = digest.as_ref()[..16].to_vec();
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(&b)
}

fn format_uuid(b: &[u8]) -> String {
    let h = hex(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Lower-case hex.
pub(crate) fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random URL-safe token of `n` random bytes.
pub(crate) fn random_token(n: usize) -> String {
    b64url(&random_bytes(n))
}

/// SHA-256 digest.
pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// SHA-1 digest (certificate thumbprints only).
pub(crate) fn sha1(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
}

fn civil(epoch: i64) -> Civil {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: (secs % 3600) / 60,
        second: secs % 60,
    }
}

/// Entra's error timestamp format: `2024-01-31 12:34:56Z`.
pub(crate) fn entra_timestamp(epoch: i64) -> String {
    let c = civil(epoch);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Azure ML's date-string `expires_on`: `MM/DD/YYYY HH:MM:SS +00:00` (UTC).
pub(crate) fn azure_ml_date(epoch: i64) -> String {
    let c = civil(epoch);
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}:{:02} +00:00",
        c.month, c.day, c.year, c.hour, c.minute, c.second
    )
}

/// Parses `application/x-www-form-urlencoded` text (also used for query strings).
pub(crate) fn parse_form(text: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(text)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Encodes pairs as `application/x-www-form-urlencoded`.
pub(crate) fn encode_form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Escapes text for HTML attribute and element content.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(entra_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(entra_timestamp(1_700_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(azure_ml_date(1_700_000_000), "11/14/2023 22:13:20 +00:00");
        assert_eq!(
            days_from_civil(2023, 11, 14) * 86_400 + 22 * 3600 + 13 * 60 + 20,
            1_700_000_000
        );
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn uuids_have_the_right_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(uuid_v4(), u);
        assert_eq!(uuid_from_name("a"), uuid_from_name("a"));
        assert_ne!(uuid_from_name("a"), uuid_from_name("b"));
    }

    #[test]
    fn lenient_base64url() {
        assert_eq!(b64url_decode("YQ==").unwrap(), b"a");
        assert_eq!(b64url_decode("YQ").unwrap(), b"a");
        assert_eq!(b64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(b64url_decode("+/8=").unwrap(), vec![0xfb, 0xff]);
    }
}
