//! `WWW-Authenticate` challenges (PROTOCOL.md §4.6, §9): the CAE claims challenge.

use base64::Engine as _;

/// The auth-params of each challenge in a `WWW-Authenticate` value: `(scheme, [(name, value)])`,
/// names lower-cased, quoted values unescaped.
pub fn parse_www_authenticate(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut challenges: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // A token followed by '=' is a parameter of the current challenge; otherwise a scheme.
        let token_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start();
        if let Some(value_part) = after.strip_prefix('=').filter(|_| !token.is_empty()) {
            let value_part = value_part.trim_start();
            let (value, remaining) = if let Some(quoted) = value_part.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, next)) = chars.next() {
                                value.push(next);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        _ => value.push(c),
                    }
                }
                (value, &quoted[end.min(quoted.len())..])
            } else {
                let end = value_part.find(',').unwrap_or(value_part.len());
                (value_part[..end].trim().to_owned(), &value_part[end..])
            };
            if challenges.is_empty() {
                challenges.push((String::new(), Vec::new()));
            }
            if let Some(last) = challenges.last_mut() {
                last.1.push((token.to_ascii_lowercase(), value));
            }
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        } else if token.is_empty() {
            // A stray separator or an `=` with no name before it: skip it (it used to loop
            // forever on `=`).
            rest = after.trim_start_matches([',', '=']).trim_start();
        } else {
            challenges.push((token.to_owned(), Vec::new()));
            rest = after.trim_start_matches(',').trim_start();
        }
    }
    challenges
}

/// The claims of a CAE challenge: a `Bearer` challenge with `error="insufficient_claims"` and a
/// base64 (URL-safe or standard, padded or not) `claims` parameter, decoded to its JSON text.
///
/// ```
/// use identity_core::protocol::challenge::claims_challenge;
/// let header = r#"Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZX19fQ==""#;
/// assert_eq!(claims_challenge(header).as_deref(), Some(r#"{"access_token":{"nbf":{"essential":true}}}"#));
/// ```
pub fn claims_challenge(header: &str) -> Option<String> {
    parse_www_authenticate(header)
        .into_iter()
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|(_, params)| {
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            if get("error") != Some("insufficient_claims") {
                return None;
            }
            let encoded = get("claims")?.trim().trim_end_matches('=');
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
                .ok()?;
            let text = String::from_utf8(bytes).ok()?;
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()?
                .is_object()
                .then_some(text)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let parsed = parse_www_authenticate(
            r#"Bearer realm="x", error="insufficient_claims", claims="abc", Basic realm=/var/opt/azcmagent/tokens/k.key"#,
        );
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, "Bearer");
        assert_eq!(
            parsed[0].1[1],
            ("error".to_owned(), "insufficient_claims".to_owned())
        );
        assert_eq!(parsed[1].0, "Basic");
        assert_eq!(parsed[1].1[0].1, "/var/opt/azcmagent/tokens/k.key");
        assert_eq!(
            parse_www_authenticate(r#"Bearer a="q\"uote""#)[0].1[0].1,
            "q\"uote"
        );
        assert!(parse_www_authenticate("").is_empty());
    }

    #[test]
    fn an_equals_sign_without_a_name_is_skipped() {
        // Found by the www_authenticate property test: these looped forever.
        assert!(parse_www_authenticate("=").is_empty());
        assert_eq!(
            parse_www_authenticate(r#"= Bearer, =x, ,= error="insufficient_claims""#),
            vec![
                ("Bearer".to_owned(), Vec::new()),
                (
                    "x".to_owned(),
                    vec![("error".to_owned(), "insufficient_claims".to_owned())]
                ),
            ]
        );
        assert_eq!(claims_challenge("Bearer =="), None);
    }

    #[test]
    fn claims_challenges() {
        // Standard and URL-safe alphabets, with or without padding.
        let json = r#"{"access_token":{"nbf":{"essential":true,"value":"1726258122"}}}"#;
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let h = format!(
                r#"Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="{}""#,
                engine.encode(json)
            );
            assert_eq!(claims_challenge(&h).as_deref(), Some(json));
        }
        assert_eq!(claims_challenge(r#"Bearer error="invalid_token""#), None);
        assert_eq!(
            claims_challenge(r#"Bearer error="insufficient_claims", claims="!!!""#),
            None
        );
        assert_eq!(
            claims_challenge(r#"Basic error="insufficient_claims", claims="e30""#),
            None
        );
        assert_eq!(
            claims_challenge(r#"Bearer error="insufficient_claims", claims="e30""#).as_deref(),
            Some("{}")
        );
    }
}
