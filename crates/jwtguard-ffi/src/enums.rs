//! Verdicts, reasons, token sources and log levels.

use jwtguard_core::{Reason, TokenSource};

use crate::boundary::write_text;
use crate::result::jwtguard_result;

/// The action a host takes on a request.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum jwtguard_verdict {
    /// No decision: the decision pointer was NULL or jwtguard failed. The
    /// host must deny the request, as for an internal error.
    JWTGUARD_VERDICT_ERROR = 0,
    /// The token is valid; let the request through.
    JWTGUARD_VERDICT_ALLOW = 1,
    /// Reject the request with `jwtguard_decision_status` and the
    /// `WWW-Authenticate` header from `jwtguard_decision_www_authenticate`.
    JWTGUARD_VERDICT_DENY = 2,
    /// The remote key set is loading. Verify again, passing
    /// `jwtguard_decision_pending_generation`, once
    /// `jwtguard_verifier_keys_generation` has moved past it.
    JWTGUARD_VERDICT_PENDING = 3,
}

/// The cause of a denial. The numbers are fixed.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum jwtguard_reason {
    /// The decision is not a denial.
    JWTGUARD_REASON_NONE = 0,
    /// No token was supplied, so the status is the policy's notSupplied
    /// return code.
    JWTGUARD_REASON_MISSING = 1,
    /// The token is not a well-formed JWS, or is over a size or depth limit.
    JWTGUARD_REASON_MALFORMED = 2,
    /// The token's `alg` is `none` or not supported.
    JWTGUARD_REASON_UNSUPPORTED_ALGORITHM = 3,
    /// No key of the set suits the token's `alg` and `kid`.
    JWTGUARD_REASON_NO_MATCHING_KEY = 4,
    /// No suitable key verifies the signature.
    JWTGUARD_REASON_BAD_SIGNATURE = 5,
    /// The token's `exp` has passed.
    JWTGUARD_REASON_EXPIRED = 6,
    /// The token's `nbf` has not yet come.
    JWTGUARD_REASON_NOT_YET_VALID = 7,
    /// `exp` or `nbf` is not a JSON number.
    JWTGUARD_REASON_INVALID_CLAIM = 8,
    /// The remote key set could not be fetched and no cached keys remain.
    JWTGUARD_REASON_KEYS_UNAVAILABLE = 9,
}

/// A reason code as C passes it in: any `uint32_t`, so an out-of-range value
/// is data, not undefined behavior. The header names it `jwtguard_reason`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct jwtguard_reason_value(pub u32);

impl jwtguard_reason {
    pub(crate) fn from_core(reason: Reason) -> jwtguard_reason {
        match reason {
            Reason::Missing => jwtguard_reason::JWTGUARD_REASON_MISSING,
            Reason::Malformed => jwtguard_reason::JWTGUARD_REASON_MALFORMED,
            Reason::UnsupportedAlgorithm => jwtguard_reason::JWTGUARD_REASON_UNSUPPORTED_ALGORITHM,
            Reason::NoMatchingKey => jwtguard_reason::JWTGUARD_REASON_NO_MATCHING_KEY,
            Reason::BadSignature => jwtguard_reason::JWTGUARD_REASON_BAD_SIGNATURE,
            Reason::Expired => jwtguard_reason::JWTGUARD_REASON_EXPIRED,
            Reason::NotYetValid => jwtguard_reason::JWTGUARD_REASON_NOT_YET_VALID,
            Reason::InvalidClaim => jwtguard_reason::JWTGUARD_REASON_INVALID_CLAIM,
            Reason::KeysUnavailable => jwtguard_reason::JWTGUARD_REASON_KEYS_UNAVAILABLE,
            // A reason added to the core later is still a rejected token.
            _ => jwtguard_reason::JWTGUARD_REASON_MALFORMED,
        }
    }
}

/// The place in a request where the policy looks for the token.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum jwtguard_token_source {
    /// The verifier pointer was NULL or jwtguard failed.
    JWTGUARD_TOKEN_SOURCE_ERROR = 0,
    /// A request header, named by `jwtguard_verifier_token_name`. For
    /// `Authorization` the Bearer scheme is expected.
    JWTGUARD_TOKEN_SOURCE_HEADER = 1,
    /// A query string parameter, named by `jwtguard_verifier_token_name`.
    JWTGUARD_TOKEN_SOURCE_QUERY = 2,
}

impl jwtguard_token_source {
    pub(crate) fn from_core(source: TokenSource) -> jwtguard_token_source {
        match source {
            TokenSource::Header => jwtguard_token_source::JWTGUARD_TOKEN_SOURCE_HEADER,
            TokenSource::Query => jwtguard_token_source::JWTGUARD_TOKEN_SOURCE_QUERY,
        }
    }
}

