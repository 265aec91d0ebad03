//! A verifier started in a parent process and inherited through `fork`:
//! the child must start its own fetch thread before it gets keys. Kept in
//! its own test binary, with one test, so few threads exist at the fork.

use std::time::Duration;

use jwtguard::{Decision, Options, Reason, Verifier};
use jwtguard_harness::{KeyServer, Route};

const JWKS: &str =
    r#"{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}"#;

/// Child exit codes, one per failed check.
fn child_checks(verifier: &Verifier) -> i32 {
    match verifier.verify_token(b"a.b.c") {
        Decision::Deny(denial) if denial.reason == Reason::KeysUnavailable => {}
        _ => return 10,
    }
    if verifier.start().is_err() {
        return 11;
    }
    let mut decision = verifier.verify_token(b"x.y.z");
    if let Decision::Pending(pending) = decision {
        verifier.wait_for_keys(pending, Duration::from_secs(5));
        decision = verifier.verify_token(b"x.y.z");
    }
    match decision {
        Decision::Deny(denial) if denial.reason == Reason::Malformed => 0,
        _ => 12,
    }
}

#[test]
fn forked_child_must_start_its_own_fetcher() {
    let server = KeyServer::start();
    server.set_route("/jwks", Route::json(JWKS));
    let policy = format!(r#"{{"action": {{"jwksURI": "{}"}}}}"#, server.url("/jwks"));
    let verifier = Verifier::from_json(policy.as_bytes(), Options::default())
        .unwrap()
        .verifier;
    verifier.start().unwrap();
    // SAFETY: the child only verifies, starts a thread and exits with
    // `_exit`; it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child_checks(&verifier);
        // SAFETY: ends the child at once, without running the parent's
        // atexit handlers or test harness code.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` is a valid out
    // pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child check failed (code 10-12)"
    );
    verifier.stop();
}
