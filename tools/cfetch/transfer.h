/*
 * transfer.h: what fetch.c (the blocking engine, units, life cycle) and
 * fetch-async.c (the engine on a libuv loop) share inside libctk: the
 * fetch context and one transfer's state and steps (transfer.c). Both
 * engines run a transfer through the same steps, so they cannot disagree
 * about a result.
 */
#ifndef CTK_TRANSFER_H
#define CTK_TRANSFER_H

#include <curl/curl.h>
#include <pthread.h>

#include "fetch.h"

enum { CTK__UNIT_FETCH = 0, CTK__UNIT_SKIP = 1 };

#define CTK__HOST_NAME_LEN 128

typedef struct ctk__host_table ctk__host_table;
typedef struct ctk__multi ctk__multi;

struct ctk_fetch {
    ctk_fetch_opts o;
    struct curl_slist *headers;
    char *user_agent;
    pthread_key_t easy_key; /* this thread's easy handle */
    ctk__host_table *hosts; /* shared mapping; NULL without --per-host */
    ctk__multi *multi;      /* the async engine's, made on first use */
    const int *cancel;
};

typedef struct xfer {
    ctk_fetch *f;
    ctk_unit *unit;
    const char *url, *path;
    char host[CTK__HOST_NAME_LEN];
    char *tmp; /* the body's file until it is complete, or NULL */
    int fd;
    ctk_buf body;
    uint64_t bytes;
    unsigned attempts;
    double t0, ttfb;
    long status;
    double retry_after; /* from the last response, or -1 */
    int code;           /* CURLcode of the last attempt */
    int too_big, write_errno, cancelled;
    uint64_t rng;
    const int *cancel;
    char errbuf[CURL_ERROR_SIZE];
    /* async only */
    ctk__multi *m;
    CURL *easy;
    uv_timer_t timer; /* backoff waits; frees the xfer when closed */
    ctk_done_fn done;
    void *done_arg;
    struct xfer *prev, *next;
    int in_multi;
} xfer;

/* CLOCK_MONOTONIC in seconds. */
double ctk__fetch_now(void);
/* Units: kind, URL, path and the offset of what follows them. */
int ctk__fetch_decode_in(const ctk_buf *in, int *kind, const char **url, const char **path,
                         size_t *rest);
int ctk__fetch_pack_result(ctk_buf *out, const ctk_fetch_result *r);

/* A new easy handle with the options every transfer of f shares;
 * blocking: it polls the cancel flag from curl's progress callback. */
CURL *ctk__fetch_easy_new(ctk_fetch *f, int blocking);
/* Sets x up for unit: 0 to fetch, 1 when the unit is already answered
 * (skipped, or failed before any transfer). */
int ctk__xfer_begin(ctk_fetch *f, xfer *x, ctk_unit *unit);
/* Before each attempt: options on e, the body's destination emptied. */
void ctk__xfer_attempt_setup(xfer *x, CURL *e);
/* After each attempt: the seconds to wait before the next, or -1. */
double ctk__xfer_attempt_end(xfer *x, CURL *e, int code);
/* Settles the unit: the file moves into place or goes, out is packed. */
void ctk__xfer_finish(xfer *x);

/* The async engine (fetch-async.c). */
int ctk__fetch_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg);
void ctk__fetch_multi_free(ctk__multi *m);

#endif
