//! Entra endpoints over real sockets: discovery, client credentials (secret, certificate,
//! federated), and every rejection.

mod common;

use common::*;
use identity_emulator::*;
use serde_json::{Value, json};
use std::time::Duration;

const VAULT: &str = "https://vault.azure.net/.default";

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).unwrap()
}

fn secret_request(emu: &Emulator, secret: &str) -> Response {
    token(
        emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", secret),
            ("scope", VAULT),
        ],
    )
}

fn assertion_request(emu: &Emulator, assertion: &str) -> Response {
    token(
        emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_assertion", assertion),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("scope", VAULT),
        ],
    )
}

fn default_assertion(emu: &Emulator, alg: Alg, thumb: Thumb, claims: &Value) -> String {
    let _ = emu;
    assertion(
        alg,
        DEFAULT_APP_PRIVATE_KEY_PEM,
        DEFAULT_APP_CERTIFICATE_PEM,
        thumb,
        claims,
        false,
    )
}

fn good_claims(emu: &Emulator) -> Value {
    let n = now();
    assertion_claims(
        DEFAULT_CLIENT_ID,
        &emu.token_endpoint(DEFAULT_TENANT_ID),
        n,
        n + 600,
    )
}

#[test]
fn openid_configuration_instance_discovery_and_keys() {
    let emu = start();
    let trust = ca(&emu);
    for tenant in [DEFAULT_TENANT_ID, DEFAULT_TENANT_DOMAIN, "organizations"] {
        let r = get(
            &format!(
                "{}/{tenant}/v2.0/.well-known/openid-configuration",
                emu.authority_host()
            ),
            &[],
            &trust,
        );
        assert_eq!(r.status, 200);
        let doc = r.json();
        assert_eq!(doc["token_endpoint"], emu.token_endpoint(tenant));
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{}/{tenant}/oauth2/v2.0/authorize", emu.authority_host())
        );
        assert_eq!(
            doc["device_authorization_endpoint"],
            format!("{}/{tenant}/oauth2/v2.0/devicecode", emu.authority_host())
        );
        assert!(doc["issuer"].as_str().unwrap().ends_with("/v2.0"));
    }
    let r = get(
        &format!(
            "{}/{DEFAULT_TENANT_ID}/.well-known/openid-configuration",
            emu.authority_host()
        ),
        &[],
        &trust,
    );
    assert_eq!(
        r.json()["token_endpoint"],
        format!("{}/{DEFAULT_TENANT_ID}/oauth2/token", emu.authority_host())
    );
    let r = get(
        &format!(
            "{}/no-such-tenant/v2.0/.well-known/openid-configuration",
            emu.authority_host()
        ),
        &[],
        &trust,
    );
    assert_entra_error(&r, 400, "invalid_tenant", 90002);

    let authorize = format!(
        "{}/{DEFAULT_TENANT_ID}/oauth2/v2.0/authorize",
        emu.authority_host()
    );
    let url = format!(
        "{}/common/discovery/instance?api-version=1.1&authorization_endpoint={}",
        emu.authority_host(),
        urlenc(&authorize)
    );
    let r = get(&url, &[], &trust);
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!(
            "{}/{DEFAULT_TENANT_ID}/v2.0/.well-known/openid-configuration",
            emu.authority_host()
        )
    );
    assert_eq!(
        body["metadata"][0]["aliases"][0],
        format!("127.0.0.1:{}", emu.https_port())
    );
    let url = format!(
        "{}/common/discovery/instance?api-version=1.1&authorization_endpoint={}",
        emu.authority_host(),
        urlenc("https://login.example.com/common/oauth2/authorize")
    );
    assert_entra_error(&get(&url, &[], &trust), 400, "invalid_instance", 50049);

    let keys = get(
        &format!(
            "{}/{DEFAULT_TENANT_ID}/discovery/v2.0/keys",
            emu.authority_host()
        ),
        &[],
        &trust,
    )
    .json();
    assert_eq!(keys["keys"][0]["kty"], "EC");
    assert_eq!(keys["keys"][0]["crv"], "P-256");
}

