//! Remote key sets against real HTTP and HTTPS key servers on 127.0.0.1.
//! Durations are shortened through the policy and the options, never by
//! long sleeps.

mod common;

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtguard::{Decision, FetchOptions, Options, Reason, Verifier};
use jwtguard_harness::{KeyServer, Route};

const PATH: &str = "/jwks.json";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn secret(kid: &str) -> Vec<u8> {
    format!("secret for {kid}, long enough for HS256").into_bytes()
}

fn jwks(kids: &[&str]) -> String {
    let keys: Vec<String> = kids
        .iter()
        .map(|kid| {
            format!(
                r#"{{"kty":"oct","kid":"{kid}","k":"{}"}}"#,
                b64(&secret(kid))
            )
        })
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn token(kid: &str) -> String {
    let header = b64(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#).as_bytes());
    let input = format!("{header}.{}", b64(br#"{"sub":"remote","exp":4102444800}"#));
    let key = hmac::Key::new(hmac::HMAC_SHA256, &secret(kid));
    format!(
        "{input}.{}",
        b64(hmac::sign(&key, input.as_bytes()).as_ref())
    )
}

fn fast_fetch() -> FetchOptions {
    FetchOptions {
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_secs(1),
        kid_refresh_interval: Duration::from_millis(300),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        min_refresh_interval: Duration::from_millis(50),
        ..FetchOptions::default()
    }
}

fn remote_verifier(server: &KeyServer, duration: &str, fetch: FetchOptions) -> Verifier {
    let policy = format!(
        r#"{{"action": {{"jwksURI": "{}", "cacheKeysDuration": "{duration}"}}}}"#,
        server.url(PATH)
    );
    let options = Options {
        fetch,
        ..Options::default()
    };
    let verifier = Verifier::from_json(policy.as_bytes(), options)
        .unwrap()
        .verifier;
    verifier.start().unwrap();
    verifier
}

fn decide(verifier: &Verifier, kid: &str) -> Decision {
    common::decide_blocking(verifier, Some(format!("Bearer {}", token(kid)).as_bytes()))
}

fn assert_allowed(verifier: &Verifier, kid: &str) {
    let decision = decide(verifier, kid);
    assert!(
        matches!(decision, Decision::Allow(_)),
        "kid {kid}: {decision:?}"
    );
}

fn assert_denied(verifier: &Verifier, kid: &str, reason: Reason) {
    match decide(verifier, kid) {
        Decision::Deny(denial) => {
            assert_eq!(denial.reason, reason, "kid {kid}: {}", denial.message);
            assert_eq!(denial.status, 403, "kid {kid}");
        }
        other => panic!("kid {kid}: expected {reason}, got {other:?}"),
    }
}

/// Polls `condition` every 10 ms for up to `limit`.
fn eventually(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    condition()
}

#[test]
fn first_fetch_is_pending_then_allows() {
    let server = KeyServer::start();
    server.set_route(
        PATH,
        Route::json(jwks(&["a"])).with_delay(Duration::from_millis(200)),
    );
    let verifier = remote_verifier(&server, "12h", fast_fetch());
    let header = format!("Bearer {}", token("a"));
    let Decision::Pending(pending) = verifier.verify(Some(header.as_bytes())) else {
        panic!("a verification before the first fetch ends must be pending");
    };
    assert_eq!(pending.generation, verifier.keys_generation());
    assert!(verifier.wait_for_keys(pending, Duration::from_secs(5)));
    let decision = verifier.verify_again(Some(header.as_bytes()), Some(pending));
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
    assert_eq!(server.request_count(PATH), 1);
    let stats = verifier.key_stats().unwrap();
    assert_eq!((stats.fetches, stats.failures, stats.keys), (1, 0, 1));
    assert!(stats.last_success_unix.is_some());
}

#[test]
fn concurrent_cold_start_shares_one_fetch() {
    let server = KeyServer::start();
    server.set_route(
        PATH,
        Route::json(jwks(&["a"])).with_delay(Duration::from_millis(300)),
    );
    let verifier = remote_verifier(&server, "12h", fast_fetch());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| assert_allowed(&verifier, "a"));
        }
    });
    assert_eq!(server.request_count(PATH), 1);
}

