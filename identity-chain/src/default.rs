//! [`DefaultAzureCredential`] (PROTOCOL.md §8.2): the families compiled in, in Python's order,
//! with `AZURE_TOKEN_CREDENTIALS`, the exclude options and the memory of the winner.

use crate::chained::{ChainMember, ChainedTokenCredential, DEFAULT_HEAD_START, aggregate};
use identity_core::env::{Env, SystemEnv};
use identity_core::transport::TransportOptions;
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, Result, TokenCredential, TokenRequest,
};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const NAME: &str = "DefaultAzureCredential";

/// The members of `DefaultAzureCredential`, in chain order, with their
/// `AZURE_TOKEN_CREDENTIALS` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DefaultMember {
    /// `EnvironmentCredential` (feature `env`).
    Environment,
    /// `WorkloadIdentityCredential` (feature `workload-identity`).
    WorkloadIdentity,
    /// `GitHubActionsCredential` (feature `github-actions`; not in the Python library): a member
    /// only when `ACTIONS_ID_TOKEN_REQUEST_URL`, `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, a client id and
    /// a tenant are all present, so nothing changes elsewhere.
    GitHubActions,
    /// `ManagedIdentityCredential` (feature `managed-identity`).
    ManagedIdentity,
    /// `SharedTokenCacheCredential` (feature `shared-cache`): the account developer tools left
    /// in the shared MSAL cache. Not selectable alone through `AZURE_TOKEN_CREDENTIALS` (only
    /// through `dev`); without the feature it is silently absent, as on Python's unsupported
    /// platforms.
    SharedTokenCache,
    /// `VisualStudioCodeCredential` (feature `dev-tools`; always unavailable here, with the reason).
    VisualStudioCode,
    /// `AzureCliCredential` (feature `dev-tools`).
    AzureCli,
    /// `AzurePowerShellCredential` (feature `dev-tools`).
    AzurePowerShell,
    /// `AzureDeveloperCliCredential` (feature `dev-tools`).
    AzureDeveloperCli,
    /// `InteractiveBrowserCredential` (feature `interactive`; excluded unless asked for; it
    /// starts only after every member ahead of it answered "unavailable").
    InteractiveBrowser,
}

impl DefaultMember {
    /// Every member, in chain order.
    pub const ALL: [DefaultMember; 10] = [
        Self::Environment,
        Self::WorkloadIdentity,
        Self::GitHubActions,
        Self::ManagedIdentity,
        Self::SharedTokenCache,
        Self::VisualStudioCode,
        Self::AzureCli,
        Self::AzurePowerShell,
        Self::AzureDeveloperCli,
        Self::InteractiveBrowser,
    ];

    /// The `AZURE_TOKEN_CREDENTIALS` name (the credential's type name, lower-cased).
    pub fn env_name(self) -> &'static str {
        match self {
            Self::Environment => "environmentcredential",
            Self::WorkloadIdentity => "workloadidentitycredential",
            Self::GitHubActions => "githubactionscredential",
            Self::ManagedIdentity => "managedidentitycredential",
            Self::SharedTokenCache => "sharedtokencachecredential",
            Self::VisualStudioCode => "visualstudiocodecredential",
            Self::AzureCli => "azureclicredential",
            Self::AzurePowerShell => "azurepowershellcredential",
            Self::AzureDeveloperCli => "azuredeveloperclicredential",
            Self::InteractiveBrowser => "interactivebrowsercredential",
        }
    }

    fn is_dev(self) -> bool {
        matches!(
            self,
            Self::SharedTokenCache
                | Self::VisualStudioCode
                | Self::AzureCli
                | Self::AzurePowerShell
                | Self::AzureDeveloperCli
        )
    }

    fn is_prod(self) -> bool {
        matches!(
            self,
            Self::Environment | Self::WorkloadIdentity | Self::ManagedIdentity
        )
    }

    /// Whether `AZURE_TOKEN_CREDENTIALS` may name this member alone.
    fn selectable(self) -> bool {
        self != Self::SharedTokenCache
    }

    fn default_excluded(self) -> bool {
        self == Self::InteractiveBrowser
    }

    /// The Cargo feature of `identity-chain` that compiles this member in, and whether it is on.
    pub fn feature(self) -> (&'static str, bool) {
        match self {
            Self::Environment => ("env", cfg!(feature = "env")),
            Self::WorkloadIdentity => ("workload-identity", cfg!(feature = "workload-identity")),
            Self::GitHubActions => ("github-actions", cfg!(feature = "github-actions")),
            Self::ManagedIdentity => ("managed-identity", cfg!(feature = "managed-identity")),
            Self::SharedTokenCache => ("shared-cache", cfg!(feature = "shared-cache")),
            Self::VisualStudioCode
            | Self::AzureCli
            | Self::AzurePowerShell
            | Self::AzureDeveloperCli => ("dev-tools", cfg!(feature = "dev-tools")),
            Self::InteractiveBrowser => ("interactive", cfg!(feature = "interactive")),
        }
    }
}