fn urlenc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn client_secret_issues_a_verifiable_v2_token() {
    let emu = start();
    let r = secret_request(&emu, DEFAULT_CLIENT_SECRET);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body.get("refresh_in").is_none());
    assert!(body.get("refresh_token").is_none());
    let at = body["access_token"].as_str().unwrap();
    let claims = emu.verify_access_token(at).unwrap();
    assert_eq!(claims.aud(), Some("https://vault.azure.net"));
    assert_eq!(claims.tid(), Some(DEFAULT_TENANT_ID));
    assert_eq!(claims.appid(), Some(DEFAULT_CLIENT_ID));
    assert_eq!(claims.str("azp"), Some(DEFAULT_CLIENT_ID));
    assert_eq!(claims.oid(), Some(DEFAULT_APP_OBJECT_ID));
    assert_eq!(claims.str("idtyp"), Some("app"));
    assert_eq!(claims.exp().unwrap() - claims.iat().unwrap(), 3599);
    assert!(claims.get("nbf").is_some());
    // The domain name works in place of the tenant id, and the trailing-slash resource is kept.
    let r = token(
        &emu,
        DEFAULT_TENANT_DOMAIN,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", "https://management.core.windows.net//.default"),
        ],
    );
    let at = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        emu.verify_access_token(&at).unwrap().aud(),
        Some("https://management.core.windows.net/")
    );
    // A tampered token does not verify.
    let mut bad = at.clone();
    bad.truncate(bad.len() - 4);
    bad.push_str("AAAA");
    assert!(emu.verify_access_token(&bad).is_err());
}

#[test]
fn short_lifetimes_and_refresh_in() {
    let emu = start();
    emu.set_token_lifetime(Duration::from_secs(60));
    emu.set_refresh_in(Some(Duration::from_secs(30)));
    let body = secret_request(&emu, DEFAULT_CLIENT_SECRET).json();
    assert_eq!(body["expires_in"], 60);
    assert_eq!(body["refresh_in"], 30);
    let claims = emu
        .verify_access_token(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.exp().unwrap() - claims.iat().unwrap(), 60);
    // A token whose lifetime has passed no longer verifies.
    emu.set_clock_offset(120);
    assert!(
        emu.verify_access_token(body["access_token"].as_str().unwrap())
            .is_err()
    );
}

#[test]
fn secret_rejections() {
    let emu = start();
    let r = request(
        "POST",
        &emu.token_endpoint(DEFAULT_TENANT_ID),
        &[("client-request-id", "corr-123")],
        Some((
            "application/x-www-form-urlencoded",
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", "wrong"),
                ("scope", VAULT),
            ]),
        )),
        &ca(&emu),
    );
    let body = assert_entra_error(&r, 401, "invalid_client", 7000215);
    assert_eq!(body["correlation_id"], "corr-123");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Trace ID:")
    );

    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-0000-0000-0000-000000000000"),
            ("client_secret", "x"),
            ("scope", VAULT),
        ],
    );
    assert_entra_error(&r, 400, "unauthorized_client", 700016);
    let r = token(
        &emu,
        "11111111-1111-1111-1111-111111111111",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", VAULT),
        ],
    );
    assert_entra_error(&r, 400, "invalid_request", 90002);
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", VAULT),
        ],
    );
    assert_entra_error(&r, 400, "invalid_request", 900144);
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("scope", VAULT),
        ],
    );
    assert_entra_error(&r, 401, "invalid_client", 7000218);
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[("grant_type", "magic"), ("client_id", DEFAULT_CLIENT_ID)],
    );
    assert_entra_error(&r, 400, "unsupported_grant_type", 70003);
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", "https://vault.azure.net/secrets.read"),
        ],
    );
    assert_entra_error(&r, 400, "invalid_scope", 1002012);
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", "https://a/.default https://b/.default"),
        ],
    );
    assert_entra_error(&r, 400, "invalid_scope", 28000);
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    );
    assert_entra_error(&r, 400, "invalid_request", 900144);
    let r = get(&emu.token_endpoint(DEFAULT_TENANT_ID), &[], &ca(&emu));
    assert_entra_error(&r, 400, "invalid_request", 900561);
}

