//! The verifier: a loaded policy that decides requests.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use jwtguard_core::{Loaded, LogSink, Options, Pending, Result, Verifier};

use crate::boundary::{Handle, free_handle, handle_ref, into_handle, write_text};
use crate::decision::{DecisionInner, jwtguard_decision};
use crate::diagnostics::{Diagnostics, jwtguard_diagnostics};
use crate::enums::jwtguard_token_source;
use crate::options::{default_options, jwtguard_options, silent_log};
use crate::result::jwtguard_result;

/// A loaded policy with its keys. Opaque and thread-safe: any number of
/// threads may call the functions that take `const jwtguard_verifier *` at
/// once, but none may still use it when `jwtguard_verifier_free` runs.
pub struct jwtguard_verifier {
    _private: [u8; 0],
}

pub(crate) struct VerifierInner {
    verifier: Verifier,
    log: LogSink,
}

impl Handle for jwtguard_verifier {
    type Inner = VerifierInner;
}

/// Counters of a remote key set (`jwksURI`), from
/// `jwtguard_verifier_key_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct jwtguard_key_stats {
    /// Fetches that ended, successful or not.
    pub fetches: u64,
    /// Fetches that failed.
    pub failures: u64,
    /// Keys in the current set; 0 when there is none.
    pub keys: u64,
    /// Time of the last successful fetch in seconds since the Unix epoch;
    /// 0 before the first.
    pub last_success_unix: u64,
    /// Age of the current key set in milliseconds; `UINT64_MAX` when there
    /// is none.
    pub cache_age_ms: u64,
    /// Readiness generation, as `jwtguard_verifier_keys_generation` returns.
    pub generation: u64,
}

/// Returns the options behind `options`, or the defaults for NULL.
///
/// # Safety
///
/// `options` is NULL or live options from `jwtguard_options_new`.
unsafe fn options_or_default(options: *const jwtguard_options) -> Options {
    match unsafe { handle_ref(options) } {
        Some(options) => options.clone(),
        None => default_options(),
    }
}

/// Stores the outcome of a load in the caller's outputs.
///
/// # Safety
///
/// `verifier_out` is valid for writes; `diagnostics_out` is NULL or valid
/// for writes.
unsafe fn finish_load(
    loaded: Result<Loaded>,
    log: LogSink,
    verifier_out: *mut *mut jwtguard_verifier,
    diagnostics_out: *mut *mut jwtguard_diagnostics,
) -> jwtguard_result {
    let (result, diagnostics) = match loaded {
        Ok(Loaded { verifier, warnings }) => {
            unsafe { *verifier_out = into_handle(VerifierInner { verifier, log }) };
            let diagnostics = Diagnostics {
                error: None,
                warnings,
            };
            (jwtguard_result::JWTGUARD_RESULT_OK, diagnostics)
        }
        Err(error) => {
            let diagnostics = Diagnostics {
                error: Some(error.to_string()),
                warnings: Vec::new(),
            };
            (jwtguard_result::from_error(&error), diagnostics)
        }
    };
    unsafe { diagnostics.write_to(diagnostics_out) };
    result
}

/// Loads a policy document: JSON bytes in the format of the NGINX API
/// Connectivity Manager's OAuth2 JWT Assertion policy. Loading opens no
/// socket and starts no thread, so it may run before `fork`.
///
/// `options` may be NULL for the defaults; the verifier keeps a copy, so
/// they may be freed at once. On success `*verifier_out` receives a
/// verifier that the caller frees with `jwtguard_verifier_free`.
///
/// `diagnostics_out` may be NULL. Otherwise it receives diagnostics on
/// success, with the warnings, and on a load error (a 2xx result), with the
/// error message. The caller frees them with `jwtguard_diagnostics_free`.
/// Any other result leaves `diagnostics_out` untouched.
///
/// Returns `JWTGUARD_RESULT_POLICY_INVALID` for a document that is not
/// UTF-8 JSON or not a valid policy, and the other 2xx codes as documented
/// on `jwtguard_result`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_new(
    policy: *const u8,
    policy_len: usize,
    options: *const jwtguard_options,
    verifier_out: *mut *mut jwtguard_verifier,
    diagnostics_out: *mut *mut jwtguard_diagnostics,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let policy = try_slice!(policy, policy_len);
        try_non_null!(verifier_out);
        // SAFETY: the caller passes NULL or live options.
        let options = unsafe { options_or_default(options) };
        let log = options.log.clone().unwrap_or_else(silent_log);
        let loaded = Verifier::from_json(policy, options);
        // SAFETY: `verifier_out` was checked; `diagnostics_out` may be NULL.
        unsafe { finish_load(loaded, log, verifier_out, diagnostics_out) }
    }
}

