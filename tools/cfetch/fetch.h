/*
 * ctk/fetch.h: cfetch's transfer engine on libcurl. One URL is one unit of
 * work: the blocking form (`run`, for sync, thread and process) drives one
 * easy handle per thread, kept for the thread's life so connections are
 * reused; the non-blocking form (`start`, for async) drives one curl multi
 * handle from the strategy's libuv loop through curl's socket and timer
 * callbacks. Retries with exponential backoff and jitter, Retry-After,
 * stall detection, --per-host limits and the body's destination (a file,
 * renamed into place only when complete, or the result) live here too.
 */
#ifndef CTK_FETCH_H
#define CTK_FETCH_H

#include <stdint.h>

#include "ctk/plugin.h"

typedef struct ctk_fetch_opts {
    double timeout;             /* seconds per attempt; 0: none */
    double connect_timeout;     /* seconds; 0: curl's default */
    unsigned retries;           /* extra attempts after the first */
    double retry_delay;         /* first backoff, seconds (doubles each time) */
    double retry_max;           /* cap on one wait, backoff or Retry-After */
    int fail;                   /* 4xx/5xx responses are failures */
    int follow;                 /* -L */
    long max_redirs;            /* with follow; -1: curl's default */
    const char *const *headers; /* "Name: value", NULL-terminated, or NULL */
    const char *user_agent;     /* NULL: "cfetch/VERSION" */
    int head;                   /* -X HEAD */
    uint64_t max_filesize;      /* 0: no limit */
    double stall_timeout;       /* 0: none */
    uint64_t stall_speed;       /* bytes/s below which a transfer stalls */
    int http2;
    unsigned per_host; /* 0: no limit */
    int keep_body;     /* the body travels back in the result (--body) */
    unsigned jobs;     /* transfers at once (async keeps that many connections); 0: unknown */
} ctk_fetch_opts;

typedef struct ctk_fetch ctk_fetch;

/* Call before any thread starts (curl's global init is not thread-safe). */
int ctk_fetch_new(ctk_fetch **out, const ctk_fetch_opts *opts);
void ctk_fetch_free(ctk_fetch *f);
ctk_work ctk_fetch_work(ctk_fetch *f);
/* The pipeline's cancel flag: async transfers poll it (blocking ones get
 * the flag from `run`). */
void ctk_fetch_set_cancel_flag(ctk_fetch *f, const int *cancel);

/* ---- units and results --------------------------------------------------- */

/* What a unit asks: fetch url into path ("" or NULL: no file). */
int ctk_fetch_encode(ctk_buf *in, const char *url, const char *path);

typedef struct ctk_fetch_result {
    long status;               /* HTTP status of the last response; 0: none */
    unsigned attempts;         /* 0: skipped (already done, per the journal) */
    uint64_t bytes;            /* body bytes of the last response */
    double elapsed;            /* seconds, first attempt to the end, waits included */
    double ttfb;               /* seconds to the first byte of the last attempt */
    const char *path;          /* where the body went, or "" */
    const char *error;         /* "" when it succeeded */
    const unsigned char *body; /* keep_body only */
    size_t body_len;
} ctk_fetch_result;

/* A unit that is answered from the journal: it skips the network but goes
 * through the strategy like any other, so it still gets its record. */
int ctk_fetch_encode_skip(ctk_buf *in, const char *url, const ctk_fetch_result *r);
/* Where the body of path is written until it is complete (malloc'd):
 * ".NAME.cfetch-part" beside it. */
char *ctk_fetch_partial_path(const char *path);
/* Reads the URL and path of a unit (pointers into in). */
int ctk_fetch_decode(const ctk_buf *in, const char **url, const char **path);
/* Reads a result (pointers into out). CTK_EINVAL when out holds none. */
int ctk_fetch_result_decode(const ctk_buf *out, ctk_fetch_result *r);

/* ---- the retry policy (pure functions, for tests) -------------------------- */

/* Whether an attempt that ended with curl code `curl_code` (a CURLcode)
 * and HTTP status `status` is worth another: connection errors, timeouts,
 * stalls, cut-off bodies, 408, 429 and 5xx. */
int ctk_fetch_retryable(int curl_code, long status);
/* The wait before attempt `attempt` + 1 (attempt >= 1): base * 2^(attempt-1),
 * at most cap, scaled by a jitter factor in [0.5, 1) from u in [0, 1). */
double ctk_fetch_backoff(unsigned attempt, double base, double cap, double u);
/* A Retry-After value, delta-seconds or an HTTP-date, as seconds from
 * `now` (seconds since the epoch); -1 when it is neither. A date in the
 * past is 0. */
double ctk_fetch_retry_after(const char *value, double now);

#endif
