//! Remote key sets (`jwksURI`) through nginx: HTTP and HTTPS fetching, rotation, a key
//! server that is down at start or goes down later, the `jwtguard_key_wait` limit, client
//! aborts while a request waits, and several workers each fetching their own keys.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use jwtguard_harness::{
    Case, EchoUpstream, EchoedRequest, KeyServer, Ports, Route, VALID_SUBJECT, control_jwks,
    forwarded_subject, log_lines, remote_policy, request, send_raw, timed_send, valid_token,
};
use serde_json::Value;

use common::{eventually, guarded};

const JWKS_PATH: &str = "/jwks.json";
const CURL: &str = "/usr/bin/curl";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Returns the RS256 control token (case 903), signed by the key with kid `rsa-main`.
fn rs256_token() -> String {
    let request = String::from_utf8(Case::find("903").request(Ports::default())).expect("UTF-8");
    request
        .lines()
        .find_map(|line| line.strip_prefix("Authorization: Bearer "))
        .expect("case 903 has a bearer token")
        .trim()
        .to_string()
}

/// Returns the control key set without the key whose kid is `kid`.
fn control_jwks_without(kid: &str) -> String {
    let mut jwks: Value = serde_json::from_str(&control_jwks()).expect("JSON");
    jwks["keys"]
        .as_array_mut()
        .expect("keys array")
        .retain(|key| key["kid"] != kid);
    jwks.to_string()
}

#[test]
fn remote_keys_over_http() {
    let key_server = KeyServer::start();
    key_server.set_route(JWKS_PATH, Route::json(control_jwks()));
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "12h"), &upstream).start();
    let valid = bearer(&valid_token());

    for attempt in 1..=3 {
        let response = send_raw(nginx.port(), &request("/api", Some(&valid)));
        assert_eq!(response.status, 200, "request {attempt}");
        assert_eq!(forwarded_subject(&response).as_deref(), Some(VALID_SUBJECT));
    }
    assert_eq!(send_raw(nginx.port(), &request("/api", None)).status, 401);
    assert_eq!(
        key_server.request_count(JWKS_PATH),
        1,
        "one fetch serves every request"
    );
}

#[test]
fn remote_keys_over_https_with_ca_file() {
    let key_server = KeyServer::start_tls();
    key_server.set_route(JWKS_PATH, Route::json(control_jwks()));
    let ca_file = key_server
        .ca_file()
        .expect("HTTPS key server has a CA file");
    let policy = remote_policy(&key_server.url(JWKS_PATH), "12h");
    let upstream = EchoUpstream::start();
    let nginx = guarded(&policy, &upstream)
        .var(
            "LOCATION",
            &format!("jwtguard_ca_file {};", ca_file.display()),
        )
        .start();
    let valid = bearer(&valid_token());

    for attempt in 1..=2 {
        let response = send_raw(nginx.port(), &request("/api", Some(&valid)));
        assert_eq!(response.status, 200, "request {attempt}");
        assert_eq!(forwarded_subject(&response).as_deref(), Some(VALID_SUBJECT));
    }
    assert_eq!(key_server.request_count(JWKS_PATH), 1);
}

#[test]
fn https_without_ca_file_fails_closed() {
    let key_server = KeyServer::start_tls();
    key_server.set_route(JWKS_PATH, Route::json(control_jwks()));
    let policy = remote_policy(&key_server.url(JWKS_PATH), "12h");
    let upstream = EchoUpstream::start();
    let nginx = guarded(&policy, &upstream).start();
    let valid = bearer(&valid_token());

    for attempt in 1..=2 {
        let response = send_raw(nginx.port(), &request("/api", Some(&valid)));
        assert_eq!(
            response.status, 403,
            "untrusted certificate, request {attempt}"
        );
    }
    let failures = log_lines(&nginx, "jwtguard: key set fetch");
    assert!(
        !failures.is_empty(),
        "fetch failure not logged:\n{}",
        nginx.error_log()
    );
    assert!(failures[0].contains("[error]"), "{}", failures[0]);
}

