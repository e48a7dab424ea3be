//! User flows over real sockets: /authorize + authorization code with PKCE, refresh tokens,
//! device code, on-behalf-of and the password grant.

mod common;

use common::*;
use identity_emulator::*;
use serde_json::Value;

const REDIRECT: &str = "http://localhost:8400";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).unwrap()
}

fn challenge(verifier: &str) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

fn authorize_url(emu: &Emulator, mode: &str, extra: &[(&str, &str)]) -> String {
    let c = challenge(VERIFIER);
    let mut pairs = vec![
        ("client_id", AZURE_CLI_CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        (
            "scope",
            "https://management.azure.com/user_impersonation offline_access openid profile",
        ),
        ("state", "st4te"),
        ("response_mode", mode),
        ("code_challenge", c.as_str()),
        ("code_challenge_method", "S256"),
        ("nonce", "n0nce"),
        ("client_info", "1"),
    ];
    pairs.extend_from_slice(extra);
    format!(
        "{}/organizations/oauth2/v2.0/authorize?{}",
        emu.authority_host(),
        String::from_utf8(form(&pairs)).unwrap()
    )
}

fn query_params(location: &str) -> Vec<(String, String)> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn get_code(emu: &Emulator) -> String {
    let r = get(&authorize_url(emu, "query", &[]), &[], &ca(emu));
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with("http://localhost:8400?"), "{location}");
    let p = query_params(&location);
    assert_eq!(param(&p, "state"), Some("st4te"));
    param(&p, "code").unwrap().to_owned()
}

fn redeem(emu: &Emulator, code: &str, verifier: &str) -> Response {
    token(
        emu,
        "organizations",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", AZURE_CLI_CLIENT_ID),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            (
                "scope",
                "https://management.azure.com/user_impersonation offline_access openid profile",
            ),
            ("client_info", "1"),
        ],
    )
}

#[test]
fn authorization_code_with_pkce() {
    let emu = start();
    let code = get_code(&emu);
    let r = redeem(&emu, &code, VERIFIER);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"],
        "https://management.azure.com/user_impersonation openid profile offline_access"
    );
    let claims = emu
        .verify_access_token(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.aud(), Some("https://management.azure.com"));
    assert_eq!(claims.oid(), Some(DEFAULT_USER_OBJECT_ID));
    assert_eq!(claims.scp(), Some("user_impersonation"));
    assert_eq!(claims.str("idtyp"), Some("user"));
    assert_eq!(claims.appid(), Some(AZURE_CLI_CLIENT_ID));
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], AZURE_CLI_CLIENT_ID);
    assert_eq!(id["nonce"], "n0nce");
    assert_eq!(id["tid"], DEFAULT_TENANT_ID);
    assert_eq!(id["oid"], DEFAULT_USER_OBJECT_ID);
    assert_eq!(id["preferred_username"], DEFAULT_USERNAME);
    assert_eq!(
        id["iss"],
        format!("{}/{DEFAULT_TENANT_ID}/v2.0", emu.authority_host())
    );
    assert!(id["sub"].is_string());
    let info: Value =
        serde_json::from_slice(&b64url_decode(body["client_info"].as_str().unwrap())).unwrap();
    assert_eq!(info["uid"], DEFAULT_USER_OBJECT_ID);
    assert_eq!(info["utid"], DEFAULT_TENANT_ID);
    assert!(body["refresh_token"].is_string());
    // A code is single-use.
    assert_entra_error(&redeem(&emu, &code, VERIFIER), 400, "invalid_grant", 54005);
}

#[test]
fn pkce_and_redirect_rejections() {
    let emu = start();
    let code = get_code(&emu);
    assert_entra_error(
        &redeem(&emu, &code, "the-wrong-verifier-the-wrong-verifier-xxxxx"),
        400,
        "invalid_grant",
        501481,
    );
    assert_entra_error(&redeem(&emu, &code, ""), 400, "invalid_grant", 501481);
    // The failed attempts did not consume the code.
    assert_eq!(redeem(&emu, &code, VERIFIER).status, 200);
    let code = get_code(&emu);
    let r = token(
        &emu,
        "organizations",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", AZURE_CLI_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", "http://localhost:9999/other"),
            ("code_verifier", VERIFIER),
            ("scope", "openid"),
        ],
    );
    assert_entra_error(&r, 400, "invalid_grant", 500112);
    assert_entra_error(
        &redeem(&emu, "1.not-a-code", VERIFIER),
        400,
        "invalid_grant",
        9002313,
    );
    // Codes expire.
    let code = get_code(&emu);
    emu.set_clock_offset(700);
    assert_entra_error(&redeem(&emu, &code, VERIFIER), 400, "invalid_grant", 70008);
}

