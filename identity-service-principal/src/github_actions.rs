//! [`GitHubActionsCredential`]: keyless sign-in from GitHub Actions. The job's OIDC token
//! (`permissions: id-token: write`) is fetched from GitHub for each Entra request and used as
//! the client assertion of a client-credentials request (PROTOCOL.md §5.3) for an app
//! registration or user-assigned managed identity that trusts GitHub's issuer.

use crate::client::{
    AuthContext, AuthSource, ClientAuthValue, ClientConfig, ConfidentialClient, GrantKind,
    log_result, percent_encode,
};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::protocol::entra::decode_jwt_claims_unverified;
use identity_core::protocol::scrub::scrub;
use identity_core::retry::RetryPolicy;
use identity_core::{
    AccessToken, BoxFuture, Error, Request, Response, Result, Secret, TokenRequest,
};
use std::fmt;
use std::sync::Mutex;

const NAME: &str = "GitHubActionsCredential";

/// The variable holding the job's OIDC token request URL.
pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The variable holding the bearer token for that request.
pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";
/// The audience Entra expects in federated tokens (public cloud; configurable).
pub(crate) const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The GitHub token request: `GET {url}&audience={audience}` (the URL already carries a query).
pub(crate) fn github_token_request(url: &str, audience: &str, request_token: &Secret) -> Request {
    let separator = if url.contains('?') { '&' } else { '?' };
    Request::get(format!(
        "{url}{separator}audience={}",
        percent_encode(audience)
    ))
    .header(
        "Authorization",
        format!("bearer {}", request_token.secret()),
    )
    .header("Accept", "application/json")
}

/// Reads GitHub's answer: `{"count": N, "value": "<JWT>"}`.
pub(crate) fn parse_github_response(response: &Response) -> Result<Secret> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    match (response.status, body.get("value").and_then(|v| v.as_str())) {
        (200, Some(token)) if !token.is_empty() => Ok(Secret::new(token)),
        (status, _) => {
            // Quote what came back, without any token in it.
            let shown = match body {
                serde_json::Value::Object(mut map) => {
                    if map.contains_key("value") {
                        map.insert("value".to_owned(), serde_json::Value::from("****"));
                    }
                    scrub(&serde_json::Value::Object(map).to_string(), 500)
                }
                _ => scrub(&response.text(), 500),
            };
            Err(Error::authentication(
                NAME,
                format!(
                    "GitHub's OIDC token endpoint answered HTTP {status} without a token: {shown}. Check that the job has `permissions: id-token: write`."
                ),
            )
            .with_status(status))
        }
    }
}

/// The `iss` and `sub` of a GitHub token (decoded locally; never the token).
fn issuer_and_subject(token: &Secret) -> Option<(String, String)> {
    let claims = decode_jwt_claims_unverified(token.secret())?;
    let get = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    Some((get("iss"), get("sub")))
}

fn missing_variables(env: &dyn identity_core::env::Env) -> Option<Error> {
    let missing: Vec<&str> = [ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN]
        .into_iter()
        .filter(|v| env.non_empty(v).is_none())
        .collect();
    (!missing.is_empty()).then(|| {
        Error::unavailable(
            NAME,
            format!(
                "GitHubActionsCredential authentication unavailable: {} not set. It works in a GitHub Actions job whose workflow grants `permissions: id-token: write`.",
                missing.join(" and ")
            ),
        )
    })
}

struct GitHubAuth {
    audience: String,
    /// The `iss` and `sub` of the last GitHub token, to explain an AADSTS70021.
    last_claims: Mutex<Option<(String, String)>>,
}

impl fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubAuth")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl GitHubAuth {
    fn request(&self, cx: &AuthContext<'_>) -> Result<Request> {
        let env = &*cx.transport.env;
        if let Some(e) = missing_variables(env) {
            return Err(e);
        }
        let url = env.var(ACTIONS_ID_TOKEN_REQUEST_URL).unwrap_or_default();
        let token = Secret::new(env.var(ACTIONS_ID_TOKEN_REQUEST_TOKEN).unwrap_or_default());
        Ok(github_token_request(&url, &self.audience, &token))
    }

    fn accept(&self, response: &Response) -> Result<ClientAuthValue> {
        let token = parse_github_response(response)?;
        *self.last_claims.lock().unwrap_or_else(|e| e.into_inner()) = issuer_and_subject(&token);
        Ok(ClientAuthValue::Assertion(token))
    }
}

