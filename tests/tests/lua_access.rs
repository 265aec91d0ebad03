//! The Lua module in real nginx: `verifier:access()` on the shared request scenarios,
//! `verify_request()`, remote keys with waits that yield, the token header lookup, and
//! logging through `ngx.log`. The logging tests check that no token reaches the log and
//! that rejection lines are rate-limited.

mod lua_support;

use std::net::TcpListener;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jwtguard_harness::{
    Case, EchoUpstream, KeyServer, MISSING_CHALLENGE, Nginx, Ports, QUERY_PARAMETER, Route,
    TokenIn, VALID_SUBJECT, check_request_scenarios, control_jwks, expired_token,
    forwarded_subject, inline_policy, log_lines, remote_policy, request, send_raw, timed_send,
    valid_token,
};
use serde_json::json;

use lua_support::{
    bad_signature_token, case_token, guarded, start, wait_for_lines, with_no_match_status,
    with_token_location,
};

/// Time a log line written from a zero-delay timer gets to appear in the error log.
const LOG_WAIT: Duration = Duration::from_secs(5);

/// Maximum "request denied" lines at error level that a worker writes per second.
const REJECT_LOG_RATE: usize = 100;

/// Location that reports `verify_request()`'s results in the body.
const REASON_LOCATION: &str = r#"
        location /reason {
            content_by_lua_block {
                local claims, reason, status, message = verifier:verify_request()
                if claims then
                    ngx.say("allow ", claims.sub)
                else
                    ngx.say("deny ", reason, " ", status, " ", message)
                end
            }
        }
"#;

fn run_scenarios(token_in: TokenIn) {
    let upstream = EchoUpstream::start();
    let nginx = start(guarded(&inline_policy(token_in), &upstream));
    check_request_scenarios(nginx.port(), token_in);
}

#[test]
fn lua_access_header_scenarios() {
    run_scenarios(TokenIn::Header);
}

#[test]
fn lua_access_query_scenarios() {
    run_scenarios(TokenIn::Query);
}

