//! Request helpers shared by the NGINX module and Lua module tests.

use std::time::{Duration, Instant};

use crate::cases::{Case, Ports};
use crate::client::{Response, send_raw};
use crate::echo::EchoedRequest;
use crate::nginx::Nginx;
use crate::scenarios::{TokenIn, VALID_SUBJECT, request_scenarios};

/// Returns a GET request for `target` on 127.0.0.1 with an optional `Authorization` value.
pub fn request(target: &str, authorization: Option<&str>) -> Vec<u8> {
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if let Some(value) = authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Sends `request` and returns the response together with the time it took.
pub fn timed_send(port: u16, request: &[u8]) -> (Response, Duration) {
    let started = Instant::now();
    let response = send_raw(port, request);
    (response, started.elapsed())
}

/// Returns the `X-Sub` header the echo upstream received in a 200 response.
pub fn forwarded_subject(response: &Response) -> Option<String> {
    let echoed = EchoedRequest::from_body(&response.body).ok()?;
    echoed.header("x-sub").map(str::to_string)
}

/// Returns the error log lines that contain `needle`.
pub fn log_lines(nginx: &Nginx, needle: &str) -> Vec<String> {
    nginx
        .error_log()
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Sends an inline (scenario-less) case's request twice to a host on `port`
/// whose guarded location forwards the `sub` claim as `X-Sub`. Returns one
/// line per failed check: an unexpected status, or an allowed request
/// without the forwarded subject.
pub fn inline_case_failures(case: &Case, port: u16) -> Vec<String> {
    let request = case.request(Ports::default());
    let mut failures = Vec::new();
    for attempt in 1..=2 {
        let response = send_raw(port, &request);
        if response.status != case.expected_status {
            failures.push(format!(
                "case {} request {attempt}: status {}, expected {}",
                case.id, response.status, case.expected_status
            ));
        }
        if response.status == 200 && forwarded_subject(&response).is_none() {
            failures.push(format!(
                "case {} request {attempt}: allowed but X-Sub not forwarded",
                case.id
            ));
        }
    }
    failures
}

/// Sends each shared request scenario for `token_in` twice to a host on
/// `port` that guards every path with [`crate::inline_policy`], and asserts
/// the status, the `WWW-Authenticate` value and, when allowed, the
/// forwarded `sub` claim.
pub fn check_request_scenarios(port: u16, token_in: TokenIn) {
    let scenarios: Vec<_> = request_scenarios()
        .into_iter()
        .filter(|scenario| scenario.token_in == token_in)
        .collect();
    assert!(scenarios.len() >= 7, "only {} scenarios", scenarios.len());

    for scenario in &scenarios {
        for attempt in 1..=2 {
            let label = format!("{} (request {attempt})", scenario.name);
            let response = send_raw(port, &scenario.request());
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