/// Loads a policy document from a file, as `jwtguard_verifier_new` does.
/// The path is bytes in the file system's encoding and need not be UTF-8.
///
/// Returns `JWTGUARD_RESULT_IO` when the file cannot be read, and
/// `JWTGUARD_RESULT_INVALID_ARGUMENT` for an empty path or one that
/// contains a NUL byte. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_new_from_file(
    path: *const u8,
    path_len: usize,
    options: *const jwtguard_options,
    verifier_out: *mut *mut jwtguard_verifier,
    diagnostics_out: *mut *mut jwtguard_diagnostics,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let path = try_slice!(path, path_len);
        try_non_null!(verifier_out);
        if path.is_empty() || path.contains(&0) {
            return jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT;
        }
        // SAFETY: the caller passes NULL or live options.
        let options = unsafe { options_or_default(options) };
        let log = options.log.clone().unwrap_or_else(silent_log);
        let loaded = Verifier::from_file(Path::new(OsStr::from_bytes(path)), options);
        // SAFETY: `verifier_out` was checked; `diagnostics_out` may be NULL.
        unsafe { finish_load(loaded, log, verifier_out, diagnostics_out) }
    }
}

/// Stops the verifier's fetch thread, if any, waiting up to about one
/// second, then frees the verifier. NULL is ignored. Text returned from the
/// verifier must not be used afterwards; decisions stay valid.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_free(verifier: *mut jwtguard_verifier) {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or a verifier it owns.
        if let Some(inner) = unsafe { handle_ref(verifier) } {
            inner.verifier.stop();
        }
        unsafe { free_handle(verifier) }
    }
}

/// Starts fetching the remote key set (`jwksURI`) in this process. Call it
/// once in each process that verifies tokens, after any `fork`, because
/// threads do not survive `fork`. Does nothing for inline keys
/// (`jwksKeys`) or when already started in this process.
///
/// Returns `JWTGUARD_RESULT_FETCHER_START_FAILED` when the thread cannot be
/// started; the reason goes to the log callback. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_start(verifier: *const jwtguard_verifier) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(verifier);
        match inner.verifier.start() {
            Ok(()) => jwtguard_result::JWTGUARD_RESULT_OK,
            Err(error) => {
                (inner.log)(log::Level::Error, &error.to_string());
                jwtguard_result::from_error(&error)
            }
        }
    }
}

/// Stops the fetch thread, waiting up to about one second. Later
/// verifications are denied with `JWTGUARD_REASON_KEYS_UNAVAILABLE` until
/// `jwtguard_verifier_start` runs again. NULL is ignored. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_stop(verifier: *const jwtguard_verifier) {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or a live verifier.
        if let Some(inner) = unsafe { handle_ref(verifier) } {
            inner.verifier.stop();
        }
    }
}

/// Returns where the policy looks for the token, or
/// `JWTGUARD_TOKEN_SOURCE_ERROR` when `verifier` is NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_token_source(
    verifier: *const jwtguard_verifier,
) -> jwtguard_token_source {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or a live verifier.
        match unsafe { handle_ref(verifier) } {
            Some(inner) => jwtguard_token_source::from_core(inner.verifier.token_location().source),
            None => jwtguard_token_source::JWTGUARD_TOKEN_SOURCE_ERROR,
        }
    }
}

/// Returns the policy's `tokenName`, the header or query parameter that
/// carries the token, such as `Authorization`. The text is UTF-8, is not
/// NUL-terminated, and lives until `jwtguard_verifier_free`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_token_name(
    verifier: *const jwtguard_verifier,
    name_out: *mut *const u8,
    name_len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(verifier);
        try_non_null!(name_out);
        try_non_null!(name_len_out);
        let name = &inner.verifier.token_location().name;
        // SAFETY: both outputs were checked for NULL above.
        unsafe { write_text(name, name_out, name_len_out) }
    }
}

