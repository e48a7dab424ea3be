//! The directory the emulator serves: tenants, app registrations, users, managed identities and
//! Azure Pipelines service connections. Also the well-known default registry.

use serde::{Deserialize, Serialize};

/// The default tenant's id.
pub const DEFAULT_TENANT_ID: &str = "7e1e7e1e-0000-4000-8000-000000000001";
/// The default tenant's domain name (accepted in place of the tenant id in URLs).
pub const DEFAULT_TENANT_DOMAIN: &str = "emulator.onmicrosoft.com";
/// The default (confidential) app's client id.
pub const DEFAULT_CLIENT_ID: &str = "c1e7c1e7-0000-4000-8000-000000000002";
/// The default app's client secret. Public and well known: emulator use only.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-well-known-client-secret~00000000";
/// The default app's service principal object id.
pub const DEFAULT_APP_OBJECT_ID: &str = "c1e7c1e7-0000-4000-8000-0000000000a0";
/// The certificate registered on the default app (PEM). Public and well known: emulator use only.
pub const DEFAULT_APP_CERTIFICATE_PEM: &str = include_str!("../testdata/default-app.cert.pem");
/// The private key (PKCS#8 PEM, RSA 2048) of [`DEFAULT_APP_CERTIFICATE_PEM`]. Public and well
/// known, exactly like Azurite's account key: never trust it outside the emulator.
pub const DEFAULT_APP_PRIVATE_KEY_PEM: &str = include_str!("../testdata/default-app.key.pem");
/// The Azure CLI's public client id, registered as a public client (device code, browser flows).
pub const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// The default user's sign-in name.
pub const DEFAULT_USERNAME: &str = "alice@emulator.onmicrosoft.com";
/// The default user's password (for the deprecated password grant). Well known.
pub const DEFAULT_USER_PASSWORD: &str = "emulator-well-known-password";
/// The default user's object id.
pub const DEFAULT_USER_OBJECT_ID: &str = "a11ce000-0000-4000-8000-000000000003";
/// The system-assigned managed identity's client id.
pub const SYSTEM_ASSIGNED_CLIENT_ID: &str = "5a5a5a5a-0000-4000-8000-000000000004";
/// The system-assigned managed identity's object (principal) id.
pub const SYSTEM_ASSIGNED_OBJECT_ID: &str = "5a5a5a5a-0000-4000-8000-000000000005";
/// The resource the system-assigned identity belongs to.
pub const SYSTEM_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/emulator/providers/Microsoft.Compute/virtualMachines/emulator-vm";
/// The user-assigned managed identity's client id.
pub const USER_ASSIGNED_CLIENT_ID: &str = "0a550000-0000-4000-8000-000000000006";
/// The user-assigned managed identity's object (principal) id.
pub const USER_ASSIGNED_OBJECT_ID: &str = "0a550000-0000-4000-8000-000000000007";
/// The user-assigned managed identity's resource id.
pub const USER_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/emulator-identity";
/// The default Azure Pipelines service connection id.
pub const DEFAULT_SERVICE_CONNECTION_ID: &str = "5c000000-0000-4000-8000-000000000008";
/// The default Azure Pipelines system access token (`System.AccessToken`). Well known.
pub const DEFAULT_SYSTEM_ACCESS_TOKEN: &str = "emulator-well-known-system-access-token";
/// The default Azure DevOps organization id (its OIDC issuer is `https://vstoken.dev.azure.com/{id}`).
pub const DEFAULT_DEVOPS_ORGANIZATION_ID: &str = "0c000000-0000-4000-8000-000000000009";
/// The issuer of the default Kubernetes-style federated tokens.
pub const DEFAULT_WORKLOAD_ISSUER: &str =
    "https://kubernetes.emulator.invalid/7e1e7e1e-0000-4000-8000-000000000001/";
/// The subject of the default Kubernetes-style federated tokens.
pub const DEFAULT_WORKLOAD_SUBJECT: &str = "system:serviceaccount:default:workload-identity-sa";
/// GitHub Actions' OIDC token issuer.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The subject of the emulated GitHub Actions job's tokens (a push to main).
pub const DEFAULT_GITHUB_ACTIONS_SUBJECT: &str =
    "repo:emulator-org/emulator-repo:ref:refs/heads/main";
