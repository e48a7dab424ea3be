//! Every managed-identity source of PROTOCOL.md §6 over real sockets.

mod common;

use common::*;
use identity_emulator::*;
use serde_json::Value;

const ARM: &str = "https://management.azure.com/";

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn imds(emu: &Emulator, extra: &str, metadata: bool) -> Response {
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}{extra}",
        emu.imds_base(),
        enc(ARM)
    );
    let headers: &[(&str, &str)] = if metadata {
        &[("Metadata", "true")]
    } else {
        &[]
    };
    get(&url, headers, &Trust::None)
}

/// Numbers the real services send as strings are strings.
fn assert_string_numbers(body: &Value, fields: &[&str]) {
    for f in fields {
        let v = body[*f]
            .as_str()
            .unwrap_or_else(|| panic!("{f} is not a string: {body}"));
        assert!(v.parse::<i64>().is_ok(), "{f}={v}");
    }
}

#[test]
fn imds_system_and_user_assigned() {
    let emu = start();
    let r = imds(&emu, "", true);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_string_numbers(
        &body,
        &["expires_in", "expires_on", "ext_expires_in", "not_before"],
    );
    assert_eq!(body["expires_in"], "86399");
    assert_eq!(body["resource"], ARM);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], SYSTEM_ASSIGNED_CLIENT_ID);
    let c = emu
        .verify_access_token(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(c.aud(), Some(ARM));
    assert_eq!(c.oid(), Some(SYSTEM_ASSIGNED_OBJECT_ID));
    assert_eq!(c.appid(), Some(SYSTEM_ASSIGNED_CLIENT_ID));
    assert_eq!(c.tid(), Some(DEFAULT_TENANT_ID));
    assert_eq!(c.str("xms_mirid"), Some(SYSTEM_ASSIGNED_RESOURCE_ID));

    for extra in [
        format!("&client_id={USER_ASSIGNED_CLIENT_ID}"),
        format!("&object_id={USER_ASSIGNED_OBJECT_ID}"),
        format!("&msi_res_id={}", enc(USER_ASSIGNED_RESOURCE_ID)),
    ] {
        let r = imds(&emu, &extra, true);
        assert_eq!(r.status, 200, "{extra}: {}", r.text());
        let body = r.json();
        assert_eq!(body["client_id"], USER_ASSIGNED_CLIENT_ID);
        assert_eq!(
            emu.verify_access_token(body["access_token"].as_str().unwrap())
                .unwrap()
                .oid(),
            Some(USER_ASSIGNED_OBJECT_ID)
        );
    }
    // `.default` on the resource is tolerated, as scopes are converted by clients.
    let url = format!(
        "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
        emu.imds_base(),
        enc("https://vault.azure.net/.default")
    );
    assert_eq!(
        get(&url, &[("Metadata", "true")], &Trust::None).json()["resource"],
        "https://vault.azure.net"
    );
}

#[test]
fn imds_rejections() {
    let emu = start();
    let r = imds(&emu, "", false);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error_description"],
        "Required metadata header not specified"
    );
    let r = imds(
        &emu,
        "&client_id=00000000-0000-0000-0000-00000000dead",
        true,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
    assert_eq!(r.json()["error_description"], "Identity not found");
    let r = get(
        &format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01",
            emu.imds_base()
        ),
        &[("Metadata", "true")],
        &Trust::None,
    );
    assert_eq!(r.status, 400);
    let r = get(
        &format!(
            "{}/metadata/identity/oauth2/token?resource=x",
            emu.imds_base()
        ),
        &[("Metadata", "true")],
        &Trust::None,
    );
    assert_eq!(r.status, 400);
    let r = imds(
        &emu,
        &format!("&client_id={USER_ASSIGNED_CLIENT_ID}&object_id={USER_ASSIGNED_OBJECT_ID}"),
        true,
    );
    assert_eq!(r.status, 400);
    // Without a system-assigned identity and with two user-assigned ones, an id is required.
    let mut config = EmulatorConfig::default();
    config
        .registry
        .managed_identities
        .retain(|m| m.kind == IdentityKind::UserAssigned);
    config.registry.managed_identities.push(ManagedIdentity {
        kind: IdentityKind::UserAssigned,
        client_id: "0a550000-0000-4000-8000-0000000000b1".into(),
        object_id: "0a550000-0000-4000-8000-0000000000b2".into(),
        resource_id: String::new(),
        tenant_id: String::new(),
    });
    let emu = Emulator::start(config).unwrap();
    let r = imds(&emu, "", true);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("Multiple user assigned identities")
    );
    assert_eq!(
        imds(
            &emu,
            "&client_id=0a550000-0000-4000-8000-0000000000b1",
            true
        )
        .status,
        200
    );
}

