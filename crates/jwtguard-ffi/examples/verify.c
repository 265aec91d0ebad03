/*
 * verify: checks one token against a jwtguard policy file.
 *
 *     verify POLICY TOKEN
 *
 * Prints "allow", or "deny STATUS REASON: MESSAGE", and exits 0 on allow,
 * 1 on deny and 2 on any error.
 */

#define _POSIX_C_SOURCE  200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwtguard.h>


#define VERIFY_WAIT_MS  10000


static void print_diagnostics(const jwtguard_diagnostics *diagnostics);
static char *build_source(const jwtguard_verifier *verifier,
    const char *token, size_t *len);
static int decide(const jwtguard_verifier *verifier, const char *source,
    size_t source_len);
static int report(const jwtguard_decision *decision);


int
main(int argc, char **argv)
{
    int                    status;
    char                  *source;
    size_t                 source_len;
    jwtguard_result        rc;
    jwtguard_verifier     *verifier;
    jwtguard_diagnostics  *diagnostics;

    if (argc != 3) {
        fprintf(stderr, "usage: %s POLICY TOKEN\n", argv[0]);
        return 2;
    }

    verifier = NULL;
    diagnostics = NULL;

    rc = jwtguard_verifier_new_from_file((const uint8_t *) argv[1],
                                         strlen(argv[1]), NULL, &verifier,
                                         &diagnostics);
    print_diagnostics(diagnostics);
    jwtguard_diagnostics_free(diagnostics);

    if (rc != JWTGUARD_RESULT_OK) {
        return 2;
    }

    /* a policy with jwksURI fetches its keys from a thread started here */
    if (jwtguard_verifier_start(verifier) != JWTGUARD_RESULT_OK) {
        fprintf(stderr, "verify: the key fetch thread could not start\n");
        jwtguard_verifier_free(verifier);
        return 2;
    }

    source = build_source(verifier, argv[2], &source_len);
    if (source == NULL) {
        jwtguard_verifier_free(verifier);
        return 2;
    }

    status = decide(verifier, source, source_len);

    free(source);
    jwtguard_verifier_free(verifier);

    return status;
}


static void
print_diagnostics(const jwtguard_diagnostics *diagnostics)
{
    size_t          i, n, len;
    const uint8_t  *text;

    if (jwtguard_diagnostics_error(diagnostics, &text, &len)
        == JWTGUARD_RESULT_OK)
    {
        fprintf(stderr, "verify: %.*s\n", (int) len, (const char *) text);
    }

    n = jwtguard_diagnostics_warning_count(diagnostics);

    for (i = 0; i < n; i++) {
        if (jwtguard_diagnostics_warning(diagnostics, i, &text, &len)
            == JWTGUARD_RESULT_OK)
        {
            fprintf(stderr, "verify: warning: %.*s\n", (int) len,
                    (const char *) text);
        }
    }
}


/*
 * builds what a web server would pass: the whole Authorization header value
 * ("Bearer TOKEN"), another header's value, or a query string "NAME=TOKEN"
 */

static char *
build_source(const jwtguard_verifier *verifier, const char *token,
    size_t *len)
{
    char            *source;
    size_t           name_len, size;
    const uint8_t   *name;

    if (jwtguard_verifier_token_name(verifier, &name, &name_len)
        != JWTGUARD_RESULT_OK)
    {
        fprintf(stderr, "verify: the policy has no token name\n");
        return NULL;
    }

    size = name_len + strlen(token) + sizeof("Bearer ");

    source = malloc(size);
    if (source == NULL) {
        fprintf(stderr, "verify: out of memory\n");
        return NULL;
    }

    switch (jwtguard_verifier_token_source(verifier)) {

    case JWTGUARD_TOKEN_SOURCE_QUERY:
        snprintf(source, size, "%.*s=%s", (int) name_len,
                 (const char *) name, token);
        break;

    case JWTGUARD_TOKEN_SOURCE_HEADER:
        if (name_len == sizeof("Authorization") - 1
            && strncasecmp((const char *) name, "Authorization", name_len)
               == 0)
        {
            snprintf(source, size, "Bearer %s", token);

        } else {
            snprintf(source, size, "%s", token);
        }
        break;

    default:
        fprintf(stderr, "verify: unknown token source\n");
        free(source);
        return NULL;
    }

    *len = strlen(source);

    return source;
}


static int
decide(const jwtguard_verifier *verifier, const char *source,
    size_t source_len)
{
    int                  status;
    uint64_t             generation;
    jwtguard_verdict     verdict;
    jwtguard_decision   *decision;

    generation = 0;

    for ( ;; ) {
        if (jwtguard_verifier_verify(verifier, (const uint8_t *) source,
                                     source_len, generation, &decision)
            != JWTGUARD_RESULT_OK)
        {
            fprintf(stderr, "verify: verification failed\n");
            return 2;
        }

        verdict = jwtguard_decision_verdict(decision);
        if (verdict != JWTGUARD_VERDICT_PENDING) {
            break;
        }

        /* the remote key set is loading: wait for the fetch, then retry */
        generation = jwtguard_decision_pending_generation(decision);
        jwtguard_decision_free(decision);

        if (!jwtguard_verifier_wait_for_keys(verifier, generation,
                                             VERIFY_WAIT_MS))
        {
            fprintf(stderr, "verify: timed out waiting for the key set\n");
            return 2;
        }
    }

    status = report(decision);
    jwtguard_decision_free(decision);

    return status;
}


static int
report(const jwtguard_decision *decision)
{
    size_t          reason_len, message_len;
    const uint8_t  *reason, *message;

    switch (jwtguard_decision_verdict(decision)) {

    case JWTGUARD_VERDICT_ALLOW:
        printf("allow\n");
        return 0;

    case JWTGUARD_VERDICT_DENY:
        if (jwtguard_reason_name(jwtguard_decision_reason(decision), &reason,
                                 &reason_len)
            != JWTGUARD_RESULT_OK
            || jwtguard_decision_message(decision, &message, &message_len)
               != JWTGUARD_RESULT_OK)
        {
            fprintf(stderr, "verify: incomplete deny decision\n");
            return 2;
        }

        printf("deny %u %.*s: %.*s\n",
               (unsigned) jwtguard_decision_status(decision),
               (int) reason_len, (const char *) reason,
               (int) message_len, (const char *) message);
        return 1;

    default:
        fprintf(stderr, "verify: no decision\n");
        return 2;
    }
}