#[test]
fn authorize_form_post_and_errors() {
    let emu = start();
    let r = get(&authorize_url(&emu, "form_post", &[]), &[], &ca(&emu));
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let html = r.text();
    assert!(html.contains("action=\"http://localhost:8400\""), "{html}");
    assert!(
        html.contains("name=\"code\"")
            && html.contains("name=\"state\" value=\"st4te\"")
            && html.contains("name=\"client_info\"")
    );
    assert!(html.contains("document.forms[0].submit()"));

    let r = get(
        &authorize_url(&emu, "query", &[]).replace("localhost%3A8400", "evil.example"),
        &[],
        &ca(&emu),
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("AADSTS50011"));

    emu.update_settings(|s| s.user_consents = false);
    let r = get(&authorize_url(&emu, "query", &[]), &[], &ca(&emu));
    assert_eq!(r.status, 302);
    let p = query_params(r.header("location").unwrap());
    assert_eq!(param(&p, "error"), Some("access_denied"));
    assert!(
        param(&p, "error_description")
            .unwrap()
            .starts_with("AADSTS65004")
    );
    assert_eq!(param(&p, "state"), Some("st4te"));
}

#[test]
fn refresh_token_grant() {
    let emu = start();
    let body = redeem(&emu, &get_code(&emu), VERIFIER).json();
    let rt = body["refresh_token"].as_str().unwrap();
    let refresh = |rt: &str| {
        token(
            &emu,
            "organizations",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", AZURE_CLI_CLIENT_ID),
                ("refresh_token", rt),
                (
                    "scope",
                    "https://vault.azure.net/.default offline_access openid",
                ),
                ("client_info", "1"),
            ],
        )
    };
    let r = refresh(rt);
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(
        emu.verify_access_token(b["access_token"].as_str().unwrap())
            .unwrap()
            .aud(),
        Some("https://vault.azure.net")
    );
    assert!(
        b["refresh_token"].is_string() && b["client_info"].is_string() && b["id_token"].is_string()
    );
    assert_entra_error(&refresh("garbage"), 400, "invalid_grant", 9002313);
    // Another client cannot use it.
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("refresh_token", rt),
            ("scope", "openid"),
        ],
    );
    assert_entra_error(&r, 400, "invalid_grant", 70000);
    emu.revoke_refresh_tokens();
    assert_entra_error(&refresh(rt), 400, "invalid_grant", 9002313);
}

