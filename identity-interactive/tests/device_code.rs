//! DeviceCodeCredential against identity-emulator over real HTTPS: every polling state, silent
//! reuse of the refresh token, timeouts, cancellation, blocking and async.
#![cfg(all(feature = "rustls", any(feature = "ureq", feature = "reqwest")))]

mod common;

use common::*;
use identity_core::clock::VirtualClock;
use identity_core::{ErrorKind, TokenRequest};
use identity_emulator::*;
use identity_interactive::{CancellationToken, DeviceCodeCredential, DeviceCodeInfo};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Seen = Arc<Mutex<Vec<DeviceCodeInfo>>>;

fn credential(emu: &Emulator, clock: &Arc<VirtualClock>, seen: &Seen) -> DeviceCodeCredential {
    let seen = seen.clone();
    DeviceCodeCredential::builder()
        .options(virtual_options(emu, clock))
        .prompt_callback(move |info| seen.lock().unwrap().push(info.clone()))
        .build()
        .unwrap()
}

fn total(sleeps: &[Duration]) -> Duration {
    sleeps.iter().sum()
}

#[cfg(feature = "ureq")]
#[test]
fn pending_and_slow_down_then_silent_for_other_scopes_and_tenants() {
    let emu = emulator();
    emu.update_settings(|s| {
        s.device_code.slow_down_polls = 1;
        s.device_code.pending_polls = 2;
        s.device_code.interval_secs = 5;
    });
    let clock = Arc::new(VirtualClock::new());
    let seen = Seen::default();
    let cred = credential(&emu, &clock, &seen);
    let (token, logs) = capture_logs(|| {
        identity_core::BlockingTokenCredential::get_token_blocking(&cred, &TokenRequest::new(SCOPE))
    });
    let token = token.unwrap();
    let claims = emu.verify_access_token(token.token().secret()).unwrap();
    assert_eq!(claims.aud(), Some("https://vault.azure.net"));
    assert_eq!(claims.oid(), Some(DEFAULT_USER_OBJECT_ID));
    assert_no_secrets(&logs, &[token.token().secret()]);
    // The prompt ran once, with what the user needs.
    let infos = seen.lock().unwrap().clone();
    assert_eq!(infos.len(), 1);
    assert!(infos[0].message.contains(&infos[0].user_code));
    assert_eq!(
        infos[0].verification_uri,
        format!("{}/devicelogin", emu.authority_host())
    );
    // The initiation: decorated scopes, no claims without CAE.
    let starts = emu.requests_for(Endpoint::DeviceCode);
    assert_eq!(starts.len(), 1);
    assert_eq!(
        form(&starts[0], "scope"),
        Some("https://vault.azure.net/.default offline_access openid profile")
    );
    assert_eq!(form(&starts[0], "claims"), None);
    // slow_down, pending, pending, success: 4 polls; waits 10 s each (5 + 5 after slow_down).
    let polls = grants(&emu, DEVICE_GRANT);
    assert_eq!(polls.len(), 4);
    assert!(
        polls
            .iter()
            .all(|p| form(p, "device_code").is_some() && form(p, "code").is_some())
    );
    assert!(polls.iter().all(|p| form(p, "scope").is_none()));
    assert_eq!(total(&clock.sleeps()), Duration::from_secs(30));

    let record = cred.authentication_record().unwrap();
    assert_eq!(record.username(), DEFAULT_USERNAME);
    assert_eq!(record.tenant_id(), DEFAULT_TENANT_ID);
    assert_eq!(
        record.home_account_id(),
        format!("{DEFAULT_USER_OBJECT_ID}.{DEFAULT_TENANT_ID}")
    );
    assert_eq!(record.client_id(), AZURE_CLI_CLIENT_ID);

    // The same scope: the cache. Another scope and another tenant: the refresh token, silently.
    let again = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(SCOPE),
    )
    .unwrap();
    assert_eq!(again.token().secret(), token.token().secret());
    let other = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(OTHER_SCOPE),
    )
    .unwrap();
    assert_eq!(
        emu.verify_access_token(other.token().secret())
            .unwrap()
            .aud(),
        Some("https://storage.azure.com")
    );
    let tenant = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(OTHER_SCOPE).with_tenant_id(DEFAULT_TENANT_ID),
    )
    .unwrap();
    assert!(emu.verify_access_token(tenant.token().secret()).is_ok());
    assert_eq!(emu.requests_for(Endpoint::DeviceCode).len(), 1);
    let refreshes = grants(&emu, "refresh_token");
    assert_eq!(refreshes.len(), 2);
    assert_eq!(
        form(&refreshes[0], "scope"),
        Some("https://storage.azure.com/.default offline_access openid profile")
    );
    assert_eq!(form(&refreshes[0], "client_info"), Some("1"));
    assert!(
        refreshes[1]
            .path
            .starts_with(&format!("/{DEFAULT_TENANT_ID}/"))
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[cfg(feature = "ureq")]
#[test]
fn a_user_who_enters_the_code_later() {
    let emu = emulator();
    emu.update_settings(|s| {
        s.device_code.outcome = DeviceCodeOutcome::Manual;
        s.device_code.interval_secs = 1;
    });
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    let cred = DeviceCodeCredential::builder()
        .options(options(&emu, emu_env(&emu)))
        .prompt_callback(move |info| {
            let _ = tx.lock().unwrap().send(info.user_code.clone());
        })
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            identity_core::BlockingTokenCredential::get_token_blocking(
                &cred,
                &TokenRequest::new(SCOPE),
            )
        });
        let user_code = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(emu.approve_device_code(&user_code, None));
        let token = worker.join().unwrap().unwrap();
        assert!(emu.verify_access_token(token.token().secret()).is_ok());
    });
    assert!(!grants(&emu, DEVICE_GRANT).is_empty());
}

