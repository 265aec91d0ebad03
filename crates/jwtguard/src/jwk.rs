//! JSON Web Keys (RFC 7517) parsed into keys prepared for verification.
//!
//! One bad member never spoils a key set: a key that is malformed, of an
//! unsupported type or curve, or not meant for signatures is skipped with a
//! warning. A fetched set with no usable key left is rejected, so the last
//! good keys stay in use; inline keys with none left load with a warning
//! and deny every token.

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use serde_json::{Map, Value};

use crate::alg::{Algorithm, Family};
use crate::b64;
use crate::error::{Error, ErrorKind};

/// Smallest RSA modulus accepted, in bits. NIST SP 800-131A disallows less.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits, the upper bound of AWS-LC's verifiers.
pub const MAX_RSA_BITS: usize = 8192;

/// A key prepared once for every algorithm it may verify.
pub(crate) struct PreparedKey {
    pub(crate) kid: Option<Box<str>>,
    /// The key's own `alg`; when present, the token's `alg` must equal it.
    pub(crate) alg: Option<Algorithm>,
    material: Material,
}

enum Material {
    Hmac(Box<[hmac::Key; 3]>),
    Rsa(Box<[Option<ParsedPublicKey>; 6]>),
    Ec(Algorithm, ParsedPublicKey),
    Ed25519(ParsedPublicKey),
}

/// An immutable list of prepared keys, in the order of the source document.
pub(crate) struct KeySet {
    pub(crate) keys: Vec<PreparedKey>,
}

impl PreparedKey {
    /// Tells whether this key may verify `alg`: the key type, the curve and
    /// the key's own `alg` must all suit it.
    pub(crate) fn suits(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|own| own == alg) && self.material.suits(alg)
    }

    /// Verifies `signature` over `message`. The caller has checked
    /// [`PreparedKey::suits`]; an unsuitable pair returns `false`.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Hmac(keys) => match hmac_slot(alg) {
                Some(slot) => hmac::verify(&keys[slot], message, signature).is_ok(),
                None => false,
            },
            Material::Rsa(keys) => match rsa_slot(alg).and_then(|slot| keys[slot].as_ref()) {
                Some(key) => key.verify_sig(message, signature).is_ok(),
                None => false,
            },
            Material::Ec(curve_alg, key) => {
                *curve_alg == alg && key.verify_sig(message, signature).is_ok()
            }
            Material::Ed25519(key) => {
                alg == Algorithm::EdDSA && key.verify_sig(message, signature).is_ok()
            }
        }
    }
}

impl Material {
    fn suits(&self, alg: Algorithm) -> bool {
        match self {
            Material::Hmac(_) => alg.family() == Family::Hmac,
            Material::Rsa(keys) => rsa_slot(alg).is_some_and(|slot| keys[slot].is_some()),
            Material::Ec(curve_alg, _) => *curve_alg == alg,
            Material::Ed25519(_) => alg == Algorithm::EdDSA,
        }
    }
}

fn hmac_slot(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HS256 => Some(0),
        Algorithm::HS384 => Some(1),
        Algorithm::HS512 => Some(2),
        _ => None,
    }
}

const RSA_ALGORITHMS: [(Algorithm, &signature::RsaParameters); 6] = [
    (Algorithm::RS256, &signature::RSA_PKCS1_2048_8192_SHA256),
    (Algorithm::RS384, &signature::RSA_PKCS1_2048_8192_SHA384),
    (Algorithm::RS512, &signature::RSA_PKCS1_2048_8192_SHA512),
    (Algorithm::PS256, &signature::RSA_PSS_2048_8192_SHA256),
    (Algorithm::PS384, &signature::RSA_PSS_2048_8192_SHA384),
    (Algorithm::PS512, &signature::RSA_PSS_2048_8192_SHA512),
];

fn rsa_slot(alg: Algorithm) -> Option<usize> {
    RSA_ALGORITHMS
        .iter()
        .position(|(candidate, _)| *candidate == alg)
}

