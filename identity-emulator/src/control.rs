//! Registry mutation and the HTTP control API under `/_emulator/` on the plain-HTTP listener.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::cert;
use crate::entra;
use crate::model::{Endpoint, Error, Fault, MASK, Settings};
use crate::registry::{
    App, FEDERATED_TOKEN_AUDIENCE, FederatedCredential, ManagedIdentity, Registry,
    ServiceConnection, Tenant, User,
};
use crate::state::{Req, Resp, Shared, lock};
use crate::util;

impl Shared {
    /// Applies `change` to a copy of the registry, validates it, and commits it.
    pub(crate) fn mutate_registry(
        &self,
        change: impl FnOnce(&mut Registry) -> Result<(), String>,
    ) -> Result<(), Error> {
        let mut registry = lock(&self.registry);
        let mut copy = registry.clone();
        change(&mut copy).map_err(Error::InvalidRegistry)?;
        copy.validate().map_err(Error::InvalidRegistry)?;
        *registry = copy;
        Ok(())
    }

    pub(crate) fn add_tenant(&self, tenant: Tenant) -> Result<(), Error> {
        self.mutate_registry(|r| {
            r.tenants
                .retain(|t| !t.tenant_id.eq_ignore_ascii_case(&tenant.tenant_id));
            r.tenants.push(tenant);
            Ok(())
        })
    }

    pub(crate) fn add_app(&self, app: App) -> Result<(), Error> {
        self.mutate_registry(|r| {
            r.apps
                .retain(|a| !a.client_id.eq_ignore_ascii_case(&app.client_id));
            r.apps.push(app);
            Ok(())
        })
    }

    fn with_app(&self, client_id: &str, change: impl FnOnce(&mut App)) -> Result<(), Error> {
        self.mutate_registry(|r| {
            let app = r
                .apps
                .iter_mut()
                .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
                .ok_or_else(|| format!("no app with client id '{client_id}'"))?;
            change(app);
            Ok(())
        })
    }

    pub(crate) fn add_secret(&self, client_id: &str, secret: &str) -> Result<(), Error> {
        if secret.is_empty() {
            return Err(Error::InvalidRegistry(
                "a client secret must not be empty".into(),
            ));
        }
        self.with_app(client_id, |a| a.secrets.push(secret.to_owned()))
    }

    pub(crate) fn add_certificate(&self, client_id: &str, pem_or_der: &[u8]) -> Result<(), Error> {
        let parsed = cert::parse_certificate_bytes(pem_or_der).ok_or_else(|| {
            Error::InvalidRegistry(
                "the certificate could not be parsed (expected PEM or DER X.509)".into(),
            )
        })?;
        let pem = pem_encode("CERTIFICATE", &parsed.der);
        self.with_app(client_id, |a| a.certificates.push(pem))
    }

    pub(crate) fn add_federated_credential(
        &self,
        client_id: &str,
        credential: FederatedCredential,
    ) -> Result<(), Error> {
        if credential.issuer.is_empty() || credential.subject.is_empty() {
            return Err(Error::InvalidRegistry(
                "a federated credential needs an issuer and a subject".into(),
            ));
        }
        self.with_app(client_id, |a| a.federated_credentials.push(credential))
    }

    pub(crate) fn add_user(&self, user: User) -> Result<(), Error> {
        self.mutate_registry(|r| {
            r.users
                .retain(|u| !u.username.eq_ignore_ascii_case(&user.username));
            r.users.push(user);
            Ok(())
        })
    }

    pub(crate) fn add_managed_identity(&self, identity: ManagedIdentity) -> Result<(), Error> {
        self.mutate_registry(|r| {
            r.managed_identities
                .retain(|m| !m.client_id.eq_ignore_ascii_case(&identity.client_id));
            r.managed_identities.push(identity);
            Ok(())
        })
    }