impl AuthSource for GitHubAuth {
    fn blocking(&self, cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        let request = self.request(cx)?;
        let response = cx
            .transport
            .blocking()?
            .send(request, &RetryPolicy::default())
            .map_err(|e| Error::transport(NAME, e))?;
        self.accept(&response)
    }

    fn future<'a>(&'a self, cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>> {
        Box::pin(async move {
            let request = self.request(cx)?;
            let response = cx
                .transport
                .asynchronous()?
                .send(request, &RetryPolicy::default())
                .await
                .map_err(|e| Error::transport(NAME, e))?;
            self.accept(&response)
        })
    }
}

/// Signs in from a GitHub Actions job without a secret and without `az`: the job's OIDC token
/// is the client assertion for `AZURE_CLIENT_ID` in `AZURE_TENANT_ID` (options override both).
/// A fresh GitHub token is fetched for each Entra request; only the access token is cached.
///
/// The workflow needs `permissions: id-token: write`, and the app registration (or
/// user-assigned managed identity) a federated credential with issuer
/// `https://token.actions.githubusercontent.com`, audience `api://AzureADTokenExchange` and the
/// job's subject, e.g. `repo:ORG/REPO:ref:refs/heads/main`:
///
/// ```yaml
/// permissions:
///   id-token: write
///   contents: read
/// jobs:
///   deploy:
///     runs-on: ubuntu-latest
///     env:
///       AZURE_CLIENT_ID: ${{ vars.AZURE_CLIENT_ID }}
///       AZURE_TENANT_ID: ${{ vars.AZURE_TENANT_ID }}
///     steps:
///       - uses: actions/checkout@v4
///       - run: cargo run --release
/// ```
///
/// ```no_run
/// use identity_core::BlockingTokenCredential;
/// use identity_service_principal::GitHubActionsCredential;
/// let credential = GitHubActionsCredential::builder().build()?;
/// let token = credential.get_token_blocking(&"https://management.azure.com/.default".into())?;
/// # Ok::<(), identity_core::Error>(())
/// ```
pub struct GitHubActionsCredential {
    client: ConfidentialClient,
    auth: std::sync::Arc<GitHubAuth>,
    client_id: String,
}

impl GitHubActionsCredential {
    /// A builder.
    pub fn builder() -> GitHubActionsCredentialBuilder {
        GitHubActionsCredentialBuilder::default()
    }

    fn check(&self, request: &TokenRequest) -> Result<()> {
        if let Some(error) = missing_variables(&*self.client.transport.env) {
            let _span = identity_core::protocol::entra::token_span(
                NAME,
                request.scopes(),
                request.tenant_id(),
            )
            .entered();
            let result: Result<AccessToken> = Err(missing_variables(&*self.client.transport.env)
                .unwrap_or_else(|| Error::unavailable(NAME, "")));
            log_result(NAME, &result);
            return Err(error);
        }
        Ok(())
    }

    /// Explains AADSTS70021 (no matching federated identity record) with the presented token's
    /// issuer and subject.
    fn explain(&self, error: Error) -> Error {
        if !error.aadsts_codes().contains(&70021) {
            return error;
        }
        let claims = self
            .auth
            .last_claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some((iss, sub)) = claims else {
            return error;
        };
        let message = format!(
            "{} The GitHub token presented has issuer '{iss}' and subject '{sub}'. Add a federated credential with exactly that issuer and subject, and audience '{}', to the app registration or managed identity {} (subjects look like repo:ORG/REPO:ref:refs/heads/main, repo:ORG/REPO:environment:NAME or repo:ORG/REPO:pull_request).",
            error.message(),
            self.auth.audience,
            self.client_id
        );
        let mut e = Error::authentication(NAME, message)
            .with_oauth_error(
                error.error_code().map(str::to_owned),
                error.aadsts_codes().to_vec(),
            )
            .with_correlation_id(error.correlation_id().map(str::to_owned));
        if let Some(status) = error.status() {
            e = e.with_status(status);
        }
        e
    }
}

impl identity_core::BlockingTokenCredential for GitHubActionsCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        self.check(request)?;
        self.client
            .get_token_blocking(request)
            .map_err(|e| self.explain(e))
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl identity_core::TokenCredential for GitHubActionsCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            self.check(request)?;
            self.client
                .get_token_async(request)
                .await
                .map_err(|e| self.explain(e))
        })
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl fmt::Debug for GitHubActionsCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.client, f)
    }
}

/// Builds a [`GitHubActionsCredential`].
#[derive(Debug, Default)]
#[must_use]
pub struct GitHubActionsCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    audience: Option<String>,
    options: CredentialOptions,
}