#[test]
fn key_rotation_fetches_new_key() {
    let key_server = KeyServer::start();
    key_server.set_route(JWKS_PATH, Route::json(control_jwks_without("rsa-main")));
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "12h"), &upstream).start();
    let hs256 = bearer(&valid_token());
    let rs256 = bearer(&rs256_token());

    for attempt in 1..=2 {
        let response = send_raw(nginx.port(), &request("/api", Some(&hs256)));
        assert_eq!(response.status, 200, "known key, request {attempt}");
    }
    assert_eq!(key_server.request_count(JWKS_PATH), 1);

    // The issuer publishes the new key; a token with its kid makes nginx fetch again even
    // though the 12h cache is fresh.
    key_server.set_route(JWKS_PATH, Route::json(control_jwks()));
    for attempt in 1..=2 {
        let response = send_raw(nginx.port(), &request("/api", Some(&rs256)));
        assert_eq!(response.status, 200, "rotated key, request {attempt}");
        assert_eq!(forwarded_subject(&response).as_deref(), Some(VALID_SUBJECT));
    }
    assert_eq!(
        key_server.request_count(JWKS_PATH),
        2,
        "one refetch for the new kid"
    );
}

/// The key server accepts the connection and never responds: the first request waits
/// for the fetch timeout, is denied, and requests pass once the server responds again.
#[test]
fn key_server_down_at_start() {
    let key_server = KeyServer::start();
    key_server.set_route(JWKS_PATH, Route::hang());
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "12h"), &upstream)
        .var("LOCATION", "jwtguard_fetch_timeout 2s;")
        .start();
    let valid = bearer(&valid_token());

    let (response, elapsed) = timed_send(nginx.port(), &request("/api", Some(&valid)));
    assert_eq!(response.status, 403, "no keys after the fetch timeout");
    assert!(
        elapsed >= Duration::from_millis(1500),
        "the request waited only {elapsed:?} for the fetch"
    );
    assert!(
        elapsed < Duration::from_secs(8),
        "the request waited {elapsed:?}"
    );
    assert_eq!(
        log_lines(&nginx, "jwt rejected (keys_unavailable)").len(),
        1
    );

    key_server.set_route(JWKS_PATH, Route::json(control_jwks()));
    let recovered = eventually(Duration::from_secs(15), || {
        send_raw(nginx.port(), &request("/api", Some(&valid))).status == 200
    });
    assert!(
        recovered,
        "requests still denied after the key server recovered"
    );
    let response = send_raw(nginx.port(), &request("/api", Some(&valid)));
    assert_eq!(response.status, 200, "request after recovery");
}

/// Once loaded, keys stay in use while refreshes fail: the cache lasts 1 s, the server
/// then responds with 500, and valid tokens still pass.
#[test]
fn stale_keys_after_server_goes_down() {
    let key_server = KeyServer::start();
    key_server.set_route(JWKS_PATH, Route::json(control_jwks()));
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "1s"), &upstream).start();
    let valid = bearer(&valid_token());

    assert_eq!(
        send_raw(nginx.port(), &request("/api", Some(&valid))).status,
        200
    );

    key_server.set_route(JWKS_PATH, Route::new(500, "text/html", "<p>down</p>"));
    let refetched = eventually(Duration::from_secs(10), || {
        !log_lines(&nginx, "jwtguard: key set fetch").is_empty()
    });
    assert!(
        refetched,
        "no failed refresh logged:\n{}",
        nginx.error_log()
    );

    for attempt in 1..=3 {
        let response = send_raw(nginx.port(), &request("/api", Some(&valid)));
        assert_eq!(response.status, 200, "stale keys, request {attempt}");
        assert_eq!(forwarded_subject(&response).as_deref(), Some(VALID_SUBJECT));
    }
}

/// A request that waits longer than `jwtguard_key_wait` gets the denial the
/// library returns when keys are missing: the noMatch status, reason
/// `keys_unavailable`, and a challenge without `invalid_token`.
#[test]
fn key_wait_limit_denies_keys_unavailable() {
    let key_server = KeyServer::start();
    key_server.set_route(JWKS_PATH, Route::hang());
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "12h"), &upstream)
        .var("LOCATION", "jwtguard_key_wait 1s;")
        .start();
    let valid = bearer(&valid_token());

    let (response, elapsed) = timed_send(nginx.port(), &request("/api", Some(&valid)));
    assert_eq!(
        response.status, 403,
        "keys still loading after jwtguard_key_wait"
    );
    assert_eq!(response.header("WWW-Authenticate"), Some("Bearer"));
    assert!(
        elapsed >= Duration::from_millis(900),
        "responded after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "responded after {elapsed:?}"
    );

    let lines = log_lines(&nginx, "jwt rejected (keys_unavailable)");
    assert_eq!(lines.len(), 1, "{}", nginx.error_log());
    assert!(
        lines[0].contains("did not load within 1000 ms"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("[error]"), "{}", lines[0]);
}

