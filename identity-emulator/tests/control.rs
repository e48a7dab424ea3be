//! The control API over HTTP, the registry file, parallel instances and use from async code.

mod common;

use std::time::{Duration, Instant};

use common::*;
use identity_emulator::*;
use serde_json::json;

fn control(emu: &Emulator, method: &str, path: &str, body: Option<serde_json::Value>) -> Response {
    let body = body.map(|b| b.to_string().into_bytes());
    request(
        method,
        &format!("{}/_emulator/{path}", emu.mi_url()),
        &[],
        body.as_deref().map(|b| ("application/json", b)),
        &Trust::None,
    )
}

#[test]
fn register_over_http_and_use_it() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let info = control(&emu, "GET", "info", None).json();
    assert_eq!(info["authority_host"], emu.authority_host());
    let tenant = "22222222-2222-4222-8222-222222222222";
    let app = "33333333-3333-4333-8333-333333333333";
    assert_eq!(
        control(
            &emu,
            "POST",
            "tenants",
            Some(json!({"tenant_id": tenant, "display_name": "Second"}))
        )
        .status,
        200
    );
    assert_eq!(
        control(
            &emu,
            "POST",
            "apps",
            Some(json!({"client_id": app, "tenant_id": tenant}))
        )
        .status,
        200
    );
    assert_eq!(
        control(
            &emu,
            "POST",
            &format!("apps/{app}/secrets"),
            Some(json!({"secret": "s3cr3t"}))
        )
        .status,
        200
    );
    let r = token(
        &emu,
        tenant,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", "s3cr3t"),
            ("scope", "api://x/.default"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The app does not exist in the default tenant.
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", "s3cr3t"),
            ("scope", "api://x/.default"),
        ],
    );
    assert_entra_error(&r, 400, "unauthorized_client", 700016);
    // Certificates as PEM, users, identities; invalid input is refused.
    assert_eq!(
        control(
            &emu,
            "POST",
            &format!("apps/{app}/certificates"),
            Some(json!({"pem": OTHER_CERT_PEM}))
        )
        .status,
        200
    );
    assert_eq!(
        control(
            &emu,
            "POST",
            &format!("apps/{app}/certificates"),
            Some(json!({"pem": "junk"}))
        )
        .status,
        400
    );
    assert_eq!(
        control(
            &emu,
            "POST",
            "apps",
            Some(json!({"client_id": "x", "tenant_id": "unknown"}))
        )
        .status,
        400
    );
    assert_eq!(
        control(
            &emu,
            "POST",
            "users",
            Some(json!({"username": "bob@second.example", "tenant_id": tenant}))
        )
        .status,
        200
    );
    let mi = json!({"kind": "user_assigned", "client_id": "44444444-4444-4444-8444-444444444444", "object_id": "55555555-5555-4555-8555-555555555555"});
    assert_eq!(control(&emu, "POST", "identities", Some(mi)).status, 200);
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x&client_id=44444444-4444-4444-8444-444444444444",
        emu.imds_base()
    );
    assert_eq!(get(&url, &[("Metadata", "true")], &Trust::None).status, 200);
    let registry = control(&emu, "GET", "registry", None).json();
    assert!(
        !registry.to_string().contains("s3cr3t"),
        "secrets are masked in the registry dump"
    );
    assert_eq!(
        emu.registry()
            .apps
            .iter()
            .find(|a| a.client_id == app)
            .unwrap()
            .secrets,
        ["s3cr3t"]
    );
}

#[test]
fn faults_settings_log_and_tokens_over_http() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let r = control(
        &emu,
        "POST",
        "faults",
        Some(
            json!({"endpoint": "imds", "faults": [{"kind": "status", "status": 503, "retry_after": "1"}, {"kind": "pass"}]}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(emu.pending_faults(Endpoint::Imds), 2);
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x",
        emu.imds_base()
    );
    let r = get(&url, &[("Metadata", "true")], &Trust::None);
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    assert_eq!(control(&emu, "DELETE", "faults", None).status, 200);
    assert_eq!(emu.pending_faults(Endpoint::Imds), 0);

    let s = control(
        &emu,
        "PUT",
        "settings",
        Some(json!({"token_lifetime_secs": 120, "device_code": {"interval_secs": 1}})),
    )
    .json();
    assert_eq!(s["token_lifetime_secs"], 120);
    assert_eq!(s["device_code"]["interval_secs"], 1);
    assert_eq!(s["device_code"]["expires_in_secs"], 900);
    assert_eq!(emu.settings().token_lifetime_secs, 120);

    let log = control(&emu, "GET", "requests", None).json();
    assert_eq!(
        log.as_array().unwrap().len(),
        1,
        "control requests are not recorded: {log}"
    );
    assert_eq!(log[0]["endpoint"], "imds");
    assert_eq!(control(&emu, "DELETE", "requests", None).status, 200);
    assert!(emu.requests().is_empty());

    let t = control(&emu, "POST", "federated-token", Some(json!({}))).json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(jwt_claims(&t)["sub"], DEFAULT_WORKLOAD_SUBJECT);
    let at = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", "api://x/.default"),
        ],
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = control(&emu, "POST", "verify", Some(json!({"token": at})));
    assert_eq!(v.status, 200);
    assert_eq!(v.json()["aud"], "api://x");
    assert_eq!(
        control(&emu, "POST", "verify", Some(json!({"token": t}))).status,
        401,
        "a federated token is not an access token"
    );
    assert_eq!(control(&emu, "GET", "nope", None).status, 404);
    assert_eq!(
        control(
            &emu,
            "POST",
            "faults",
            Some(json!({"endpoint": "nowhere", "faults": []}))
        )
        .status,
        400
    );
}