/// Decides a request and stores a new decision in `*decision_out`, which
/// the caller frees with `jwtguard_decision_free`. Never blocks.
///
/// `source` is the value of the policy's header (the whole value, such as
/// `Bearer eyJ...`), or the raw query string without `?` when
/// `jwtguard_verifier_token_source` is `JWTGUARD_TOKEN_SOURCE_QUERY`. Pass
/// NULL when the header is absent or the query string empty; `source_len`
/// is then ignored. The bytes need not be UTF-8 and are not kept.
///
/// `pending_generation` is 0 on a first attempt. After a
/// `JWTGUARD_VERDICT_PENDING` decision, pass its
/// `jwtguard_decision_pending_generation` back once
/// `jwtguard_verifier_keys_generation` differs from it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_verify(
    verifier: *const jwtguard_verifier,
    source: *const u8,
    source_len: usize,
    pending_generation: u64,
    decision_out: *mut *mut jwtguard_decision,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(verifier);
        try_non_null!(decision_out);
        let source = match source.is_null() {
            true => None,
            false => Some(try_slice!(source, source_len)),
        };
        let pending = (pending_generation != 0).then_some(Pending {
            generation: pending_generation,
        });
        let decision = inner.verifier.verify_again(source, pending);
        // SAFETY: `decision_out` was checked for NULL above.
        unsafe { *decision_out = into_handle(DecisionInner::new(decision)) };
        jwtguard_result::JWTGUARD_RESULT_OK
    }
}

/// Stores in `*decision_out` a denial for a request that gave up waiting
/// for remote keys: reason `JWTGUARD_REASON_KEYS_UNAVAILABLE`, the policy's
/// noMatch status and its challenge, as the library itself returns when a
/// fetch fails. A host that bounds its wait for a pending decision uses it,
/// so every host gives the same verdict. The caller frees the decision with
/// `jwtguard_decision_free`. `message` (need not be UTF-8; invalid bytes are
/// replaced) says why, for logs. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_deny_unavailable(
    verifier: *const jwtguard_verifier,
    message: *const u8,
    message_len: usize,
    decision_out: *mut *mut jwtguard_decision,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(verifier);
        try_non_null!(decision_out);
        let message = String::from_utf8_lossy(try_slice!(message, message_len));
        let decision = inner.verifier.deny_unavailable(message);
        // SAFETY: `decision_out` was checked for NULL above.
        unsafe { *decision_out = into_handle(DecisionInner::new(decision)) };
        jwtguard_result::JWTGUARD_RESULT_OK
    }
}

/// Returns the readiness generation, which changes each time a key set
/// fetch ends. It is always 1 for inline keys, and 0 when `verifier` is
/// NULL. Cheap enough to poll. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_keys_generation(verifier: *const jwtguard_verifier) -> u64 {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or a live verifier.
        unsafe { handle_ref(verifier) }.map_or(0, |inner| inner.verifier.keys_generation())
    }
}

/// Blocks until the readiness generation differs from `generation`, at
/// most `timeout_ms` milliseconds, and returns whether it changed. Returns
/// true at once for inline keys and false when `verifier` is NULL. For
/// hosts whose threads may block; an event loop polls
/// `jwtguard_verifier_keys_generation` or uses the keys callback instead.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_wait_for_keys(
    verifier: *const jwtguard_verifier,
    generation: u64,
    timeout_ms: u64,
) -> bool {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or a live verifier.
        let Some(inner) = (unsafe { handle_ref(verifier) }) else {
            return false;
        };
        let pending = Pending { generation };
        inner.verifier.wait_for_keys(pending, Duration::from_millis(timeout_ms))
    }
}