#[test]
fn lua_access_logs_denials() {
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&inline_policy(TokenIn::Header), &upstream));
    let expired = expired_token();
    assert_eq!(send_raw(lua.port(), &request("/", None)).status, 401);
    let bearer = format!("Bearer {expired}");
    assert_eq!(
        send_raw(lua.port(), &request("/", Some(&bearer))).status,
        403
    );

    let missing = wait_for_lines(
        &lua.nginx,
        "request denied with status 401: missing",
        1,
        LOG_WAIT,
    );
    assert_eq!(missing.len(), 1, "{}", lua.nginx.error_log());
    assert!(missing[0].contains("[info]"), "{}", missing[0]);
    assert!(missing[0].contains(r#"request: "GET /""#), "{}", missing[0]);
    let expired_lines = wait_for_lines(
        &lua.nginx,
        "request denied with status 403: expired",
        1,
        LOG_WAIT,
    );
    assert_eq!(expired_lines.len(), 1, "{}", lua.nginx.error_log());
    assert!(expired_lines[0].contains("[error]"), "{}", expired_lines[0]);
    assert!(
        !expired_lines[0].contains("earlier rejections"),
        "{}",
        expired_lines[0]
    );
    assert!(
        !lua.nginx.error_log().contains(&expired),
        "the error log contains the token"
    );
}

#[test]
fn lua_verify_request_returns_reason() {
    let upstream = EchoUpstream::start();
    let builder =
        guarded(&inline_policy(TokenIn::Header), &upstream).var("LOCATIONS", REASON_LOCATION);
    let lua = start(builder);
    let expired = format!("Bearer {}", expired_token());
    let valid = format!("Bearer {}", valid_token());
    let cases = [
        (None, "deny missing 401 token header is absent\n"),
        (Some(valid.as_str()), "allow user-123\n"),
    ];
    for (authorization, body) in cases {
        for attempt in 1..=2 {
            let response = send_raw(lua.port(), &request("/reason", authorization));
            assert_eq!(response.status, 200, "status of attempt {attempt}");
            assert_eq!(response.text(), body, "body of attempt {attempt}");
        }
    }
    let response = send_raw(lua.port(), &request("/reason", Some(&expired)));
    assert!(
        response
            .text()
            .starts_with("deny expired 403 token expired"),
        "{}",
        response.text()
    );
}

#[test]
fn lua_access_claims_reach_later_phases() {
    let upstream = EchoUpstream::start();
    let location = r#"
        location /ctx {
            access_by_lua_block { ngx.ctx.claims = verifier:access() }
            content_by_lua_block {
                local claims = ngx.ctx.claims
                ngx.say(claims.sub, " ", claims.iss)
            }
        }
"#;
    let builder = guarded(&inline_policy(TokenIn::Header), &upstream).var("LOCATIONS", location);
    let lua = start(builder);
    let valid = format!("Bearer {}", valid_token());
    for attempt in 1..=2 {
        let response = send_raw(lua.port(), &request("/ctx", Some(&valid)));
        assert_eq!(response.status, 200, "status of attempt {attempt}");
        assert_eq!(
            response.text(),
            "user-123 https://issuer.example.test\n",
            "body of attempt {attempt}"
        );
    }
}

#[test]
fn lua_remote_keys_rotate_on_unknown_kid() {
    let server = KeyServer::start();
    // First only the HS256 key, then the whole set with the RSA key the second token needs.
    let hs256_only = json!({"keys": [
        serde_json::from_str::<serde_json::Value>(&control_jwks()).expect("JSON")["keys"][0]
    ]});
    server.set_route("/jwks.json", Route::json(hs256_only.to_string()));
    let upstream = EchoUpstream::start();
    let policy = remote_policy(&server.url("/jwks.json"), "12h");
    let lua = start(guarded(&policy, &upstream));

    let hs256 = format!("Bearer {}", valid_token());
    for attempt in 1..=2 {
        let response = send_raw(lua.port(), &request("/", Some(&hs256)));
        assert_eq!(response.status, 200, "HS256 status of attempt {attempt}");
    }
    assert_eq!(
        server.request_count("/jwks.json"),
        1,
        "fetches before rotation"
    );

    server.set_route("/jwks.json", Route::json(control_jwks()));
    let rs256 = Case::find("903").request(Ports::default());
    for attempt in 1..=2 {
        let response = send_raw(lua.port(), &rs256);
        assert_eq!(response.status, 200, "RS256 status of attempt {attempt}");
        assert_eq!(
            forwarded_subject(&response).as_deref(),
            Some(VALID_SUBJECT),
            "RS256 X-Sub of attempt {attempt}"
        );
    }
    assert_eq!(
        server.request_count("/jwks.json"),
        2,
        "fetches after rotation"
    );
}

#[test]
fn lua_key_server_down_denies_and_logs() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let policy = remote_policy(&format!("http://127.0.0.1:{port}/jwks.json"), "12h");
    let upstream = EchoUpstream::start();
    let builder = guarded(&policy, &upstream).var("OPTIONS", "backoff_initial = 60");
    let lua = start(builder);

    let valid = format!("Bearer {}", valid_token());
    for attempt in 1..=2 {
        let (response, elapsed) = timed_send(lua.port(), &request("/", Some(&valid)));
        assert_eq!(response.status, 403, "status of attempt {attempt}");
        // A key set outage is no fault of the token, so the challenge has no
        // invalid_token error.
        assert_eq!(
            response.header("WWW-Authenticate"),
            Some(MISSING_CHALLENGE),
            "WWW-Authenticate of attempt {attempt}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "attempt {attempt} took {elapsed:?}"
        );
    }
    let failed = wait_for_lines(
        &lua.nginx,
        "jwtguard: key set fetch from http://127.0.0.1:",
        1,
        LOG_WAIT,
    );
    assert_eq!(failed.len(), 1, "{}", lua.nginx.error_log());
    assert!(failed[0].contains("[error]"), "{}", failed[0]);
    let denials = wait_for_lines(
        &lua.nginx,
        "request denied with status 403: keys_unavailable",
        2,
        LOG_WAIT,
    );
    assert_eq!(denials.len(), 2, "{}", lua.nginx.error_log());
}

