/*
 * jwtguard C API. Generated from crates/jwtguard-ffi by cbindgen: do not
 * edit; run `make header` instead.
 */

#ifndef JWTGUARD_H
#define JWTGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#define JWTGUARD_VERSION_MAJOR 0
#define JWTGUARD_VERSION_MINOR 1
#define JWTGUARD_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons. */
#define JWTGUARD_VERSION_NUMBER 100

/**
 * The action a host takes on a request.
 */
enum jwtguard_verdict
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * No decision: the decision pointer was NULL or jwtguard failed. The
   * host must deny the request, as for an internal error.
   */
  JWTGUARD_VERDICT_ERROR = 0,
  /**
   * The token is valid; let the request through.
   */
  JWTGUARD_VERDICT_ALLOW = 1,
  /**
   * Reject the request with `jwtguard_decision_status` and the
   * `WWW-Authenticate` header from `jwtguard_decision_www_authenticate`.
   */
  JWTGUARD_VERDICT_DENY = 2,
  /**
   * The remote key set is loading. Verify again, passing
   * `jwtguard_decision_pending_generation`, once
   * `jwtguard_verifier_keys_generation` has moved past it.
   */
  JWTGUARD_VERDICT_PENDING = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum jwtguard_verdict jwtguard_verdict;
#else
typedef uint32_t jwtguard_verdict;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The cause of a denial. The numbers are fixed.
 */
enum jwtguard_reason
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * The decision is not a denial.
   */
  JWTGUARD_REASON_NONE = 0,
  /**
   * No token was supplied, so the status is the policy's notSupplied
   * return code.
   */
  JWTGUARD_REASON_MISSING = 1,
  /**
   * The token is not a well-formed JWS, or is over a size or depth limit.
   */
  JWTGUARD_REASON_MALFORMED = 2,
  /**
   * The token's `alg` is `none` or not supported.
   */
  JWTGUARD_REASON_UNSUPPORTED_ALGORITHM = 3,
  /**
   * No key of the set suits the token's `alg` and `kid`.
   */
  JWTGUARD_REASON_NO_MATCHING_KEY = 4,
  /**
   * No suitable key verifies the signature.
   */
  JWTGUARD_REASON_BAD_SIGNATURE = 5,
  /**
   * The token's `exp` has passed.
   */
  JWTGUARD_REASON_EXPIRED = 6,
  /**
   * The token's `nbf` has not yet come.
   */
  JWTGUARD_REASON_NOT_YET_VALID = 7,
  /**
   * `exp` or `nbf` is not a JSON number.
   */
  JWTGUARD_REASON_INVALID_CLAIM = 8,
  /**
   * The remote key set could not be fetched and no cached keys remain.
   */
  JWTGUARD_REASON_KEYS_UNAVAILABLE = 9,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum jwtguard_reason jwtguard_reason;
#else
typedef uint32_t jwtguard_reason;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The outcome of a fallible call. The numbers are fixed and grouped by
 * category: 0 success, 1xx caller errors, 2xx policy and key load errors,
 * 9xx internal errors. A number is never reused for another meaning.
 */
enum jwtguard_result
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Success.
   */
  JWTGUARD_RESULT_OK = 0,
  /**
   * A required pointer argument is NULL.
   */
  JWTGUARD_RESULT_NULL_PARAMETER = 100,
  /**
   * An argument is out of range, such as an index past the end or a
   * length over `SSIZE_MAX`.
   */
  JWTGUARD_RESULT_INVALID_ARGUMENT = 101,
  /**
   * The requested value does not exist, such as a claim the token does
   * not have or the message of an allow decision.
   */
  JWTGUARD_RESULT_NOT_FOUND = 102,
  /**
   * A text argument that must be UTF-8 is not.
   */
  JWTGUARD_RESULT_INVALID_UTF8 = 103,
  /**
   * The policy is not valid: not JSON, not UTF-8, or a field is missing
   * or wrong. The diagnostics hold the JSON path and the fix.
   */
  JWTGUARD_RESULT_POLICY_INVALID = 200,
  /**
   * A key set is not a JWK Set or has no usable key. NOTE: problems with
   * the inline `jwksKeys` come as `JWTGUARD_RESULT_POLICY_INVALID`, with
   * the key's JSON path in the diagnostics.
   */
  JWTGUARD_RESULT_JWKS_INVALID = 201,
  /**
   * An option set on `jwtguard_options` is out of range.
   */
  JWTGUARD_RESULT_OPTION_INVALID = 202,
  /**
   * A file could not be read.
   */
  JWTGUARD_RESULT_IO = 203,
  /**
   * The key fetch thread could not be started.
   */
  JWTGUARD_RESULT_FETCHER_START_FAILED = 204,
  /**
   * A bug in jwtguard: a panic was caught at the ABI boundary. Treat the
   * call as failed and deny the request.
   */
  JWTGUARD_RESULT_PANIC = 900,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum jwtguard_result jwtguard_result;