fn start_device_code(emu: &Emulator) -> Value {
    let r = post_form(
        &format!(
            "{}/organizations/oauth2/v2.0/devicecode",
            emu.authority_host()
        ),
        &[
            ("client_id", AZURE_CLI_CLIENT_ID),
            (
                "scope",
                "https://graph.microsoft.com/.default openid profile offline_access",
            ),
        ],
        &ca(emu),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn poll(emu: &Emulator, device_code: &str) -> Response {
    token(
        emu,
        "organizations",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", AZURE_CLI_CLIENT_ID),
            ("device_code", device_code),
            ("code", device_code),
            ("client_info", "1"),
        ],
    )
}

fn error_of(r: &Response) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn device_code_pending_slow_down_success() {
    let emu = start();
    emu.update_settings(|s| {
        s.device_code.slow_down_polls = 1;
        s.device_code.pending_polls = 2;
        s.device_code.interval_secs = 1;
    });
    let dc = start_device_code(&emu);
    assert_eq!(dc["interval"], 1);
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(
        dc["verification_uri"],
        format!("{}/devicelogin", emu.authority_host())
    );
    let user_code = dc["user_code"].as_str().unwrap();
    assert!(dc["message"].as_str().unwrap().contains(user_code));
    let code = dc["device_code"].as_str().unwrap();
    assert_entra_error(&poll(&emu, code), 400, "slow_down", 70016);
    assert_entra_error(&poll(&emu, code), 400, "authorization_pending", 70016);
    assert_entra_error(&poll(&emu, code), 400, "authorization_pending", 70016);
    let r = poll(&emu, code);
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert!(
        b["refresh_token"].is_string() && b["id_token"].is_string() && b["client_info"].is_string()
    );
    assert_eq!(
        emu.verify_access_token(b["access_token"].as_str().unwrap())
            .unwrap()
            .oid(),
        Some(DEFAULT_USER_OBJECT_ID)
    );
    assert_eq!(error_of(&poll(&emu, code)), "invalid_grant");
    // The default app is confidential: device code is refused.
    let r = post_form(
        &format!(
            "{}/organizations/oauth2/v2.0/devicecode",
            emu.authority_host()
        ),
        &[("client_id", DEFAULT_CLIENT_ID), ("scope", "openid")],
        &ca(&emu),
    );
    assert_entra_error(&r, 401, "invalid_client", 7000218);
}

#[test]
fn device_code_outcomes() {
    let emu = start();
    emu.update_settings(|s| {
        s.device_code.pending_polls = 0;
        s.device_code.outcome = DeviceCodeOutcome::Expire;
    });
    let dc = start_device_code(&emu);
    assert_entra_error(
        &poll(&emu, dc["device_code"].as_str().unwrap()),
        400,
        "expired_token",
        70020,
    );

    emu.update_settings(|s| s.device_code.outcome = DeviceCodeOutcome::Decline);
    let dc = start_device_code(&emu);
    assert_eq!(
        error_of(&poll(&emu, dc["device_code"].as_str().unwrap())),
        "authorization_declined"
    );

    // Manual: pending until the user enters the code at /devicelogin.
    emu.update_settings(|s| s.device_code.outcome = DeviceCodeOutcome::Manual);
    let dc = start_device_code(&emu);
    let code = dc["device_code"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(error_of(&poll(&emu, code)), "authorization_pending");
    }
    let page = get(
        &format!(
            "{}/devicelogin?user_code={}",
            emu.authority_host(),
            dc["user_code"].as_str().unwrap()
        ),
        &[],
        &ca(&emu),
    );
    assert_eq!(page.status, 200);
    assert_eq!(poll(&emu, code).status, 200);
    assert_eq!(
        get(
            &format!("{}/devicelogin?user_code=NOPE", emu.authority_host()),
            &[],
            &ca(&emu)
        )
        .status,
        400
    );

    // Manual, approved through the API; and a code past its lifetime expires.
    let dc = start_device_code(&emu);
    assert!(emu.approve_device_code(dc["user_code"].as_str().unwrap(), Some(DEFAULT_USERNAME)));
    assert_eq!(poll(&emu, dc["device_code"].as_str().unwrap()).status, 200);
    let dc = start_device_code(&emu);
    emu.set_clock_offset(901);
    assert_entra_error(
        &poll(&emu, dc["device_code"].as_str().unwrap()),
        400,
        "expired_token",
        70020,
    );
    assert_eq!(error_of(&poll(&emu, "bogus")), "bad_verification_code");
}

fn user_token_for_default_app(emu: &Emulator) -> String {
    let r = token(
        emu,
        "organizations",
        &[
            ("grant_type", "password"),
            ("client_id", AZURE_CLI_CLIENT_ID),
            ("username", DEFAULT_USERNAME),
            ("password", DEFAULT_USER_PASSWORD),
            (
                "scope",
                &format!("api://{DEFAULT_CLIENT_ID}/access_as_user openid"),
            ),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_owned()
}

fn obo(emu: &Emulator, assertion: &str) -> Response {
    token(
        emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("assertion", assertion),
            ("requested_token_use", "on_behalf_of"),
            (
                "scope",
                "https://graph.microsoft.com/User.Read offline_access openid profile",
            ),
            ("client_info", "1"),
        ],
    )
}

#[test]
fn on_behalf_of() {
    let emu = start();
    let user_token = user_token_for_default_app(&emu);
    let r = obo(&emu, &user_token);
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    let c = emu
        .verify_access_token(b["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(c.aud(), Some("https://graph.microsoft.com"));
    assert_eq!(c.oid(), Some(DEFAULT_USER_OBJECT_ID));
    assert_eq!(c.appid(), Some(DEFAULT_CLIENT_ID));
    assert_eq!(c.scp(), Some("User.Read"));
    assert!(b["client_info"].is_string());
    // A token for another audience is refused.
    let graph_token = token(
        &emu,
        "organizations",
        &[
            ("grant_type", "password"),
            ("client_id", AZURE_CLI_CLIENT_ID),
            ("username", DEFAULT_USERNAME),
            ("password", DEFAULT_USER_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = assert_entra_error(&obo(&emu, &graph_token), 400, "invalid_grant", 50013);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("audience")
    );
    // App tokens, forged tokens and expired tokens are refused.
    let app_token = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", &format!("api://{DEFAULT_CLIENT_ID}/.default")),
        ],
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_entra_error(&obo(&emu, &app_token), 400, "invalid_grant", 50013);
    let other = start();
    assert_entra_error(
        &obo(&emu, &user_token_for_default_app(&other)),
        400,
        "invalid_grant",
        50013,
    );
    emu.set_clock_offset(4000);
    assert_entra_error(&obo(&emu, &user_token), 400, "invalid_grant", 500133);
    // OBO needs client authentication.
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("assertion", &user_token),
            ("requested_token_use", "on_behalf_of"),
            ("scope", "User.Read"),
        ],
    );
    assert_entra_error(&r, 401, "invalid_client", 7000218);
}

#[test]
fn password_grant_and_user_realm() {
    let emu = start();
    let r = token(
        &emu,
        "organizations",
        &[
            ("grant_type", "password"),
            ("client_id", AZURE_CLI_CLIENT_ID),
            ("username", DEFAULT_USERNAME),
            ("password", "nope"),
            ("scope", "openid"),
        ],
    );
    assert_entra_error(&r, 400, "invalid_grant", 50126);
    let realm = get(
        &format!(
            "{}/common/userrealm/{DEFAULT_USERNAME}?api-version=1.0",
            emu.authority_host()
        ),
        &[],
        &ca(&emu),
    )
    .json();
    assert_eq!(realm["account_type"], "Managed");
    assert_eq!(realm["domain_name"], DEFAULT_TENANT_DOMAIN);
    let realm = get(
        &format!(
            "{}/common/userrealm/bob@nowhere.example?api-version=1.0",
            emu.authority_host()
        ),
        &[],
        &ca(&emu),
    )
    .json();
    assert_eq!(realm["account_type"], "Unknown");
}