/// Parses a JWK Set document (`{"keys": [...]}`) fetched from a key server.
/// A document without any usable key is an error, so the last good keys
/// stay in use.
pub(crate) fn parse_jwks_document(
    bytes: &[u8],
    max_keys: usize,
    warnings: &mut Vec<String>,
) -> Result<KeySet, Error> {
    let value = crate::json::parse_strict(bytes, crate::json::DOCUMENT_MAX_DEPTH)
        .map_err(|detail| jwks_error(&format!("not valid JSON: {detail}")))?;
    let keys = match value.get("keys") {
        Some(Value::Array(keys)) => keys,
        Some(_) => return Err(jwks_error("\"keys\" is not an array")),
        None if value.is_object() => return Err(jwks_error("the object has no \"keys\" array")),
        None => return Err(jwks_error("the document is not a JSON object")),
    };
    let set = parse_key_list(keys, "keys", max_keys, warnings)
        .map_err(|message| Error::new(ErrorKind::InvalidJwks(message)))?;
    if set.keys.is_empty() {
        return Err(Error::new(ErrorKind::InvalidJwks(format!(
            "no usable key among {}: {}",
            keys.len(),
            warnings.join("; ")
        ))));
    }
    Ok(set)
}

fn jwks_error(detail: &str) -> Error {
    Error::new(ErrorKind::InvalidJwks(format!(
        "{detail}; a JWK Set is an object with a \"keys\" array (RFC 7517 section 5)"
    )))
}

/// Parses a list of JWKs, skipping unusable ones with a warning each. The
/// result may be empty. `path` names the list in warnings. More than
/// `max_keys` keys is an error.
pub(crate) fn parse_key_list(
    keys: &[Value],
    path: &str,
    max_keys: usize,
    warnings: &mut Vec<String>,
) -> Result<KeySet, String> {
    if keys.len() > max_keys {
        return Err(format!(
            "{} keys is more than the limit of {max_keys}; raise the max_keys option",
            keys.len()
        ));
    }
    let mut prepared = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let key_path = format!("{path}[{index}]");
        match parse_key(key, &key_path, warnings) {
            Ok(key) => prepared.push(key),
            Err(reason) => warnings.push(format!("{key_path}: key skipped: {reason}")),
        }
    }
    Ok(KeySet { keys: prepared })
}

fn parse_key(value: &Value, path: &str, warnings: &mut Vec<String>) -> Result<PreparedKey, String> {
    let Value::Object(jwk) = value else {
        return Err("a JWK must be a JSON object".into());
    };
    let kty = string_member(jwk, "kty")?.ok_or("missing \"kty\"")?;
    check_intended_use(jwk)?;
    let kid = string_member(jwk, "kid")?.map(Box::from);
    let alg =
        match string_member(jwk, "alg")? {
            Some(name) => Some(Algorithm::from_name(name).ok_or_else(|| {
                format!("\"alg\" {name:?} is not a supported signature algorithm")
            })?),
            None => None,
        };
    if kty != "oct" && jwk.contains_key("d") {
        warnings.push(format!(
            "{path}: the {kty} key contains the private member \"d\"; publish public keys only"
        ));
    }
    let material = match kty {
        "oct" => hmac_material(jwk, alg, path, warnings)?,
        "RSA" => rsa_material(jwk, alg)?,
        "EC" => ec_material(jwk)?,
        "OKP" => okp_material(jwk)?,
        other => {
            return Err(format!(
                "\"kty\" {other:?} is not supported (use oct, RSA, EC or OKP)"
            ));
        }
    };
    if let Some(alg) = alg
        && !material.suits(alg)
    {
        return Err(format!("\"alg\" {alg} does not suit this {kty} key"));
    }
    Ok(PreparedKey { kid, alg, material })
}

/// Reads an optional string member; any other JSON type is an error.
fn string_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

/// Reads a required base64url member (RFC 7515 section 2, no padding).
fn bytes_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = string_member(jwk, name)?.ok_or_else(|| format!("missing \"{name}\""))?;
    b64::decode(text.as_bytes()).map_err(|_| format!("\"{name}\" is not valid base64url"))
}

/// Rejects keys that RFC 7517 sections 4.2 and 4.3 reserve for other uses.
fn check_intended_use(jwk: &Map<String, Value>) -> Result<(), String> {
    if let Some(key_use) = string_member(jwk, "use")?
        && key_use != "sig"
    {
        return Err(format!("\"use\" is {key_use:?}, not \"sig\""));
    }
    match jwk.get("key_ops") {
        None => Ok(()),
        Some(Value::Array(ops)) if ops.iter().any(|op| op == "verify") => Ok(()),
        Some(Value::Array(_)) => Err("\"key_ops\" does not contain \"verify\"".into()),
        Some(_) => Err("\"key_ops\" is not an array".into()),
    }
}

