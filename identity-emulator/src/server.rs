//! The listeners: accept loops, TLS, HTTP/1.1 via hyper, routing, fault injection and recording.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::model::{
    Endpoint, Fault, Listener, MASK, MASKED_FIELDS, MASKED_HEADERS, RecordedRequest,
};
use crate::state::{Req, Resp, Shared, lock};
use crate::{control, entra, mi, util};

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// A TCP stream that, when flagged, closes with RST (SO_LINGER 0) instead of FIN.
struct ResetOnDrop {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for ResetOnDrop {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResetOnDrop {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The error a service returns to make hyper drop (and so reset) the connection.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
    }
}

impl std::error::Error for ResetConnection {}

/// Runs one listener until the task is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    kind: Listener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let reset = Arc::new(AtomicBool::new(false));
            let stream = ResetOnDrop {
                inner: stream,
                reset: reset.clone(),
            };
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                    {
                        serve_connection(TokioIo::new(tls_stream), kind, shared, reset).await;
                    }
                }
                None => serve_connection(TokioIo::new(stream), kind, shared, reset).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, kind: Listener, shared: Arc<Shared>, reset: Arc<AtomicBool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let shared = shared.clone();
        let reset = reset.clone();
        async move {
            match handle(&shared, kind, request).await {
                Some(resp) => Ok(to_hyper(resp)),
                None => {
                    reset.store(true, Ordering::SeqCst);
                    Err(ResetConnection)
                }
            }
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

fn to_hyper(resp: Resp) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder
        .body(Full::new(Bytes::from(resp.body)))
        .unwrap_or_else(|_| {
            let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"internal error")));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}

/// Reads the request into a [`Req`]. `Err` carries a response for an unreadable request.
async fn read_request(request: hyper::Request<Incoming>) -> Result<Req, Resp> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return Err(Resp::json(
                413,
                &json!({"error": "invalid_request", "error_description": "Request body too large or unreadable"}),
            ));
        }
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let is_form = headers.iter().any(|(k, v)| {
        k == "content-type"
            && v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
    });
    let form = if is_form {
        util::parse_form(&body)
    } else {
        Vec::new()
    };
    Ok(Req {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: util::parse_form(parts.uri.query().unwrap_or_default().as_bytes()),
        headers,
        body,
        form,
    })
}

/// What a path on a listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Endpoint(Endpoint, String),
    OpenIdV1(String),
    Control,
    NotFound,
}

/// Classifies a path. The string is the tenant segment (or user name) where relevant.
pub(crate) fn route(kind: Listener, path: &str) -> Route {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ep = |e: Endpoint, s: &str| Route::Endpoint(e, s.to_owned());
    match kind {
        Listener::Entra => match segs.as_slice() {
            [t, "oauth2", "v2.0", "token"] | [t, "oauth2", "token"] => ep(Endpoint::Token, t),
            [t, "oauth2", "v2.0", "authorize"] | [t, "oauth2", "authorize"] => {
                ep(Endpoint::Authorize, t)
            }
            [t, "oauth2", "v2.0", "devicecode"] | [t, "oauth2", "devicecode"] => {
                ep(Endpoint::DeviceCode, t)
            }
            [t, "v2.0", ".well-known", "openid-configuration"] => {
                ep(Endpoint::OpenIdConfiguration, t)
            }
            [t, ".well-known", "openid-configuration"] => Route::OpenIdV1((*t).to_owned()),
            [_, "discovery", "instance"] => ep(Endpoint::InstanceDiscovery, ""),
            [t, "discovery", "v2.0", "keys"] | [t, "discovery", "keys"] => ep(Endpoint::Keys, t),
            ["common", "userrealm", user] => ep(Endpoint::UserRealm, user),
            ["devicelogin"] => ep(Endpoint::DeviceLogin, ""),
            [.., "oidctoken"] => ep(Endpoint::PipelinesOidc, ""),
            [.., "idtoken"] => ep(Endpoint::GitHubActionsOidc, ""),
            [what @ ("subscriptions" | "tenants")] => ep(Endpoint::ResourceManager, what),
            ["openai", "deployments", deployment, "chat", "completions"] => {
                ep(Endpoint::OpenAiChat, deployment)
            }
            _ => Route::NotFound,
        },
        Listener::ManagedIdentity => match segs.as_slice() {
            ["metadata", "identity", "oauth2", "token"] => ep(Endpoint::Imds, ""),
            ["msi", "token"] => ep(Endpoint::AppService, ""),
            ["azureml", "token"] => ep(Endpoint::AzureMl, ""),
            ["cloudshell", "token"] => ep(Endpoint::CloudShell, ""),
            ["arc", "metadata", "identity", "oauth2", "token"] => ep(Endpoint::Arc, ""),
            ["_emulator", ..] => Route::Control,
            _ => Route::NotFound,
        },
        Listener::ServiceFabric => match segs.as_slice() {
            ["metadata", "identity", "oauth2", "token"] => ep(Endpoint::ServiceFabric, ""),
            _ => Route::NotFound,
        },
    }
}

