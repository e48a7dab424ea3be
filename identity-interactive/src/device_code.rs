//! [`DeviceCodeCredential`] (PROTOCOL.md §5.9).

use crate::core::{FlowContext, PublicClient, UserFlow};
use crate::options::{InteractiveOptions, user_builder_methods};
use crate::protocol::{
    DeviceCodeInfo, DeviceCodeStart, Poll, classify_poll, device_code_request,
    parse_device_code_response,
};
use crate::record::AuthenticationRecord;
use identity_core::protocol::entra::{
    ClientAuth, Grant, TokenRequestParams, TokenResponse, device_code_endpoint, token_request,
};
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, Request, Result, TokenCredential,
    TokenRequest,
};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const NAME: &str = "DeviceCodeCredential";

/// How much `slow_down` adds to the polling interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The callback that shows the user what to do.
type Prompt = Arc<dyn Fn(&DeviceCodeInfo) + Send + Sync>;

/// Signs a user in on another device: the user opens a page, enters a code, and this credential
/// polls until the sign-in completes. For machines without a browser (SSH sessions,
/// containers).
///
/// The prompt callback receives a [`DeviceCodeInfo`]; the default prints its `message` to
/// stderr. Polling follows the service's `interval` (plus 5 s on each `slow_down`) and stops at
/// the code's expiry, at the optional [`timeout`](DeviceCodeCredentialBuilder::timeout), or when
/// the [`CancellationToken`](crate::CancellationToken) is cancelled (or the async future is
/// dropped). After the sign-in, later scopes and tenants are served silently with the refresh
/// token kept in memory.
pub struct DeviceCodeCredential {
    client: PublicClient<DeviceCodeFlow>,
}

/// Builds a [`DeviceCodeCredential`].
#[must_use]
pub struct DeviceCodeCredentialBuilder {
    options: InteractiveOptions,
    prompt: Option<Prompt>,
    timeout: Option<Duration>,
}

impl DeviceCodeCredential {
    /// A builder with the defaults (Azure CLI client id, tenant `organizations`).
    pub fn builder() -> DeviceCodeCredentialBuilder {
        DeviceCodeCredentialBuilder {
            options: InteractiveOptions::default(),
            prompt: None,
            timeout: None,
        }
    }

    /// Signs the user in (silently when possible) for `request` and returns the account.
    pub fn authenticate_blocking(&self, request: &TokenRequest) -> Result<AuthenticationRecord> {
        self.client.authenticate_blocking(request)
    }

    /// Signs the user in (silently when possible) for `request` and returns the account.
    pub async fn authenticate(&self, request: &TokenRequest) -> Result<AuthenticationRecord> {
        self.client.authenticate(request).await
    }

    /// The account signed in (or given at construction), if any.
    pub fn authentication_record(&self) -> Option<AuthenticationRecord> {
        self.client.record()
    }
}

impl DeviceCodeCredentialBuilder {
    user_builder_methods!();

    /// Called once per sign-in with what the user must do (default: print the message to stderr).
    pub fn prompt_callback(
        mut self,
        callback: impl Fn(&DeviceCodeInfo) + Send + Sync + 'static,
    ) -> Self {
        self.prompt = Some(Arc::new(callback));
        self
    }

    /// Stop polling after this long even if the code is still valid.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Builds the credential.
    pub fn build(self) -> Result<DeviceCodeCredential> {
        let flow = DeviceCodeFlow {
            prompt: self
                .prompt
                .unwrap_or_else(|| Arc::new(|info: &DeviceCodeInfo| eprintln!("{}", info.message))),
            timeout: self.timeout,
        };
        Ok(DeviceCodeCredential {
            client: PublicClient::new(NAME, &self.options, flow)?,
        })
    }
}

impl fmt::Debug for DeviceCodeCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeCredentialBuilder")
            .field("options", &self.options)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DeviceCodeCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.client.fmt(f)
    }
}

impl BlockingTokenCredential for DeviceCodeCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        self.client.get_token_blocking(request)
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl TokenCredential for DeviceCodeCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.client.get_token(request))
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

struct DeviceCodeFlow {
    prompt: Prompt,
    timeout: Option<Duration>,
}

impl fmt::Debug for DeviceCodeFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeFlow")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The polling state of one sign-in.
struct Polling {
    start: DeviceCodeStart,
    interval: Duration,
    deadline: SystemTime,
    timed_out_by_user: bool,
}