    pub(crate) fn add_service_connection(
        &self,
        connection: ServiceConnection,
    ) -> Result<(), Error> {
        self.mutate_registry(|r| {
            r.service_connections
                .retain(|c| !c.id.eq_ignore_ascii_case(&connection.id));
            r.service_connections.push(connection);
            Ok(())
        })
    }

    pub(crate) fn inject(&self, endpoint: Endpoint, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.faults)
            .entry(endpoint)
            .or_default()
            .extend(faults);
    }

    pub(crate) fn revoke_refresh_tokens(&self) {
        lock(&self.flows).refresh_tokens.clear();
    }
}

/// PEM-encodes DER.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = util::b64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The registry with secrets and passwords masked.
pub(crate) fn masked_registry(registry: &Registry) -> Registry {
    let mut r = registry.clone();
    for a in &mut r.apps {
        for s in &mut a.secrets {
            *s = MASK.to_owned();
        }
    }
    for u in &mut r.users {
        if !u.password.is_empty() {
            u.password = MASK.to_owned();
        }
    }
    for c in &mut r.service_connections {
        c.system_access_token = MASK.to_owned();
    }
    r
}

fn bad_request(message: impl std::fmt::Display) -> Resp {
    Resp::json(400, &json!({"error": message.to_string()}))
}

