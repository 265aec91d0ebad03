//! Request scenarios through nginx with inline keys: token locations, statuses and
//! challenges, custom return codes, variables, `satisfy`, internal redirects, several
//! workers, and the log lines the module writes.

mod common;

use std::collections::BTreeSet;
use std::thread;

use jwtguard_harness::{
    Case, EchoUpstream, EchoedRequest, INVALID_CHALLENGE, MISSING_CHALLENGE, Ports,
    QUERY_PARAMETER, TokenIn, VALID_SUBJECT, check_request_scenarios, expired_token,
    forwarded_subject, inline_policy, log_lines, request, send_raw, valid_token, workspace_root,
};
use serde_json::{Value, json};

use common::{Ed25519Issuer, base64url, guarded};

/// Wraps an `action` object in the policy document shape.
fn policy_document(action: Value) -> String {
    json!({ "policies": { "oauth2-jwt-assertion": [ { "action": action } ] } }).to_string()
}

/// Returns the `jwksKeys` of the control cases.
fn control_keys() -> Value {
    let policy: Value = serde_json::from_str(&Case::find("900").policy(Ports::default()))
        .expect("policy of case 900 is JSON");
    policy["policies"]["oauth2-jwt-assertion"][0]["action"]["jwksKeys"].clone()
}

fn run_shared_scenarios(token_in: TokenIn) {
    let upstream = EchoUpstream::start();
    let nginx = guarded(&inline_policy(token_in), &upstream).start();
    check_request_scenarios(nginx.port(), token_in);
}

#[test]
fn authorization_header_scenarios() {
    run_shared_scenarios(TokenIn::Header);
}

#[test]
fn query_parameter_scenarios() {
    run_shared_scenarios(TokenIn::Query);
}

#[test]
fn custom_status_codes() {
    let policy = policy_document(json!({
        "jwksKeys": control_keys(),
        "tokenName": "Authorization",
        "tokenSuppliedIn": "HEADER",
        "errorReturnConditions": {
            "notSupplied": { "returnCode": 418 },
            "noMatch": { "returnCode": 451 },
        },
    }));
    let upstream = EchoUpstream::start();
    let nginx = guarded(&policy, &upstream).start();
    let expired = format!("Bearer {}", expired_token());
    let valid = format!("Bearer {}", valid_token());

    for attempt in 1..=2 {
        let missing = send_raw(nginx.port(), &request("/api", None));
        assert_eq!(missing.status, 418, "no token, request {attempt}");
        assert_eq!(missing.header("www-authenticate"), Some(MISSING_CHALLENGE));

        let rejected = send_raw(nginx.port(), &request("/api", Some(&expired)));
        assert_eq!(rejected.status, 451, "expired token, request {attempt}");
        assert_eq!(rejected.header("www-authenticate"), Some(INVALID_CHALLENGE));

        let allowed = send_raw(nginx.port(), &request("/api", Some(&valid)));
        assert_eq!(allowed.status, 200, "valid token, request {attempt}");
    }
}

#[test]
fn custom_header_token() {
    let policy = policy_document(json!({
        "jwksKeys": control_keys(),
        "tokenName": "X-Api-Token",
        "tokenSuppliedIn": "HEADER",
    }));
    let upstream = EchoUpstream::start();
    let nginx = guarded(&policy, &upstream).start();
    let token = valid_token();
    let with_header = |name: &str, value: &str| {
        format!("GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\n{name}: {value}\r\n\r\n").into_bytes()
    };

    for attempt in 1..=2 {
        let allowed = send_raw(nginx.port(), &with_header("x-api-token", &token));
        assert_eq!(
            allowed.status, 200,
            "lowercase header name, request {attempt}"
        );
        assert_eq!(forwarded_subject(&allowed).as_deref(), Some(VALID_SUBJECT));

        let bearer = send_raw(
            nginx.port(),
            &with_header("X-Api-Token", &format!("Bearer {token}")),
        );
        assert_eq!(bearer.status, 200, "Bearer prefix, request {attempt}");

        let authorization = send_raw(
            nginx.port(),
            &with_header("Authorization", &format!("Bearer {token}")),
        );
        assert_eq!(
            authorization.status, 401,
            "token in Authorization, request {attempt}"
        );

        let invalid = send_raw(nginx.port(), &with_header("X-Api-Token", "abc.def.ghi"));
        assert_eq!(invalid.status, 403, "malformed token, request {attempt}");
    }
}

