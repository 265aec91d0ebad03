/*
 * Tests of the jwtguard C ABI: every exported function with NULL pointers,
 * empty and short buffers, invalid UTF-8, bad policies, a valid HS256
 * policy and token, and a remote key set served by the Rust test driver.
 *
 *     abi_test POLICY TOKEN VERSION [JWKS_URL]
 *
 * POLICY is a policy file with an HS256 key that verifies TOKEN, VERSION is
 * the version in Cargo.toml. Prints one line per failed check and
 * "N passed, N failed" at the end; exits 1 when a check failed.
 */

#define _POSIX_C_SOURCE  200809L

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jwtguard.h>


#define CHECK(cond)  check((cond), #cond, __LINE__)

#define TEXT(s)  (const uint8_t *) (s), (sizeof(s) - 1)

#define HS256_POLICY                                                        \
    "{\"action\": {\"jwksKeys\": [{\"kty\": \"oct\", \"kid\": \"k1\", "     \
    "\"k\": \"c2VjcmV0X2tleV9ub3RfZm9yX3Byb2R1Y3Rpb24\"}]}}"

#define TWO_KEYS_POLICY                                                     \
    "{\"action\": {\"jwksKeys\": ["                                         \
    "{\"kty\": \"oct\", \"kid\": \"k1\", \"k\": \"c2VjcmV0\"}, "            \
    "{\"kty\": \"oct\", \"kid\": \"k2\", \"k\": \"c2VjcmV0\"}]}}"


typedef struct {
    const char  *policy_path;
    const char  *token;
    const char  *version;
    const char  *jwks_url;
} test_args_t;


static void check(int ok, const char *expr, int line);
static int text_equals(const uint8_t *text, size_t len, const char *expected);
static jwtguard_verifier *load(const char *policy,
    const jwtguard_options *options);
static jwtguard_decision *verify(const jwtguard_verifier *verifier,
    const char *source, uint64_t generation);
static void test_version(const char *version);
static void test_result_messages(void);
static void test_reasons(void);
static void test_options(void);
static void test_load_errors(void);
static void test_diagnostics(void);
static void test_null_handles(void);
static void test_verifier_accessors(const test_args_t *args);
static void test_allow(const test_args_t *args);
static void test_claim_texts(const jwtguard_decision *decision);
static void test_claims_by_index(const jwtguard_decision *decision);
static void test_deny(const test_args_t *args);
static void test_deny_accessors(const jwtguard_decision *decision);
static void test_realm(void);
static void test_remote(const char *jwks_url, const char *token);
static int wait_for_count(atomic_uint *counter, unsigned min,
    unsigned timeout_ms);
static void log_record(void *userdata, jwtguard_log_level level,
    const uint8_t *message, size_t message_len);
static void keys_changed(void *userdata);


static unsigned  passed;
static unsigned  failed;

static atomic_uint  log_records;
static atomic_uint  keys_changes;


int
main(int argc, char **argv)
{
    test_args_t  args;

    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s POLICY TOKEN VERSION [JWKS_URL]\n",
                argv[0]);
        return 2;
    }

    args.policy_path = argv[1];
    args.token = argv[2];
    args.version = argv[3];
    args.jwks_url = (argc == 5) ? argv[4] : NULL;

    test_version(args.version);
    test_result_messages();
    test_reasons();
    test_options();
    test_load_errors();
    test_diagnostics();
    test_null_handles();
    test_verifier_accessors(&args);
    test_allow(&args);
    test_deny(&args);
    test_realm();

    if (args.jwks_url != NULL) {
        test_remote(args.jwks_url, args.token);
    }

    printf("%u passed, %u failed\n", passed, failed);

    return failed == 0 ? 0 : 1;
}


static void
check(int ok, const char *expr, int line)
{
    if (ok) {
        passed++;
        return;
    }

    failed++;
    fprintf(stderr, "abi_test.c:%d: check failed: %s\n", line, expr);
}


static int
text_equals(const uint8_t *text, size_t len, const char *expected)
{
    return text != NULL
           && len == strlen(expected)
           && memcmp(text, expected, len) == 0;
}


static jwtguard_verifier *
load(const char *policy, const jwtguard_options *options)
{
    jwtguard_result     rc;
    jwtguard_verifier  *verifier;

    verifier = NULL;

    rc = jwtguard_verifier_new((const uint8_t *) policy, strlen(policy),
                               options, &verifier, NULL);
    CHECK(rc == JWTGUARD_RESULT_OK);
    CHECK(verifier != NULL);

    return verifier;
}


