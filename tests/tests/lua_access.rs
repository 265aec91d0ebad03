//! The Lua module in real nginx: `verifier:access()` on the shared request scenarios,
//! `verify_request()`, remote keys with waits that yield, and logging through `ngx.log`.

mod lua_support;

use std::net::TcpListener;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

use jwtguard_harness::{
    Case, EchoUpstream, INVALID_CHALLENGE, KeyServer, Nginx, Ports, Route, TokenIn, VALID_SUBJECT,
    control_jwks, expired_token, inline_policy, remote_policy, request_scenarios, send_raw,
    valid_token,
};
use serde_json::json;

use lua_support::{forwarded_subject, guarded, log_lines, request, start, timed_send};

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
    let scenarios: Vec<_> = request_scenarios()
        .into_iter()
        .filter(|scenario| scenario.token_in == token_in)
        .collect();
    assert!(scenarios.len() >= 7, "only {} scenarios", scenarios.len());

    for scenario in &scenarios {
        for attempt in 1..=2 {
            let response = send_raw(nginx.port(), &scenario.request());
            let label = format!("{} (request {attempt})", scenario.name);
            assert_eq!(response.status, scenario.status, "{label}: status");
            assert_eq!(
                response.header("WWW-Authenticate"),
                scenario.challenge,
                "{label}: WWW-Authenticate"
            );
            if scenario.allowed() {
                assert_eq!(
                    forwarded_subject(&response).as_deref(),
                    Some(VALID_SUBJECT),
                    "{label}: X-Sub"
                );
            }
        }
    }
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

    let missing = log_lines(&lua.nginx, "request denied with status 401: missing");
    assert_eq!(missing.len(), 1, "{}", lua.nginx.error_log());
    assert!(missing[0].contains("[info]"), "{}", missing[0]);
    let expired_lines = log_lines(&lua.nginx, "request denied with status 403: expired");
    assert_eq!(expired_lines.len(), 1, "{}", lua.nginx.error_log());
    assert!(expired_lines[0].contains("[error]"), "{}", expired_lines[0]);
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
fn lua_access_stores_claims_in_ctx() {
    let upstream = EchoUpstream::start();
    let location = r#"
        location /ctx {
            access_by_lua_block { verifier:access() }
            content_by_lua_block {
                local claims = ngx.ctx.jwtguard_claims
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
        assert_eq!(
            response.header("WWW-Authenticate"),
            Some(INVALID_CHALLENGE),
            "WWW-Authenticate of attempt {attempt}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "attempt {attempt} took {elapsed:?}"
        );
    }
    let failed = log_lines(&lua.nginx, "jwtguard: key set fetch from http://127.0.0.1:");
    assert_eq!(failed.len(), 1, "{}", lua.nginx.error_log());
    assert!(failed[0].contains("[error]"), "{}", failed[0]);
    assert_eq!(
        log_lines(
            &lua.nginx,
            "request denied with status 403: keys_unavailable"
        )
        .len(),
        2,
        "{}",
        lua.nginx.error_log()
    );
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