/// Options of [`DefaultAzureCredential`]. `exclude`: `Some(true)` leaves a member out,
/// `Some(false)` keeps it in even when `AZURE_TOKEN_CREDENTIALS` would not, `None` follows the
/// environment and the defaults.
#[derive(Clone)]
#[non_exhaustive]
pub struct DefaultAzureCredentialOptions {
    /// Per-member exclusions (see the type's documentation).
    pub exclude: Vec<(DefaultMember, bool)>,
    /// Fail at construction unless `AZURE_TOKEN_CREDENTIALS` is set to a non-blank value.
    pub require_envvar: bool,
    /// The managed identity to use (default: `AZURE_CLIENT_ID` if set, else system-assigned).
    #[cfg(feature = "managed-identity")]
    pub managed_identity: Option<identity_msi::ManagedIdentityId>,
    /// The workload identity's client id (default: the managed identity's client id, else
    /// `AZURE_CLIENT_ID`).
    pub workload_identity_client_id: Option<String>,
    /// The workload identity's tenant (default `AZURE_TENANT_ID`).
    pub workload_identity_tenant_id: Option<String>,
    /// Tenants the tool credentials may be asked for besides their own.
    pub additionally_allowed_tenants: Vec<String>,
    /// Bound on each run of az, azd and pwsh (default 10 s).
    pub process_timeout: Duration,
    /// The authority host for the environment and workload-identity credentials (default
    /// `AZURE_AUTHORITY_HOST`, else the public cloud).
    pub authority_host: Option<String>,
    /// HTTP options (extra root certificates, proxy).
    pub transport_options: TransportOptions,
    /// The environment the credentials read.
    pub env: Arc<dyn Env>,
    /// How long a slow member runs alone before the next starts alongside it.
    pub head_start: Duration,
    /// The tenant of InteractiveBrowserCredential (default `AZURE_TENANT_ID`, else
    /// `organizations`).
    pub interactive_browser_tenant_id: Option<String>,
    /// The client id of InteractiveBrowserCredential (default: the developer sign-on app).
    pub interactive_browser_client_id: Option<String>,
    /// The user name of SharedTokenCacheCredential's account (default `AZURE_USERNAME`).
    pub shared_cache_username: Option<String>,
    /// The home tenant of SharedTokenCacheCredential's account (default `AZURE_TENANT_ID`).
    pub shared_cache_tenant_id: Option<String>,
    /// The IMDS base address, without turning the availability probe off (unlike
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`): for tests and unusual networks.
    pub imds_endpoint: Option<String>,
}

impl Default for DefaultAzureCredentialOptions {
    fn default() -> Self {
        Self {
            exclude: Vec::new(),
            require_envvar: false,
            #[cfg(feature = "managed-identity")]
            managed_identity: None,
            workload_identity_client_id: None,
            workload_identity_tenant_id: None,
            additionally_allowed_tenants: Vec::new(),
            process_timeout: Duration::from_secs(10),
            authority_host: None,
            transport_options: TransportOptions::default(),
            env: Arc::new(SystemEnv),
            head_start: DEFAULT_HEAD_START,
            imds_endpoint: None,
            interactive_browser_tenant_id: None,
            interactive_browser_client_id: None,
            shared_cache_username: None,
            shared_cache_tenant_id: None,
        }
    }
}

impl fmt::Debug for DefaultAzureCredentialOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultAzureCredentialOptions")
            .field("exclude", &self.exclude)
            .field("require_envvar", &self.require_envvar)
            .field("process_timeout", &self.process_timeout)
            .field("authority_host", &self.authority_host)
            .finish_non_exhaustive()
    }
}

impl DefaultAzureCredentialOptions {
    /// Leaves `member` out (`true`) or forces it in (`false`).
    #[must_use]
    pub fn exclude(mut self, member: DefaultMember, excluded: bool) -> Self {
        self.exclude.retain(|(m, _)| *m != member);
        self.exclude.push((member, excluded));
        self
    }

    /// Sets the environment.
    #[must_use]
    pub fn env(mut self, env: Arc<dyn Env>) -> Self {
        self.env = env;
        self
    }

    /// Sets the transport options.
    #[must_use]
    pub fn transport_options(mut self, options: TransportOptions) -> Self {
        self.transport_options = options;
        self
    }

    /// Sets the tool timeout.
    #[must_use]
    pub fn process_timeout(mut self, timeout: Duration) -> Self {
        self.process_timeout = timeout;
        self
    }

    /// Requires `AZURE_TOKEN_CREDENTIALS`.
    #[must_use]
    pub fn require_envvar(mut self, require: bool) -> Self {
        self.require_envvar = require;
        self
    }

    /// Sets the managed identity.
    #[cfg(feature = "managed-identity")]
    #[must_use]
    pub fn managed_identity(mut self, id: identity_msi::ManagedIdentityId) -> Self {
        self.managed_identity = Some(id);
        self
    }
}

/// Which members `AZURE_TOKEN_CREDENTIALS` selects: `None` for all (unset or empty).
pub(crate) fn selection(value: Option<&str>, require: bool) -> Result<Option<Vec<DefaultMember>>> {
    let value = value
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if value.is_empty() {
        if require {
            return Err(Error::invalid_configuration(
                NAME,
                "AZURE_TOKEN_CREDENTIALS environment variable is required but is not set or is empty. Set it to 'dev', 'prod', or a specific credential name.",
            ));
        }
        return Ok(None);
    }
    let members: Vec<DefaultMember> = match value.as_str() {
        "dev" => DefaultMember::ALL
            .into_iter()
            .filter(|m| m.is_dev())
            .collect(),
        "prod" => DefaultMember::ALL
            .into_iter()
            .filter(|m| m.is_prod())
            .collect(),
        name => match DefaultMember::ALL
            .into_iter()
            .find(|m| m.selectable() && m.env_name() == name)
        {
            Some(m) => vec![m],
            None => {
                return Err(Error::invalid_configuration(
                    NAME,
                    format!(
                        "Invalid value for AZURE_TOKEN_CREDENTIALS: {value}. Valid values are: dev, prod, azureclicredential, azuredeveloperclicredential, azurepowershellcredential, environmentcredential, githubactionscredential, interactivebrowsercredential, managedidentitycredential, visualstudiocodecredential, workloadidentitycredential."
                    ),
                ));
            }
        },
    };
    Ok(Some(members))
}

/// The members to build, in order: the selection, the defaults and the explicit exclusions.
pub(crate) fn included(options: &DefaultAzureCredentialOptions) -> Result<Vec<DefaultMember>> {
    let selected = selection(
        options.env.var("AZURE_TOKEN_CREDENTIALS").as_deref(),
        options.require_envvar,
    )?;
    Ok(DefaultMember::ALL
        .into_iter()
        .filter(|m| {
            if let Some((_, excluded)) = options.exclude.iter().find(|(x, _)| x == m) {
                return !excluded;
            }
            match &selected {
                Some(list) => list.contains(m),
                None => !m.default_excluded(),
            }
        })
        .collect())
}

#[cfg(any(
    feature = "workload-identity",
    feature = "managed-identity",
    feature = "shared-cache"
))]
/// A member that could not be built (missing settings): it answers "unavailable" with the
/// construction error, so the chain's error shows it.
#[derive(Debug)]
struct Unbuilt {
    name: &'static str,
    error: String,
}

#[cfg(any(
    feature = "workload-identity",
    feature = "managed-identity",
    feature = "shared-cache"
))]
impl BlockingTokenCredential for Unbuilt {
    fn get_token_blocking(&self, _: &TokenRequest) -> Result<AccessToken> {
        Err(Error::unavailable(self.name, self.error.clone()))
    }
    fn name(&self) -> &'static str {
        self.name
    }
}

#[cfg(any(
    feature = "workload-identity",
    feature = "managed-identity",
    feature = "shared-cache"
))]
impl TokenCredential for Unbuilt {
    fn get_token<'a>(&'a self, r: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move { self.get_token_blocking(r) })
    }
    fn name(&self) -> &'static str {
        self.name
    }
}

#[cfg(any(
    feature = "workload-identity",
    feature = "managed-identity",
    feature = "shared-cache"
))]
fn unbuilt(name: &'static str, error: &Error) -> ChainMember {
    ChainMember::new(Arc::new(Unbuilt {
        name,
        error: error.message().to_owned(),
    }))
}

/// The credential most applications want: environment variables, workload identity, managed
/// identity, then the developer tools, in the order of the Python library (PROTOCOL.md §8.2),
/// with exactly the families compiled in. After a member succeeds, only that member is used.
#[derive(Debug)]
pub struct DefaultAzureCredential {
    chain: ChainedTokenCredential,
    notes: Vec<String>,
    winner: OnceLock<usize>,
}

impl DefaultAzureCredential {
    /// With default options (the process environment).
    pub fn new() -> Result<Self> {
        Self::with_options(DefaultAzureCredentialOptions::default())
    }

    /// With `options`.
    pub fn with_options(options: DefaultAzureCredentialOptions) -> Result<Self> {
        let members = included(&options)?;
        let mut chain = Vec::new();
        let mut notes = Vec::new();
        let mut missing_features: Vec<&str> = Vec::new();
        for member in &members {
            let (feature, on) = member.feature();
            // SharedTokenCache without its feature is absent without a note (Python leaves it
            // out silently where it is unsupported).
            if !on && *member == DefaultMember::SharedTokenCache {
                continue;
            }
            if !on {
                if !missing_features.contains(&feature) {
                    missing_features.push(feature);
                }
                continue;
            }
            chain.extend(build_member(*member, &options)?);
        }
        if !missing_features.is_empty() {
            notes.push(format!(
                "Not compiled in: {} (enable the identity-chain feature{} {} to include {}).",
                missing_features.join(", "),
                if missing_features.len() > 1 { "s" } else { "" },
                missing_features
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing_features.len() > 1 {
                    "them"
                } else {
                    "it"
                }
            ));
        }
        Ok(Self {
            chain: ChainedTokenCredential::from_members(chain).with_head_start(options.head_start),
            notes,
            winner: OnceLock::new(),
        })
    }

    /// The names of the members, in order.
    pub fn members(&self) -> Vec<&'static str> {
        self.chain.members().iter().map(ChainMember::name).collect()
    }

    /// The members themselves, in order (to try them one by one, as `azidentity explain` does).
    pub fn chain_members(&self) -> &[ChainMember] {
        self.chain.members()
    }

    /// The member that answered last time, if any (it is the only one used from then on).
    pub fn selected(&self) -> Option<&'static str> {
        self.winner.get().map(|i| self.chain.members()[*i].name())
    }

    fn no_member(&self) -> Error {
        aggregate(NAME, Vec::new(), &self.notes)
    }
}

/// Builds one member; `None` when its family is not compiled in.
#[allow(unused_variables, unreachable_code, unreachable_patterns)]
fn build_member(
    member: DefaultMember,
    options: &DefaultAzureCredentialOptions,
) -> Result<Option<ChainMember>> {
    let built = match member {
        #[cfg(feature = "env")]
        DefaultMember::Environment => {
            let mut b = identity_service_principal::EnvironmentCredential::builder()
                .env(options.env.clone())
                .transport_options(options.transport_options.clone());
            if let Some(a) = &options.authority_host {
                b = b.authority_host(a.clone());
            }
            ChainMember::new(Arc::new(b.build()?))
        }
        #[cfg(feature = "workload-identity")]
        DefaultMember::WorkloadIdentity => {
            let mut b = identity_service_principal::WorkloadIdentityCredential::builder()
                .env(options.env.clone())
                .transport_options(options.transport_options.clone());
            #[allow(unused_mut)]
            let mut client_id = options.workload_identity_client_id.clone();
            #[cfg(feature = "managed-identity")]
            if client_id.is_none()
                && let Some(identity_msi::ManagedIdentityId::ClientId(c)) =
                    &options.managed_identity
            {
                client_id = Some(c.clone());
            }
            if let Some(c) = client_id {
                b = b.client_id(c);
            }
            if let Some(t) = &options.workload_identity_tenant_id {
                b = b.tenant_id(t.clone());
            }
            if let Some(a) = &options.authority_host {
                b = b.authority_host(a.clone());
            }
            match b.build() {
                Ok(c) => ChainMember::new(Arc::new(c)),
                Err(e) => unbuilt("WorkloadIdentityCredential", &e),
            }
        }
        #[cfg(feature = "github-actions")]
        DefaultMember::GitHubActions => {
            use identity_service_principal::{
                ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL,
            };
            let env = &options.env;
            let present = [
                ACTIONS_ID_TOKEN_REQUEST_URL,
                ACTIONS_ID_TOKEN_REQUEST_TOKEN,
                "AZURE_CLIENT_ID",
                "AZURE_TENANT_ID",
            ]
            .iter()
            .all(|v| env.non_empty(v).is_some());
            if !present {
                return Ok(None);
            }
            let mut b = identity_service_principal::GitHubActionsCredential::builder()
                .env(options.env.clone())
                .transport_options(options.transport_options.clone());
            if let Some(a) = &options.authority_host {
                b = b.authority_host(a.clone());
            }
            ChainMember::new(Arc::new(b.build()?))
        }
        #[cfg(feature = "managed-identity")]
        DefaultMember::ManagedIdentity => {
            let only_mi = options
                .env
                .var("AZURE_TOKEN_CREDENTIALS")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("managedidentitycredential"));
            let mut b = identity_msi::ManagedIdentityCredential::builder()
                .env(options.env.clone())
                .transport_options(options.transport_options.clone())
                .imds_probe(!only_mi);
            if let Some(id) = &options.managed_identity {
                b = b.identity(id.clone());
            }
            if let Some(base) = &options.imds_endpoint {
                b = b.imds_endpoint(base.clone());
            }
            match b.build() {
                Ok(c) => ChainMember::new(Arc::new(c)),
                Err(e) => unbuilt("ManagedIdentityCredential", &e),
            }
        }
        #[cfg(feature = "shared-cache")]
        DefaultMember::SharedTokenCache => {
            let mut b = identity_interactive::SharedTokenCacheCredential::builder()
                .env(options.env.clone())
                .transport_options(options.transport_options.clone())
                .within_default_azure_credential(true);
            if let Some(u) = options
                .shared_cache_username
                .clone()
                .or_else(|| options.env.non_empty("AZURE_USERNAME"))
            {
                b = b.username(u);
            }
            if let Some(t) = options
                .shared_cache_tenant_id
                .clone()
                .or_else(|| options.env.non_empty("AZURE_TENANT_ID"))
            {
                b = b.tenant_id(t);
            }
            if let Some(a) = &options.authority_host {
                b = b.authority_host(a.clone());
            }
            match b.build() {
                Ok(c) => ChainMember::new(Arc::new(c)),
                Err(e) => unbuilt("SharedTokenCacheCredential", &e),
            }
        }
        #[cfg(feature = "interactive")]
        DefaultMember::InteractiveBrowser => {
            let mut b = identity_interactive::InteractiveBrowserCredential::builder()
                .env(options.env.clone())
                .transport_options(options.transport_options.clone());
            if let Some(t) = options
                .interactive_browser_tenant_id
                .clone()
                .or_else(|| options.env.non_empty("AZURE_TENANT_ID"))
            {
                b = b.tenant_id(t);
            }
            if let Some(c) = &options.interactive_browser_client_id {
                b = b.client_id(c.clone());
            }
            if let Some(a) = &options.authority_host {
                b = b.authority_host(a.clone());
            }
            ChainMember::new(Arc::new(b.build()?)).exclusive()
        }
        #[cfg(feature = "dev-tools")]
        DefaultMember::VisualStudioCode => ChainMember::new(Arc::new(
            identity_dev_tools::VisualStudioCodeCredential::new(options.env.clone()),
        )),
        #[cfg(feature = "dev-tools")]
        DefaultMember::AzureCli
        | DefaultMember::AzurePowerShell
        | DefaultMember::AzureDeveloperCli => {
            let mut o = identity_dev_tools::DevToolOptions::default();
            o.env = options.env.clone();
            o.process_timeout = options.process_timeout;
            o.additionally_allowed_tenants = options.additionally_allowed_tenants.clone();
            o.within_default_chain = true;
            match member {
                DefaultMember::AzureCli => {
                    ChainMember::new(Arc::new(identity_dev_tools::AzureCliCredential::new(o)?))
                }
                DefaultMember::AzurePowerShell => ChainMember::new(Arc::new(
                    identity_dev_tools::AzurePowerShellCredential::new(o)?,
                )),
                _ => ChainMember::new(Arc::new(
                    identity_dev_tools::AzureDeveloperCliCredential::new(o)?,
                )),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(built))
}

impl TokenCredential for DefaultAzureCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            if let Some(i) = self.winner.get() {
                let member = &self.chain.members()[*i];
                return match member.async_credential() {
                    Some(c) => c.get_token(request).await,
                    None => Err(Error::unavailable(member.name(), "no async form")),
                };
            }
            if self.chain.members().is_empty() {
                return Err(self.no_member());
            }
            match self.chain.run(request).await {
                Ok((i, token)) => {
                    let _ = self.winner.set(i);
                    tracing::info!(
                        "{NAME} acquired a token from {}",
                        self.chain.members()[i].name()
                    );
                    Ok(token)
                }
                Err(attempts) => Err(aggregate(NAME, attempts, &self.notes)),
            }
        })
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl BlockingTokenCredential for DefaultAzureCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        if let Some(i) = self.winner.get() {
            let member = &self.chain.members()[*i];
            return match member.blocking_credential() {
                Some(c) => c.get_token_blocking(request),
                None => Err(Error::unavailable(member.name(), "no blocking form")),
            };
        }
        if self.chain.members().is_empty() {
            return Err(self.no_member());
        }
        match self.chain.run_blocking(request) {
            Ok((i, token)) => {
                let _ = self.winner.set(i);
                tracing::info!(
                    "{NAME} acquired a token from {}",
                    self.chain.members()[i].name()
                );
                Ok(token)
            }
            Err(attempts) => Err(aggregate(NAME, attempts, &self.notes)),
        }
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::env::MapEnv;

    fn names(
        env: &[(&str, &str)],
        options: DefaultAzureCredentialOptions,
    ) -> Result<Vec<&'static str>> {
        let env: MapEnv = env.iter().map(|(k, v)| (*k, *v)).collect();
        let options = options.env(Arc::new(env));
        Ok(included(&options)?
            .into_iter()
            .map(DefaultMember::env_name)
            .collect())
    }

    #[test]
    fn token_credentials_selection() {
        let all = names(&[], DefaultAzureCredentialOptions::default()).unwrap();
        assert_eq!(all.len(), 9);
        assert_eq!(all[4], "sharedtokencachecredential");
        assert!(!all.contains(&"interactivebrowsercredential"));
        assert_eq!(
            names(
                &[("AZURE_TOKEN_CREDENTIALS", " Dev ")],
                DefaultAzureCredentialOptions::default()
            )
            .unwrap(),
            [
                "sharedtokencachecredential",
                "visualstudiocodecredential",
                "azureclicredential",
                "azurepowershellcredential",
                "azuredeveloperclicredential"
            ]
        );
        assert_eq!(
            names(
                &[("AZURE_TOKEN_CREDENTIALS", "prod")],
                DefaultAzureCredentialOptions::default()
            )
            .unwrap(),
            [
                "environmentcredential",
                "workloadidentitycredential",
                "managedidentitycredential"
            ]
        );
        assert_eq!(
            names(
                &[("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")],
                DefaultAzureCredentialOptions::default()
            )
            .unwrap(),
            ["azureclicredential"]
        );
        let e = names(
            &[("AZURE_TOKEN_CREDENTIALS", " Nope ")],
            DefaultAzureCredentialOptions::default(),
        )
        .unwrap_err();
        assert!(e.message().starts_with("Invalid value for AZURE_TOKEN_CREDENTIALS: nope. Valid values are: dev, prod, azureclicredential,"));
        // SharedTokenCacheCredential cannot be selected alone.
        let e = names(
            &[("AZURE_TOKEN_CREDENTIALS", "sharedtokencachecredential")],
            DefaultAzureCredentialOptions::default(),
        )
        .unwrap_err();
        assert!(
            e.message().starts_with(
                "Invalid value for AZURE_TOKEN_CREDENTIALS: sharedtokencachecredential."
            )
        );
        // Explicit exclusions override, both ways.
        let opts = DefaultAzureCredentialOptions::default().exclude(DefaultMember::AzureCli, false);
        assert_eq!(
            names(&[("AZURE_TOKEN_CREDENTIALS", "prod")], opts).unwrap(),
            [
                "environmentcredential",
                "workloadidentitycredential",
                "managedidentitycredential",
                "azureclicredential"
            ]
        );
        let opts = DefaultAzureCredentialOptions::default()
            .exclude(DefaultMember::Environment, true)
            .exclude(DefaultMember::InteractiveBrowser, false);
        let n = names(&[], opts).unwrap();
        assert_eq!(n.first(), Some(&"workloadidentitycredential"));
        assert_eq!(n.last(), Some(&"interactivebrowsercredential"));
        // require_envvar.
        for value in [None, Some(""), Some("   ")] {
            let env: Vec<(&str, &str)> = value
                .map(|v| vec![("AZURE_TOKEN_CREDENTIALS", v)])
                .unwrap_or_default();
            let e = names(
                &env,
                DefaultAzureCredentialOptions::default().require_envvar(true),
            )
            .unwrap_err();
            assert_eq!(
                e.message(),
                "AZURE_TOKEN_CREDENTIALS environment variable is required but is not set or is empty. Set it to 'dev', 'prod', or a specific credential name."
            );
        }
    }
}
