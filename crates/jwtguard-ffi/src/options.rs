//! The options builder: limits, timeouts and host callbacks.

use std::ffi::{OsStr, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jwtguard_core::{LogSink, Options};

use crate::boundary::{Handle, Userdata, free_handle, into_handle};
use crate::enums::jwtguard_log_level;
use crate::result::jwtguard_result;

/// Settings for `jwtguard_verifier_new`, built by the `jwtguard_options_set_*`
/// functions. Opaque. Not thread-safe: build it on one thread, then pass it
/// to any number of `jwtguard_verifier_new` calls, which copy it.
pub struct jwtguard_options {
    _private: [u8; 0],
}

impl Handle for jwtguard_options {
    type Inner = Options;
}

/// Receives a log record: the `userdata` given to
/// `jwtguard_options_set_log_callback`, a level, and the message as UTF-8
/// bytes that are not NUL-terminated and live only during the call.
///
/// The fetch thread calls it, so it must be thread-safe, must not block for
/// long, and must not call back into the verifier that logs. Messages never
/// contain tokens or key material.
pub type jwtguard_log_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        level: jwtguard_log_level,
        message: *const u8,
        message_len: usize,
    ),
>;

/// Called with the `userdata` given to `jwtguard_options_set_keys_callback`
/// from the fetch thread after each key set fetch ends, successful or not,
/// so an event-loop host can retry its pending requests. It must be
/// thread-safe and must not block.
pub type jwtguard_keys_callback = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// Returns a log sink that drops every record, so that the library prints
/// nothing unless the host sets a callback.
pub(crate) fn silent_log() -> LogSink {
    Arc::new(|_, _| {})
}

/// Returns the default options with logging turned off.
pub(crate) fn default_options() -> Options {
    Options {
        log: Some(silent_log()),
        ..Options::default()
    }
}

struct LogCallback {
    callback: unsafe extern "C" fn(*mut c_void, jwtguard_log_level, *const u8, usize),
    userdata: Userdata,
}

impl LogCallback {
    fn call(&self, level: log::Level, message: &str) {
        let level = jwtguard_log_level::from_log(level);
        // SAFETY: the caller registered this callback and userdata together
        // and promised that the callback is thread-safe.
        unsafe { (self.callback)(self.userdata.0, level, message.as_ptr(), message.len()) }
    }
}

struct KeysCallback {
    callback: unsafe extern "C" fn(*mut c_void),
    userdata: Userdata,
}

impl KeysCallback {
    fn call(&self) {
        // SAFETY: as for `LogCallback::call`.
        unsafe { (self.callback)(self.userdata.0) }
    }
}

/// Creates options with every default: no leeway, 16 KiB tokens, JSON depth
/// 32, 100 keys, fetch timeouts of 5 s to connect and 10 s in all, 1 MiB
/// key set bodies, and no logging.
///
/// Returns NULL only when memory runs out or jwtguard fails. The caller owns
/// the result and releases it with `jwtguard_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_new() -> *mut jwtguard_options {
    ffi_panic_boundary! {
        into_handle::<jwtguard_options>(default_options())
    }
}

/// Frees options from `jwtguard_options_new`. NULL is ignored. Verifiers
/// created with them are not affected.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_free(options: *mut jwtguard_options) {
    ffi_panic_boundary! {
        // SAFETY: the caller passes NULL or options it owns.
        unsafe { free_handle(options) }
    }
}

/// Applies `change` to the options behind `options`, inside the panic
/// boundary.
fn update(
    options: *mut jwtguard_options,
    change: impl FnOnce(&mut Options) -> jwtguard_result,
) -> jwtguard_result {
    ffi_panic_boundary! {
        let options = try_mut!(options);
        change(options)
    }
}

fn set(options: *mut jwtguard_options, change: impl FnOnce(&mut Options)) -> jwtguard_result {
    update(options, |options| {
        change(options);
        jwtguard_result::JWTGUARD_RESULT_OK
    })
}

