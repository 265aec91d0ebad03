//! Decisions: the outcome of one verification, with the verified claims.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jwtguard_core::{Decision, Denial, Verified, value_text};
use serde_json::{Map, Value};

use crate::boundary::{Handle, free_handle, handle_ref, write_text};
use crate::enums::{jwtguard_reason, jwtguard_verdict};
use crate::result::jwtguard_result;

/// The outcome of one verification: allow with the verified token, deny
/// with a status, or pending while remote keys load. Opaque and immutable
/// to the caller, so it may be read from several threads at once. Text
/// returned from it lives until `jwtguard_decision_free`.
pub struct jwtguard_decision {
    _private: [u8; 0],
}

/// The part of a verified token that a member comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Part {
    Header,
    Claims,
}

pub(crate) struct DecisionInner {
    decision: Decision,
    /// Text of non-string members, formatted as JSON on first request and
    /// kept so that returned pointers stay valid. Entries are never removed
    /// or replaced, and a `Box<str>` does not move when the map grows.
    texts: Mutex<HashMap<(Part, String), Box<str>>>,
}

impl Handle for jwtguard_decision {
    type Inner = DecisionInner;
}

impl DecisionInner {
    pub(crate) fn new(decision: Decision) -> DecisionInner {
        DecisionInner {
            decision,
            texts: Mutex::new(HashMap::new()),
        }
    }

    fn verified(&self) -> Option<&Arc<Verified>> {
        match &self.decision {
            Decision::Allow(verified) => Some(verified),
            _ => None,
        }
    }

    fn members(&self, part: Part) -> Option<&Map<String, Value>> {
        let verified = self.verified()?;
        Some(match part {
            Part::Header => verified.header(),
            Part::Claims => verified.claims(),
        })
    }

    /// Returns a member's text: strings unquoted, other values as JSON.
    fn member_text(&self, part: Part, name: &str) -> Option<&str> {
        let value = self.members(part)?.get(name)?;
        Some(self.keep(part, name, value))
    }

    fn keep<'a>(&'a self, part: Part, name: &str, value: &'a Value) -> &'a str {
        match value_text(value) {
            Cow::Borrowed(text) => text,
            Cow::Owned(text) => {
                let mut texts = self
                    .texts
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let kept = texts
                    .entry((part, name.to_owned()))
                    .or_insert_with(|| text.into_boxed_str());
                let kept: *const str = &**kept;
                // SAFETY: the boxed text is never removed, replaced or moved
                // before `self` drops, so it outlives the `&'a self` borrow.
                unsafe { &*kept }
            }
        }
    }
}

/// Evaluates to the decision behind a pointer, or returns `$default` from
/// the enclosing function when it is NULL.
macro_rules! decision_or {
    ($ptr:expr, $default:expr) => {
        // SAFETY: the caller passes NULL or a live decision.
        match unsafe { handle_ref($ptr) } {
            Some(inner) => inner,
            None => return $default,
        }
    };
}

/// Returns the verdict, or `JWTGUARD_VERDICT_ERROR` when `decision` is
/// NULL; the host must deny on an error verdict. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_verdict(
    decision: *const jwtguard_decision,
) -> jwtguard_verdict {
    ffi_panic_boundary! {
        let inner = decision_or!(decision, jwtguard_verdict::JWTGUARD_VERDICT_ERROR);
        match inner.decision {
            Decision::Allow(_) => jwtguard_verdict::JWTGUARD_VERDICT_ALLOW,
            Decision::Deny(_) => jwtguard_verdict::JWTGUARD_VERDICT_DENY,
            Decision::Pending(_) => jwtguard_verdict::JWTGUARD_VERDICT_PENDING,
        }
    }
}

/// Returns the HTTP status of a deny decision, from the policy's
/// `errorReturnConditions` (401 and 403 by default); 0 for any other
/// decision or NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_status(decision: *const jwtguard_decision) -> u16 {
    ffi_panic_boundary! {
        match &decision_or!(decision, 0).decision {
            Decision::Deny(denial) => denial.status,
            _ => 0,
        }
    }
}

/// Returns why a deny decision denied; `JWTGUARD_REASON_NONE` for any other
/// decision or NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_reason(decision: *const jwtguard_decision) -> jwtguard_reason {
    ffi_panic_boundary! {
        match &decision_or!(decision, jwtguard_reason::JWTGUARD_REASON_NONE).decision {
            Decision::Deny(denial) => jwtguard_reason::from_core(denial.reason),
            _ => jwtguard_reason::JWTGUARD_REASON_NONE,
        }
    }
}

/// Returns the key generation a pending decision waits on, to pass back to
/// `jwtguard_verifier_verify`; 0 for any other decision or NULL.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_pending_generation(decision: *const jwtguard_decision) -> u64 {
    ffi_panic_boundary! {
        match &decision_or!(decision, 0).decision {
            Decision::Pending(pending) => pending.generation,
            _ => 0,
        }
    }
}

/// Returns a deny decision's message for the error log, such as `token
/// expired: ...`, through `out` and `len_out`. It never contains the token
/// or key material, is UTF-8 and not NUL-terminated. Returns
/// `JWTGUARD_RESULT_NOT_FOUND` for any other decision. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_message(
    decision: *const jwtguard_decision,
    out: *mut *const u8,
    len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        write_denial_text(decision, out, len_out, |denial| &denial.message)
    }
}

