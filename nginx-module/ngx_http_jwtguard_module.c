
/*
 * Copyright (C) jwtguard authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jwtguard.h>


/* how often a request waiting for the key set checks the key generation */
#define NGX_HTTP_JWTGUARD_POLL_INTERVAL  20

/* default jwtguard_key_wait, longer than the library's 10 s fetch timeout */
#define NGX_HTTP_JWTGUARD_KEY_WAIT       15000

/* room for the longest jwtguard_result_message() text */
#define NGX_HTTP_JWTGUARD_RESULT_LEN     128

/*
 * most "jwt rejected" lines a worker writes per second; a flood of bad
 * tokens would otherwise cost a log write each, more than rejecting them
 */
#define NGX_HTTP_JWTGUARD_REJECT_LOG_RATE  100


/* the inputs a verifier is built from, compared to share verifiers */
typedef struct {
    ngx_str_t                      file;
    ngx_msec_t                     leeway;
    ngx_msec_t                     fetch_timeout;
    ngx_msec_t                     connect_timeout;
    ngx_str_t                      ca_file;
    ngx_str_t                      realm;
    ngx_uint_t                     token_cache;
} ngx_http_jwtguard_settings_t;


typedef struct {
    ngx_http_jwtguard_settings_t   settings;
    jwtguard_verifier             *verifier;
    jwtguard_token_source          token_source;
    ngx_str_t                      token_name;
} ngx_http_jwtguard_policy_t;


typedef struct {
    ngx_array_t                    policies;  /* ngx_http_jwtguard_policy_t * */
} ngx_http_jwtguard_main_conf_t;


typedef struct {
    ngx_flag_t                     enable;
    ngx_http_jwtguard_settings_t   settings;
    ngx_msec_t                     key_wait;

    /* where jwtguard_policy was set, for errors found while merging */
    ngx_str_t                      conf_file;
    ngx_uint_t                     conf_line;

    ngx_http_jwtguard_policy_t    *policy;
} ngx_http_jwtguard_loc_conf_t;


typedef struct {
    jwtguard_decision             *decision;
    jwtguard_verdict               verdict;
    ngx_http_jwtguard_policy_t    *policy;

    /* a copy of the header value or query string, data is NULL if absent */
    ngx_str_t                      source;

    ngx_table_elt_t               *challenge;

    /* not 0 while the request waits for the key set */
    uint64_t                       pending_generation;
    ngx_msec_t                     wait_deadline;
} ngx_http_jwtguard_ctx_t;


typedef jwtguard_result (*ngx_http_jwtguard_member_pt)(
    const jwtguard_decision *decision, const uint8_t *name, size_t name_len,
    const uint8_t **value_out, size_t *value_len_out);


static ngx_int_t ngx_http_jwtguard_handler(ngx_http_request_t *r);
static void ngx_http_jwtguard_token_source(ngx_http_request_t *r,
    ngx_http_jwtguard_policy_t *policy, ngx_str_t *source);
static ngx_int_t ngx_http_jwtguard_verify(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx, ngx_http_jwtguard_policy_t *policy,
    ngx_str_t *source);
static ngx_int_t ngx_http_jwtguard_decide(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx);
static jwtguard_decision *ngx_http_jwtguard_unavailable(ngx_http_request_t *r,
    ngx_http_jwtguard_policy_t *policy);
static ngx_int_t ngx_http_jwtguard_wait(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx, ngx_http_jwtguard_policy_t *policy,
    uint64_t generation);
static void ngx_http_jwtguard_wait_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_jwtguard_keep_decision(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx, ngx_http_jwtguard_policy_t *policy,
    jwtguard_decision *decision, ngx_str_t *source);
static ngx_int_t ngx_http_jwtguard_set_challenge(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx);
static void ngx_http_jwtguard_log_denial(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx);
static void ngx_http_jwtguard_request_log(ngx_http_request_t *r,
    ngx_http_jwtguard_policy_t *policy, ngx_log_t *log);
static u_char *ngx_http_jwtguard_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static ngx_http_jwtguard_ctx_t *ngx_http_jwtguard_get_ctx(
    ngx_http_request_t *r);
static ngx_http_jwtguard_ctx_t *ngx_http_jwtguard_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_jwtguard_cleanup(void *data);
static void ngx_http_jwtguard_free_decision(void *data);
static ngx_uint_t ngx_http_jwtguard_same_str(ngx_str_t *a, ngx_str_t *b);
static void ngx_http_jwtguard_result_text(jwtguard_result rc, u_char *buf,
    ngx_str_t *text);

static ngx_int_t ngx_http_jwtguard_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_jwtguard_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_jwtguard_member_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_str_t *name, size_t prefix_len,
    ngx_http_jwtguard_member_pt get);
static ngx_uint_t ngx_http_jwtguard_has_control(u_char *value, size_t len);
static ngx_int_t ngx_http_jwtguard_payload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static jwtguard_decision *ngx_http_jwtguard_allowed(ngx_http_request_t *r);

static ngx_http_jwtguard_policy_t *ngx_http_jwtguard_find_policy(
    ngx_conf_t *cf, ngx_http_jwtguard_settings_t *settings);
