//! The sans-IO state machine of one token acquisition: it says which request to send next and
//! reads each outcome; the credential's blocking and async drivers only move bytes.

use crate::NAME;
use crate::id::ManagedIdentityId;
use crate::source::Detected;
use crate::sources::{app_service, arc, azure_ml, cloud_shell, imds, service_fabric};
use identity_core::env::Env;
use identity_core::http::{Request, Response};
use identity_core::retry::RetryPolicy;
use identity_core::validate::scope_to_resource;
use identity_core::{AccessToken, Error, Result, TokenRequest, TransportError};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// Everything a flow needs that does not change between calls.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) source: Detected,
    /// The resolved identity (`SystemAssigned` when none).
    pub(crate) id: ManagedIdentityId,
    /// True when the id was configured, false when it came from `AZURE_CLIENT_ID` or is the
    /// default.
    pub(crate) id_explicit: bool,
    pub(crate) env: Arc<dyn Env>,
    pub(crate) arc_key_directory: Option<PathBuf>,
    pub(crate) imds_probe: bool,
    pub(crate) request_timeout: Duration,
    pub(crate) imds_retry: RetryPolicy,
    pub(crate) retry: RetryPolicy,
}

/// Which transport a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Channel {
    /// The plain HTTP transport.
    Plain,
    /// TLS pinned to this (normalised) SHA-1 thumbprint: Service Fabric.
    Pinned(String),
}

/// A request to send.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) request: Request,
    pub(crate) policy: RetryPolicy,
    pub(crate) channel: Channel,
}

/// What the driver does next.
#[derive(Debug)]
pub(crate) enum Action {
    Send(Box<Outgoing>),
    Done(Result<AccessToken>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    ImdsProbe,
    Imds,
    AppService,
    AzureMl,
    CloudShell,
    ArcChallenge,
    ArcToken,
    ServiceFabric,
    Finished,
}

/// One token acquisition.
#[derive(Debug)]
pub(crate) struct Flow<'a> {
    cfg: &'a Config,
    probe_done: &'a AtomicBool,
    resource: String,
    stage: Stage,
    sent_at: SystemTime,
}

pub(crate) const NO_SOURCE: &str = "ManagedIdentityCredential authentication unavailable. No managed identity endpoint found. The target Azure platform could not be determined from environment variables: IDENTITY_ENDPOINT is set, but neither IDENTITY_HEADER (App Service, Service Fabric) nor IMDS_ENDPOINT (Azure Arc) is. Set the variables of your hosting environment (see the identity-msi README).";

impl<'a> Flow<'a> {
    /// Starts a flow. `sf_token_hash` is the SHA-256 (hex) of the cached Service Fabric token
    /// being replaced because of a claims challenge.
    pub(crate) fn start(
        cfg: &'a Config,
        probe_done: &'a AtomicBool,
        request: &TokenRequest,
        sf_token_hash: Option<&str>,
        now: SystemTime,
    ) -> (Self, Action) {
        let mut flow = Self {
            cfg,
            probe_done,
            resource: String::new(),
            stage: Stage::Finished,
            sent_at: now,
        };
        let action = match scope_to_resource(request.scopes()) {
            Ok(resource) => {
                flow.resource = resource;
                flow.first(request, sf_token_hash, now)
            }
            Err(e) => Action::Done(Err(e.with_credential(NAME))),
        };
        (flow, action)
    }

    fn send(
        &mut self,
        stage: Stage,
        request: Request,
        policy: RetryPolicy,
        channel: Channel,
        now: SystemTime,
    ) -> Action {
        self.stage = stage;
        self.sent_at = now;
        Action::Send(Box::new(Outgoing {
            request,
            policy,
            channel,
        }))
    }

    fn done(&mut self, result: Result<AccessToken>) -> Action {
        self.stage = Stage::Finished;
        Action::Done(result)
    }

