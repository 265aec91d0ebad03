//! JWS compact serialization (RFC 7515 section 7.1), parsed strictly.

use crate::alg::Algorithm;
use crate::b64;
use crate::json::{self, StringMember, TimeClaims};
use crate::verify::Reason;

/// A token split and decoded, not yet verified.
pub(crate) struct Token<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the signed bytes.
    pub(crate) signing_input: &'a [u8],
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) header_json: Vec<u8>,
    pub(crate) payload_json: Vec<u8>,
    pub(crate) claims: TimeClaims,
    pub(crate) signature: Vec<u8>,
}

/// A rejection found while parsing: the reason and a message that never
/// contains the token.
pub(crate) type Rejection = (Reason, String);

fn malformed(message: impl Into<String>) -> Rejection {
    (Reason::Malformed, message.into())
}

/// Splits and decodes `token`. Signature and time checks come later.
pub(crate) fn parse(
    token: &[u8],
    max_len: usize,
    max_depth: usize,
) -> Result<Token<'_>, Rejection> {
    if token.len() > max_len {
        return Err(malformed(format!(
            "token is {} bytes, over the limit of {max_len}",
            token.len()
        )));
    }
    if token.iter().any(|byte| matches!(byte, b' ' | b'\t' | b',')) {
        return Err(malformed(
            "token contains a space or comma; send exactly one token",
        ));
    }
    let mut parts = token.split(|&byte| byte == b'.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        let count = token.split(|&byte| byte == b'.').count();
        return Err(malformed(match count {
            5 => "token has 5 parts, an encrypted JWE; only signed JWS tokens are accepted".into(),
            _ => format!("token has {count} parts; a JWS in compact form has 3"),
        }));
    };
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    let header_json = decode_part(header_b64, "header")?;
    let (alg, kid) = parse_header(&header_json, max_depth)?;
    let payload_json = decode_part(payload_b64, "payload")?;
    let claims = json::scan_claims(&payload_json, max_depth)
        .map_err(|detail| malformed(format!("payload is not a valid JSON object: {detail}")))?;
    if signature_b64.is_empty() {
        return Err(malformed("token has an empty signature"));
    }
    let signature = decode_part(signature_b64, "signature")?;
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
    b64::decode(part)
        .map_err(|_| malformed(format!("token {name} is not valid unpadded base64url")))
}

/// Reads the protected header: `alg`, `kid`, and the members that would
/// change how the token must be processed. Key-locating members (`jku`,
/// `jwk`, `x5u`, `x5c`) are never used.
fn parse_header(bytes: &[u8], max_depth: usize) -> Result<(Algorithm, Option<String>), Rejection> {
    let header = json::scan_header(bytes, max_depth)
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
