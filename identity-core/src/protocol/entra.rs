//! The Microsoft Entra token endpoint (PROTOCOL.md §4): endpoints, form bodies for each grant,
//! claims and CAE, response parsing and error classification. Pure: no I/O, `now` passed in.

use crate::error::{Error, Result};
use crate::http::{Request, Response};
use crate::protocol::scrub::scrub;
use crate::secret::Secret;
use crate::token::{AccessToken, from_unix_seconds};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime};

/// `client_assertion_type` for JWT client assertions.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The Azure CLI / developer sign-on application, the default client of the user credentials.
pub const DEVELOPER_SIGN_ON_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// Scopes that MSAL adds to every user flow.
pub const RESERVED_SCOPES: [&str; 3] = ["offline_access", "openid", "profile"];

/// The token endpoint: `{authority}/{tenant}/oauth2/v2.0/token` (`{authority}/adfs/oauth2/token`
/// for ADFS).
pub fn token_endpoint(authority: &str, tenant: &str) -> String {
    if tenant.eq_ignore_ascii_case("adfs") {
        format!("{authority}/adfs/oauth2/token")
    } else {
        format!("{authority}/{tenant}/oauth2/v2.0/token")
    }
}

/// The authorize endpoint.
pub fn authorize_endpoint(authority: &str, tenant: &str) -> String {
    if tenant.eq_ignore_ascii_case("adfs") {
        format!("{authority}/adfs/oauth2/authorize")
    } else {
        format!("{authority}/{tenant}/oauth2/v2.0/authorize")
    }
}

/// The device authorization endpoint.
pub fn device_code_endpoint(authority: &str, tenant: &str) -> String {
    if tenant.eq_ignore_ascii_case("adfs") {
        format!("{authority}/adfs/oauth2/devicecode")
    } else {
        format!("{authority}/{tenant}/oauth2/v2.0/devicecode")
    }
}

/// How a confidential client proves itself.
#[derive(Debug, Clone, Copy)]
pub enum ClientAuth<'a> {
    /// A public client: nothing.
    None,
    /// A client secret, sent in the body (never as HTTP Basic).
    Secret(&'a Secret),
    /// A signed JWT (certificate, federated token, callback).
    Assertion(&'a Secret),
}

/// The grant of a token request, with its own fields (PROTOCOL.md §4.3).
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// `client_credentials`.
    ClientCredentials,
    /// `refresh_token`.
    RefreshToken {
        /// The refresh token.
        refresh_token: &'a Secret,
    },
    /// `authorization_code`, with the PKCE verifier when the code was obtained with a challenge.
    AuthorizationCode {
        /// The code.
        code: &'a Secret,
        /// The redirect URI, identical to the one of the authorize request.
        redirect_uri: &'a str,
        /// The PKCE verifier.
        code_verifier: Option<&'a Secret>,
    },
    /// The device-code poll (`device_code` and the legacy `code` field, no scope).
    DeviceCode {
        /// The device code.
        device_code: &'a Secret,
    },
    /// On-behalf-of: exchange a user's token.
    OnBehalfOf {
        /// The incoming user token.
        user_assertion: &'a Secret,
    },
    /// The deprecated resource-owner password grant (no MFA).
    Password {
        /// The user's sign-in name.
        username: &'a str,
        /// The user's password.
        password: &'a Secret,
    },
}

/// Everything a token request needs.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequestParams<'a> {
    /// The token endpoint URL ([`token_endpoint`]).
    pub endpoint: &'a str,
    /// The application (client) id.
    pub client_id: &'a str,
    /// The grant.
    pub grant: Grant<'a>,
    /// Client authentication.
    pub client_auth: ClientAuth<'a>,
    /// The `scope` value ([`join_scopes`] or [`decorate_scopes`]); ignored for the device-code
    /// poll.
    pub scope: &'a str,
    /// The `claims` value ([`merge_cae_claims`]), if any.
    pub claims: Option<&'a str>,
    /// Adds `client_info=1` (user flows, so the response names the account).
    pub client_info: bool,
}