fn dispatch(shared: &Shared, endpoint: Endpoint, arg: &str, req: &Req) -> Resp {
    match endpoint {
        Endpoint::Token => entra::token(shared, req, arg),
        Endpoint::Authorize => entra::authorize(shared, req, arg),
        Endpoint::DeviceCode => entra::device_code(shared, req, arg),
        Endpoint::DeviceLogin => entra::device_login(shared, req),
        Endpoint::OpenIdConfiguration => entra::openid_configuration(shared, req, arg, true),
        Endpoint::InstanceDiscovery => entra::instance_discovery(shared, req),
        Endpoint::Keys => entra::keys(shared, req),
        Endpoint::UserRealm => entra::user_realm(shared, req, arg),
        Endpoint::PipelinesOidc => entra::pipelines_oidc(shared, req),
        Endpoint::Imds => mi::imds(shared, req),
        Endpoint::AppService => mi::app_service(shared, req),
        Endpoint::AzureMl => mi::azure_ml(shared, req),
        Endpoint::CloudShell => mi::cloud_shell(shared, req),
        Endpoint::Arc => mi::arc(shared, req),
        Endpoint::ServiceFabric => mi::service_fabric(shared, req),
        Endpoint::ResourceManager => entra::resource_manager(shared, req, arg),
        Endpoint::OpenAiChat => entra::openai_chat(shared, req, arg),
        Endpoint::GitHubActionsOidc => entra::github_actions_oidc(shared, req),
    }
}

