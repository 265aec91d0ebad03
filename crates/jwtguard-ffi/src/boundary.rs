//! The panic boundary, pointer checks and handle conversions that every
//! exported function uses.

use std::ffi::c_void;

use crate::enums::{jwtguard_reason, jwtguard_token_source, jwtguard_verdict};
use crate::result::jwtguard_result;

/// The value an exported function returns when its body panics.
pub(crate) trait OnPanic {
    fn on_panic() -> Self;
}

impl OnPanic for jwtguard_result {
    fn on_panic() -> Self {
        jwtguard_result::JWTGUARD_RESULT_PANIC
    }
}

impl OnPanic for jwtguard_verdict {
    fn on_panic() -> Self {
        jwtguard_verdict::JWTGUARD_VERDICT_ERROR
    }
}

impl OnPanic for jwtguard_reason {
    fn on_panic() -> Self {
        jwtguard_reason::JWTGUARD_REASON_NONE
    }
}

impl OnPanic for jwtguard_token_source {
    fn on_panic() -> Self {
        jwtguard_token_source::JWTGUARD_TOKEN_SOURCE_ERROR
    }
}

impl<T> OnPanic for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

macro_rules! on_panic_default {
    ($($ty:ty),*) => {
        $(impl OnPanic for $ty {
            fn on_panic() -> Self {
                Default::default()
            }
        })*
    };
}

on_panic_default!((), bool, u16, u64, usize);

/// Runs the body of an exported function, turning a panic into the return
/// type's [`OnPanic`] value so that no unwind reaches C.
macro_rules! ffi_panic_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(_) => $crate::boundary::OnPanic::on_panic(),
        }
    };
}

/// Returns from the enclosing function with `JWTGUARD_RESULT_NULL_PARAMETER`
/// when the pointer is NULL, and otherwise evaluates to the pointer.
macro_rules! try_non_null {
    ($ptr:expr) => {{
        let ptr = $ptr;
        if ptr.is_null() {
            return $crate::result::jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER;
        }
        ptr
    }};
}

/// Evaluates to a shared reference to a handle's contents, or returns
/// `JWTGUARD_RESULT_NULL_PARAMETER` from the enclosing function.
macro_rules! try_ref {
    ($ptr:expr) => {
        match unsafe { $crate::boundary::handle_ref($ptr) } {
            Some(inner) => inner,
            None => return $crate::result::jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER,
        }
    };
}

/// Evaluates to a mutable reference to a handle's contents, or returns
/// `JWTGUARD_RESULT_NULL_PARAMETER` from the enclosing function.
macro_rules! try_mut {
    ($ptr:expr) => {
        match unsafe { $crate::boundary::handle_mut($ptr) } {
            Some(inner) => inner,
            None => return $crate::result::jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER,
        }
    };
}

/// Evaluates to the byte slice at `ptr` and `len`, or returns the failure
/// from the enclosing function: NULL gives `JWTGUARD_RESULT_NULL_PARAMETER`
/// and a length over `isize::MAX` gives `JWTGUARD_RESULT_INVALID_ARGUMENT`.
macro_rules! try_slice {
    ($ptr:expr, $len:expr) => {
        match unsafe { $crate::boundary::byte_slice($ptr, $len) } {
            Ok(bytes) => bytes,
            Err(result) => return result,
        }
    };
}

/// Evaluates to the UTF-8 text at `ptr` and `len`, or returns the failure
/// from the enclosing function, `JWTGUARD_RESULT_INVALID_UTF8` included.
macro_rules! try_str {
    ($ptr:expr, $len:expr) => {
        match ::std::str::from_utf8(try_slice!($ptr, $len)) {
            Ok(text) => text,
            Err(_) => return $crate::result::jwtguard_result::JWTGUARD_RESULT_INVALID_UTF8,
        }
    };
}

/// Maps an opaque C handle type to the Rust value its pointer points to.
pub(crate) trait Handle {
    type Inner;
}

/// Moves `inner` to the heap and returns it as an opaque handle pointer,
/// which [`free_handle`] releases.
pub(crate) fn into_handle<H: Handle>(inner: H::Inner) -> *mut H {
    Box::into_raw(Box::new(inner)).cast()
}

/// Drops the value behind a handle from [`into_handle`]; NULL is ignored.
///
/// # Safety
///
/// `ptr` is NULL or came from [`into_handle`] and was not freed before.
pub(crate) unsafe fn free_handle<H: Handle>(ptr: *mut H) {
    if !ptr.is_null() {
        drop(unsafe { Box::from_raw(ptr.cast::<H::Inner>()) });
    }
}

/// # Safety
///
/// `ptr` is NULL or a live handle from [`into_handle`] that no one mutates
/// for `'a`.
pub(crate) unsafe fn handle_ref<'a, H: Handle>(ptr: *const H) -> Option<&'a H::Inner> {
    unsafe { ptr.cast::<H::Inner>().as_ref() }
}

/// # Safety
///
/// `ptr` is NULL or a live handle from [`into_handle`] that no one else uses
/// for `'a`.
pub(crate) unsafe fn handle_mut<'a, H: Handle>(ptr: *mut H) -> Option<&'a mut H::Inner> {
    unsafe { ptr.cast::<H::Inner>().as_mut() }
}

/// # Safety
///
/// `ptr` is NULL or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn byte_slice<'a>(
    ptr: *const u8,
    len: usize,
) -> Result<&'a [u8], jwtguard_result> {
    if ptr.is_null() {
        return Err(jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER);
    }
    if len > isize::MAX as usize {
        return Err(jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT);
    }
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Writes `text` to a pointer and length output pair. Both were checked for
/// NULL by the caller.
///
/// # Safety
///
/// Both pointers are valid for writes.
pub(crate) unsafe fn write_text(
    text: &str,
    out: *mut *const u8,
    len_out: *mut usize,
) -> jwtguard_result {
    unsafe {
        *out = text.as_ptr();
        *len_out = text.len();
    }
    jwtguard_result::JWTGUARD_RESULT_OK
}

/// A C userdata pointer that the library hands back to the caller's
/// callbacks. The caller promises that the callbacks are thread-safe.
#[derive(Clone, Copy)]
pub(crate) struct Userdata(pub(crate) *mut c_void);

// SAFETY: the pointer is never dereferenced in Rust, only passed back to the
// caller's callback, whose documentation requires it to be thread-safe.
unsafe impl Send for Userdata {}
unsafe impl Sync for Userdata {}
