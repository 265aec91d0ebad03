//! Diagnostics of a policy load: the error that stopped it, and warnings.

use crate::boundary::{Handle, free_handle, into_handle, write_text};
use crate::result::jwtguard_result;

/// The report of a policy load: the error that stopped the load, if any,
/// and the warnings, each naming its JSON path. Opaque and immutable, so it
/// may be read from several threads at once.
pub struct jwtguard_diagnostics {
    _private: [u8; 0],
}

pub(crate) struct Diagnostics {
    pub(crate) error: Option<String>,
    pub(crate) warnings: Vec<String>,
}

impl Handle for jwtguard_diagnostics {
    type Inner = Diagnostics;
}

impl Diagnostics {
    /// Writes the diagnostics to `diagnostics_out` when it is not NULL.
    ///
    /// # Safety
    ///
    /// `diagnostics_out` is NULL or valid for writes.
    pub(crate) unsafe fn write_to(self, diagnostics_out: *mut *mut jwtguard_diagnostics) {
        if !diagnostics_out.is_null() {
            unsafe { *diagnostics_out = into_handle(self) };
        }
    }
}

/// Returns the message of the error that stopped the load through `out` and
/// `len_out`, or `JWTGUARD_RESULT_NOT_FOUND` when the load succeeded. The
/// message names the JSON path and the fix, is UTF-8, is not
/// NUL-terminated, and lives until `jwtguard_diagnostics_free`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_diagnostics_error(
    diagnostics: *const jwtguard_diagnostics,
    out: *mut *const u8,
    len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let diagnostics = try_ref!(diagnostics);
        try_non_null!(out);
        try_non_null!(len_out);
        match &diagnostics.error {
            // SAFETY: both outputs were checked for NULL above.
            Some(error) => unsafe { write_text(error, out, len_out) },
            None => jwtguard_result::JWTGUARD_RESULT_NOT_FOUND,
        }
    }
}

/// Returns the number of warnings, or 0 when `diagnostics` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_diagnostics_warning_count(
    diagnostics: *const jwtguard_diagnostics,
) -> usize {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or live diagnostics.
        unsafe { crate::boundary::handle_ref(diagnostics) }
            .map_or(0, |diagnostics| diagnostics.warnings.len())
    }
}

/// Returns warning number `index`, counted from 0, through `out` and
/// `len_out`. The text is UTF-8, is not NUL-terminated, and lives until
/// `jwtguard_diagnostics_free`. Returns `JWTGUARD_RESULT_INVALID_ARGUMENT`
/// when `index` is not below `jwtguard_diagnostics_warning_count`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_diagnostics_warning(
    diagnostics: *const jwtguard_diagnostics,
    index: usize,
    out: *mut *const u8,
    len_out: *mut usize,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let diagnostics = try_ref!(diagnostics);
        try_non_null!(out);
        try_non_null!(len_out);
        match diagnostics.warnings.get(index) {
            // SAFETY: both outputs were checked for NULL above.
            Some(warning) => unsafe { write_text(warning, out, len_out) },
            None => jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT,
        }
    }
}

/// Frees diagnostics from `jwtguard_verifier_new`. NULL is ignored. Text
/// returned from them must not be used afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_diagnostics_free(diagnostics: *mut jwtguard_diagnostics) {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or diagnostics it owns.
        unsafe { free_handle(diagnostics) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    fn diagnostics(error: Option<&str>, warnings: &[&str]) -> *mut jwtguard_diagnostics {
        into_handle(Diagnostics {
            error: error.map(str::to_owned),
            warnings: warnings.iter().map(|warning| warning.to_string()).collect(),
        })
    }

    #[test]
    fn null_diagnostics() {
        let mut out = null();
        let mut len = 0;
        let result = jwtguard_diagnostics_error(null(), &mut out, &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER);
        assert_eq!(jwtguard_diagnostics_warning_count(null()), 0);
        let result = jwtguard_diagnostics_warning(null(), 0, &mut out, &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER);
        jwtguard_diagnostics_free(null_mut());
    }

    #[test]
    fn error_and_warnings() {
        let handle = diagnostics(Some("bad"), &["w0", "w1"]);
        let mut out = null();
        let mut len = 0;
        let result = jwtguard_diagnostics_error(handle, &mut out, &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_OK);
        assert_eq!(len, 3);
        assert_eq!(jwtguard_diagnostics_warning_count(handle), 2);
        let result = jwtguard_diagnostics_warning(handle, 1, &mut out, &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_OK);
        assert_eq!(unsafe { std::slice::from_raw_parts(out, len) }, b"w1");
        let result = jwtguard_diagnostics_warning(handle, 2, &mut out, &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT);
        let result = jwtguard_diagnostics_warning(handle, 0, null_mut(), &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER);
        jwtguard_diagnostics_free(handle);
    }

    #[test]
    fn error_absent_after_success() {
        let handle = diagnostics(None, &[]);
        let mut out = null();
        let mut len = 7;
        let result = jwtguard_diagnostics_error(handle, &mut out, &mut len);
        assert_eq!(result, jwtguard_result::JWTGUARD_RESULT_NOT_FOUND);
        assert!(out.is_null());
        assert_eq!(len, 7);
        jwtguard_diagnostics_free(handle);
    }
}
