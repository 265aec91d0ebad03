//! Result codes and their messages.

use jwtguard_core::{Error, ErrorKind};

/// The outcome of a fallible call. The numbers are fixed and grouped by
/// category: 0 success, 1xx caller errors, 2xx policy and key load errors,
/// 9xx internal errors. A number is never reused for another meaning.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum jwtguard_result {
    /// Success.
    JWTGUARD_RESULT_OK = 0,
    /// A required pointer argument is NULL.
    JWTGUARD_RESULT_NULL_PARAMETER = 100,
    /// An argument is out of range, such as an index past the end or a
    /// length over `SSIZE_MAX`.
    JWTGUARD_RESULT_INVALID_ARGUMENT = 101,
    /// The requested value does not exist, such as a claim the token does
    /// not have or the message of an allow decision.
    JWTGUARD_RESULT_NOT_FOUND = 102,
    /// A text argument that must be UTF-8 is not.
    JWTGUARD_RESULT_INVALID_UTF8 = 103,
    /// The policy is not valid: not JSON, not UTF-8, or a field is missing
    /// or wrong. The diagnostics hold the JSON path and the fix.
    JWTGUARD_RESULT_POLICY_INVALID = 200,
    /// A key set is not a JWK Set or has no usable key. NOTE: problems with
    /// the inline `jwksKeys` come as `JWTGUARD_RESULT_POLICY_INVALID`, with
    /// the key's JSON path in the diagnostics.
    JWTGUARD_RESULT_JWKS_INVALID = 201,
    /// An option set on `jwtguard_options` is out of range.
    JWTGUARD_RESULT_OPTION_INVALID = 202,
    /// A file could not be read.
    JWTGUARD_RESULT_IO = 203,
    /// The key fetch thread could not be started.
    JWTGUARD_RESULT_FETCHER_START_FAILED = 204,
    /// A bug in jwtguard: a panic was caught at the ABI boundary. Treat the
    /// call as failed and deny the request.
    JWTGUARD_RESULT_PANIC = 900,
}

/// A result code as C passes it in: any `uint32_t`, so an out-of-range value
/// is data, not undefined behavior. The header names it `jwtguard_result`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct jwtguard_result_value(pub u32);

impl jwtguard_result {
    const ALL: [jwtguard_result; 11] = [
        jwtguard_result::JWTGUARD_RESULT_OK,
        jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER,
        jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT,
        jwtguard_result::JWTGUARD_RESULT_NOT_FOUND,
        jwtguard_result::JWTGUARD_RESULT_INVALID_UTF8,
        jwtguard_result::JWTGUARD_RESULT_POLICY_INVALID,
        jwtguard_result::JWTGUARD_RESULT_JWKS_INVALID,
        jwtguard_result::JWTGUARD_RESULT_OPTION_INVALID,
        jwtguard_result::JWTGUARD_RESULT_IO,
        jwtguard_result::JWTGUARD_RESULT_FETCHER_START_FAILED,
        jwtguard_result::JWTGUARD_RESULT_PANIC,
    ];

    fn from_value(value: jwtguard_result_value) -> Option<jwtguard_result> {
        Self::ALL
            .into_iter()
            .find(|result| *result as u32 == value.0)
    }

    /// Maps a core load error to its code.
    pub(crate) fn from_error(error: &Error) -> jwtguard_result {
        match error.kind() {
            ErrorKind::Policy { .. } => jwtguard_result::JWTGUARD_RESULT_POLICY_INVALID,
            ErrorKind::InvalidJwks(_) => jwtguard_result::JWTGUARD_RESULT_JWKS_INVALID,
            ErrorKind::InvalidOption(_) => jwtguard_result::JWTGUARD_RESULT_OPTION_INVALID,
            ErrorKind::Io { .. } => jwtguard_result::JWTGUARD_RESULT_IO,
            ErrorKind::Fetch(_) => jwtguard_result::JWTGUARD_RESULT_FETCHER_START_FAILED,
            // A kind added to the core later is still a load failure.
            _ => jwtguard_result::JWTGUARD_RESULT_POLICY_INVALID,
        }
    }