#[test]
fn lua_key_wait_timeout_uses_no_match() {
    let server = KeyServer::start();
    server.set_route("/jwks.json", Route::hang());
    let policy = with_no_match_status(&remote_policy(&server.url("/jwks.json"), "12h"), 451);
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&policy, &upstream).var("OPTIONS", "wait_timeout = 1"));

    let valid = format!("Bearer {}", valid_token());
    let (response, elapsed) = timed_send(lua.port(), &request("/", Some(&valid)));
    assert_eq!(response.status, 451, "status after the wait timed out");
    assert_eq!(
        response.header("WWW-Authenticate"),
        Some(MISSING_CHALLENGE),
        "WWW-Authenticate"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "responded after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "responded after {elapsed:?}"
    );
    let lines = wait_for_lines(
        &lua.nginx,
        "request denied with status 451: keys_unavailable: \
         timed out after 1 s waiting for the key set",
        1,
        LOG_WAIT,
    );
    assert_eq!(lines.len(), 1, "{}", lua.nginx.error_log());
}

#[test]
fn lua_fetch_errors_logged_without_requests() {
    let server = KeyServer::start();
    server.set_route("/jwks.json", Route::new(500, "text/plain", "down\n"));
    let policy = remote_policy(&server.url("/jwks.json"), "12h");
    let upstream = EchoUpstream::start();
    let builder = guarded(&policy, &upstream).var("OPTIONS", "backoff_initial = 60");
    let lua = start(builder);

    // The log timer writes queued records once a second.
    let needle = "jwtguard: key set fetch from";
    assert!(
        lua.nginx.wait_for_log(needle, Duration::from_secs(5)),
        "no fetch error logged:\n{}",
        lua.nginx.error_log()
    );
    let lines = log_lines(&lua.nginx, needle);
    assert!(lines[0].contains("[error]"), "{}", lines[0]);
    assert!(lines[0].contains("HTTP status 500"), "{}", lines[0]);
}

#[test]
fn lua_pending_wait_yields_to_other_requests() {
    let server = KeyServer::start();
    server.set_route(
        "/jwks.json",
        Route::json(control_jwks()).with_delay(Duration::from_secs(2)),
    );
    let policy = remote_policy(&server.url("/jwks.json"), "12h");
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&policy, &upstream));
    let port = lua.port();

    let valid = format!("Bearer {}", valid_token());
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let request = request("/", Some(&valid));
            thread::spawn(move || timed_send(port, &request))
        })
        .collect();
    thread::sleep(Duration::from_millis(300));

    // The only worker is waiting for keys on three requests; an unguarded request must
    // still be served at once.
    let (open, open_elapsed) = timed_send(port, &request("/open", None));
    assert_eq!(open.status, 200, "unguarded status");
    assert!(
        open_elapsed < Duration::from_millis(500),
        "unguarded request took {open_elapsed:?}"
    );

    for (index, handle) in waiting.into_iter().enumerate() {
        let (response, elapsed) = handle.join().expect("request thread");
        assert_eq!(response.status, 200, "status of waiting request {index}");
        assert!(
            elapsed > Duration::from_millis(1000),
            "waiting request {index} took only {elapsed:?}"
        );
    }
    assert_eq!(server.request_count("/jwks.json"), 1, "fetches");
}

