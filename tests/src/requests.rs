//! Request helpers shared by the NGINX module and Lua module tests.

use std::time::{Duration, Instant};

use crate::cases::{Case, Ports};
use crate::client::{Response, send_raw};
use crate::echo::EchoedRequest;
use crate::nginx::Nginx;

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
/// whose guarded location forwards the `sub` claim as `X-Sub`, and returns
/// one line per failed check: a status other than the expected one, or an
/// allowed request without the forwarded subject.
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
