//! The bearer token provider: cached tokens for fixed scopes, and (feature `reqwest`) the CAE
//! claims-challenge retry against a real HTTP server on 127.0.0.1.

use identity_chain::get_bearer_token_provider;
use identity_core::{
    AccessToken, BlockingTokenCredential, BoxFuture, Result, TokenCredential, TokenRequest,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Issues `token-N`, or `claims-token` when the request carries claims; records claims seen.
#[derive(Debug, Default)]
struct Counting {
    calls: AtomicUsize,
    claims: Mutex<Vec<String>>,
}

impl Counting {
    fn issue(&self, request: &TokenRequest) -> Result<AccessToken> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let token = match request.claims() {
            Some(c) => {
                self.claims.lock().unwrap().push(c.to_owned());
                "claims-token".to_owned()
            }
            None => format!("token-{n}"),
        };
        Ok(AccessToken::new(
            token,
            SystemTime::now() + Duration::from_secs(3600),
        ))
    }
}

impl BlockingTokenCredential for Counting {
    fn get_token_blocking(&self, request: &TokenRequest) -> Result<AccessToken> {
        self.issue(request)
    }
}

impl TokenCredential for Counting {
    fn get_token<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move { self.issue(request) })
    }
}

#[test]
fn tokens_come_from_the_cache() {
    let provider = get_bearer_token_provider(
        Counting::default(),
        &["https://cognitiveservices.azure.com/.default"],
    );
    assert_eq!(provider.token_blocking().unwrap(), "token-0");
    assert_eq!(provider.token_blocking().unwrap(), "token-0");
    assert_eq!(
        futures_executor::block_on(provider.token()).unwrap(),
        "token-0"
    );
    assert_eq!(provider.credential().calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        provider.scopes(),
        ["https://cognitiveservices.azure.com/.default"]
    );
}

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn a_cae_challenge_gets_a_token_with_the_claims_and_one_retry() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let server = std::thread::spawn(move || {
        for i in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = String::new();
            for _ in 0..100 {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line
                    .strip_prefix("authorization: ")
                    .or_else(|| line.strip_prefix("Authorization: "))
                {
                    auth = v.trim().to_owned();
                }
            }
            log.lock().unwrap().push(auth);
            let mut stream = stream;
            let response = if i == 0 {
                // {"access_token":{"nbf":{"essential":true,"value":"1726258122"}}}
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"\", error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzI2MjU4MTIyIn19fQ==\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            };
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    let provider =
        get_bearer_token_provider(Counting::default(), &["https://vault.azure.net/.default"]);
    // With identity-core's `rustls` feature, reqwest has no TLS provider of its own: a client
    // the application builds itself needs the process default.
    identity_core::transport::install_default_tls_provider();
    let client = reqwest::Client::new();
    let response = provider
        .send(client.get(format!("http://{addr}/secrets/x")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.join().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer token-0", "Bearer claims-token"]
    );
    assert_eq!(
        *provider.credential().claims.lock().unwrap(),
        [r#"{"access_token":{"nbf":{"essential":true,"value":"1726258122"}}}"#]
    );
}

#[cfg(feature = "azure-core")]
#[test]
fn our_credentials_serve_the_official_sdk_trait() {
    use identity_chain::AzureCoreCredential;
    let credential = AzureCoreCredential::new(Counting::default()).into_arc();
    let token = futures_executor::block_on(
        credential.get_token(&["https://vault.azure.net/.default"], None),
    )
    .unwrap();
    assert_eq!(token.token.secret(), "token-0");
    assert!(token.expires_on > azure_core::time::OffsetDateTime::now_utc());
}
