//! JWS compact serialization (RFC 7515 section 7.1), parsed strictly.

use base64::DecodeSliceError;

use crate::alg::Algorithm;
use crate::b64;
use crate::json::{self, Part, StringMember, TimeClaims};
use crate::jwk::MAX_RSA_BITS;
use crate::verify::Reason;

/// Maximum signature length of any supported algorithm, in bytes: an RSA
/// signature with the largest accepted modulus.
pub(crate) const MAX_SIGNATURE_LEN: usize = MAX_RSA_BITS / 8;

/// A token split and decoded, not yet verified.
pub(crate) struct Token<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the signed bytes.
    pub(crate) signing_input: &'a [u8],
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) header_json: String,
    pub(crate) payload_json: String,
    pub(crate) claims: TimeClaims,
    /// The decoded signature, or `None` when it is longer than
    /// `MAX_SIGNATURE_LEN` bytes, so that no key can verify it.
    pub(crate) signature: Option<&'a [u8]>,
}

/// A rejection found while parsing: the reason and a message that never
/// contains the token.
pub(crate) type Rejection = (Reason, String);

fn malformed(message: impl Into<String>) -> Rejection {
    (Reason::Malformed, message.into())
}

/// Splits and decodes `token`, with the signature decoded into
/// `signature_buffer`. Signature and time checks come later.
pub(crate) fn parse<'a>(
    token: &'a [u8],
    signature_buffer: &'a mut [u8; MAX_SIGNATURE_LEN],
    max_len: usize,
    max_depth: usize,
) -> Result<Token<'a>, Rejection> {
    if token.len() > max_len {
        return Err(malformed(format!(
            "token is {} bytes, over the limit of {max_len}",
            token.len()
        )));
    }
    if memchr::memchr3(b' ', b'\t', b',', token).is_some() {
        return Err(malformed(
            "token contains a space or comma; send exactly one token",
        ));
    }
    let mut dots = memchr::memchr_iter(b'.', token);
    let (Some(first_dot), Some(second_dot), None) = (dots.next(), dots.next(), dots.next()) else {
        let count = memchr::memchr_iter(b'.', token).count() + 1;
        return Err(malformed(match count {
            5 => "token has 5 parts, an encrypted JWE; only signed JWS tokens are accepted".into(),
            _ => format!("token has {count} parts; a JWS in compact form has 3"),
        }));
    };
    let signing_input = &token[..second_dot];
    let (header_json, (alg, kid)) = decode_json(&token[..first_dot], "header", |part| {
        parse_header(part, max_depth)
    })?;
    let (payload_json, claims) =
        decode_json(&token[first_dot + 1..second_dot], "payload", |part| {
            json::scan_claims(part, max_depth).map_err(|detail| {
                malformed(format!("payload is not a valid JSON object: {detail}"))
            })
        })?;
    let signature_b64 = &token[second_dot + 1..];
    if signature_b64.is_empty() {
        return Err(malformed("token has an empty signature"));
    }
    let signature = decode_signature(signature_b64, signature_buffer)?;
    Ok(Token {
        signing_input,
        alg,
        kid,
        header_json,
        payload_json,
        claims,
        signature,
    })
}

fn decode_part(part: &[u8], name: &str) -> Result<Vec<u8>, Rejection> {
    b64::decode(part).map_err(|_| not_base64(name))
}

fn not_base64(name: &str) -> Rejection {
    malformed(format!("token {name} is not valid unpadded base64url"))
}

/// Decodes a JSON part and reads it with `read`. UTF-8 is checked once,
/// here. Bytes that fail the check still go to `read`, because serde_json
/// rejects them with a message that locates the first error.
fn decode_json<T>(
    part: &[u8],
    name: &str,
    read: impl FnOnce(Part<'_>) -> Result<T, Rejection>,
) -> Result<(String, T), Rejection> {
    match String::from_utf8(decode_part(part, name)?) {
        Ok(text) => {
            let value = read(Part::Text(&text))?;
            Ok((text, value))
        }
        Err(err) => Err(read(Part::Bytes(err.as_bytes()))
            .err()
            .unwrap_or_else(|| malformed(format!("token {name} is not valid UTF-8")))),
    }
}

fn decode_signature<'a>(
    part: &[u8],
    buffer: &'a mut [u8; MAX_SIGNATURE_LEN],
) -> Result<Option<&'a [u8]>, Rejection> {
    match b64::decode_slice(part, buffer) {
        Ok(len) => Ok(Some(&buffer[..len])),
        // Too long for any key, but it must still be valid base64url.
        Err(DecodeSliceError::OutputSliceTooSmall) => {
            decode_part(part, "signature")?;
            Ok(None)
        }
        Err(DecodeSliceError::DecodeError(_)) => Err(not_base64("signature")),
    }
}

/// Reads the protected header: `alg`, `kid`, and the members that would
/// change how the token must be processed. Key-locating members (`jku`,
/// `jwk`, `x5u`, `x5c`) are never used.
fn parse_header(
    part: Part<'_>,
    max_depth: usize,
) -> Result<(Algorithm, Option<String>), Rejection> {
    let header = json::scan_header(part, max_depth)
        .map_err(|detail| malformed(format!("header is not a valid JSON object: {detail}")))?;
    if header.has_enc {
        return Err(malformed(
            "header has \"enc\", which marks an encrypted JWE; only signed JWS tokens are accepted",
        ));
    }
    if header.has_crit {
        return Err(malformed(
            "header has \"crit\", listing extensions that jwtguard does not implement",
        ));
    }
    if header.b64.is_some_and(|is_true| !is_true) {
        return Err(malformed(
            "header has \"b64\" other than true; unencoded payloads are not accepted",
        ));
    }
    let alg = match header.alg {
        Some(StringMember::String(name)) => algorithm(&name)?,
        Some(StringMember::NotAString) => return Err(malformed("header \"alg\" is not a string")),
        None => return Err(malformed("header has no \"alg\"")),
    };
    let kid = match header.kid {
        Some(StringMember::String(kid)) => Some(kid.into_owned()),
        Some(StringMember::NotAString) => return Err(malformed("header \"kid\" is not a string")),
        None => None,
    };
    Ok((alg, kid))
}

fn algorithm(name: &str) -> Result<Algorithm, Rejection> {
    if name.eq_ignore_ascii_case("none") {
        return Err((
            Reason::UnsupportedAlgorithm,
            "alg \"none\" (unsigned token) is never accepted".into(),
        ));
    }
    Algorithm::from_name(name).ok_or_else(|| {
        (
            Reason::UnsupportedAlgorithm,
            format!("alg {} is not supported", json::printable(name)),
        )
    })
}