#else
typedef uint32_t jwtguard_result;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The level of a log record passed to `jwtguard_log_callback`.
 */
enum jwtguard_log_level
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * A failure that needs attention, such as a failed key set fetch.
   */
  JWTGUARD_LOG_LEVEL_ERROR = 1,
  /**
   * A problem that did not stop the work, such as stale keys in use.
   */
  JWTGUARD_LOG_LEVEL_WARN = 2,
  /**
   * A normal event, such as a successful key set fetch.
   */
  JWTGUARD_LOG_LEVEL_INFO = 3,
  /**
   * Detail for debugging.
   */
  JWTGUARD_LOG_LEVEL_DEBUG = 4,
  /**
   * Fine-grained detail for debugging.
   */
  JWTGUARD_LOG_LEVEL_TRACE = 5,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum jwtguard_log_level jwtguard_log_level;
#else
typedef uint32_t jwtguard_log_level;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The place in a request where the policy looks for the token.
 */
enum jwtguard_token_source
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * The verifier pointer was NULL or jwtguard failed.
   */
  JWTGUARD_TOKEN_SOURCE_ERROR = 0,
  /**
   * A request header, named by `jwtguard_verifier_token_name`. For
   * `Authorization` the Bearer scheme is expected.
   */
  JWTGUARD_TOKEN_SOURCE_HEADER = 1,
  /**
   * A query string parameter, named by `jwtguard_verifier_token_name`.
   */
  JWTGUARD_TOKEN_SOURCE_QUERY = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum jwtguard_token_source jwtguard_token_source;
#else
typedef uint32_t jwtguard_token_source;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * The outcome of one verification: allow with the verified token, deny
 * with a status, or pending while remote keys load. Opaque and immutable
 * to the caller, so it may be read from several threads at once. Text
 * returned from it lives until `jwtguard_decision_free`.
 */
typedef struct jwtguard_decision jwtguard_decision;

/**
 * The report of a policy load: the error that stopped the load, if any,
 * and the warnings, each naming its JSON path. Opaque and immutable, so it
 * may be read from several threads at once.
 */
typedef struct jwtguard_diagnostics jwtguard_diagnostics;

/**
 * Settings for `jwtguard_verifier_new`, built by the `jwtguard_options_set_*`
 * functions. Opaque. Not thread-safe: build it on one thread, then pass it
 * to any number of `jwtguard_verifier_new` calls, which copy it.
 */
typedef struct jwtguard_options jwtguard_options;

/**
 * A loaded policy with its keys. Opaque and thread-safe: any number of
 * threads may call the functions that take `const jwtguard_verifier *` at
 * once, but none may still use it when `jwtguard_verifier_free` runs.
 */
typedef struct jwtguard_verifier jwtguard_verifier;

/**
 * Receives a log record: the `userdata` given to
 * `jwtguard_options_set_log_callback`, a level, and the message as UTF-8
 * bytes that are not NUL-terminated and live only during the call.
 *
 * The fetch thread calls it, so it must be thread-safe, must not block for
 * long, and must not call back into the verifier that logs. Messages never
 * contain tokens or key material.
 */
typedef void (*jwtguard_log_callback)(void *userdata,
                                      jwtguard_log_level level,
                                      const uint8_t *message,
                                      size_t message_len);

/**
 * Called with the `userdata` given to `jwtguard_options_set_keys_callback`
 * from the fetch thread after each key set fetch ends, successful or not,
 * so an event-loop host can retry its pending requests. It must be
 * thread-safe and must not block.
 */
typedef void (*jwtguard_keys_callback)(void *userdata);

/**
 * Counters of a remote key set (`jwksURI`), from
 * `jwtguard_verifier_key_stats`.
 */