/// The emulated job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. Well known.
pub const DEFAULT_GITHUB_ACTIONS_REQUEST_TOKEN: &str = "emulator-well-known-actions-request-token";
/// The audience Entra expects in federated tokens.
pub const FEDERATED_TOKEN_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The emulator's directory. Also the format of the `--config` JSON file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Registry {
    /// Tenants (directories).
    pub tenants: Vec<Tenant>,
    /// App registrations (with their service principals).
    pub apps: Vec<App>,
    /// Users.
    pub users: Vec<User>,
    /// Managed identities (system- and user-assigned).
    pub managed_identities: Vec<ManagedIdentity>,
    /// Azure Pipelines service connections.
    pub service_connections: Vec<ServiceConnection>,
}

/// A tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tenant {
    /// The tenant (directory) id, a GUID.
    pub tenant_id: String,
    /// Domain names accepted in place of the id (e.g. `contoso.onmicrosoft.com`).
    pub domains: Vec<String>,
    /// Display name, used in error messages.
    pub display_name: String,
}

/// An app registration and its service principal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct App {
    /// Application (client) id.
    pub client_id: String,
    /// Home tenant id.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// Service principal object id (the `oid` of app tokens); derived from the client id when empty.
    pub object_id: String,
    /// Client secrets.
    pub secrets: Vec<String>,
    /// Certificates (PEM, one certificate each) whose keys may sign client assertions.
    pub certificates: Vec<String>,
    /// Federated identity credentials (workload identity, Azure Pipelines).
    pub federated_credentials: Vec<FederatedCredential>,
    /// Redirect URIs. `http://localhost` and `http://127.0.0.1` match any port, as in Entra.
    pub redirect_uris: Vec<String>,
    /// Application id URIs (`api://…`) accepted as audiences of tokens for this app.
    pub identifier_uris: Vec<String>,
    /// A public client: user flows need no client authentication.
    pub public_client: bool,
}

/// A federated identity credential on an app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FederatedCredential {
    /// The exact `iss` of accepted tokens.
    pub issuer: String,
    /// The exact `sub` of accepted tokens.
    pub subject: String,
    /// Accepted audiences; empty means `api://AzureADTokenExchange`.
    pub audiences: Vec<String>,
}

/// A user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// Sign-in name (`preferred_username`).
    pub username: String,
    /// Object id (`oid`); derived from the username when empty.
    pub object_id: String,
    /// Home tenant id.
    pub tenant_id: String,
    /// Display name (`name`).
    pub display_name: String,
    /// Password, for the deprecated password grant.
    pub password: String,
}

/// System- or user-assigned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The identity of the compute resource itself (at most one is used: the first registered).
    #[default]
    SystemAssigned,
    /// An identity attached to the resource, selected by client id, object id or resource id.
    UserAssigned,
}

/// A managed identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagedIdentity {
    /// System- or user-assigned.
    pub kind: IdentityKind,
    /// Client (application) id.
    pub client_id: String,
    /// Object (principal) id.
    pub object_id: String,
    /// Azure resource id.
    pub resource_id: String,
    /// Tenant id; the first tenant when empty.
    pub tenant_id: String,
}

/// An Azure Pipelines service connection that can hand out OIDC tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConnection {
    /// The service connection id (`serviceConnectionId` query parameter).
    pub id: String,
    /// The `System.AccessToken` that must be presented as `Authorization: Bearer …`.
    pub system_access_token: String,
    /// Organization name.
    pub organization: String,
    /// Organization id (the token issuer is `https://vstoken.dev.azure.com/{organization_id}`).
    pub organization_id: String,
    /// Project name.
    pub project: String,
    /// Service connection name.
    pub name: String,
}

impl ServiceConnection {
    /// The `iss` of this connection's OIDC tokens.
    pub fn issuer(&self) -> String {
        format!("https://vstoken.dev.azure.com/{}", self.organization_id)
    }

