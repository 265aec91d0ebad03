//! Core benchmarks: the whole decision per algorithm next to the raw
//! AWS-LC verify primitive on the same bytes with a key prepared once, plus
//! policy load, key set parsing, early denials, cache hits and the
//! `jsonwebtoken` crate's decode as a peer.
//!
//! Tokens come from the PyJWT fixtures: a payload of about 250 bytes with
//! iss, sub, aud, exp, nbf, iat, jti, scope and roles.

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jwtguard::{Decision, Options, Verifier};
use serde_json::{Value, json};

const ALGORITHMS: [&str; 7] = [
    "HS256", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA",
];

fn manifest() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/independent/manifest.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn decode(text: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text.as_str().unwrap()).unwrap()
}

fn valid_token<'a>(manifest: &'a Value, alg: &str) -> &'a str {
    let entry = manifest["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["alg"] == alg && entry["expect"] == "allow")
        .unwrap();
    entry["token"].as_str().unwrap()
}

fn jwk<'a>(manifest: &'a Value, alg: &str) -> &'a Value {
    manifest["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["alg"] == alg)
        .unwrap()
}

fn verifier(manifest: &Value, cache_entries: usize) -> Verifier {
    let policy = json!({"action": {"jwksKeys": manifest["jwks"]}});
    let options = Options {
        token_cache_entries: cache_entries,
        ..Options::default()
    };
    Verifier::from_json(policy.to_string().as_bytes(), options)
        .unwrap()
        .verifier
}

/// The same check as the decision's signature step, done directly with
/// AWS-LC and a key prepared before the loop.
enum Primitive {
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

impl Primitive {
    fn new(alg: &str, jwk: &Value) -> Primitive {
        let public = |algorithm: &'static dyn VerificationAlgorithm, bytes: Vec<u8>| {
            Primitive::Public(ParsedPublicKey::new(algorithm, bytes).unwrap())
        };
        let point = || [vec![4], decode(&jwk["x"]), decode(&jwk["y"])].concat();
        let rsa = |params: &'static signature::RsaParameters| {
            let (n, e) = (decode(&jwk["n"]), decode(&jwk["e"]));
            let components = RsaPublicKeyComponents {
                n: &n[..],
                e: &e[..],
            };
            Primitive::Public(components.to_parsed_public_key(params).unwrap())
        };
        match alg {
            "HS256" => Primitive::Hmac(Box::new(hmac::Key::new(
                hmac::HMAC_SHA256,
                &decode(&jwk["k"]),
            ))),
            "RS256" => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            "PS256" => rsa(&signature::RSA_PSS_2048_8192_SHA256),
            "ES256" => public(&signature::ECDSA_P256_SHA256_FIXED, point()),
            "ES384" => public(&signature::ECDSA_P384_SHA384_FIXED, point()),
            "ES512" => public(&signature::ECDSA_P521_SHA512_FIXED, point()),
            "EdDSA" => public(&signature::ED25519, decode(&jwk["x"])),
            other => panic!("no primitive for {other}"),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Primitive::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Primitive::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

fn decisions(c: &mut Criterion) {
    let manifest = manifest();
    let uncached = verifier(&manifest, 0);
    for alg in ALGORITHMS {
        let token = valid_token(&manifest, alg);
        let header = format!("Bearer {token}");
        assert!(matches!(
            uncached.verify(Some(header.as_bytes())),
            Decision::Allow(_)
        ));
        c.bench_function(&format!("decision/{alg}"), |b| {
            b.iter(|| black_box(uncached.verify(Some(black_box(header.as_bytes())))))
        });
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let primitive = Primitive::new(alg, jwk(&manifest, alg));
        assert!(primitive.verify(input.as_bytes(), &signature));
        c.bench_function(&format!("primitive/{alg}"), |b| {
            b.iter(|| black_box(primitive.verify(black_box(input.as_bytes()), &signature)))
        });
    }
}

fn cache_and_denials(c: &mut Criterion) {
    let manifest = manifest();
    let cached = verifier(&manifest, 1024);
    let header = format!("Bearer {}", valid_token(&manifest, "RS256"));
    c.bench_function("cache_hit/RS256", |b| {
        b.iter(|| black_box(cached.verify(Some(black_box(header.as_bytes())))))
    });
    let uncached = verifier(&manifest, 0);
    let forged = header.replace(".ey", ".eyA");
    c.bench_function("deny/missing", |b| {
        b.iter(|| black_box(uncached.verify(black_box(None))))
    });
    c.bench_function("deny/basic_scheme", |b| {
        b.iter(|| black_box(uncached.verify(Some(black_box(b"Basic dXNlcjpwYXNz")))))
    });
    c.bench_function("deny/malformed", |b| {
        b.iter(|| black_box(uncached.verify(Some(black_box(forged.as_bytes())))))
    });
    let bad_signature = manifest["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["alg"] == "RS256" && entry["reason"] == "bad_signature")
        .unwrap();
    let bad_header = format!("Bearer {}", bad_signature["token"].as_str().unwrap());
    c.bench_function("deny/bad_signature_RS256", |b| {
        b.iter(|| black_box(uncached.verify(Some(black_box(bad_header.as_bytes())))))
    });
}

fn loading(c: &mut Criterion) {
    let manifest = manifest();
    let policy = json!({"action": {"jwksKeys": manifest["jwks"]}}).to_string();
    c.bench_function("policy_load/13_keys", |b| {
        b.iter(|| {
            black_box(Verifier::from_json(
                black_box(policy.as_bytes()),
                Options::default(),
            ))
        })
    });
    let rsa = jwk(&manifest, "RS256");
    for count in [1, 10, 100] {
        let keys: Vec<Value> = (0..count)
            .map(|index| {
                let mut key = rsa.clone();
                key["kid"] = json!(format!("rsa-{index}"));
                key
            })
            .collect();
        let policy = json!({"action": {"jwksKeys": keys}}).to_string();
        c.bench_function(&format!("jwks_parse/{count}_rsa_keys"), |b| {
            b.iter(|| {
                black_box(Verifier::from_json(
                    black_box(policy.as_bytes()),
                    Options::default(),
                ))
            })
        });
    }
}

fn peer(c: &mut Criterion) {
    use jsonwebtoken::{DecodingKey, Validation, decode};
    let manifest = manifest();
    for alg in ["HS256", "RS256"] {
        let token = valid_token(&manifest, alg);
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(jwk(&manifest, alg).clone()).unwrap();
        let key = DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = Validation::new(alg.parse().unwrap());
        validation.validate_aud = false;
        decode::<Value>(token, &key, &validation).unwrap();
        c.bench_function(&format!("jsonwebtoken_decode/{alg}"), |b| {
            b.iter(|| black_box(decode::<Value>(black_box(token), &key, &validation)))
        });
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = decisions, cache_and_denials, loading, peer
}
criterion_main!(benches);