/// A client that disconnects while its request waits for keys leaves no timer behind:
/// nginx logs the abort, keeps serving, and stops cleanly.
#[test]
fn client_abort_while_waiting() {
    let key_server = KeyServer::start();
    key_server.set_route(
        JWKS_PATH,
        Route::json(control_jwks()).with_delay(Duration::from_secs(2)),
    );
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "12h"), &upstream).start();
    let valid = bearer(&valid_token());

    for _ in 0..3 {
        let mut stream = TcpStream::connect(("127.0.0.1", nginx.port())).expect("connect");
        stream
            .write_all(&request("/api", Some(&valid)))
            .expect("send request");
        thread::sleep(Duration::from_millis(200));
        drop(stream);
    }
    let logged = eventually(Duration::from_secs(5), || {
        !log_lines(&nginx, "client prematurely closed connection").is_empty()
    });
    assert!(logged, "abort not logged:\n{}", nginx.error_log());

    let response = send_raw(nginx.port(), &request("/api", Some(&valid)));
    assert_eq!(response.status, 200, "request after the aborted ones");
    assert_eq!(
        upstream.request_count(),
        1,
        "aborted requests must not reach the upstream"
    );
}

#[test]
fn remote_keys_four_workers() {
    let key_server = KeyServer::start();
    key_server.set_route(JWKS_PATH, Route::json(control_jwks()));
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "12h"), &upstream)
        .var("WORKERS", "4")
        .var("LISTEN", "reuseport")
        .var("LOCATION", "proxy_set_header X-Worker $pid;")
        .start();
    let port = nginx.port();
    let valid = bearer(&valid_token());

    let clients: Vec<_> = (0..8)
        .map(|_| {
            let valid = valid.clone();
            thread::spawn(move || {
                (0..10)
                    .map(|_| send_raw(port, &request("/api", Some(&valid))))
                    .collect::<Vec<_>>()
            })
        })
        .collect();

    let mut worker_pids = BTreeSet::new();
    for client in clients {
        for response in client.join().expect("client thread") {
            assert_eq!(response.status, 200);
            let echoed = EchoedRequest::from_body(&response.body).expect("echo body");
            assert_eq!(echoed.header("x-sub"), Some(VALID_SUBJECT));
            worker_pids.insert(echoed.header("x-worker").unwrap_or_default().to_string());
        }
    }
    assert_eq!(
        worker_pids.len(),
        4,
        "workers that responded: {worker_pids:?}"
    );
    let fetches = key_server.request_count(JWKS_PATH);
    assert_eq!(fetches, 4, "each worker fetches the key set once");
}

/// HTTP/2 streams have no socket of their own, so the wait timer runs on the stream's
/// fake connection. Three HTTP/2 requests wait for a slow key set and all pass.
#[test]
fn http2_streams_wait_for_keys() {
    assert!(
        Path::new(CURL).is_file(),
        "curl not found at {CURL}: install it with `apt-get install curl`"
    );
    let key_server = KeyServer::start();
    let delayed = Route::json(control_jwks()).with_delay(Duration::from_millis(700));
    key_server.set_route(JWKS_PATH, delayed);
    let upstream = EchoUpstream::start();
    let nginx = guarded(&remote_policy(&key_server.url(JWKS_PATH), "12h"), &upstream)
        .var("LISTEN", "http2")
        .start();
    let url = format!("http://127.0.0.1:{}/api", nginx.port());
    let authorization = format!("Authorization: {}", bearer(&valid_token()));

    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (url, authorization) = (url.clone(), authorization.clone());
            thread::spawn(move || {
                let started = Instant::now();
                let output = Command::new(CURL)
                    .args(["--silent", "--http2-prior-knowledge", "--max-time", "20"])
                    .args(["--output", "/dev/null"])
                    .args(["--write-out", "%{http_version} %{http_code}"])
                    .args(["--header", &authorization, &url])
                    .output()
                    .expect("run curl");
                (output, started.elapsed())
            })
        })
        .collect();

    for client in clients {
        let (output, elapsed) = client.join().expect("curl thread");
        let written = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(written, "2 200", "curl: {stderr}");
        assert!(
            elapsed >= Duration::from_millis(500),
            "responded after {elapsed:?}, before the key set arrived"
        );
    }
    assert_eq!(upstream.request_count(), 3);
}