/// Joins scopes in the caller's order, as client-credential requests send them.
pub fn join_scopes(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// The scopes of a user flow: the caller's plus `openid profile offline_access`, sorted and
/// without duplicates. A caller who passes a reserved scope gets an error.
pub fn decorate_scopes(scopes: &[String]) -> Result<String> {
    if let Some(reserved) = scopes
        .iter()
        .find(|s| RESERVED_SCOPES.contains(&s.as_str()))
    {
        return Err(Error::invalid_request(
            "",
            format!(
                "The scope '{reserved}' is reserved and added automatically; request the resource scopes only (for example https://management.azure.com/.default)."
            ),
        ));
    }
    let mut all: Vec<&str> = scopes.iter().map(String::as_str).collect();
    all.extend(RESERVED_SCOPES);
    all.sort_unstable();
    all.dedup();
    Ok(all.join(" "))
}

/// The `claims` value to send (PROTOCOL.md §4.6): without CAE the caller's claims verbatim;
/// with CAE the caller's JSON with `access_token.xms_cc = {"values": ["CP1"]}` merged in.
///
/// ```
/// use identity_core::protocol::entra::merge_cae_claims;
/// assert_eq!(merge_cae_claims(None, true).unwrap().as_deref(),
///            Some(r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#));
/// assert_eq!(merge_cae_claims(Some("{\"x\":1}"), false).unwrap().as_deref(), Some("{\"x\":1}"));
/// ```
pub fn merge_cae_claims(claims: Option<&str>, enable_cae: bool) -> Result<Option<String>> {
    let claims = claims.filter(|c| !c.is_empty());
    if !enable_cae {
        return Ok(claims.map(str::to_owned));
    }
    let mut doc = match claims {
        None => Map::new(),
        Some(c) => match serde_json::from_str::<Value>(c) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(Error::invalid_request(
                    "",
                    "The claims challenge is not a JSON object; pass the decoded `claims` value of the WWW-Authenticate header.",
                ));
            }
        },
    };
    let access_token = doc
        .entry("access_token")
        .or_insert_with(|| Value::Object(Map::new()));
    if !access_token.is_object() {
        *access_token = Value::Object(Map::new());
    }
    if let Value::Object(at) = access_token {
        at.insert(
            "xms_cc".to_owned(),
            serde_json::json!({ "values": ["CP1"] }),
        );
    }
    Ok(Some(Value::Object(doc).to_string()))
}

/// Builds the token POST (PROTOCOL.md §4.2–4.3).
pub fn token_request(params: &TokenRequestParams<'_>) -> Request {
    let mut form: Vec<(&str, &str)> = vec![("client_id", params.client_id)];
    match params.grant {
        Grant::ClientCredentials => form.push(("grant_type", "client_credentials")),
        Grant::RefreshToken { refresh_token } => {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", refresh_token.secret()));
        }
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            form.push(("grant_type", "authorization_code"));
            form.push(("code", code.secret()));
            form.push(("redirect_uri", redirect_uri));
            if let Some(v) = code_verifier {
                form.push(("code_verifier", v.secret()));
            }
        }
        Grant::DeviceCode { device_code } => {
            form.push(("grant_type", "urn:ietf:params:oauth:grant-type:device_code"));
            form.push(("device_code", device_code.secret()));
            form.push(("code", device_code.secret()));
        }
        Grant::OnBehalfOf { user_assertion } => {
            form.push(("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"));
            form.push(("assertion", user_assertion.secret()));
            form.push(("requested_token_use", "on_behalf_of"));
        }
        Grant::Password { username, password } => {
            form.push(("grant_type", "password"));
            form.push(("username", username));
            form.push(("password", password.secret()));
        }
    }
    match params.client_auth {
        ClientAuth::None => {}
        ClientAuth::Secret(secret) => form.push(("client_secret", secret.secret())),
        ClientAuth::Assertion(assertion) => {
            form.push(("client_assertion", assertion.secret()));
            form.push(("client_assertion_type", JWT_BEARER_ASSERTION_TYPE));
        }
    }
    if !matches!(params.grant, Grant::DeviceCode { .. }) {
        form.push(("scope", params.scope));
    }
    if params.client_info {
        form.push(("client_info", "1"));
    }
    if let Some(claims) = params.claims {
        form.push(("claims", claims));
    }
    Request::post(params.endpoint)
        .header("Accept", "application/json")
        .header("x-client-sku", "azsdk-rust-identity")
        .header("x-client-ver", env!("CARGO_PKG_VERSION"))
        .header("x-client-os", std::env::consts::OS)
        .header("x-ms-lib-capability", "retry-after, h429")
        .form(form)
}