/// Sets the allowed clock skew for `exp` and `nbf`, in milliseconds.
/// Defaults to 0. Returns `JWTGUARD_RESULT_NULL_PARAMETER` for NULL options.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_leeway_ms(
    options: *mut jwtguard_options,
    leeway_ms: u64,
) -> jwtguard_result {
    set(options, |options| {
        options.leeway = Duration::from_millis(leeway_ms)
    })
}

/// Sets the TCP and TLS connect timeout of key set fetches, in
/// milliseconds. Defaults to 5000; 0 makes `jwtguard_verifier_new` fail
/// with `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_connect_timeout_ms(
    options: *mut jwtguard_options,
    timeout_ms: u64,
) -> jwtguard_result {
    set(options, |options| {
        options.fetch.connect_timeout = Duration::from_millis(timeout_ms)
    })
}

/// Sets the timeout of a whole key set fetch, redirects included, in
/// milliseconds. Defaults to 10000; 0 makes `jwtguard_verifier_new` fail
/// with `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_fetch_timeout_ms(
    options: *mut jwtguard_options,
    timeout_ms: u64,
) -> jwtguard_result {
    set(options, |options| {
        options.fetch.timeout = Duration::from_millis(timeout_ms)
    })
}

/// Sets the largest key set response body accepted, in bytes. Defaults to
/// 1 MiB.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_max_body_bytes(
    options: *mut jwtguard_options,
    max_body_bytes: u64,
) -> jwtguard_result {
    set(options, |options| {
        options.fetch.max_body_bytes = max_body_bytes
    })
}

/// Sets the longest token accepted, in bytes. Defaults to 16384; 0 makes
/// `jwtguard_verifier_new` fail with `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_max_token_len(
    options: *mut jwtguard_options,
    max_token_len: usize,
) -> jwtguard_result {
    set(options, |options| options.max_token_len = max_token_len)
}

/// Sets the most keys a key set may hold; a larger set is rejected whole.
/// Defaults to 100; 0 makes `jwtguard_verifier_new` fail with
/// `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_max_keys(
    options: *mut jwtguard_options,
    max_keys: usize,
) -> jwtguard_result {
    set(options, |options| options.max_keys = max_keys)
}

/// Sets the most signature checks for one token when several keys suit it.
/// Defaults to 8; 0 makes `jwtguard_verifier_new` fail with
/// `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_max_key_attempts(
    options: *mut jwtguard_options,
    max_key_attempts: usize,
) -> jwtguard_result {
    set(options, |options| {
        options.max_key_attempts = max_key_attempts
    })
}

/// Sets the entries of the verified-token cache, which lets a repeated
/// valid token skip parsing and the signature check. Defaults to 1024; 0
/// turns the cache off. An entry takes about 1 KiB for a 400-byte token.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_token_cache_entries(
    options: *mut jwtguard_options,
    entries: usize,
) -> jwtguard_result {
    set(options, |options| options.token_cache_entries = entries)
}

/// Sets the deepest JSON nesting accepted in a token's header and payload.
/// Defaults to 32; a value under 2 makes `jwtguard_verifier_new` fail with
/// `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_max_json_depth(
    options: *mut jwtguard_options,
    max_json_depth: usize,
) -> jwtguard_result {
    set(options, |options| options.max_json_depth = max_json_depth)
}

/// Sets the least time between two key set refreshes triggered by an
/// unknown `kid`, in milliseconds. Defaults to 30000.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_kid_refresh_interval_ms(
    options: *mut jwtguard_options,
    interval_ms: u64,
) -> jwtguard_result {
    set(options, |options| {
        options.fetch.kid_refresh_interval = Duration::from_millis(interval_ms)
    })
}

/// Sets how long expired keys stay in use while fetches fail, in
/// milliseconds; after that, requests are denied with
/// `JWTGUARD_REASON_KEYS_UNAVAILABLE`. Defaults to 24 hours.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_max_stale_ms(
    options: *mut jwtguard_options,
    max_stale_ms: u64,
) -> jwtguard_result {
    set(options, |options| {
        options.fetch.max_stale = Duration::from_millis(max_stale_ms)
    })
}

