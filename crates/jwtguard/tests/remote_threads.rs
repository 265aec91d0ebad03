//! Start and stop leave no fetch thread behind. Kept in its own test binary
//! so no other test's threads are counted.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jwtguard::{Options, Pending, Verifier};
use jwtguard_harness::{KeyServer, Route};

/// Counts fetch threads once the count settles at `expected` (a new thread
/// names itself after it starts), or returns the count after `within`.
fn fetch_threads(expected: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let count = count_fetch_threads();
        if count == expected || Instant::now() > deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Serializes the tests of this binary, since each counts every fetch
/// thread of the process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn count_fetch_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "jwtguard-jwks")
        .count()
}

/// Calls `start` `times` times, checks that one fetch thread runs, and waits
/// for the fetch that `start` begins. `stop` leaves a fetch in progress to
/// end by itself, so a test that counts threads after `stop` waits first.
fn start_and_wait_for_fetch(verifier: &Verifier, times: usize, label: &str) {
    let generation = verifier.keys_generation();
    for _ in 0..times {
        verifier.start().unwrap();
    }
    assert_eq!(fetch_threads(1, Duration::from_secs(1)), 1, "{label}");
    assert!(
        verifier.wait_for_keys(Pending { generation }, Duration::from_secs(5)),
        "{label}: the fetch did not end"
    );
}

#[test]
fn start_stop_leaves_no_thread() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let server = KeyServer::start();
    server.set_route(
        "/jwks",
        Route::json(r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#),
    );
    let policy = format!(r#"{{"action": {{"jwksURI": "{}"}}}}"#, server.url("/jwks"));
    let verifier = Verifier::from_json(policy.as_bytes(), Options::default())
        .unwrap()
        .verifier;
    assert_eq!(count_fetch_threads(), 0, "loading must not start a thread");
    start_and_wait_for_fetch(&verifier, 2, "start is idempotent");
    assert_eq!(count_fetch_threads(), 1, "start is idempotent");
    let started = Instant::now();
    verifier.stop();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(count_fetch_threads(), 0, "stop joins the thread");
    start_and_wait_for_fetch(&verifier, 1, "a stopped verifier can start again");
    drop(verifier.clone());
    verifier.stop();
    assert_eq!(count_fetch_threads(), 0, "stop joins the restarted thread");
}

#[test]
fn restart_does_not_revive_abandoned_fetch() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let server = KeyServer::start();
    server.set_route("/slow", Route::hang());
    let policy = format!(r#"{{"action": {{"jwksURI": "{}"}}}}"#, server.url("/slow"));
    let fetch = jwtguard::FetchOptions {
        timeout: Duration::from_millis(1500),
        ..Default::default()
    };
    let options = Options {
        fetch,
        ..Options::default()
    };
    let verifier = Verifier::from_json(policy.as_bytes(), options)
        .unwrap()
        .verifier;
    for _ in 0..3 {
        verifier.start().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        verifier.stop();
    }
    verifier.start().unwrap();
    // The abandoned threads end when their fetches time out; only the
    // last started thread may remain.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        count_fetch_threads(),
        1,
        "abandoned fetch threads kept running"
    );
    verifier.stop();
    // stop() leaves a fetch in progress to its timeout. Wait for it, so the
    // next test counts no thread of this one.
    assert_eq!(
        fetch_threads(0, Duration::from_secs(3)),
        0,
        "the last fetch outlived its timeout"
    );
}
