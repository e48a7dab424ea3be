//! [`AzurePipelinesCredential`] (PROTOCOL.md §5.5): the pipeline's OIDC token, fetched for each
//! token request, exchanged as a federated client assertion.

use crate::client::{
    AuthContext, AuthSource, ClientAuthValue, ClientConfig, ConfidentialClient, GrantKind,
    log_result, percent_encode,
};
use crate::options::{CredentialOptions, common_builder_methods};
use identity_core::protocol::scrub::scrub;
use identity_core::retry::RetryPolicy;
use identity_core::{
    AccessToken, BoxFuture, Error, Request, Response, Result, Secret, TokenRequest,
};
use std::fmt;

const NAME: &str = "AzurePipelinesCredential";

/// The variable Azure Pipelines sets to the job's OIDC token endpoint.
pub const SYSTEM_OIDCREQUESTURI: &str = "SYSTEM_OIDCREQUESTURI";

const TROUBLESHOOT: &str =
    "https://aka.ms/azsdk/python/identity/azurepipelinescredential/troubleshoot";

/// The OIDC token request (pure).
pub(crate) fn oidc_request(
    request_uri: &str,
    service_connection_id: &str,
    system_access_token: &Secret,
) -> Request {
    let base = request_uri.trim_end_matches('/');
    Request::post(format!(
        "{base}?api-version=7.1&serviceConnectionId={}",
        percent_encode(service_connection_id)
    ))
    .header("Content-Type", "application/json")
    .header(
        "Authorization",
        format!("Bearer {}", system_access_token.secret()),
    )
    .header("X-TFS-FedAuthRedirect", "Suppress")
}

/// The OIDC token from the response (pure).
pub(crate) fn parse_oidc_response(response: &Response) -> Result<Secret> {
    if response.status != 200 {
        let mut diagnostics = format!("HTTP {}", response.status);
        for h in ["x-vss-e2eid", "x-msedge-ref"] {
            if let Some(v) = response.headers.get(h) {
                diagnostics.push_str(&format!(", {h}: {v}"));
            }
        }
        let body = scrub(&response.text(), 500);
        return Err(Error::authentication(
            NAME,
            format!(
                "Unexpected response from OIDC token endpoint. ({diagnostics}; response: {body}). Check the service connection id and that the job passes System.AccessToken (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)). See {TROUBLESHOOT}"
            ),
        )
        .with_status(response.status));
    }
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    match body.get("oidcToken").and_then(|t| t.as_str()) {
        Some(t) if !t.is_empty() => Ok(Secret::new(t)),
        _ => Err(Error::authentication(
            NAME,
            format!(
                "OIDC token not found in response. (response: {}). See {TROUBLESHOOT}",
                scrub(&response.text(), 500)
            ),
        )),
    }
}

fn missing_request_uri() -> Error {
    Error::unavailable(
        NAME,
        "Missing value for the SYSTEM_OIDCREQUESTURI environment variable. AzurePipelinesCredential is intended for use in Azure Pipelines where the SYSTEM_OIDCREQUESTURI environment variable is set.",
    )
}

struct PipelinesAuth {
    service_connection_id: String,
    system_access_token: Secret,
}

impl fmt::Debug for PipelinesAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelinesAuth")
            .field("service_connection_id", &self.service_connection_id)
            .field("system_access_token", &self.system_access_token)
            .finish()
    }
}

impl PipelinesAuth {
    fn request(&self, cx: &AuthContext<'_>) -> Result<Request> {
        let uri = cx
            .transport
            .env
            .var(SYSTEM_OIDCREQUESTURI)
            .ok_or_else(missing_request_uri)?;
        Ok(oidc_request(
            &uri,
            &self.service_connection_id,
            &self.system_access_token,
        ))
    }
}

impl AuthSource for PipelinesAuth {
    fn blocking(&self, cx: &AuthContext<'_>) -> Result<ClientAuthValue> {
        let request = self.request(cx)?;
        let response = cx
            .transport
            .blocking()?
            .send(request, &RetryPolicy::default())
            .map_err(|e| Error::transport(NAME, e))?;
        parse_oidc_response(&response).map(ClientAuthValue::Assertion)
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
            parse_oidc_response(&response).map(ClientAuthValue::Assertion)
        })
    }
}

/// Authenticates an Azure Pipelines job through a service connection that uses workload
/// identity federation: the job's OIDC token is exchanged for an access token.
///
/// ```no_run
/// use identity_core::{BlockingTokenCredential, Secret};
/// use identity_service_principal::AzurePipelinesCredential;
/// let credential = AzurePipelinesCredential::builder()
///     .tenant_id("72f988bf-86f1-41af-91ab-2d7cd011db47")
///     .client_id("00000000-0000-0000-0000-000000000001")
///     .service_connection_id("5c000000-0000-4000-8000-000000000008")
///     .system_access_token(Secret::new(std::env::var("SYSTEM_ACCESSTOKEN")?))
///     .build()?;
/// let token = credential.get_token_blocking(&"https://vault.azure.net/.default".into())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AzurePipelinesCredential {
    client: ConfidentialClient,
}

impl AzurePipelinesCredential {
    /// A builder.
    pub fn builder() -> AzurePipelinesCredentialBuilder {
        AzurePipelinesCredentialBuilder::default()
    }