/// Sets the first and the longest retry delay after a failed key set
/// fetch, in milliseconds. Defaults to 1000 and 120000. `initial_ms` 0 or
/// `max_ms` under `initial_ms` makes `jwtguard_verifier_new` fail with
/// `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_backoff_ms(
    options: *mut jwtguard_options,
    initial_ms: u64,
    max_ms: u64,
) -> jwtguard_result {
    set(options, |options| {
        options.fetch.backoff_initial = Duration::from_millis(initial_ms);
        options.fetch.backoff_max = Duration::from_millis(max_ms);
    })
}

/// Sets a PEM file of CA certificates trusted for `jwksURI` in addition to
/// the system's trust store. The path is bytes in the file system's
/// encoding and need not be UTF-8. The file is read by
/// `jwtguard_verifier_new`, which fails with `JWTGUARD_RESULT_IO` or
/// `JWTGUARD_RESULT_OPTION_INVALID` when it cannot use it.
///
/// Returns `JWTGUARD_RESULT_INVALID_ARGUMENT` for an empty path or one that
/// contains a NUL byte.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_ca_file(
    options: *mut jwtguard_options,
    path: *const u8,
    path_len: usize,
) -> jwtguard_result {
    update(options, |options| {
        let path = try_slice!(path, path_len);
        if path.is_empty() || path.contains(&0) {
            return jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT;
        }
        options.fetch.ca_file = Some(PathBuf::from(OsStr::from_bytes(path)));
        jwtguard_result::JWTGUARD_RESULT_OK
    })
}

/// Sets the `realm` of the `WWW-Authenticate` challenges; an empty realm
/// removes it. Defaults to none. The realm must be UTF-8
/// (`JWTGUARD_RESULT_INVALID_UTF8`), and a quote, backslash or control
/// character makes `jwtguard_verifier_new` fail with
/// `JWTGUARD_RESULT_OPTION_INVALID`.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_realm(
    options: *mut jwtguard_options,
    realm: *const u8,
    realm_len: usize,
) -> jwtguard_result {
    update(options, |options| {
        let realm = try_str!(realm, realm_len);
        options.realm = (!realm.is_empty()).then(|| realm.to_owned());
        jwtguard_result::JWTGUARD_RESULT_OK
    })
}

/// Sets the callback that receives log records, or turns logging off when
/// `callback` is NULL, which is the default. `userdata` is passed back
/// unchanged and must stay valid as long as any verifier created with these
/// options. See `jwtguard_log_callback` for the thread-safety rules.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_log_callback(
    options: *mut jwtguard_options,
    callback: jwtguard_log_callback,
    userdata: *mut c_void,
) -> jwtguard_result {
    set(options, |options| {
        options.log = Some(match callback {
            Some(callback) => {
                let sink = LogCallback {
                    callback,
                    userdata: Userdata(userdata),
                };
                Arc::new(move |level, message: &str| sink.call(level, message))
            }
            None => silent_log(),
        });
    })
}

