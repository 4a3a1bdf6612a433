/*
 * fetch.c: one URL per unit on libcurl: the retry policy, units and
 * results as bytes, --per-host limits shared by threads and forked
 * workers, the blocking engine (sync, thread, process: one easy handle per
 * thread in thread-specific data, so a thread's transfers reuse its
 * connections) and the life cycle. One transfer's steps are in
 * transfer.c, the async engine in fetch-async.c.
 */
#include <curl/curl.h>
#include <glib.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "transfer.h"

/* The fixed part of a result; path, error and body follow it. */
typedef struct packed_result {
    int64_t status;
    uint32_t attempts;
    uint32_t reserved;
    uint64_t bytes;
    double elapsed, ttfb;
} packed_result;

/* ---- --per-host across threads and forked workers ---------------------------- */

#define HOST_SLOTS 256

struct ctk__host_table {
    pthread_mutex_t lock; /* process-shared: workers are forked */
    pthread_cond_t freed;
    struct {
        char name[CTK__HOST_NAME_LEN];
        unsigned count;
    } slot[HOST_SLOTS];
};

static ctk__host_table *hosts_new(void)
{
    ctk__host_table *h =
        mmap(NULL, sizeof *h, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED)
        return NULL;
    memset(h, 0, sizeof *h);
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&h->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->freed, &ca);
    pthread_condattr_destroy(&ca);
    return h;
}

static void hosts_free(ctk__host_table *h)
{
    if (h == NULL)
        return;
    pthread_cond_destroy(&h->freed);
    pthread_mutex_destroy(&h->lock);
    munmap(h, sizeof *h);
}

/* The slot for host: its own, else a free one, else one shared by hash
 * (more hosts than slots at once only makes the limit stricter). */