#[cfg(feature = "ureq")]
#[test]
fn expired_and_declined_end_the_flow() {
    for (outcome, code) in [
        (DeviceCodeOutcome::Expire, "expired_token"),
        (DeviceCodeOutcome::Decline, "authorization_declined"),
    ] {
        let emu = emulator();
        emu.update_settings(|s| {
            s.device_code.pending_polls = 1;
            s.device_code.outcome = outcome;
        });
        let clock = Arc::new(VirtualClock::new());
        let cred = credential(&emu, &clock, &Seen::default());
        let e = identity_core::BlockingTokenCredential::get_token_blocking(
            &cred,
            &TokenRequest::new(SCOPE),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.error_code(), Some(code));
        assert_eq!(e.credential(), "DeviceCodeCredential");
        assert!(
            e.message().starts_with("Authentication failed: AADSTS"),
            "{e}"
        );
        assert_eq!(grants(&emu, DEVICE_GRANT).len(), 2);
        assert!(cred.authentication_record().is_none());
    }
}

#[cfg(feature = "ureq")]
#[test]
fn user_timeout_and_code_expiry() {
    let emu = emulator();
    emu.update_settings(|s| {
        s.device_code.outcome = DeviceCodeOutcome::Manual;
        s.device_code.interval_secs = 5;
    });
    let clock = Arc::new(VirtualClock::new());
    let seen = Seen::default();
    let cred = DeviceCodeCredential::builder()
        .options(virtual_options(&emu, &clock))
        .prompt_callback({
            let seen = seen.clone();
            move |i| seen.lock().unwrap().push(i.clone())
        })
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(SCOPE),
    )
    .unwrap_err();
    assert!(
        e.message()
            .starts_with("Timed out waiting for user to authenticate"),
        "{e}"
    );
    assert!(e.message().contains("timeout"));
    // Polls at 0, 5, 10, 15 s; at 20 s the deadline has passed.
    assert_eq!(grants(&emu, DEVICE_GRANT).len(), 4);

    // Without a user timeout, polling stops at the code's expiry (expires_in 900 s).
    emu.clear_requests();
    let cred = credential(&emu, &clock, &seen);
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(SCOPE),
    )
    .unwrap_err();
    assert!(e.message().contains("the device code expired"), "{e}");
    assert_eq!(grants(&emu, DEVICE_GRANT).len(), 180);
}

#[cfg(feature = "ureq")]
#[test]
fn cancelled_flow() {
    let emu = emulator();
    emu.update_settings(|s| {
        s.device_code.outcome = DeviceCodeOutcome::Manual;
        s.device_code.interval_secs = 5;
    });
    let clock = Arc::new(VirtualClock::new());
    let cancel = CancellationToken::new();
    let cred = DeviceCodeCredential::builder()
        .options(virtual_options(&emu, &clock))
        .cancellation(cancel.clone())
        .prompt_callback({
            let cancel = cancel.clone();
            move |_| cancel.cancel()
        })
        .build()
        .unwrap();
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(SCOPE),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(e.message().contains("cancelled"), "{e}");
    assert_eq!(grants(&emu, DEVICE_GRANT).len(), 0);
    // After reset, the next call signs in again.
    cancel.reset();
    emu.update_settings(|s| s.device_code.outcome = DeviceCodeOutcome::Approve);
    let cred = credential(&emu, &clock, &Seen::default());
    assert!(
        identity_core::BlockingTokenCredential::get_token_blocking(
            &cred,
            &TokenRequest::new(SCOPE)
        )
        .is_ok()
    );
}