/// Sets the callback run after each key set fetch ends, or removes it when
/// `callback` is NULL, which is the default. `userdata` is passed back
/// unchanged and must stay valid as long as any verifier created with these
/// options. See `jwtguard_keys_callback` for the thread-safety rules.
#[unsafe(no_mangle)]
pub extern "C" fn jwtguard_options_set_keys_callback(
    options: *mut jwtguard_options,
    callback: jwtguard_keys_callback,
    userdata: *mut c_void,
) -> jwtguard_result {
    set(options, |options| {
        options.on_keys_change = callback.map(|callback| {
            let hook = KeysCallback {
                callback,
                userdata: Userdata(userdata),
            };
            Arc::new(move || hook.call()) as Arc<dyn Fn() + Send + Sync>
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::handle_ref;
    use std::ptr::{null, null_mut};

    const NULL_PARAMETER: jwtguard_result = jwtguard_result::JWTGUARD_RESULT_NULL_PARAMETER;
    const OK: jwtguard_result = jwtguard_result::JWTGUARD_RESULT_OK;

    fn inner<'a>(options: *mut jwtguard_options) -> &'a Options {
        unsafe { handle_ref(options) }.unwrap()
    }

    #[test]
    fn setters_reject_null_options() {
        assert_eq!(
            jwtguard_options_set_leeway_ms(null_mut(), 1),
            NULL_PARAMETER
        );
        assert_eq!(
            jwtguard_options_set_max_token_len(null_mut(), 1),
            NULL_PARAMETER
        );
        assert_eq!(
            jwtguard_options_set_backoff_ms(null_mut(), 1, 2),
            NULL_PARAMETER
        );
        assert_eq!(
            jwtguard_options_set_realm(null_mut(), b"x".as_ptr(), 1),
            NULL_PARAMETER
        );
        assert_eq!(
            jwtguard_options_set_ca_file(null_mut(), b"x".as_ptr(), 1),
            NULL_PARAMETER
        );
        assert_eq!(
            jwtguard_options_set_log_callback(null_mut(), None, null_mut()),
            NULL_PARAMETER
        );
        jwtguard_options_free(null_mut());
    }

    #[test]
    fn setters_store_values() {
        let options = jwtguard_options_new();
        assert_eq!(jwtguard_options_set_leeway_ms(options, 1500), OK);
        assert_eq!(jwtguard_options_set_max_stale_ms(options, 60_000), OK);
        assert_eq!(jwtguard_options_set_backoff_ms(options, 10, 20), OK);
        assert_eq!(jwtguard_options_set_realm(options, b"api".as_ptr(), 3), OK);
        let stored = inner(options);
        assert_eq!(stored.leeway, Duration::from_millis(1500));
        assert_eq!(stored.fetch.max_stale, Duration::from_secs(60));
        assert_eq!(stored.fetch.backoff_initial, Duration::from_millis(10));
        assert_eq!(stored.fetch.backoff_max, Duration::from_millis(20));
        assert_eq!(stored.realm.as_deref(), Some("api"));
        assert_eq!(jwtguard_options_set_realm(options, b"".as_ptr(), 0), OK);
        assert_eq!(inner(options).realm, None);
        jwtguard_options_free(options);
    }

    #[test]
    fn text_setters_check_input() {
        let options = jwtguard_options_new();
        let invalid_utf8 = [0xff, 0xfe];
        assert_eq!(
            jwtguard_options_set_realm(options, invalid_utf8.as_ptr(), 2),
            jwtguard_result::JWTGUARD_RESULT_INVALID_UTF8
        );
        assert_eq!(
            jwtguard_options_set_realm(options, null(), 0),
            NULL_PARAMETER
        );
        assert_eq!(
            jwtguard_options_set_ca_file(options, b"".as_ptr(), 0),
            jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT
        );
        assert_eq!(
            jwtguard_options_set_ca_file(options, b"a\0b".as_ptr(), 3),
            jwtguard_result::JWTGUARD_RESULT_INVALID_ARGUMENT
        );
        assert_eq!(
            jwtguard_options_set_ca_file(options, invalid_utf8.as_ptr(), 2),
            OK
        );
        assert!(inner(options).fetch.ca_file.is_some());
        jwtguard_options_free(options);
    }

    unsafe extern "C" fn record(
        userdata: *mut c_void,
        level: jwtguard_log_level,
        message: *const u8,
        len: usize,
    ) {
        let records = unsafe { &*(userdata as *const std::sync::Mutex<Vec<(u32, String)>>) };
        let bytes = unsafe { std::slice::from_raw_parts(message, len) };
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        records.lock().unwrap().push((level as u32, text));
    }

    #[test]
    fn log_callback_receives_records() {
        let records = std::sync::Mutex::new(Vec::<(u32, String)>::new());
        let options = jwtguard_options_new();
        let userdata = &records as *const _ as *mut c_void;
        assert_eq!(
            jwtguard_options_set_log_callback(options, Some(record), userdata),
            OK
        );
        let log = inner(options).log.clone().unwrap();
        log(log::Level::Warn, "stale keys in use");
        assert_eq!(
            *records.lock().unwrap(),
            vec![(2, "stale keys in use".to_owned())]
        );
        jwtguard_options_free(options);
    }
}
