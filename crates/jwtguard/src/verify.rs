//! Decisions: what a verification returns.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::json::NumericDate;
use crate::jwk::KeySet;
use crate::token::{self, Rejection, Token};

/// Cause of a denial. The numbers are stable because the C ABI and the Lua
/// module expose them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum Reason {
    /// No token was supplied. Uses the policy's notSupplied status.
    Missing = 1,
    /// The token is not a well-formed JWS, or is over a size or depth limit.
    Malformed = 2,
    /// The token's `alg` is `none` or not supported.
    UnsupportedAlgorithm = 3,
    /// No key of the set suits the token's `alg` and `kid`.
    NoMatchingKey = 4,
    /// No suitable key verifies the signature.
    BadSignature = 5,
    /// The token's `exp` has passed.
    Expired = 6,
    /// The token's `nbf` has not yet come.
    NotYetValid = 7,
    /// `exp` or `nbf` is not a JSON number.
    InvalidClaim = 8,
    /// The remote key set could not be fetched and no cached keys remain.
    KeysUnavailable = 9,
}

impl Reason {
    /// Returns a stable snake_case name, such as `bad_signature`.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::UnsupportedAlgorithm => "unsupported_algorithm",
            Reason::NoMatchingKey => "no_matching_key",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::InvalidClaim => "invalid_claim",
            Reason::KeysUnavailable => "keys_unavailable",
        }
    }

    /// Every reason, in number order.
    pub const ALL: [Reason; 9] = [
        Reason::Missing,
        Reason::Malformed,
        Reason::UnsupportedAlgorithm,
        Reason::NoMatchingKey,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::InvalidClaim,
        Reason::KeysUnavailable,
    ];
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one verification.
#[derive(Clone, Debug)]
pub enum Decision {
    /// The token is valid; the request may proceed.
    Allow(Arc<Verified>),
    /// The request must be denied with [`Denial::status`].
    Deny(Denial),
    /// The remote keys are not ready. Retry after
    /// [`crate::Verifier::keys_generation`] moves past
    /// [`Pending::generation`], passing the same generation back.
    Pending(Pending),
}

/// A rejected request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// HTTP status from the policy's `errorReturnConditions`.
    pub status: u16,
    /// Machine-readable cause.
    pub reason: Reason,
    /// Short text for logs. It never contains the token or key material;
    /// untrusted values such as `kid` are quoted and cut to 64 characters.
    pub message: String,
    /// Value for the `WWW-Authenticate` response header (RFC 6750 section 3).
    pub www_authenticate: Arc<str>,
}

/// A verification waiting for a key set fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The key generation observed; retry once it has changed.
    pub generation: u64,
}

/// A verified token: its protected header and its claims.
#[derive(Debug)]
pub struct Verified {
    alg: Algorithm,
    kid: Option<String>,
    header_json: String,
    payload_json: String,
    exp: Option<f64>,
    nbf: Option<f64>,
    header: OnceLock<Map<String, Value>>,
    claims: OnceLock<Map<String, Value>>,
}

impl Verified {
    /// Returns the algorithm that verified the token.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Returns the header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Returns the decoded protected header, as JSON text.
    pub fn header_json(&self) -> &str {
        &self.header_json
    }

    /// Returns the decoded payload, as JSON text.
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }

    /// Returns `exp` in seconds since the epoch, if present.
    pub fn expires_at(&self) -> Option<f64> {
        self.exp
    }

    /// Returns `nbf` in seconds since the epoch, if present.
    pub fn not_before(&self) -> Option<f64> {
        self.nbf
    }

    /// Checks `exp` and `nbf` again at `now`, for a decision served from
    /// the verified-token cache.
    pub(crate) fn check_time(&self, now: f64, leeway: f64) -> Result<(), Rejection> {
        check_times(self.exp, self.nbf, now, leeway)
    }

    /// Returns the claims, parsed on first use.
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims.get_or_init(|| parse_object(&self.payload_json))
    }

    /// Returns the header members, parsed on first use.
    pub fn header(&self) -> &Map<String, Value> {
        self.header.get_or_init(|| parse_object(&self.header_json))
    }

    /// Returns a claim as text: a string without quotes, any other value as
    /// JSON. `None` when the claim is absent.
    pub fn claim(&self, name: &str) -> Option<Cow<'_, str>> {
        self.claims().get(name).map(value_text)
    }

    /// Returns a header member as text, in the form of [`Verified::claim`].
    pub fn header_value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.header().get(name).map(value_text)
    }
}

/// Formats a JSON value for a host: strings unquoted, others as JSON.
// NOTE: integers beyond the 64-bit range pass through f64, so such a claim
// comes out rounded (99999999999999999999999 becomes 1e+23).
pub fn value_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(text) => Cow::Borrowed(text),
        other => Cow::Owned(other.to_string()),
    }
}