#[test]
fn lua_header_filter_does_not_wait() {
    let server = KeyServer::start();
    server.set_route(
        "/jwks.json",
        Route::json(control_jwks()).with_delay(Duration::from_secs(3)),
    );
    let policy = remote_policy(&server.url("/jwks.json"), "12h");
    let location = r#"
        location /filter {
            content_by_lua_block { ngx.say("body") }
            header_filter_by_lua_block {
                local claims, reason, status, message = verifier:verify_request()
                ngx.header["X-Reason"] = reason
                ngx.header["X-Status"] = status
                ngx.header["X-Message"] = message
            }
        }
"#;
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&policy, &upstream).var("LOCATIONS", location));

    let valid = format!("Bearer {}", valid_token());
    let (response, elapsed) = timed_send(lua.port(), &request("/filter", Some(&valid)));
    assert_eq!(response.status, 200, "status");
    assert_eq!(
        response.header("X-Reason"),
        Some("keys_unavailable"),
        "X-Reason"
    );
    assert_eq!(response.header("X-Status"), Some("403"), "X-Status");
    assert_eq!(
        response.header("X-Message"),
        Some("the key set is not loaded yet and the header_filter phase cannot wait for it"),
        "X-Message"
    );
    assert!(elapsed < Duration::from_secs(1), "request took {elapsed:?}");
}

#[test]
fn lua_misuse_raises_in_nginx() {
    let location = r#"
        location /misuse {
            content_by_lua_block {
                local ok, err = pcall(verifier.verify, verifier, 42)
                ngx.say(err)
                ok, err = pcall(verifier.start, "x")
                ngx.say(err)
            }
            header_filter_by_lua_block {
                local ok, err = pcall(verifier.access, verifier)
                ngx.header["X-Access-Error"] = err
            }
        }
"#;
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&inline_policy(TokenIn::Header), &upstream).var("LOCATIONS", location));
    let response = send_raw(lua.port(), &request("/misuse", None));
    assert_eq!(response.status, 200, "status");
    assert_eq!(
        response.text(),
        "bad argument #1 to 'verify' (string expected, got number)\n\
         calling 'start' on bad self (verifier expected, got string)\n",
        "body"
    );
    assert_eq!(
        response.header("X-Access-Error"),
        Some(
            "'access' cannot run in the header_filter phase; call it in \
             access_by_lua*, rewrite_by_lua* or content_by_lua*"
        ),
        "X-Access-Error"
    );
}

#[test]
fn lua_start_in_init_phase_stops_nginx() {
    let template = r#"
%%LOAD_MODULES%%
%%GLOBALS%%
events {}
http {
    %%HTTP_GLOBALS%%
    lua_package_cpath "%%LUA_CPATH%%/?.so;;";
    init_by_lua_block {
        local jwtguard = require "jwtguard"
        local verifier = assert(jwtguard.load("%%PREFIX%%/policy.json"))
        verifier:start()
    }
    server {
        listen 127.0.0.1:%%PORT%%;
    }
}
"#;
    let builder = Nginx::builder(template)
        .lua_module()
        .file("policy.json", inline_policy(TokenIn::Header));
    // nginx -t skips init_by_lua*, so only a real start shows the error.
    let failure = panic::catch_unwind(AssertUnwindSafe(|| start(builder)))
        .err()
        .expect("nginx must not start");
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("nginx exited at startup"), "{message}");
    assert!(
        message.contains("'start' cannot run in init_by_lua*, which runs in the master process"),
        "{message}"
    );
}

