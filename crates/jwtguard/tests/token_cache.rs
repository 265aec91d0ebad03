//! The verified-token cache: hits, expiry, key rotation, the bound, denials
//! that are never cached, and concurrent use.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtguard::{Decision, FetchOptions, Options, Reason, Verifier};
use jwtguard_harness::{KeyServer, Route};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_with(secret: &[u8], kid: &str, payload: &str) -> String {
    let header = b64(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#).as_bytes());
    let input = format!("{header}.{}", b64(payload.as_bytes()));
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!(
        "{input}.{}",
        b64(hmac::sign(&key, input.as_bytes()).as_ref())
    )
}

fn token(subject: u32, exp: u64) -> String {
    sign_with(
        SECRET,
        "k1",
        &format!(r#"{{"sub":"user-{subject}","exp":{exp}}}"#),
    )
}

/// Builds a verifier with inline keys whose clock reads `clock` (seconds).
fn verifier(entries: usize, clock: Arc<AtomicU64>) -> Verifier {
    let policy = format!(
        r#"{{"action": {{"jwksKeys": [{{"kty":"oct","kid":"k1","k":"{}"}}]}}}}"#,
        b64(SECRET)
    );
    let options = Options {
        token_cache_entries: entries,
        clock: Some(Arc::new(move || clock.load(Ordering::Relaxed) as f64)),
        ..Options::default()
    };
    Verifier::from_json(policy.as_bytes(), options)
        .unwrap()
        .verifier
}

fn is_allowed(decision: &Decision) -> bool {
    matches!(decision, Decision::Allow(_))
}

#[test]
fn repeated_token_hits() {
    let verifier = verifier(64, Arc::new(AtomicU64::new(1000)));
    let token = token(1, 2000);
    for _ in 0..3 {
        assert!(is_allowed(&verifier.verify_token(token.as_bytes())));
    }
    let stats = verifier.cache_stats();
    assert_eq!((stats.hits, stats.misses), (2, 1));
    let Decision::Allow(verified) = verifier.verify_token(token.as_bytes()) else {
        panic!()
    };
    assert_eq!(verified.claim("sub").as_deref(), Some("user-1"));
}

#[test]
fn expiry_is_checked_on_every_hit() {
    let clock = Arc::new(AtomicU64::new(1000));
    let verifier = verifier(64, Arc::clone(&clock));
    let token = token(1, 2000);
    assert!(is_allowed(&verifier.verify_token(token.as_bytes())));
    clock.store(2000, Ordering::Relaxed);
    match verifier.verify_token(token.as_bytes()) {
        Decision::Deny(denial) => assert_eq!(denial.reason, Reason::Expired),
        other => panic!("expired cached token allowed: {other:?}"),
    }
    clock.store(1500, Ordering::Relaxed);
    assert!(
        is_allowed(&verifier.verify_token(token.as_bytes())),
        "a removed entry is verified afresh"
    );
}

#[test]
fn not_before_is_checked_on_every_hit() {
    let clock = Arc::new(AtomicU64::new(1000));
    let verifier = verifier(64, Arc::clone(&clock));
    let token = sign_with(SECRET, "k1", r#"{"nbf":900,"exp":2000}"#);
    assert!(is_allowed(&verifier.verify_token(token.as_bytes())));
    clock.store(800, Ordering::Relaxed);
    assert!(!is_allowed(&verifier.verify_token(token.as_bytes())));
}

#[test]
fn denials_are_not_cached() {
    let verifier = verifier(64, Arc::new(AtomicU64::new(1000)));
    let forged = sign_with(
        b"not the secret, but just as long!",
        "k1",
        r#"{"exp":2000}"#,
    );
    for _ in 0..3 {
        assert!(!is_allowed(&verifier.verify_token(forged.as_bytes())));
    }
    assert_eq!(verifier.cache_stats().hits, 0);
}

#[test]
fn colliding_tokens_never_share_a_decision() {
    // 16 entries means one slot per shard, so most tokens collide.
    let verifier = verifier(16, Arc::new(AtomicU64::new(1000)));
    let valid: Vec<String> = (0..64).map(|subject| token(subject, 2000)).collect();
    for token in &valid {
        assert!(is_allowed(&verifier.verify_token(token.as_bytes())));
    }
    for subject in 0..64 {
        let mut forged = token(subject, 2000).into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'Q' } else { b'A' };
        assert!(
            !is_allowed(&verifier.verify_token(&forged)),
            "forged token {subject} allowed"
        );
    }
    let stats = verifier.cache_stats();
    assert_eq!(stats.capacity, 16);
    assert!(stats.evictions >= 48, "{stats:?}");
}

#[test]
fn zero_entries_turns_cache_off() {
    let verifier = verifier(0, Arc::new(AtomicU64::new(1000)));
    let token = token(1, 2000);
    for _ in 0..3 {
        assert!(is_allowed(&verifier.verify_token(token.as_bytes())));
    }
    assert_eq!(verifier.cache_stats(), jwtguard::CacheStats::default());
}

#[test]
fn concurrent_use_gives_correct_decisions() {
    let verifier = verifier(128, Arc::new(AtomicU64::new(1000)));
    std::thread::scope(|scope| {
        for thread in 0..4u32 {
            let verifier = &verifier;
            scope.spawn(move || {
                for round in 0..200u32 {
                    let subject = (thread * 7 + round) % 300;
                    let token = token(subject, 2000);
                    let Decision::Allow(verified) = verifier.verify_token(token.as_bytes()) else {
                        panic!("valid token denied");
                    };
                    assert_eq!(
                        verified.claim("sub").as_deref(),
                        Some(format!("user-{subject}").as_str())
                    );
                }
            });
        }
    });
    let stats = verifier.cache_stats();
    assert_eq!(stats.hits + stats.misses, 800);
}

#[test]
fn key_rotation_invalidates_entries() {
    let server = KeyServer::start();
    let jwks = format!(
        r#"{{"keys":[{{"kty":"oct","kid":"k1","k":"{}"}}]}}"#,
        b64(SECRET)
    );
    server.set_route("/jwks", Route::json(jwks));
    let policy = format!(
        r#"{{"action": {{"jwksURI": "{}", "cacheKeysDuration": "200ms"}}}}"#,
        server.url("/jwks")
    );
    let fetch = FetchOptions {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(50),
        ..FetchOptions::default()
    };
    let options = Options {
        fetch,
        ..Options::default()
    };
    let verifier = Verifier::from_json(policy.as_bytes(), options)
        .unwrap()
        .verifier;
    verifier.start().unwrap();
    let header = format!("Bearer {}", token(1, 4102444800));
    assert!(is_allowed(&common::decide_blocking(
        &verifier,
        Some(header.as_bytes())
    )));
    server.set_route(
        "/jwks",
        Route::json(r#"{"keys":[{"kty":"oct","kid":"k2","k":"AAAAAAAA"}]}"#),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while verifier.key_stats().unwrap().fetches < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let decision = common::decide_blocking(&verifier, Some(header.as_bytes()));
    assert!(
        !is_allowed(&decision),
        "token of a removed key allowed from the cache: {decision:?}"
    );
    verifier.stop();
}