impl GitHubActionsCredentialBuilder {
    /// The tenant (default `AZURE_TENANT_ID`).
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The app registration's or managed identity's client id (default `AZURE_CLIENT_ID`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The audience asked of GitHub (default `api://AzureADTokenExchange`; sovereign clouds
    /// use their own, e.g. `api://AzureADTokenExchangeUSGov`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    common_builder_methods!();

    /// Builds the credential. Missing tenant or client id is a configuration error naming the
    /// variable; missing GitHub variables make `get_token` answer "unavailable".
    pub fn build(self) -> Result<GitHubActionsCredential> {
        let env = self.options.env.clone();
        let tenant = self
            .tenant_id
            .clone()
            .or_else(|| env.non_empty("AZURE_TENANT_ID"));
        let client_id = self
            .client_id
            .clone()
            .or_else(|| env.non_empty("AZURE_CLIENT_ID"));
        let missing: Vec<&str> = [
            ("tenant_id (AZURE_TENANT_ID)", tenant.is_none()),
            ("client_id (AZURE_CLIENT_ID)", client_id.is_none()),
        ]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect();
        if !missing.is_empty() {
            return Err(Error::invalid_configuration(
                NAME,
                format!(
                    "GitHubActionsCredential is missing {}: set them in the workflow's env (e.g. from repository variables).",
                    missing.join(" and ")
                ),
            ));
        }
        let client_id = client_id.unwrap_or_default();
        let config = ClientConfig::new(
            NAME,
            tenant.as_deref().unwrap_or(""),
            &client_id,
            &self.options,
        )?;
        let auth = std::sync::Arc::new(GitHubAuth {
            audience: self.audience.unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
            last_claims: Mutex::new(None),
        });
        Ok(GitHubActionsCredential {
            client: ConfidentialClient::new(
                config,
                GrantKind::ClientCredentials,
                0,
                Box::new(SharedAuth(auth.clone())),
                &self.options,
            )?,
            auth,
            client_id,
        })
    }
}

/// The auth source shared between the client and the credential (which reads its last claims).
#[derive(Debug)]
struct SharedAuth(std::sync::Arc<GitHubAuth>);

impl AuthSource for SharedAuth {
    fn blocking(&self, cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        self.0.blocking(cx)
    }
    fn future<'a>(&'a self, cx: &'a AuthContext<'a>) -> BoxFuture<'a, Result<ClientAuthValue>> {
        self.0.future(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape() {
        let r = github_token_request(
            "https://pipelines.actions.githubusercontent.com/x/_apis/pipelines/workflows/1/idtoken?api-version=2.0",
            "api://AzureADTokenExchange",
            &Secret::new("req-token"),
        );
        assert_eq!(
            r.url,
            "https://pipelines.actions.githubusercontent.com/x/_apis/pipelines/workflows/1/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange"
        );
        assert_eq!(r.headers.get("authorization"), Some("bearer req-token"));
        assert_eq!(r.headers.get("accept"), Some("application/json"));
        assert!(
            github_token_request("https://h/idtoken", "a", &Secret::new("t"))
                .url
                .ends_with("/idtoken?audience=a")
        );
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_github_response(&Response::new(200, r#"{"count":1,"value":"a.b.c"}"#))
                .unwrap()
                .secret(),
            "a.b.c"
        );
        let e = parse_github_response(&Response::new(200, r#"{"count":0}"#)).unwrap_err();
        assert!(e.message().contains("id-token: write"));
        let e = parse_github_response(&Response::new(
            403,
            r#"{"message":"forbidden","value":"leak"}"#,
        ))
        .unwrap_err();
        assert_eq!(e.status(), Some(403));
        assert!(e.message().contains("forbidden"));
        assert!(!e.message().contains("leak"));
    }

    #[test]
    fn missing_variables_name_themselves() {
        use identity_core::env::MapEnv;
        let e = missing_variables(&MapEnv::new()).unwrap();
        assert!(e.kind().chain_continues());
        assert!(
            e.message().contains(
                "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN not set"
            )
        );
        let env = MapEnv::new().with(ACTIONS_ID_TOKEN_REQUEST_URL, "u");
        assert!(
            missing_variables(&env)
                .unwrap()
                .message()
                .contains("ACTIONS_ID_TOKEN_REQUEST_TOKEN not set")
        );
        let env = env.with(ACTIONS_ID_TOKEN_REQUEST_TOKEN, "t");
        assert!(missing_variables(&env).is_none());
    }
}