    /// The `sub` of this connection's OIDC tokens: `sc://{organization}/{project}/{name}`.
    pub fn subject(&self) -> String {
        format!("sc://{}/{}/{}", self.organization, self.project, self.name)
    }
}

impl App {
    /// The service principal object id (explicit, or derived from the client id).
    pub fn effective_object_id(&self) -> String {
        if self.object_id.is_empty() {
            crate::util::uuid_from_name(&format!("sp:{}", self.client_id))
        } else {
            self.object_id.clone()
        }
    }

    /// Whether the app can authenticate itself (secrets, certificates or federated credentials).
    pub fn is_confidential(&self) -> bool {
        !self.secrets.is_empty()
            || !self.certificates.is_empty()
            || !self.federated_credentials.is_empty()
    }
}

impl User {
    /// The object id (explicit, or derived from the username).
    pub fn effective_object_id(&self) -> String {
        if self.object_id.is_empty() {
            crate::util::uuid_from_name(&format!("user:{}", self.username))
        } else {
            self.object_id.clone()
        }
    }
}

impl FederatedCredential {
    /// The accepted audiences (the default one when none is listed).
    pub fn effective_audiences(&self) -> Vec<String> {
        if self.audiences.is_empty() {
            vec![FEDERATED_TOKEN_AUDIENCE.to_owned()]
        } else {
            self.audiences.clone()
        }
    }
}

impl Registry {
    /// An empty registry.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The well-known default registry: one tenant, one confidential app (secret, certificate,
    /// federated credentials for the default pipeline connection and workload identity), the
    /// Azure CLI public client, one user, one system- and one user-assigned managed identity and
    /// one Azure Pipelines service connection.
    pub fn well_known() -> Self {
        let connection = ServiceConnection {
            id: DEFAULT_SERVICE_CONNECTION_ID.into(),
            system_access_token: DEFAULT_SYSTEM_ACCESS_TOKEN.into(),
            organization: "emulator-org".into(),
            organization_id: DEFAULT_DEVOPS_ORGANIZATION_ID.into(),
            project: "emulator-project".into(),
            name: "emulator-connection".into(),
        };
        Self {
            tenants: vec![Tenant {
                tenant_id: DEFAULT_TENANT_ID.into(),
                domains: vec![DEFAULT_TENANT_DOMAIN.into()],
                display_name: "Emulator Tenant".into(),
            }],
            apps: vec![
                App {
                    client_id: DEFAULT_CLIENT_ID.into(),
                    tenant_id: DEFAULT_TENANT_ID.into(),
                    display_name: "Emulator App".into(),
                    object_id: DEFAULT_APP_OBJECT_ID.into(),
                    secrets: vec![DEFAULT_CLIENT_SECRET.into()],
                    certificates: vec![DEFAULT_APP_CERTIFICATE_PEM.into()],
                    federated_credentials: vec![
                        FederatedCredential {
                            issuer: connection.issuer(),
                            subject: connection.subject(),
                            audiences: vec![],
                        },
                        FederatedCredential {
                            issuer: DEFAULT_WORKLOAD_ISSUER.into(),
                            subject: DEFAULT_WORKLOAD_SUBJECT.into(),
                            audiences: vec![],
                        },
                        FederatedCredential {
                            issuer: GITHUB_ACTIONS_ISSUER.into(),
                            subject: DEFAULT_GITHUB_ACTIONS_SUBJECT.into(),
                            audiences: vec![],
                        },
                    ],
                    redirect_uris: vec![
                        "http://localhost".into(),
                        "https://localhost/callback".into(),
                    ],
                    identifier_uris: vec![format!("api://{DEFAULT_CLIENT_ID}")],
                    public_client: false,
                },
                App {
                    client_id: AZURE_CLI_CLIENT_ID.into(),
                    tenant_id: DEFAULT_TENANT_ID.into(),
                    display_name: "Microsoft Azure CLI (emulated)".into(),
                    object_id: String::new(),
                    secrets: vec![],
                    certificates: vec![],
                    federated_credentials: vec![],
                    redirect_uris: vec!["http://localhost".into()],
                    identifier_uris: vec![],
                    public_client: true,
                },
            ],
            users: vec![User {
                username: DEFAULT_USERNAME.into(),
                object_id: DEFAULT_USER_OBJECT_ID.into(),
                tenant_id: DEFAULT_TENANT_ID.into(),
                display_name: "Alice Emulator".into(),
                password: DEFAULT_USER_PASSWORD.into(),
            }],
            managed_identities: vec![
                ManagedIdentity {
                    kind: IdentityKind::SystemAssigned,
                    client_id: SYSTEM_ASSIGNED_CLIENT_ID.into(),
                    object_id: SYSTEM_ASSIGNED_OBJECT_ID.into(),
                    resource_id: SYSTEM_ASSIGNED_RESOURCE_ID.into(),
                    tenant_id: DEFAULT_TENANT_ID.into(),
                },
                ManagedIdentity {
                    kind: IdentityKind::UserAssigned,
                    client_id: USER_ASSIGNED_CLIENT_ID.into(),
                    object_id: USER_ASSIGNED_OBJECT_ID.into(),
                    resource_id: USER_ASSIGNED_RESOURCE_ID.into(),
                    tenant_id: DEFAULT_TENANT_ID.into(),
                },
            ],
            service_connections: vec![connection],
        }
    }

