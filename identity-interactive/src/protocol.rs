//! The pure protocol of the user flows (PROTOCOL.md §4.3, §5.7–5.9, §10.5–10.6): PKCE, state
//! and nonce, the authorize URL, the redirect parameters, the device-code messages, accounts and
//! [`AuthenticationRecord`]s. No I/O; `now` is passed in.

use crate::record::AuthenticationRecord;
use base64::Engine as _;
use identity_core::http::{Request, Response};
use identity_core::protocol::entra::{
    TokenResponse, decode_jwt_claims_unverified, entra_error, flexible_int, parse_token_response,
};
use identity_core::protocol::scrub::scrub;
use identity_core::{Error, Result, Secret};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::time::{Duration, SystemTime};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `n` bytes from the operating system's CSPRNG.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| {
        Error::authentication(
            "",
            format!("The operating system's random number generator failed: {e}"),
        )
    })?;
    Ok(buf)
}

/// A PKCE verifier: 43 characters from `[A-Za-z0-9-._~]` (32 random bytes, base64url).
pub(crate) fn pkce_verifier() -> Result<Secret> {
    Ok(Secret::new(B64.encode(random_bytes::<32>()?)))
}

/// The S256 challenge of `verifier`: base64url(SHA-256(verifier)), unpadded.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// A `state` value: 22 random urlsafe characters.
pub(crate) fn random_state() -> Result<String> {
    Ok(B64.encode(random_bytes::<16>()?))
}

/// A nonce: the hex SHA-256 of a random urlsafe string (what MSAL sends).
pub(crate) fn random_nonce() -> Result<String> {
    let raw = B64.encode(random_bytes::<24>()?);
    Ok(hex(&Sha256::digest(raw.as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the authorization server returns the code to the redirect listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseMode {
    /// An auto-submitting HTML form POSTs the parameters (the default, as MSAL does).
    #[default]
    FormPost,
    /// A 302 redirect carries the parameters in the query string.
    Query,
}

impl ResponseMode {
    /// The `response_mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FormPost => "form_post",
            Self::Query => "query",
        }
    }
}

/// Everything in an authorize URL.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeParams<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) redirect_uri: &'a str,
    /// Decorated, sorted, space-separated.
    pub(crate) scope: &'a str,
    pub(crate) state: &'a str,
    pub(crate) response_mode: ResponseMode,
    pub(crate) code_challenge: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) prompt: Option<&'a str>,
    pub(crate) domain_hint: Option<&'a str>,
    pub(crate) claims: Option<&'a str>,
}

/// The authorize URL, parameters in the order MSAL sends them (§5.8).
pub(crate) fn authorize_url(p: &AuthorizeParams<'_>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("client_id", p.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", p.redirect_uri)
        .append_pair("scope", p.scope)
        .append_pair("state", p.state)
        .append_pair("response_mode", p.response_mode.as_str())
        .append_pair("code_challenge", p.code_challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("nonce", p.nonce)
        .append_pair("client_info", "1");
    if let Some(hint) = p.login_hint {
        q.append_pair("login_hint", hint);
    }
    if let Some(prompt) = p.prompt {
        q.append_pair("prompt", prompt);
    }
    if let Some(domain) = p.domain_hint {
        q.append_pair("domain_hint", domain);
    }
    if let Some(hint) = p.login_hint {
        q.append_pair("X-AnchorMailbox", &format!("UPN:{hint}"));
    }
    if let Some(claims) = p.claims {
        q.append_pair("claims", claims);
    }
    format!("{}?{}", p.endpoint, q.finish())
}

/// What the redirect carried.
#[derive(Debug)]
pub(crate) enum Redirect {
    /// An authorization code.
    Code {
        code: Secret,
        client_info: Option<String>,
    },
}

/// True when the parameters are the redirect (they carry `code` or `error`); anything else is a
/// stray request that must not end the sign-in.
pub(crate) fn is_redirect(params: &[(String, String)]) -> bool {
    params.iter().any(|(k, _)| k == "code" || k == "error")
}

/// Checks the redirect parameters against the `state` sent.
pub(crate) fn parse_redirect(params: &[(String, String)], state: &str) -> Result<Redirect> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("state") != Some(state) {
        return Err(Error::authentication(
            "",
            "Authentication failed: state mismatch: the redirect did not carry the state this sign-in sent (another sign-in, or a forged request). Try again.",
        ));
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or_default();
        return Err(Error::authentication(
            "",
            format!(
                "Authentication failed: ({error}) {}",
                scrub(description, 1000)
            ),
        )
        .with_oauth_error(Some(error.to_owned()), aadsts(description)));
    }
    match get("code").filter(|c| !c.is_empty()) {
        Some(code) => Ok(Redirect::Code {
            code: Secret::new(code),
            client_info: get("client_info").map(str::to_owned),
        }),
        None => Err(Error::authentication(
            "",
            "Authentication failed: the redirect carried neither a code nor an error.",
        )),
    }
}