/// Copies the remote key set's counters to `*stats_out`. Returns
/// `JWTGUARD_RESULT_NOT_FOUND` when the policy has inline keys
/// (`jwksKeys`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_verifier_key_stats(
    verifier: *const jwtguard_verifier,
    stats_out: *mut jwtguard_key_stats,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let inner = try_ref!(verifier);
        try_non_null!(stats_out);
        let Some(stats) = inner.verifier.key_stats() else {
            return jwtguard_result::JWTGUARD_RESULT_NOT_FOUND;
        };
        let cache_age_ms = stats
            .cache_age
            .map_or(u64::MAX, |age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX - 1));
        let stats = jwtguard_key_stats {
            fetches: stats.fetches,
            failures: stats.failures,
            keys: stats.keys as u64,
            last_success_unix: stats.last_success_unix.unwrap_or(0),
            cache_age_ms,
            generation: stats.generation,
        };
        // SAFETY: `stats_out` was checked for NULL above.
        unsafe { *stats_out = stats };
        jwtguard_result::JWTGUARD_RESULT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{jwtguard_decision_free, jwtguard_decision_status};
    use crate::diagnostics::jwtguard_diagnostics_free;
    use std::ptr::{null, null_mut};

    const NULL_PARAMETER: jwtguard_result = jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER;
    const POLICY: &[u8] = br#"{"action": {"jwksKeys": [
        {"kty": "oct", "kid": "k1", "k": "c2VjcmV0X2tleV9ub3RfZm9yX3Byb2R1Y3Rpb24"}]}}"#;

    fn load(policy: &[u8]) -> (jwtguard_result, *mut jwtguard_verifier) {
        let mut verifier = null_mut();
        let result = jwtguard_verifier_new(
            policy.as_ptr(),
            policy.len(),
            null(),
            &mut verifier,
            null_mut(),
        );
        (result, verifier)
    }

    #[test]
    fn new_rejects_null_arguments() {
        let mut verifier = null_mut();
        let result = jwtguard_verifier_new(null(), 0, null(), &mut verifier, null_mut());
        assert_eq!(result, NULL_PARAMETER);
        let result = jwtguard_verifier_new(
            POLICY.as_ptr(),
            POLICY.len(),
            null(),
            null_mut(),
            null_mut(),
        );
        assert_eq!(result, NULL_PARAMETER);
        assert!(verifier.is_null());
    }

    #[test]
    fn new_reports_invalid_policy() {
        let mut verifier = null_mut();
        let mut diagnostics = null_mut();
        let policy = b"{\"action\": \xff}";
        let result = jwtguard_verifier_new(
            policy.as_ptr(),
            policy.len(),
            null(),
            &mut verifier,
            &mut diagnostics,
        );
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_POLICY_INVALID);
        assert!(verifier.is_null());
        assert!(!diagnostics.is_null());
        jwtguard_diagnostics_free(diagnostics);
    }

    #[test]
    fn from_file_rejects_bad_paths() {
        let mut verifier = null_mut();
        let result =
            jwtguard_verifier_new_from_file(b"".as_ptr(), 0, null(), &mut verifier, null_mut());
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT);
        let path = b"/nonexistent/policy.json";
        let result = jwtguard_verifier_new_from_file(
            path.as_ptr(),
            path.len(),
            null(),
            &mut verifier,
            null_mut(),
        );
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_IO);
    }

    #[test]
    fn null_verifier_defaults() {
        assert_eq!(jwtguard_verifier_start(null()), NULL_PARAMETER);
        jwtguard_verifier_stop(null());
        jwtguard_verifier_free(null_mut());
        assert_eq!(
            jwtguard_verifier_token_source(null()),
            jwtguard_token_source::JWTGUARD_TOKEN_SOURCE_ERROR
        );
        assert_eq!(jwtguard_verifier_keys_generation(null()), 0);
        assert!(!jwtguard_verifier_wait_for_keys(null(), 1, 0));
        let mut stats = jwtguard_key_stats::default();
        assert_eq!(
            jwtguard_verifier_key_stats(null(), &mut stats),
            NULL_PARAMETER
        );
        let mut decision = null_mut();
        assert_eq!(
            jwtguard_verifier_verify(null(), null(), 0, 0, &mut decision),
            NULL_PARAMETER
        );
        assert!(decision.is_null());
    }

    #[test]
    fn inline_keys_verifier() {
        let (result, verifier) = load(POLICY);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_OK);

        assert_eq!(
            jwtguard_verifier_start(verifier),
            jwtguard_result::JWTGUARD_RESULT_OK
        );
        assert_eq!(jwtguard_verifier_keys_generation(verifier), 1);
        assert!(jwtguard_verifier_wait_for_keys(verifier, 1, 0));
        let mut stats = jwtguard_key_stats::default();
        assert_eq!(
            jwtguard_verifier_key_stats(verifier, &mut stats),
            jwtguard_result::JWTGUARD_RESULT_NOT_FOUND
        );

        let mut name = null();
        let mut len = 0;
        assert_eq!(
            jwtguard_verifier_token_name(verifier, &mut name, &mut len),
            jwtguard_result::JWTGUARD_RESULT_OK
        );
        assert_eq!(
            unsafe { std::slice::from_raw_parts(name, len) },
            b"Authorization"
        );
        assert_eq!(
            jwtguard_verifier_token_name(verifier, null_mut(), &mut len),
            NULL_PARAMETER
        );

        let mut decision = null_mut();
        assert_eq!(
            jwtguard_verifier_verify(verifier, null(), 5, 0, &mut decision),
            jwtguard_result::JWTGUARD_RESULT_OK
        );
        assert_eq!(jwtguard_decision_status(decision), 401);
        jwtguard_decision_free(decision);
        assert_eq!(
            jwtguard_verifier_verify(verifier, null(), 0, 0, null_mut()),
            NULL_PARAMETER
        );

        jwtguard_verifier_free(verifier);
    }
}