#[test]
fn certificate_assertions_rs256_and_ps256() {
    let emu = start();
    // MSAL's sync shape: RS256, padded x5t, float times.
    let n = now() as f64 + 0.25;
    let claims = json!({"aud": emu.token_endpoint(DEFAULT_TENANT_ID), "iss": DEFAULT_CLIENT_ID, "sub": DEFAULT_CLIENT_ID, "jti": uuid_like(), "iat": n, "exp": n + 600.0});
    let r = assertion_request(
        &emu,
        &default_assertion(&emu, Alg::Rs256, Thumb::Sha1Padded, &claims),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let claims = emu
        .verify_access_token(r.json()["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.str("appidacr"), Some("2"));
    // The async shape: PS256, x5t#S256, padded segments.
    let a = assertion(
        Alg::Ps256,
        DEFAULT_APP_PRIVATE_KEY_PEM,
        DEFAULT_APP_CERTIFICATE_PEM,
        Thumb::Sha256,
        &good_claims(&emu),
        true,
    );
    let r = assertion_request(&emu, &a);
    assert_eq!(r.status, 200, "{}", r.text());
    // The same assertion may be presented again (MSAL reuses it), unless replay rejection is on.
    assert_eq!(assertion_request(&emu, &a).status, 200);
    emu.update_settings(|s| s.reject_assertion_replay = true);
    let a = default_assertion(&emu, Alg::Ps256, Thumb::Sha256, &good_claims(&emu));
    assert_eq!(assertion_request(&emu, &a).status, 200);
    assert_entra_error(&assertion_request(&emu, &a), 401, "invalid_client", 700025);
}

#[test]
fn assertion_rejections() {
    let emu = start();
    // Wrong key: the registered certificate's thumbprint, signed with another key.
    let a = assertion(
        Alg::Rs256,
        OTHER_KEY_PEM,
        DEFAULT_APP_CERTIFICATE_PEM,
        Thumb::Sha1Padded,
        &good_claims(&emu),
        false,
    );
    let body = assert_entra_error(&assertion_request(&emu, &a), 401, "invalid_client", 700027);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("did not match the expected signature")
    );
    // Wrong thumbprint: a certificate that is not registered.
    let a = assertion(
        Alg::Ps256,
        OTHER_KEY_PEM,
        OTHER_CERT_PEM,
        Thumb::Sha256,
        &good_claims(&emu),
        false,
    );
    let body = assert_entra_error(&assertion_request(&emu, &a), 401, "invalid_client", 700027);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("The key was not found")
    );
    // Expired and not yet valid.
    let n = now();
    let expired = assertion_claims(
        DEFAULT_CLIENT_ID,
        &emu.token_endpoint(DEFAULT_TENANT_ID),
        n - 1200,
        n - 600,
    );
    assert_entra_error(
        &assertion_request(
            &emu,
            &default_assertion(&emu, Alg::Rs256, Thumb::Sha1Padded, &expired),
        ),
        401,
        "invalid_client",
        700024,
    );
    let future = assertion_claims(
        DEFAULT_CLIENT_ID,
        &emu.token_endpoint(DEFAULT_TENANT_ID),
        n + 600,
        n + 1200,
    );
    assert_entra_error(
        &assertion_request(
            &emu,
            &default_assertion(&emu, Alg::Rs256, Thumb::Sha1Padded, &future),
        ),
        401,
        "invalid_client",
        700024,
    );
    // Within the skew is fine.
    let skewed = assertion_claims(
        DEFAULT_CLIENT_ID,
        &emu.token_endpoint(DEFAULT_TENANT_ID),
        n + 30,
        n + 600,
    );
    assert_eq!(
        assertion_request(
            &emu,
            &default_assertion(&emu, Alg::Rs256, Thumb::Sha1Padded, &skewed)
        )
        .status,
        200
    );
    // Wrong audience.
    let wrong_aud = assertion_claims(
        DEFAULT_CLIENT_ID,
        "https://login.microsoftonline.com/x/oauth2/v2.0/token",
        n,
        n + 600,
    );
    assert_entra_error(
        &assertion_request(
            &emu,
            &default_assertion(&emu, Alg::Ps256, Thumb::Sha256, &wrong_aud),
        ),
        401,
        "invalid_client",
        700023,
    );
    // iss/sub not the client id.
    let mut wrong_iss = good_claims(&emu);
    wrong_iss["iss"] = json!("someone-else");
    wrong_iss["sub"] = json!("someone-else");
    assert_entra_error(
        &assertion_request(
            &emu,
            &default_assertion(&emu, Alg::Ps256, Thumb::Sha256, &wrong_iss),
        ),
        401,
        "invalid_client",
        700021,
    );
    // No jti.
    let mut no_jti = good_claims(&emu);
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_entra_error(
        &assertion_request(
            &emu,
            &default_assertion(&emu, Alg::Ps256, Thumb::Sha256, &no_jti),
        ),
        401,
        "invalid_client",
        700020,
    );
    // Garbage and a missing assertion type.
    assert_entra_error(
        &assertion_request(&emu, "not-a-jwt"),
        401,
        "invalid_client",
        50027,
    );
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_assertion", "x.y.z"),
            ("scope", VAULT),
        ],
    );
    assert_entra_error(&r, 400, "invalid_request", 90014);
}