static int hosts_slot(ctk__host_table *h, const char *host)
{
    int free_slot = -1;
    for (int i = 0; i < HOST_SLOTS; i++) {
        if (strncmp(h->slot[i].name, host, CTK__HOST_NAME_LEN - 1) == 0 &&
            h->slot[i].name[0] != '\0')
            return i;
        if (free_slot < 0 && h->slot[i].count == 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return (int)(g_str_hash(host) % HOST_SLOTS);
    g_strlcpy(h->slot[free_slot].name, host, CTK__HOST_NAME_LEN);
    return free_slot;
}

/* Waits for a connection slot to host; -1 when cancelled meanwhile. */
static int hosts_acquire(ctk__host_table *h, const char *host, unsigned limit, const int *cancel)
{
    pthread_mutex_lock(&h->lock);
    int i;
    while (h->slot[i = hosts_slot(h, host)].count >= limit) {
        if (ctk_is_cancelled(cancel)) {
            pthread_mutex_unlock(&h->lock);
            return -1;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->freed, &h->lock, &until);
    }
    h->slot[i].count++;
    pthread_mutex_unlock(&h->lock);
    return i;
}

static void hosts_release(ctk__host_table *h, int i)
{
    pthread_mutex_lock(&h->lock);
    h->slot[i].count--;
    pthread_cond_broadcast(&h->freed);
    pthread_mutex_unlock(&h->lock);
}

/* ---- the retry policy ---------------------------------------------------------- */

int ctk_fetch_retryable(int curl_code, long status)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        return status == 408 || status == 429 || (status >= 500 && status <= 599);
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

double ctk_fetch_backoff(unsigned attempt, double base, double cap, double u)
{
    double wait = base * ldexp(1.0, attempt > 0 ? (int)(attempt < 60 ? attempt - 1 : 59) : 0);
    if (wait > cap)
        wait = cap;
    return wait * (0.5 + 0.5 * u);
}

double ctk_fetch_retry_after(const char *value, double now)
{
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && strchr(" \t\r\n", value[len - 1]) != NULL)
        len--;
    if (len == 0 || len > 64)
        return -1;
    char text[65];
    memcpy(text, value, len);
    text[len] = '\0';
    if (strspn(text, "0123456789") == len)
        return len > 9 ? 1e9 : (double)strtol(text, NULL, 10);
    time_t when = curl_getdate(text, NULL);
    if (when == (time_t)-1)
        return -1;
    return (double)when > now ? (double)when - now : 0;
}

/* ---- units and results ------------------------------------------------------------ */

static int encode_strings(ctk_buf *in, int kind, const char *url, const char *path)
{
    unsigned char k = (unsigned char)kind;
    in->len = 0;
    if (path == NULL)
        path = "";
    if (ctk_buf_append(in, &k, 1) < 0 || ctk_buf_append(in, url, strlen(url) + 1) < 0 ||
        ctk_buf_append(in, path, strlen(path) + 1) < 0)
        return CTK_ENOMEM;
    return 0;
}

int ctk_fetch_encode(ctk_buf *in, const char *url, const char *path)
{
    return encode_strings(in, CTK__UNIT_FETCH, url, path);
}

int ctk__fetch_pack_result(ctk_buf *out, const ctk_fetch_result *r)
{
    packed_result p = {r->status, r->attempts, 0, r->bytes, r->elapsed, r->ttfb};
    const char *path = r->path != NULL ? r->path : "", *error = r->error != NULL ? r->error : "";
    out->len = 0;
    if (ctk_buf_append(out, &p, sizeof p) < 0 || ctk_buf_append(out, path, strlen(path) + 1) < 0 ||
        ctk_buf_append(out, error, strlen(error) + 1) < 0 ||
        (r->body_len > 0 && ctk_buf_append(out, r->body, r->body_len) < 0))
        return CTK_ENOMEM;
    return 0;
}

int ctk_fetch_encode_skip(ctk_buf *in, const char *url, const ctk_fetch_result *r)
{
    ctk_buf packed = {0};
    int rc = encode_strings(in, CTK__UNIT_SKIP, url, r->path);
    if (rc == 0)
        rc = ctk__fetch_pack_result(&packed, r);
    if (rc == 0)
        rc = ctk_buf_append(in, packed.data, packed.len);
    ctk_buf_free(&packed);
    return rc;
}

/* Splits in into kind, url, path and whatever follows. */
int ctk__fetch_decode_in(const ctk_buf *in, int *kind, const char **url, const char **path,
                         size_t *rest)
{
    if (in->len < 3)
        return CTK_EINVAL;
    const char *s = (const char *)in->data + 1, *end = (const char *)in->data + in->len;
    const char *nul1 = memchr(s, '\0', (size_t)(end - s));
    const char *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
    if (nul2 == NULL)
        return CTK_EINVAL;
    *kind = in->data[0];
    *url = s;
    *path = nul1 + 1;
    *rest = (size_t)(nul2 + 1 - (const char *)in->data);
    return 0;
}

int ctk_fetch_decode(const ctk_buf *in, const char **url, const char **path)
{
    int kind;
    size_t rest;
    return ctk__fetch_decode_in(in, &kind, url, path, &rest);
}

static int unpack_result(const unsigned char *data, size_t len, ctk_fetch_result *r)
{
    packed_result p;
    if (len < sizeof p + 2)
        return CTK_EINVAL;
    memcpy(&p, data, sizeof p);
    const char *s = (const char *)data + sizeof p, *end = (const char *)data + len;
    const char *nul1 = memchr(s, '\0', (size_t)(end - s));
    const char *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1)) : NULL;
    if (nul2 == NULL)
        return CTK_EINVAL;
    *r = (ctk_fetch_result){(long)p.status,
                            p.attempts,
                            p.bytes,
                            p.elapsed,
                            p.ttfb,
                            s,
                            nul1 + 1,
                            (const unsigned char *)nul2 + 1,
                            (size_t)(end - nul2 - 1)};
    return 0;
}

int ctk_fetch_result_decode(const ctk_buf *out, ctk_fetch_result *r)
{
    return unpack_result(out->data, out->len, r);
}

