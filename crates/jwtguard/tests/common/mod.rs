//! Helpers shared by the core's integration tests.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use jwtguard::{Decision, TokenSource, Verifier};

/// Maximum wait for remote keys in a test, above the 10 s default fetch timeout.
pub const KEY_WAIT: Duration = Duration::from_secs(15);

/// Finds the token source in a raw HTTP request as `verifier`'s policy selects:
/// the named header's value, or the query string.
pub fn request_source(verifier: &Verifier, request: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    parsed.parse(request).expect("test request is valid HTTP");
    let location = verifier.token_location();
    match location.source {
        TokenSource::Header => parsed
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(&location.name))
            .map(|header| header.value.to_vec()),
        TokenSource::Query => {
            let target = parsed.path.expect("request has a target");
            target
                .split_once('?')
                .map(|(_, query)| query.as_bytes().to_vec())
        }
    }
}

/// Verifies, waiting (blocking) through pending decisions as a host that may
/// block would.
pub fn decide_blocking(verifier: &Verifier, source: Option<&[u8]>) -> Decision {
    let deadline = Instant::now() + KEY_WAIT;
    let mut decision = verifier.verify(source);
    while let Decision::Pending(pending) = decision {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "keys still pending after {KEY_WAIT:?}");
        verifier.wait_for_keys(pending, left);
        decision = verifier.verify_again(source, Some(pending));
    }
    decision
}

/// Returns the HTTP status a host sends: 200 on allow.
pub fn status_of(decision: &Decision) -> u16 {
    match decision {
        Decision::Allow(_) => 200,
        Decision::Deny(denial) => denial.status,
        Decision::Pending(_) => panic!("decision still pending"),
    }
}