static ngx_http_jwtguard_policy_t *ngx_http_jwtguard_load_policy(
    ngx_conf_t *cf, ngx_http_jwtguard_loc_conf_t *jlcf);
static ngx_http_jwtguard_policy_t *ngx_http_jwtguard_create_policy(
    ngx_conf_t *cf, ngx_http_jwtguard_settings_t *settings);
static jwtguard_options *ngx_http_jwtguard_create_options(ngx_conf_t *cf,
    ngx_http_jwtguard_settings_t *settings);
static void ngx_http_jwtguard_log_diagnostics(ngx_conf_t *cf,
    ngx_str_t *file, jwtguard_result rc, jwtguard_diagnostics *diagnostics);
static void ngx_http_jwtguard_log(void *data, jwtguard_log_level level,
    const uint8_t *message, size_t len);
static void ngx_http_jwtguard_free_verifier(void *data);

static ngx_int_t ngx_http_jwtguard_add_variables(ngx_conf_t *cf);
static void *ngx_http_jwtguard_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_jwtguard_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_jwtguard_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_jwtguard_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_jwtguard_init_process(ngx_cycle_t *cycle);
static void ngx_http_jwtguard_start(ngx_cycle_t *cycle,
    ngx_http_jwtguard_policy_t *policy);
static void ngx_http_jwtguard_exit_process(ngx_cycle_t *cycle);
static char *ngx_http_jwtguard_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_jwtguard_full_name(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_post_handler_pt  ngx_http_jwtguard_full_name_post =
    ngx_http_jwtguard_full_name;


static ngx_command_t  ngx_http_jwtguard_commands[] = {

    { ngx_string("jwtguard_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_jwtguard_policy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("jwtguard_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwtguard_loc_conf_t, settings.leeway),
      NULL },

    { ngx_string("jwtguard_ca_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwtguard_loc_conf_t, settings.ca_file),
      &ngx_http_jwtguard_full_name_post },

    { ngx_string("jwtguard_fetch_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwtguard_loc_conf_t, settings.fetch_timeout),
      NULL },

    { ngx_string("jwtguard_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwtguard_loc_conf_t, settings.connect_timeout),
      NULL },

    { ngx_string("jwtguard_realm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwtguard_loc_conf_t, settings.realm),
      NULL },

    { ngx_string("jwtguard_token_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwtguard_loc_conf_t, settings.token_cache),
      NULL },

    { ngx_string("jwtguard_key_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_jwtguard_loc_conf_t, key_wait),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_jwtguard_module_ctx = {
    ngx_http_jwtguard_add_variables,       /* preconfiguration */
    ngx_http_jwtguard_init,                /* postconfiguration */

    ngx_http_jwtguard_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_jwtguard_create_loc_conf,     /* create location configuration */
    ngx_http_jwtguard_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_jwtguard_module = {
    NGX_MODULE_V1,
    &ngx_http_jwtguard_module_ctx,         /* module context */
    ngx_http_jwtguard_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_jwtguard_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_jwtguard_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_jwtguard_vars[] = {

    { ngx_string("jwt_claim_"), NULL, ngx_http_jwtguard_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("jwt_header_"), NULL, ngx_http_jwtguard_header_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("jwt_payload"), NULL, ngx_http_jwtguard_payload_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_jwtguard_handler(ngx_http_request_t *r)
{
    ngx_str_t                      source;
    ngx_http_jwtguard_ctx_t       *ctx;
    ngx_http_jwtguard_policy_t    *policy;
    ngx_http_jwtguard_loc_conf_t  *jlcf;

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_jwtguard_module);

    policy = jlcf->policy;

    if (policy == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_jwtguard_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_jwtguard_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_http_jwtguard_token_source(r, policy, &source);

    /*
     * after an internal redirect to a location with the same policy the
     * request keeps its decision, so the token is verified and logged once
     */

    if (ctx->decision != NULL
        && ctx->policy == policy
        && ngx_http_jwtguard_same_str(&ctx->source, &source))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "jwtguard reuses the decision");

        return ngx_http_jwtguard_decide(r, ctx);
    }

    return ngx_http_jwtguard_verify(r, ctx, policy, &source);
}


static void
ngx_http_jwtguard_token_source(ngx_http_request_t *r,
    ngx_http_jwtguard_policy_t *policy, ngx_str_t *source)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *header;

    ngx_str_null(source);

    if (policy->token_source == JWTGUARD_TOKEN_SOURCE_QUERY) {

        if (r->args.len) {
            *source = r->args;
        }

        return;
    }

    part = &r->headers_in.headers.part;
    header = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].hash == 0
            || header[i].key.len != policy->token_name.len
            || ngx_strncasecmp(header[i].key.data, policy->token_name.data,
                               policy->token_name.len)
               != 0)
        {
            continue;
        }

        /* NOTE: of repeated headers, the first one is read */

        *source = header[i].value;
        return;
    }
}


static ngx_int_t
ngx_http_jwtguard_verify(ngx_http_request_t *r, ngx_http_jwtguard_ctx_t *ctx,
    ngx_http_jwtguard_policy_t *policy, ngx_str_t *source)
{
    uint64_t            generation;
    ngx_int_t           waited;
    ngx_log_t           log;
    ngx_str_t           text;
    jwtguard_result     rc;
    jwtguard_verdict    verdict;
    jwtguard_decision  *decision;
    u_char              buf[NGX_HTTP_JWTGUARD_RESULT_LEN];

    decision = NULL;

    rc = jwtguard_verifier_verify(policy->verifier, source->data,
                                  source->len, ctx->pending_generation,
                                  &decision);

    if (rc != JWTGUARD_RESULT_OK) {
        ngx_http_jwtguard_result_text(rc, buf, &text);
        ngx_http_jwtguard_request_log(r, policy, &log);
        ngx_log_error(NGX_LOG_ALERT, &log, 0,
                      "jwtguard_verifier_verify() failed: %V", &text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    verdict = jwtguard_decision_verdict(decision);

    if (verdict == JWTGUARD_VERDICT_PENDING) {
        generation = jwtguard_decision_pending_generation(decision);
        jwtguard_decision_free(decision);

        if (generation == 0) {
            ngx_http_jwtguard_request_log(r, policy, &log);
            ngx_log_error(NGX_LOG_ALERT, &log, 0,
                          "jwtguard returned a pending decision "
                          "without a key generation");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        waited = ngx_http_jwtguard_wait(r, ctx, policy, generation);
        if (waited != NGX_DECLINED) {
            return waited;
        }

        /* the wait is over: deny as the library does when keys are missing */

        decision = ngx_http_jwtguard_unavailable(r, policy);
        if (decision == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        verdict = jwtguard_decision_verdict(decision);
    }

    ctx->pending_generation = 0;

    if (ngx_http_jwtguard_keep_decision(r, ctx, policy, decision, source)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (verdict == JWTGUARD_VERDICT_DENY) {
        ngx_http_jwtguard_log_denial(r, ctx);
    }

    return ngx_http_jwtguard_decide(r, ctx);
}


static ngx_int_t
ngx_http_jwtguard_decide(ngx_http_request_t *r, ngx_http_jwtguard_ctx_t *ctx)
{
    ngx_uint_t  status;

    switch (ctx->verdict) {

    case JWTGUARD_VERDICT_ALLOW:
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "jwtguard allows the request");
        return NGX_OK;

    case JWTGUARD_VERDICT_DENY:
        status = jwtguard_decision_status(ctx->decision);

        if (status < NGX_HTTP_BAD_REQUEST || status > 599) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "jwtguard returned invalid status %ui", status);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_jwtguard_set_challenge(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        return status;

    default:
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "jwtguard returned invalid verdict %ui",
                      (ngx_uint_t) ctx->verdict);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static jwtguard_decision *
ngx_http_jwtguard_unavailable(ngx_http_request_t *r,
    ngx_http_jwtguard_policy_t *policy)
{
    u_char                        *last;
    ngx_log_t                      log;
    ngx_str_t                      text;
    jwtguard_result                rc;
    jwtguard_decision             *decision;
    ngx_http_jwtguard_loc_conf_t  *jlcf;
    u_char                         buf[NGX_HTTP_JWTGUARD_RESULT_LEN];

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_jwtguard_module);

    last = ngx_snprintf(buf, sizeof(buf),
                        "the key set did not load within %M ms",
                        jlcf->key_wait);

    decision = NULL;

    rc = jwtguard_verifier_deny_unavailable(policy->verifier, buf,
                                            last - buf, &decision);

    if (rc != JWTGUARD_RESULT_OK) {
        ngx_http_jwtguard_result_text(rc, buf, &text);
        ngx_http_jwtguard_request_log(r, policy, &log);
        ngx_log_error(NGX_LOG_ALERT, &log, 0,
                      "jwtguard_verifier_deny_unavailable() failed: %V",
                      &text);
        return NULL;
    }

    return decision;
}


static ngx_int_t
ngx_http_jwtguard_wait(ngx_http_request_t *r, ngx_http_jwtguard_ctx_t *ctx,
    ngx_http_jwtguard_policy_t *policy, uint64_t generation)
{
    ngx_msec_int_t                 remaining;
    ngx_http_jwtguard_loc_conf_t  *jlcf;

    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_jwtguard_module);

    if (ctx->pending_generation == 0) {
        ctx->wait_deadline = ngx_current_msec + jlcf->key_wait;
    }

    remaining = (ngx_msec_int_t) (ctx->wait_deadline - ngx_current_msec);

    if (remaining <= 0) {
        ctx->pending_generation = 0;
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "jwtguard waits for key generation %uL to change",
                   generation);

    ctx->pending_generation = generation;

    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);

    } else {
        if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * the poll timer runs on the write event, as limit_req's delay does,
     * so closing the connection also removes the timer
     */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_jwtguard_wait_handler;

    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write,
                  ngx_min((ngx_msec_t) remaining,
                          NGX_HTTP_JWTGUARD_POLL_INTERVAL));

    return NGX_AGAIN;
}


static void
ngx_http_jwtguard_wait_handler(ngx_http_request_t *r)
{
    uint64_t                       generation;
    ngx_event_t                   *wev;
    ngx_msec_int_t                 remaining;
    ngx_http_jwtguard_ctx_t       *ctx;
    ngx_http_jwtguard_loc_conf_t  *jlcf;

    wev = r->connection->write;

    if (wev->delayed) {

        /* the socket became writable, the timer is still running */

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_jwtguard_module);
    jlcf = ngx_http_get_module_loc_conf(r, ngx_http_jwtguard_module);

    generation = jwtguard_verifier_keys_generation(jlcf->policy->verifier);
    remaining = (ngx_msec_int_t) (ctx->wait_deadline - ngx_current_msec);

    if (generation == ctx->pending_generation && remaining > 0) {
        wev->delayed = 1;
        ngx_add_timer(wev, ngx_min((ngx_msec_t) remaining,
                                   NGX_HTTP_JWTGUARD_POLL_INTERVAL));
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "jwtguard wait ended at key generation %uL", generation);

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_jwtguard_keep_decision(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx, ngx_http_jwtguard_policy_t *policy,
    jwtguard_decision *decision, ngx_str_t *source)
{
    u_char              *copy;
    ngx_pool_cleanup_t  *cln;

    copy = NULL;

    if (source->data != NULL) {
        copy = ngx_pnalloc(r->pool, source->len);
        if (copy == NULL) {
            jwtguard_decision_free(decision);
            return NGX_ERROR;
        }

        ngx_memcpy(copy, source->data, source->len);
    }

    if (ctx->decision != NULL) {

        /*
         * variables may still point into the previous decision,
         * so it is freed with the request
         */

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            jwtguard_decision_free(decision);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_jwtguard_free_decision;
        cln->data = ctx->decision;
    }

    ctx->decision = decision;
    ctx->policy = policy;
    ctx->verdict = jwtguard_decision_verdict(decision);
    ctx->source.data = copy;
    ctx->source.len = source->len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_jwtguard_set_challenge(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx)
{
    size_t            len;
    const uint8_t    *value;
    ngx_table_elt_t  *h;

    if (jwtguard_decision_www_authenticate(ctx->decision, &value, &len)
        != JWTGUARD_RESULT_OK
        || len == 0)
    {
        return NGX_OK;
    }

    h = ctx->challenge;

    /*
     * NOTE: with "satisfy any", a later handler that sets its own challenge
     * takes r->headers_out.www_authenticate; if a third handler then grants
     * access, nginx hides only that challenge, and this one is still sent
     */

    if (h == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ctx->challenge = h;

        if (r->headers_out.www_authenticate == NULL) {
            r->headers_out.www_authenticate = h;
        }
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.data = (u_char *) value;
    h->value.len = len;

    return NGX_OK;
}


/* per worker: the second being counted and its "jwt rejected" lines */
static time_t      ngx_http_jwtguard_reject_second;
static ngx_uint_t  ngx_http_jwtguard_reject_lines;
static ngx_uint_t  ngx_http_jwtguard_reject_unlogged;


static void
ngx_http_jwtguard_log_denial(ngx_http_request_t *r,
    ngx_http_jwtguard_ctx_t *ctx)
{
    size_t            len;
    ngx_str_t         message, reason;
    ngx_log_t         log;
    const uint8_t    *text;
    jwtguard_reason   code;

    ngx_http_jwtguard_request_log(r, ctx->policy, &log);

    ngx_str_null(&message);

    if (jwtguard_decision_message(ctx->decision, &text, &len)
        == JWTGUARD_RESULT_OK)
    {
        message.data = (u_char *) text;
        message.len = len;
    }

    code = jwtguard_decision_reason(ctx->decision);

    if (jwtguard_reason_is_missing_token(code)) {
        ngx_log_error(NGX_LOG_INFO, &log, 0, "no jwt supplied: %V",
                      &message);
        return;
    }

    ngx_str_set(&reason, "unknown");

    if (jwtguard_reason_name(code, &text, &len) == JWTGUARD_RESULT_OK) {
        reason.data = (u_char *) text;
        reason.len = len;
    }

    if (ngx_time() != ngx_http_jwtguard_reject_second) {
        ngx_http_jwtguard_reject_second = ngx_time();
        ngx_http_jwtguard_reject_lines = 0;
    }

    if (ngx_http_jwtguard_reject_lines++
        >= NGX_HTTP_JWTGUARD_REJECT_LOG_RATE)
    {
        ngx_http_jwtguard_reject_unlogged++;
        return;
    }

    if (ngx_http_jwtguard_reject_unlogged) {
        ngx_log_error(NGX_LOG_ERR, &log, 0,
                      "jwt rejected (%V): %V; %ui earlier rejections "
                      "were not logged", &reason, &message,
                      ngx_http_jwtguard_reject_unlogged);
        ngx_http_jwtguard_reject_unlogged = 0;
        return;
    }

    ngx_log_error(NGX_LOG_ERR, &log, 0, "jwt rejected (%V): %V",
                  &reason, &message);
}


static void
ngx_http_jwtguard_request_log(ngx_http_request_t *r,
    ngx_http_jwtguard_policy_t *policy, ngx_log_t *log)
{
    *log = *r->connection->log;

    /* keep a token in the query string out of the log line */

    if (policy->token_source == JWTGUARD_TOKEN_SOURCE_QUERY
        && log->handler != NULL)
    {
        log->handler = ngx_http_jwtguard_log_error;
    }
}


/*
 * writes the log context as ngx_http_log_error() does, with the request
 * path in place of the request line, which contains the query string
 */

static u_char *
ngx_http_jwtguard_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                    *p;
    ngx_http_request_t        *r;
    ngx_http_log_ctx_t        *ctx;
    ngx_http_core_srv_conf_t  *cscf;

    ctx = log->data;
    p = buf;

    if (log->action) {
        p = ngx_snprintf(p, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    p = ngx_snprintf(p, len, ", client: %V", &ctx->connection->addr_text);
    len -= p - buf;
    buf = p;

    r = ctx->request;

    if (r == NULL) {
        return p;
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    p = ngx_snprintf(p, len, ", server: %V, request: \"%V %V\"",
                     &cscf->server_name, &r->method_name, &r->uri);

    return p;
}


static ngx_http_jwtguard_ctx_t *
ngx_http_jwtguard_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_jwtguard_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_jwtguard_module);

    if (ctx != NULL || !r->internal) {
        return ctx;
    }

    /*
     * an internal redirect clears the module contexts, but the pool
     * cleanup that frees the decision still points to the context
     */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_jwtguard_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_jwtguard_module);
            return ctx;
        }
    }

    return NULL;
}


static ngx_http_jwtguard_ctx_t *
ngx_http_jwtguard_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_jwtguard_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_jwtguard_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_jwtguard_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_jwtguard_module);

    return ctx;
}


static void
ngx_http_jwtguard_cleanup(void *data)
{
    ngx_http_jwtguard_ctx_t  *ctx = data;

    if (ctx->decision != NULL) {
        jwtguard_decision_free(ctx->decision);
        ctx->decision = NULL;
    }
}


static void
ngx_http_jwtguard_free_decision(void *data)
{
    jwtguard_decision_free(data);
}


static ngx_uint_t
ngx_http_jwtguard_same_str(ngx_str_t *a, ngx_str_t *b)
{
    if (a->data == NULL || b->data == NULL) {
        return a->data == b->data;
    }

    return a->len == b->len && ngx_memcmp(a->data, b->data, a->len) == 0;
}


static void
ngx_http_jwtguard_result_text(jwtguard_result rc, u_char *buf,
    ngx_str_t *text)
{
    size_t  len;

    len = jwtguard_result_message(rc, buf, NGX_HTTP_JWTGUARD_RESULT_LEN);

    text->data = buf;
    text->len = ngx_min(len, NGX_HTTP_JWTGUARD_RESULT_LEN);
}


static ngx_int_t
ngx_http_jwtguard_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_http_jwtguard_member_variable(r, v, (ngx_str_t *) data,
                                             sizeof("jwt_claim_") - 1,
                                             jwtguard_decision_claim);
}


static ngx_int_t
ngx_http_jwtguard_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_http_jwtguard_member_variable(r, v, (ngx_str_t *) data,
                                             sizeof("jwt_header_") - 1,
                                             jwtguard_decision_header);
}


static ngx_int_t
ngx_http_jwtguard_member_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_str_t *name, size_t prefix_len,
    ngx_http_jwtguard_member_pt get)
{
    size_t              len;
    ngx_str_t           text;
    const uint8_t      *value;
    jwtguard_result     rc;
    jwtguard_decision  *decision;
    u_char              buf[NGX_HTTP_JWTGUARD_RESULT_LEN];

    decision = ngx_http_jwtguard_allowed(r);

    if (decision == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    rc = get(decision, name->data + prefix_len, name->len - prefix_len,
             &value, &len);

    if (rc == JWTGUARD_RESULT_NOT_FOUND) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (rc != JWTGUARD_RESULT_OK) {
        ngx_http_jwtguard_result_text(rc, buf, &text);
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "jwtguard failed to read variable \"%V\": %V",
                      name, &text);
        return NGX_ERROR;
    }

    /*
     * CR, LF and NUL would split a header built from the value, and other
     * control characters (DEL too) break strict upstream parsers, so such
     * a value reads as not found; a tab is allowed
     */

    if (ngx_http_jwtguard_has_control((u_char *) value, len)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "jwtguard variable \"%V\" has a control character",
                       name);
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = (u_char *) value;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_jwtguard_has_control(u_char *value, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((value[i] < 0x20 && value[i] != '\t') || value[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_jwtguard_payload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char             *p;
    size_t              len, i;
    const uint8_t      *payload;
    jwtguard_decision  *decision;

    decision = ngx_http_jwtguard_allowed(r);

    if (decision == NULL
        || jwtguard_decision_payload(decision, &payload, &len)
           != JWTGUARD_RESULT_OK)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    /*
     * valid JSON has CR and LF only as whitespace between tokens, so
     * spaces replace them and the text fits in a header
     */

    p = (u_char *) payload;

    if (ngx_strlchr(p, p + len, CR) != NULL
        || ngx_strlchr(p, p + len, LF) != NULL)
    {
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < len; i++) {
            p[i] = (payload[i] == CR || payload[i] == LF) ? ' ' : payload[i];
        }
    }

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static jwtguard_decision *
ngx_http_jwtguard_allowed(ngx_http_request_t *r)
{
    ngx_http_jwtguard_ctx_t  *ctx;

    /* subrequests see the decision of the main request */

    ctx = ngx_http_jwtguard_get_ctx(r->main);

    if (ctx == NULL
        || ctx->decision == NULL
        || ctx->verdict != JWTGUARD_VERDICT_ALLOW)
    {
        return NULL;
    }

    return ctx->decision;
}


static ngx_http_jwtguard_policy_t *
ngx_http_jwtguard_find_policy(ngx_conf_t *cf,
    ngx_http_jwtguard_settings_t *settings)
{
    ngx_uint_t                      i;
    ngx_http_jwtguard_policy_t    **policies;
    ngx_http_jwtguard_settings_t   *s;
    ngx_http_jwtguard_main_conf_t  *jmcf;

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_jwtguard_module);

    policies = jmcf->policies.elts;

    for (i = 0; i < jmcf->policies.nelts; i++) {
        s = &policies[i]->settings;

        if (s->leeway == settings->leeway
            && s->fetch_timeout == settings->fetch_timeout
            && s->connect_timeout == settings->connect_timeout
            && s->token_cache == settings->token_cache
            && ngx_http_jwtguard_same_str(&s->file, &settings->file)
            && ngx_http_jwtguard_same_str(&s->ca_file, &settings->ca_file)
            && ngx_http_jwtguard_same_str(&s->realm, &settings->realm))
        {
            return policies[i];
        }
    }

    return NULL;
}


static ngx_http_jwtguard_policy_t *
ngx_http_jwtguard_load_policy(ngx_conf_t *cf,
    ngx_http_jwtguard_loc_conf_t *jlcf)
{
    ngx_conf_file_t              *saved, directive;
    ngx_http_jwtguard_policy_t   *policy;

    /*
     * locations are merged after the http block is parsed, so the
     * directive's own file and line are put back for the log messages
     */

    saved = cf->conf_file;

    directive = *saved;
    directive.file.name = jlcf->conf_file;
    directive.line = jlcf->conf_line;

    cf->conf_file = &directive;

    policy = ngx_http_jwtguard_create_policy(cf, &jlcf->settings);

    cf->conf_file = saved;

    return policy;
}


static ngx_http_jwtguard_policy_t *
ngx_http_jwtguard_create_policy(ngx_conf_t *cf,
    ngx_http_jwtguard_settings_t *settings)
{
    size_t                          len;
    ngx_str_t                       text;
    const uint8_t                  *name;
    jwtguard_result                 rc;
    jwtguard_options               *options;
    jwtguard_verifier              *verifier;
    ngx_pool_cleanup_t             *cln;
    jwtguard_diagnostics           *diagnostics;
    ngx_http_jwtguard_policy_t     *policy, **p;
    ngx_http_jwtguard_main_conf_t  *jmcf;
    u_char                          buf[NGX_HTTP_JWTGUARD_RESULT_LEN];

    options = ngx_http_jwtguard_create_options(cf, settings);
    if (options == NULL) {
        return NULL;
    }

    verifier = NULL;
    diagnostics = NULL;

    rc = jwtguard_verifier_new_from_file(settings->file.data,
                                         settings->file.len, options,
                                         &verifier, &diagnostics);

    jwtguard_options_free(options);

    ngx_http_jwtguard_log_diagnostics(cf, &settings->file, rc, diagnostics);
    jwtguard_diagnostics_free(diagnostics);

    if (rc != JWTGUARD_RESULT_OK) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        jwtguard_verifier_free(verifier);
        return NULL;
    }

    cln->handler = ngx_http_jwtguard_free_verifier;
    cln->data = verifier;

    policy = ngx_pcalloc(cf->pool, sizeof(ngx_http_jwtguard_policy_t));
    if (policy == NULL) {
        return NULL;
    }

    policy->settings = *settings;
    policy->verifier = verifier;
    policy->token_source = jwtguard_verifier_token_source(verifier);

    rc = jwtguard_verifier_token_name(verifier, &name, &len);

    if (rc != JWTGUARD_RESULT_OK) {
        ngx_http_jwtguard_result_text(rc, buf, &text);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "jwtguard_verifier_token_name() failed: %V",
                           &text);
        return NULL;
    }

    policy->token_name.data = (u_char *) name;
    policy->token_name.len = len;

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_jwtguard_module);

    p = ngx_array_push(&jmcf->policies);
    if (p == NULL) {
        return NULL;
    }

    *p = policy;

    return policy;
}


static jwtguard_options *
ngx_http_jwtguard_create_options(ngx_conf_t *cf,
    ngx_http_jwtguard_settings_t *settings)
{
    char              *directive;
    ngx_str_t          text;
    jwtguard_result    rc;
    jwtguard_options  *options;
    u_char             buf[NGX_HTTP_JWTGUARD_RESULT_LEN];

    options = jwtguard_options_new();
    if (options == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "jwtguard_options_new() failed");
        return NULL;
    }

    directive = "jwtguard_leeway";
    rc = jwtguard_options_set_leeway_ms(options, settings->leeway);

    if (rc != JWTGUARD_RESULT_OK) {
        goto failed;
    }

    if (settings->fetch_timeout != NGX_CONF_UNSET_MSEC) {
        directive = "jwtguard_fetch_timeout";
        rc = jwtguard_options_set_fetch_timeout_ms(options,
                                                   settings->fetch_timeout);
        if (rc != JWTGUARD_RESULT_OK) {
            goto failed;
        }
    }

    if (settings->connect_timeout != NGX_CONF_UNSET_MSEC) {
        directive = "jwtguard_connect_timeout";
        rc = jwtguard_options_set_connect_timeout_ms(options,
                                                    settings->connect_timeout);
        if (rc != JWTGUARD_RESULT_OK) {
            goto failed;
        }
    }

    if (settings->token_cache != NGX_CONF_UNSET_UINT) {
        directive = "jwtguard_token_cache";
        rc = jwtguard_options_set_token_cache_entries(options,
                                                      settings->token_cache);
        if (rc != JWTGUARD_RESULT_OK) {
            goto failed;
        }
    }

    if (settings->ca_file.len) {
        directive = "jwtguard_ca_file";
        rc = jwtguard_options_set_ca_file(options, settings->ca_file.data,
                                          settings->ca_file.len);
        if (rc != JWTGUARD_RESULT_OK) {
            goto failed;
        }
    }

    if (settings->realm.len) {
        directive = "jwtguard_realm";
        rc = jwtguard_options_set_realm(options, settings->realm.data,
                                        settings->realm.len);
        if (rc != JWTGUARD_RESULT_OK) {
            goto failed;
        }
    }

    /*
     * the callback runs in the key set fetch thread of each worker and
     * writes to the main error log, as thread pool tasks do
     */

    directive = "jwtguard_policy";
    rc = jwtguard_options_set_log_callback(options, ngx_http_jwtguard_log,
                                           &cf->cycle->new_log);
    if (rc != JWTGUARD_RESULT_OK) {
        goto failed;
    }

    return options;

failed:

    ngx_http_jwtguard_result_text(rc, buf, &text);

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid \"%s\" value: %V",
                       directive, &text);

    jwtguard_options_free(options);

    return NULL;
}


