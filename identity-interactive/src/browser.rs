//! [`InteractiveBrowserCredential`] (PROTOCOL.md §5.8).

use crate::core::{FlowContext, PublicClient, UserFlow, lock};
use crate::loopback::{Listener, Opener, bind, open_browser};
use crate::options::{CancellationToken, InteractiveOptions, user_builder_methods};
use crate::protocol::{
    AuthorizeParams, Redirect, ResponseMode, anchor_mailbox, authorize_url, id_token_nonce,
    pkce_challenge, pkce_verifier, random_nonce, random_state,
};
use crate::record::AuthenticationRecord;
use identity_core::protocol::entra::{
    ClientAuth, Grant, TokenRequestParams, TokenResponse, authorize_endpoint, token_endpoint,
    token_request,
};
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Error, Request, Result, Secret,
    TokenCredential, TokenRequest,
};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const NAME: &str = "InteractiveBrowserCredential";

/// Signs a user in with the system browser: authorization code with PKCE (S256), a loopback
/// redirect listener, state and nonce checks.
///
/// The browser is `BROWSER` (`:`-separated commands; `%s` stands for the URL, else the URL is
/// the last argument; never run through a shell), else `xdg-open` (with a graphical session),
/// `open` (macOS) or the URL handler (Windows). The command is started and not waited for, so a
/// browser that stays in the foreground does not block the sign-in. With no browser the error
/// says so and suggests [`DeviceCodeCredential`](crate::DeviceCodeCredential).
///
/// The listener binds a random port on 127.0.0.1 and announces `http://localhost:{port}`, or
/// binds the configured [`redirect_uri`](InteractiveBrowserCredentialBuilder::redirect_uri)
/// (`http://host:port`; its path and query are dropped, so register exactly
/// `http://host:port`, or `http://localhost` which Entra matches on any port).
pub struct InteractiveBrowserCredential {
    client: PublicClient<BrowserFlow>,
}

/// Builds an [`InteractiveBrowserCredential`].
#[must_use]
pub struct InteractiveBrowserCredentialBuilder {
    options: InteractiveOptions,
    flow: BrowserFlow,
}

impl InteractiveBrowserCredential {
    /// A builder with the defaults (Azure CLI client id, tenant `organizations`, `form_post`,
    /// `prompt=select_account`, 300 s timeout).
    pub fn builder() -> InteractiveBrowserCredentialBuilder {
        InteractiveBrowserCredentialBuilder {
            options: InteractiveOptions::default(),
            flow: BrowserFlow {
                redirect_uri: None,
                login_hint: None,
                prompt: Some("select_account".to_owned()),
                domain_hint: None,
                response_mode: ResponseMode::FormPost,
                timeout: Duration::from_secs(300),
                env: None,
            },
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

impl InteractiveBrowserCredentialBuilder {
    user_builder_methods!();

    /// The redirect URI: `http://host:port` the listener binds (default: a random port on
    /// 127.0.0.1, announced as `http://localhost:{port}`).
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.flow.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// The user to pre-fill on the sign-in page (`login_hint`).
    pub fn login_hint(mut self, login_hint: impl Into<String>) -> Self {
        self.flow.login_hint = Some(login_hint.into());
        self
    }

    /// The `prompt` parameter (default `select_account`; `login`, `consent`, `none`), or `None`
    /// to send none.
    pub fn prompt(mut self, prompt: Option<String>) -> Self {
        self.flow.prompt = prompt;
        self
    }

    /// The `domain_hint` parameter (`consumers`, `organizations` or a domain).
    pub fn domain_hint(mut self, domain_hint: impl Into<String>) -> Self {
        self.flow.domain_hint = Some(domain_hint.into());
        self
    }

    /// How the code comes back (default [`ResponseMode::FormPost`]).
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.flow.response_mode = mode;
        self
    }

    /// How long to wait for the user (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.flow.timeout = timeout;
        self
    }

    /// Builds the credential. Fails on a redirect URI without a port.
    pub fn build(mut self) -> Result<InteractiveBrowserCredential> {
        if let Some(uri) = &self.flow.redirect_uri
            && crate::loopback::host_and_port(uri).is_none()
        {
            return Err(Error::invalid_configuration(
                NAME,
                "\"redirect_uri\" must be a URL with port number, for example \"http://localhost:8400\"",
            ));
        }
        self.flow.env = Some(self.options.env.clone());
        Ok(InteractiveBrowserCredential {
            client: PublicClient::new(NAME, &self.options, self.flow)?,
        })
    }
}

impl fmt::Debug for InteractiveBrowserCredentialBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InteractiveBrowserCredentialBuilder")
            .field("options", &self.options)
            .field("flow", &self.flow)
            .finish()
    }
}