typedef struct jwtguard_key_stats {
  /**
   * Fetches that ended, successful or not.
   */
  uint64_t fetches;
  /**
   * Fetches that failed.
   */
  uint64_t failures;
  /**
   * Keys in the current set; 0 when there is none.
   */
  uint64_t keys;
  /**
   * Time of the last successful fetch in seconds since the Unix epoch;
   * 0 before the first.
   */
  uint64_t last_success_unix;
  /**
   * Age of the current key set in milliseconds; `UINT64_MAX` when there
   * is none.
   */
  uint64_t cache_age_ms;
  /**
   * Readiness generation, as `jwtguard_verifier_keys_generation` returns.
   */
  uint64_t generation;
} jwtguard_key_stats;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Returns the library's name and version, such as `"jwtguard/0.1.0"`, as a
 * static NUL-terminated string. The caller must not free it. Thread-safe.
 */
const char *jwtguard_version(void);

/**
 * Returns the verdict, or `JWTGUARD_VERDICT_ERROR` when `decision` is
 * NULL; the host must deny on an error verdict. Thread-safe.
 */
jwtguard_verdict jwtguard_decision_verdict(const struct jwtguard_decision *decision);

/**
 * Returns the HTTP status of a deny decision, from the policy's
 * `errorReturnConditions` (401 and 403 by default); 0 for any other
 * decision or NULL. Thread-safe.
 */
uint16_t jwtguard_decision_status(const struct jwtguard_decision *decision);

/**
 * Returns why a deny decision denied; `JWTGUARD_REASON_NONE` for any other
 * decision or NULL. Thread-safe.
 */
jwtguard_reason jwtguard_decision_reason(const struct jwtguard_decision *decision);

/**
 * Returns the key generation a pending decision waits on, to pass back to
 * `jwtguard_verifier_verify`; 0 for any other decision or NULL.
 * Thread-safe.
 */
uint64_t jwtguard_decision_pending_generation(const struct jwtguard_decision *decision);

/**
 * Returns a deny decision's message for the error log, such as `token
 * expired: ...`, through `out` and `len_out`. It never contains the token
 * or key material, is UTF-8 and not NUL-terminated. Returns
 * `JWTGUARD_RESULT_NOT_FOUND` for any other decision. Thread-safe.
 */
jwtguard_result jwtguard_decision_message(const struct jwtguard_decision *decision,
                                          const uint8_t **out,
                                          size_t *len_out);

/**
 * Returns the `WWW-Authenticate` value for a deny decision, such as
 * `Bearer error="invalid_token"`, through `out` and `len_out`; it is ASCII
 * and not NUL-terminated. Returns `JWTGUARD_RESULT_NOT_FOUND` for any other
 * decision. Thread-safe.
 */
jwtguard_result jwtguard_decision_www_authenticate(const struct jwtguard_decision *decision,
                                                   const uint8_t **out,
                                                   size_t *len_out);

/**
 * Returns a top-level claim of an allowed token's payload through
 * `value_out` and `value_len_out`: a string without its quotes, any other
 * value as compact JSON (`42`, `true`, `["a","b"]`). The text is UTF-8,
 * not NUL-terminated, and lives until `jwtguard_decision_free`.
 *
 * Returns `JWTGUARD_RESULT_NOT_FOUND` when the claim is absent or the
 * decision is not an allow, and `JWTGUARD_RESULT_INVALID_UTF8` when `name`
 * is not UTF-8 (no claim name can match it). Thread-safe.
 */
jwtguard_result jwtguard_decision_claim(const struct jwtguard_decision *decision,
                                        const uint8_t *name,
                                        size_t name_len,
                                        const uint8_t **value_out,
                                        size_t *value_len_out);

/**
 * Returns a member of an allowed token's protected header, such as `kid`
 * or `alg`, in the form and with the results of
 * `jwtguard_decision_claim`. Thread-safe.
 */
jwtguard_result jwtguard_decision_header(const struct jwtguard_decision *decision,
                                         const uint8_t *name,
                                         size_t name_len,
                                         const uint8_t **value_out,
                                         size_t *value_len_out);

/**
 * Returns an allowed token's decoded payload as JSON text through `out`
 * and `len_out`: UTF-8, not NUL-terminated, living until
 * `jwtguard_decision_free`. Returns `JWTGUARD_RESULT_NOT_FOUND` for any
 * other decision. Thread-safe.
 */