static void
ngx_http_jwtguard_log_diagnostics(ngx_conf_t *cf, ngx_str_t *file,
    jwtguard_result rc, jwtguard_diagnostics *diagnostics)
{
    size_t          i, n, len;
    ngx_str_t       text;
    const uint8_t  *p;
    u_char          buf[NGX_HTTP_JWTGUARD_RESULT_LEN];

    if (diagnostics == NULL) {
        if (rc != JWTGUARD_RESULT_OK) {
            ngx_http_jwtguard_result_text(rc, buf, &text);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "failed to load jwtguard policy \"%V\": %V",
                               file, &text);
        }

        return;
    }

    n = jwtguard_diagnostics_warning_count(diagnostics);

    for (i = 0; i < n; i++) {
        if (jwtguard_diagnostics_warning(diagnostics, i, &p, &len)
            != JWTGUARD_RESULT_OK)
        {
            continue;
        }

        text.data = (u_char *) p;
        text.len = len;

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "jwtguard policy \"%V\": %V",
                           file, &text);
    }

    if (rc == JWTGUARD_RESULT_OK) {
        return;
    }

    if (jwtguard_diagnostics_error(diagnostics, &p, &len)
        == JWTGUARD_RESULT_OK)
    {
        text.data = (u_char *) p;
        text.len = len;

    } else {
        ngx_http_jwtguard_result_text(rc, buf, &text);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "failed to load jwtguard policy \"%V\": %V",
                       file, &text);
}