    fn check_environment(&self, request: &TokenRequest) -> Result<()> {
        if self
            .client
            .transport
            .env
            .var(SYSTEM_OIDCREQUESTURI)
            .is_none()
        {
            let error = missing_request_uri();
            let _span = identity_core::protocol::entra::token_span(
                NAME,
                request.scopes(),
                request.tenant_id(),
            )
            .entered();
            let result: Result<AccessToken> = Err(missing_request_uri());
            log_result(NAME, &result);
            return Err(error);
        }
        Ok(())
    }
}

impl identity_core::BlockingTokenCredential for AzurePipelinesCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        self.check_environment(request)?;
        self.client.get_token_blocking(request)
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl identity_core::TokenCredential for AzurePipelinesCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        if let Err(e) = self.check_environment(request) {
            return Box::pin(std::future::ready(Err(e)));
        }
        self.client.get_token_async(request)
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl fmt::Debug for AzurePipelinesCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.client, f)
    }
}

/// Builds an [`AzurePipelinesCredential`]; all four settings are required.
#[derive(Debug, Default)]
#[must_use]
pub struct AzurePipelinesCredentialBuilder {
    tenant_id: Option<String>,
    client_id: Option<String>,
    service_connection_id: Option<String>,
    system_access_token: Option<Secret>,
    options: CredentialOptions,
}

impl AzurePipelinesCredentialBuilder {
    /// The tenant id of the service connection.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The client id of the service connection's application.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The service connection's id (its resource id in Azure DevOps).
    pub fn service_connection_id(mut self, id: impl Into<String>) -> Self {
        self.service_connection_id = Some(id.into());
        self
    }

    /// The job's `System.AccessToken`.
    pub fn system_access_token(mut self, token: impl Into<Secret>) -> Self {
        self.system_access_token = Some(token.into());
        self
    }

    common_builder_methods!();

    /// Validates the settings and builds the credential.
    pub fn build(self) -> Result<AzurePipelinesCredential> {
        let missing: Vec<&str> = [
            (
                "tenant_id",
                self.tenant_id.as_deref().is_none_or(str::is_empty),
            ),
            (
                "client_id",
                self.client_id.as_deref().is_none_or(str::is_empty),
            ),
            (
                "service_connection_id",
                self.service_connection_id
                    .as_deref()
                    .is_none_or(str::is_empty),
            ),
            (
                "system_access_token",
                self.system_access_token
                    .as_ref()
                    .is_none_or(Secret::is_empty),
            ),
        ]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect();
        if !missing.is_empty() {
            return Err(Error::invalid_configuration(
                NAME,
                format!(
                    "Missing required arguments: {}. AzurePipelinesCredential needs the tenant id, client id and service connection id of a workload-identity service connection, and the job's System.AccessToken. See {TROUBLESHOOT}",
                    missing.join(", ")
                ),
            ));
        }
        let config = ClientConfig::new(
            NAME,
            self.tenant_id.as_deref().unwrap_or(""),
            self.client_id.as_deref().unwrap_or(""),
            &self.options,
        )?;
        let auth = PipelinesAuth {
            service_connection_id: self.service_connection_id.unwrap_or_default(),
            system_access_token: self.system_access_token.unwrap_or_else(|| Secret::new("")),
        };
        Ok(AzurePipelinesCredential {
            client: ConfidentialClient::new(
                config,
                GrantKind::ClientCredentials,
                0,
                Box::new(auth),
                &self.options,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_request_shape() {
        let r = oidc_request(
            "https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken/",
            "5c000000-0000-4000-8000-000000000008",
            &Secret::new("sat"),
        );
        assert_eq!(
            r.url,
            "https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken?api-version=7.1&serviceConnectionId=5c000000-0000-4000-8000-000000000008"
        );
        assert_eq!(r.method.as_str(), "POST");
        assert!(r.body.is_empty());
        assert_eq!(r.headers.get("content-type"), Some("application/json"));
        assert_eq!(r.headers.get("authorization"), Some("Bearer sat"));
        assert_eq!(r.headers.get("x-tfs-fedauthredirect"), Some("Suppress"));
    }

    #[test]
    fn oidc_responses() {
        let ok = Response::new(200, r#"{"oidcToken":"a.b.c"}"#);
        assert_eq!(parse_oidc_response(&ok).unwrap().secret(), "a.b.c");
        let e = parse_oidc_response(&Response::new(200, r#"{"value":1}"#)).unwrap_err();
        assert!(e.message().starts_with("OIDC token not found in response."));
        let e = parse_oidc_response(
            &Response::new(401, r#"{"message":"denied","oidcToken":"leak"}"#)
                .with_header("x-vss-e2eid", "e2e-1")
                .with_header("x-msedge-ref", "ref-2"),
        )
        .unwrap_err();
        assert_eq!(e.status(), Some(401));
        assert!(
            e.message()
                .starts_with("Unexpected response from OIDC token endpoint.")
        );
        assert!(e.message().contains("x-vss-e2eid: e2e-1"));
        assert!(e.message().contains("x-msedge-ref: ref-2"));
        assert!(e.message().contains("denied"));
        assert!(!e.message().contains("leak"));
    }
}