/// nginx ends each error log line written during a request with the request line, query
/// string included, so the module writes its lines from a timer instead.
#[test]
fn lua_query_denial_log_omits_token() {
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&inline_policy(TokenIn::Query), &upstream));
    let tokens = [
        ("not_yet_valid", case_token("064")),
        ("bad_signature", bad_signature_token()),
        ("expired", expired_token()),
    ];

    for (reason, token) in &tokens {
        let target = format!("/api/orders?page=2&{QUERY_PARAMETER}={token}");
        let response = send_raw(lua.port(), &request(&target, None));
        assert_eq!(response.status, 403, "status for {reason}");
        let needle = format!("request denied with status 403: {reason}: ");
        let lines = wait_for_lines(&lua.nginx, &needle, 1, LOG_WAIT);
        assert_eq!(lines.len(), 1, "{reason} lines:\n{}", lua.nginx.error_log());
    }

    let log = lua.nginx.error_log();
    for (reason, token) in &tokens {
        assert_log_omits_query_token(&log, token, &format!("the {reason} token"));
    }

    // The lines name the request by its path alone.
    for (reason, _) in &tokens {
        let needle = format!("request denied with status 403: {reason}: ");
        let line = &log_lines(&lua.nginx, &needle)[0];
        assert!(line.contains("[error]"), "{line}");
        assert!(line.contains(r#"request: "GET /api/orders""#), "{line}");
    }
}

#[test]
fn lua_query_fetch_log_omits_token() {
    let server = KeyServer::start();
    // The fetch fails 1.5 s after the worker starts, between two runs of the one-second
    // log timer, so the waiting request takes the failure's log record first.
    server.set_route(
        "/jwks.json",
        Route::new(500, "text/plain", "down\n").with_delay(Duration::from_millis(1500)),
    );
    let policy = with_token_location(
        &remote_policy(&server.url("/jwks.json"), "12h"),
        "QUERY",
        QUERY_PARAMETER,
    );
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&policy, &upstream).var("OPTIONS", "backoff_initial = 60"));

    let token = valid_token();
    let target = format!("/api/orders?{QUERY_PARAMETER}={token}");
    let response = send_raw(lua.port(), &request(&target, None));
    assert_eq!(response.status, 403, "status while the key set is missing");

    let fetch = wait_for_lines(&lua.nginx, "jwtguard: key set fetch from", 1, LOG_WAIT);
    assert_eq!(fetch.len(), 1, "{}", lua.nginx.error_log());
    assert!(fetch[0].contains("HTTP status 500"), "{}", fetch[0]);
    let denials = wait_for_lines(
        &lua.nginx,
        "request denied with status 403: keys_unavailable",
        1,
        LOG_WAIT,
    );
    assert_eq!(denials.len(), 1, "{}", lua.nginx.error_log());

    let log = lua.nginx.error_log();
    assert_log_omits_query_token(&log, &token, "the token");
}

/// Asserts that `log` contains no part of `token`, named `label` in messages,
/// and no query parameter that carried it.
fn assert_log_omits_query_token(log: &str, token: &str, label: &str) {
    for (index, segment) in token.split('.').enumerate() {
        assert!(
            !log.contains(segment),
            "the error log contains part {index} of {label}:\n{log}"
        );
    }
    let parameter = format!("{QUERY_PARAMETER}=");
    assert!(
        !log.contains(&parameter),
        "the error log contains the query string:\n{log}"
    );
}

/// Returns N from a line ending in "; N earlier rejections were not logged", or 0.
fn unlogged_count(line: &str) -> usize {
    let Some((_, rest)) = line.split_once("; ") else {
        return 0;
    };
    let Some((count, _)) = rest.split_once(" earlier rejections were not logged") else {
        return 0;
    };
    count
        .parse()
        .unwrap_or_else(|_| panic!("invalid count in {line}"))
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Sleeps until 20 ms after the start of the next wall-clock second.
fn sleep_until_next_second() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let into_second = Duration::from_nanos(u64::from(now.subsec_nanos()));
    thread::sleep(Duration::from_secs(1) - into_second + Duration::from_millis(20));
}