jwtguard_result jwtguard_decision_payload(const struct jwtguard_decision *decision,
                                          const uint8_t **out,
                                          size_t *len_out);

/**
 * Returns the number of top-level claims of an allowed token; 0 for any
 * other decision or NULL. Thread-safe.
 */
size_t jwtguard_decision_claim_count(const struct jwtguard_decision *decision);

/**
 * Returns claim number `index`, counted from 0 in ascending order of
 * name, as its name and its text (in the form of
 * `jwtguard_decision_claim`). Both texts are UTF-8, not NUL-terminated,
 * and live until `jwtguard_decision_free`. Returns
 * `JWTGUARD_RESULT_INVALID_ARGUMENT` when `index` is not below
 * `jwtguard_decision_claim_count`, which is 0 for a decision that is not
 * an allow. Each call walks the claims, so a loop over all of them is
 * quadratic in their number. Thread-safe.
 */
jwtguard_result jwtguard_decision_claim_at(const struct jwtguard_decision *decision,
                                           size_t index,
                                           const uint8_t **name_out,
                                           size_t *name_len_out,
                                           const uint8_t **value_out,
                                           size_t *value_len_out);

/**
 * Frees a decision from `jwtguard_verifier_verify`. NULL is ignored. Text
 * returned from the decision must not be used afterwards.
 */
void jwtguard_decision_free(struct jwtguard_decision *decision);

/**
 * Returns the message of the error that stopped the load through `out` and
 * `len_out`, or `JWTGUARD_RESULT_NOT_FOUND` when the load succeeded. The
 * message names the JSON path and the fix, is UTF-8, is not
 * NUL-terminated, and lives until `jwtguard_diagnostics_free`.
 */
jwtguard_result jwtguard_diagnostics_error(const struct jwtguard_diagnostics *diagnostics,
                                           const uint8_t **out,
                                           size_t *len_out);

/**
 * Returns the number of warnings, or 0 when `diagnostics` is NULL.
 */
size_t jwtguard_diagnostics_warning_count(const struct jwtguard_diagnostics *diagnostics);

/**
 * Returns warning number `index`, counted from 0, through `out` and
 * `len_out`. The text is UTF-8, is not NUL-terminated, and lives until
 * `jwtguard_diagnostics_free`. Returns `JWTGUARD_RESULT_INVALID_ARGUMENT`
 * when `index` is not below `jwtguard_diagnostics_warning_count`.
 */
jwtguard_result jwtguard_diagnostics_warning(const struct jwtguard_diagnostics *diagnostics,
                                             size_t index,
                                             const uint8_t **out,
                                             size_t *len_out);

/**
 * Frees diagnostics from `jwtguard_verifier_new`. NULL is ignored. Text
 * returned from them must not be used afterwards.
 */
void jwtguard_diagnostics_free(struct jwtguard_diagnostics *diagnostics);

/**
 * Returns whether `reason` means that no token was supplied, as opposed to
 * an invalid token. Such a denial carries the policy's notSupplied status
 * (401 by default) and a bare `Bearer` challenge. Returns false for any
 * other value. Thread-safe.
 */
bool jwtguard_reason_is_missing_token(jwtguard_reason reason);

/**
 * Returns a reason's stable snake_case name, such as `"bad_signature"`, or
 * `"none"` for `JWTGUARD_REASON_NONE`, through `name_out` and
 * `name_len_out`. The text is static and not NUL-terminated.
 *
 * Returns `JWTGUARD_RESULT_INVALID_ARGUMENT` for a value that is not a
 * reason, and `JWTGUARD_RESULT_NULL_PARAMETER` when an output is NULL.
 * Thread-safe.
 */
jwtguard_result jwtguard_reason_name(jwtguard_reason reason,
                                     const uint8_t **name_out,
                                     size_t *name_len_out);

/**
 * Creates options with every default: no leeway, 16 KiB tokens, JSON depth
 * 32, 100 keys, fetch timeouts of 5 s to connect and 10 s in all, 1 MiB
 * key set bodies, and no logging.
 *
 * Returns NULL only when memory runs out or jwtguard fails. The caller owns
 * the result and releases it with `jwtguard_options_free`.
 */
struct jwtguard_options *jwtguard_options_new(void);

/**
 * Frees options from `jwtguard_options_new`. NULL is ignored. Verifiers
 * created with them are not affected.
 */
void jwtguard_options_free(struct jwtguard_options *options);