fn aadsts(description: &str) -> Vec<u32> {
    description
        .strip_prefix("AADSTS")
        .and_then(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()
        })
        .into_iter()
        .collect()
}

/// The decoded `client_info` (`{"uid","utid"}`), padding tolerated.
pub(crate) fn decode_client_info(client_info: &str) -> Option<(String, String)> {
    let bytes = B64.decode(client_info.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        v.get("uid")?.as_str()?.to_owned(),
        v.get("utid")?.as_str()?.to_owned(),
    ))
}

/// The `X-AnchorMailbox` value for a redemption: `Oid:{uid}@{utid}`.
pub(crate) fn anchor_mailbox(client_info: Option<&str>) -> Option<String> {
    let (uid, utid) = decode_client_info(client_info?)?;
    Some(format!("Oid:{uid}@{utid}"))
}

/// §10.5: `{uid}.{utid}` from `client_info`, else the ID token's `sub`.
pub(crate) fn home_account_id(
    client_info: Option<&str>,
    id_claims: Option<&Map<String, Value>>,
) -> Option<String> {
    if let Some((uid, utid)) = client_info.and_then(decode_client_info) {
        return Some(format!("{uid}.{utid}"));
    }
    id_claims?.get("sub")?.as_str().map(str::to_owned)
}

/// §10.6: the record of the account a token response signed in.
pub(crate) fn record_from_response(response: &TokenResponse) -> Result<AuthenticationRecord> {
    let bad = || {
        Error::authentication(
            "",
            "Failed to build AuthenticationRecord from unexpected identity token",
        )
    };
    let id_token = response.id_token.as_ref().ok_or_else(bad)?;
    let claims = decode_jwt_claims_unverified(id_token.secret()).ok_or_else(bad)?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let iss = text("iss").ok_or_else(bad)?;
    let after_scheme = iss.split_once("://").map_or(iss.as_str(), |(_, r)| r);
    let (host, path) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    let client_id = match claims.get("aud") {
        Some(Value::String(a)) => a.clone(),
        Some(Value::Array(a)) => a
            .first()
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_owned(),
        _ => return Err(bad()),
    };
    let tenant_id = text("tid")
        .or_else(|| {
            let t = path.split('/').next().unwrap_or_default();
            (!t.is_empty()).then(|| t.to_owned())
        })
        .ok_or_else(bad)?;
    let username = text("preferred_username")
        .or_else(|| text("upn"))
        .ok_or_else(bad)?;
    let home = home_account_id(response.client_info.as_deref(), Some(&claims)).ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok(AuthenticationRecord::new(
        host, client_id, home, tenant_id, username,
    ))
}

/// The `nonce` claim of an ID token.
pub(crate) fn id_token_nonce(id_token: &Secret) -> Option<String> {
    decode_jwt_claims_unverified(id_token.secret())?
        .get("nonce")?
        .as_str()
        .map(str::to_owned)
}

