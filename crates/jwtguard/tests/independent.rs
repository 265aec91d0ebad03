//! Tokens signed by an independent implementation (PyJWT with
//! `cryptography`), for every algorithm: see
//! `fixtures/independent/make_tokens.py`.

use std::sync::Arc;

use jwtguard::{Decision, Options, Verifier};
use serde_json::{Value, json};

fn manifest() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/independent/manifest.json"
    );
    serde_json::from_slice(&std::fs::read(path).expect("fixture manifest")).unwrap()
}

fn verifier_at(jwks: &Value, now: f64) -> Verifier {
    let policy = json!({"action": {"jwksKeys": jwks}});
    let options = Options {
        clock: Some(Arc::new(move || now)),
        ..Options::default()
    };
    let loaded = Verifier::from_json(policy.to_string().as_bytes(), options).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    loaded.verifier
}

#[test]
fn independent_tokens_get_expected_decision() {
    let manifest = manifest();
    let tokens = manifest["tokens"].as_array().unwrap();
    assert!(tokens.len() >= 52, "only {} tokens", tokens.len());
    for entry in tokens {
        let name = entry["name"].as_str().unwrap();
        let verifier = verifier_at(&manifest["jwks"], entry["now"].as_f64().unwrap());
        let header = format!("Bearer {}", entry["token"].as_str().unwrap());
        match (
            verifier.verify(Some(header.as_bytes())),
            entry["expect"].as_str().unwrap(),
        ) {
            (Decision::Allow(verified), "allow") => {
                assert_eq!(
                    verified.algorithm().name(),
                    entry["alg"].as_str().unwrap(),
                    "{name}"
                );
                assert_eq!(
                    verified.claim("iss").as_deref(),
                    Some("https://issuer.example.test"),
                    "{name}"
                );
            }
            (Decision::Deny(denial), "deny") => {
                assert_eq!(
                    denial.reason.name(),
                    entry["reason"].as_str().unwrap(),
                    "{name}"
                );
                assert_eq!(denial.status, 403, "{name}");
            }
            (decision, expected) => panic!("{name}: expected {expected}, got {decision:?}"),
        }
    }
}

#[test]
fn every_algorithm_is_covered() {
    let manifest = manifest();
    for alg in jwtguard::Algorithm::ALL {
        let covered = manifest["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["alg"] == alg.name() && entry["expect"] == "allow");
        assert!(covered, "no valid {alg} token in the fixtures");
    }
}

#[test]
fn claims_are_exposed_as_text() {
    let manifest = manifest();
    let entry = &manifest["tokens"][0];
    let verifier = verifier_at(&manifest["jwks"], entry["now"].as_f64().unwrap());
    let Decision::Allow(verified) =
        verifier.verify_token(entry["token"].as_str().unwrap().as_bytes())
    else {
        panic!("first fixture token must be valid");
    };
    assert_eq!(verified.claim("sub").as_deref(), Some("user-4711"));
    assert_eq!(verified.claim("exp").as_deref(), Some("4102444800"));
    assert_eq!(
        verified.claim("roles").as_deref(),
        Some(r#"["customer","support-agent"]"#)
    );
    assert_eq!(verified.claim("absent"), None);
    assert_eq!(verified.header_value("typ").as_deref(), Some("JWT"));
    assert_eq!(verified.expires_at(), Some(4102444800.0));
    assert!(verified.payload_json().starts_with('{'));
}