#[test]
fn claim_and_header_variables() {
    let manifest = independent_manifest();
    let token = manifest_token(&manifest, "rs256-valid");
    let policy = policy_document(json!({ "jwksKeys": manifest["jwks"]["keys"].clone() }));
    let upstream = EchoUpstream::start();
    let location = "
        proxy_set_header X-Kid $jwt_header_kid;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_set_header X-Exp $jwt_claim_exp;
        proxy_set_header X-Roles $jwt_claim_roles;
        proxy_set_header X-Missing $jwt_claim_no_such_claim;
        proxy_set_header X-Payload $jwt_payload;";
    let nginx = guarded(&policy, &upstream)
        .var("LOCATION", location)
        .start();

    for attempt in 1..=2 {
        let response = send_raw(
            nginx.port(),
            &request("/api", Some(&format!("Bearer {token}"))),
        );
        assert_eq!(response.status, 200, "request {attempt}");
        let echoed = EchoedRequest::from_body(&response.body).expect("echo body");
        assert_eq!(echoed.header("x-sub"), Some("user-4711"));
        assert_eq!(echoed.header("x-kid"), Some("rs256-published"));
        assert_eq!(echoed.header("x-alg"), Some("RS256"));
        assert_eq!(echoed.header("x-exp"), Some("4102444800"));
        assert_eq!(
            echoed.header("x-roles"),
            Some(r#"["customer","support-agent"]"#)
        );
        assert_eq!(
            echoed.header("x-missing"),
            None,
            "an absent claim sends no header"
        );
        let payload: Value =
            serde_json::from_str(echoed.header("x-payload").expect("X-Payload")).expect("JSON");
        assert_eq!(payload["jti"], "rs256-valid");
    }

    let denied = send_raw(nginx.port(), &request("/open", None));
    assert_eq!(denied.status, 200, "unguarded location");
    let echoed = EchoedRequest::from_body(&denied.body).expect("echo body");
    assert_eq!(echoed.header("x-sub"), None, "no token, no claim");
}

/// Every PyJWT-signed token of the independent fixtures, against their published keys.
#[test]
fn independent_tokens_every_algorithm() {
    let manifest = independent_manifest();
    let policy = policy_document(json!({ "jwksKeys": manifest["jwks"]["keys"].clone() }));
    let upstream = EchoUpstream::start();
    let nginx = guarded(&policy, &upstream).start();
    let tokens = manifest["tokens"].as_array().expect("tokens array");
    assert!(tokens.len() >= 70, "only {} tokens", tokens.len());
    let mut failures = Vec::new();

    for entry in tokens {
        let name = entry["name"].as_str().expect("name");
        let token = entry["token"].as_str().expect("token");
        let expected = if entry["expect"] == "allow" { 200 } else { 403 };
        let response = send_raw(
            nginx.port(),
            &request("/api", Some(&format!("Bearer {token}"))),
        );
        if response.status != expected {
            failures.push(format!(
                "{name}: status {}, expected {expected}",
                response.status
            ));
        }
        if expected == 200 && forwarded_subject(&response).is_none() {
            failures.push(format!("{name}: X-Sub not forwarded"));
        }
    }
    assert!(
        failures.is_empty(),
        "failed tokens:\n{}",
        failures.join("\n")
    );
}

#[test]
fn satisfy_any_with_access_module() {
    let upstream = EchoUpstream::start();
    let granted = guarded(&inline_policy(TokenIn::Header), &upstream)
        .var("LOCATION", "satisfy any; allow 127.0.0.1; deny all;")
        .start();
    for attempt in 1..=2 {
        let response = send_raw(granted.port(), &request("/api", None));
        assert_eq!(
            response.status, 200,
            "allow grants without a token, request {attempt}"
        );
        assert_eq!(response.header("www-authenticate"), None);
    }

    let denied = guarded(&inline_policy(TokenIn::Header), &upstream)
        .var("LOCATION", "satisfy any; deny all;")
        .start();
    let valid = format!("Bearer {}", valid_token());
    for attempt in 1..=2 {
        let missing = send_raw(denied.port(), &request("/api", None));
        assert_eq!(missing.status, 401, "no token, request {attempt}");
        assert_eq!(missing.header("www-authenticate"), Some(MISSING_CHALLENGE));

        let allowed = send_raw(denied.port(), &request("/api", Some(&valid)));
        assert_eq!(allowed.status, 200, "valid token grants, request {attempt}");
    }
}

/// `try_files` ends in an internal redirect, which clears module contexts. The decision
/// must survive it, so the token is verified and logged once and the variables of the
/// target location still return the claims.
#[test]
fn internal_redirect_keeps_decision() {
    let upstream = EchoUpstream::start();
    let server = format!(
        "
        root html;
        location /redirect/ {{
            try_files /no-such-file /api$is_args$args;
        }}
        location /redirect-open/ {{
            try_files /no-such-file /open-sub;
        }}
        location /open-sub {{
            jwtguard_policy off;
            proxy_set_header X-Sub $jwt_claim_sub;
            proxy_pass http://{};
        }}
        jwtguard_policy policy.json;",
        upstream.address()
    );
    let nginx = guarded(&inline_policy(TokenIn::Header), &upstream)
        .var("SERVER", &server)
        .start();
    let valid = format!("Bearer {}", valid_token());
    let expired = format!("Bearer {}", expired_token());

    let allowed = send_raw(nginx.port(), &request("/redirect/", Some(&valid)));
    assert_eq!(allowed.status, 200, "valid token through the redirect");
    assert_eq!(forwarded_subject(&allowed).as_deref(), Some(VALID_SUBJECT));

    let open = send_raw(nginx.port(), &request("/redirect-open/", Some(&valid)));
    assert_eq!(open.status, 200, "redirect into an unguarded location");
    assert_eq!(
        forwarded_subject(&open).as_deref(),
        Some(VALID_SUBJECT),
        "claims survive the redirect"
    );

    let rejected = send_raw(nginx.port(), &request("/redirect/", Some(&expired)));
    assert_eq!(rejected.status, 403, "expired token through the redirect");

    let missing = send_raw(nginx.port(), &request("/redirect-open/", None));
    assert_eq!(missing.status, 401, "the first location checks the token");

    assert_eq!(
        log_lines(&nginx, "jwt rejected").len(),
        1,
        "one rejected request logs once:\n{}",
        nginx.error_log()
    );
}

#[test]
fn worker_processes_two_and_four() {
    for workers in [2, 4] {
        let upstream = EchoUpstream::start();
        let nginx = guarded(&inline_policy(TokenIn::Header), &upstream)
            .var("WORKERS", &workers.to_string())
            .var("LISTEN", "reuseport")
            .var("LOCATION", "proxy_set_header X-Worker $pid;")
            .start();
        let port = nginx.port();
        let valid = format!("Bearer {}", valid_token());
        let expired = format!("Bearer {}", expired_token());

        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (valid, expired) = (valid.clone(), expired.clone());
                thread::spawn(move || {
                    let mut results = Vec::new();
                    for _ in 0..10 {
                        let allowed = send_raw(port, &request("/api", Some(&valid)));
                        let denied = send_raw(port, &request("/api", Some(&expired)));
                        results.push((allowed, denied.status));
                    }
                    results
                })
            })
            .collect();

        let mut worker_pids = BTreeSet::new();
        for client in clients {
            for (allowed, denied_status) in client.join().expect("client thread") {
                assert_eq!(allowed.status, 200, "{workers} workers: valid token");
                assert_eq!(denied_status, 403, "{workers} workers: expired token");
                assert_eq!(forwarded_subject(&allowed).as_deref(), Some(VALID_SUBJECT));
                let echoed = EchoedRequest::from_body(&allowed.body).expect("echo body");
                worker_pids.insert(echoed.header("x-worker").unwrap_or_default().to_string());
            }
        }
        // With reuseport the kernel hashes each of the 80 connections to one worker's
        // socket. Assuming an even spread, a worker gets none with a chance of about
        // (3/4)^80, below 1e-9, for 4 workers.
        assert_eq!(
            worker_pids.len(),
            workers,
            "workers that responded: {worker_pids:?}"
        );
    }
}