#[cfg(feature = "ureq")]
#[test]
fn disable_automatic_authentication_then_authenticate() {
    let emu = emulator();
    let clock = Arc::new(VirtualClock::new());
    let seen = Seen::default();
    let mut o = virtual_options(&emu, &clock);
    o.disable_automatic_authentication = true;
    let cred = DeviceCodeCredential::builder()
        .options(o)
        .prompt_callback({
            let seen = seen.clone();
            move |i| seen.lock().unwrap().push(i.clone())
        })
        .build()
        .unwrap();
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(SCOPE),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthenticationRequired);
    assert!(e.kind().chain_continues());
    assert_eq!(
        e.message(),
        "Interactive authentication is required to get a token. Call 'authenticate' to begin."
    );
    assert!(emu.requests().is_empty());
    let record = cred
        .authenticate_blocking(&TokenRequest::new(SCOPE))
        .unwrap();
    assert_eq!(record.username(), DEFAULT_USERNAME);
    let json = record.to_json();
    assert_eq!(
        identity_interactive::AuthenticationRecord::from_json(&json).unwrap(),
        record
    );
    assert!(json.contains("\"homeAccountId\""));
    // Now silent: another scope needs no prompt.
    let t = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new(OTHER_SCOPE),
    )
    .unwrap();
    assert!(emu.verify_access_token(t.token().secret()).is_ok());
    assert_eq!(seen.lock().unwrap().len(), 1);
    // A revoked refresh token means the user must sign in again.
    emu.revoke_refresh_tokens();
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new("https://management.azure.com/.default"),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthenticationRequired);
}