#[test]
fn refresh_happens_before_expiry_without_waiting() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let verifier = remote_verifier(&server, "300ms", fast_fetch());
    assert_allowed(&verifier, "a");
    server.set_route(PATH, Route::json(jwks(&["b"])));
    assert!(
        eventually(Duration::from_secs(3), || server.request_count(PATH) >= 2),
        "no refresh"
    );
    assert!(eventually(Duration::from_secs(1), || verifier
        .key_stats()
        .unwrap()
        .fetches
        >= 2));
    let header = format!("Bearer {}", token("b"));
    let decision = verifier.verify(Some(header.as_bytes()));
    assert!(
        matches!(decision, Decision::Allow(_)),
        "refreshed keys must be ready: {decision:?}"
    );
}

#[test]
fn unknown_kid_triggers_one_rate_limited_refresh() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["old"])));
    let fetch = FetchOptions {
        kid_refresh_interval: Duration::from_secs(60),
        ..fast_fetch()
    };
    let verifier = remote_verifier(&server, "12h", fetch);
    assert_allowed(&verifier, "old");
    server.set_route(PATH, Route::json(jwks(&["old", "new"])));
    assert_allowed(&verifier, "new");
    assert_eq!(server.request_count(PATH), 2);
    for index in 0..20 {
        assert_denied(
            &verifier,
            &format!("made-up-{index}"),
            Reason::NoMatchingKey,
        );
    }
    assert_eq!(
        server.request_count(PATH),
        2,
        "unknown kids must not each trigger a fetch"
    );
}

#[test]
fn rotation_refresh_allowed_again_after_interval() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let verifier = remote_verifier(&server, "12h", fast_fetch());
    assert_allowed(&verifier, "a");
    assert_denied(&verifier, "b", Reason::NoMatchingKey);
    assert_eq!(server.request_count(PATH), 2);
    server.set_route(PATH, Route::json(jwks(&["a", "b"])));
    assert_denied(&verifier, "b", Reason::NoMatchingKey);
    std::thread::sleep(Duration::from_millis(350));
    assert_allowed(&verifier, "b");
    assert_eq!(server.request_count(PATH), 3);
}

#[test]
fn server_down_at_start_fails_closed_then_recovers() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::new(503, "text/plain", "unavailable"));
    let verifier = remote_verifier(&server, "12h", fast_fetch());
    assert_denied(&verifier, "a", Reason::KeysUnavailable);
    let Decision::Deny(denial) = decide(&verifier, "a") else {
        panic!("must deny")
    };
    assert_eq!(
        &*denial.www_authenticate, "Bearer",
        "an outage is no fault of the token"
    );
    server.set_route(PATH, Route::json(jwks(&["a"])));
    assert!(eventually(Duration::from_secs(3), || matches!(
        decide(&verifier, "a"),
        Decision::Allow(_)
    )));
    let stats = verifier.key_stats().unwrap();
    assert!(stats.failures >= 1, "{stats:?}");
}

#[test]
fn stale_keys_serve_until_max_staleness() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let fetch = FetchOptions {
        max_stale: Duration::from_millis(600),
        ..fast_fetch()
    };
    let verifier = remote_verifier(&server, "200ms", fetch);
    assert_allowed(&verifier, "a");
    server.set_route(PATH, Route::new(500, "text/html", "<html>down</html>"));
    std::thread::sleep(Duration::from_millis(400));
    assert_allowed(&verifier, "a");
    assert!(eventually(Duration::from_secs(3), || matches!(
        decide(&verifier, "a"),
        Decision::Deny(denial) if denial.reason == Reason::KeysUnavailable
    )));
}

