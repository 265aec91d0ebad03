//! Configuration errors and warnings of the jwtguard directives, checked with `nginx -t`.
//!
//! The directives sit in `jwtguard.conf`, which `nginx.conf` includes, so the expected
//! `file:line` in each message does not depend on how many lines the harness's
//! placeholders expand to.

use jwtguard_harness::{
    EchoUpstream, Nginx, NginxBuilder, TokenIn, inline_policy, remote_policy, send_raw,
};
use serde_json::{Value, json};

const TEMPLATE: &str = "
%%LOAD_MODULES%%
%%GLOBALS%%
events {}
http {
    %%HTTP_GLOBALS%%
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            include jwtguard.conf;
            return 204;
        }
    }
}
";

/// Returns a builder whose location includes `directives` as `jwtguard.conf`, with
/// `policy` written to `policy.json`.
fn with_directives(directives: &str, policy: &str) -> NginxBuilder {
    Nginx::builder(TEMPLATE)
        .jwtguard_module()
        .file("jwtguard.conf", directives)
        .file("policy.json", policy)
}

/// Asserts that `nginx -t` fails and that its output contains each of `needles`.
fn assert_config_fails(builder: NginxBuilder, needles: &[&str]) {
    let (passed, output) = builder.check_config();
    assert!(!passed, "nginx -t passed:\n{output}");
    assert!(output.contains("[emerg]"), "no [emerg] line:\n{output}");
    for needle in needles {
        assert!(output.contains(needle), "missing {needle:?} in:\n{output}");
    }
}

#[test]
fn invalid_policy_names_file_line_and_path() {
    let mut policy: Value = serde_json::from_str(&inline_policy(TokenIn::Header)).expect("JSON");
    policy["policies"]["oauth2-jwt-assertion"][0]["action"]["errorReturnConditions"]["noMatch"]["returnCode"] =
        json!(700);
    let directives = "# jwtguard settings\n\njwtguard_policy policy.json;\n";
    assert_config_fails(
        with_directives(directives, &policy.to_string()),
        &[
            "failed to load jwtguard policy",
            "policy.json",
            "policies.oauth2-jwt-assertion[0].action.errorReturnConditions.noMatch.returnCode",
            "700",
            "jwtguard.conf:3",
        ],
    );
}

#[test]
fn policy_that_is_not_json_fails() {
    assert_config_fails(
        with_directives("jwtguard_policy policy.json;\n", "{ not json"),
        &["failed to load jwtguard policy", "jwtguard.conf:1"],
    );
}

#[test]
fn missing_policy_file_fails() {
    assert_config_fails(
        with_directives("jwtguard_policy no-such-policy.json;\n", "{}"),
        &["no-such-policy.json", "jwtguard.conf:1"],
    );
}

#[test]
fn duplicate_policy_directive_fails() {
    let directives = "jwtguard_policy policy.json;\njwtguard_policy policy.json;\n";
    assert_config_fails(
        with_directives(directives, &inline_policy(TokenIn::Header)),
        &[
            "\"jwtguard_policy\" directive is duplicate",
            "jwtguard.conf:2",
        ],
    );
}

#[test]
fn empty_policy_file_name_fails() {
    assert_config_fails(
        with_directives("jwtguard_policy \"\";\n", "{}"),
        &["empty jwtguard policy file name", "jwtguard.conf:1"],
    );
}

#[test]
fn invalid_time_value_fails() {
    let directives = "jwtguard_policy policy.json;\njwtguard_leeway soon;\n";
    assert_config_fails(
        with_directives(directives, &inline_policy(TokenIn::Header)),
        &[
            "\"jwtguard_leeway\" directive invalid value",
            "jwtguard.conf:2",
        ],
    );
}

#[test]
fn realm_with_quote_fails() {
    let directives = "jwtguard_policy policy.json;\njwtguard_realm 'a\"b';\n";
    assert_config_fails(
        with_directives(directives, &inline_policy(TokenIn::Header)),
        &["realm", "jwtguard.conf:1"],
    );
}

#[test]
fn missing_ca_file_fails() {
    let policy = remote_policy("https://127.0.0.1:1/jwks.json", "12h");
    let directives = "jwtguard_policy policy.json;\njwtguard_ca_file no-such-ca.pem;\n";
    assert_config_fails(
        with_directives(directives, &policy),
        &["no-such-ca.pem", "jwtguard.conf:1"],
    );
}

#[test]
fn policy_warning_logged_at_warn() {
    let policy = remote_policy("http://127.0.0.1:1/jwks.json", "12h");
    let (passed, output) =
        with_directives("\njwtguard_policy policy.json;\n", &policy).check_config();
    assert!(passed, "nginx -t failed:\n{output}");
    let warning = output
        .lines()
        .find(|line| line.contains("uses plain http"))
        .unwrap_or_else(|| panic!("no plain http warning in:\n{output}"));
    assert!(warning.contains("[warn]"), "{warning}");
    assert!(warning.contains("jwtguard.conf:2"), "{warning}");
    assert!(warning.contains("jwksURI"), "{warning}");
}

#[test]
fn policy_off_needs_no_file() {
    let (passed, output) = with_directives("jwtguard_policy off;\n", "{}").check_config();
    assert!(passed, "nginx -t failed:\n{output}");
}

/// A policy set at the http level reaches every server below it.
#[test]
fn http_level_policy_is_inherited() {
    let template = "
%%LOAD_MODULES%%
%%GLOBALS%%
events {}
http {
    %%HTTP_GLOBALS%%
    jwtguard_policy policy.json;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            proxy_pass http://%%UPSTREAM%%;
        }
    }
}
";
    let upstream = EchoUpstream::start();
    let nginx = Nginx::builder(template)
        .jwtguard_module()
        .upstream(&upstream)
        .file("policy.json", inline_policy(TokenIn::Header))
        .start();
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for attempt in 1..=2 {
        assert_eq!(
            send_raw(nginx.port(), request).status,
            401,
            "request {attempt}"
        );
    }
}

#[test]
fn invalid_token_cache_size_fails() {
    let directives = "jwtguard_policy policy.json;\njwtguard_token_cache many;\n";
    assert_config_fails(
        with_directives(directives, &inline_policy(TokenIn::Header)),
        &[
            "\"jwtguard_token_cache\" directive invalid number",
            "jwtguard.conf:2",
        ],
    );
}

#[test]
fn token_cache_size_is_accepted() {
    for size in ["0", "16", "100000"] {
        let directives = format!("jwtguard_policy policy.json;\njwtguard_token_cache {size};\n");
        let (passed, output) =
            with_directives(&directives, &inline_policy(TokenIn::Header)).check_config();
        assert!(
            passed,
            "jwtguard_token_cache {size}: nginx -t failed:\n{output}"
        );
    }
}