/// The level of a log record passed to `jwtguard_log_callback`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum jwtguard_log_level {
    /// A failure that needs attention, such as a failed key set fetch.
    JWTGUARD_LOG_LEVEL_ERROR = 1,
    /// A problem that did not stop the work, such as stale keys in use.
    JWTGUARD_LOG_LEVEL_WARN = 2,
    /// A normal event, such as a successful key set fetch.
    JWTGUARD_LOG_LEVEL_INFO = 3,
    /// Detail for debugging.
    JWTGUARD_LOG_LEVEL_DEBUG = 4,
    /// Fine-grained detail for debugging.
    JWTGUARD_LOG_LEVEL_TRACE = 5,
}

impl jwtguard_log_level {
    pub(crate) fn from_log(level: log::Level) -> jwtguard_log_level {
        match level {
            log::Level::Error => jwtguard_log_level::JWTGUARD_LOG_LEVEL_ERROR,
            log::Level::Warn => jwtguard_log_level::JWTGUARD_LOG_LEVEL_WARN,
            log::Level::Info => jwtguard_log_level::JWTGUARD_LOG_LEVEL_INFO,
            log::Level::Debug => jwtguard_log_level::JWTGUARD_LOG_LEVEL_DEBUG,
            log::Level::Trace => jwtguard_log_level::JWTGUARD_LOG_LEVEL_TRACE,
        }
    }
}

fn core_reason(value: jwtguard_reason_value) -> Option<Reason> {
    Reason::ALL
        .into_iter()
        .find(|reason| *reason as u32 == value.0)
}

/// Returns whether `reason` means that no token was supplied, as opposed to
/// an invalid token. Such a denial carries the policy's notSupplied status
/// (401 by default) and a bare `Bearer` challenge. Returns false for any
/// other value. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_reason_is_missing_token(reason: jwtguard_reason_value) -> bool {
    ffi_panic_boundary! {
        core_reason(reason) == Some(Reason::Missing)
    }
}

/// Returns a reason's stable snake_case name, such as `"bad_signature"`, or
/// `"none"` for `JWTGUARD_REASON_NONE`, through `name_out` and
/// `name_len_out`. The text is static and not NUL-terminated.
///
/// Returns `JWTGUARD_RESULT_INVALID_ARGUMENT` for a value that is not a
/// reason, and `JWTGUARD_RESULT_NULL_PARAMETER` when an output is NULL.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_reason_name(
    reason: jwtguard_reason_value,
    name_out: *mut *const u8,
    name_len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        try_non_null!(name_out);
        try_non_null!(name_len_out);
        let name = match core_reason(reason) {
            Some(reason) => reason.name(),
            None if reason.0 == jwtguard_reason::JWTGUARD_REASON_NONE as u32 => "none",
            None => return jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT,
        };
        // SAFETY: both outputs were checked for NULL above.
        unsafe { write_text(name, name_out, name_len_out) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(value: u32) -> Result<String, jwtguard_result> {
        let mut name = std::ptr::null();
        let mut len = 0;
        let result = jwtguard_reason_name(jwtguard_reason_value(value), &mut name, &mut len);
        if result != jwtguard_result::JWTGUARD_RESULT_OK {
            return Err(result);
        }
        let bytes = unsafe { std::slice::from_raw_parts(name, len) };
        Ok(String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[test]
    fn reason_numbers_match_core() {
        for reason in Reason::ALL {
            assert_eq!(jwtguard_reason::from_core(reason) as u32, reason as u32);
        }
    }

    #[test]
    fn reason_names() {
        assert_eq!(name_of(0).unwrap(), "none");
        assert_eq!(name_of(1).unwrap(), "missing");
        assert_eq!(name_of(5).unwrap(), "bad_signature");
        assert_eq!(name_of(9).unwrap(), "keys_unavailable");
        assert_eq!(
            name_of(10),
            Err(jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT)
        );
        assert_eq!(
            name_of(u32::MAX),
            Err(jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT)
        );
    }

    #[test]
    fn reason_name_null_outputs() {
        let mut name = std::ptr::null();
        let mut len = 0;
        let reason = jwtguard_reason_value(1);
        let result = jwtguard_reason_name(reason, std::ptr::null_mut(), &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER);
        let result = jwtguard_reason_name(reason, &mut name, std::ptr::null_mut());
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER);
        assert!(name.is_null());
    }

    #[test]
    fn missing_token_classifier() {
        assert!(jwtguard_reason_is_missing_token(jwtguard_reason_value(1)));
        for value in [0, 2, 5, 9, 10, u32::MAX] {
            assert!(
                !jwtguard_reason_is_missing_token(jwtguard_reason_value(value)),
                "{value}"
            );
        }
    }
}