#[test]
fn log_levels_without_token_text() {
    for token_in in [TokenIn::Header, TokenIn::Query] {
        let upstream = EchoUpstream::start();
        let nginx = guarded(&inline_policy(token_in), &upstream).start();
        let expired = expired_token();
        let rejected_request = match token_in {
            TokenIn::Header => request("/api", Some(&format!("Bearer {expired}"))),
            TokenIn::Query => request(&format!("/api?{QUERY_PARAMETER}={expired}"), None),
        };

        assert_eq!(send_raw(nginx.port(), &request("/api", None)).status, 401);
        assert_eq!(send_raw(nginx.port(), &rejected_request).status, 403);

        let missing = log_lines(&nginx, "no jwt supplied");
        assert_eq!(missing.len(), 1, "{token_in:?}: {missing:?}");
        assert!(
            missing[0].contains("[info]"),
            "{token_in:?}: {}",
            missing[0]
        );

        let rejected = log_lines(&nginx, "jwt rejected (expired)");
        assert_eq!(rejected.len(), 1, "{token_in:?}:\n{}", nginx.error_log());
        assert!(
            rejected[0].contains("[error]"),
            "{token_in:?}: {}",
            rejected[0]
        );
        assert!(
            rejected[0].contains("request: \"GET /api"),
            "{token_in:?}: {}",
            rejected[0]
        );

        let (_, signature) = expired.rsplit_once('.').expect("signature");
        let log = nginx.error_log();
        assert!(
            !log.contains(signature),
            "{token_in:?}: token text in the log:\n{log}"
        );
    }
}