/// What the user is shown to complete a device-code sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCodeInfo {
    /// The page where the user enters the code.
    pub verification_uri: String,
    /// The code the user enters.
    pub user_code: String,
    /// The service's message, ready to show ("To sign in, use a web browser to open …").
    pub message: String,
    /// When the code expires.
    pub expires_on: SystemTime,
}

/// A started device-code flow.
#[derive(Debug)]
pub(crate) struct DeviceCodeStart {
    pub(crate) info: DeviceCodeInfo,
    pub(crate) device_code: Secret,
    pub(crate) interval: Duration,
}

/// The device-code initiation request (§5.9): `client_id`, `scope`, and `claims` = the CP1
/// capability only when CAE is on.
pub(crate) fn device_code_request(
    endpoint: &str,
    client_id: &str,
    scope: &str,
    enable_cae: bool,
) -> Request {
    let cp1 = r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#;
    let mut form = vec![("client_id", client_id), ("scope", scope)];
    if enable_cae {
        form.push(("claims", cp1));
    }
    Request::post(endpoint)
        .header("Accept", "application/json")
        .header("x-client-sku", "azsdk-rust-identity")
        .header("x-client-ver", env!("CARGO_PKG_VERSION"))
        .form(form)
}

/// Parses the device-code initiation response.
pub(crate) fn parse_device_code_response(
    response: &Response,
    now: SystemTime,
) -> Result<DeviceCodeStart> {
    let body = match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(body)) => body,
        _ => {
            return Err(Error::authentication(
                "",
                format!(
                    "Couldn't begin authentication: unexpected response from Microsoft Entra ID (HTTP {}): {}",
                    response.status,
                    scrub(&response.text(), 1000)
                ),
            )
            .with_status(response.status));
        }
    };
    if !response.is_success() || body.contains_key("error") {
        let e = entra_error(response.status, &body);
        let description = body
            .get("error_description")
            .and_then(Value::as_str)
            .map_or_else(|| e.message().to_owned(), str::to_owned);
        return Err(Error::authentication(
            "",
            format!("Couldn't begin authentication: {description}"),
        )
        .with_status(response.status)
        .with_oauth_error(e.error_code().map(str::to_owned), e.aadsts_codes().to_vec()));
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(user_code), Some(device_code), Some(verification_uri)) = (
        text("user_code"),
        text("device_code"),
        text("verification_uri").or_else(|| text("verification_url")),
    ) else {
        return Err(Error::authentication(
            "",
            "Couldn't begin authentication: the device-code response lacks user_code, device_code or verification_uri.",
        ));
    };
    let expires_in = body
        .get("expires_in")
        .and_then(flexible_int)
        .unwrap_or(1800)
        .max(0)
        .unsigned_abs();
    let interval = body
        .get("interval")
        .and_then(flexible_int)
        .unwrap_or(5)
        .max(0)
        .unsigned_abs();
    let message = text("message").unwrap_or_else(|| {
        format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate.")
    });
    Ok(DeviceCodeStart {
        info: DeviceCodeInfo {
            verification_uri,
            user_code,
            message,
            expires_on: now + Duration::from_secs(expires_in),
        },
        device_code: Secret::new(device_code),
        interval: Duration::from_secs(interval),
    })
}

/// What one device-code poll said.
#[derive(Debug)]
pub(crate) enum Poll {
    /// Signed in.
    Token(Box<TokenResponse>),
    /// Not yet: wait the interval.
    Pending,
    /// Not yet: wait the interval plus 5 s, from now on.
    SlowDown,
}