#[cfg(feature = "ureq")]
#[test]
fn cae_and_claims_are_sent() {
    let emu = emulator();
    let clock = Arc::new(VirtualClock::new());
    let cred = credential(&emu, &clock, &Seen::default());
    let request = TokenRequest::new(SCOPE)
        .with_enable_cae(true)
        .with_claims(r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#);
    identity_core::BlockingTokenCredential::get_token_blocking(&cred, &request).unwrap();
    let start = &emu.requests_for(Endpoint::DeviceCode)[0];
    assert_eq!(
        form(start, "claims"),
        Some(r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#)
    );
    let polls = grants(&emu, DEVICE_GRANT);
    let claims = form(polls.last().unwrap(), "claims").unwrap();
    assert!(claims.contains("CP1") && claims.contains("nbf"), "{claims}");
}

#[test]
fn reserved_scopes_and_empty_requests_are_refused_before_any_request() {
    let emu = emulator();
    let clock = Arc::new(VirtualClock::new());
    let cred = credential(&emu, &clock, &Seen::default());
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::new("openid"),
    )
    .unwrap_err();
    assert!(e.message().contains("reserved"), "{e}");
    let e = identity_core::BlockingTokenCredential::get_token_blocking(
        &cred,
        &TokenRequest::with_scopes(Vec::<String>::new()),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(emu.requests().is_empty());
    assert!(!format!("{cred:?}").is_empty());
}

#[cfg(feature = "reqwest")]
#[test]
fn async_flow_with_every_polling_state() {
    let emu = emulator();
    emu.update_settings(|s| {
        s.device_code.slow_down_polls = 2;
        s.device_code.pending_polls = 1;
        s.device_code.interval_secs = 3;
    });
    let clock = Arc::new(VirtualClock::new());
    let seen = Seen::default();
    let cred = credential(&emu, &clock, &seen);
    block_on(async {
        let t = identity_core::TokenCredential::get_token(&cred, &TokenRequest::new(SCOPE))
            .await
            .unwrap();
        assert!(emu.verify_access_token(t.token().secret()).is_ok());
        // 3+5=8 after the first slow_down, 13 after the second, 13 after pending.
        assert_eq!(total(&clock.sleeps()), Duration::from_secs(8 + 13 + 13));
        assert_eq!(grants(&emu, DEVICE_GRANT).len(), 4);
        let other =
            identity_core::TokenCredential::get_token(&cred, &TokenRequest::new(OTHER_SCOPE))
                .await
                .unwrap();
        assert!(emu.verify_access_token(other.token().secret()).is_ok());
        assert_eq!(grants(&emu, "refresh_token").len(), 1);
        let r = cred.authenticate(&TokenRequest::new(SCOPE)).await.unwrap();
        assert_eq!(r.username(), DEFAULT_USERNAME);
    });
    assert_eq!(seen.lock().unwrap().len(), 1);

    // Expired and a user timeout, async.
    emu.update_settings(|s| {
        s.device_code.slow_down_polls = 0;
        s.device_code.outcome = DeviceCodeOutcome::Expire;
    });
    let cred = credential(&emu, &clock, &seen);
    let e = block_on(identity_core::TokenCredential::get_token(
        &cred,
        &TokenRequest::new(SCOPE),
    ))
    .unwrap_err();
    assert_eq!(e.error_code(), Some("expired_token"));
    emu.update_settings(|s| s.device_code.outcome = DeviceCodeOutcome::Manual);
    let cred = DeviceCodeCredential::builder()
        .options(virtual_options(&emu, &clock))
        .prompt_callback(|_| {})
        .timeout(Duration::from_secs(7))
        .build()
        .unwrap();
    emu.clear_requests();
    let e = block_on(identity_core::TokenCredential::get_token(
        &cred,
        &TokenRequest::new(SCOPE),
    ))
    .unwrap_err();
    assert!(
        e.message()
            .starts_with("Timed out waiting for user to authenticate")
    );
    assert_eq!(grants(&emu, DEVICE_GRANT).len(), 3);
}

#[cfg(all(feature = "reqwest", feature = "tokio"))]
#[test]
fn dropping_the_async_future_stops_polling() {
    let emu = emulator();
    emu.update_settings(|s| {
        s.device_code.outcome = DeviceCodeOutcome::Manual;
        s.device_code.interval_secs = 1;
    });
    let cred = DeviceCodeCredential::builder()
        .options(options(&emu, emu_env(&emu)))
        .prompt_callback(|_| {})
        .build()
        .unwrap();
    block_on(async {
        let r = tokio::time::timeout(
            Duration::from_millis(2500),
            identity_core::TokenCredential::get_token(&cred, &TokenRequest::new(SCOPE)),
        )
        .await;
        assert!(r.is_err(), "the flow must still be pending");
    });
    let polls = grants(&emu, DEVICE_GRANT).len();
    assert!((1..=4).contains(&polls), "{polls}");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(grants(&emu, DEVICE_GRANT).len(), polls);
}

#[cfg(feature = "reqwest")]
#[test]
fn async_cancellation_token() {
    let emu = emulator();
    emu.update_settings(|s| {
        s.device_code.outcome = DeviceCodeOutcome::Manual;
        // On the virtual clock the polls come back to back: keep the code valid long enough
        // (thousands of polls) that only the cancellation can end the flow.
        s.device_code.expires_in_secs = 86_400;
    });
    let clock = Arc::new(VirtualClock::new());
    let cancel = CancellationToken::new();
    let seen = Arc::new(Mutex::new(0));
    let cred = DeviceCodeCredential::builder()
        .options(virtual_options(&emu, &clock))
        .cancellation(cancel.clone())
        .prompt_callback({
            let seen = seen.clone();
            move |_| *seen.lock().unwrap() += 1
        })
        .build()
        .unwrap();
    // Cancel from another thread once polling has started; the flow ends at the next check.
    let e = std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..200 {
                if !grants(&emu, DEVICE_GRANT).is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            cancel.cancel();
        });
        block_on(identity_core::TokenCredential::get_token(
            &cred,
            &TokenRequest::new(SCOPE),
        ))
        .unwrap_err()
    });
    assert!(e.message().contains("cancelled"), "{e}");
    assert_eq!(*seen.lock().unwrap(), 1);
    assert!(!grants(&emu, DEVICE_GRANT).is_empty());
}

#[cfg(feature = "ureq")]
#[test]
fn concurrent_callers_share_one_sign_in() {
    let emu = emulator();
    let clock = Arc::new(VirtualClock::new());
    let seen = Seen::default();
    let cred = credential(&emu, &clock, &seen);
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    identity_core::BlockingTokenCredential::get_token_blocking(
                        &cred,
                        &TokenRequest::new(SCOPE),
                    )
                    .unwrap()
                    .token()
                    .secret()
                    .to_owned()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(emu.requests_for(Endpoint::DeviceCode).len(), 1);
}