#[test]
fn unguarded_location_needs_no_token() {
    let upstream = EchoUpstream::start();
    let nginx = guarded(&inline_policy(TokenIn::Header), &upstream).start();
    for attempt in 1..=2 {
        assert_eq!(
            send_raw(nginx.port(), &request("/open", None)).status,
            200,
            "request {attempt}"
        );
        assert_eq!(
            send_raw(nginx.port(), &request("/api", None)).status,
            401,
            "request {attempt}"
        );
    }
}

/// A location that sets only an option inherits the policy and gets its own verifier,
/// whose leeway lets the expired control token through.
#[test]
fn leeway_in_nested_location() {
    let upstream = EchoUpstream::start();
    let server = format!(
        "
        location /lenient {{
            jwtguard_leeway 36500d;
            proxy_pass http://{};
        }}
        jwtguard_policy policy.json;",
        upstream.address()
    );
    let nginx = guarded(&inline_policy(TokenIn::Header), &upstream)
        .var("SERVER", &server)
        .start();
    // The expired control token's exp is 2001-09-09, so a leeway of 100 years accepts it
    // until 2101. Millisecond directives take no `y` unit, hence 36500d.
    let expired = format!("Bearer {}", expired_token());
    for attempt in 1..=2 {
        let strict = send_raw(nginx.port(), &request("/api", Some(&expired)));
        assert_eq!(strict.status, 403, "default leeway, request {attempt}");
        let lenient = send_raw(nginx.port(), &request("/lenient", Some(&expired)));
        assert_eq!(lenient.status, 200, "100-year leeway, request {attempt}");
    }
}

#[test]
fn realm_in_challenge() {
    let upstream = EchoUpstream::start();
    let nginx = guarded(&inline_policy(TokenIn::Header), &upstream)
        .var("LOCATION", "jwtguard_realm \"orders api\";")
        .start();
    let missing = send_raw(nginx.port(), &request("/api", None));
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"orders api\"")
    );
    let expired = send_raw(
        nginx.port(),
        &request("/api", Some(&format!("Bearer {}", expired_token()))),
    );
    assert_eq!(expired.status, 403);
    assert_eq!(
        expired.header("www-authenticate"),
        Some("Bearer realm=\"orders api\", error=\"invalid_token\"")
    );
}