fn hmac_material(
    jwk: &Map<String, Value>,
    alg: Option<Algorithm>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Material, String> {
    let secret = bytes_member(jwk, "k")?;
    if secret.is_empty() {
        return Err("\"k\" is empty; an HMAC secret needs at least one byte".into());
    }
    // RFC 7518 section 3.2 requires a key at least as long as the hash output.
    let min_len = match alg {
        Some(Algorithm::HS384) => 48,
        Some(Algorithm::HS512) => 64,
        _ => 32,
    };
    if secret.len() < min_len {
        warnings.push(format!(
            "{path}: the oct key is {} bytes, shorter than the {min_len} bytes RFC 7518 asks \
             for; use a longer random secret",
            secret.len()
        ));
    }
    Ok(Material::Hmac(Box::new([
        hmac::Key::new(hmac::HMAC_SHA256, &secret),
        hmac::Key::new(hmac::HMAC_SHA384, &secret),
        hmac::Key::new(hmac::HMAC_SHA512, &secret),
    ])))
}

fn rsa_material(jwk: &Map<String, Value>, alg: Option<Algorithm>) -> Result<Material, String> {
    let modulus = bytes_member(jwk, "n")?;
    let exponent = bytes_member(jwk, "e")?;
    let n = strip_leading_zeros(&modulus);
    let e = strip_leading_zeros(&exponent);
    let bits = bit_length(n);
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "the RSA modulus has {bits} bits, fewer than {MIN_RSA_BITS}"
        ));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!(
            "the RSA modulus has {bits} bits, more than {MAX_RSA_BITS}"
        ));
    }
    // An even modulus cannot be a product of two odd primes, and an
    // exponent of 1 or an even one makes no RSA key; AWS-LC would only
    // reject them at verification time, after the key loaded silently.
    if n.last().is_none_or(|low| low & 1 == 0) {
        return Err("the RSA modulus is even, so not an RSA key".into());
    }
    if e.last().is_none_or(|low| low & 1 == 0) || e == [1] {
        return Err("the RSA exponent must be odd and at least 3".into());
    }
    let components = RsaPublicKeyComponents { n, e };
    let mut keys: [Option<ParsedPublicKey>; 6] = Default::default();
    for (slot, (candidate, params)) in RSA_ALGORITHMS.iter().enumerate() {
        if alg.is_none_or(|own| own == *candidate) {
            let key = components
                .to_parsed_public_key(params)
                .map_err(|err| format!("the RSA key was rejected: {err}"))?;
            keys[slot] = Some(key);
        }
    }
    Ok(Material::Rsa(Box::new(keys)))
}