#[test]
fn lua_rejection_log_rate_limited() {
    const BURST: usize = 300;
    let upstream = EchoUpstream::start();
    let lua = start(guarded(&inline_policy(TokenIn::Header), &upstream));
    let bad = request("/", Some(&format!("Bearer {}", expired_token())));
    let needle = "request denied with status 403: expired";

    // The worker counts lines per second of its clock, which is the wall clock. A burst
    // that starts a second and lasts under 0.9 s stays within that second.
    sleep_until_next_second();
    let started_at = SystemTime::now();
    let started = Instant::now();
    for index in 0..BURST {
        assert_eq!(
            send_raw(lua.port(), &bad).status,
            403,
            "status of request {index}"
        );
    }
    let elapsed = started.elapsed();
    let seconds = (unix_seconds(SystemTime::now()) - unix_seconds(started_at) + 1) as usize;
    thread::sleep(Duration::from_millis(1100));

    let lines = log_lines(&lua.nginx, needle);
    assert!(!lines.is_empty(), "no rejection logged");
    assert!(
        lines.len() <= REJECT_LOG_RATE * seconds,
        "{} lines within {seconds} s",
        lines.len()
    );
    let reported: usize = lines.iter().map(|line| unlogged_count(line)).sum();
    assert!(
        lines.len() + reported <= BURST,
        "{} lines report {reported} more rejections than the {BURST} sent",
        lines.len()
    );

    // After a pause, the next rejection is logged and counts the ones left out.
    assert_eq!(send_raw(lua.port(), &bad).status, 403, "status after pause");
    let after = wait_for_lines(&lua.nginx, needle, lines.len() + 1, LOG_WAIT);
    assert_eq!(after.len(), lines.len() + 1, "lines after the pause");
    let last = &after[lines.len()];
    assert_eq!(
        lines.len() + reported + unlogged_count(last),
        BURST,
        "logged plus reported rejections; last line: {last}"
    );

    if elapsed < Duration::from_millis(900) {
        assert_eq!(lines.len(), REJECT_LOG_RATE, "lines of a burst within 1 s");
        assert_eq!(reported, 0, "counts in the burst's lines");
        let note = format!(
            "; {} earlier rejections were not logged",
            BURST - REJECT_LOG_RATE
        );
        assert!(last.contains(&note), "{last}");
    } else {
        eprintln!("the burst took {elapsed:?}, so the checks for a burst within 1 s were skipped");
    }
}

/// Returns a GET request for `/` with the given extra headers, in order.
fn request_with_headers(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut request = String::from("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Returns `name` with each '-' as '_' and each '_' as '-'.
fn swap_dash_and_underscore(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' => '_',
            '_' => '-',
            other => other,
        })
        .collect()
}

/// The token header is the first one whose name equals `tokenName` case-insensitively, as
/// in the C module. A name that differs in '-' versus '_' is another header, even where
/// nginx accepts it, and of repeated headers the first counts.
#[test]
fn lua_token_header_found_by_exact_name() {
    let upstream = EchoUpstream::start();
    let valid = valid_token();
    let expired = expired_token();
    // "Token" is read through ngx.var. nginx joins repeated Cookie headers in $http_cookie,
    // so "Cookie" checks the fallback to ngx.req.get_headers, which names with '-' or '_'
    // always take.
    for name in ["Token", "Cookie", "X-Api-Token", "X_Api_Token"] {
        let policy = with_token_location(&inline_policy(TokenIn::Header), "HEADER", name);
        let builder = guarded(&policy, &upstream).var("HTTP", "underscores_in_headers on;");
        let lua = start(builder);
        let lowercase = name.to_lowercase();
        let uppercase = name.to_uppercase();
        let swapped = swap_dash_and_underscore(name);
        let mut cases = vec![
            ("exact name", vec![(name, valid.as_str())], 200),
            (
                "lowercase name",
                vec![(lowercase.as_str(), valid.as_str())],
                200,
            ),
            (
                "valid first of two",
                vec![
                    (name, valid.as_str()),
                    (uppercase.as_str(), expired.as_str()),
                ],
                200,
            ),
            (
                "expired first of two",
                vec![
                    (uppercase.as_str(), expired.as_str()),
                    (name, valid.as_str()),
                ],
                403,
            ),
        ];
        if swapped != name {
            cases.push((
                "'-' and '_' swapped",
                vec![(swapped.as_str(), valid.as_str())],
                401,
            ));
        }
        for (label, headers, status) in cases {
            let response = send_raw(lua.port(), &request_with_headers(&headers));
            assert_eq!(response.status, status, "{name}: {label}");
        }
    }
}