#[test]
fn bad_responses_are_fetch_failures() {
    let oversized = format!(
        r#"{{"keys":[],"padding":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let routes = [
        Route::new(500, "text/html", "<html>error</html>"),
        Route::new(200, "text/html", "<html>not json</html>"),
        Route::json("[1, 2]"),
        Route::json(r#"{"keys": "none"}"#),
        Route::json(r#"{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}"#),
        Route::json(oversized),
    ];
    for route in routes {
        let server = KeyServer::start();
        server.set_route(PATH, route);
        let verifier = remote_verifier(&server, "12h", fast_fetch());
        assert_denied(&verifier, "a", Reason::KeysUnavailable);
        assert!(verifier.key_stats().unwrap().failures >= 1);
    }
}

#[test]
fn hanging_server_times_out() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::hang());
    let verifier = remote_verifier(&server, "12h", fast_fetch());
    let started = Instant::now();
    assert_denied(&verifier, "a", Reason::KeysUnavailable);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn https_with_custom_ca() {
    let server = KeyServer::start_tls();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let ca_file = server
        .ca_file()
        .expect("TLS server has a CA file")
        .to_owned();
    let trusted = remote_verifier(
        &server,
        "12h",
        FetchOptions {
            ca_file: Some(ca_file),
            ..fast_fetch()
        },
    );
    assert_allowed(&trusted, "a");
    let untrusted = remote_verifier(&server, "12h", fast_fetch());
    assert_denied(&untrusted, "a", Reason::KeysUnavailable);
}

#[test]
fn ca_file_errors_at_load() {
    let dir = std::env::temp_dir().join(format!("jwtguard-ca-{}", std::process::id()));
    std::fs::write(&dir, "not a certificate").unwrap();
    let policy = br#"{"action": {"jwksURI": "https://127.0.0.1:1/jwks"}}"#;
    for (path, expected) in [
        (dir.clone(), "contains no PEM certificate"),
        (dir.join("missing"), "cannot read"),
    ] {
        let options = Options {
            fetch: FetchOptions {
                ca_file: Some(path),
                ..fast_fetch()
            },
            ..Options::default()
        };
        let err = Verifier::from_json(policy, options)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(expected), "{err}");
    }
    std::fs::remove_file(dir).unwrap();
}

#[test]
fn zero_duration_fetches_per_verification() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let verifier = remote_verifier(&server, "0", fast_fetch());
    assert_allowed(&verifier, "a");
    assert_allowed(&verifier, "a");
    assert_eq!(server.request_count(PATH), 2);
    server.set_route(
        PATH,
        Route::json(jwks(&["b"])).with_delay(Duration::from_millis(200)),
    );
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| assert_allowed(&verifier, "b"));
        }
    });
    assert_eq!(
        server.request_count(PATH),
        3,
        "concurrent verifications share one fetch"
    );
}

#[test]
fn not_started_is_unavailable() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let policy = format!(r#"{{"action": {{"jwksURI": "{}"}}}}"#, server.url(PATH));
    let verifier = Verifier::from_json(policy.as_bytes(), Options::default())
        .unwrap()
        .verifier;
    assert_denied(&verifier, "a", Reason::KeysUnavailable);
    assert_eq!(server.request_count(PATH), 0, "loading must not fetch");
    verifier.start().unwrap();
    assert_allowed(&verifier, "a");
    verifier.stop();
    assert_denied(&verifier, "a", Reason::KeysUnavailable);
}