    fn message(self) -> &'static str {
        match self {
            jwtguard_result::JWTGUARD_RESULT_OK => "success",
            jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER => {
                "a required pointer argument is NULL"
            }
            jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT => "an argument is out of range",
            jwtguard_result::JWTGUARD_RESULT_NOT_FOUND => "the requested value was not found",
            jwtguard_result::JWTGUARD_RESULT_INVALID_UTF8 => "a text argument is not valid UTF-8",
            jwtguard_result::JWTGUARD_RESULT_POLICY_INVALID => "the policy is invalid",
            jwtguard_result::JWTGUARD_RESULT_JWKS_INVALID => "the key set is invalid",
            jwtguard_result::JWTGUARD_RESULT_OPTION_INVALID => "an option is invalid",
            jwtguard_result::JWTGUARD_RESULT_IO => "a file could not be read",
            jwtguard_result::JWTGUARD_RESULT_FETCHER_START_FAILED => {
                "the key fetch thread could not be started"
            }
            jwtguard_result::JWTGUARD_RESULT_PANIC => "internal error: jwtguard panicked",
        }
    }
}

const UNKNOWN_RESULT_MESSAGE: &str = "unknown jwtguard_result value";

/// Copies the English message for `result` into `buf`, without a
/// terminating NUL, and returns the message's full length in bytes.
///
/// At most `buf_len` bytes are written, so a return value greater than
/// `buf_len` means the message was cut. `buf` may be NULL when `buf_len` is
/// 0, which returns the length alone. An unknown value gets the message
/// "unknown jwtguard_result value". Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_result_message(
    result: jwtguard_result_value,
    buf: *mut u8,
    buf_len: usize,
) -> usize {
    ffi_panic_boundary! {
        let message = jwtguard_result::from_value(result)
            .map_or(UNKNOWN_RESULT_MESSAGE, jwtguard_result::message);
        let copied = message.len().min(buf_len);
        if !buf.is_null() && copied > 0 {
            // SAFETY: the caller provides `buf_len` writable bytes at `buf`.
            unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), buf, copied) };
        }
        message.len()
    }
}

/// Tells whether `result` is a policy, key or option load error (the 2xx
/// codes), so a host can report a configuration problem without relying on
/// number ranges. Returns false for any other value. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_result_is_load_error(result: jwtguard_result_value) -> bool {
    ffi_panic_boundary! {
        matches!(
            jwtguard_result::from_value(result),
            Some(
                jwtguard_result::JWTGUARD_RESULT_POLICY_INVALID
                    | jwtguard_result::JWTGUARD_RESULT_JWKS_INVALID
                    | jwtguard_result::JWTGUARD_RESULT_OPTION_INVALID
                    | jwtguard_result::JWTGUARD_RESULT_IO
                    | jwtguard_result::JWTGUARD_RESULT_FETCHER_START_FAILED
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(result: jwtguard_result) -> jwtguard_result_value {
        jwtguard_result_value(result as u32)
    }

    #[test]
    fn message_length_query() {
        let ok = value(jwtguard_result::JWTGUARD_RESULT_OK);
        assert_eq!(jwtguard_result_message(ok, std::ptr::null_mut(), 0), 7);
        assert_eq!(jwtguard_result_message(ok, std::ptr::null_mut(), 100), 7);
    }

    #[test]
    fn message_short_buffer_is_cut() {
        let mut buf = [b'#'; 4];
        let panic = value(jwtguard_result::JWTGUARD_RESULT_PANIC);
        let len = jwtguard_result_message(panic, buf.as_mut_ptr(), 3);
        assert_eq!(len, "internal error: jwtguard panicked".len());
        assert_eq!(&buf, b"int#");
    }

    #[test]
    fn message_of_unknown_value() {
        let mut buf = [0u8; 64];
        let len = jwtguard_result_message(jwtguard_result_value(7), buf.as_mut_ptr(), buf.len());
        assert_eq!(&buf[..len], UNKNOWN_RESULT_MESSAGE.as_bytes());
    }

    #[test]
    fn every_result_has_a_message() {
        for result in jwtguard_result::ALL {
            assert!(!result.message().is_empty(), "{result:?}");
        }
    }

    #[test]
    fn load_errors_are_2xx() {
        for result in jwtguard_result::ALL {
            let code = result as u32;
            let expected = (200..300).contains(&code);
            assert_eq!(
                jwtguard_result_is_load_error(value(result)),
                expected,
                "{result:?}"
            );
        }
        assert!(!jwtguard_result_is_load_error(jwtguard_result_value(299)));
        assert!(!jwtguard_result_is_load_error(jwtguard_result_value(
            u32::MAX
        )));
    }
}
