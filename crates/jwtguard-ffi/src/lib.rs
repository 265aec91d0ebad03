//! C ABI for jwtguard, built as `libjwtguard.a` and `libjwtguard.so`, with
//! the header `include/jwtguard.h` generated from this crate by cbindgen.
//!
//! Conventions shared by every exported function:
//!
//! - Fallible functions return [`jwtguard_result`]. Outputs are the last
//!   parameters, are named `*_out`, and are written only when the result is
//!   `JWTGUARD_RESULT_OK`, unless a function's documentation says otherwise.
//! - A NULL pointer where a value is required gives
//!   `JWTGUARD_RESULT_NULL_PARAMETER`. Functions that cannot fail return a
//!   documented value instead, and every `_free` function accepts NULL.
//! - A panic never crosses the ABI: it gives `JWTGUARD_RESULT_PANIC`, or the
//!   documented value of a function that cannot fail.
//! - Text goes in and out as `const uint8_t *` plus `size_t`, never
//!   NUL-terminated except [`jwtguard_version`].
//!
//! The exported functions are not `unsafe fn` in Rust because their only
//! callers are C programs, which must pass pointers that are NULL or valid
//! for the documented use. That is also why clippy's
//! `not_unsafe_ptr_arg_deref` is allowed here.

// The C names of the types are the Rust names, so cbindgen copies them.
#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[macro_use]
mod boundary;
mod decision;
mod diagnostics;
mod enums;
mod options;
mod result;
mod verifier;

pub use decision::*;
pub use diagnostics::*;
pub use enums::*;
pub use options::*;
pub use result::*;
pub use verifier::*;

use std::ffi::c_char;

/// The library name and version, such as `"jwtguard/0.1.0"`.
const VERSION: &str = concat!("jwtguard/", env!("CARGO_PKG_VERSION"), "\0");

/// Returns the library's name and version, such as `"jwtguard/0.1.0"`, as a
/// static NUL-terminated string. The caller must not free it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn version_matches_cargo_toml() {
        let version = unsafe { CStr::from_ptr(jwtguard_version()) };
        let expected = format!("jwtguard/{}", env!("CARGO_PKG_VERSION"));
        assert_eq!(version.to_str().unwrap(), expected);
    }
}