fn independent_manifest() -> Value {
    let path = workspace_root().join("crates/jwtguard/tests/fixtures/independent/manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

fn manifest_token(manifest: &Value, name: &str) -> String {
    manifest["tokens"]
        .as_array()
        .expect("tokens array")
        .iter()
        .find(|entry| entry["name"] == name)
        .and_then(|entry| entry["token"].as_str())
        .unwrap_or_else(|| panic!("no token {name} in manifest.json"))
        .to_string()
}

/// A claim with CR or LF would split the header built from it, so its variable is not
/// found; CR and LF between the payload's JSON tokens become spaces in `$jwt_payload`.
#[test]
fn variables_with_line_breaks() {
    let issuer = Ed25519Issuer::generate();
    let payload = "{\r\n  \"sub\": \"user-9\",\n  \"note\": \"a\\r\\nInjected: yes\",\n  \
                   \"vt\": \"a\\u000bb\", \"del\": \"a\\u007fb\", \"tab\": \"a\\tb\",\n  \
                   \"exp\": 4102444800\n}";
    let token = issuer.token(payload);
    let upstream = EchoUpstream::start();
    let location = "
        proxy_set_header X-Note $jwt_claim_note;
        proxy_set_header X-Vt $jwt_claim_vt;
        proxy_set_header X-Del $jwt_claim_del;
        proxy_set_header X-Tab $jwt_claim_tab;
        proxy_set_header X-Payload $jwt_payload;";
    let nginx = guarded(&issuer.policy(), &upstream)
        .var("LOCATION", location)
        .start();

    for attempt in 1..=2 {
        let response = send_raw(
            nginx.port(),
            &request("/api", Some(&format!("Bearer {token}"))),
        );
        assert_eq!(response.status, 200, "request {attempt}");
        let echoed = EchoedRequest::from_body(&response.body).expect("echo body");
        assert_eq!(echoed.header("x-sub"), Some("user-9"));
        assert_eq!(echoed.header("x-note"), None, "claim with CR LF");
        assert_eq!(echoed.header("injected"), None, "no header injected");
        assert_eq!(echoed.header("x-vt"), None, "claim with a vertical tab");
        assert_eq!(echoed.header("x-del"), None, "claim with DEL");
        assert_eq!(echoed.header("x-tab"), Some("a\tb"), "a tab is allowed");
        let forwarded = echoed.header("x-payload").expect("X-Payload");
        assert!(!forwarded.contains(['\r', '\n']), "{forwarded:?}");
        let parsed: Value = serde_json::from_str(forwarded).expect("X-Payload is JSON");
        assert_eq!(parsed["note"], "a\r\nInjected: yes");
    }
}

#[test]
fn base64url_encoding_matches_rfc() {
    // RFC 4648 section 10 vectors, without padding.
    let vectors = [
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ];
    for (input, expected) in vectors {
        assert_eq!(base64url(input.as_bytes()), expected, "{input:?}");
    }
    assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
}

/// A flood of rejected tokens writes at most 100 "jwt rejected" lines a
/// second per worker; the next line written counts the ones left out.
#[test]
fn rejection_log_lines_are_rate_limited() {
    let upstream = EchoUpstream::start();
    let nginx = guarded(&inline_policy(TokenIn::Header), &upstream).start();
    let rejected = request("/api", Some(&format!("Bearer {}", expired_token())));
    let started = std::time::Instant::now();
    for _ in 0..300 {
        assert_eq!(send_raw(nginx.port(), &rejected).status, 403);
    }
    let elapsed = started.elapsed();
    let seconds = elapsed.as_secs() as usize + 1;
    let lines = log_lines(&nginx, "jwt rejected (expired)").len();
    assert!(lines <= 100 * seconds, "{lines} lines in {elapsed:?}");
    if elapsed < std::time::Duration::from_millis(900) {
        thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(send_raw(nginx.port(), &rejected).status, 403);
        let summary = log_lines(&nginx, "earlier rejections were not logged");
        assert_eq!(summary.len(), 1, "{}", nginx.error_log());
        assert!(summary[0].contains("; 200 earlier"), "{}", summary[0]);
    }
}