/// A successful token response.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token, with `expires_on` and `refresh_on` resolved.
    pub token: AccessToken,
    /// The refresh token (user flows, OBO).
    pub refresh_token: Option<Secret>,
    /// The id token (user flows).
    pub id_token: Option<Secret>,
    /// `client_info`: base64url JSON with `uid` and `utid`.
    pub client_info: Option<String>,
    /// The granted scopes, as the service wrote them.
    pub scope: Option<String>,
    /// `foci` (family of client ids), when the refresh token is a family token.
    pub foci: Option<String>,
}

/// Reads an integer that may be written as a JSON number or a numeric string.
pub fn flexible_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

/// The proactive refresh time: `refresh_in` when given, else half the lifetime for tokens of
/// two hours or more (PROTOCOL.md §4.4, synthesised uniformly).
pub fn refresh_on(
    request_time: SystemTime,
    expires_on: SystemTime,
    refresh_in: Option<i64>,
) -> Option<SystemTime> {
    match refresh_in {
        // `checked_add`: a refresh_in past the end of time (it used to panic) means no early
        // refresh.
        Some(r) if r > 0 => request_time.checked_add(Duration::from_secs(r.unsigned_abs())),
        _ => {
            let lifetime = expires_on.duration_since(request_time).ok()?.as_secs();
            (lifetime >= 7200).then(|| request_time + Duration::from_secs(lifetime / 2))
        }
    }
}

const MAX_QUOTED: usize = 1000;

/// Parses a token-endpoint response. `request_time` is when the request was sent. Non-2xx
/// responses become an authentication error carrying the status, the OAuth error and the
/// `AADSTS` codes.
pub fn parse_token_response(
    response: &Response,
    request_time: SystemTime,
) -> Result<TokenResponse> {
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::authentication(
            "",
            format!(
                "No response content from Microsoft Entra ID (HTTP {}).",
                response.status
            ),
        )
        .with_status(response.status));
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&response.body) else {
        return Err(unexpected(response));
    };
    if !response.is_success() || body.contains_key("error") {
        return Err(entra_error(response.status, &body));
    }
    let access_token = match body.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err(unexpected(response)),
    };
    let expires_on = match body.get("expires_on").and_then(flexible_int) {
        Some(on) => from_unix_seconds(on),
        None => match body.get("expires_in").and_then(flexible_int) {
            // An expires_in past the end of time used to panic: it is an unexpected response.
            Some(secs) => {
                match request_time.checked_add(Duration::from_secs(secs.max(0).unsigned_abs())) {
                    Some(on) => on,
                    None => return Err(unexpected(response)),
                }
            }
            None => return Err(unexpected(response)),
        },
    };
    let refresh = refresh_on(
        request_time,
        expires_on,
        body.get("refresh_in").and_then(flexible_int),
    );
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let token = AccessToken::new(access_token, expires_on)
        .with_refresh_on(refresh)
        .with_token_type(text("token_type").unwrap_or_else(|| "Bearer".to_owned()));
    Ok(TokenResponse {
        token,
        refresh_token: text("refresh_token").map(Secret::new),
        id_token: text("id_token").map(Secret::new),
        client_info: text("client_info"),
        scope: text("scope"),
        foci: text("foci"),
    })
}

