/*
 * transfer.h: one URL's transfer on one curl easy handle, step by step
 * (set-up, each attempt's options and verdict, the settled result), the
 * options every transfer shares, and the retry policy. Both engines,
 * blocking (fetch-block.c) and async (fetch-async.c), drive a transfer
 * through these same steps, so they cannot disagree about a result.
 * Depends only on fetchunit.h: it never calls back into an engine.
 */
#ifndef CTK_TRANSFER_H
#define CTK_TRANSFER_H

#include <curl/curl.h>
#include <glib.h>
#include <stdint.h>

#include "fetchunit.h"

typedef struct ctk_fetch_opts {
    double timeout;             /* seconds per attempt; 0: none */
    double connect_timeout;     /* seconds; 0: curl's default */
    unsigned retries;           /* extra attempts after the first */
    double retry_delay;         /* first backoff, seconds (doubles each time) */
    double retry_max;           /* cap on one wait, backoff or Retry-After */
    int fail;                   /* 4xx/5xx responses are failures */
    int content_on_error;       /* a failed 4xx/5xx response's body is kept */
    int durable;                /* fsync a body and its folder before it counts (--journal) */
    const char *trusted_dir;    /* folders the user named (-P, -o, -O's literal head): links
                                 * followed there, never below; NULL or "": none */
    int follow;                 /* -L */
    long max_redirs;            /* with follow; -1: curl's default */
    const char *const *headers; /* "Name: value", NULL-terminated, or NULL */
    const char *user_agent;     /* NULL: "cfetch/VERSION" */
    int head;                   /* -X HEAD */
    uint64_t max_filesize;      /* 0: no limit */
    double stall_timeout;       /* 0: none */
    uint64_t stall_speed;       /* bytes/s below which a transfer stalls */
    int http2;
    unsigned per_host;  /* 0: no limit */
    int keep_body;      /* the body travels back in the result (--body) */
    unsigned jobs;      /* transfers at once (async keeps that many connections); 0: unknown */
    const char *method; /* -X other than GET/HEAD, or NULL */
    const char *data;   /* -d/--data-binary: the request body, or NULL */
    size_t data_len;
    const char *userpwd; /* -u user:pass, or NULL */
    int insecure;        /* --insecure: no certificate or host check */
    int k_hint;          /* -k was typed: a failed check names --insecure */
    int compressed;      /* --compressed: ask for and decode gzip, deflate... */
    int resume;          /* -c/-C -: continue the file at the final name */
    uint64_t limit_rate; /* bytes/s per transfer; 0: none */
    const char *proxy, *noproxy;
    const char *cookie;     /* -b: "n=v; ..." sent as is, or a cookie file to read */
    const char *cookie_jar; /* --cookie-jar FILE, or NULL */
} ctk_fetch_opts;

/* What every transfer of a run shares, read-only once made. */
typedef struct ctk__xfer_conf {
    ctk_fetch_opts o; /* o.headers is NULL: they are in headers */
    struct curl_slist *headers;
    char *user_agent;
    CURLSH *share;     /* cookies shared by every handle (-b FILE, --cookie-jar), or NULL */
    GMutex share_lock; /* with share */
} ctk__xfer_conf;

/* One transfer. The async engine embeds it first in its own state. */
typedef struct xfer {
    const ctk__xfer_conf *conf;
    ctk_unit *unit;
    ctk_fetch_unit u; /* url and path */
    char *tmp;        /* the body's file until it is complete, or NULL */
    int fd;
    int dir_fd; /* the folder of tmp and of the final name, or -1 */
    ctk_buf body;
    uint64_t bytes;
    unsigned attempts;
    /* A reused connection that died before a response byte: the request
     * goes again on a new one, uncounted (redial), at most MAX_REDIALS
     * times. */
    unsigned redials;
    int redial;
    double t0, ttfb;
    long status;
    double retry_after; /* from the last response, or -1 */
    int code;           /* CURLcode of the last attempt */
    int too_big, write_errno;
    long os_errno; /* CURLINFO_OS_ERRNO of a failed attempt, or 0 */
    int cancelled; /* set by the engine that saw the run cancelled */
    uint64_t rng;
    int in_place;                       /* resume: fd is the file at its final name, appended to */
    uint64_t resume_from;               /* this attempt's Range start (resume), or 0 */
    long head_status;                   /* the status line of the response being received */
    int body_started;                   /* this attempt's first body byte was seen */
    int discard;                        /* 416 on a resume: the file is complete, drop the body */
    char *effective_url, *content_type; /* of the last attempt, or NULL */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

/* 0, or CTK_ENOMEM. */
int ctk__xfer_conf_init(ctk__xfer_conf *c, const ctk_fetch_opts *o);
void ctk__xfer_conf_clear(ctk__xfer_conf *c);

/* CLOCK_MONOTONIC in seconds. */
double ctk__fetch_now(void);

/* A new easy handle with the options every transfer of c shares. */
CURL *ctk__xfer_easy_new(const ctk__xfer_conf *c);
/* Sets x up for unit: 0 to fetch; 1 when the unit is answered already
 * (skipped, or failed before any transfer), x then holding nothing. */
int ctk__xfer_begin(xfer *x, const ctk__xfer_conf *c, ctk_unit *unit);
/* Before each attempt: options on e, the body's destination emptied. */
void ctk__xfer_attempt_setup(xfer *x, CURL *e);
/* After each attempt: the seconds to wait before the next, or -1. */
double ctk__xfer_attempt_end(xfer *x, CURL *e, int code);
/* Settles the unit (the file moves into place or goes, the result is
 * encoded into unit->out) and releases what x holds. */
void ctk__xfer_finish(xfer *x);
/* Drops e's pointers into a transfer, so e can wait for the next. */
void ctk__xfer_detach(CURL *e);

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