/// Classifies a device-code poll response; any error other than pending/slow_down ends the flow.
pub(crate) fn classify_poll(response: &Response, request_time: SystemTime) -> Result<Poll> {
    if !response.is_success()
        && let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&response.body)
    {
        match body.get("error").and_then(Value::as_str) {
            Some("authorization_pending") => return Ok(Poll::Pending),
            Some("slow_down") => return Ok(Poll::SlowDown),
            Some(error) => {
                let e = entra_error(response.status, &body);
                let description = body
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or(error);
                let advice = match error {
                    "expired_token" => {
                        " The device code expired before the user signed in: call get_token again and complete the sign-in sooner."
                    }
                    "authorization_declined" => " The user declined the sign-in.",
                    _ => "",
                };
                return Err(Error::authentication(
                    "",
                    format!("Authentication failed: {description}.{advice}"),
                )
                .with_status(response.status)
                .with_oauth_error(Some(error.to_owned()), e.aadsts_codes().to_vec())
                .with_correlation_id(e.correlation_id().map(str::to_owned)));
            }
            None => {}
        }
    }
    parse_token_response(response, request_time).map(|r| Poll::Token(Box::new(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        B64.encode(s.as_bytes())
    }

    fn jwt(claims: &str) -> String {
        format!("{}.{}.sig", b64(r#"{"alg":"none"}"#), b64(claims))
    }

    #[test]
    fn pkce_verifier_and_challenge() {
        let v = pkce_verifier().unwrap();
        assert_eq!(v.secret().len(), 43);
        assert!(
            v.secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        assert_ne!(v.secret(), pkce_verifier().unwrap().secret());
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_state().unwrap().len(), 22);
        let n = random_nonce().unwrap();
        assert_eq!(n.len(), 64);
        assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn authorize_url_order_and_encoding() {
        let url = authorize_url(&AuthorizeParams {
            endpoint: "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
            client_id: "cid",
            redirect_uri: "http://localhost:8400",
            scope: "https://management.azure.com/.default offline_access openid profile",
            state: "st",
            response_mode: ResponseMode::FormPost,
            code_challenge: "ch",
            nonce: "nn",
            login_hint: Some("a@b.c"),
            prompt: Some("select_account"),
            domain_hint: None,
            claims: None,
        });
        assert_eq!(
            url,
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?client_id=cid&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A8400&scope=https%3A%2F%2Fmanagement.azure.com%2F.default+offline_access+openid+profile&state=st&response_mode=form_post&code_challenge=ch&code_challenge_method=S256&nonce=nn&client_info=1&login_hint=a%40b.c&prompt=select_account&X-AnchorMailbox=UPN%3Aa%40b.c"
        );
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn redirect_validation() {
        assert!(!is_redirect(&pairs(&[("foo", "bar")])));
        assert!(is_redirect(&pairs(&[("error", "x")])));
        let ok = parse_redirect(&pairs(&[("code", "c0de"), ("state", "s")]), "s").unwrap();
        let Redirect::Code { code, client_info } = ok;
        assert_eq!(code.secret(), "c0de");
        assert_eq!(client_info, None);
        let e = parse_redirect(&pairs(&[("code", "c0de"), ("state", "t")]), "s").unwrap_err();
        assert!(e.message().contains("state mismatch"));
        assert!(!e.to_string().contains("c0de"));
        let e = parse_redirect(&pairs(&[("code", "c0de")]), "s").unwrap_err();
        assert!(e.message().contains("state mismatch"));
        let e = parse_redirect(
            &pairs(&[
                ("error", "access_denied"),
                ("error_description", "AADSTS65004: User declined"),
                ("state", "s"),
            ]),
            "s",
        )
        .unwrap_err();
        assert_eq!(e.error_code(), Some("access_denied"));
        assert_eq!(e.aadsts_codes(), &[65004]);
        assert!(e.message().contains("User declined"));
    }

    #[test]
    fn accounts_and_records() {
        let ci = b64(r#"{"uid":"u1","utid":"t1"}"#);
        assert_eq!(home_account_id(Some(&ci), None).as_deref(), Some("u1.t1"));
        assert_eq!(
            anchor_mailbox(Some(&format!("{ci}=="))).as_deref(),
            Some("Oid:u1@t1")
        );
        let claims: Map<String, Value> = serde_json::from_str(r#"{"sub":"s"}"#).unwrap();
        assert_eq!(
            home_account_id(Some("garbage"), Some(&claims)).as_deref(),
            Some("s")
        );
        let body = format!(
            r#"{{"access_token":"at","expires_in":3600,"client_info":"{ci}","id_token":"{}"}}"#,
            jwt(
                r#"{"iss":"https://login.microsoftonline.com/t1/v2.0","aud":"cid","preferred_username":"alice@x","nonce":"n"}"#
            )
        );
        let resp = parse_token_response(&Response::new(200, body), SystemTime::UNIX_EPOCH).unwrap();
        let r = record_from_response(&resp).unwrap();
        assert_eq!(r.authority(), "login.microsoftonline.com");
        assert_eq!(r.client_id(), "cid");
        assert_eq!(r.home_account_id(), "u1.t1");
        assert_eq!(r.tenant_id(), "t1");
        assert_eq!(r.username(), "alice@x");
        assert_eq!(
            id_token_nonce(resp.id_token.as_ref().unwrap()).as_deref(),
            Some("n")
        );
        let body = format!(
            r#"{{"access_token":"at","expires_in":3600,"id_token":"{}"}}"#,
            jwt(r#"{"iss":"https://h/t/v2.0","aud":"cid"}"#)
        );
        let resp = parse_token_response(&Response::new(200, body), SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            record_from_response(&resp).unwrap_err().message(),
            "Failed to build AuthenticationRecord from unexpected identity token"
        );
    }

    #[test]
    fn device_code_messages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let r = Response::new(
            200,
            r#"{"user_code":"ABC","device_code":"dc","verification_uri":"https://microsoft.com/devicelogin","expires_in":"900","interval":"5","message":"To sign in, enter ABC"}"#,
        );
        let s = parse_device_code_response(&r, now).unwrap();
        assert_eq!(s.info.user_code, "ABC");
        assert_eq!(s.interval, Duration::from_secs(5));
        assert_eq!(s.info.expires_on, now + Duration::from_secs(900));
        assert!(!format!("{s:?}").contains("\"dc\""));
        let r = Response::new(
            200,
            r#"{"user_code":"ABC","device_code":"dc","verification_uri":"https://v"}"#,
        );
        let s = parse_device_code_response(&r, now).unwrap();
        assert_eq!(s.interval, Duration::from_secs(5));
        assert_eq!(s.info.expires_on, now + Duration::from_secs(1800));
        assert!(s.info.message.contains("ABC"));
        let r = Response::new(
            400,
            r#"{"error":"invalid_client","error_description":"AADSTS7000218: public client"}"#,
        );
        let e = parse_device_code_response(&r, now).unwrap_err();
        assert_eq!(
            e.message(),
            "Couldn't begin authentication: AADSTS7000218: public client"
        );

        let poll = |status, body: &str| classify_poll(&Response::new(status, body.to_owned()), now);
        assert!(matches!(
            poll(400, r#"{"error":"authorization_pending"}"#).unwrap(),
            Poll::Pending
        ));
        assert!(matches!(
            poll(400, r#"{"error":"slow_down"}"#).unwrap(),
            Poll::SlowDown
        ));
        let e = poll(
            400,
            r#"{"error":"expired_token","error_description":"AADSTS70020: expired"}"#,
        )
        .unwrap_err();
        assert_eq!(e.error_code(), Some("expired_token"));
        assert!(
            e.message()
                .starts_with("Authentication failed: AADSTS70020")
        );
        assert!(matches!(
            poll(200, r#"{"access_token":"at","expires_in":10}"#).unwrap(),
            Poll::Token(_)
        ));
        let req = device_code_request("https://e", "cid", "a openid", true);
        let form: Vec<(String, String)> = form_urlencoded::parse(&req.body).into_owned().collect();
        assert_eq!(form[2].0, "claims");
        assert!(form[2].1.contains("CP1"));
    }
}