/// Returns the `WWW-Authenticate` value for a deny decision, such as
/// `Bearer error="invalid_token"`, through `out` and `len_out`; it is ASCII
/// and not NUL-terminated. Returns `JWTGUARD_RESULT_NOT_FOUND` for any other
/// decision. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_www_authenticate(
    decision: *const jwtguard_decision,
    out: *mut *const u8,
    len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        write_denial_text(decision, out, len_out, |denial| &denial.www_authenticate)
    }
}

/// Writes one text of a deny decision through `out` and `len_out`, or
/// returns `JWTGUARD_RESULT_NOT_FOUND` for any other decision.
fn write_denial_text(
    decision: *const jwtguard_decision,
    out: *mut *const u8,
    len_out: *mut usize,
    text: impl Fn(&Denial) -> &str,
) -> jwtguard_result {
    let inner = try_ref!(decision);
    try_non_null!(out);
    try_non_null!(len_out);
    match &inner.decision {
        // SAFETY: both outputs were checked for NULL above.
        Decision::Deny(denial) => unsafe { write_text(text(denial), out, len_out) },
        _ => jwtguard_result::JWTGUARD_RESULT_NOT_FOUND,
    }
}

/// Looks up a top-level member of the verified payload or header.
fn member(
    decision: *const jwtguard_decision,
    part: Part,
    name: *const u8,
    name_len: usize,
    value_out: *mut *const u8,
    value_len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(decision);
        let name = try_str!(name, name_len);
        try_non_null!(value_out);
        try_non_null!(value_len_out);
        match inner.member_text(part, name) {
            // SAFETY: both outputs were checked for NULL above.
            Some(text) => unsafe { write_text(text, value_out, value_len_out) },
            None => jwtguard_result::JWTGUARD_RESULT_NOT_FOUND,
        }
    }
}

/// Returns a top-level claim of an allowed token's payload through
/// `value_out` and `value_len_out`: a string without its quotes, any other
/// value as compact JSON (`42`, `true`, `["a","b"]`). The text is UTF-8,
/// not NUL-terminated, and lives until `jwtguard_decision_free`.
///
/// Returns `JWTGUARD_RESULT_NOT_FOUND` when the claim is absent or the
/// decision is not an allow, and `JWTGUARD_RESULT_INVALID_UTF8` when `name`
/// is not UTF-8 (no claim name can match it). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_claim(
    decision: *const jwtguard_decision,
    name: *const u8,
    name_len: usize,
    value_out: *mut *const u8,
    value_len_out: *mut usize,
) -> jwtguard_result {
    member(
        decision,
        Part::Claims,
        name,
        name_len,
        value_out,
        value_len_out,
    )
}

/// Returns a member of an allowed token's protected header, such as `kid`
/// or `alg`, in the form and with the results of
/// `jwtguard_decision_claim`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_header(
    decision: *const jwtguard_decision,
    name: *const u8,
    name_len: usize,
    value_out: *mut *const u8,
    value_len_out: *mut usize,
) -> jwtguard_result {
    member(
        decision,
        Part::Header,
        name,
        name_len,
        value_out,
        value_len_out,
    )
}

/// Returns an allowed token's decoded payload as JSON text through `out`
/// and `len_out`: UTF-8, not NUL-terminated, living until
/// `jwtguard_decision_free`. Returns `JWTGUARD_RESULT_NOT_FOUND` for any
/// other decision. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_payload(
    decision: *const jwtguard_decision,
    out: *mut *const u8,
    len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(decision);
        try_non_null!(out);
        try_non_null!(len_out);
        match inner.verified() {
            // SAFETY: both outputs were checked for NULL above.
            Some(verified) => unsafe { write_text(verified.payload_json(), out, len_out) },
            None => jwtguard_result::JWTGUARD_RESULT_NOT_FOUND,
        }
    }
}

/// Returns the number of top-level claims of an allowed token; 0 for any
/// other decision or NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_claim_count(decision: *const jwtguard_decision) -> usize {
    ffi_panic_boundary! {
        decision_or!(decision, 0).members(Part::Claims).map_or(0, Map::len)
    }
}

/// Returns claim number `index`, counted from 0 in ascending order of
/// name, as its name and its text (in the form of
/// `jwtguard_decision_claim`). Both texts are UTF-8, not NUL-terminated,
/// and live until `jwtguard_decision_free`. Returns
/// `JWTGUARD_RESULT_INVALID_ARGUMENT` when `index` is not below
/// `jwtguard_decision_claim_count`, which is 0 for a decision that is not
/// an allow. Each call walks the claims, so a loop over all of them is
/// quadratic in their number. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_claim_at(
    decision: *const jwtguard_decision,
    index: usize,
    name_out: *mut *const u8,
    name_len_out: *mut usize,
    value_out: *mut *const u8,
    value_len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(decision);
        try_non_null!(name_out);
        try_non_null!(name_len_out);
        try_non_null!(value_out);
        try_non_null!(value_len_out);
        let claims = inner.members(Part::Claims);
        let Some((name, value)) = claims.and_then(|claims| claims.iter().nth(index)) else {
            return jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT;
        };
        let text = inner.keep(Part::Claims, name, value);
        // SAFETY: all four outputs were checked for NULL above.
        unsafe {
            write_text(name, name_out, name_len_out);
            write_text(text, value_out, value_len_out)
        }
    }
}

/// Frees a decision from `jwtguard_verifier_verify`. NULL is ignored. Text
/// returned from the decision must not be used afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_decision_free(decision: *mut jwtguard_decision) {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or a decision it owns.
        unsafe { free_handle(decision) }
    }
}