fn ec_material(jwk: &Map<String, Value>) -> Result<Material, String> {
    let curve = string_member(jwk, "crv")?.ok_or("missing \"crv\"")?;
    let (alg, verification, coordinate_len): (
        _,
        &'static signature::EcdsaVerificationAlgorithm,
        _,
    ) = match curve {
        "P-256" => (Algorithm::ES256, &signature::ECDSA_P256_SHA256_FIXED, 32),
        "P-384" => (Algorithm::ES384, &signature::ECDSA_P384_SHA384_FIXED, 48),
        "P-521" => (Algorithm::ES512, &signature::ECDSA_P521_SHA512_FIXED, 66),
        other => {
            return Err(format!(
                "EC curve {other:?} is not supported (use P-256, P-384 or P-521)"
            ));
        }
    };
    let x = bytes_member(jwk, "x")?;
    let y = bytes_member(jwk, "y")?;
    if x.len() != coordinate_len || y.len() != coordinate_len {
        return Err(format!(
            "\"x\" and \"y\" must be {coordinate_len} bytes each for {curve}"
        ));
    }
    // SEC 1 uncompressed point: 0x04, then x, then y.
    let mut point = Vec::with_capacity(1 + 2 * coordinate_len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let key = ParsedPublicKey::new(verification, &point)
        .map_err(|err| format!("the EC point was rejected: {err}"))?;
    Ok(Material::Ec(alg, key))
}

fn okp_material(jwk: &Map<String, Value>) -> Result<Material, String> {
    let curve = string_member(jwk, "crv")?.ok_or("missing \"crv\"")?;
    if curve != "Ed25519" {
        return Err(format!(
            "OKP curve {curve:?} is not supported (use Ed25519)"
        ));
    }
    let x = bytes_member(jwk, "x")?;
    if x.len() != 32 {
        return Err("\"x\" must be 32 bytes for Ed25519".into());
    }
    if has_small_order(&x) {
        return Err("the Ed25519 point has small order, so any signature could verify".into());
    }
    let key = ParsedPublicKey::new(&signature::ED25519, &x)
        .map_err(|err| format!("the Ed25519 key was rejected: {err}"))?;
    Ok(Material::Ed25519(key))
}

/// Encodings of the Ed25519 points of order 1, 2, 4 and 8 and of their
/// non-canonical aliases (y + p), compared without the sign bit. With such
/// a public key, a signature whose R is the identity verifies messages
/// chosen by anyone, and AWS-LC's verify does not reject them.
const SMALL_ORDER_POINTS: [[u8; 32]; 7] = [
    // y = 0: order 4
    [0; 32],
    // y = 1: the identity, order 1
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // order 8
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // order 8
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // y = p - 1: order 2
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = p, an alias of y = 0
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = p + 1, an alias of the identity
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

fn has_small_order(point: &[u8]) -> bool {
    SMALL_ORDER_POINTS
        .iter()
        .any(|small| small[..31] == point[..31] && small[31] == point[31] & 0x7f)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|&byte| byte != 0)
        .unwrap_or(bytes.len());
    &bytes[first..]
}

fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.first() {
        Some(&top) => big_endian.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vectors() -> Vec<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rfc/vectors.json"
        );
        serde_json::from_slice(&std::fs::read(path).expect("RFC vectors fixture")).unwrap()
    }

    /// Splits a compact JWS into signing input and decoded signature.
    fn split(token: &str) -> (&[u8], Vec<u8>) {
        let at = token.rfind('.').unwrap();
        (
            &token.as_bytes()[..at],
            b64::decode(&token.as_bytes()[at + 1..]).unwrap(),
        )
    }

    #[test]
    fn rfc_vectors_verify() {
        for vector in vectors() {
            let name = vector["name"].as_str().unwrap();
            let alg = Algorithm::from_name(vector["alg"].as_str().unwrap()).unwrap();
            let mut warnings = Vec::new();
            let set = parse_key_list(&[vector["jwk"].clone()], "keys", 10, &mut warnings).unwrap();
            let key = set
                .keys
                .first()
                .unwrap_or_else(|| panic!("{name}: key skipped: {warnings:?}"));
            let (input, signature) = split(vector["token"].as_str().unwrap());
            assert!(key.suits(alg), "{name}: key does not suit {alg}");
            assert!(
                key.verify(alg, input, &signature),
                "{name}: signature rejected"
            );
        }
    }

    #[test]
    fn rfc_vectors_reject_flipped_bit() {
        for vector in vectors() {
            let name = vector["name"].as_str().unwrap();
            let alg = Algorithm::from_name(vector["alg"].as_str().unwrap()).unwrap();
            let set =
                parse_key_list(&[vector["jwk"].clone()], "keys", 10, &mut Vec::new()).unwrap();
            let (input, signature) = split(vector["token"].as_str().unwrap());
            for bit in [0, signature.len() * 8 / 2, signature.len() * 8 - 1] {
                let mut flipped = signature.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    !set.keys[0].verify(alg, input, &flipped),
                    "{name}: bit {bit} flip accepted"
                );
            }
            let mut input = input.to_vec();
            input[0] ^= 1;
            assert!(
                !set.keys[0].verify(alg, &input, &signature),
                "{name}: altered input accepted"
            );
        }
    }

    /// Builds a 2048-bit RSA JWK whose modulus bytes are all `0xc0` but the last.
    fn rsa_jwk(last: u8, exponent: &[u8]) -> Value {
        use base64::Engine;
        let mut modulus = vec![0xc0; 256];
        modulus[255] = last;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        json!({"kty": "RSA", "n": encode(&modulus), "e": encode(exponent)})
    }

    fn okp_jwk(x: &str) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": x})
    }

    fn skip_reason(jwk: Value) -> String {
        let mut warnings = Vec::new();
        let set = parse_key_list(&[jwk], "keys", 10, &mut warnings).unwrap();
        assert!(set.keys.is_empty(), "key should be skipped");
        warnings.join("\n")
    }

    #[test]
    fn unusable_keys_are_skipped_with_reason() {
        let ed = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let cases = [
            (
                json!({"kty": "oct", "use": "enc", "k": "AAAA"}),
                "\"use\" is \"enc\"",
            ),
            (
                json!({"kty": "oct", "key_ops": ["sign"], "k": "AAAA"}),
                "does not contain \"verify\"",
            ),
            (json!({"kty": "oct", "k": ""}), "\"k\" is empty"),
            (json!({"kty": "oct", "k": "AA=="}), "not valid base64url"),
            (
                json!({"kty": "oct", "alg": "RS256", "k": "AAAA"}),
                "does not suit",
            ),
            (
                json!({"kty": "oct", "alg": "none", "k": "AAAA"}),
                "not a supported",
            ),
            (
                json!({"kty": "oct", "kid": 7, "k": "AAAA"}),
                "\"kid\" is not a string",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed448", "x": ed}),
                "not supported",
            ),
            (
                json!({"kty": "OKP", "crv": "X25519", "x": ed}),
                "not supported",
            ),
            (
                json!({"kty": "EC", "crv": "secp256k1", "x": ed, "y": ed}),
                "not supported",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": ed, "y": ed}),
                "EC point was rejected",
            ),
            (
                json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
                "fewer than 2048",
            ),
            (json!({"kty": "RSA", "e": "AQAB"}), "missing \"n\""),
            (rsa_jwk(0xc2, &[1, 0, 1]), "modulus is even"),
            (rsa_jwk(0xc1, &[1]), "at least 3"),
            (rsa_jwk(0xc1, &[1, 0]), "must be odd"),
            (
                okp_jwk("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                "small order",
            ),
            (
                okp_jwk("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                "small order",
            ),
            (
                okp_jwk("JuiVj8KyJ7BFw_SJ8u-Y8NXfrAXTxjM5sTgCiG1T_AU"),
                "small order",
            ),
            (
                okp_jwk("xxdqcD1N2E-6PAt2DRBnDyogU_osOczGTsf9d5KsA3o"),
                "small order",
            ),
            (
                okp_jwk("7P_______________________________________38"),
                "small order",
            ),
            (
                okp_jwk("7v_______________________________________38"),
                "small order",
            ),
            (
                okp_jwk("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA"),
                "small order",
            ),
            (json!({"kty": "oct-2", "k": "AAAA"}), "not supported"),
            (json!({"k": "AAAA"}), "missing \"kty\""),
            (json!("not an object"), "must be a JSON object"),
        ];
        for (jwk, expected) in cases {
            let reason = skip_reason(jwk.clone());
            assert!(
                reason.contains(expected),
                "{jwk}: {reason:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn short_hmac_key_warns() {
        let mut warnings = Vec::new();
        let jwk = json!({"kty": "oct", "k": "c2VjcmV0"});
        let set = parse_key_list(&[jwk], "keys", 10, &mut warnings).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(warnings[0].contains("6 bytes"), "{warnings:?}");
    }

    #[test]
    fn too_many_keys_is_an_error() {
        let keys = vec![json!({"kty": "oct", "k": "AAAA"}); 3];
        let err = parse_key_list(&keys, "keys", 2, &mut Vec::new())
            .err()
            .unwrap();
        assert!(err.contains("more than the limit of 2"), "{err}");
    }

    #[test]
    fn jwks_document_errors() {
        for (body, expected) in [
            (&b"<html>500</html>"[..], "not valid JSON"),
            (b"[]", "not a JSON object"),
            (b"{}", "no \"keys\" array"),
            (b"{\"keys\": 1}", "not an array"),
            (b"{\"keys\": []}", "no usable key among 0"),
            (b"{\"keys\": [], \"keys\": []}", "duplicate member name"),
        ] {
            let err = parse_jwks_document(body, 10, &mut Vec::new())
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }
}