    fn first(
        &mut self,
        request: &TokenRequest,
        sf_token_hash: Option<&str>,
        now: SystemTime,
    ) -> Action {
        let cfg = self.cfg;
        let timeout = cfg.request_timeout;
        let resource = self.resource.clone();
        match &cfg.source {
            Detected::Unknown => self.done(Err(Error::unavailable(NAME, NO_SOURCE))),
            Detected::Imds { base, overridden } => {
                if cfg.imds_probe && !overridden && !self.probe_done.load(Ordering::Acquire) {
                    let probe = imds::probe_request(base, &resource, &cfg.id);
                    let policy = RetryPolicy::none().with_deadline(Some(imds::PROBE_TIMEOUT));
                    self.send(Stage::ImdsProbe, probe, policy, Channel::Plain, now)
                } else {
                    self.imds_token(now)
                }
            }
            Detected::AppService { endpoint, header } => {
                let r = app_service::token_request(
                    endpoint,
                    header.secret(),
                    &resource,
                    &cfg.id,
                    timeout,
                );
                self.send(Stage::AppService, r, cfg.retry.clone(), Channel::Plain, now)
            }
            Detected::AzureMl { endpoint, secret } => {
                let r =
                    azure_ml::token_request(endpoint, secret.secret(), &resource, &cfg.id, timeout);
                self.send(Stage::AzureMl, r, cfg.retry.clone(), Channel::Plain, now)
            }
            Detected::CloudShell { endpoint } => {
                // Explicit ids are refused at build; an id from AZURE_CLIENT_ID is sent.
                let implicit = (!cfg.id_explicit && cfg.id.is_user_assigned()).then_some(&cfg.id);
                let r = cloud_shell::token_request(endpoint, &resource, implicit, timeout);
                self.send(Stage::CloudShell, r, cfg.retry.clone(), Channel::Plain, now)
            }
            Detected::AzureArc { endpoint } => {
                let r = arc::token_request(endpoint, &resource, &cfg.id, None, timeout);
                self.send(
                    Stage::ArcChallenge,
                    r,
                    cfg.retry.clone(),
                    Channel::Plain,
                    now,
                )
            }
            Detected::ServiceFabric {
                endpoint,
                header,
                thumbprint,
            } => {
                if cfg.id.is_user_assigned() {
                    let hint = if cfg.id_explicit {
                        ""
                    } else {
                        " (The identity came from AZURE_CLIENT_ID: unset it, or configure ManagedIdentityId::SystemAssigned.)"
                    };
                    return self.done(Err(Error::authentication(
                        NAME,
                        format!(
                            "ManagedIdentityCredential authentication failed. {}{hint}",
                            service_fabric::USER_ASSIGNED_UNSUPPORTED
                        ),
                    )));
                }
                let checked = service_fabric::check_endpoint(endpoint)
                    .and_then(|()| service_fabric::normalize_thumbprint(thumbprint));
                match checked {
                    Err(e) => self.done(Err(e)),
                    Ok(pin) => {
                        let hash = request.claims().and(sf_token_hash);
                        let r = service_fabric::token_request(
                            endpoint,
                            header.secret(),
                            &resource,
                            hash,
                            timeout,
                        );
                        self.send(
                            Stage::ServiceFabric,
                            r,
                            cfg.retry.clone(),
                            Channel::Pinned(pin),
                            now,
                        )
                    }
                }
            }
        }
    }

    fn imds_token(&mut self, now: SystemTime) -> Action {
        let Detected::Imds { base, .. } = &self.cfg.source else {
            return self.done(Err(Error::unavailable(NAME, NO_SOURCE)));
        };
        let r = imds::token_request(base, &self.resource, &self.cfg.id, self.cfg.request_timeout);
        self.send(
            Stage::Imds,
            r,
            self.cfg.imds_retry.clone(),
            Channel::Plain,
            now,
        )
    }

