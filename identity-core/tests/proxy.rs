//! `HTTP_PROXY` / `NO_PROXY` are honoured by both transports. The environment of this process is
//! never changed: the test runs itself again as a child with the variables set.
#![cfg(any(feature = "ureq", all(feature = "reqwest", feature = "tokio")))]

mod support;

use std::process::Command;
use support::{Scripted, Server};

const CHILD: &str = "AZID_PROXY_TEST_CHILD";

/// In the child: send one GET to the URL in `AZID_PROXY_TEST_CHILD` through each transport.
/// Success is required only when `AZID_PROXY_TEST_EXPECT_OK` is set (a scripted proxy cannot
/// complete ureq's CONNECT tunnel).
#[test]
fn child_sends_requests() {
    let Ok(target) = std::env::var(CHILD) else {
        return;
    };
    let must_succeed = std::env::var("AZID_PROXY_TEST_EXPECT_OK").is_ok();
    use identity_core::Request;
    use identity_core::transport::TransportOptions;
    #[cfg(feature = "ureq")]
    {
        use identity_core::HttpClient;
        let client =
            identity_core::transport::UreqClient::new(&TransportOptions::default()).unwrap();
        let r = client.send(&Request::get(format!("{target}/ureq")));
        if must_succeed {
            assert_eq!(r.unwrap().status, 200);
        }
    }
    #[cfg(all(feature = "reqwest", feature = "tokio"))]
    {
        use identity_core::AsyncHttpClient;
        let client =
            identity_core::transport::ReqwestClient::new(&TransportOptions::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(client.send(&Request::get(format!("{target}/reqwest"))));
        if must_succeed {
            assert_eq!(r.unwrap().status, 200);
        }
    }
}

fn run_child(env: &[(&str, String)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_sends_requests",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    for k in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn expected_requests() -> usize {
    usize::from(cfg!(feature = "ureq"))
        + usize::from(cfg!(all(feature = "reqwest", feature = "tokio")))
}

#[test]
fn requests_go_through_the_proxy_named_by_http_proxy() {
    let n = expected_requests();
    let proxy = Server::start((0..n).map(|_| Scripted::new(200, "via proxy")).collect());
    // The target is never contacted directly: the proxy answers.
    let target = "http://127.0.0.1:9";
    run_child(&[
        (CHILD, target.to_owned()),
        ("HTTP_PROXY", format!("http://{}", proxy.addr)),
    ]);
    let seen = proxy.requests();
    assert_eq!(seen.len(), n);
    for r in &seen {
        // The proxy is asked for the target: an absolute URL, or a CONNECT tunnel (ureq).
        let proxied = r.target.starts_with("http://127.0.0.1:9/")
            || (r.method == "CONNECT" && r.target == "127.0.0.1:9");
        assert!(proxied, "{} {}", r.method, r.target);
    }
}

#[test]
fn no_proxy_bypasses_it() {
    let n = expected_requests();
    let direct = Server::start((0..n).map(|_| Scripted::new(200, "direct")).collect());
    let proxy = Server::start(vec![]);
    run_child(&[
        (CHILD, direct.url("")),
        ("HTTP_PROXY", format!("http://{}", proxy.addr)),
        ("NO_PROXY", "127.0.0.1".to_owned()),
        ("AZID_PROXY_TEST_EXPECT_OK", "1".to_owned()),
    ]);
    assert_eq!(direct.requests().len(), n);
    assert!(proxy.requests().is_empty());
}