#[test]
fn device_code_approval_over_http() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    emu.update_settings(|s| s.device_code.outcome = DeviceCodeOutcome::Manual);
    let dc = post_form(
        &format!(
            "{}/organizations/oauth2/v2.0/devicecode",
            emu.authority_host()
        ),
        &[("client_id", AZURE_CLI_CLIENT_ID), ("scope", "openid")],
        &ca(&emu),
    )
    .json();
    let r = control(
        &emu,
        "POST",
        "device-codes/approve",
        Some(json!({"user_code": dc["user_code"]})),
    );
    assert_eq!(r.status, 200);
    let r = token(
        &emu,
        "organizations",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", AZURE_CLI_CLIENT_ID),
            ("device_code", dc["device_code"].as_str().unwrap()),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        control(
            &emu,
            "POST",
            "device-codes/approve",
            Some(json!({"user_code": "NOPE"}))
        )
        .status,
        404
    );
}

#[test]
fn registry_file_and_fixed_ports() {
    let dir = std::env::temp_dir().join(format!("emu-config-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut registry = Registry::well_known();
    registry.apps[0].secrets = vec!["from-the-file".into()];
    let path = dir.join("registry.json");
    std::fs::write(&path, serde_json::to_string_pretty(&registry).unwrap()).unwrap();
    let mut config = EmulatorConfig::from_registry_file(&path).unwrap();
    config.state_dir = Some(dir.join("state"));
    config.ca_path = Some(dir.join("out/ca.pem"));
    let emu = Emulator::start(config).unwrap();
    assert_eq!(emu.client_secret(), "from-the-file");
    assert!(dir.join("out/ca.pem").exists());
    assert_eq!(emu.ca_path(), dir.join("out/ca.pem"));
    // A fixed port: reuse the one just freed.
    let port = emu.http_port();
    drop(emu);
    let mut config = EmulatorConfig::default();
    config.http_port = port;
    let emu = Emulator::start(config).unwrap();
    assert_eq!(emu.http_port(), port);
    assert!(
        dir.join("state").exists(),
        "a caller's state directory is kept"
    );
    drop(emu);
    std::fs::write(
        &path,
        "{\"apps\": [{\"client_id\": \"x\", \"tenant_id\": \"missing\"}]}",
    )
    .unwrap();
    let config = EmulatorConfig::from_registry_file(&path).unwrap();
    assert!(matches!(
        Emulator::start(config),
        Err(Error::InvalidRegistry(_))
    ));
    std::fs::write(&path, "not json").unwrap();
    assert!(EmulatorConfig::from_registry_file(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn many_instances_in_parallel_start_fast() {
    let handles: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                let t = Instant::now();
                let emu = Emulator::start(EmulatorConfig::default()).unwrap();
                let started = t.elapsed();
                let r = token(
                    &emu,
                    DEFAULT_TENANT_ID,
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_id", DEFAULT_CLIENT_ID),
                        ("client_secret", DEFAULT_CLIENT_SECRET),
                        ("scope", "api://x/.default"),
                    ],
                );
                assert_eq!(r.status, 200);
                let state = emu.state_dir().to_owned();
                drop(emu);
                assert!(
                    !state.exists(),
                    "the temporary state directory is removed on drop"
                );
                started
            })
        })
        .collect();
    let times: Vec<Duration> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!("start-up times: {times:?}");
    let slowest = times.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_secs(2),
        "start-up took {slowest:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn usable_from_a_tokio_runtime() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x",
        emu.imds_base()
    );
    let r = tokio::task::spawn_blocking(move || get(&url, &[("Metadata", "true")], &Trust::None))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    drop(emu);
}

#[test]
fn debug_output_holds_no_secrets() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let dump = format!("{emu:?}");
    assert!(dump.contains(&emu.authority_host()));
    for secret in [
        emu.client_secret(),
        emu.app_service_header(),
        emu.azure_ml_secret(),
        emu.service_fabric_header(),
    ] {
        assert!(!dump.contains(secret), "a secret leaked into Debug output");
    }
}

#[test]
fn config_builder_methods() {
    let settings = Settings {
        token_lifetime_secs: 90,
        ..Settings::default()
    };
    let mut registry = Registry::well_known();
    registry.apps[0].secrets = vec!["builder-secret".into()];
    let emu = Emulator::start(
        EmulatorConfig::default()
            .with_settings(settings)
            .with_registry(registry)
            .with_ports(0, 0),
    )
    .unwrap();
    let r = token(
        &emu,
        DEFAULT_TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", "builder-secret"),
            ("scope", "api://x/.default"),
        ],
    );
    assert_eq!(r.json()["expires_in"], 90);
}