    /// Feeds the outcome of the last request.
    pub(crate) fn advance(
        &mut self,
        outcome: Result<Response, TransportError>,
        now: SystemTime,
    ) -> Action {
        let cfg = self.cfg;
        let sent_at = self.sent_at;
        match self.stage {
            Stage::ImdsProbe => match imds::probe_outcome(outcome) {
                Ok(()) => {
                    self.probe_done.store(true, Ordering::Release);
                    self.imds_token(now)
                }
                Err(e) => self.done(Err(e)),
            },
            Stage::Imds => self.done(imds::token_outcome(outcome, &cfg.id, sent_at)),
            Stage::AppService => self.done(app_service::token_outcome(outcome, sent_at)),
            Stage::AzureMl => self.done(azure_ml::token_outcome(outcome, sent_at)),
            Stage::CloudShell => self.done(cloud_shell::token_outcome(outcome, sent_at)),
            Stage::ServiceFabric => self.done(service_fabric::token_outcome(outcome, sent_at)),
            Stage::ArcChallenge => {
                let key = outcome
                    .map_err(arc::transport)
                    .and_then(|response| arc::challenge_path(&response))
                    .and_then(|path| {
                        let dir = arc::key_directory(cfg.arc_key_directory.as_deref(), &*cfg.env)?;
                        arc::read_key_file(&path, &dir)
                    });
                match (key, &cfg.source) {
                    (Ok(key), Detected::AzureArc { endpoint }) => {
                        let r = arc::token_request(endpoint, &self.resource, &cfg.id, Some(&key), cfg.request_timeout);
                        self.send(Stage::ArcToken, r, cfg.retry.clone(), Channel::Plain, now)
                    }
                    (Err(e), _) => self.done(Err(e)),
                    (Ok(_), _) => self.done(Err(Error::unavailable(NAME, NO_SOURCE))),
                }
            }
            Stage::ArcToken => self.done(arc::token_outcome(outcome, &cfg.id, sent_at)),
            Stage::Finished => self.done(Err(Error::authentication(
                NAME,
                "ManagedIdentityCredential: internal error: a response arrived after the flow finished.",
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use identity_core::ErrorKind;
    use identity_core::env::MapEnv;

    fn config(env: MapEnv, id: ManagedIdentityId, probe: bool) -> Config {
        Config {
            source: Detected::detect(&env),
            id,
            id_explicit: true,
            env: Arc::new(env),
            arc_key_directory: None,
            imds_probe: probe,
            request_timeout: Duration::from_secs(30),
            imds_retry: RetryPolicy::imds(),
            retry: RetryPolicy::default(),
        }
    }

    fn sent(action: Action) -> Outgoing {
        match action {
            Action::Send(o) => *o,
            Action::Done(r) => panic!("expected a request, got {r:?}"),
        }
    }

    #[test]
    fn imds_probe_then_token_then_no_more_probes() {
        let cfg = config(MapEnv::new(), ManagedIdentityId::SystemAssigned, true);
        let done = AtomicBool::new(false);
        let req = TokenRequest::new("https://management.azure.com/.default");
        let now = SystemTime::now();
        let (mut flow, a) = Flow::start(&cfg, &done, &req, None, now);
        let probe = sent(a);
        assert_eq!(probe.request.headers.get("metadata"), None);
        assert_eq!(probe.policy.max_retries, 0);
        let token = sent(flow.advance(Ok(Response::new(400, "{}")), now));
        assert_eq!(token.request.headers.get("metadata"), Some("true"));
        assert_eq!(token.policy, RetryPolicy::imds());
        let result = flow.advance(
            Ok(Response::new(
                200,
                r#"{"access_token":"t","expires_in":"3600"}"#,
            )),
            now,
        );
        assert!(matches!(result, Action::Done(Ok(_))));
        assert!(done.load(Ordering::Acquire));
        let (_, a) = Flow::start(&cfg, &done, &req, None, now);
        assert_eq!(sent(a).request.headers.get("metadata"), Some("true"));
    }

    #[test]
    fn probe_never_with_pod_identity_override() {
        let env = MapEnv::new().with("AZURE_POD_IDENTITY_AUTHORITY_HOST", "");
        let cfg = config(env, ManagedIdentityId::SystemAssigned, true);
        let done = AtomicBool::new(false);
        let (_, a) = Flow::start(
            &cfg,
            &done,
            &"https://x/.default".into(),
            None,
            SystemTime::now(),
        );
        assert_eq!(sent(a).request.headers.get("metadata"), Some("true"));
    }

    #[test]
    fn scopes_and_unknown_source() {
        let cfg = config(MapEnv::new(), ManagedIdentityId::SystemAssigned, false);
        let done = AtomicBool::new(false);
        let (_, a) = Flow::start(&cfg, &done, &["a", "b"].into(), None, SystemTime::now());
        let Action::Done(Err(e)) = a else { panic!() };
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert_eq!(e.credential(), NAME);
        let cfg = config(
            MapEnv::new().with("IDENTITY_ENDPOINT", "http://x"),
            ManagedIdentityId::SystemAssigned,
            false,
        );
        let (_, a) = Flow::start(&cfg, &done, &"r".into(), None, SystemTime::now());
        let Action::Done(Err(e)) = a else { panic!() };
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn service_fabric_rejects_user_assigned_and_http() {
        let env = MapEnv::new()
            .with("IDENTITY_ENDPOINT", "https://h/t")
            .with("IDENTITY_HEADER", "s")
            .with("IDENTITY_SERVER_THUMBPRINT", "ab".repeat(20));
        let done = AtomicBool::new(false);
        let cfg = config(env.clone(), ManagedIdentityId::ObjectId("o".into()), false);
        let (_, a) = Flow::start(&cfg, &done, &"r".into(), None, SystemTime::now());
        let Action::Done(Err(e)) = a else { panic!() };
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(e.message().contains("not supported by the Service Fabric"));
        let cfg = config(env.clone(), ManagedIdentityId::SystemAssigned, false);
        let req = TokenRequest::new("r").with_claims("{}");
        let (_, a) = Flow::start(&cfg, &done, &req, Some("cafe"), SystemTime::now());
        let out = sent(a);
        assert_eq!(out.channel, Channel::Pinned("ab".repeat(20)));
        assert!(out.request.url.ends_with("&token_sha256_to_refresh=cafe"));
        let cfg = config(
            env.with("IDENTITY_ENDPOINT", "http://h/t"),
            ManagedIdentityId::SystemAssigned,
            false,
        );
        let (_, a) = Flow::start(&cfg, &done, &"r".into(), None, SystemTime::now());
        assert!(matches!(a, Action::Done(Err(_))));
    }
}