static void
ngx_http_jwtguard_log(void *data, jwtguard_log_level level,
    const uint8_t *message, size_t len)
{
    ngx_log_t   *log = data;
    ngx_str_t    text;
    ngx_uint_t   nginx_level;

    switch (level) {

    case JWTGUARD_LOG_LEVEL_ERROR:
        nginx_level = NGX_LOG_ERR;
        break;

    case JWTGUARD_LOG_LEVEL_WARN:
        nginx_level = NGX_LOG_WARN;
        break;

    case JWTGUARD_LOG_LEVEL_INFO:
        nginx_level = NGX_LOG_INFO;
        break;

    default:
        nginx_level = NGX_LOG_DEBUG;
        break;
    }

    text.data = (u_char *) message;
    text.len = len;

    ngx_log_error(nginx_level, log, 0, "jwtguard: %V", &text);
}


static void
ngx_http_jwtguard_free_verifier(void *data)
{
    jwtguard_verifier_free(data);
}


static ngx_int_t
ngx_http_jwtguard_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_jwtguard_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_jwtguard_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_jwtguard_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_jwtguard_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&jmcf->policies, cf->pool, 2,
                       sizeof(ngx_http_jwtguard_policy_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return jmcf;
}


static void *
ngx_http_jwtguard_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_jwtguard_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_jwtguard_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->settings.file = { 0, NULL };
     *     conf->settings.ca_file = { 0, NULL };
     *     conf->settings.realm = { 0, NULL };
     *     conf->conf_file = { 0, NULL };
     *     conf->conf_line = 0;
     *     conf->policy = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->settings.leeway = NGX_CONF_UNSET_MSEC;
    conf->settings.fetch_timeout = NGX_CONF_UNSET_MSEC;
    conf->settings.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->settings.token_cache = NGX_CONF_UNSET_UINT;
    conf->key_wait = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_jwtguard_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_jwtguard_loc_conf_t *prev = parent;
    ngx_http_jwtguard_loc_conf_t *conf = child;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->settings.file = prev->settings.file;
        conf->conf_file = prev->conf_file;
        conf->conf_line = prev->conf_line;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    ngx_conf_merge_msec_value(conf->settings.leeway, prev->settings.leeway, 0);

    /* unset timeouts keep the library's defaults */

    ngx_conf_merge_msec_value(conf->settings.fetch_timeout,
                              prev->settings.fetch_timeout,
                              NGX_CONF_UNSET_MSEC);
    ngx_conf_merge_msec_value(conf->settings.connect_timeout,
                              prev->settings.connect_timeout,
                              NGX_CONF_UNSET_MSEC);

    ngx_conf_merge_uint_value(conf->settings.token_cache,
                              prev->settings.token_cache, NGX_CONF_UNSET_UINT);

    ngx_conf_merge_str_value(conf->settings.ca_file, prev->settings.ca_file,
                             "");
    ngx_conf_merge_str_value(conf->settings.realm, prev->settings.realm, "");

    ngx_conf_merge_msec_value(conf->key_wait, prev->key_wait,
                              NGX_HTTP_JWTGUARD_KEY_WAIT);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    /* locations with the same policy file and options share a verifier */

    conf->policy = ngx_http_jwtguard_find_policy(cf, &conf->settings);

    if (conf->policy == NULL) {
        conf->policy = ngx_http_jwtguard_load_policy(cf, conf);
        if (conf->policy == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_jwtguard_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_jwtguard_main_conf_t  *jmcf;

    /* locations are merged by now, so an empty list means no policy is used */

    jmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_jwtguard_module);

    if (jmcf->policies.nelts == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_jwtguard_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_jwtguard_init_process(ngx_cycle_t *cycle)
{
    int                             err;
    sigset_t                        set, saved;
    ngx_uint_t                      i;
    ngx_http_jwtguard_policy_t    **policies;
    ngx_http_jwtguard_main_conf_t  *jmcf;

    /* cache manager and loader processes serve no requests */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    jmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_jwtguard_module);
    if (jmcf == NULL) {
        return NGX_OK;
    }

    /*
     * the fetch threads inherit this signal mask, so signals sent to the
     * process reach the event loop, as with nginx's thread pools
     */

    sigfillset(&set);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);

    err = pthread_sigmask(SIG_BLOCK, &set, &saved);
    if (err) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, err,
                      "pthread_sigmask() failed");
        return NGX_ERROR;
    }

    policies = jmcf->policies.elts;

    for (i = 0; i < jmcf->policies.nelts; i++) {
        ngx_http_jwtguard_start(cycle, policies[i]);
    }

    err = pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (err) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, err,
                      "pthread_sigmask() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_jwtguard_start(ngx_cycle_t *cycle,
    ngx_http_jwtguard_policy_t *policy)
{
    ngx_str_t        text;
    jwtguard_result  rc;
    u_char           buf[NGX_HTTP_JWTGUARD_RESULT_LEN];

    /* fetch threads do not survive fork(), so each worker starts its own */

    rc = jwtguard_verifier_start(policy->verifier);

    if (rc == JWTGUARD_RESULT_OK) {
        return;
    }

    /* requests under this policy are then denied */

    ngx_http_jwtguard_result_text(rc, buf, &text);
    ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                  "jwtguard_verifier_start() failed for policy \"%V\": %V",
                  &policy->settings.file, &text);
}


static void
ngx_http_jwtguard_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_http_jwtguard_policy_t    **policies;
    ngx_http_jwtguard_main_conf_t  *jmcf;

    jmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_jwtguard_module);
    if (jmcf == NULL) {
        return;
    }

    policies = jmcf->policies.elts;

    for (i = 0; i < jmcf->policies.nelts; i++) {
        jwtguard_verifier_stop(policies[i]->verifier);
    }
}


static char *
ngx_http_jwtguard_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_jwtguard_loc_conf_t *jlcf = conf;

    ngx_str_t  *value;

    if (jlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        jlcf->enable = 0;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty jwtguard policy file name");
        return NGX_CONF_ERROR;
    }

    jlcf->settings.file = value[1];

    if (ngx_conf_full_name(cf->cycle, &jlcf->settings.file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    jlcf->conf_file = cf->conf_file->file.name;
    jlcf->conf_line = cf->conf_file->line;
    jlcf->enable = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_jwtguard_full_name(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
