//! The Microsoft Entra endpoints (PROTOCOL.md §4–§5): discovery, the token endpoint with every
//! grant, `/authorize`, device code, and the Azure Pipelines OIDC endpoint.

use serde_json::{Map, Value, json};

use crate::cert;
use crate::jwt::{self, OwnTokenError};
use crate::model::{DeviceCodeOutcome, Settings};
use crate::registry::{App, Registry, Tenant, User};
use crate::state::{
    self, AuthCode, DeviceFlow, RefreshGrant, Req, Resp, Scopes, Shared, lock, parse_scopes,
};
use crate::util;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const CERT_DOCS: &str = "Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials.";
const FIC_DOCS: &str = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation";

/// An Entra error response: `error`, `error_description` ("AADSTS…"), `error_codes`, `timestamp`,
/// `trace_id`, `correlation_id`, `error_uri`.
pub(crate) fn entra_error(
    shared: &Shared,
    req: &Req,
    status: u16,
    error: &str,
    code: u32,
    description: &str,
) -> Resp {
    let now = shared.now();
    let ts = util::entra_timestamp(now);
    let trace = util::uuid_v4();
    let corr = req
        .header("client-request-id")
        .or_else(|| req.header("x-ms-client-request-id"))
        .map(str::to_owned)
        .unwrap_or_else(util::uuid_v4);
    let desc = format!(
        "AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"
    );
    Resp::json(
        status,
        &json!({
            "error": error,
            "error_description": desc,
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("{}/error?code={code}", shared.entra_base),
        }),
    )
    .with_header("x-ms-request-id", &trace)
    .with_header("cache-control", "no-store, no-cache")
}