#[test]
fn app_service() {
    let emu = start();
    let url = |extra: &str| {
        format!(
            "{}?api-version=2019-08-01&resource={}{extra}",
            emu.app_service_endpoint(),
            enc(ARM)
        )
    };
    let header = emu.app_service_header().to_owned();
    let r = get(
        &url(""),
        &[("X-IDENTITY-HEADER", &header), ("Metadata", "true")],
        &Trust::None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_string_numbers(&body, &["expires_on"]);
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for k in [
        "access_token",
        "expires_on",
        "resource",
        "token_type",
        "client_id",
    ] {
        assert!(keys.contains(&k), "{k}");
    }
    let r = get(
        &url(&format!("&mi_res_id={}", enc(USER_ASSIGNED_RESOURCE_ID))),
        &[("X-IDENTITY-HEADER", &header)],
        &Trust::None,
    );
    assert_eq!(r.json()["client_id"], USER_ASSIGNED_CLIENT_ID);
    let r = get(
        &url(&format!("&object_id={USER_ASSIGNED_OBJECT_ID}")),
        &[("X-IDENTITY-HEADER", &header)],
        &Trust::None,
    );
    assert_eq!(r.json()["client_id"], USER_ASSIGNED_CLIENT_ID);
    // Rejections: missing and wrong identity header, wrong api-version, unknown identity.
    let r = get(&url(""), &[("Metadata", "true")], &Trust::None);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["statusCode"], 400);
    let r = get(&url(""), &[("X-IDENTITY-HEADER", "wrong")], &Trust::None);
    assert_eq!(r.status, 401);
    assert!(r.json()["message"].is_string());
    let r = get(
        &format!(
            "{}?api-version=2017-09-01&resource={}",
            emu.app_service_endpoint(),
            enc(ARM)
        ),
        &[("X-IDENTITY-HEADER", &header)],
        &Trust::None,
    );
    assert_eq!(r.status, 400);
    let r = get(
        &url("&client_id=nope"),
        &[("X-IDENTITY-HEADER", &header)],
        &Trust::None,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn azure_ml_expires_on_formats() {
    let emu = start();
    let url = |extra: &str| {
        format!(
            "{}?api-version=2017-09-01&resource={}{extra}",
            emu.azure_ml_endpoint(),
            enc(ARM)
        )
    };
    let secret = emu.azure_ml_secret().to_owned();
    let r = get(&url(""), &[("secret", &secret)], &Trust::None);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_string_numbers(&body, &["expires_on"]);
    assert_eq!(body["token_type"], "Bearer");
    let r = get(
        &url(&format!("&clientid={USER_ASSIGNED_CLIENT_ID}")),
        &[("secret", &secret)],
        &Trust::None,
    );
    assert_eq!(
        emu.verify_access_token(r.json()["access_token"].as_str().unwrap())
            .unwrap()
            .appid(),
        Some(USER_ASSIGNED_CLIENT_ID)
    );
    emu.update_settings(|s| s.azure_ml_expires_on = ExpiresOnFormat::DateString);
    let on = get(&url(""), &[("secret", &secret)], &Trust::None).json()["expires_on"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(on.len(), "11/24/2026 02:40:53 +00:00".len(), "{on}");
    assert!(
        on.ends_with(" +00:00") && on.as_bytes()[2] == b'/' && on.as_bytes()[5] == b'/',
        "{on}"
    );
    emu.update_settings(|s| s.azure_ml_expires_on = ExpiresOnFormat::Epoch);
    assert!(get(&url(""), &[("secret", &secret)], &Trust::None).json()["expires_on"].is_i64());
    assert_eq!(get(&url(""), &[], &Trust::None).status, 400);
    assert_eq!(
        get(&url(""), &[("secret", "wrong")], &Trust::None).status,
        401
    );
}

#[test]
fn cloud_shell() {
    let emu = start();
    let body = form(&[("resource", ARM)]);
    let r = request(
        "POST",
        &emu.cloud_shell_endpoint(),
        &[("Metadata", "true")],
        Some(("application/x-www-form-urlencoded", &body)),
        &Trust::None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let json = r.json();
    assert_string_numbers(&json, &["expires_in", "expires_on"]);
    let c = emu
        .verify_access_token(json["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(c.oid(), Some(DEFAULT_USER_OBJECT_ID));
    assert_eq!(c.aud(), Some(ARM));
    let r = request(
        "POST",
        &emu.cloud_shell_endpoint(),
        &[],
        Some(("application/x-www-form-urlencoded", &body)),
        &Trust::None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error_description"],
        "Required metadata header not specified"
    );
    let r = get(
        &format!("{}?resource={}", emu.cloud_shell_endpoint(), enc(ARM)),
        &[("Metadata", "true")],
        &Trust::None,
    );
    assert_eq!(r.status, 405);
}

#[test]
fn azure_arc_challenge_and_key() {
    let emu = start();
    let url = |extra: &str| {
        format!(
            "{}?api-version=2020-06-01&resource={}{extra}",
            emu.arc_identity_endpoint(),
            enc(ARM)
        )
    };
    let r = get(&url(""), &[("Metadata", "true")], &Trust::None);
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap().to_owned();
    let path = challenge
        .strip_prefix("Basic realm=")
        .expect("Basic realm=");
    let path = std::path::Path::new(path);
    assert!(path.is_absolute());
    assert_eq!(path.parent().unwrap(), emu.arc_key_dir());
    assert_eq!(path.extension().unwrap(), "key");
    let key = std::fs::read_to_string(path).unwrap();
    let auth = format!("Basic {key}");
    let r = get(
        &url(""),
        &[("Metadata", "true"), ("Authorization", &auth)],
        &Trust::None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_string_numbers(&body, &["expires_in", "expires_on"]);
    assert_eq!(
        emu.verify_access_token(body["access_token"].as_str().unwrap())
            .unwrap()
            .oid(),
        Some(SYSTEM_ASSIGNED_OBJECT_ID)
    );
    // User-assigned ids are echoed back.
    let r = get(
        &url(&format!("&msi_res_id={}", enc(USER_ASSIGNED_RESOURCE_ID))),
        &[("Metadata", "true"), ("Authorization", &auth)],
        &Trust::None,
    );
    let body = r.json();
    assert_eq!(body["msi_res_id"], USER_ASSIGNED_RESOURCE_ID);
    assert_eq!(body["client_id"], USER_ASSIGNED_CLIENT_ID);
    assert_eq!(body["object_id"], USER_ASSIGNED_OBJECT_ID);
    // Without the key, with a wrong key, without Metadata, with a wrong api-version.
    let r = get(
        &url(""),
        &[("Metadata", "true"), ("Authorization", "Basic not-the-key")],
        &Trust::None,
    );
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_none());
    assert_eq!(get(&url(""), &[], &Trust::None).status, 400);
    let r = get(
        &format!(
            "{}?api-version=2018-02-01&resource=x",
            emu.arc_identity_endpoint()
        ),
        &[("Metadata", "true")],
        &Trust::None,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn arc_key_directory_is_configurable() {
    let dir = std::env::temp_dir().join(format!("emu-arc-{}", uuid_like()));
    let mut config = EmulatorConfig::default();
    config.arc_key_dir = Some(dir.clone());
    let emu = Emulator::start(config).unwrap();
    let r = get(
        &format!(
            "{}?api-version=2020-06-01&resource=x",
            emu.arc_identity_endpoint()
        ),
        &[("Metadata", "true")],
        &Trust::None,
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(&dir.display().to_string())
    );
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn service_fabric_with_pinned_certificate() {
    let emu = start();
    let url = |v: &str| {
        format!(
            "{}?api-version={v}&resource={}",
            emu.service_fabric_endpoint(),
            enc(ARM)
        )
    };
    let pin = Trust::Pin(emu.service_fabric_thumbprint().to_owned());
    let secret = emu.service_fabric_header().to_owned();
    let r = get(&url("2019-07-01-preview"), &[("Secret", &secret)], &pin);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert!(body["expires_on"].is_i64());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], ARM);
    assert_eq!(
        emu.verify_access_token(body["access_token"].as_str().unwrap())
            .unwrap()
            .oid(),
        Some(SYSTEM_ASSIGNED_OBJECT_ID)
    );
    let r = get(&url("2019-07-01-preview"), &[], &pin);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "SecretHeaderNotFound");
    assert_eq!(
        get(&url("2019-07-01-preview"), &[("Secret", "wrong")], &pin).status,
        401
    );
    let r = get(&url("2018-02-01"), &[("Secret", &secret)], &pin);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["code"].is_string());
    let r = get(
        &format!(
            "{}?api-version=2019-07-01-preview",
            emu.service_fabric_endpoint()
        ),
        &[("Secret", &secret)],
        &pin,
    );
    assert_eq!(r.json()["error"]["code"], "ArgumentNullOrEmpty");
    // The certificate is its own: the emulator CA does not vouch for it, and a wrong pin fails.
    let ca_trust = ca(&emu);
    assert!(
        request_with_timeout(
            "GET",
            &url("2019-07-01-preview"),
            &[("Secret", &secret)],
            None,
            &ca_trust,
            std::time::Duration::from_secs(5)
        )
        .is_err()
    );
    let wrong = Trust::Pin("00".repeat(20));
    assert!(
        request_with_timeout(
            "GET",
            &url("2019-07-01-preview"),
            &[("Secret", &secret)],
            None,
            &wrong,
            std::time::Duration::from_secs(5)
        )
        .is_err()
    );
    assert_eq!(emu.service_fabric_thumbprint().len(), 40);
}

#[test]
fn environment_for_each_source() {
    let emu = start();
    let names = |s| {
        emu.managed_identity_env(s)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(ManagedIdentitySource::Imds),
        ["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
    );
    assert_eq!(
        names(ManagedIdentitySource::AppService),
        ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"]
    );
    assert_eq!(
        names(ManagedIdentitySource::AzureMl),
        ["MSI_ENDPOINT", "MSI_SECRET"]
    );
    assert_eq!(names(ManagedIdentitySource::CloudShell), ["MSI_ENDPOINT"]);
    assert_eq!(
        names(ManagedIdentitySource::Arc),
        ["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"]
    );
    assert_eq!(
        names(ManagedIdentitySource::ServiceFabric),
        [
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "IDENTITY_SERVER_THUMBPRINT"
        ]
    );
    let env = emu.env_vars();
    let get_env = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get_env("AZURE_AUTHORITY_HOST"), emu.authority_host());
    assert_eq!(get_env("AZURE_CLIENT_SECRET"), DEFAULT_CLIENT_SECRET);
    assert_eq!(
        get_env("REQUESTS_CA_BUNDLE"),
        emu.ca_path().display().to_string()
    );
}