/* ---- the blocking engine ------------------------------------------------------------- */

static void free_easy(void *easy)
{
    curl_easy_cleanup(easy);
}

static CURL *thread_easy(ctk_fetch *f)
{
    CURL *e = pthread_getspecific(f->easy_key);
    if (e == NULL && (e = ctk__fetch_easy_new(f, 1)) != NULL)
        pthread_setspecific(f->easy_key, e);
    return e;
}

/* Sleeps, waking every 50 ms to look at the cancel flag. */
static int wait_cancellable(double seconds, const int *cancel)
{
    double until = ctk__fetch_now() + seconds;
    for (;;) {
        if (ctk_is_cancelled(cancel))
            return -1;
        double left = until - ctk__fetch_now();
        if (left <= 0)
            return 0;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int fetch_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    ctk_fetch *f = ctx;
    xfer x = {.cancel = cancel};
    if (ctk__xfer_begin(f, &x, unit) != 0)
        return unit->status;
    CURL *e = thread_easy(f);
    if (e == NULL) {
        x.code = CURLE_FAILED_INIT;
        ctk__xfer_finish(&x);
        return unit->status;
    }
    for (;;) {
        int slot = f->hosts != NULL ? hosts_acquire(f->hosts, x.host, f->o.per_host, cancel) : 0;
        if (slot < 0) {
            x.cancelled = 1;
            break;
        }
        ctk__xfer_attempt_setup(&x, e);
        CURLcode code = curl_easy_perform(e);
        if (f->hosts != NULL)
            hosts_release(f->hosts, slot);
        double wait = ctk__xfer_attempt_end(&x, e, code);
        if (wait < 0)
            break;
        if (wait_cancellable(wait, cancel) < 0) {
            x.cancelled = 1;
            break;
        }
    }
    /* A handle keeps the last URL's options; drop what points into x. */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    ctk__xfer_finish(&x);
    return unit->status;
}

/* ---- life cycle -------------------------------------------------------------------------- */

int ctk_fetch_new(ctk_fetch **out, const ctk_fetch_opts *opts)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return CTK_ESYS;
    ctk_fetch *f = calloc(1, sizeof *f);
    if (f == NULL)
        return CTK_ENOMEM;
    f->o = *opts;
    f->o.headers = NULL;
    for (const char *const *h = opts->headers; h != NULL && *h != NULL; h++)
        f->headers = curl_slist_append(f->headers, *h);
    f->user_agent = g_strdup(opts->user_agent != NULL ? opts->user_agent : "cfetch/" CTK_VERSION);
    if (pthread_key_create(&f->easy_key, free_easy) != 0)
        goto fail;
    if (opts->per_host > 0 && (f->hosts = hosts_new()) == NULL)
        goto fail_hosts;
    *out = f;
    return 0;

fail_hosts:
    pthread_key_delete(f->easy_key);
fail:
    curl_slist_free_all(f->headers);
    g_free(f->user_agent);
    free(f);
    return CTK_ENOMEM;
}

void ctk_fetch_free(ctk_fetch *f)
{
    if (f == NULL)
        return;
    CURL *mine = pthread_getspecific(f->easy_key);
    if (mine != NULL) {
        pthread_setspecific(f->easy_key, NULL);
        curl_easy_cleanup(mine);
    }
    pthread_key_delete(f->easy_key);
    ctk__fetch_multi_free(f->multi);
    hosts_free(f->hosts);
    curl_slist_free_all(f->headers);
    g_free(f->user_agent);
    free(f);
    curl_global_cleanup();
}

ctk_work ctk_fetch_work(ctk_fetch *f)
{
    return (ctk_work){.run = fetch_run, .start = ctk__fetch_start, .ctx = f};
}

void ctk_fetch_set_cancel_flag(ctk_fetch *f, const int *cancel)
{
    f->cancel = cancel;
}