impl DeviceCodeFlow {
    fn start_request(cx: &FlowContext<'_>) -> Request {
        device_code_request(
            &device_code_endpoint(cx.authority, cx.tenant),
            cx.client_id,
            cx.scope,
            cx.enable_cae,
        )
    }

    fn begin(&self, start: DeviceCodeStart, now: SystemTime) -> Polling {
        let expiry = start.info.expires_on;
        let (deadline, timed_out_by_user) = match self.timeout {
            Some(t) if now + t < expiry => (now + t, true),
            _ => (expiry, false),
        };
        (self.prompt)(&start.info);
        Polling {
            interval: start.interval,
            start,
            deadline,
            timed_out_by_user,
        }
    }

    fn poll_request(cx: &FlowContext<'_>, polling: &Polling) -> Request {
        let endpoint = identity_core::protocol::entra::token_endpoint(cx.authority, cx.tenant);
        token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: cx.client_id,
            grant: Grant::DeviceCode {
                device_code: &polling.start.device_code,
            },
            client_auth: ClientAuth::None,
            scope: cx.scope,
            claims: cx.claims,
            client_info: true,
        })
    }

    /// After a poll: `Ok(Some(token))`, or `Ok(None)` with the wait before the next poll.
    fn after_poll(polling: &mut Polling, poll: Poll) -> Option<TokenResponse> {
        match poll {
            Poll::Token(t) => Some(*t),
            Poll::Pending => None,
            Poll::SlowDown => {
                polling.interval += SLOW_DOWN_STEP;
                None
            }
        }
    }

    fn check(cx: &FlowContext<'_>, polling: &Polling, now: SystemTime) -> Result<()> {
        if cx.cancel.is_cancelled() {
            return Err(Error::authentication(
                cx.name,
                "The device-code sign-in was cancelled (CancellationToken::cancel).",
            ));
        }
        if now >= polling.deadline {
            let why = if polling.timed_out_by_user {
                "the configured timeout elapsed"
            } else {
                "the device code expired"
            };
            return Err(Error::authentication(
                cx.name,
                format!(
                    "Timed out waiting for user to authenticate ({why}). Call get_token again and enter the code at {} sooner, or raise the timeout.",
                    polling.start.info.verification_uri
                ),
            ));
        }
        Ok(())
    }
}

impl UserFlow for DeviceCodeFlow {
    fn grant(&self) -> &'static str {
        "device_code"
    }

    fn sign_in_blocking(&self, cx: &FlowContext<'_>) -> Result<TokenResponse> {
        let t = cx.transport;
        let (response, now) = t.send_blocking(cx.name, Self::start_request(cx))?;
        let start =
            parse_device_code_response(&response, now).map_err(|e| e.with_credential(cx.name))?;
        let mut polling = self.begin(start, now);
        loop {
            Self::check(cx, &polling, t.clock.now())?;
            let (response, now) = t.send_blocking(cx.name, Self::poll_request(cx, &polling))?;
            let poll = classify_poll(&response, now).map_err(|e| e.with_credential(cx.name))?;
            if let Some(token) = Self::after_poll(&mut polling, poll) {
                return Ok(token);
            }
            tracing::debug!(
                interval_secs = polling.interval.as_secs(),
                "device code: waiting for the user"
            );
            t.sleep_blocking(polling.interval, cx.cancel);
        }
    }

    fn sign_in<'a>(&'a self, cx: &'a FlowContext<'a>) -> BoxFuture<'a, Result<TokenResponse>> {
        Box::pin(async move {
            let t = cx.transport;
            let (response, now) = t.send_async(cx.name, Self::start_request(cx)).await?;
            let start = parse_device_code_response(&response, now)
                .map_err(|e| e.with_credential(cx.name))?;
            let mut polling = self.begin(start, now);
            loop {
                Self::check(cx, &polling, t.clock.now())?;
                let (response, now) = t
                    .send_async(cx.name, Self::poll_request(cx, &polling))
                    .await?;
                let poll = classify_poll(&response, now).map_err(|e| e.with_credential(cx.name))?;
                if let Some(token) = Self::after_poll(&mut polling, poll) {
                    return Ok(token);
                }
                tracing::debug!(
                    interval_secs = polling.interval.as_secs(),
                    "device code: waiting for the user"
                );
                t.sleep_async(cx.name, polling.interval, cx.cancel).await?;
            }
        })
    }
}
