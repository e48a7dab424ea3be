//! The managed-identity endpoints (PROTOCOL.md §6): IMDS, App Service, Azure ML, Cloud Shell,
//! Azure Arc and Service Fabric, with their exact request shapes and response formats.

use serde_json::{Value, json};

use crate::model::ExpiresOnFormat;
use crate::registry::{AZURE_CLI_CLIENT_ID, IdentityKind, ManagedIdentity, Registry};
use crate::state::{Req, Resp, Scopes, Shared, lock};
use crate::util;

/// How the caller selected an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selector {
    Client,
    Object,
    Resource,
}

#[derive(Debug)]
enum SelectError {
    /// More than one selector was given.
    Ambiguous,
    NotFound,
}

fn selectors(
    req: &Req,
    names: &[(&str, Selector)],
) -> Result<Option<(Selector, String)>, SelectError> {
    let found: Vec<(Selector, String)> = names
        .iter()
        .filter_map(|(n, s)| {
            req.param(n)
                .filter(|v| !v.is_empty())
                .map(|v| (*s, v.to_owned()))
        })
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(SelectError::Ambiguous),
    }
}

fn select(
    registry: &Registry,
    by: Option<&(Selector, String)>,
) -> Result<ManagedIdentity, SelectError> {
    let ids = &registry.managed_identities;
    let found = match by {
        None => ids
            .iter()
            .find(|m| m.kind == IdentityKind::SystemAssigned)
            .or_else(|| {
                let users: Vec<_> = ids
                    .iter()
                    .filter(|m| m.kind == IdentityKind::UserAssigned)
                    .collect();
                if users.len() == 1 {
                    Some(users[0])
                } else {
                    None
                }
            }),
        Some((Selector::Client, v)) => ids.iter().find(|m| m.client_id.eq_ignore_ascii_case(v)),
        Some((Selector::Object, v)) => ids.iter().find(|m| m.object_id.eq_ignore_ascii_case(v)),
        Some((Selector::Resource, v)) => ids
            .iter()
            .find(|m| !m.resource_id.is_empty() && m.resource_id.eq_ignore_ascii_case(v)),
    };
    found.cloned().ok_or(SelectError::NotFound)
}

fn tenant_of(registry: &Registry, mi: &ManagedIdentity) -> String {
    if mi.tenant_id.is_empty() {
        registry
            .tenants
            .first()
            .map(|t| t.tenant_id.clone())
            .unwrap_or_default()
    } else {
        mi.tenant_id.clone()
    }
}

/// The v1 resource from the `resource` parameter (a trailing `/.default` is tolerated and stripped).
fn resource(req: &Req) -> Option<String> {
    req.param("resource")
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.strip_suffix("/.default").unwrap_or(r).to_owned())
}

fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn metadata_ok(req: &Req) -> bool {
    req.header("metadata")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

struct Minted {
    token: String,
    now: i64,
    lifetime: u64,
    refresh_in: Option<u64>,
}

fn mint(shared: &Shared, registry: &Registry, mi: &ManagedIdentity, resource: &str) -> Minted {
    let settings = shared.settings();
    let now = shared.now();
    let lifetime = settings.managed_identity_token_lifetime_secs;
    let token = shared.mint_mi_token(mi, &tenant_of(registry, mi), resource, now, lifetime);
    Minted {
        token,
        now,
        lifetime,
        refresh_in: settings.managed_identity_refresh_in_secs,
    }
}

/// The IMDS-style body: every number a string.
fn imds_body(m: &Minted, resource: &str) -> Value {
    let mut body = json!({
        "access_token": m.token,
        "expires_in": m.lifetime.to_string(),
        "expires_on": (m.now + m.lifetime as i64).to_string(),
        "ext_expires_in": m.lifetime.to_string(),
        "not_before": m.now.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    if let Some(r) = m.refresh_in {
        body["refresh_in"] = json!(r.to_string());
    }
    body
}

const IMDS_SELECTORS: &[(&str, Selector)] = &[
    ("client_id", Selector::Client),
    ("object_id", Selector::Object),
    ("msi_res_id", Selector::Resource),
];

/// IMDS: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…` + `Metadata: true`.
pub(crate) fn imds(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return oauth_error(
            405,
            "invalid_request",
            "The requested resource does not support the HTTP method used.",
        );
    }
    if !metadata_ok(req) {
        return oauth_error(
            400,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    if req.query("api-version").is_none_or(str::is_empty) {
        return oauth_error(
            400,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    let Some(resource) = resource(req) else {
        return oauth_error(
            400,
            "invalid_request",
            "Required audience variable 'resource' is missing",
        );
    };
    let registry = lock(&shared.registry).clone();
    let by = match selectors(req, IMDS_SELECTORS) {
        Ok(b) => b,
        Err(_) => {
            return oauth_error(
                400,
                "invalid_request",
                "Only one of client_id, object_id or msi_res_id may be specified",
            );
        }
    };
    match select(&registry, by.as_ref()) {
        Ok(mi) => {
            let m = mint(shared, &registry, &mi, &resource);
            let mut body = imds_body(&m, &resource);
            body["client_id"] = json!(mi.client_id);
            Resp::json(200, &body)
        }
        Err(_) if by.is_none() && !registry.managed_identities.is_empty() => oauth_error(
            400,
            "invalid_request",
            "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
        ),
        Err(_) => oauth_error(400, "invalid_request", "Identity not found"),
    }
}

fn app_service_error(status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"statusCode": status, "message": message, "correlationId": util::uuid_v4()}),
    )
}

/// App Service 2019-08-01: `GET /msi/token?api-version=2019-08-01&resource=…` + `X-IDENTITY-HEADER`.
pub(crate) fn app_service(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return app_service_error(
            405,
            "The requested resource does not support the HTTP method used.",
        );
    }
    match req.header("x-identity-header") {
        None => {
            return app_service_error(
                400,
                "The X-IDENTITY-HEADER header is missing from the request.",
            );
        }
        Some(h) if h != shared.app_service_header => {
            return app_service_error(
                401,
                "Unauthorized: the X-IDENTITY-HEADER header value is not valid.",
            );
        }
        Some(_) => {}
    }
    if req.query("api-version") != Some("2019-08-01") {
        return app_service_error(
            400,
            &format!(
                "Unsupported api-version '{}'. The supported version is 2019-08-01.",
                req.query("api-version").unwrap_or_default()
            ),
        );
    }
    let Some(resource) = resource(req) else {
        return app_service_error(400, "The 'resource' query parameter is missing.");
    };
    let registry = lock(&shared.registry).clone();
    let selectors_list = [
        ("client_id", Selector::Client),
        ("object_id", Selector::Object),
        ("mi_res_id", Selector::Resource),
        ("principal_id", Selector::Object),
    ];
    let by = match selectors(req, &selectors_list) {
        Ok(b) => b,
        Err(_) => {
            return app_service_error(
                400,
                "Only one of client_id, object_id or mi_res_id may be specified.",
            );
        }
    };
    match select(&registry, by.as_ref()) {
        Ok(mi) => {
            let m = mint(shared, &registry, &mi, &resource);
            let mut body = json!({
                "access_token": m.token,
                "expires_on": (m.now + m.lifetime as i64).to_string(),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": mi.client_id,
            });
            if let Some(r) = m.refresh_in {
                body["refresh_in"] = json!(r.to_string());
            }
            Resp::json(200, &body)
        }
        Err(_) => app_service_error(400, "Unable to load the proper Managed Identity."),
    }
}

/// Azure ML (legacy MSI): `GET /azureml/token?api-version=2017-09-01&resource=…[&clientid=…]` + `secret`.
pub(crate) fn azure_ml(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return app_service_error(
            405,
            "The requested resource does not support the HTTP method used.",
        );
    }
    match req.header("secret") {
        None => return app_service_error(400, "The secret header is missing from the request."),
        Some(s) if s != shared.azure_ml_secret => {
            return app_service_error(401, "Unauthorized: the secret header value is not valid.");
        }
        Some(_) => {}
    }
    if req.query("api-version") != Some("2017-09-01") {
        return app_service_error(
            400,
            &format!(
                "Unsupported api-version '{}'. The supported version is 2017-09-01.",
                req.query("api-version").unwrap_or_default()
            ),
        );
    }
    let Some(resource) = resource(req) else {
        return app_service_error(400, "The 'resource' query parameter is missing.");
    };
    let registry = lock(&shared.registry).clone();
    let selectors_list = [
        ("clientid", Selector::Client),
        ("client_id", Selector::Client),
        ("object_id", Selector::Object),
        ("msi_res_id", Selector::Resource),
    ];
    let by = match selectors(req, &selectors_list) {
        Ok(b) => b,
        Err(_) => return app_service_error(400, "Only one identity selector may be specified."),
    };
    match select(&registry, by.as_ref()) {
        Ok(mi) => {
            let m = mint(shared, &registry, &mi, &resource);
            let exp = m.now + m.lifetime as i64;
            let expires_on = match shared.settings().azure_ml_expires_on {
                ExpiresOnFormat::Epoch => json!(exp),
                ExpiresOnFormat::EpochString => json!(exp.to_string()),
                ExpiresOnFormat::DateString => json!(util::azure_ml_date(exp)),
            };
            Resp::json(
                200,
                &json!({"access_token": m.token, "expires_on": expires_on, "resource": resource, "token_type": "Bearer"}),
            )
        }
        Err(_) => app_service_error(400, "Unable to load the proper Managed Identity."),
    }
}

/// Cloud Shell: `POST /cloudshell/token` with `Metadata: true` and the form `resource=…`. Issues a
/// token for the signed-in user (the first user).
pub(crate) fn cloud_shell(shared: &Shared, req: &Req) -> Resp {
    if req.method != "POST" {
        return oauth_error(
            405,
            "invalid_request",
            "The requested resource does not support the HTTP method used.",
        );
    }
    if !metadata_ok(req) {
        return oauth_error(
            400,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    let Some(resource) = req
        .form("resource")
        .filter(|r| !r.trim().is_empty())
        .map(|r| r.strip_suffix("/.default").unwrap_or(r).to_owned())
    else {
        return oauth_error(
            400,
            "invalid_request",
            "Required audience variable 'resource' is missing",
        );
    };
    let registry = lock(&shared.registry).clone();
    let Some(user) = registry.users.first().cloned() else {
        return oauth_error(
            400,
            "invalid_request",
            "No user is signed in to Cloud Shell",
        );
    };
    let settings = shared.settings();
    let now = shared.now();
    let lifetime = settings.managed_identity_token_lifetime_secs;
    let scopes = Scopes {
        resource: resource.clone(),
        names: vec!["user_impersonation".into()],
        default: true,
        reserved: vec![],
    };
    let token = shared.mint_user_token(
        &user,
        AZURE_CLI_CLIENT_ID,
        &user.tenant_id,
        &scopes,
        "0",
        now,
        lifetime,
    );
    let m = Minted {
        token,
        now,
        lifetime,
        refresh_in: settings.managed_identity_refresh_in_secs,
    };
    Resp::json(200, &imds_body(&m, &resource))
}

/// The Arc API versions the emulated agent accepts.
const ARC_API_VERSIONS: &[&str] = &["2019-08-15", "2019-11-01", "2020-06-01", "2021-02-01"];

/// Azure Arc: the 401 challenge naming a key file, then `Authorization: Basic {key}`.
pub(crate) fn arc(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return oauth_error(
            405,
            "invalid_request",
            "The requested resource does not support the HTTP method used.",
        );
    }
    if !metadata_ok(req) {
        return oauth_error(
            400,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    match req.query("api-version") {
        Some(v) if ARC_API_VERSIONS.contains(&v) => {}
        other => {
            return oauth_error(
                400,
                "invalid_request",
                &format!("Invalid api-version '{}'", other.unwrap_or_default()),
            );
        }
    }
    let Some(resource) = resource(req) else {
        return oauth_error(
            400,
            "invalid_request",
            "Required audience variable 'resource' is missing",
        );
    };
    let Some(auth) = req.header("authorization") else {
        let key = util::hex(&util::random_bytes(32));
        let path = shared.arc_key_dir.join(format!("{}.key", util::uuid_v4()));
        let written =
            std::fs::create_dir_all(&shared.arc_key_dir).and_then(|()| std::fs::write(&path, &key));
        if let Err(e) = written {
            return oauth_error(
                500,
                "server_error",
                &format!("The agent could not write its key file: {e}"),
            );
        }
        {
            let mut flows = lock(&shared.flows);
            flows.arc_keys.insert(key);
            flows.arc_key_files.push(path.clone());
        }
        return oauth_error(
            401,
            "unauthorized_client",
            "Authorization header is required. Read the key file named in WWW-Authenticate.",
        )
        .with_header(
            "www-authenticate",
            &format!("Basic realm={}", path.display()),
        );
    };
    let presented = auth
        .strip_prefix("Basic ")
        .or_else(|| auth.strip_prefix("basic "))
        .unwrap_or_default();
    if presented.is_empty() || !lock(&shared.flows).arc_keys.contains(presented) {
        return oauth_error(
            401,
            "unauthorized_client",
            "The Basic authorization key is not valid.",
        );
    }
    let registry = lock(&shared.registry).clone();
    let by = match selectors(req, IMDS_SELECTORS) {
        Ok(b) => b,
        Err(_) => {
            return oauth_error(
                400,
                "invalid_request",
                "Only one of client_id, object_id or msi_res_id may be specified",
            );
        }
    };
    match select(&registry, by.as_ref()) {
        Ok(mi) => {
            let m = mint(shared, &registry, &mi, &resource);
            let mut body = imds_body(&m, &resource);
            body["client_id"] = json!(mi.client_id);
            if mi.kind == IdentityKind::UserAssigned {
                body["object_id"] = json!(mi.object_id);
                body["msi_res_id"] = json!(mi.resource_id);
            }
            Resp::json(200, &body)
        }
        Err(_) => oauth_error(400, "invalid_request", "Identity not found"),
    }
}

fn sf_error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Service Fabric: `GET /metadata/identity/oauth2/token?api-version=2019-07-01-preview&resource=…`
/// with the `Secret` header, on its own HTTPS listener.
pub(crate) fn service_fabric(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return sf_error(
            405,
            "MethodNotAllowed",
            "The requested resource does not support the HTTP method used.",
        );
    }
    match req.header("secret") {
        None => {
            return sf_error(
                401,
                "SecretHeaderNotFound",
                "Secret is not found in the request headers.",
            );
        }
        Some(s) if s != shared.service_fabric_secret => {
            return sf_error(
                401,
                "InvalidSecret",
                "The Secret header value is not valid.",
            );
        }
        Some(_) => {}
    }
    if req.query("api-version") != Some("2019-07-01-preview") {
        return sf_error(
            400,
            "InvalidApiVersion",
            &format!(
                "The api-version '{}' is invalid. The supported version is 2019-07-01-preview.",
                req.query("api-version").unwrap_or_default()
            ),
        );
    }
    let Some(resource) = resource(req) else {
        return sf_error(
            400,
            "ArgumentNullOrEmpty",
            "Value cannot be null or empty.\r\nParameter name: resource",
        );
    };
    let registry = lock(&shared.registry).clone();
    match select(&registry, None) {
        Ok(mi) => {
            let m = mint(shared, &registry, &mi, &resource);
            Resp::json(
                200,
                &json!({"token_type": "Bearer", "access_token": m.token, "expires_on": m.now + m.lifetime as i64, "resource": resource}),
            )
        }
        Err(_) => sf_error(
            404,
            "ManagedIdentityNotFound",
            "No managed identity is configured for this application.",
        ),
    }
}