/**
 * Sets the allowed clock skew for `exp` and `nbf`, in milliseconds.
 * Defaults to 0. Returns `JWTGUARD_RESULT_NULL_PARAMETER` for NULL options.
 */
jwtguard_result jwtguard_options_set_leeway_ms(struct jwtguard_options *options,
                                               uint64_t leeway_ms);

/**
 * Sets the TCP and TLS connect timeout of key set fetches, in
 * milliseconds. Defaults to 5000; 0 makes `jwtguard_verifier_new` fail
 * with `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_connect_timeout_ms(struct jwtguard_options *options,
                                                        uint64_t timeout_ms);

/**
 * Sets the timeout of a whole key set fetch, redirects included, in
 * milliseconds. Defaults to 10000; 0 makes `jwtguard_verifier_new` fail
 * with `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_fetch_timeout_ms(struct jwtguard_options *options,
                                                      uint64_t timeout_ms);

/**
 * Sets the largest key set response body accepted, in bytes. Defaults to
 * 1 MiB.
 */
jwtguard_result jwtguard_options_set_max_body_bytes(struct jwtguard_options *options,
                                                    uint64_t max_body_bytes);

/**
 * Sets the longest token accepted, in bytes. Defaults to 16384; 0 makes
 * `jwtguard_verifier_new` fail with `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_max_token_len(struct jwtguard_options *options,
                                                   size_t max_token_len);

/**
 * Sets the most keys a key set may hold; a larger set is rejected whole.
 * Defaults to 100; 0 makes `jwtguard_verifier_new` fail with
 * `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_max_keys(struct jwtguard_options *options,
                                              size_t max_keys);

/**
 * Sets the most signature checks for one token when several keys suit it.
 * Defaults to 8; 0 makes `jwtguard_verifier_new` fail with
 * `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_max_key_attempts(struct jwtguard_options *options,
                                                      size_t max_key_attempts);

/**
 * Sets the entries of the verified-token cache, which lets a repeated
 * valid token skip parsing and the signature check. Defaults to 1024; 0
 * turns the cache off. An entry takes about 1 KiB for a 400-byte token.
 */
jwtguard_result jwtguard_options_set_token_cache_entries(struct jwtguard_options *options,
                                                         size_t entries);

/**
 * Sets the deepest JSON nesting accepted in a token's header and payload.
 * Defaults to 32; a value under 2 makes `jwtguard_verifier_new` fail with
 * `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_max_json_depth(struct jwtguard_options *options,
                                                    size_t max_json_depth);

/**
 * Sets the least time between two key set refreshes triggered by an
 * unknown `kid`, in milliseconds. Defaults to 30000.
 */
jwtguard_result jwtguard_options_set_kid_refresh_interval_ms(struct jwtguard_options *options,
                                                             uint64_t interval_ms);

/**
 * Sets how long expired keys stay in use while fetches fail, in
 * milliseconds; after that, requests are denied with
 * `JWTGUARD_REASON_KEYS_UNAVAILABLE`. Defaults to 24 hours.
 */
jwtguard_result jwtguard_options_set_max_stale_ms(struct jwtguard_options *options,
                                                  uint64_t max_stale_ms);

/**
 * Sets the first and the longest retry delay after a failed key set
 * fetch, in milliseconds. Defaults to 1000 and 120000. `initial_ms` 0 or
 * `max_ms` under `initial_ms` makes `jwtguard_verifier_new` fail with
 * `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_backoff_ms(struct jwtguard_options *options,
                                                uint64_t initial_ms,
                                                uint64_t max_ms);

/**
 * Sets a PEM file of CA certificates trusted for `jwksURI` in addition to
 * the system's trust store. The path is bytes in the file system's
 * encoding and need not be UTF-8. The file is read by
 * `jwtguard_verifier_new`, which fails with `JWTGUARD_RESULT_IO` or
 * `JWTGUARD_RESULT_OPTION_INVALID` when it cannot use it.
 *
 * Returns `JWTGUARD_RESULT_INVALID_ARGUMENT` for an empty path or one that
 * contains a NUL byte.
 */
jwtguard_result jwtguard_options_set_ca_file(struct jwtguard_options *options,
                                             const uint8_t *path,
                                             size_t path_len);