#[test]
fn unchanged_warnings_are_logged_once() {
    use std::sync::{Arc, Mutex};
    let server = KeyServer::start();
    let body = jwks(&["a"]).replace(
        "\"keys\":[",
        "\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-192\"},",
    );
    server.set_route(PATH, Route::json(body));
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink_lines = Arc::clone(&lines);
    let policy = format!(
        r#"{{"action": {{"jwksURI": "{}", "cacheKeysDuration": "50ms"}}}}"#,
        server.url(PATH)
    );
    let options = Options {
        fetch: fast_fetch(),
        log: Some(Arc::new(move |_, message: &str| {
            sink_lines.lock().unwrap().push(message.to_owned())
        })),
        ..Options::default()
    };
    let verifier = Verifier::from_json(policy.as_bytes(), options)
        .unwrap()
        .verifier;
    verifier.start().unwrap();
    assert!(eventually(Duration::from_secs(3), || server
        .request_count(PATH)
        >= 4));
    verifier.stop();
    let warnings = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("P-192"))
        .count();
    assert_eq!(warnings, 1, "{:?}", lines.lock().unwrap());
}

#[test]
fn tiny_duration_is_bounded_by_min_refresh() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let fetch = FetchOptions {
        min_refresh_interval: Duration::from_millis(300),
        ..fast_fetch()
    };
    let verifier = remote_verifier(&server, "1ms", fetch);
    std::thread::sleep(Duration::from_millis(700));
    verifier.stop();
    let fetches = server.request_count(PATH);
    assert!((2..=4).contains(&fetches), "{fetches} fetches in 700 ms");
}

#[test]
fn huge_durations_do_not_overflow() {
    let server = KeyServer::start();
    server.set_route(
        PATH,
        Route::json(jwks(&["a"])).with_delay(Duration::from_millis(100)),
    );
    let fetch = FetchOptions {
        max_stale: Duration::MAX,
        ..fast_fetch()
    };
    let verifier = remote_verifier(&server, "100y", fetch);
    let header = format!("Bearer {}", token("a"));
    let Decision::Pending(pending) = verifier.verify(Some(header.as_bytes())) else {
        panic!("first verification must be pending");
    };
    assert!(verifier.wait_for_keys(pending, Duration::MAX));
    let decision = verifier.verify_again(Some(header.as_bytes()), Some(pending));
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
}

#[test]
fn credentials_in_uri_are_not_logged() {
    use std::sync::{Arc, Mutex};
    let server = KeyServer::start();
    server.set_route(PATH, Route::new(500, "text/plain", "down"));
    let uri = server.url(PATH).replace("http://", "http://user:s3cret@") + "?api_key=k3y";
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink_lines = Arc::clone(&lines);
    let options = Options {
        fetch: fast_fetch(),
        log: Some(Arc::new(move |_, message: &str| {
            sink_lines.lock().unwrap().push(message.to_owned())
        })),
        ..Options::default()
    };
    let policy = format!(r#"{{"action": {{"jwksURI": "{uri}"}}}}"#);
    let loaded = Verifier::from_json(policy.as_bytes(), options).unwrap();
    loaded.verifier.start().unwrap();
    assert_denied(&loaded.verifier, "a", Reason::KeysUnavailable);
    loaded.verifier.stop();
    let mut text = loaded.warnings.join("\n");
    text.push_str(&lines.lock().unwrap().join("\n"));
    assert!(text.contains("failed: HTTP status 500"), "{text}");
    assert!(!text.contains("s3cret"), "password logged: {text}");
    assert!(!text.contains("k3y"), "query logged: {text}");
}

#[test]
fn failures_after_expiry_keep_backing_off() {
    let server = KeyServer::start();
    server.set_route(PATH, Route::json(jwks(&["a"])));
    let fetch = FetchOptions {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(200),
        ..fast_fetch()
    };
    let verifier = remote_verifier(&server, "100ms", fetch);
    assert_allowed(&verifier, "a");
    server.set_route(PATH, Route::new(500, "text/plain", "down"));
    std::thread::sleep(Duration::from_millis(1200));
    verifier.stop();
    // One second of failures with delays of 50 to 200 ms is at most about
    // 20 fetches; a retry loop without backoff makes thousands.
    let fetches = server.request_count(PATH);
    assert!(fetches <= 25, "{fetches} fetches in 1.2 s");
    assert!(
        fetches >= 3,
        "only {fetches} fetches: no retries after expiry"
    );
}