fn unexpected(response: &Response) -> Error {
    let content_type = response.content_type().unwrap_or("none");
    Error::authentication(
        "",
        format!(
            "Unexpected response from Microsoft Entra ID (HTTP {}, Content-Type {content_type}): {}",
            response.status,
            scrub(&response.text(), MAX_QUOTED)
        ),
    )
    .with_status(response.status)
}

/// The `AADSTS` numbers of an error body: `error_codes`, else those in `error_description`.
fn aadsts_codes(body: &Map<String, Value>, description: &str) -> Vec<u32> {
    let from_list: Vec<u32> = body
        .get("error_codes")
        .and_then(Value::as_array)
        .map(|codes| {
            codes
                .iter()
                .filter_map(|c| c.as_u64().and_then(|c| u32::try_from(c).ok()))
                .collect()
        })
        .unwrap_or_default();
    if !from_list.is_empty() {
        return from_list;
    }
    description
        .match_indices("AADSTS")
        .filter_map(|(i, _)| {
            let digits: String = description[i + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// What to do about common `AADSTS` errors.
fn advice(code: u32) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "Check the client secret: use the secret's value (not its ID), and that it belongs to this application."
        }
        7000222 => "The client secret has expired: create a new one for the application.",
        700016 => {
            "Check the client (application) id, e.g. AZURE_CLIENT_ID, and that the application exists in this tenant."
        }
        90002 => {
            "Check the tenant id, e.g. AZURE_TENANT_ID, and the authority host, e.g. AZURE_AUTHORITY_HOST."
        }
        70021 => {
            "No federated identity credential of the application matches the presented token: check its issuer, subject and audience."
        }
        700024 | 700027 => {
            "The client assertion is outside its validity period: check the system clock."
        }
        7000274 | 7000273 => {
            "Check that the certificate registered on the application is the one this credential signs with."
        }
        50126 => "The user name or password is wrong.",
        _ => return None,
    })
}

/// Builds the error of a Microsoft Entra error body (PROTOCOL.md §4.5).
pub fn entra_error(status: u16, body: &Map<String, Value>) -> Error {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let error = text("error");
    let description = text("error_description").unwrap_or_default();
    let codes = aadsts_codes(body, &description);
    let mut message = match &error {
        Some(e) if !description.is_empty() => {
            format!("Microsoft Entra ID error '({e}) {description}'")
        }
        Some(e) => format!("Microsoft Entra ID error '{e}'"),
        None => format!(
            "Microsoft Entra ID error: {}",
            scrub(&Value::Object(body.clone()).to_string(), MAX_QUOTED)
        ),
    };
    if let Some(hint) = codes.iter().find_map(|c| advice(*c)) {
        message.push_str(". ");
        message.push_str(hint);
    }
    Error::authentication("", message)
        .with_status(status)
        .with_oauth_error(error, codes)
        .with_correlation_id(text("correlation_id"))
}

/// The `tracing` span of one token acquisition: the credential, the scopes and the tenant;
/// never a token or a secret.
pub fn token_span(credential: &str, scopes: &[String], tenant: Option<&str>) -> tracing::Span {
    tracing::info_span!(
        "get_token",
        credential,
        scopes = %scopes.join(" "),
        tenant = tenant.unwrap_or("")
    )
}