    /// Checks references and certificates; returns a description of the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let tenant_known = |t: &str| {
            self.tenants
                .iter()
                .any(|x| x.tenant_id.eq_ignore_ascii_case(t))
        };
        for t in &self.tenants {
            if t.tenant_id.is_empty() {
                return Err("a tenant has an empty tenant_id".into());
            }
        }
        for app in &self.apps {
            if app.client_id.is_empty() {
                return Err("an app has an empty client_id".into());
            }
            if !tenant_known(&app.tenant_id) {
                return Err(format!(
                    "app {} names unknown tenant '{}'",
                    app.client_id, app.tenant_id
                ));
            }
            for pem in &app.certificates {
                let parsed =
                    crate::cert::parse_certificate_bytes(pem.as_bytes()).ok_or_else(|| {
                        format!("app {}: a certificate could not be parsed", app.client_id)
                    })?;
                if parsed.rsa_public_key.is_none() {
                    return Err(format!(
                        "app {}: certificates must have RSA keys",
                        app.client_id
                    ));
                }
            }
        }
        for u in &self.users {
            if u.username.is_empty() || !tenant_known(&u.tenant_id) {
                return Err(format!(
                    "user '{}' has no username or an unknown tenant",
                    u.username
                ));
            }
        }
        for mi in &self.managed_identities {
            if mi.client_id.is_empty() || mi.object_id.is_empty() {
                return Err("a managed identity needs a client_id and an object_id".into());
            }
            if !mi.tenant_id.is_empty() && !tenant_known(&mi.tenant_id) {
                return Err(format!(
                    "managed identity {} names an unknown tenant",
                    mi.client_id
                ));
            }
        }
        for sc in &self.service_connections {
            if sc.id.is_empty() || sc.system_access_token.is_empty() {
                return Err("a service connection needs an id and a system_access_token".into());
            }
        }
        Ok(())
    }

    /// Finds a tenant by id or domain (case-insensitive).
    pub fn tenant(&self, id_or_domain: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| {
            t.tenant_id.eq_ignore_ascii_case(id_or_domain)
                || t.domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(id_or_domain))
        })
    }

    /// Finds an app by client id (case-insensitive).
    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Finds a user by username (case-insensitive).
    pub fn user(&self, username: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_registry_is_valid_and_round_trips() {
        let r = Registry::well_known();
        r.validate().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        let back: Registry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(r.tenant(DEFAULT_TENANT_DOMAIN).is_some());
        assert!(r.app(&DEFAULT_CLIENT_ID.to_uppercase()).is_some());
    }

    #[test]
    fn validation_catches_bad_references() {
        let mut r = Registry::well_known();
        r.apps[0].tenant_id = "nope".into();
        assert!(r.validate().unwrap_err().contains("unknown tenant"));
        let mut r = Registry::well_known();
        r.apps[0].certificates.push("garbage".into());
        assert!(r.validate().is_err());
    }
}