fn parse<T: DeserializeOwned>(req: &Req) -> Result<T, Resp> {
    serde_json::from_slice(&req.body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

fn done(result: Result<(), Error>) -> Resp {
    match result {
        Ok(()) => Resp::json(200, &json!({"ok": true})),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
struct FaultsBody {
    endpoint: Endpoint,
    faults: Vec<Fault>,
}

#[derive(Deserialize)]
struct SecretBody {
    secret: String,
}

#[derive(Deserialize)]
struct CertificateBody {
    pem: Option<String>,
    der_base64: Option<String>,
}

#[derive(Deserialize)]
struct ApproveBody {
    user_code: String,
    username: Option<String>,
}

#[derive(Deserialize)]
struct FederatedTokenBody {
    issuer: Option<String>,
    subject: Option<String>,
    audience: Option<String>,
    lifetime_secs: Option<u64>,
}

#[derive(Deserialize)]
struct VerifyBody {
    token: String,
}

/// Handles `/_emulator/…`.
pub(crate) fn handle(shared: &Shared, req: &Req) -> Resp {
    let segs: Vec<&str> = req
        .path
        .trim_start_matches('/')
        .split('/')
        .skip(1)
        .collect();
    let result: Result<Resp, Resp> = (|| {
        Ok(match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["info"]) => Resp::json(200, &info(shared)),
            ("GET", ["requests"]) => Resp::json(200, &json!(lock(&shared.log).entries)),
            ("DELETE", ["requests"]) => {
                lock(&shared.log).entries.clear();
                done(Ok(()))
            }
            ("POST", ["faults"]) => {
                let body: FaultsBody = parse(req)?;
                shared.inject(body.endpoint, body.faults);
                done(Ok(()))
            }
            ("DELETE", ["faults"]) => {
                lock(&shared.faults).clear();
                done(Ok(()))
            }
            ("GET", ["registry"]) => {
                Resp::json(200, &json!(masked_registry(&lock(&shared.registry))))
            }
            ("POST", ["tenants"]) => done(shared.add_tenant(parse(req)?)),
            ("POST", ["apps"]) => done(shared.add_app(parse(req)?)),
            ("POST", ["users"]) => done(shared.add_user(parse(req)?)),
            ("POST", ["identities"]) => done(shared.add_managed_identity(parse(req)?)),
            ("POST", ["service-connections"]) => done(shared.add_service_connection(parse(req)?)),
            ("POST", ["apps", id, "secrets"]) => {
                let body: SecretBody = parse(req)?;
                done(shared.add_secret(id, &body.secret))
            }
            ("POST", ["apps", id, "certificates"]) => {
                let body: CertificateBody = parse(req)?;
                let bytes = match (body.pem, body.der_base64) {
                    (Some(p), _) => p.into_bytes(),
                    (None, Some(d)) => util::b64_decode(&d)
                        .ok_or_else(|| bad_request("der_base64 is not valid base64"))?,
                    (None, None) => return Err(bad_request("give 'pem' or 'der_base64'")),
                };
                done(shared.add_certificate(id, &bytes))
            }
            ("POST", ["apps", id, "federated-credentials"]) => {
                done(shared.add_federated_credential(id, parse(req)?))
            }
            ("GET", ["settings"]) => Resp::json(200, &json!(shared.settings())),
            ("PUT", ["settings"]) | ("PATCH", ["settings"]) => {
                let patch: Value = parse(req)?;
                let mut current = json!(shared.settings());
                merge(&mut current, patch);
                let new: Settings = serde_json::from_value(current)
                    .map_err(|e| bad_request(format!("invalid settings: {e}")))?;
                *lock(&shared.settings) = new.clone();
                Resp::json(200, &json!(new))
            }
            ("POST", ["device-codes", "approve"]) => {
                let body: ApproveBody = parse(req)?;
                if entra::approve_device_code(shared, &body.user_code, body.username.as_deref()) {
                    done(Ok(()))
                } else {
                    Resp::json(
                        404,
                        &json!({"error": "no pending device code with that user code"}),
                    )
                }
            }
            ("POST", ["federated-token"]) => {
                let body: FederatedTokenBody = parse(req)?;
                let token = shared.mint_federated_token(
                    body.issuer
                        .as_deref()
                        .unwrap_or(crate::registry::DEFAULT_WORKLOAD_ISSUER),
                    body.subject
                        .as_deref()
                        .unwrap_or(crate::registry::DEFAULT_WORKLOAD_SUBJECT),
                    body.audience.as_deref().unwrap_or(FEDERATED_TOKEN_AUDIENCE),
                    shared.now(),
                    body.lifetime_secs.unwrap_or(3600),
                );
                Resp::json(200, &json!({"token": token}))
            }
            ("POST", ["verify"]) => {
                let body: VerifyBody = parse(req)?;
                match crate::verify_with(shared, &body.token) {
                    Ok(claims) => Resp::json(200, &json!(claims)),
                    Err(e) => Resp::json(401, &json!({"error": e.to_string()})),
                }
            }
            ("POST", ["revoke-refresh-tokens"]) => {
                shared.revoke_refresh_tokens();
                done(Ok(()))
            }
            _ => Resp::json(
                404,
                &json!({"error": format!("no control endpoint {} {}", req.method, req.path)}),
            ),
        })
    })();
    result.unwrap_or_else(|e| e)
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

fn info(shared: &Shared) -> Value {
    json!({
        "authority_host": shared.entra_base,
        "mi_url": shared.mi_base,
        "imds_base": shared.mi_base,
        "app_service_endpoint": format!("{}/msi/token", shared.mi_base),
        "azure_ml_endpoint": format!("{}/azureml/token", shared.mi_base),
        "cloud_shell_endpoint": format!("{}/cloudshell/token", shared.mi_base),
        "arc_identity_endpoint": format!("{}/arc/metadata/identity/oauth2/token", shared.mi_base),
        "arc_key_dir": shared.arc_key_dir.display().to_string(),
        "jwks_uri": format!("{}/common/discovery/v2.0/keys", shared.entra_base),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patches_nested_objects() {
        let mut base = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge(&mut base, json!({"b": {"c": 5}, "e": 6}));
        assert_eq!(base, json!({"a": 1, "b": {"c": 5, "d": 3}, "e": 6}));
    }

    #[test]
    fn pem_round_trip() {
        let der =
            crate::cert::pem_blocks(crate::DEFAULT_APP_CERTIFICATE_PEM, "CERTIFICATE").remove(0);
        let pem = pem_encode("CERTIFICATE", &der);
        assert_eq!(crate::cert::pem_blocks(&pem, "CERTIFICATE")[0], der);
    }
}