#[test]
fn certificates_registered_at_runtime_and_expired_certificates() {
    let emu = start();
    let a = assertion(
        Alg::Ps256,
        OTHER_KEY_PEM,
        OTHER_CERT_PEM,
        Thumb::Sha256,
        &good_claims(&emu),
        false,
    );
    assert_eq!(assertion_request(&emu, &a).status, 401);
    emu.add_certificate(DEFAULT_CLIENT_ID, &pem_der(OTHER_CERT_PEM, "CERTIFICATE"))
        .unwrap();
    assert_eq!(assertion_request(&emu, &a).status, 200);
    assert!(emu.add_certificate(DEFAULT_CLIENT_ID, b"junk").is_err());

    // A certificate whose validity ended: its key is refused.
    let key = rcgen::KeyPair::from_pem(OTHER_KEY_PEM).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["expired.example".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let expired = params.self_signed(&key).unwrap();
    emu.add_certificate(DEFAULT_CLIENT_ID, expired.pem().as_bytes())
        .unwrap();
    let a = assertion(
        Alg::Rs256,
        OTHER_KEY_PEM,
        &expired.pem(),
        Thumb::Sha1Padded,
        &good_claims(&emu),
        false,
    );
    let body = assert_entra_error(&assertion_request(&emu, &a), 401, "invalid_client", 700027);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[test]
fn workload_identity_federated_token_file() {
    let emu = start();
    let path = emu.state_dir().join("wi/token");
    let env = emu.workload_identity_env(&path).unwrap();
    assert!(
        env.iter()
            .any(|(k, v)| k == "AZURE_FEDERATED_TOKEN_FILE" && v == &path.display().to_string())
    );
    let file_token = std::fs::read_to_string(&path).unwrap();
    let c = jwt_claims(&file_token);
    assert_eq!(c["iss"], DEFAULT_WORKLOAD_ISSUER);
    assert_eq!(c["sub"], DEFAULT_WORKLOAD_SUBJECT);
    let r = assertion_request(&emu, &file_token);
    assert_eq!(r.status, 200, "{}", r.text());
    let hour = Duration::from_secs(3600);
    let wrong_subject = emu.federated_token(
        DEFAULT_WORKLOAD_ISSUER,
        "system:serviceaccount:other:sa",
        FEDERATED_TOKEN_AUDIENCE,
        hour,
    );
    let body = assert_entra_error(
        &assertion_request(&emu, &wrong_subject),
        400,
        "invalid_request",
        70021,
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("system:serviceaccount:other:sa")
    );
    let wrong_issuer = emu.federated_token(
        "https://issuer.example/",
        DEFAULT_WORKLOAD_SUBJECT,
        FEDERATED_TOKEN_AUDIENCE,
        hour,
    );
    assert_entra_error(
        &assertion_request(&emu, &wrong_issuer),
        400,
        "invalid_request",
        700211,
    );
    let wrong_audience = emu.federated_token(
        DEFAULT_WORKLOAD_ISSUER,
        DEFAULT_WORKLOAD_SUBJECT,
        "api://Other",
        hour,
    );
    assert_entra_error(
        &assertion_request(&emu, &wrong_audience),
        400,
        "invalid_request",
        700212,
    );
    // A token from the file of a configurable issuer/subject, once the app trusts it.
    let custom = emu.state_dir().join("custom-token");
    emu.write_federated_token_file(
        &custom,
        "https://oidc.example/abc",
        "repo:me/app:ref:refs/heads/main",
        hour,
    )
    .unwrap();
    let t = std::fs::read_to_string(&custom).unwrap();
    assert_entra_error(&assertion_request(&emu, &t), 400, "invalid_request", 700211);
    emu.add_federated_credential(
        DEFAULT_CLIENT_ID,
        FederatedCredential {
            issuer: "https://oidc.example/abc".into(),
            subject: "repo:me/app:ref:refs/heads/main".into(),
            audiences: vec![],
        },
    )
    .unwrap();
    assert_eq!(assertion_request(&emu, &t).status, 200);
    // Expired federated token.
    emu.set_clock_offset(7200);
    assert_entra_error(
        &assertion_request(&emu, &file_token),
        401,
        "invalid_client",
        700024,
    );
}

#[test]
fn azure_pipelines_oidc_endpoint() {
    let emu = start();
    let trust = ca(&emu);
    let url = format!(
        "{}?api-version=7.1&serviceConnectionId={DEFAULT_SERVICE_CONNECTION_ID}",
        emu.pipelines_oidc_request_uri()
    );
    let auth = format!("Bearer {DEFAULT_SYSTEM_ACCESS_TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("X-TFS-FedAuthRedirect", "Suppress"),
        ("Content-Type", "application/json"),
    ];
    let r = request("POST", &url, &headers, None, &trust);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-vss-e2eid").is_some() && r.header("x-msedge-ref").is_some());
    let oidc = r.json()["oidcToken"].as_str().unwrap().to_owned();
    let c = jwt_claims(&oidc);
    assert_eq!(
        c["iss"],
        format!("https://vstoken.dev.azure.com/{DEFAULT_DEVOPS_ORGANIZATION_ID}")
    );
    assert_eq!(
        c["sub"],
        "sc://emulator-org/emulator-project/emulator-connection"
    );
    assert_eq!(assertion_request(&emu, &oidc).status, 200);

    let r = request(
        "POST",
        &url,
        &[("X-TFS-FedAuthRedirect", "Suppress")],
        None,
        &trust,
    );
    assert_eq!(r.status, 401);
    let r = request(
        "POST",
        &url,
        &[("Authorization", "Bearer wrong")],
        None,
        &trust,
    );
    assert_eq!(
        r.status, 203,
        "without the suppress header Azure DevOps answers with a sign-in page"
    );
    let r = request(
        "POST",
        &format!(
            "{}?api-version=7.1&serviceConnectionId=nope",
            emu.pipelines_oidc_request_uri()
        ),
        &headers,
        None,
        &trust,
    );
    assert_eq!(r.status, 404);
    let r = request(
        "POST",
        &format!(
            "{}?serviceConnectionId={DEFAULT_SERVICE_CONNECTION_ID}",
            emu.pipelines_oidc_request_uri()
        ),
        &headers,
        None,
        &trust,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["typeKey"], "VssVersionNotSpecifiedException");
    let r = request("GET", &url, &headers, None, &trust);
    assert_eq!(r.status, 405);
}

#[test]
fn the_entra_listener_needs_the_emulator_ca() {
    let emu = start();
    let other = start();
    let err = request_with_timeout(
        "GET",
        &format!("{}/common/discovery/v2.0/keys", emu.authority_host()),
        &[],
        None,
        &ca(&other),
        Duration::from_secs(5),
    );
    assert!(
        err.is_err(),
        "another emulator's CA must not validate this one's certificate"
    );
    // localhost is in the certificate too.
    let r = get(
        &format!(
            "https://localhost:{}/common/discovery/v2.0/keys",
            emu.https_port()
        ),
        &[],
        &ca(&emu),
    );
    assert_eq!(r.status, 200);
    assert!(
        std::fs::read_to_string(emu.ca_path())
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
}

#[test]
fn client_secret_basic_authentication() {
    use base64::Engine as _;
    let emu = start();
    let basic = |secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{DEFAULT_CLIENT_ID}:{}",
                form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
            ))
        )
    };
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("scope", VAULT),
    ]);
    let send = |auth: &str| {
        request(
            "POST",
            &emu.token_endpoint(DEFAULT_TENANT_ID),
            &[("Authorization", auth)],
            Some(("application/x-www-form-urlencoded", &body)),
            &ca(&emu),
        )
    };
    assert_eq!(send(&basic(DEFAULT_CLIENT_SECRET)).status, 200);
    assert_entra_error(&send(&basic("wrong")), 401, "invalid_client", 7000215);
}

