//! RFC 7515 appendix A vectors whose payload is a JWT claims set, through
//! the whole decision. The signature-only check of every vector, including
//! RFC 7520 and RFC 8037, is a unit test of the key module.

use std::sync::Arc;

use jwtguard::{Decision, Options, Reason, Verifier};
use serde_json::{Value, json};

fn claim_vectors() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rfc/vectors.json"
    );
    let vectors: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    vectors
        .into_iter()
        .filter(|vector| vector["payload_is_json_object"] == true)
        .collect()
}

fn decide_at(vector: &Value, now: f64) -> Decision {
    let policy = json!({"action": {"jwksKeys": [vector["jwk"]]}});
    let options = Options {
        clock: Some(Arc::new(move || now)),
        ..Options::default()
    };
    let verifier = Verifier::from_json(policy.to_string().as_bytes(), options)
        .unwrap()
        .verifier;
    verifier.verify_token(vector["token"].as_str().unwrap().as_bytes())
}

#[test]
fn rfc7515_claims_vectors_allow_before_exp() {
    let vectors = claim_vectors();
    assert_eq!(vectors.len(), 3, "RFC 7515 A.1, A.2 and A.3");
    for vector in &vectors {
        let decision = decide_at(vector, vector["now"].as_f64().unwrap());
        let Decision::Allow(verified) = decision else {
            panic!("{}: {decision:?}", vector["name"]);
        };
        assert_eq!(
            verified.claim("iss").as_deref(),
            Some("joe"),
            "{}",
            vector["name"]
        );
        assert_eq!(
            verified.claim("http://example.com/is_root").as_deref(),
            Some("true")
        );
    }
}

#[test]
fn rfc7515_claims_vectors_expire() {
    for vector in &claim_vectors() {
        match decide_at(vector, 1_300_819_380.0) {
            Decision::Deny(denial) => {
                assert_eq!(denial.reason, Reason::Expired, "{}", vector["name"])
            }
            other => panic!("{}: {other:?}", vector["name"]),
        }
    }
}