/**
 * Sets the `realm` of the `WWW-Authenticate` challenges; an empty realm
 * removes it. Defaults to none. The realm must be UTF-8
 * (`JWTGUARD_RESULT_INVALID_UTF8`), and a quote, backslash or control
 * character makes `jwtguard_verifier_new` fail with
 * `JWTGUARD_RESULT_OPTION_INVALID`.
 */
jwtguard_result jwtguard_options_set_realm(struct jwtguard_options *options,
                                           const uint8_t *realm,
                                           size_t realm_len);

/**
 * Sets the callback that receives log records, or turns logging off when
 * `callback` is NULL, which is the default. `userdata` is passed back
 * unchanged and must stay valid as long as any verifier created with these
 * options. See `jwtguard_log_callback` for the thread-safety rules.
 */
jwtguard_result jwtguard_options_set_log_callback(struct jwtguard_options *options,
                                                  jwtguard_log_callback callback,
                                                  void *userdata);

/**
 * Sets the callback run after each key set fetch ends, or removes it when
 * `callback` is NULL, which is the default. `userdata` is passed back
 * unchanged and must stay valid as long as any verifier created with these
 * options. See `jwtguard_keys_callback` for the thread-safety rules.
 */
jwtguard_result jwtguard_options_set_keys_callback(struct jwtguard_options *options,
                                                   jwtguard_keys_callback callback,
                                                   void *userdata);

/**
 * Copies the English message for `result` into `buf`, without a
 * terminating NUL, and returns the message's full length in bytes.
 *
 * At most `buf_len` bytes are written, so a return value greater than
 * `buf_len` means the message was cut. `buf` may be NULL when `buf_len` is
 * 0, which returns the length alone. An unknown value gets the message
 * "unknown jwtguard_result value". Thread-safe.
 */
size_t jwtguard_result_message(jwtguard_result result,
                               uint8_t *buf,
                               size_t buf_len);

/**
 * Tells whether `result` is a policy, key or option load error (the 2xx
 * codes), so a host can report a configuration problem without relying on
 * number ranges. Returns false for any other value. Thread-safe.
 */
bool jwtguard_result_is_load_error(jwtguard_result result);

/**
 * Loads a policy document: JSON bytes in the format of the NGINX API
 * Connectivity Manager's OAuth2 JWT Assertion policy. Loading opens no
 * socket and starts no thread, so it may run before `fork`.
 *
 * `options` may be NULL for the defaults; the verifier keeps a copy, so
 * they may be freed at once. On success `*verifier_out` receives a
 * verifier that the caller frees with `jwtguard_verifier_free`.
 *
 * `diagnostics_out` may be NULL. Otherwise it receives diagnostics on
 * success, with the warnings, and on a load error (a 2xx result), with the
 * error message. The caller frees them with `jwtguard_diagnostics_free`.
 * Any other result leaves `diagnostics_out` untouched.
 *
 * Returns `JWTGUARD_RESULT_POLICY_INVALID` for a document that is not
 * UTF-8 JSON or not a valid policy, and the other 2xx codes as documented
 * on `jwtguard_result`. Thread-safe.
 */
jwtguard_result jwtguard_verifier_new(const uint8_t *policy,
                                      size_t policy_len,
                                      const struct jwtguard_options *options,
                                      struct jwtguard_verifier **verifier_out,
                                      struct jwtguard_diagnostics **diagnostics_out);

/**
 * Loads a policy document from a file, as `jwtguard_verifier_new` does.
 * The path is bytes in the file system's encoding and need not be UTF-8.
 *
 * Returns `JWTGUARD_RESULT_IO` when the file cannot be read, and
 * `JWTGUARD_RESULT_INVALID_ARGUMENT` for an empty path or one that
 * contains a NUL byte. Thread-safe.
 */
jwtguard_result jwtguard_verifier_new_from_file(const uint8_t *path,
                                                size_t path_len,
                                                const struct jwtguard_options *options,
                                                struct jwtguard_verifier **verifier_out,
                                                struct jwtguard_diagnostics **diagnostics_out);

/**
 * Stops the verifier's fetch thread, if any, waiting up to about one
 * second, then frees the verifier. NULL is ignored. Text returned from the
 * verifier must not be used afterwards; decisions stay valid.
 */
void jwtguard_verifier_free(struct jwtguard_verifier *verifier);

/**
 * Starts fetching the remote key set (`jwksURI`) in this process. Call it
 * once in each process that verifies tokens, after any `fork`, because
 * threads do not survive `fork`. Does nothing for inline keys
 * (`jwksKeys`) or when already started in this process.
 *
 * Returns `JWTGUARD_RESULT_FETCHER_START_FAILED` when the thread cannot be
 * started; the reason goes to the log callback. Thread-safe.
 */