fn mask_pairs(pairs: &[(String, String)], masked: &[&str]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| {
            let secret = masked.iter().any(|m| m.eq_ignore_ascii_case(k));
            (
                k.clone(),
                if secret && !v.is_empty() {
                    MASK.to_owned()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

fn record(
    shared: &Shared,
    kind: Listener,
    endpoint: Option<Endpoint>,
    req: &Req,
    fault: Option<&Fault>,
) -> u64 {
    let mut log = lock(&shared.log);
    let seq = log.next_seq;
    log.next_seq += 1;
    log.entries.push(RecordedRequest {
        seq,
        listener: kind,
        endpoint,
        method: req.method.clone(),
        path: req.path.clone(),
        query: mask_pairs(&req.query, MASKED_FIELDS),
        headers: mask_pairs(&req.headers, MASKED_HEADERS),
        form: mask_pairs(&req.form, MASKED_FIELDS),
        status: None,
        fault: fault.map(Fault::describe),
    });
    seq
}

fn set_status(shared: &Shared, seq: u64, status: u16) {
    let mut log = lock(&shared.log);
    if let Some(e) = log.entries.iter_mut().rev().find(|e| e.seq == seq) {
        e.status = Some(status);
    }
}

fn fault_error_body(endpoint: Endpoint, status: u16) -> String {
    let text = format!("Injected fault: HTTP {status}");
    match endpoint {
        Endpoint::AppService | Endpoint::AzureMl => json!({"statusCode": status, "message": text}),
        Endpoint::ServiceFabric => json!({"error": {"code": "InternalServerError", "message": text}}),
        Endpoint::Imds | Endpoint::CloudShell | Endpoint::Arc => json!({"error": "unknown_error", "error_description": text}),
        Endpoint::PipelinesOidc => json!({"message": text}),
        _ => {
            let code = if status >= 500 { 50000 } else { 50196 };
            let error = if status >= 500 { "temporarily_unavailable" } else { "invalid_request" };
            json!({"error": error, "error_description": format!("AADSTS{code}: {text}"), "error_codes": [code]})
        }
    }
    .to_string()
}

/// Handles one request; `None` means "reset the connection".
async fn handle(
    shared: &Arc<Shared>,
    kind: Listener,
    request: hyper::Request<Incoming>,
) -> Option<Resp> {
    let req = match read_request(request).await {
        Ok(r) => r,
        Err(resp) => return Some(resp),
    };
    let (endpoint, arg) = match route(kind, &req.path) {
        Route::Control => return Some(control::handle(shared, &req)),
        Route::NotFound => {
            let seq = record(shared, kind, None, &req, None);
            set_status(shared, seq, 404);
            return Some(Resp::json(
                404,
                &json!({"error": "not_found", "error_description": format!("No emulated endpoint at {}", req.path)}),
            ));
        }
        Route::OpenIdV1(t) => {
            let seq = record(
                shared,
                kind,
                Some(Endpoint::OpenIdConfiguration),
                &req,
                None,
            );
            let resp = entra::openid_configuration(shared, &req, &t, false);
            set_status(shared, seq, resp.status);
            return Some(resp);
        }
        Route::Endpoint(e, arg) => (e, arg),
    };
    let fault = lock(&shared.faults)
        .get_mut(&endpoint)
        .and_then(|q| q.pop_front());
    let seq = record(shared, kind, Some(endpoint), &req, fault.as_ref());
    let resp = match fault {
        None | Some(Fault::Pass) => dispatch(shared, endpoint, &arg, &req),
        Some(Fault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            dispatch(shared, endpoint, &arg, &req)
        }
        Some(Fault::Hang) => std::future::pending::<Resp>().await,
        Some(Fault::ConnectionReset) => return None,
        Some(Fault::Status {
            status,
            body,
            retry_after,
        }) => {
            let body = body.unwrap_or_else(|| fault_error_body(endpoint, status));
            let mut r = Resp::raw(status, "application/json; charset=utf-8", body.into_bytes());
            if let Some(ra) = retry_after {
                r = r.with_header("retry-after", &ra);
            }
            r
        }
        Some(Fault::MalformedJson) => Resp::raw(
            200,
            "application/json; charset=utf-8",
            b"{\"token_type\": \"Bearer\", \"access_token\": \"eyJ0eXAi".to_vec(),
        ),
        Some(Fault::EmptyBody) => Resp::raw(200, "application/json; charset=utf-8", Vec::new()),
        Some(Fault::HugeBody { bytes }) => {
            let filler = "x".repeat(bytes.saturating_sub(16));
            Resp::raw(
                200,
                "application/json; charset=utf-8",
                format!("{{\"padding\":\"{filler}\"}}").into_bytes(),
            )
        }
        Some(Fault::WrongContentType { content_type }) => {
            let mut r = dispatch(shared, endpoint, &arg, &req);
            r.set_header("content-type", &content_type);
            r
        }
    };
    set_status(shared, seq, resp.status);
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(Listener::Entra, "/t/oauth2/v2.0/token"),
            Route::Endpoint(Endpoint::Token, "t".into())
        );
        assert_eq!(
            route(Listener::Entra, "/common/discovery/instance"),
            Route::Endpoint(Endpoint::InstanceDiscovery, String::new())
        );
        assert_eq!(
            route(
                Listener::Entra,
                "/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken"
            ),
            Route::Endpoint(Endpoint::PipelinesOidc, String::new())
        );
        assert_eq!(
            route(Listener::ManagedIdentity, "/metadata/identity/oauth2/token"),
            Route::Endpoint(Endpoint::Imds, String::new())
        );
        assert_eq!(
            route(Listener::ManagedIdentity, "/_emulator/requests"),
            Route::Control
        );
        assert_eq!(
            route(Listener::ManagedIdentity, "/t/oauth2/v2.0/token"),
            Route::NotFound
        );
        assert_eq!(
            route(Listener::ServiceFabric, "/msi/token"),
            Route::NotFound
        );
    }

    #[test]
    fn masking() {
        let pairs = vec![
            ("client_secret".to_owned(), "s3cret".to_owned()),
            ("scope".to_owned(), "x".to_owned()),
        ];
        let masked = mask_pairs(&pairs, MASKED_FIELDS);
        assert_eq!(masked[0].1, MASK);
        assert_eq!(masked[1].1, "x");
    }
}