impl fmt::Debug for InteractiveBrowserCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.client.fmt(f)
    }
}

impl BlockingTokenCredential for InteractiveBrowserCredential {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        self.client.get_token_blocking(request)
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

impl TokenCredential for InteractiveBrowserCredential {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.client.get_token(request))
    }
    fn name(&self) -> &'static str {
        NAME
    }
}

#[derive(Clone)]
struct BrowserFlow {
    redirect_uri: Option<String>,
    login_hint: Option<String>,
    prompt: Option<String>,
    domain_hint: Option<String>,
    response_mode: ResponseMode,
    timeout: Duration,
    env: Option<Arc<dyn identity_core::env::Env>>,
}

impl fmt::Debug for BrowserFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserFlow")
            .field("redirect_uri", &self.redirect_uri)
            .field("login_hint", &self.login_hint)
            .field("prompt", &self.prompt)
            .field("domain_hint", &self.domain_hint)
            .field("response_mode", &self.response_mode)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One sign-in in progress: the listener is bound and the browser started.
struct Started {
    listener: Listener,
    opener: Opener,
    state: String,
    nonce: String,
    verifier: Secret,
}

impl BrowserFlow {
    fn start(&self, cx: &FlowContext<'_>) -> Result<Started> {
        let listener = bind(cx.name, self.redirect_uri.as_deref())?;
        let verifier = pkce_verifier().map_err(|e| e.with_credential(cx.name))?;
        let state = random_state().map_err(|e| e.with_credential(cx.name))?;
        let nonce = random_nonce().map_err(|e| e.with_credential(cx.name))?;
        let challenge = pkce_challenge(verifier.secret());
        let endpoint = authorize_endpoint(cx.authority, cx.tenant);
        let url = authorize_url(&AuthorizeParams {
            endpoint: &endpoint,
            client_id: cx.client_id,
            redirect_uri: &listener.redirect_uri,
            scope: cx.scope,
            state: &state,
            response_mode: self.response_mode,
            code_challenge: &challenge,
            nonce: &nonce,
            login_hint: self.login_hint.as_deref().or(cx.login_hint),
            prompt: self.prompt.as_deref(),
            domain_hint: self.domain_hint.as_deref(),
            claims: cx.claims,
        });
        let env = self.env.clone().unwrap_or_else(|| cx.transport.env.clone());
        let opener = open_browser(cx.name, &url, &*env)?;
        Ok(Started {
            listener,
            opener,
            state,
            nonce,
            verifier,
        })
    }

    fn redeem_request(
        cx: &FlowContext<'_>,
        redirect_uri: &str,
        verifier: &Secret,
        code: &Secret,
        client_info: Option<&str>,
    ) -> Request {
        let endpoint = token_endpoint(cx.authority, cx.tenant);
        let request = token_request(&TokenRequestParams {
            endpoint: &endpoint,
            client_id: cx.client_id,
            grant: Grant::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier: Some(verifier),
            },
            client_auth: ClientAuth::None,
            scope: cx.scope,
            claims: cx.claims,
            client_info: true,
        });
        match anchor_mailbox(client_info) {
            Some(anchor) => request.header("X-AnchorMailbox", anchor),
            None => request,
        }
    }

    fn check_nonce(cx: &FlowContext<'_>, sent: &str, response: &TokenResponse) -> Result<()> {
        let nonce = response.id_token.as_ref().and_then(id_token_nonce);
        if nonce.as_deref() != Some(sent) {
            return Err(Error::authentication(
                cx.name,
                "Authentication failed: the ID token's nonce does not match the one this sign-in sent (a replayed or forged response). Try again.",
            ));
        }
        Ok(())
    }
}