#[test]
fn resource_manager_answers_az_login_with_a_valid_token_only() {
    let emu = start();
    let trust = ca(&emu);
    let at = secret_request(&emu, DEFAULT_CLIENT_SECRET).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {at}");
    let subs = get(
        &format!(
            "{}/subscriptions?api-version=2022-12-01",
            emu.authority_host()
        ),
        &[("Authorization", &bearer)],
        &trust,
    );
    assert_eq!(subs.status, 200);
    assert_eq!(subs.json(), json!({"value": []}));
    let tenants = get(
        &format!("{}/tenants?api-version=2022-12-01", emu.authority_host()),
        &[("Authorization", &bearer)],
        &trust,
    );
    assert_eq!(tenants.status, 200);
    assert_eq!(tenants.json()["value"][0]["tenantId"], DEFAULT_TENANT_ID);
    for auth in [vec![], vec![("Authorization", "Bearer not-a-token")]] {
        let r = get(
            &format!(
                "{}/subscriptions?api-version=2022-12-01",
                emu.authority_host()
            ),
            &auth,
            &trust,
        );
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "InvalidAuthenticationToken");
    }
    assert_eq!(emu.requests_for(Endpoint::ResourceManager).len(), 4);
}

#[test]
fn openai_chat_answers_only_a_right_bearer_token() {
    let emu = start();
    let trust = ca(&emu);
    let token_for = |scope: &str| -> String {
        token(
            &emu,
            DEFAULT_TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", DEFAULT_CLIENT_SECRET),
                ("scope", scope),
            ],
        )
        .json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let url = format!(
        "{}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
        emu.authority_host()
    );
    let body = br#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}]}"#;
    let chat = |auth: Option<String>| {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        request(
            "POST",
            &url,
            &headers,
            Some(("application/json", body)),
            &trust,
        )
    };
    let good = token_for("https://cognitiveservices.azure.com/.default");
    let r = chat(Some(format!("Bearer {good}")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "(emulated gpt-4o) You said: hello"
    );
    let wrong_audience = token_for(VAULT);
    for auth in [
        None,
        Some("Bearer junk".to_owned()),
        Some(format!("Bearer {wrong_audience}")),
    ] {
        let r = chat(auth);
        assert_eq!(r.status, 401);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .starts_with("Bearer error=\"invalid_token\"")
        );
    }
    // An expired token: the emulator's clock moves past its expiry.
    emu.set_clock_offset(2 * 3600);
    assert_eq!(chat(Some(format!("Bearer {good}"))).status, 401);
}

