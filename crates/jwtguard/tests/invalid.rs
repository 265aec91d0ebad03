//! One table row per rejection reason and per malformation, each checking
//! the reason and the status, plus the token-location rules.

use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtguard::{Decision, Options, Reason, Verifier};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOW: f64 = 1_800_000_000.0;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header` and `payload` (JSON text, used as given) with HS256.
fn sign(header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    format!(
        "{input}.{}",
        b64(hmac::sign(&key, input.as_bytes()).as_ref())
    )
}

fn valid_token() -> String {
    sign(
        r#"{"alg":"HS256","kid":"k1"}"#,
        r#"{"sub":"alice","exp":4102444800}"#,
    )
}

fn verifier_with(extra: &str, options: Options) -> Verifier {
    let policy = format!(
        r#"{{"action": {{"jwksKeys": [{{"kty": "oct", "kid": "k1", "k": "{}"}}]{extra},
            "errorReturnConditions": {{"notSupplied": {{"returnCode": 419}},
                                      "noMatch": {{"returnCode": 451}}}}}}}}"#,
        b64(SECRET)
    );
    let options = Options {
        clock: Some(Arc::new(|| NOW)),
        ..options
    };
    Verifier::from_json(policy.as_bytes(), options)
        .unwrap()
        .verifier
}

fn verifier() -> Verifier {
    verifier_with("", Options::default())
}

fn denial(decision: Decision) -> jwtguard::Denial {
    match decision {
        Decision::Deny(denial) => denial,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn check_token(verifier: &Verifier, label: &str, token: &str, reason: Reason) {
    let denial = denial(verifier.verify(Some(format!("Bearer {token}").as_bytes())));
    assert_eq!(denial.reason, reason, "{label}: {}", denial.message);
    let status = if reason == Reason::Missing { 419 } else { 451 };
    assert_eq!(denial.status, status, "{label}: status");
    assert!(
        !token.is_empty() && !denial.message.contains(token),
        "{label}: message leaks the token"
    );
}

#[test]
fn valid_token_is_allowed() {
    let decision = verifier().verify(Some(format!("Bearer {}", valid_token()).as_bytes()));
    let Decision::Allow(verified) = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(verified.claim("sub").as_deref(), Some("alice"));
}

#[test]
fn rejection_table() {
    let good = valid_token();
    let (input, signature) = good.rsplit_once('.').unwrap();
    let payload = r#"{"sub":"alice","exp":4102444800}"#;
    let header = r#"{"alg":"HS256","kid":"k1"}"#;
    let other_key = hmac::Key::new(hmac::HMAC_SHA256, b"another secret of thirty-two byte");
    let wrong_signature = b64(hmac::sign(&other_key, input.as_bytes()).as_ref());
    let rows: Vec<(&str, String, Reason)> = vec![
        ("two parts", input.to_owned(), Reason::Malformed),
        ("trailing dot", format!("{good}."), Reason::Malformed),
        ("five parts (JWE)", format!("{good}.a.b"), Reason::Malformed),
        ("empty signature", format!("{input}."), Reason::Malformed),
        ("padded signature", format!("{good}="), Reason::Malformed),
        (
            "standard base64 alphabet",
            format!(
                "{input}.{}",
                signature.replace('_', "/").replace('-', "+") + "+"
            ),
            Reason::Malformed,
        ),
        (
            "signature over 1024 bytes",
            format!("{input}.{}", b64(&[7; 1100])),
            Reason::BadSignature,
        ),
        (
            "long signature not base64url",
            format!("{input}.{}+", b64(&[7; 1100])),
            Reason::Malformed,
        ),
        (
            "payload not UTF-8",
            format!(
                "{}.{}.{signature}",
                b64(header.as_bytes()),
                b64(b"{\"sub\":\"\xff\"}")
            ),
            Reason::Malformed,
        ),
        (
            "header not JSON",
            format!("{}.{}.{signature}", b64(b"{alg"), b64(payload.as_bytes())),
            Reason::Malformed,
        ),
        ("header is null", sign("null", payload), Reason::Malformed),
        ("header is an array", sign("[]", payload), Reason::Malformed),
        (
            "payload is a string",
            sign(header, "\"text\""),
            Reason::Malformed,
        ),
        ("payload is null", sign(header, "null"), Reason::Malformed),
        (
            "payload not JSON",
            sign(header, "{\"sub\":"),
            Reason::Malformed,
        ),
        (
            "duplicate alg",
            sign(r#"{"alg":"HS256","alg":"HS256","kid":"k1"}"#, payload),
            Reason::Malformed,
        ),
        (
            "duplicate exp",
            sign(header, r#"{"exp":1,"exp":4102444800}"#),
            Reason::Malformed,
        ),
        (
            "escaped duplicate",
            sign(header, r#"{"exp":1,"\u0065xp":4102444800}"#),
            Reason::Malformed,
        ),
        (
            "nested duplicate",
            sign(header, r#"{"a":{"b":1,"b":2},"exp":4102444800}"#),
            Reason::Malformed,
        ),
        (
            "deep nesting",
            sign(
                header,
                &format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40)),
            ),
            Reason::Malformed,
        ),
        (
            "trailing bytes",
            sign(header, r#"{"exp":4102444800} x"#),
            Reason::Malformed,
        ),
        (
            "enc header",
            sign(r#"{"alg":"HS256","kid":"k1","enc":"A128GCM"}"#, payload),
            Reason::Malformed,
        ),
        (
            "crit header",
            sign(
                r#"{"alg":"HS256","kid":"k1","crit":["exp"],"exp":1}"#,
                payload,
            ),
            Reason::Malformed,
        ),
        (
            "b64 false",
            sign(r#"{"alg":"HS256","kid":"k1","b64":false}"#, payload),
            Reason::Malformed,
        ),
        (
            "kid not a string",
            sign(r#"{"alg":"HS256","kid":1}"#, payload),
            Reason::Malformed,
        ),
        (
            "alg missing",
            sign(r#"{"kid":"k1"}"#, payload),
            Reason::Malformed,
        ),
        (
            "alg none",
            sign(r#"{"alg":"none","kid":"k1"}"#, payload),
            Reason::UnsupportedAlgorithm,
        ),
        (
            "alg NoNe",
            sign(r#"{"alg":"NoNe","kid":"k1"}"#, payload),
            Reason::UnsupportedAlgorithm,
        ),
        (
            "alg hs256 lowercase",
            sign(r#"{"alg":"hs256","kid":"k1"}"#, payload),
            Reason::UnsupportedAlgorithm,
        ),
        (
            "alg ES256K",
            sign(r#"{"alg":"ES256K","kid":"k1"}"#, payload),
            Reason::UnsupportedAlgorithm,
        ),
        (
            "RSA alg on oct key",
            sign(r#"{"alg":"RS256","kid":"k1"}"#, payload),
            Reason::NoMatchingKey,
        ),
        (
            "unknown kid",
            sign(r#"{"alg":"HS256","kid":"other"}"#, payload),
            Reason::NoMatchingKey,
        ),
        (
            "wrong signature",
            format!("{input}.{wrong_signature}"),
            Reason::BadSignature,
        ),
        (
            "signature of another length",
            format!("{input}.{}", &signature[..20]),
            Reason::BadSignature,
        ),
        (
            "expired",
            sign(header, r#"{"exp":1700000000}"#),
            Reason::Expired,
        ),
        (
            "expired at now",
            sign(header, r#"{"exp":1800000000}"#),
            Reason::Expired,
        ),
        (
            "not yet valid",
            sign(header, r#"{"nbf":1900000000}"#),
            Reason::NotYetValid,
        ),
        (
            "exp as string",
            sign(header, r#"{"exp":"4102444800"}"#),
            Reason::InvalidClaim,
        ),
        (
            "nbf as bool",
            sign(header, r#"{"nbf":true}"#),
            Reason::InvalidClaim,
        ),
        (
            "exp as object",
            sign(header, r#"{"exp":{"a":1}}"#),
            Reason::InvalidClaim,
        ),
    ];
    let verifier = verifier();
    for (label, token, reason) in &rows {
        check_token(&verifier, label, token, *reason);
    }
}

#[test]
fn fractional_times_are_numbers() {
    let verifier = verifier();
    let token = sign(
        r#"{"alg":"HS256"}"#,
        r#"{"exp":1800000000.5,"nbf":1799999999.5}"#,
    );
    assert!(matches!(
        verifier.verify_token(token.as_bytes()),
        Decision::Allow(_)
    ));
}

#[test]
fn leeway_extends_both_bounds() {
    let options = Options {
        leeway: std::time::Duration::from_secs(60),
        ..Options::default()
    };
    let verifier = verifier_with("", options);
    for payload in [r#"{"exp":1799999970}"#, r#"{"nbf":1800000030}"#] {
        let token = sign(r#"{"alg":"HS256"}"#, payload);
        assert!(
            matches!(verifier.verify_token(token.as_bytes()), Decision::Allow(_)),
            "{payload}"
        );
    }
    let token = sign(r#"{"alg":"HS256"}"#, r#"{"exp":1799999900}"#);
    assert_eq!(
        denial(verifier.verify_token(token.as_bytes())).reason,
        Reason::Expired
    );
}

#[test]
fn oversized_token_is_malformed() {
    let options = Options {
        max_token_len: 64,
        ..Options::default()
    };
    let verifier = verifier_with("", options);
    let denial = denial(verifier.verify_token(valid_token().as_bytes()));
    assert_eq!(denial.reason, Reason::Malformed);
    assert!(
        denial.message.contains("over the limit of 64"),
        "{}",
        denial.message
    );
}

#[test]
fn authorization_header_forms() {
    let verifier = verifier();
    let token = valid_token();
    let allowed = [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER   {token}"),
        format!("Bearer\t{token}  "),
    ];
    for value in &allowed {
        assert!(
            matches!(verifier.verify(Some(value.as_bytes())), Decision::Allow(_)),
            "{value:?}"
        );
    }
    let missing = [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        &token,
        "Bearertoken",
    ];
    for value in missing {
        assert_eq!(
            denial(verifier.verify(Some(value.as_bytes()))).reason,
            Reason::Missing,
            "{value:?}"
        );
    }
    assert_eq!(denial(verifier.verify(None)).reason, Reason::Missing);
    let repeated = format!("Bearer Bearer {token}");
    assert_eq!(
        denial(verifier.verify(Some(repeated.as_bytes()))).reason,
        Reason::Malformed
    );
}

#[test]
fn custom_header_takes_bare_or_bearer_token() {
    let verifier = verifier_with(r#", "tokenName": "X-Token""#, Options::default());
    let token = valid_token();
    for value in [token.clone(), format!("Bearer {token}")] {
        assert!(
            matches!(verifier.verify(Some(value.as_bytes())), Decision::Allow(_)),
            "{value:?}"
        );
    }
    assert_eq!(denial(verifier.verify(Some(b"  "))).reason, Reason::Missing);
}

#[test]
fn query_parameter_forms() {
    let verifier = verifier_with(
        r#", "tokenName": "access_token", "tokenSuppliedIn": "QUERY""#,
        Options::default(),
    );
    let token = valid_token();
    let encoded = token.replace('.', "%2E").replace('-', "%2d");
    for query in [
        format!("access_token={token}"),
        format!("a=1&access_token={encoded}&b"),
    ] {
        assert!(
            matches!(verifier.verify(Some(query.as_bytes())), Decision::Allow(_)),
            "{query}"
        );
    }
    for query in [
        "",
        "a=1",
        "access_token=",
        "access_token",
        "xaccess_token=abc",
    ] {
        assert_eq!(
            denial(verifier.verify(Some(query.as_bytes()))).reason,
            Reason::Missing,
            "{query:?}"
        );
    }
    let twice = format!("access_token={token}&access_token={token}");
    assert_eq!(
        denial(verifier.verify(Some(twice.as_bytes()))).reason,
        Reason::Malformed
    );
}

#[test]
fn challenges_follow_rfc6750() {
    let options = Options {
        realm: Some("api".into()),
        ..Options::default()
    };
    let verifier = verifier_with("", options);
    assert_eq!(
        &*denial(verifier.verify(None)).www_authenticate,
        "Bearer realm=\"api\""
    );
    let invalid = denial(verifier.verify(Some(b"Bearer abc")));
    assert_eq!(
        &*invalid.www_authenticate,
        "Bearer realm=\"api\", error=\"invalid_token\""
    );
    let plain = self::verifier();
    assert_eq!(&*denial(plain.verify(None)).www_authenticate, "Bearer");
    assert_eq!(
        &*denial(plain.verify(Some(b"Bearer abc"))).www_authenticate,
        "Bearer error=\"invalid_token\""
    );
}

#[test]
fn kid_in_message_is_quoted_and_cut() {
    let kid = format!("evil\n{}", "x".repeat(200));
    let token = sign(
        &format!(
            r#"{{"alg":"HS256","kid":{}}}"#,
            serde_json::to_string(&kid).unwrap()
        ),
        "{}",
    );
    let message = denial(verifier().verify_token(token.as_bytes())).message;
    assert!(!message.contains('\n'), "{message}");
    assert!(message.len() < 200, "{message}");
}

#[test]
fn messages_stay_short_for_huge_input() {
    let verifier = verifier();
    let header = r#"{"alg":"HS256","kid":"k1"}"#;
    let long_name = "n".repeat(5000);
    let tokens = [
        sign(header, &format!("\"{}\"", "x".repeat(11_000))),
        sign(header, &format!(r#"{{"{long_name}":1,"{long_name}":2}}"#)),
        sign(&format!(r#"{{"alg":"{}"}}"#, "A".repeat(3000)), "{}"),
    ];
    for token in &tokens {
        let denial = denial(verifier.verify_token(token.as_bytes()));
        assert!(
            denial.message.len() < 200,
            "{} bytes: {}",
            denial.message.len(),
            denial.message
        );
    }
}

#[test]
fn two_tokens_in_one_header_are_malformed() {
    let token = valid_token();
    let value = format!("Bearer {token}, Bearer {token}");
    let denial = denial(verifier().verify(Some(value.as_bytes())));
    assert_eq!(denial.reason, Reason::Malformed);
    assert!(
        denial.message.contains("send exactly one token"),
        "{}",
        denial.message
    );
}

#[test]
fn only_spaces_and_tabs_follow_bearer() {
    let value = format!("Bearer\x0c{}", valid_token());
    assert_eq!(
        denial(verifier().verify(Some(value.as_bytes()))).reason,
        Reason::Missing
    );
}