/// Decodes a JWT's payload without verifying it, for logging `appid`, `tid`, `oid`, `upn` and
/// for showing claims. Never use the result to make a security decision.
pub fn decode_jwt_claims_unverified(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::token::unix_seconds;

    const T0: u64 = 1_700_000_000;

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0)
    }

    fn ok(body: &str) -> Result<TokenResponse> {
        parse_token_response(&Response::new(200, body), t0())
    }

    fn form(r: &Request) -> Vec<(String, String)> {
        form_urlencoded::parse(&r.body).into_owned().collect()
    }

    #[test]
    fn endpoints() {
        let a = "https://login.microsoftonline.com";
        assert_eq!(
            token_endpoint(a, "t"),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
        assert_eq!(
            token_endpoint(a, "ADFS"),
            "https://login.microsoftonline.com/adfs/oauth2/token"
        );
        assert_eq!(
            authorize_endpoint(a, "organizations"),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
        );
        assert_eq!(
            device_code_endpoint(a, "t"),
            "https://login.microsoftonline.com/t/oauth2/v2.0/devicecode"
        );
    }

    #[test]
    fn v2_response_with_integer_expires_in() {
        let r = ok(r#"{"token_type":"Bearer","scope":"https://vault.azure.net/.default","expires_in":3599,"ext_expires_in":3599,"access_token":"at"}"#).unwrap();
        assert_eq!(r.token.token().secret(), "at");
        assert_eq!(unix_seconds(r.token.expires_on()), (T0 + 3599) as i64);
        assert_eq!(r.token.refresh_on(), None);
        assert_eq!(r.token.token_type(), "Bearer");
        assert_eq!(r.scope.as_deref(), Some("https://vault.azure.net/.default"));
    }

    #[test]
    fn string_numbers_and_expires_on_wins() {
        let r = ok(r#"{"access_token":"at","expires_in":"3600"}"#).unwrap();
        assert_eq!(unix_seconds(r.token.expires_on()), (T0 + 3600) as i64);
        let r = ok(r#"{"access_token":"at","expires_in":"10","expires_on":"1700009999"}"#).unwrap();
        assert_eq!(unix_seconds(r.token.expires_on()), 1_700_009_999);
        let r = ok(r#"{"access_token":"at","expires_in":10,"expires_on":1700009998}"#).unwrap();
        assert_eq!(unix_seconds(r.token.expires_on()), 1_700_009_998);
    }

    #[test]
    fn refresh_in_and_half_life() {
        let r = ok(r#"{"access_token":"at","expires_in":3600,"refresh_in":"1800"}"#).unwrap();
        assert_eq!(
            unix_seconds(r.token.refresh_on().unwrap()),
            (T0 + 1800) as i64
        );
        let r = ok(r#"{"access_token":"at","expires_in":86399}"#).unwrap();
        assert_eq!(
            unix_seconds(r.token.refresh_on().unwrap()),
            (T0 + 43199) as i64
        );
        let r = ok(r#"{"access_token":"at","expires_in":7200}"#).unwrap();
        assert_eq!(
            unix_seconds(r.token.refresh_on().unwrap()),
            (T0 + 3600) as i64
        );
        let r = ok(r#"{"access_token":"at","expires_in":7199}"#).unwrap();
        assert_eq!(r.token.refresh_on(), None);
    }

    #[test]
    fn user_flow_fields() {
        let r = ok(r#"{"access_token":"at","expires_in":3600,"refresh_token":"rt","id_token":"it","client_info":"eyJ1aWQiOiJ1In0","foci":"1","token_type":"pop"}"#).unwrap();
        assert_eq!(r.refresh_token.unwrap().secret(), "rt");
        assert_eq!(r.id_token.unwrap().secret(), "it");
        assert_eq!(r.client_info.as_deref(), Some("eyJ1aWQiOiJ1In0"));
        assert_eq!(r.foci.as_deref(), Some("1"));
        assert_eq!(r.token.token_type(), "pop");
    }

    #[test]
    fn missing_expiry_is_unexpected_and_scrubbed() {
        let e = ok(r#"{"access_token":"s3cr3t-token"}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(
            e.message()
                .starts_with("Unexpected response from Microsoft Entra ID")
        );
        assert!(!e.to_string().contains("s3cr3t-token"));
        assert!(e.message().contains("\"access_token\":\"****\""));
    }

    #[test]
    fn empty_and_non_json_bodies() {
        let e = parse_token_response(&Response::new(200, ""), t0()).unwrap_err();
        assert!(
            e.message()
                .starts_with("No response content from Microsoft Entra ID")
        );
        let e = parse_token_response(
            &Response::new(502, "<html>Bad gateway</html>")
                .with_header("Content-Type", "text/html"),
            t0(),
        )
        .unwrap_err();
        assert_eq!(e.status(), Some(502));
        assert!(e.message().contains("Content-Type text/html"));
        assert!(e.message().contains("Bad gateway"));
        let e = parse_token_response(&Response::new(200, "[1,2]"), t0()).unwrap_err();
        assert!(e.message().starts_with("Unexpected response"));
    }

    #[test]
    fn entra_errors_carry_status_codes_and_advice() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-0000-0000-0000-000000000001'.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2025-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2025-01-01 00:00:00Z","trace_id":"1","correlation_id":"2","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#;
        let e = parse_token_response(&Response::new(401, body), t0()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.status(), Some(401));
        assert_eq!(e.error_code(), Some("invalid_client"));
        assert_eq!(e.aadsts_codes(), [7000215]);
        assert_eq!(e.correlation_id(), Some("2"));
        assert!(e.message().starts_with(
            "Microsoft Entra ID error '(invalid_client) AADSTS7000215: Invalid client secret"
        ));
        assert!(e.message().contains("use the secret's value"));
        // Codes from the description when error_codes is absent.
        let e = parse_token_response(
            &Response::new(400, r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#),
            t0(),
        )
        .unwrap_err();
        assert_eq!(e.aadsts_codes(), [90002]);
        assert!(e.message().contains("AZURE_TENANT_ID"));
        // An error member in a 200 is still an error; no description.
        let e = parse_token_response(
            &Response::new(200, r#"{"error":"temporarily_unavailable"}"#),
            t0(),
        )
        .unwrap_err();
        assert_eq!(
            e.message(),
            "Microsoft Entra ID error 'temporarily_unavailable'"
        );
        // 5xx with a JSON body that is not an OAuth error.
        let e =
            parse_token_response(&Response::new(503, r#"{"message":"busy"}"#), t0()).unwrap_err();
        assert_eq!(e.status(), Some(503));
        assert!(e.message().contains("busy"));
    }

    #[test]
    fn client_secret_form() {
        let secret = Secret::new("p@ss&word");
        let scopes = vec!["b".to_owned(), "a".to_owned(), "a".to_owned()];
        let scope = join_scopes(&scopes);
        let r = token_request(&TokenRequestParams {
            endpoint: "https://h/t/oauth2/v2.0/token",
            client_id: "cid",
            grant: Grant::ClientCredentials,
            client_auth: ClientAuth::Secret(&secret),
            scope: &scope,
            claims: None,
            client_info: false,
        });
        assert_eq!(r.url, "https://h/t/oauth2/v2.0/token");
        assert_eq!(r.headers.get("accept"), Some("application/json"));
        assert!(r.headers.get("x-client-sku").is_some());
        assert_eq!(
            form(&r),
            [
                ("client_id", "cid"),
                ("grant_type", "client_credentials"),
                ("client_secret", "p@ss&word"),
                ("scope", "b a a"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn password_grant_form() {
        let password = Secret::new("planted-password");
        let r = token_request(&TokenRequestParams {
            endpoint: "https://h/organizations/oauth2/v2.0/token",
            client_id: "cid",
            grant: Grant::Password {
                username: "alice@contoso.com",
                password: &password,
            },
            client_auth: ClientAuth::None,
            scope: "s offline_access openid profile",
            claims: None,
            client_info: true,
        });
        let f = form(&r);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("grant_type"), Some("password"));
        assert_eq!(get("username"), Some("alice@contoso.com"));
        assert_eq!(get("password"), Some("planted-password"));
        assert_eq!(get("client_info"), Some("1"));
        assert_eq!(get("client_secret"), None);
        assert!(!format!("{r:?}").contains("planted-password"));
    }

    #[test]
    fn assertion_obo_refresh_code_and_device_forms() {
        let assertion = Secret::new("jwt");
        let r = token_request(&TokenRequestParams {
            endpoint: "https://h/t/oauth2/v2.0/token",
            client_id: "cid",
            grant: Grant::OnBehalfOf {
                user_assertion: &Secret::new("user-jwt"),
            },
            client_auth: ClientAuth::Assertion(&assertion),
            scope: "s",
            claims: Some("{}"),
            client_info: true,
        });
        let f = form(&r);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("grant_type"),
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        );
        assert_eq!(get("assertion"), Some("user-jwt"));
        assert_eq!(get("requested_token_use"), Some("on_behalf_of"));
        assert_eq!(get("client_assertion"), Some("jwt"));
        assert_eq!(
            get("client_assertion_type"),
            Some(JWT_BEARER_ASSERTION_TYPE)
        );
        assert_eq!(get("client_info"), Some("1"));
        assert_eq!(get("claims"), Some("{}"));

        let device = Secret::new("dc");
        let r = token_request(&TokenRequestParams {
            endpoint: "e",
            client_id: "cid",
            grant: Grant::DeviceCode {
                device_code: &device,
            },
            client_auth: ClientAuth::None,
            scope: "ignored",
            claims: None,
            client_info: true,
        });
        let f = form(&r);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("device_code"), Some("dc"));
        assert_eq!(get("code"), Some("dc"));
        assert_eq!(get("scope"), None);

        let code = Secret::new("c0de");
        let verifier = Secret::new("v");
        let r = token_request(&TokenRequestParams {
            endpoint: "e",
            client_id: "cid",
            grant: Grant::AuthorizationCode {
                code: &code,
                redirect_uri: "http://localhost:8400",
                code_verifier: Some(&verifier),
            },
            client_auth: ClientAuth::None,
            scope: "openid",
            claims: None,
            client_info: true,
        });
        let f = form(&r);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("redirect_uri"), Some("http://localhost:8400"));
        assert_eq!(get("code_verifier"), Some("v"));

        let rt = Secret::new("rt");
        let r = token_request(&TokenRequestParams {
            endpoint: "e",
            client_id: "cid",
            grant: Grant::RefreshToken { refresh_token: &rt },
            client_auth: ClientAuth::None,
            scope: "s",
            claims: None,
            client_info: true,
        });
        assert!(form(&r).contains(&("refresh_token".to_owned(), "rt".to_owned())));
    }

    #[test]
    fn scope_decoration() {
        let s = decorate_scopes(&[
            "https://b/.default".to_owned(),
            "https://a/.default".to_owned(),
        ])
        .unwrap();
        assert_eq!(
            s,
            "https://a/.default https://b/.default offline_access openid profile"
        );
        assert!(decorate_scopes(&["openid".to_owned()]).is_err());
    }

    #[test]
    fn cae_claims_merging() {
        assert_eq!(merge_cae_claims(None, false).unwrap(), None);
        assert_eq!(merge_cae_claims(Some(""), false).unwrap(), None);
        assert_eq!(
            merge_cae_claims(None, true).unwrap().unwrap(),
            r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#
        );
        let merged = merge_cae_claims(
            Some(r#"{"access_token":{"nbf":{"essential":true,"value":"1"},"xms_cc":{"values":["old"]}}}"#),
            true,
        )
        .unwrap()
        .unwrap();
        let v: Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(v["access_token"]["nbf"]["value"], "1");
        assert_eq!(v["access_token"]["xms_cc"]["values"][0], "CP1");
        let merged = merge_cae_claims(Some(r#"{"id_token":{"x":1}}"#), true)
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(v["id_token"]["x"], 1);
        assert_eq!(v["access_token"]["xms_cc"]["values"][0], "CP1");
        assert!(merge_cae_claims(Some("not json"), true).is_err());
        // Without CAE, any text goes through verbatim.
        assert_eq!(
            merge_cae_claims(Some("not json"), false)
                .unwrap()
                .as_deref(),
            Some("not json")
        );
    }

    #[test]
    fn jwt_claims() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"tid":"t","oid":"o"}"#);
        let claims = decode_jwt_claims_unverified(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims["tid"], "t");
        assert!(decode_jwt_claims_unverified("garbage").is_none());
    }
}
