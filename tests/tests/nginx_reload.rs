//! Reloads (SIGHUP, as `nginx -s reload` sends) with the jwtguard module: no request
//! fails while nginx reloads under load, an invalid policy leaves the running
//! configuration in place, and a changed policy takes effect.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use jwtguard_harness::{
    DEFAULT_TIMEOUT, EchoUpstream, KeyServer, Nginx, QUERY_PARAMETER, Route, TokenIn, control_jwks,
    inline_policy, remote_policy, request, send_raw, try_send_raw, valid_token,
};

use common::guarded;

const TEMPLATE: &str = "
%%LOAD_MODULES%%
%%GLOBALS%%
worker_processes 2;
events {}
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location /inline {
            jwtguard_policy inline.json;
            proxy_pass http://%%UPSTREAM%%;
        }
        location /remote {
            jwtguard_policy remote.json;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
}
";

#[test]
fn reload_under_load_fails_no_request() {
    let key_server = KeyServer::start();
    key_server.set_route("/jwks.json", Route::json(control_jwks()));
    let upstream = EchoUpstream::start();
    let nginx = Nginx::builder(TEMPLATE)
        .jwtguard_module()
        .upstream(&upstream)
        .file("inline.json", inline_policy(TokenIn::Header))
        .file(
            "remote.json",
            remote_policy(&key_server.url("/jwks.json"), "12h"),
        )
        .start();
    let port = nginx.port();
    let stop = Arc::new(AtomicBool::new(false));
    let authorization = format!("Bearer {}", valid_token());

    let clients: Vec<_> = (0..4)
        .map(|client| {
            let stop = Arc::clone(&stop);
            let authorization = authorization.clone();
            thread::spawn(move || {
                let mut failures = Vec::new();
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = if (client + sent) % 2 == 0 {
                        "/inline"
                    } else {
                        "/remote"
                    };
                    let request = request(path, Some(&authorization));
                    match try_send_raw(port, &request, DEFAULT_TIMEOUT) {
                        Ok(response) if response.status == 200 => {}
                        Ok(response) => {
                            failures.push(format!("{path}: status {}", response.status))
                        }
                        Err(error) => failures.push(format!("{path}: {error}")),
                    }
                    sent += 1;
                }
                (sent, failures)
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(300));
    for reload in 1..=3 {
        nginx
            .reload()
            .unwrap_or_else(|error| panic!("reload {reload}: {error}"));
        thread::sleep(Duration::from_millis(400));
    }
    stop.store(true, Ordering::Relaxed);

    let mut total = 0;
    let mut failures = Vec::new();
    for client in clients {
        let (sent, client_failures) = client.join().expect("client thread");
        total += sent;
        failures.extend(client_failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        total >= 100,
        "only {total} requests sent during the reloads"
    );
    // Two workers per generation fetch the key set: the first ones and those of each
    // reload.
    assert!(
        key_server.request_count("/jwks.json") >= 8,
        "fetches: {}",
        key_server.request_count("/jwks.json")
    );
}

#[test]
fn reload_with_invalid_policy_keeps_old() {
    let upstream = EchoUpstream::start();
    let mut nginx = guarded(&inline_policy(TokenIn::Header), &upstream).start();
    let authorization = format!("Bearer {}", valid_token());
    assert_eq!(
        send_raw(nginx.port(), &request("/api", Some(&authorization))).status,
        200
    );

    nginx.write_file("policy.json", "{\"policies\": 1}");
    let error = nginx
        .reload()
        .expect_err("a reload with an invalid policy must fail");
    assert!(error.contains("failed to load jwtguard policy"), "{error}");
    // The rejected reload logs [emerg] on purpose.
    nginx.allow_alerts();

    for attempt in 1..=2 {
        let response = send_raw(nginx.port(), &request("/api", Some(&authorization)));
        assert_eq!(response.status, 200, "old configuration, request {attempt}");
    }
}

#[test]
fn reload_applies_changed_policy() {
    let upstream = EchoUpstream::start();
    let nginx = guarded(&inline_policy(TokenIn::Header), &upstream).start();
    let token = valid_token();
    let header_request = request("/api", Some(&format!("Bearer {token}")));
    let query_request = request(&format!("/api?{QUERY_PARAMETER}={token}"), None);
    assert_eq!(send_raw(nginx.port(), &header_request).status, 200);
    assert_eq!(send_raw(nginx.port(), &query_request).status, 401);

    nginx.write_file("policy.json", inline_policy(TokenIn::Query));
    nginx.reload().expect("reload with the query policy");

    for attempt in 1..=2 {
        assert_eq!(
            send_raw(nginx.port(), &query_request).status,
            200,
            "query token, request {attempt}"
        );
        assert_eq!(
            send_raw(nginx.port(), &header_request).status,
            401,
            "header token, request {attempt}"
        );
    }
}