static jwtguard_decision *
verify(const jwtguard_verifier *verifier, const char *source,
    uint64_t generation)
{
    size_t              len;
    jwtguard_result     rc;
    jwtguard_decision  *decision;

    decision = NULL;
    len = (source == NULL) ? 0 : strlen(source);

    rc = jwtguard_verifier_verify(verifier, (const uint8_t *) source, len,
                                  generation, &decision);
    CHECK(rc == JWTGUARD_RESULT_OK);
    CHECK(decision != NULL);

    return decision;
}


static void
test_version(const char *version)
{
    char  expected[64];

    snprintf(expected, sizeof(expected), "jwtguard/%s", version);
    CHECK(strcmp(jwtguard_version(), expected) == 0);

    snprintf(expected, sizeof(expected), "%d.%d.%d", JWTGUARD_VERSION_MAJOR,
             JWTGUARD_VERSION_MINOR, JWTGUARD_VERSION_PATCH);
    CHECK(strcmp(expected, version) == 0);

    CHECK(JWTGUARD_VERSION_NUMBER
          == JWTGUARD_VERSION_MAJOR * 10000 + JWTGUARD_VERSION_MINOR * 100
             + JWTGUARD_VERSION_PATCH);
}


static void
test_result_messages(void)
{
    char    buf[128];
    size_t  len, full;

    full = jwtguard_result_message(JWTGUARD_RESULT_NULL_PARAMETER, NULL, 0);
    CHECK(full == strlen("a required pointer argument is NULL"));

    len = jwtguard_result_message(JWTGUARD_RESULT_NULL_PARAMETER,
                                  (uint8_t *) buf, sizeof(buf));
    CHECK(len == full);
    CHECK(memcmp(buf, "a required pointer argument is NULL", len) == 0);

    /* a short buffer receives the start of the message and no more */
    memset(buf, '#', sizeof(buf));
    len = jwtguard_result_message(JWTGUARD_RESULT_OK, (uint8_t *) buf, 3);
    CHECK(len == strlen("success"));
    CHECK(memcmp(buf, "suc#", 4) == 0);

    len = jwtguard_result_message(12345, (uint8_t *) buf, sizeof(buf));
    CHECK(len == strlen("unknown jwtguard_result value"));

    CHECK(jwtguard_result_message(JWTGUARD_RESULT_PANIC, NULL, 0) > 0);

    CHECK(jwtguard_result_is_load_error(JWTGUARD_RESULT_POLICY_INVALID));
    CHECK(jwtguard_result_is_load_error(JWTGUARD_RESULT_JWKS_INVALID));
    CHECK(jwtguard_result_is_load_error(JWTGUARD_RESULT_OPTION_INVALID));
    CHECK(jwtguard_result_is_load_error(JWTGUARD_RESULT_IO));
    CHECK(jwtguard_result_is_load_error(JWTGUARD_RESULT_FETCHER_START_FAILED));
    CHECK(!jwtguard_result_is_load_error(JWTGUARD_RESULT_OK));
    CHECK(!jwtguard_result_is_load_error(JWTGUARD_RESULT_NULL_PARAMETER));
    CHECK(!jwtguard_result_is_load_error(JWTGUARD_RESULT_PANIC));
    CHECK(!jwtguard_result_is_load_error(250));
    CHECK(!jwtguard_result_is_load_error(UINT32_MAX));
}