fn parse_object(json: &str) -> Map<String, Value> {
    // The text passed the strict parse during verification, so this cannot
    // fail. An empty map is still the fail-safe result.
    serde_json::from_str(json).unwrap_or_default()
}

fn check_times(exp: Option<f64>, nbf: Option<f64>, now: f64, leeway: f64) -> Result<(), Rejection> {
    if let Some(exp) = exp
        && now >= exp + leeway
    {
        return Err((
            Reason::Expired,
            format!("token expired: exp {exp} is not after now {now:.0}"),
        ));
    }
    if let Some(nbf) = nbf
        && now < nbf - leeway
    {
        return Err((
            Reason::NotYetValid,
            format!("token not yet valid: nbf {nbf} is after now {now:.0}"),
        ));
    }
    Ok(())
}

fn seconds(claim: Option<NumericDate>, name: &str) -> Result<Option<f64>, Rejection> {
    match claim {
        None => Ok(None),
        Some(NumericDate::Seconds(value)) => Ok(Some(value)),
        Some(NumericDate::NotANumber) => Err((
            Reason::InvalidClaim,
            format!("claim \"{name}\" is not a number; a NumericDate is seconds since the epoch"),
        )),
    }
}

/// Limits and settings for checking one token.
pub(crate) struct Checks {
    pub(crate) max_token_len: usize,
    pub(crate) max_json_depth: usize,
    pub(crate) max_key_attempts: usize,
    pub(crate) leeway: f64,
}

/// Result of a token check, with the unknown-`kid` case kept apart.
pub(crate) enum Outcome {
    Allow(Arc<Verified>),
    Reject(Rejection),
    /// The token names a `kid` that no key in the set has.
    UnknownKid(Rejection),
}

/// Verifies `token` against `keys` at `now`: structure, then key choice,
/// then signature, then `exp` and `nbf`.
pub(crate) fn verify_token(token: &[u8], keys: &KeySet, checks: &Checks, now: f64) -> Outcome {
    let mut signature_buffer = [0; token::MAX_SIGNATURE_LEN];
    let parsed = match token::parse(
        token,
        &mut signature_buffer,
        checks.max_token_len,
        checks.max_json_depth,
    ) {
        Ok(parsed) => parsed,
        Err(rejection) => return Outcome::Reject(rejection),
    };
    if let Some(failure) = check_signature(&parsed, keys, checks.max_key_attempts) {
        return failure;
    }
    let times = seconds(parsed.claims.exp, "exp")
        .and_then(|exp| Ok((exp, seconds(parsed.claims.nbf, "nbf")?)));
    let (exp, nbf) = match times {
        Ok(times) => times,
        Err(rejection) => return Outcome::Reject(rejection),
    };
    if let Err(rejection) = check_times(exp, nbf, now, checks.leeway) {
        return Outcome::Reject(rejection);
    }
    Outcome::Allow(Arc::new(Verified {
        alg: parsed.alg,
        kid: parsed.kid,
        header_json: parsed.header_json,
        payload_json: parsed.payload_json,
        exp,
        nbf,
        header: OnceLock::new(),
        claims: OnceLock::new(),
    }))
}

/// Tries the suitable keys. With a `kid`, the keys of that `kid` come first,
/// then the keys without one. Without a `kid`, every suitable key is tried
/// in set order. At most `max_attempts` signature checks run. Returns `None`
/// when a key verifies the signature, or else the failure.
fn check_signature(token: &Token<'_>, keys: &KeySet, max_attempts: usize) -> Option<Outcome> {
    let kid = token.kid.as_deref();
    let named = keys
        .keys
        .iter()
        .filter(|key| kid.is_some() && key.kid.as_deref() == kid);
    let unnamed = keys
        .keys
        .iter()
        .filter(|key| kid.is_none() || key.kid.is_none());
    let mut attempts = 0;
    for key in named.chain(unnamed).filter(|key| key.suits(token.alg)) {
        if attempts == max_attempts {
            break;
        }
        attempts += 1;
        let verified = token
            .signature
            .is_some_and(|signature| key.verify(token.alg, token.signing_input, signature));
        if verified {
            return None;
        }
    }
    if attempts > 0 {
        return Some(Outcome::Reject((
            Reason::BadSignature,
            format!(
                "signature is invalid (alg {}, kid {}, {attempts} key(s) tried)",
                token.alg,
                kid.map_or("none".into(), crate::json::printable)
            ),
        )));
    }
    let message = format!(
        "no key suits alg {} and kid {}",
        token.alg,
        kid.map_or("none".into(), crate::json::printable)
    );
    let kid_known =
        kid.is_none_or(|kid| keys.keys.iter().any(|key| key.kid.as_deref() == Some(kid)));
    if kid_known {
        Some(Outcome::Reject((Reason::NoMatchingKey, message)))
    } else {
        Some(Outcome::UnknownKid((Reason::NoMatchingKey, message)))
    }
}