fn missing(shared: &Shared, req: &Req, name: &str) -> Resp {
    entra_error(
        shared,
        req,
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// A resolved tenant path segment.
#[derive(Debug, Clone)]
enum TenantSel {
    Known(Tenant),
    /// `common`, `organizations` or `consumers`.
    Multi(String),
}

fn tenant_not_found(segment: &str) -> String {
    format!(
        "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
    )
}

fn resolve_tenant(registry: &Registry, segment: &str) -> Option<TenantSel> {
    match segment.to_ascii_lowercase().as_str() {
        "common" | "organizations" | "consumers" => Some(TenantSel::Multi(segment.to_owned())),
        _ => registry.tenant(segment).cloned().map(TenantSel::Known),
    }
}

fn ok_json(req: &Req, value: &Value) -> Resp {
    let mut r = Resp::json(200, value)
        .with_header("cache-control", "no-store, no-cache")
        .with_header("pragma", "no-cache")
        .with_header("x-ms-request-id", &util::uuid_v4());
    if let Some(id) = req.header("client-request-id") {
        r = r.with_header("client-request-id", id);
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (and the v1 document without `/v2.0`).
pub(crate) fn openid_configuration(shared: &Shared, req: &Req, segment: &str, v2: bool) -> Resp {
    let registry = lock(&shared.registry).clone();
    let Some(sel) = resolve_tenant(&registry, segment) else {
        return entra_error(
            shared,
            req,
            400,
            "invalid_tenant",
            90002,
            &tenant_not_found(segment),
        );
    };
    let base = &shared.entra_base;
    let issuer_tid = match &sel {
        TenantSel::Known(t) => t.tenant_id.clone(),
        TenantSel::Multi(_) => "{tenantid}".to_owned(),
    };
    let (oauth, issuer) = if v2 {
        (
            format!("{base}/{segment}/oauth2/v2.0"),
            format!("{base}/{issuer_tid}/v2.0"),
        )
    } else {
        (
            format!("{base}/{segment}/oauth2"),
            format!("{base}/{issuer_tid}/"),
        )
    };
    let keys = if v2 {
        format!("{base}/{segment}/discovery/v2.0/keys")
    } else {
        format!("{base}/{segment}/discovery/keys")
    };
    ok_json(
        req,
        &json!({
            "token_endpoint": format!("{oauth}/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": keys,
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{base}/oidc/userinfo"),
            "authorization_endpoint": format!("{oauth}/authorize"),
            "device_authorization_endpoint": format!("{oauth}/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{oauth}/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{base}/{segment}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }),
    )
}

/// `GET /common/discovery/instance?api-version=…&authorization_endpoint=…`.
pub(crate) fn instance_discovery(shared: &Shared, req: &Req) -> Resp {
    let host = shared.entra_base.trim_start_matches("https://").to_owned();
    let port = host.rsplit(':').next().unwrap_or_default().to_owned();
    let alias = format!("localhost:{port}");
    let Some(endpoint) = req.query("authorization_endpoint") else {
        return entra_error(
            shared,
            req,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'authorization_endpoint'.",
        );
    };
    let rest = endpoint.strip_prefix("https://").unwrap_or_default();
    let (ep_host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !ep_host.eq_ignore_ascii_case(&host) && !ep_host.eq_ignore_ascii_case(&alias) {
        return entra_error(
            shared,
            req,
            400,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
        );
    }
    let tenant = path
        .split('/')
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or("common");
    ok_json(
        req,
        &json!({
            "tenant_discovery_endpoint": format!("{}/{tenant}/v2.0/.well-known/openid-configuration", shared.entra_base),
            "api-version": req.query("api-version").unwrap_or("1.1"),
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host, alias]}],
        }),
    )
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub(crate) fn keys(shared: &Shared, req: &Req) -> Resp {
    ok_json(req, &json!({"keys": [shared.key.jwk()]}))
}

/// `GET /common/userrealm/{username}`.
pub(crate) fn user_realm(shared: &Shared, req: &Req, username: &str) -> Resp {
    let registry = lock(&shared.registry).clone();
    let known = registry.user(username).is_some();
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    ok_json(
        req,
        &json!({
            "ver": "1.0",
            "account_type": if known { "Managed" } else { "Unknown" },
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

struct Ctx<'a> {
    shared: &'a Shared,
    req: &'a Req,
    registry: Registry,
    settings: Settings,
    app: App,
    tid: String,
    segment: &'a str,
    now: i64,
}

impl Ctx<'_> {
    fn err(&self, status: u16, error: &str, code: u32, description: &str) -> Resp {
        entra_error(self.shared, self.req, status, error, code, description)
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn token(shared: &Shared, req: &Req, segment: &str) -> Resp {
    if req.method != "POST" {
        return entra_error(
            shared,
            req,
            400,
            "invalid_request",
            900561,
            &format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {} request.",
                req.method
            ),
        );
    }
    let registry = lock(&shared.registry).clone();
    let Some(sel) = resolve_tenant(&registry, segment) else {
        return entra_error(
            shared,
            req,
            400,
            "invalid_request",
            90002,
            &tenant_not_found(segment),
        );
    };
    let Some(grant) = req.form_nonempty("grant_type").map(str::to_owned) else {
        return missing(shared, req, "grant_type");
    };
    let Some(client_id) = req.form_nonempty("client_id") else {
        return missing(shared, req, "client_id");
    };
    let directory = match &sel {
        TenantSel::Known(t) => {
            if t.display_name.is_empty() {
                t.tenant_id.clone()
            } else {
                t.display_name.clone()
            }
        }
        TenantSel::Multi(s) => s.clone(),
    };
    let app = registry.app(client_id).cloned().filter(|a| match &sel {
        TenantSel::Known(t) => a.tenant_id.eq_ignore_ascii_case(&t.tenant_id),
        TenantSel::Multi(_) => true,
    });
    let Some(app) = app else {
        return entra_error(
            shared,
            req,
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        );
    };
    let ctx = Ctx {
        shared,
        req,
        settings: shared.settings(),
        tid: app.tenant_id.clone(),
        app,
        registry,
        segment,
        now: shared.now(),
    };
    let result = match grant.as_str() {
        "client_credentials" => client_credentials(&ctx),
        "authorization_code" => authorization_code(&ctx),
        "refresh_token" => refresh_token(&ctx),
        GRANT_DEVICE_CODE => device_code_poll(&ctx),
        GRANT_JWT_BEARER => on_behalf_of(&ctx),
        "password" => password(&ctx),
        other => Err(ctx.err(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        )),
    };
    result.unwrap_or_else(|e| e)
}

/// How the client authenticated: the `appidacr` value ("0" none, "1" secret, "2" assertion).
fn authenticate(ctx: &Ctx<'_>, required: bool) -> Result<&'static str, Resp> {
    // client_secret_basic: `Authorization: Basic base64(urlencoded client_id:urlencoded secret)`.
    let basic_secret = ctx
        .req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(util::b64_decode)
        .and_then(|raw| {
            let text = String::from_utf8(raw).ok()?;
            let (id, secret) = text.split_once(':')?;
            let decode = |v: &str| {
                util::parse_form(format!("v={v}").as_bytes())
                    .pop()
                    .map(|(_, v)| v)
            };
            (decode(id)?.eq_ignore_ascii_case(&ctx.app.client_id))
                .then(|| decode(secret))
                .flatten()
        });
    let secret = ctx
        .req
        .form_nonempty("client_secret")
        .or(basic_secret.as_deref());
    let assertion = ctx.req.form_nonempty("client_assertion");
    match (secret, assertion) {
        (Some(_), Some(_)) => Err(ctx.err(400, "invalid_request", 90015, "Requested query string is too long or contains both 'client_secret' and 'client_assertion'. Only one client credential may be presented.")),
        (Some(s), None) => {
            if ctx.app.secrets.iter().any(|x| x == s) {
                Ok("1")
            } else {
                Err(ctx.err(
                    401,
                    "invalid_client",
                    7000215,
                    &format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                        ctx.app.client_id
                    ),
                ))
            }
        }
        (None, Some(a)) => {
            if ctx.req.form("client_assertion_type") != Some(ASSERTION_TYPE) {
                return Err(ctx.err(400, "invalid_request", 90014, "The required field 'client_assertion_type' is missing from the credential. Ensure that you have all the necessary parameters for the login request."));
            }
            verify_client_assertion(ctx, a).map(|()| "2")
        }
        (None, None) if required => Err(ctx.err(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        (None, None) => Ok("0"),
    }
}

fn accepted_audiences(ctx: &Ctx<'_>) -> Vec<String> {
    let port = ctx.shared.entra_base.rsplit(':').next().unwrap_or_default();
    let bases = [
        ctx.shared.entra_base.clone(),
        format!("https://localhost:{port}"),
    ];
    let mut tenants = vec![ctx.segment.to_owned(), ctx.tid.clone()];
    if let Some(t) = ctx.registry.tenant(&ctx.tid) {
        tenants.extend(t.domains.iter().cloned());
    }
    let mut out = Vec::new();
    for b in &bases {
        for t in &tenants {
            out.push(format!("{b}/{t}/oauth2/v2.0/token"));
            out.push(format!("{b}/{t}/oauth2/token"));
            out.push(format!("{b}/{t}/v2.0"));
        }
    }
    out
}

fn time_range_error(ctx: &Ctx<'_>, claims: &Map<String, Value>) -> Resp {
    let ts = |v: Option<i64>| {
        v.map(util::entra_timestamp)
            .unwrap_or_else(|| "(none)".into())
    };
    ctx.err(
        401,
        "invalid_client",
        700024,
        &format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. {CERT_DOCS}",
            util::entra_timestamp(ctx.now),
            ts(jwt::num_claim(claims, "nbf").or_else(|| jwt::num_claim(claims, "iat"))),
            ts(jwt::num_claim(claims, "exp")),
        ),
    )
}

fn verify_client_assertion(ctx: &Ctx<'_>, assertion: &str) -> Result<(), Resp> {
    let malformed = || {
        ctx.err(
            401,
            "invalid_client",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let d = jwt::decode(assertion).ok_or_else(malformed)?;
    let x5t256 = jwt::str_claim(&d.header, "x5t#S256");
    let x5t = jwt::str_claim(&d.header, "x5t");
    if x5t256.is_some() || x5t.is_some() {
        return verify_certificate_assertion(ctx, &d, x5t256, x5t);
    }
    if jwt::str_claim(&d.header, "kid") == Some(ctx.shared.key.kid()) {
        return verify_federated_assertion(ctx, &d);
    }
    let iss = jwt::str_claim(&d.claims, "iss").unwrap_or_default();
    if !iss.eq_ignore_ascii_case(&ctx.app.client_id) && !iss.is_empty() {
        return Err(ctx.err(
            400,
            "invalid_request",
            700211,
            &format!("No matching federated identity record found for presented assertion issuer '{iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. {FIC_DOCS}"),
        ));
    }
    Err(ctx.err(
        401,
        "invalid_client",
        700027,
        &format!("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", ctx.app.client_id),
    ))
}

fn verify_certificate_assertion(
    ctx: &Ctx<'_>,
    d: &jwt::Decoded,
    x5t256: Option<&str>,
    x5t: Option<&str>,
) -> Result<(), Resp> {
    let want256 = x5t256.and_then(util::b64url_decode);
    let want1 = x5t.and_then(util::b64url_decode);
    let presented = want256
        .as_ref()
        .or(want1.as_ref())
        .map(|b| util::hex(b).to_uppercase())
        .unwrap_or_default();
    let cert = ctx
        .app
        .certificates
        .iter()
        .filter_map(|pem| cert::parse_certificate_bytes(pem.as_bytes()))
        .find(|c| {
            want256.as_deref() == Some(c.sha256.as_slice())
                || (want256.is_none() && want1.as_deref() == Some(c.sha1.as_slice()))
        });
    let key_error = |reason: &str| {
        ctx.err(
            401,
            "invalid_client",
            700027,
            &format!(
                "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{presented}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                ctx.app.client_id
            ),
        )
    };
    let Some(cert) = cert else {
        return Err(key_error("The key was not found."));
    };
    let alg = jwt::str_claim(&d.header, "alg").unwrap_or_default();
    if alg != "RS256" && alg != "PS256" {
        return Err(ctx.err(
            401,
            "invalid_client",
            5002738,
            &format!("Invalid JWT token. '{alg}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'"),
        ));
    }
    if ctx.now < cert.not_before || ctx.now > cert.not_after {
        return Err(key_error(&format!(
            "The key used is expired., Found key 'Start={}, End={}'",
            util::entra_timestamp(cert.not_before),
            util::entra_timestamp(cert.not_after)
        )));
    }
    let pk = cert.rsa_public_key.as_deref().unwrap_or_default();
    if !jwt::verify_rsa(alg, pk, d.signing_input.as_bytes(), &d.signature) {
        return Err(key_error(&format!(
            "The provided signature value did not match the expected signature value., Found key 'Start={}, End={}'",
            util::entra_timestamp(cert.not_before),
            util::entra_timestamp(cert.not_after)
        )));
    }
    let claims = &d.claims;
    let aud_ok = {
        let accepted = accepted_audiences(ctx);
        jwt::audiences(claims).iter().any(|a| {
            accepted.iter().any(|x| {
                x.trim_end_matches('/')
                    .eq_ignore_ascii_case(a.trim_end_matches('/'))
            })
        })
    };
    if !aud_ok {
        return Err(ctx.err(
            401,
            "invalid_client",
            700023,
            &format!("Client assertion audience claim does not match Realm issuer. {CERT_DOCS}"),
        ));
    }
    let iss = jwt::str_claim(claims, "iss").unwrap_or_default();
    let sub = jwt::str_claim(claims, "sub").unwrap_or_default();
    if !iss.eq_ignore_ascii_case(&ctx.app.client_id)
        || !sub.eq_ignore_ascii_case(&ctx.app.client_id)
    {
        return Err(ctx.err(401, "invalid_client", 700021, &format!("Client assertion application identifier doesn't match 'client_id' parameter. {CERT_DOCS}")));
    }
    let skew = ctx.settings.assertion_clock_skew_secs;
    if jwt::check_times(claims, ctx.now, skew).is_err() {
        return Err(time_range_error(ctx, claims));
    }
    let Some(jti) = jwt::str_claim(claims, "jti").filter(|j| !j.is_empty()) else {
        return Err(ctx.err(
            401,
            "invalid_client",
            700020,
            &format!("Client assertion is missing the required 'jti' claim. {CERT_DOCS}"),
        ));
    };
    let exp = jwt::num_claim(claims, "exp").unwrap_or(ctx.now);
    let mut flows = lock(&ctx.shared.flows);
    flows.seen_jti.retain(|_, e| *e + skew > ctx.now);
    let key = (ctx.app.client_id.to_ascii_lowercase(), jti.to_owned());
    if ctx.settings.reject_assertion_replay && flows.seen_jti.contains_key(&key) {
        return Err(ctx.err(401, "invalid_client", 700025, &format!("Client assertion with jti '{jti}' has already been used. A client assertion can be presented only once. {CERT_DOCS}")));
    }
    flows.seen_jti.insert(key, exp);
    Ok(())
}

fn verify_federated_assertion(ctx: &Ctx<'_>, d: &jwt::Decoded) -> Result<(), Resp> {
    if ctx.shared.key.verify_decoded(d).is_err() {
        return Err(ctx.err(401, "invalid_client", 700027, "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]"));
    }
    let claims = &d.claims;
    if jwt::check_times(claims, ctx.now, ctx.settings.assertion_clock_skew_secs).is_err() {
        return Err(time_range_error(ctx, claims));
    }
    let iss = jwt::str_claim(claims, "iss").unwrap_or_default();
    let sub = jwt::str_claim(claims, "sub").unwrap_or_default();
    let auds = jwt::audiences(claims);
    let by_issuer: Vec<_> = ctx
        .app
        .federated_credentials
        .iter()
        .filter(|f| f.issuer == iss)
        .collect();
    if by_issuer.is_empty() {
        return Err(ctx.err(
            400,
            "invalid_request",
            700211,
            &format!("No matching federated identity record found for presented assertion issuer '{iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. {FIC_DOCS}"),
        ));
    }
    let by_subject: Vec<_> = by_issuer.into_iter().filter(|f| f.subject == sub).collect();
    if by_subject.is_empty() {
        return Err(ctx.err(
            400,
            "invalid_request",
            70021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'. {FIC_DOCS}",
                auds.join(",")
            ),
        ));
    }
    if !by_subject
        .iter()
        .any(|f| f.effective_audiences().iter().any(|a| auds.contains(a)))
    {
        return Err(ctx.err(
            400,
            "invalid_request",
            700212,
            &format!(
                "No matching federated identity record found for presented assertion audience '{}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. {FIC_DOCS}",
                auds.join(",")
            ),
        ));
    }
    Ok(())
}

fn scopes_or_error(ctx: &Ctx<'_>, scope: Option<&str>) -> Result<Scopes, Resp> {
    let Some(scope) = scope.filter(|s| !s.trim().is_empty()) else {
        return Err(missing(ctx.shared, ctx.req, "scope"));
    };
    parse_scopes(scope).map_err(|(code, desc)| {
        let error = if code == 900144 {
            "invalid_request"
        } else {
            "invalid_scope"
        };
        ctx.err(400, error, code, &desc)
    })
}

fn client_credentials(ctx: &Ctx<'_>) -> Result<Resp, Resp> {
    let acr = authenticate(ctx, true)?;
    let scope = ctx.req.form("scope");
    let scopes = scopes_or_error(ctx, scope)?;
    if !scopes.default {
        return Err(ctx.err(
            400,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                scope.unwrap_or_default()
            ),
        ));
    }
    let lifetime = ctx.settings.token_lifetime_secs;
    let at =
        ctx.shared
            .mint_app_token(&ctx.app, &ctx.tid, &scopes.resource, acr, ctx.now, lifetime);
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": at,
    });
    if let Some(r) = ctx.settings.refresh_in_secs {
        body["refresh_in"] = json!(r);
    }
    Ok(ok_json(ctx.req, &body))
}

/// Issues the tokens of a user flow.
fn user_tokens(
    ctx: &Ctx<'_>,
    user: &User,
    scopes: &Scopes,
    acr: &str,
    nonce: Option<&str>,
    always_refresh: bool,
) -> Resp {
    let lifetime = ctx.settings.token_lifetime_secs;
    let tid = user.tenant_id.clone();
    let at = ctx.shared.mint_user_token(
        user,
        &ctx.app.client_id,
        &tid,
        scopes,
        acr,
        ctx.now,
        lifetime,
    );
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scopes.response_scope(),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": at,
    });
    if always_refresh || scopes.reserved.iter().any(|s| s == "offline_access") {
        let rt = format!("1.{}", util::random_token(48));
        lock(&ctx.shared.flows).refresh_tokens.insert(
            rt.clone(),
            RefreshGrant {
                client_id: ctx.app.client_id.clone(),
                username: user.username.clone(),
                expires_at: ctx.now + ctx.settings.refresh_token_lifetime_secs as i64,
            },
        );
        body["refresh_token"] = json!(rt);
    }
    if scopes.reserved.iter().any(|s| s == "openid") {
        body["id_token"] =
            json!(
                ctx.shared
                    .mint_id_token(user, &ctx.app.client_id, &tid, nonce, ctx.now)
            );
    }
    if ctx.req.form("client_info") == Some("1") {
        body["client_info"] = json!(state::client_info(user, &tid));
    }
    if let Some(r) = ctx.settings.refresh_in_secs {
        body["refresh_in"] = json!(r);
    }
    ok_json(ctx.req, &body)
}

fn invalid_grant(ctx: &Ctx<'_>, code: u32, description: &str) -> Resp {
    ctx.err(400, "invalid_grant", code, description)
}

fn find_user(ctx: &Ctx<'_>, username: &str) -> Result<User, Resp> {
    ctx.registry
        .user(username)
        .cloned()
        .ok_or_else(|| invalid_grant(ctx, 50034, &format!("The user account {username} does not exist in the directory. To sign into this application, the account must be added to the directory.")))
}

fn authorization_code(ctx: &Ctx<'_>) -> Result<Resp, Resp> {
    let Some(code) = ctx.req.form_nonempty("code") else {
        return Err(missing(ctx.shared, ctx.req, "code"));
    };
    let stored = lock(&ctx.shared.flows).auth_codes.get(code).cloned();
    let Some(stored) = stored else {
        return Err(invalid_grant(
            ctx,
            9002313,
            "Invalid request. Request is malformed or invalid.",
        ));
    };
    if stored.redeemed {
        return Err(invalid_grant(
            ctx,
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    if ctx.now >= stored.expires_at {
        return Err(invalid_grant(
            ctx,
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        ));
    }
    if !stored.client_id.eq_ignore_ascii_case(&ctx.app.client_id) {
        return Err(invalid_grant(
            ctx,
            70000,
            "Provided grant is invalid or malformed. The authorization code was issued to a different client.",
        ));
    }
    let redirect = ctx.req.form("redirect_uri").unwrap_or_default();
    if redirect != stored.redirect_uri {
        return Err(invalid_grant(
            ctx,
            500112,
            &format!(
                "The reply address '{redirect}' does not match the reply address '{}' provided when requesting Authorization code.",
                stored.redirect_uri
            ),
        ));
    }
    if let Some((method, challenge)) = &stored.challenge {
        let verifier = ctx.req.form("code_verifier").unwrap_or_default();
        let computed = if method == "S256" {
            util::b64url(&util::sha256(verifier.as_bytes()))
        } else {
            verifier.to_owned()
        };
        if verifier.is_empty() || computed != *challenge {
            return Err(invalid_grant(
                ctx,
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    let acr = authenticate(ctx, !ctx.app.public_client)?;
    let mut scopes = match ctx.req.form("scope").filter(|s| !s.trim().is_empty()) {
        Some(s) => scopes_or_error(ctx, Some(s))?,
        None => scopes_or_error(ctx, Some(&stored.scope))?,
    };
    if let Ok(original) = parse_scopes(&stored.scope) {
        for r in original.reserved {
            if !scopes.reserved.contains(&r) {
                scopes.reserved.push(r);
            }
        }
    }
    let user = find_user(ctx, &stored.username)?;
    if let Some(c) = lock(&ctx.shared.flows).auth_codes.get_mut(code) {
        c.redeemed = true;
    }
    Ok(user_tokens(
        ctx,
        &user,
        &scopes,
        acr,
        stored.nonce.as_deref(),
        false,
    ))
}

fn refresh_token(ctx: &Ctx<'_>) -> Result<Resp, Resp> {
    let Some(rt) = ctx.req.form_nonempty("refresh_token") else {
        return Err(missing(ctx.shared, ctx.req, "refresh_token"));
    };
    let grant = lock(&ctx.shared.flows).refresh_tokens.get(rt).cloned();
    let Some(grant) = grant else {
        return Err(invalid_grant(
            ctx,
            9002313,
            "Invalid request. Request is malformed or invalid.",
        ));
    };
    if ctx.now >= grant.expires_at {
        return Err(invalid_grant(
            ctx,
            700082,
            "The refresh token has expired due to inactivity. The token was issued on an earlier date and was inactive for 90.00:00:00.",
        ));
    }
    if !grant.client_id.eq_ignore_ascii_case(&ctx.app.client_id) {
        return Err(invalid_grant(
            ctx,
            70000,
            "Provided grant is invalid or malformed. The refresh token was issued to a different client.",
        ));
    }
    let acr = authenticate(ctx, !ctx.app.public_client)?;
    let scopes = scopes_or_error(ctx, ctx.req.form("scope"))?;
    let user = find_user(ctx, &grant.username)?;
    Ok(user_tokens(ctx, &user, &scopes, acr, None, true))
}

fn device_code_poll(ctx: &Ctx<'_>) -> Result<Resp, Resp> {
    let Some(code) = ctx
        .req
        .form_nonempty("device_code")
        .or_else(|| ctx.req.form_nonempty("code"))
    else {
        return Err(missing(ctx.shared, ctx.req, "device_code"));
    };
    let s = ctx.settings.device_code.clone();
    let decision = {
        let mut flows = lock(&ctx.shared.flows);
        let Some(flow) = flows.device_codes.get_mut(code) else {
            return Err(ctx.err(
                400,
                "bad_verification_code",
                70000,
                "Provided grant is invalid or malformed. The device code is not valid.",
            ));
        };
        if !flow.client_id.eq_ignore_ascii_case(&ctx.app.client_id) {
            return Err(ctx.err(400, "bad_verification_code", 70000, "Provided grant is invalid or malformed. The device code was issued to a different client."));
        }
        if flow.completed {
            return Err(invalid_grant(
                ctx,
                54005,
                "OAuth2 device code was already redeemed.",
            ));
        }
        flow.polls += 1;
        let n = flow.polls;
        if ctx.now >= flow.expires_at {
            Err((
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            ))
        } else if let Some(user) = flow.approved_by.clone() {
            flow.completed = true;
            Ok((user, flow.scope.clone()))
        } else if n <= s.slow_down_polls {
            Err((
                "slow_down",
                70016,
                "OAuth 2.0 device flow error. The client is polling too frequently. Slow down and continue polling.",
            ))
        } else if n <= s.slow_down_polls + s.pending_polls {
            Err((
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            ))
        } else {
            match s.outcome {
                DeviceCodeOutcome::Approve => {
                    flow.completed = true;
                    let tenant = flow.tenant_id.clone();
                    let user = ctx
                        .registry
                        .users
                        .iter()
                        .find(|u| u.tenant_id.eq_ignore_ascii_case(&tenant))
                        .or(ctx.registry.users.first())
                        .map(|u| u.username.clone())
                        .unwrap_or_default();
                    Ok((user, flow.scope.clone()))
                }
                DeviceCodeOutcome::Decline => Err((
                    "authorization_declined",
                    70000,
                    "The user has declined to authorize the request.",
                )),
                DeviceCodeOutcome::Expire => Err((
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
                )),
                DeviceCodeOutcome::Manual => Err((
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )),
            }
        }
    };
    match decision {
        Err((error, code, desc)) => Err(ctx.err(400, error, code, desc)),
        Ok((username, scope)) => {
            let user = find_user(ctx, &username)?;
            let scopes = scopes_or_error(ctx, Some(&scope))?;
            Ok(user_tokens(ctx, &user, &scopes, "0", None, false))
        }
    }
}

fn on_behalf_of(ctx: &Ctx<'_>) -> Result<Resp, Resp> {
    if ctx.req.form("requested_token_use") != Some("on_behalf_of") {
        return Err(ctx.err(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'requested_token_use'.",
        ));
    }
    let acr = authenticate(ctx, true)?;
    let Some(assertion) = ctx.req.form_nonempty("assertion") else {
        return Err(missing(ctx.shared, ctx.req, "assertion"));
    };
    let Some(d) = jwt::decode(assertion) else {
        return Err(invalid_grant(
            ctx,
            50027,
            "JWT token is invalid or malformed.",
        ));
    };
    if let Err(e) = ctx.shared.key.verify_decoded(&d) {
        let reason = if e == OwnTokenError::NotOurs {
            "The key was not found."
        } else {
            "The provided signature value did not match the expected signature value."
        };
        return Err(invalid_grant(
            ctx,
            50013,
            &format!("Assertion failed signature validation. [Reason - {reason}]"),
        ));
    }
    if jwt::check_times(&d.claims, ctx.now, 0).is_err() {
        return Err(invalid_grant(
            ctx,
            500133,
            &format!(
                "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: {}, expiry time of assertion {}.",
                util::entra_timestamp(ctx.now),
                jwt::num_claim(&d.claims, "exp")
                    .map(util::entra_timestamp)
                    .unwrap_or_default()
            ),
        ));
    }
    let aud = jwt::audiences(&d.claims)
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut expected = vec![
        ctx.app.client_id.clone(),
        format!("api://{}", ctx.app.client_id),
    ];
    expected.extend(ctx.app.identifier_uris.iter().cloned());
    if !expected.iter().any(|e| e.eq_ignore_ascii_case(&aud)) {
        return Err(invalid_grant(
            ctx,
            50013,
            &format!(
                "Assertion failed signature validation. [Reason - Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '{aud}' and the expected audience is '{}' or one of the Application Id URIs of this application with App ID '{}'({}).]",
                ctx.app.client_id, ctx.app.client_id, ctx.app.display_name
            ),
        ));
    }
    if jwt::str_claim(&d.claims, "idtyp") != Some("user") {
        return Err(invalid_grant(
            ctx,
            50013,
            "Assertion failed signature validation. [Reason - The assertion is not a user token.]",
        ));
    }
    let oid = jwt::str_claim(&d.claims, "oid").unwrap_or_default();
    let Some(user) = ctx
        .registry
        .users
        .iter()
        .find(|u| u.effective_object_id().eq_ignore_ascii_case(oid))
        .cloned()
    else {
        return Err(invalid_grant(
            ctx,
            50034,
            "The user account does not exist in the directory.",
        ));
    };
    let scopes = scopes_or_error(ctx, ctx.req.form("scope"))?;
    Ok(user_tokens(ctx, &user, &scopes, acr, None, false))
}

fn password(ctx: &Ctx<'_>) -> Result<Resp, Resp> {
    let Some(username) = ctx.req.form_nonempty("username") else {
        return Err(missing(ctx.shared, ctx.req, "username"));
    };
    let password = ctx.req.form("password").unwrap_or_default();
    let acr = authenticate(ctx, !ctx.app.public_client)?;
    let user = ctx
        .registry
        .user(username)
        .filter(|u| !u.password.is_empty() && u.password == password)
        .cloned();
    let Some(user) = user else {
        return Err(invalid_grant(
            ctx,
            50126,
            "Error validating credentials due to invalid username or password.",
        ));
    };
    let scopes = scopes_or_error(ctx, ctx.req.form("scope"))?;
    Ok(user_tokens(ctx, &user, &scopes, acr, None, false))
}

// ---------------------------------------------------------------------------------------------
// Device code and /devicelogin

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) fn device_code(shared: &Shared, req: &Req, segment: &str) -> Resp {
    if req.method != "POST" {
        return entra_error(
            shared,
            req,
            400,
            "invalid_request",
            900561,
            &format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {} request.",
                req.method
            ),
        );
    }
    let registry = lock(&shared.registry).clone();
    if resolve_tenant(&registry, segment).is_none() {
        return entra_error(
            shared,
            req,
            400,
            "invalid_request",
            90002,
            &tenant_not_found(segment),
        );
    }
    let Some(client_id) = req.form_nonempty("client_id") else {
        return missing(shared, req, "client_id");
    };
    let Some(app) = registry.app(client_id).cloned() else {
        return entra_error(
            shared,
            req,
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{segment}'."
            ),
        );
    };
    if !app.public_client {
        return entra_error(
            shared,
            req,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let Some(scope) = req.form_nonempty("scope") else {
        return missing(shared, req, "scope");
    };
    if let Err((code, desc)) = parse_scopes(scope) {
        return entra_error(shared, req, 400, "invalid_scope", code, &desc);
    }
    let settings = shared.settings();
    let now = shared.now();
    let device_code = format!("DAQABIQEAAA{}", util::random_token(96));
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let user_code: String = util::random_bytes(9)
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    let uri = format!("{}/devicelogin", shared.entra_base);
    lock(&shared.flows).device_codes.insert(
        device_code.clone(),
        DeviceFlow {
            client_id: app.client_id.clone(),
            scope: scope.to_owned(),
            tenant_id: app.tenant_id.clone(),
            user_code: user_code.clone(),
            expires_at: now + settings.device_code.expires_in_secs as i64,
            polls: 0,
            approved_by: None,
            completed: false,
        },
    );
    ok_json(
        req,
        &json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": settings.device_code.expires_in_secs,
            "interval": settings.device_code.interval_secs,
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
        }),
    )
}

/// Marks the device code with this user code as approved by `username` (the first user when
/// `None`). Returns whether a pending code was found.
pub(crate) fn approve_device_code(
    shared: &Shared,
    user_code: &str,
    username: Option<&str>,
) -> bool {
    let registry = lock(&shared.registry).clone();
    let mut flows = lock(&shared.flows);
    let Some(flow) = flows
        .device_codes
        .values_mut()
        .find(|f| f.user_code.eq_ignore_ascii_case(user_code.trim()) && !f.completed)
    else {
        return false;
    };
    let user = match username {
        Some(u) => registry.user(u).map(|u| u.username.clone()),
        None => registry
            .users
            .iter()
            .find(|u| u.tenant_id.eq_ignore_ascii_case(&flow.tenant_id))
            .or(registry.users.first())
            .map(|u| u.username.clone()),
    };
    match user {
        Some(u) => {
            flow.approved_by = Some(u);
            true
        }
        None => false,
    }
}

/// `GET|POST /devicelogin[?user_code=…]`: what a user does in the browser.
pub(crate) fn device_login(shared: &Shared, req: &Req) -> Resp {
    match req.param("user_code").filter(|c| !c.is_empty()) {
        None => Resp::html(
            200,
            "<!DOCTYPE html><html><head><title>Enter code</title></head><body><h1>Enter code</h1><form method=\"post\" action=\"/devicelogin\"><input name=\"user_code\" autofocus/><button type=\"submit\">Next</button></form></body></html>".into(),
        ),
        Some(code) => {
            if approve_device_code(shared, code, req.param("username")) {
                Resp::html(200, "<!DOCTYPE html><html><head><title>Signed in</title></head><body><h1>You have signed in to the application on your device.</h1><p>You may now close this window.</p></body></html>".into())
            } else {
                Resp::html(400, format!("<!DOCTYPE html><html><body><h1>AADSTS70000</h1><p>The code '{}' is not valid or has expired.</p></body></html>", util::html_escape(code)))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /authorize

fn redirect_matches(registered: &str, requested: &str) -> bool {
    fn split(u: &str) -> Option<(String, String, Option<String>, String)> {
        let (scheme, rest) = u.split_once("://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p.to_owned())),
            _ => (authority, None),
        };
        let path = if path == "/" { "" } else { path };
        Some((
            scheme.to_ascii_lowercase(),
            host.to_ascii_lowercase(),
            port,
            path.to_owned(),
        ))
    }
    if registered == requested {
        return true;
    }
    let (Some(a), Some(b)) = (split(registered), split(requested)) else {
        return false;
    };
    let loopback = a.0 == "http" && (a.1 == "localhost" || a.1 == "127.0.0.1");
    a.0 == b.0 && a.1 == b.1 && a.3 == b.3 && (loopback || a.2 == b.2)
}

fn redirect_response(redirect_uri: &str, mode: &str, params: &[(&str, String)]) -> Resp {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match mode {
        "form_post" => {
            let inputs: String = params
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\" />",
                        util::html_escape(k),
                        util::html_escape(v)
                    )
                })
                .collect();
            Resp::html(
                200,
                format!(
                    "<html><head><title>Working...</title></head><body><form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript></form><script language=\"javascript\">document.forms[0].submit();</script></body></html>",
                    util::html_escape(redirect_uri)
                ),
            )
        }
        "fragment" => Resp::raw(302, "text/html; charset=utf-8", Vec::new()).with_header(
            "location",
            &format!("{redirect_uri}#{}", util::encode_form(pairs)),
        ),
        _ => {
            let sep = if redirect_uri.contains('?') { '&' } else { '?' };
            Resp::raw(302, "text/html; charset=utf-8", Vec::new()).with_header(
                "location",
                &format!("{redirect_uri}{sep}{}", util::encode_form(pairs)),
            )
        }
    }
}

fn authorize_error_page(code: u32, message: &str) -> Resp {
    Resp::html(
        400,
        format!(
            "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><h1>Sorry, but we're having trouble signing you in.</h1><p id=\"error\">AADSTS{code}: {}</p></body></html>",
            util::html_escape(message)
        ),
    )
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize`: answers as a consenting user.
pub(crate) fn authorize(shared: &Shared, req: &Req, segment: &str) -> Resp {
    let registry = lock(&shared.registry).clone();
    let Some(sel) = resolve_tenant(&registry, segment) else {
        return authorize_error_page(90002, &tenant_not_found(segment));
    };
    let Some(client_id) = req.param("client_id").filter(|c| !c.is_empty()) else {
        return authorize_error_page(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(app) = registry.app(client_id).cloned() else {
        return authorize_error_page(
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{segment}'."
            ),
        );
    };
    let redirect_uri = match req.param("redirect_uri").filter(|r| !r.is_empty()) {
        Some(r) => r.to_owned(),
        None => match app.redirect_uris.first() {
            Some(r) => r.clone(),
            None => {
                return authorize_error_page(
                    500113,
                    "No reply address is registered for the application.",
                );
            }
        },
    };
    if !app
        .redirect_uris
        .iter()
        .any(|r| redirect_matches(r, &redirect_uri))
    {
        return authorize_error_page(
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
            ),
        );
    }
    let mode = req.param("response_mode").unwrap_or("query").to_owned();
    let state = req.param("state").map(str::to_owned);
    let fail = |error: &str, code: u32, desc: &str| {
        let mut params = vec![
            ("error", error.to_owned()),
            ("error_description", format!("AADSTS{code}: {desc}")),
        ];
        if let Some(s) = &state {
            params.push(("state", s.clone()));
        }
        redirect_response(&redirect_uri, &mode, &params)
    };
    if req.param("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            700054,
            "response_type must be 'code' for this emulator.",
        );
    }
    let scope = req.param("scope").unwrap_or_default().to_owned();
    if let Err((code, desc)) = parse_scopes(&scope) {
        return fail("invalid_scope", code, &desc);
    }
    let challenge = match req.param("code_challenge").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let method = req.param("code_challenge_method").unwrap_or("plain");
            if method != "S256" && method != "plain" {
                return fail(
                    "invalid_request",
                    501491,
                    "Invalid code_challenge_method. Supported values are 'S256' and 'plain'.",
                );
            }
            Some((method.to_owned(), c.to_owned()))
        }
    };
    let settings = shared.settings();
    if !settings.user_consents {
        return fail(
            "access_denied",
            65004,
            "User declined to consent to access the app.",
        );
    }
    let tenant_filter = match &sel {
        TenantSel::Known(t) => Some(t.tenant_id.clone()),
        TenantSel::Multi(_) => None,
    };
    let user = match req.param("login_hint").filter(|h| !h.is_empty()) {
        Some(hint) => registry.user(hint).cloned(),
        None => registry
            .users
            .iter()
            .find(|u| {
                tenant_filter
                    .as_ref()
                    .is_none_or(|t| u.tenant_id.eq_ignore_ascii_case(t))
            })
            .cloned(),
    };
    let Some(user) = user else {
        return fail(
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        );
    };
    let now = shared.now();
    let code = format!("1.{}", util::random_token(64));
    lock(&shared.flows).auth_codes.insert(
        code.clone(),
        AuthCode {
            client_id: app.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope,
            challenge,
            nonce: req.param("nonce").map(str::to_owned),
            username: user.username.clone(),
            expires_at: now + settings.authorization_code_lifetime_secs as i64,
            redeemed: false,
        },
    );
    let mut params = vec![("code", code)];
    if req.param("client_info") == Some("1") {
        params.push(("client_info", state::client_info(&user, &user.tenant_id)));
    }
    if let Some(s) = &state {
        params.push(("state", s.clone()));
    }
    params.push(("session_state", util::uuid_v4()));
    redirect_response(&redirect_uri, &mode, &params)
}

// ---------------------------------------------------------------------------------------------
// Azure Pipelines OIDC

fn devops(status: u16, body: &Value) -> Resp {
    Resp::json(status, body)
        .with_header("x-vss-e2eid", &util::uuid_v4())
        .with_header(
            "x-msedge-ref",
            &format!(
                "Ref A: {} Ref B: EMU01 Ref C: emulator",
                util::hex(&util::random_bytes(8)).to_uppercase()
            ),
        )
}

fn devops_error(status: u16, type_key: &str, message: &str) -> Resp {
    devops(
        status,
        &json!({
            "$id": "1",
            "innerException": null,
            "message": message,
            "typeName": format!("Microsoft.VisualStudio.Services.WebApi.{type_key}, Microsoft.VisualStudio.Services.WebApi"),
            "typeKey": type_key,
            "errorCode": 0,
            "eventId": 3000,
        }),
    )
}

/// `POST {SYSTEM_OIDCREQUESTURI}?api-version=7.1&serviceConnectionId=…`.
pub(crate) fn pipelines_oidc(shared: &Shared, req: &Req) -> Resp {
    if req.method != "POST" {
        return devops_error(
            405,
            "HttpMethodNotAllowedException",
            &format!(
                "The requested resource does not support http method '{}'.",
                req.method
            ),
        );
    }
    let Some(version) = req.query("api-version") else {
        return devops_error(
            400,
            "VssVersionNotSpecifiedException",
            "No api-version was supplied for the \"POST\" request. The version must be supplied either as part of the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter (e.g. '?api-version=1.0').",
        );
    };
    if !version.starts_with("7.1") && !version.starts_with("7.2") {
        return devops_error(
            400,
            "VssInvalidPreviewVersionException",
            &format!(
                "The requested REST API version of {version} is not supported by this endpoint."
            ),
        );
    }
    let registry = lock(&shared.registry).clone();
    let bearer = req.header("authorization").and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("bearer "))
    });
    let authorized = bearer.is_some_and(|b| {
        registry
            .service_connections
            .iter()
            .any(|c| c.system_access_token == b)
    });
    if !authorized {
        if req
            .header("x-tfs-fedauthredirect")
            .is_some_and(|v| v.eq_ignore_ascii_case("suppress"))
        {
            return devops_error(
                401,
                "UnauthorizedRequestException",
                "TF400813: The user '' is not authorized to access this resource.",
            );
        }
        return Resp::html(203, "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>Sign in to continue.</body></html>".into());
    }
    let Some(id) = req.query("serviceConnectionId").filter(|i| !i.is_empty()) else {
        return devops_error(
            400,
            "ArgumentNullException",
            "Value cannot be null.\r\nParameter name: serviceConnectionId",
        );
    };
    let Some(conn) = registry
        .service_connections
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(id))
    else {
        return devops_error(
            404,
            "ServiceEndpointNotFoundException",
            &format!("Service connection with id '{id}' was not found."),
        );
    };
    let now = shared.now();
    let token = shared.mint_federated_token(
        &conn.issuer(),
        &conn.subject(),
        crate::registry::FEDERATED_TOKEN_AUDIENCE,
        now,
        600,
    );
    devops(200, &json!({"oidcToken": token}))
}

/// `GET /subscriptions` and `GET /tenants`: the little of Azure Resource Manager that `az login`
/// needs. A valid emulator access token is required; there are no subscriptions, and the tenant
/// list holds the token's tenant.
pub(crate) fn resource_manager(shared: &Shared, req: &Req, what: &str) -> Resp {
    let token = req.header("authorization").and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    });
    let claims = match token.map(|t| crate::verify_with(shared, t)) {
        Some(Ok(claims)) => claims,
        _ => {
            return Resp::json(
                401,
                &json!({"error": {"code": "InvalidAuthenticationToken", "message": "The access token is missing or invalid."}}),
            );
        }
    };
    if what == "subscriptions" {
        return Resp::json(200, &json!({"value": []}));
    }
    let tid = claims.tid().unwrap_or_default().to_owned();
    Resp::json(
        200,
        &json!({"value": [{"id": format!("/tenants/{tid}"), "tenantId": tid, "tenantCategory": "Home", "displayName": "Emulator tenant", "defaultDomain": "emulator.onmicrosoft.com"}]}),
    )
}

/// `POST /openai/deployments/{deployment}/chat/completions`: a stand-in for Azure OpenAI that
/// checks the bearer token like the real service does (signature, audience
/// `https://cognitiveservices.azure.com`, a registered tenant, expiry) and echoes the last user
/// message. 401 with `WWW-Authenticate: Bearer error="invalid_token"` otherwise.
pub(crate) fn openai_chat(shared: &Shared, req: &Req, deployment: &str) -> Resp {
    let unauthorized = |why: &str| {
        let mut r = Resp::json(
            401,
            &json!({"error": {"code": "401", "message": format!("Access denied due to invalid subscription key or wrong API endpoint: {why}")}}),
        );
        r.headers.push((
            "WWW-Authenticate".to_owned(),
            format!("Bearer error=\"invalid_token\", error_description=\"{why}\""),
        ));
        r
    };
    if req.method != "POST" {
        return Resp::json(
            405,
            &json!({"error": {"code": "405", "message": "Use POST."}}),
        );
    }
    let token = req.header("authorization").and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    });
    let Some(token) = token else {
        return unauthorized("no bearer token");
    };
    let claims = match crate::verify_with(shared, token) {
        Ok(c) => c,
        Err(_) => return unauthorized("the token is not valid (signature or expiry)"),
    };
    if claims.aud().map(|a| a.trim_end_matches('/')) != Some("https://cognitiveservices.azure.com")
    {
        return unauthorized("the token's audience is not https://cognitiveservices.azure.com");
    }
    let tenant_known = claims
        .tid()
        .is_some_and(|t| lock(&shared.registry).tenant(t).is_some());
    if !tenant_known {
        return unauthorized("the token's tenant is not this resource's");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    Resp::json(
        200,
        &json!({
            "id": format!("chatcmpl-{}", crate::util::random_token(12)),
            "object": "chat.completion",
            "model": deployment,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": format!("(emulated {deployment}) You said: {last}")}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        }),
    )
}

/// GitHub Actions' OIDC token endpoint: `GET …/idtoken?api-version=2.0[&audience=…]` with
/// `Authorization: bearer {request token}` → `{"count": 1, "value": "<jwt>"}`, the JWT signed
/// by the emulator with `iss` = `https://token.actions.githubusercontent.com`, the configured
/// `sub`, and `aud` = the requested audience (GitHub's default: the owner's URL).
pub(crate) fn github_actions_oidc(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return Resp::json(405, &json!({"message": "Method not allowed"}));
    }
    let bearer = req.header("authorization").and_then(|a| {
        a.strip_prefix("bearer ")
            .or_else(|| a.strip_prefix("Bearer "))
    });
    if bearer != Some(crate::registry::DEFAULT_GITHUB_ACTIONS_REQUEST_TOKEN) {
        return Resp::json(
            401,
            &json!({"message": "Bad credentials: the ACTIONS_ID_TOKEN_REQUEST_TOKEN is missing or wrong"}),
        );
    }
    let audience = req
        .query("audience")
        .filter(|a| !a.is_empty())
        .unwrap_or("https://github.com/emulator-org")
        .to_owned();
    let subject = lock(&shared.settings).github_actions_subject.clone();
    let token = shared.mint_federated_token(
        crate::registry::GITHUB_ACTIONS_ISSUER,
        &subject,
        &audience,
        shared.now(),
        300,
    );
    Resp::json(200, &json!({"count": 1, "value": token}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_ignore_the_port() {
        assert!(redirect_matches(
            "http://localhost",
            "http://localhost:8400"
        ));
        assert!(redirect_matches(
            "http://localhost",
            "http://localhost:8400/"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5000/cb"
        ));
        assert!(!redirect_matches(
            "http://localhost",
            "http://localhost:8400/other"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(!redirect_matches("http://localhost", "http://evil.example"));
    }

    #[test]
    fn redirect_modes() {
        let r = redirect_response(
            "http://localhost:1/cb",
            "query",
            &[("code", "a b".into()), ("state", "s".into())],
        );
        assert_eq!(r.status, 302);
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "location" && v == "http://localhost:1/cb?code=a+b&state=s")
        );
        let r = redirect_response(
            "http://localhost:1/cb",
            "form_post",
            &[("code", "<x>".into())],
        );
        assert_eq!(r.status, 200);
        let body = String::from_utf8(r.body).unwrap();
        assert!(
            body.contains("value=\"&lt;x&gt;\"") && body.contains("document.forms[0].submit()")
        );
    }
}