impl UserFlow for BrowserFlow {
    fn grant(&self) -> &'static str {
        "authorization_code"
    }

    fn sign_in_blocking(&self, cx: &FlowContext<'_>) -> Result<TokenResponse> {
        let started = self.start(cx)?;
        let Redirect::Code { code, client_info } = started.listener.wait(
            cx.name,
            &started.state,
            self.timeout,
            &[cx.cancel],
            &started.opener,
        )?;
        let request = Self::redeem_request(
            cx,
            &started.listener.redirect_uri,
            &started.verifier,
            &code,
            client_info.as_deref(),
        );
        let response = cx.transport.token_blocking(cx.name, request)?;
        Self::check_nonce(cx, &started.nonce, &response)?;
        Ok(response)
    }

    fn sign_in<'a>(&'a self, cx: &'a FlowContext<'a>) -> BoxFuture<'a, Result<TokenResponse>> {
        Box::pin(async move {
            let started = self.start(cx)?;
            // The listener blocks: run it on its own thread; dropping this future cancels it.
            let slot: Arc<Mutex<Slot>> = Arc::new(Mutex::new(Slot::default()));
            let stop = CancellationToken::new();
            let _guard = CancelOnDrop(stop.clone());
            let Started {
                listener,
                opener,
                state,
                nonce,
                verifier,
            } = started;
            let redirect_uri = listener.redirect_uri.clone();
            let (name, timeout, cancel) = (cx.name, self.timeout, cx.cancel.clone());
            let thread_slot = slot.clone();
            std::thread::Builder::new()
                .name("redirect-listener".into())
                .spawn(move || {
                    let result = listener.wait(name, &state, timeout, &[&cancel, &stop], &opener);
                    let mut slot = lock(&thread_slot);
                    slot.result = Some(result);
                    if let Some(w) = slot.waker.take() {
                        w.wake();
                    }
                })
                .map_err(|e| {
                    Error::unavailable(
                        cx.name,
                        format!("Couldn't start the redirect listener thread: {e}"),
                    )
                })?;
            let Redirect::Code { code, client_info } = Receive(slot).await?;
            let request =
                Self::redeem_request(cx, &redirect_uri, &verifier, &code, client_info.as_deref());
            let response = cx.transport.token_async(cx.name, request).await?;
            Self::check_nonce(cx, &nonce, &response)?;
            Ok(response)
        })
    }
}

/// Sets its token when dropped (the async sign-in's future was dropped or finished).
struct CancelOnDrop(CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[derive(Default)]
struct Slot {
    result: Option<Result<Redirect>>,
    waker: Option<Waker>,
}

/// Awaits the listener thread's result (runtime-agnostic).
struct Receive(Arc<Mutex<Slot>>);

impl Future for Receive {
    type Output = Result<Redirect>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.0);
        match slot.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use identity_core::Response;
    use identity_core::protocol::entra::parse_token_response;

    fn response_with_nonce(nonce: &str) -> TokenResponse {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let id = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"none"}"#),
            b64(&format!(r#"{{"nonce":"{nonce}"}}"#))
        );
        let body = format!(r#"{{"access_token":"at","expires_in":60,"id_token":"{id}"}}"#);
        parse_token_response(&Response::new(200, body), std::time::SystemTime::UNIX_EPOCH).unwrap()
    }

    #[test]
    fn the_id_token_nonce_must_be_the_one_sent() {
        let options = InteractiveOptions {
            http_client: Some(Arc::new(|_: &Request| {
                Err(identity_core::TransportError::new(
                    identity_core::TransportErrorKind::Other,
                    "unused",
                ))
            })),
            ..InteractiveOptions::default()
        };
        let transport = crate::core::Transport::new(NAME, &options).unwrap();
        let cancel = CancellationToken::new();
        let cx = FlowContext {
            name: NAME,
            transport: &transport,
            authority: "https://h",
            tenant: "t",
            client_id: "c",
            scope: "s",
            claims: None,
            enable_cae: false,
            login_hint: None,
            cancel: &cancel,
        };
        assert!(BrowserFlow::check_nonce(&cx, "n1", &response_with_nonce("n1")).is_ok());
        let e = BrowserFlow::check_nonce(&cx, "n1", &response_with_nonce("n2")).unwrap_err();
        assert!(e.message().contains("nonce does not match"));
        assert_eq!(e.credential(), NAME);
    }
}