#[test]
fn github_actions_token_endpoint_and_federation() {
    let emu = start();
    let trust = ca(&emu);
    let env = emu.github_actions_env();
    let url = &env[0].1;
    let request_token = &env[1].1;
    let get_token = |auth: &str, audience: &str| {
        get(
            &format!("{url}&audience={audience}"),
            &[("Authorization", auth)],
            &trust,
        )
    };
    let r = get_token(
        &format!("bearer {request_token}"),
        "api%3A%2F%2FAzureADTokenExchange",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["count"], 1);
    let jwt = r.json()["value"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&jwt);
    assert_eq!(claims["iss"], GITHUB_ACTIONS_ISSUER);
    assert_eq!(claims["sub"], DEFAULT_GITHUB_ACTIONS_SUBJECT);
    assert_eq!(claims["aud"][0], FEDERATED_TOKEN_AUDIENCE);
    assert_eq!(get_token("bearer wrong", "x").status, 401);
    // The token is a client assertion for the default app.
    let exchange = |assertion: &str| {
        token(
            &emu,
            DEFAULT_TENANT_ID,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DEFAULT_CLIENT_ID),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
                ("scope", VAULT),
            ],
        )
    };
    assert_eq!(exchange(&jwt).status, 200);
    // Another subject: AADSTS70021, as Entra answers.
    emu.set_github_actions_subject("repo:emulator-org/emulator-repo:pull_request");
    let other = get_token(
        &format!("bearer {request_token}"),
        "api%3A%2F%2FAzureADTokenExchange",
    )
    .json()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_entra_error(&exchange(&other), 400, "invalid_request", 70021);
}