static void
test_reasons(void)
{
    size_t           len;
    uint32_t         reason;
    const uint8_t   *name;

    CHECK(jwtguard_reason_name(JWTGUARD_REASON_NONE, &name, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(name, len, "none"));

    CHECK(jwtguard_reason_name(JWTGUARD_REASON_BAD_SIGNATURE, &name, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(name, len, "bad_signature"));

    CHECK(jwtguard_reason_name(JWTGUARD_REASON_KEYS_UNAVAILABLE, &name, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(name, len, "keys_unavailable"));

    for (reason = JWTGUARD_REASON_MISSING;
         reason <= JWTGUARD_REASON_KEYS_UNAVAILABLE;
         reason++)
    {
        name = NULL;
        CHECK(jwtguard_reason_name(reason, &name, &len) == JWTGUARD_RESULT_OK);
        CHECK(name != NULL);
        CHECK(len > 0);
    }

    name = NULL;
    len = 7;
    CHECK(jwtguard_reason_name(10, &name, &len)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(name == NULL);
    CHECK(len == 7);
    CHECK(jwtguard_reason_name(UINT32_MAX, &name, &len)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(jwtguard_reason_name(JWTGUARD_REASON_MISSING, NULL, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_reason_name(JWTGUARD_REASON_MISSING, &name, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);

    CHECK(jwtguard_reason_is_missing_token(JWTGUARD_REASON_MISSING));
    CHECK(!jwtguard_reason_is_missing_token(JWTGUARD_REASON_NONE));
    CHECK(!jwtguard_reason_is_missing_token(JWTGUARD_REASON_EXPIRED));
    CHECK(!jwtguard_reason_is_missing_token(UINT32_MAX));
}


static void
test_options(void)
{
    jwtguard_options  *options;

    jwtguard_options_free(NULL);

    CHECK(jwtguard_options_set_leeway_ms(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_connect_timeout_ms(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_fetch_timeout_ms(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_max_body_bytes(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_max_token_len(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_max_keys(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_max_key_attempts(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_token_cache_entries(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_max_json_depth(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_kid_refresh_interval_ms(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_max_stale_ms(NULL, 1)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_backoff_ms(NULL, 1, 2)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_ca_file(NULL, TEXT("/ca.pem"))
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_realm(NULL, TEXT("api"))
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_log_callback(NULL, log_record, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_keys_callback(NULL, keys_changed, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);

    options = jwtguard_options_new();
    CHECK(options != NULL);

    CHECK(jwtguard_options_set_leeway_ms(options, 30000)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_connect_timeout_ms(options, 1000)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_fetch_timeout_ms(options, 2000)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_max_body_bytes(options, 65536)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_max_token_len(options, 8192)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_max_keys(options, 10) == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_max_key_attempts(options, 4)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_token_cache_entries(options, 0)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_max_json_depth(options, 16)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_kid_refresh_interval_ms(options, 5000)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_max_stale_ms(options, 60000)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_backoff_ms(options, 100, 1000)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_log_callback(options, log_record, NULL)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_log_callback(options, NULL, NULL)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_keys_callback(options, keys_changed, NULL)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_keys_callback(options, NULL, NULL)
          == JWTGUARD_RESULT_OK);

    /* text setters check their bytes */
    CHECK(jwtguard_options_set_ca_file(options, NULL, 0)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_ca_file(options, TEXT(""))
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(jwtguard_options_set_ca_file(options, TEXT("/a\0b"))
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(jwtguard_options_set_ca_file(options, TEXT("/tmp/\xff.pem"))
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_realm(options, NULL, 0)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_options_set_realm(options, TEXT("\xc3\x28"))
          == JWTGUARD_RESULT_INVALID_UTF8);
    CHECK(jwtguard_options_set_realm(options, TEXT("api"))
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_realm(options, TEXT(""))
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_ca_file(options, (const uint8_t *) "x",
                                       (size_t) SIZE_MAX)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);

    jwtguard_options_free(options);
}


static void
test_load_errors(void)
{
    size_t                 len;
    const uint8_t         *text;
    jwtguard_result        rc;
    jwtguard_options      *options;
    jwtguard_verifier     *verifier, *sentinel;
    jwtguard_diagnostics  *diagnostics;

    sentinel = (jwtguard_verifier *) &len;
    verifier = sentinel;
    diagnostics = NULL;

    CHECK(jwtguard_verifier_new(NULL, 0, NULL, &verifier, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_new(TEXT(HS256_POLICY), NULL, NULL, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_new((const uint8_t *) "{}", (size_t) SIZE_MAX,
                                NULL, &verifier, &diagnostics)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(diagnostics == NULL);

    /* load errors fill the diagnostics and leave verifier_out alone */
    rc = jwtguard_verifier_new(TEXT("{\"action\": \"\xff\"}"), NULL,
                               &verifier, &diagnostics);
    CHECK(rc == JWTGUARD_RESULT_POLICY_INVALID);
    CHECK(verifier == sentinel);
    CHECK(diagnostics != NULL);
    CHECK(jwtguard_diagnostics_error(diagnostics, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(len > 0);
    jwtguard_diagnostics_free(diagnostics);

    CHECK(jwtguard_verifier_new(TEXT(""), NULL, &verifier, NULL)
          == JWTGUARD_RESULT_POLICY_INVALID);
    CHECK(jwtguard_verifier_new(TEXT("not json"), NULL, &verifier, NULL)
          == JWTGUARD_RESULT_POLICY_INVALID);
    CHECK(jwtguard_verifier_new(TEXT("[1, 2]"), NULL, &verifier, NULL)
          == JWTGUARD_RESULT_POLICY_INVALID);
    CHECK(verifier == sentinel);

    /* inline key problems are policy errors that name the JSON path */
    options = jwtguard_options_new();
    CHECK(jwtguard_options_set_max_keys(options, 1) == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_verifier_new(TEXT(TWO_KEYS_POLICY), options, &verifier,
                                NULL)
          == JWTGUARD_RESULT_POLICY_INVALID);
    CHECK(verifier == sentinel);
    jwtguard_options_free(options);

    options = jwtguard_options_new();
    CHECK(jwtguard_options_set_max_token_len(options, 0)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_verifier_new(TEXT(HS256_POLICY), options, &verifier,
                                NULL)
          == JWTGUARD_RESULT_OPTION_INVALID);
    CHECK(jwtguard_options_set_max_token_len(options, 8192)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_realm(options, TEXT("a\"b"))
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_verifier_new(TEXT(HS256_POLICY), options, &verifier,
                                NULL)
          == JWTGUARD_RESULT_OPTION_INVALID);
    jwtguard_options_free(options);

    CHECK(jwtguard_verifier_new_from_file(NULL, 0, NULL, &verifier, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_new_from_file(TEXT("/p.json"), NULL, NULL, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_new_from_file(TEXT(""), NULL, &verifier, NULL)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(jwtguard_verifier_new_from_file(TEXT("/p\0.json"), NULL,
                                          &verifier, NULL)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(jwtguard_verifier_new_from_file(TEXT("/nonexistent/\xff.json"),
                                          NULL, &verifier, &diagnostics)
          == JWTGUARD_RESULT_IO);
    CHECK(jwtguard_diagnostics_error(diagnostics, &text, &len)
          == JWTGUARD_RESULT_OK);
    jwtguard_diagnostics_free(diagnostics);
    CHECK(verifier == sentinel);
}


static void
test_diagnostics(void)
{
    size_t                 len;
    const uint8_t         *text;
    jwtguard_result        rc;
    jwtguard_verifier     *verifier;
    jwtguard_diagnostics  *diagnostics;

    CHECK(jwtguard_diagnostics_error(NULL, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_diagnostics_warning_count(NULL) == 0);
    CHECK(jwtguard_diagnostics_warning(NULL, 0, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    jwtguard_diagnostics_free(NULL);

    /* an unknown field loads with a warning */
    diagnostics = NULL;
    rc = jwtguard_verifier_new(
             TEXT("{\"action\": {\"jwksKeys\": [{\"kty\": \"oct\", "
                  "\"k\": \"c2VjcmV0X2tleV9ub3RfZm9yX3Byb2R1Y3Rpb24\"}], "
                  "\"tokenNme\": \"x\"}}"),
             NULL, &verifier, &diagnostics);
    CHECK(rc == JWTGUARD_RESULT_OK);
    CHECK(diagnostics != NULL);

    text = NULL;
    CHECK(jwtguard_diagnostics_error(diagnostics, &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(text == NULL);
    CHECK(jwtguard_diagnostics_warning_count(diagnostics) >= 1);
    CHECK(jwtguard_diagnostics_warning(diagnostics, 0, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(len > 0);
    CHECK(jwtguard_diagnostics_warning(diagnostics, 0, NULL, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_diagnostics_warning(diagnostics, 0, &text, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_diagnostics_warning(diagnostics, SIZE_MAX, &text, &len)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);

    jwtguard_diagnostics_free(diagnostics);
    jwtguard_verifier_free(verifier);
}


static void
test_null_handles(void)
{
    size_t               len, name_len;
    const uint8_t       *text, *name;
    jwtguard_decision   *decision;
    jwtguard_key_stats   stats;

    jwtguard_verifier_free(NULL);
    jwtguard_verifier_stop(NULL);
    jwtguard_decision_free(NULL);

    decision = NULL;

    CHECK(jwtguard_verifier_start(NULL) == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_token_source(NULL)
          == JWTGUARD_TOKEN_SOURCE_ERROR);
    CHECK(jwtguard_verifier_token_name(NULL, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_verify(NULL, TEXT("Bearer x"), 0, &decision)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(decision == NULL);
    CHECK(jwtguard_verifier_keys_generation(NULL) == 0);
    CHECK(!jwtguard_verifier_wait_for_keys(NULL, 1, 0));
    CHECK(jwtguard_verifier_key_stats(NULL, &stats)
          == JWTGUARD_RESULT_NULL_PARAMETER);

    CHECK(jwtguard_decision_verdict(NULL) == JWTGUARD_VERDICT_ERROR);
    CHECK(jwtguard_decision_status(NULL) == 0);
    CHECK(jwtguard_decision_reason(NULL) == JWTGUARD_REASON_NONE);
    CHECK(jwtguard_decision_pending_generation(NULL) == 0);
    CHECK(jwtguard_decision_message(NULL, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_www_authenticate(NULL, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_claim(NULL, TEXT("sub"), &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_header(NULL, TEXT("kid"), &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_payload(NULL, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_claim_count(NULL) == 0);
    CHECK(jwtguard_decision_claim_at(NULL, 0, &name, &name_len, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
}


static void
test_verifier_accessors(const test_args_t *args)
{
    size_t               len;
    const uint8_t       *name;
    jwtguard_result      rc;
    jwtguard_verifier   *verifier;
    jwtguard_decision   *decision;
    jwtguard_key_stats   stats;

    verifier = NULL;
    rc = jwtguard_verifier_new_from_file((const uint8_t *) args->policy_path,
                                         strlen(args->policy_path), NULL,
                                         &verifier, NULL);
    CHECK(rc == JWTGUARD_RESULT_OK);

    CHECK(jwtguard_verifier_token_source(verifier)
          == JWTGUARD_TOKEN_SOURCE_HEADER);
    CHECK(jwtguard_verifier_token_name(verifier, &name, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(name, len, "Authorization"));
    CHECK(jwtguard_verifier_token_name(verifier, NULL, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_token_name(verifier, &name, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);

    /* inline keys: no thread, a fixed generation and no key statistics */
    CHECK(jwtguard_verifier_start(verifier) == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_verifier_keys_generation(verifier) == 1);
    CHECK(jwtguard_verifier_wait_for_keys(verifier, 1, 0));
    CHECK(jwtguard_verifier_key_stats(verifier, &stats)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(jwtguard_verifier_key_stats(verifier, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    jwtguard_verifier_stop(verifier);

    CHECK(jwtguard_verifier_verify(verifier, NULL, 0, 0, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_verify(verifier, (const uint8_t *) "x",
                                   (size_t) SIZE_MAX, 0, &decision)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);

    jwtguard_verifier_free(verifier);
}


static void
test_allow(const test_args_t *args)
{
    char                *source;
    size_t               size;
    jwtguard_result      rc;
    jwtguard_verifier   *verifier;
    jwtguard_decision   *decision;

    verifier = NULL;
    rc = jwtguard_verifier_new_from_file((const uint8_t *) args->policy_path,
                                         strlen(args->policy_path), NULL,
                                         &verifier, NULL);
    CHECK(rc == JWTGUARD_RESULT_OK);

    size = strlen(args->token) + sizeof("Bearer ");
    source = malloc(size);
    CHECK(source != NULL);
    snprintf(source, size, "Bearer %s", args->token);

    decision = verify(verifier, source, 0);
    free(source);

    /* the verifier may go before its decisions */
    jwtguard_verifier_free(verifier);

    CHECK(jwtguard_decision_verdict(decision) == JWTGUARD_VERDICT_ALLOW);
    CHECK(jwtguard_decision_status(decision) == 0);
    CHECK(jwtguard_decision_reason(decision) == JWTGUARD_REASON_NONE);
    CHECK(jwtguard_decision_pending_generation(decision) == 0);

    test_claim_texts(decision);
    test_claims_by_index(decision);

    jwtguard_decision_free(decision);
}


static void
test_claim_texts(const jwtguard_decision *decision)
{
    size_t          len, len2;
    const uint8_t  *text, *text2;

    CHECK(jwtguard_decision_claim(decision, TEXT("sub"), &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "user-123"));

    /* numbers come as JSON text that stays put across calls */
    CHECK(jwtguard_decision_claim(decision, TEXT("iat"), &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "1700000000"));
    CHECK(jwtguard_decision_claim(decision, TEXT("iat"), &text2, &len2)
          == JWTGUARD_RESULT_OK);
    CHECK(text2 == text);
    CHECK(len2 == len);

    text = NULL;
    len = 7;
    CHECK(jwtguard_decision_claim(decision, TEXT("absent"), &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(text == NULL);
    CHECK(len == 7);
    CHECK(jwtguard_decision_claim(decision, TEXT(""), &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(jwtguard_decision_claim(decision, TEXT("\xff"), &text, &len)
          == JWTGUARD_RESULT_INVALID_UTF8);
    CHECK(jwtguard_decision_claim(decision, NULL, 0, &text, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_claim(decision, TEXT("sub"), NULL, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_claim(decision, TEXT("sub"), &text, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);

    CHECK(jwtguard_decision_header(decision, TEXT("kid"), &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "hs256-main"));
    CHECK(jwtguard_decision_header(decision, TEXT("alg"), &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "HS256"));
    CHECK(jwtguard_decision_header(decision, TEXT("sub"), &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);

    CHECK(jwtguard_decision_payload(decision, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(len > 2);

    if (len > 2) {
        CHECK(text[0] == '{');
        CHECK(text[len - 1] == '}');
    }

    CHECK(jwtguard_decision_payload(decision, NULL, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);

    CHECK(jwtguard_decision_message(decision, &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(jwtguard_decision_www_authenticate(decision, &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
}


static void
test_claims_by_index(const jwtguard_decision *decision)
{
    size_t          name_len, len;
    const uint8_t  *name, *text;

    /* the control token has exactly exp, iat, iss and sub */
    CHECK(jwtguard_decision_claim_count(decision) == 4);

    CHECK(jwtguard_decision_claim_at(decision, 0, &name, &name_len, &text,
                                     &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(name, name_len, "exp"));
    CHECK(text_equals(text, len, "4102444800"));

    CHECK(jwtguard_decision_claim_at(decision, 3, &name, &name_len, &text,
                                     &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(name, name_len, "sub"));
    CHECK(text_equals(text, len, "user-123"));

    CHECK(jwtguard_decision_claim_at(decision, 4, &name, &name_len, &text,
                                     &len)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(jwtguard_decision_claim_at(decision, SIZE_MAX, &name, &name_len,
                                     &text, &len)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
    CHECK(jwtguard_decision_claim_at(decision, 0, NULL, &name_len, &text,
                                     &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_claim_at(decision, 0, &name, &name_len, &text,
                                     NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
}


static void
test_deny(const test_args_t *args)
{
    char                *source;
    size_t               size, len;
    const uint8_t       *text;
    jwtguard_verifier   *verifier;
    jwtguard_decision   *decision;

    verifier = NULL;
    CHECK(jwtguard_verifier_new_from_file((const uint8_t *) args->policy_path,
                                          strlen(args->policy_path), NULL,
                                          &verifier, NULL)
          == JWTGUARD_RESULT_OK);

    /* no header: 401 with a bare challenge */
    decision = verify(verifier, NULL, 0);
    CHECK(jwtguard_decision_verdict(decision) == JWTGUARD_VERDICT_DENY);
    CHECK(jwtguard_decision_status(decision) == 401);
    CHECK(jwtguard_decision_reason(decision) == JWTGUARD_REASON_MISSING);
    CHECK(jwtguard_reason_is_missing_token(jwtguard_decision_reason(decision)));
    CHECK(jwtguard_decision_www_authenticate(decision, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "Bearer"));
    test_deny_accessors(decision);
    jwtguard_decision_free(decision);

    /* a changed signature: 403 with error="invalid_token" */
    size = strlen(args->token) + sizeof("Bearer x");
    source = malloc(size);
    CHECK(source != NULL);
    snprintf(source, size, "Bearer %sx", args->token);

    decision = verify(verifier, source, 0);
    free(source);
    CHECK(jwtguard_decision_verdict(decision) == JWTGUARD_VERDICT_DENY);
    CHECK(jwtguard_decision_status(decision) == 403);
    CHECK(jwtguard_decision_reason(decision)
          == JWTGUARD_REASON_BAD_SIGNATURE);
    CHECK(jwtguard_decision_www_authenticate(decision, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "Bearer error=\"invalid_token\""));
    CHECK(jwtguard_decision_message(decision, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(len > 0);
    CHECK(jwtguard_decision_message(decision, NULL, &len)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_decision_www_authenticate(decision, &text, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    test_deny_accessors(decision);
    jwtguard_decision_free(decision);

    /* a host that gave up waiting for keys: noMatch, bare challenge */
    decision = NULL;
    CHECK(jwtguard_verifier_deny_unavailable(NULL, (const uint8_t *) "x", 1,
                                             &decision)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_deny_unavailable(verifier, (const uint8_t *) "x",
                                             1, NULL)
          == JWTGUARD_RESULT_NULL_PARAMETER);
    CHECK(jwtguard_verifier_deny_unavailable(verifier,
                                             (const uint8_t *) "\xff wait",
                                             6, &decision)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_decision_verdict(decision) == JWTGUARD_VERDICT_DENY);
    CHECK(jwtguard_decision_status(decision) == 403);
    CHECK(jwtguard_decision_reason(decision)
          == JWTGUARD_REASON_KEYS_UNAVAILABLE);
    CHECK(jwtguard_decision_www_authenticate(decision, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "Bearer"));
    jwtguard_decision_free(decision);

    /* a token over the 16 KiB default limit is malformed */
    size = 20000;
    source = malloc(size + 1);
    CHECK(source != NULL);
    memset(source, 'a', size);
    memcpy(source, "Bearer ", 7);
    source[size] = '\0';

    decision = verify(verifier, source, 0);
    free(source);
    CHECK(jwtguard_decision_reason(decision) == JWTGUARD_REASON_MALFORMED);
    CHECK(jwtguard_decision_status(decision) == 403);
    jwtguard_decision_free(decision);

    /* bytes that are not UTF-8, and an empty header */
    decision = verify(verifier, "Bearer \xff\xfe.\x80.\xc3", 0);
    CHECK(jwtguard_decision_verdict(decision) == JWTGUARD_VERDICT_DENY);
    CHECK(jwtguard_decision_reason(decision) == JWTGUARD_REASON_MALFORMED);
    jwtguard_decision_free(decision);

    decision = verify(verifier, "", 0);
    CHECK(jwtguard_decision_verdict(decision) == JWTGUARD_VERDICT_DENY);
    CHECK(jwtguard_decision_status(decision) == 401);
    jwtguard_decision_free(decision);

    jwtguard_verifier_free(verifier);
}


static void
test_deny_accessors(const jwtguard_decision *decision)
{
    size_t          name_len, len;
    const uint8_t  *name, *text;

    CHECK(jwtguard_decision_pending_generation(decision) == 0);
    CHECK(jwtguard_decision_claim(decision, TEXT("sub"), &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(jwtguard_decision_header(decision, TEXT("kid"), &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(jwtguard_decision_payload(decision, &text, &len)
          == JWTGUARD_RESULT_NOT_FOUND);
    CHECK(jwtguard_decision_claim_count(decision) == 0);
    CHECK(jwtguard_decision_claim_at(decision, 0, &name, &name_len, &text,
                                     &len)
          == JWTGUARD_RESULT_INVALID_ARGUMENT);
}


static void
test_realm(void)
{
    size_t              len;
    const uint8_t      *text;
    jwtguard_options   *options;
    jwtguard_verifier  *verifier;
    jwtguard_decision  *decision;

    options = jwtguard_options_new();
    CHECK(jwtguard_options_set_realm(options, TEXT("api"))
          == JWTGUARD_RESULT_OK);

    verifier = load(HS256_POLICY, options);

    /* the verifier keeps its own copy of the options */
    jwtguard_options_free(options);

    decision = verify(verifier, NULL, 0);
    CHECK(jwtguard_decision_www_authenticate(decision, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len, "Bearer realm=\"api\""));
    jwtguard_decision_free(decision);

    decision = verify(verifier, "Bearer a.b.c", 0);
    CHECK(jwtguard_decision_www_authenticate(decision, &text, &len)
          == JWTGUARD_RESULT_OK);
    CHECK(text_equals(text, len,
                      "Bearer realm=\"api\", error=\"invalid_token\""));
    jwtguard_decision_free(decision);

    jwtguard_verifier_free(verifier);
}


static void
test_remote(const char *jwks_url, const char *token)
{
    int                  attempts;
    char                 policy[512], *source;
    size_t               size;
    uint64_t             generation;
    jwtguard_verdict     verdict;
    jwtguard_options    *options;
    jwtguard_verifier   *verifier;
    jwtguard_decision   *decision;
    jwtguard_key_stats   stats;

    snprintf(policy, sizeof(policy),
             "{\"action\": {\"jwksURI\": \"%s\"}}", jwks_url);

    options = jwtguard_options_new();
    CHECK(jwtguard_options_set_log_callback(options, log_record, NULL)
          == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_options_set_keys_callback(options, keys_changed, NULL)
          == JWTGUARD_RESULT_OK);
    verifier = load(policy, options);
    jwtguard_options_free(options);

    size = strlen(token) + sizeof("Bearer ");
    source = malloc(size);
    CHECK(source != NULL);
    snprintf(source, size, "Bearer %s", token);

    /* before start no thread fetches, so requests fail closed */
    CHECK(jwtguard_verifier_key_stats(verifier, &stats) == JWTGUARD_RESULT_OK);
    CHECK(stats.fetches == 0);
    CHECK(stats.generation == 1);
    CHECK(stats.cache_age_ms == UINT64_MAX);

    decision = verify(verifier, source, 0);
    CHECK(jwtguard_decision_reason(decision)
          == JWTGUARD_REASON_KEYS_UNAVAILABLE);
    jwtguard_decision_free(decision);

    CHECK(jwtguard_verifier_start(verifier) == JWTGUARD_RESULT_OK);
    CHECK(jwtguard_verifier_start(verifier) == JWTGUARD_RESULT_OK);

    /* pending until the first fetch ends, then allow */
    generation = 0;
    verdict = JWTGUARD_VERDICT_ERROR;

    for (attempts = 0; attempts < 10; attempts++) {
        decision = verify(verifier, source, generation);
        verdict = jwtguard_decision_verdict(decision);
        generation = jwtguard_decision_pending_generation(decision);
        jwtguard_decision_free(decision);

        if (verdict != JWTGUARD_VERDICT_PENDING) {
            break;
        }

        CHECK(generation != 0);
        jwtguard_verifier_wait_for_keys(verifier, generation, 5000);
    }

    CHECK(verdict == JWTGUARD_VERDICT_ALLOW);

    CHECK(jwtguard_verifier_key_stats(verifier, &stats) == JWTGUARD_RESULT_OK);
    CHECK(stats.fetches >= 1);
    CHECK(stats.failures == 0);
    CHECK(stats.keys == 1);
    CHECK(stats.last_success_unix > 0);
    CHECK(stats.cache_age_ms != UINT64_MAX);
    CHECK(stats.generation >= 2);
    CHECK(jwtguard_verifier_keys_generation(verifier) >= 2);
    /* the fetch thread runs the keys callback after it wakes waiters */
    CHECK(wait_for_count(&keys_changes, 1, 5000));
    CHECK(wait_for_count(&log_records, 1, 5000));

    /* after stop, requests fail closed again */
    jwtguard_verifier_stop(verifier);
    decision = verify(verifier, source, 0);
    CHECK(jwtguard_decision_reason(decision)
          == JWTGUARD_REASON_KEYS_UNAVAILABLE);
    CHECK(jwtguard_decision_status(decision) == 403);
    jwtguard_decision_free(decision);

    free(source);
    jwtguard_verifier_free(verifier);
}


static int
wait_for_count(atomic_uint *counter, unsigned min, unsigned timeout_ms)
{
    unsigned         waited;
    struct timespec  pause;

    pause.tv_sec = 0;
    pause.tv_nsec = 10 * 1000 * 1000;

    for (waited = 0; waited < timeout_ms; waited += 10) {
        if (atomic_load(counter) >= min) {
            return 1;
        }

        nanosleep(&pause, NULL);
    }

    return atomic_load(counter) >= min;
}


static void
log_record(void *userdata, jwtguard_log_level level, const uint8_t *message,
    size_t message_len)
{
    (void) userdata;

    if (level >= JWTGUARD_LOG_LEVEL_ERROR && level <= JWTGUARD_LOG_LEVEL_TRACE
        && message != NULL && message_len > 0)
    {
        atomic_fetch_add(&log_records, 1);
    }
}


static void
keys_changed(void *userdata)
{
    (void) userdata;

    atomic_fetch_add(&keys_changes, 1);
}