jwtguard_result jwtguard_verifier_start(const struct jwtguard_verifier *verifier);

/**
 * Stops the fetch thread, waiting up to about one second. Later
 * verifications are denied with `JWTGUARD_REASON_KEYS_UNAVAILABLE` until
 * `jwtguard_verifier_start` runs again. NULL is ignored. Thread-safe.
 */
void jwtguard_verifier_stop(const struct jwtguard_verifier *verifier);

/**
 * Returns where the policy looks for the token, or
 * `JWTGUARD_TOKEN_SOURCE_ERROR` when `verifier` is NULL. Thread-safe.
 */
jwtguard_token_source jwtguard_verifier_token_source(const struct jwtguard_verifier *verifier);

/**
 * Returns the policy's `tokenName`, the header or query parameter that
 * carries the token, such as `Authorization`. The text is UTF-8, is not
 * NUL-terminated, and lives until `jwtguard_verifier_free`. Thread-safe.
 */
jwtguard_result jwtguard_verifier_token_name(const struct jwtguard_verifier *verifier,
                                             const uint8_t **name_out,
                                             size_t *name_len_out);

/**
 * Decides a request and stores a new decision in `*decision_out`, which
 * the caller frees with `jwtguard_decision_free`. Never blocks.
 *
 * `source` is the value of the policy's header (the whole value, such as
 * `Bearer eyJ...`), or the raw query string without `?` when
 * `jwtguard_verifier_token_source` is `JWTGUARD_TOKEN_SOURCE_QUERY`. Pass
 * NULL when the header is absent or the query string empty; `source_len`
 * is then ignored. The bytes need not be UTF-8 and are not kept.
 *
 * `pending_generation` is 0 on a first attempt. After a
 * `JWTGUARD_VERDICT_PENDING` decision, pass its
 * `jwtguard_decision_pending_generation` back once
 * `jwtguard_verifier_keys_generation` differs from it. Thread-safe.
 */
jwtguard_result jwtguard_verifier_verify(const struct jwtguard_verifier *verifier,
                                         const uint8_t *source,
                                         size_t source_len,
                                         uint64_t pending_generation,
                                         struct jwtguard_decision **decision_out);

/**
 * Stores in `*decision_out` a denial for a request that gave up waiting
 * for remote keys: reason `JWTGUARD_REASON_KEYS_UNAVAILABLE`, the policy's
 * noMatch status and its challenge, as the library itself returns when a
 * fetch fails. A host that bounds its wait for a pending decision uses it,
 * so every host gives the same verdict. The caller frees the decision with
 * `jwtguard_decision_free`. `message` (need not be UTF-8; invalid bytes are
 * replaced) says why, for logs. Thread-safe.
 */
jwtguard_result jwtguard_verifier_deny_unavailable(const struct jwtguard_verifier *verifier,
                                                   const uint8_t *message,
                                                   size_t message_len,
                                                   struct jwtguard_decision **decision_out);

/**
 * Returns the readiness generation, which changes each time a key set
 * fetch ends. It is always 1 for inline keys, and 0 when `verifier` is
 * NULL. Cheap enough to poll. Thread-safe.
 */
uint64_t jwtguard_verifier_keys_generation(const struct jwtguard_verifier *verifier);

/**
 * Blocks until the readiness generation differs from `generation`, at
 * most `timeout_ms` milliseconds, and returns whether it changed. Returns
 * true at once for inline keys and false when `verifier` is NULL. For
 * hosts whose threads may block; an event loop polls
 * `jwtguard_verifier_keys_generation` or uses the keys callback instead.
 * Thread-safe.
 */
bool jwtguard_verifier_wait_for_keys(const struct jwtguard_verifier *verifier,
                                     uint64_t generation,
                                     uint64_t timeout_ms);

/**
 * Copies the remote key set's counters to `*stats_out`. Returns
 * `JWTGUARD_RESULT_NOT_FOUND` when the policy has inline keys
 * (`jwksKeys`). Thread-safe.
 */
jwtguard_result jwtguard_verifier_key_stats(const struct jwtguard_verifier *verifier,
                                            struct jwtguard_key_stats *stats_out);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* JWTGUARD_H */
