/*
 * fetch.c: one URL per unit on libcurl. The blocking engine (sync, thread,
 * process) keeps one easy handle per thread in thread-specific data, so a
 * thread's transfers reuse its connections; the async engine keeps one
 * multi handle bound to the strategy's libuv loop, with a uv_poll per
 * socket curl asks about and one uv_timer for curl's timeout. Both engines
 * share what one attempt is (set-up, the body's destination, the verdict)
 * and the retry policy, so they cannot disagree about a result.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctk/fetch.h"

enum { UNIT_FETCH = 0, UNIT_SKIP = 1 };

/* The fixed part of a result; path, error and body follow it. */
typedef struct packed_result {
    int64_t status;
    uint32_t attempts;
    uint32_t reserved;
    uint64_t bytes;
    double elapsed, ttfb;
} packed_result;

/* ---- --per-host across threads and forked workers ---------------------------- */

#define HOST_SLOTS    256
#define HOST_NAME_LEN 128

typedef struct host_table {
    pthread_mutex_t lock; /* process-shared: workers are forked */
    pthread_cond_t freed;
    struct {
        char name[HOST_NAME_LEN];
        unsigned count;
    } slot[HOST_SLOTS];
} host_table;

struct multi_ctx;

struct ctk_fetch {
    ctk_fetch_opts o;
    struct curl_slist *headers;
    char *user_agent;
    pthread_key_t easy_key; /* this thread's easy handle */
    host_table *hosts;      /* shared mapping; NULL without --per-host */
    struct multi_ctx *multi;
    const int *cancel;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static host_table *hosts_new(void)
{
    host_table *h =
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

static void hosts_free(host_table *h)
{
    if (h == NULL)
        return;
    pthread_cond_destroy(&h->freed);
    pthread_mutex_destroy(&h->lock);
    munmap(h, sizeof *h);
}

/* The slot for host: its own, else a free one, else one shared by hash
 * (more hosts than slots at once only makes the limit stricter). */
static int hosts_slot(host_table *h, const char *host)
{
    int free_slot = -1;
    for (int i = 0; i < HOST_SLOTS; i++) {
        if (strncmp(h->slot[i].name, host, HOST_NAME_LEN - 1) == 0 && h->slot[i].name[0] != '\0')
            return i;
        if (free_slot < 0 && h->slot[i].count == 0)
            free_slot = i;
    }
    if (free_slot < 0)
        return (int)(g_str_hash(host) % HOST_SLOTS);
    g_strlcpy(h->slot[free_slot].name, host, HOST_NAME_LEN);
    return free_slot;
}

/* Waits for a connection slot to host; -1 when cancelled meanwhile. */
static int hosts_acquire(host_table *h, const char *host, unsigned limit, const int *cancel)
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

static void hosts_release(host_table *h, int i)
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
    return encode_strings(in, UNIT_FETCH, url, path);
}

static int pack_result(ctk_buf *out, const ctk_fetch_result *r)
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
    int rc = encode_strings(in, UNIT_SKIP, url, r->path);
    if (rc == 0)
        rc = pack_result(&packed, r);
    if (rc == 0)
        rc = ctk_buf_append(in, packed.data, packed.len);
    ctk_buf_free(&packed);
    return rc;
}

/* Splits in into kind, url, path and whatever follows. */
static int decode_in(const ctk_buf *in, int *kind, const char **url, const char **path,
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
    return decode_in(in, &kind, url, path, &rest);
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

/* ---- one transfer ------------------------------------------------------------------ */

struct multi_ctx;

typedef struct xfer {
    ctk_fetch *f;
    ctk_unit *unit;
    const char *url, *path;
    char host[HOST_NAME_LEN];
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
    struct multi_ctx *m;
    CURL *easy;
    uv_timer_t timer; /* backoff waits; frees the xfer when closed */
    ctk_done_fn done;
    void *done_arg;
    struct xfer *prev, *next;
    int in_multi;
} xfer;

static double next_random(xfer *x)
{
    x->rng ^= x->rng << 13;
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    return (double)(x->rng >> 11) / 9007199254740992.0;
}

static int make_parents(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    for (char *p = strchr(copy + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(copy, 0777) < 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    free(copy);
    return 0;
}

char *ctk_fetch_partial_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash != NULL ? (size_t)(slash - path + 1) : 0;
    return g_strdup_printf("%.*s.%s.cfetch-part", (int)dir_len, path,
                           slash != NULL ? slash + 1 : path);
}

/* The body is written to a file beside its final name and renamed over it
 * only when complete: a file at the final name is never partial, whatever
 * interrupts the run. Its name follows from the final one, so whoever
 * sees a unit fail (a forked worker may have been killed) can remove it. */
static int open_output(xfer *x)
{
    if (x->path[0] == '\0' || x->f->o.head)
        return 0;
    if (make_parents(x->path) < 0)
        return ctk_unit_fail(x->unit, CTK_EIO, "cannot create the directory of %s: %s", x->path,
                             strerror(errno));
    x->tmp = ctk_fetch_partial_path(x->path);
    x->fd = open(x->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (x->fd < 0) {
        int e = errno;
        g_free(x->tmp);
        x->tmp = NULL;
        return ctk_unit_fail(x->unit, CTK_EIO, "cannot create %s: %s", x->path, strerror(e));
    }
    return 0;
}

/* Sets up x for unit. Returns 0 to fetch, 1 when the unit is already
 * answered (skipped, or failed before any transfer). */
static int xfer_begin(ctk_fetch *f, xfer *x, ctk_unit *unit)
{
    int kind;
    size_t rest;
    x->f = f;
    x->unit = unit;
    x->fd = -1;
    x->retry_after = -1;
    x->t0 = mono_now();
    x->rng = (unit->seq * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(x->t0 * 1e9) ^ 1;
    unit->out.len = 0;
    if (decode_in(&unit->in, &kind, &x->url, &x->path, &rest) < 0) {
        ctk_unit_fail(unit, CTK_EINVAL, "malformed unit");
        return 1;
    }
    if (kind == UNIT_SKIP) {
        ctk_buf_set(&unit->out, unit->in.data + rest, unit->in.len - rest);
        return 1;
    }
    if (f->hosts != NULL) {
        CURLU *u = curl_url();
        char *host = NULL;
        if (u != NULL && curl_url_set(u, CURLUPART_URL, x->url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
            g_strlcpy(x->host, host, sizeof x->host);
        curl_free(host);
        curl_url_cleanup(u);
    }
    if (open_output(x) < 0) {
        ctk_fetch_result r = {.path = "", .error = unit->error, .elapsed = mono_now() - x->t0};
        pack_result(&unit->out, &r);
        return 1;
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    size_t len = size * n;
    uint64_t max = x->f->o.max_filesize;
    if (max > 0 && x->bytes + len > max) {
        x->too_big = 1;
        return 0;
    }
    if (x->fd >= 0) {
        for (size_t done = 0; done < len;) {
            ssize_t w = write(x->fd, data + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->write_errno = w < 0 ? errno : EIO;
                return 0;
            }
            done += (size_t)w;
        }
    } else if (x->f->o.keep_body && ctk_buf_append(&x->body, data, len) < 0) {
        x->write_errno = ENOMEM;
        return 0;
    }
    x->bytes += len;
    return len;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    xfer *x = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        x->retry_after = -1; /* a new response (after a redirect) */
    } else if (len > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0 &&
               len < 128) {
        char value[128];
        memcpy(value, line + sizeof name - 1, len - (sizeof name - 1));
        value[len - (sizeof name - 1)] = '\0';
        x->retry_after = ctk_fetch_retry_after(value, (double)time(NULL));
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    xfer *x = arg;
    return ctk_is_cancelled(x->cancel);
}

static void set_options(xfer *x, CURL *e)
{
    const ctk_fetch_opts *o = &x->f->o;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->f->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, x->f->user_agent);
    curl_easy_setopt(e, CURLOPT_NOBODY, o->head ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->max_redirs);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    if (o->max_filesize > 0)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_filesize);
    if (o->stall_timeout > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)(o->stall_speed ? o->stall_speed : 1));
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)ceil(o->stall_timeout));
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     o->http2 ? (long)CURL_HTTP_VERSION_2_0 : (long)CURL_HTTP_VERSION_1_1);
    /* Blocking transfers poll the cancel flag; async ones are aborted by
     * the loop's watch timer instead. */
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, x->m == NULL ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
}

/* Starts an attempt afresh: a retry overwrites what the last one wrote. */
static void attempt_setup(xfer *x, CURL *e)
{
    if (x->fd >= 0 && x->bytes > 0) {
        if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0)
            x->write_errno = errno;
    }
    x->body.len = 0;
    x->bytes = 0;
    x->status = 0;
    x->too_big = 0;
    x->retry_after = -1;
    x->errbuf[0] = '\0';
    x->attempts++;
    set_options(x, e);
}

/* The verdict on an attempt: seconds to wait before the next, or -1 when
 * this was the last. */
static double attempt_end(xfer *x, CURL *e, int code)
{
    double ttfb = 0;
    x->code = code;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME, &ttfb);
    x->ttfb = ttfb;
    if (code == CURLE_ABORTED_BY_CALLBACK || ctk_is_cancelled(x->cancel))
        x->cancelled = 1;
    if (x->cancelled || x->write_errno != 0 || x->too_big || x->attempts > x->f->o.retries ||
        !ctk_fetch_retryable(code, x->status))
        return -1;
    double wait =
        ctk_fetch_backoff(x->attempts, x->f->o.retry_delay, x->f->o.retry_max, next_random(x));
    if (x->retry_after > wait)
        wait = x->retry_after < x->f->o.retry_max ? x->retry_after : x->f->o.retry_max;
    return wait;
}

static char *failure(const xfer *x)
{
    const ctk_fetch_opts *o = &x->f->o;
    if (x->cancelled)
        return g_strdup("cancelled");
    if (x->write_errno != 0)
        return g_strdup_printf("cannot write the body: %s", strerror(x->write_errno));
    if (x->too_big || x->code == CURLE_FILESIZE_EXCEEDED)
        return g_strdup_printf("body larger than --max-filesize (%llu bytes)",
                               (unsigned long long)o->max_filesize);
    if (x->code == CURLE_OPERATION_TIMEDOUT && strstr(x->errbuf, "too slow") != NULL)
        return g_strdup_printf("stalled: under %llu bytes/s for %gs",
                               (unsigned long long)(o->stall_speed ? o->stall_speed : 1),
                               ceil(o->stall_timeout));
    if (x->code != CURLE_OK)
        return g_strdup(x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(x->code));
    if (o->fail && x->status >= 400)
        return g_strdup_printf("HTTP %ld", x->status);
    return NULL;
}

/* Settles the unit: the body's file moves into place or goes away, and
 * the result is packed. */
static void xfer_finish(xfer *x)
{
    char *error = failure(x);
    const char *path = "";
    if (x->fd >= 0) {
        close(x->fd);
        x->fd = -1;
        if (error == NULL && rename(x->tmp, x->path) < 0)
            error = g_strdup_printf("cannot rename into %s: %s", x->path, strerror(errno));
        if (error != NULL)
            unlink(x->tmp);
        else
            path = x->path;
    }
    /* A failed response's body is not the document asked for (curl -f). */
    ctk_fetch_result r = {x->status,
                          x->attempts,
                          x->bytes,
                          mono_now() - x->t0,
                          x->ttfb,
                          path,
                          error != NULL ? error : "",
                          x->body.data,
                          error != NULL ? 0 : x->body.len};
    if (pack_result(&x->unit->out, &r) < 0 && error == NULL)
        error = g_strdup("out of memory");
    if (error != NULL)
        ctk_unit_fail(x->unit, x->cancelled ? CTK_ECANCELED : CTK_EWORK, "%s", error);
    g_free(error);
    g_free(x->tmp);
    x->tmp = NULL;
    ctk_buf_free(&x->body);
}

/* ---- the blocking engine ------------------------------------------------------------- */

static void free_easy(void *easy)
{
    curl_easy_cleanup(easy);
}

static CURL *thread_easy(ctk_fetch *f)
{
    CURL *e = pthread_getspecific(f->easy_key);
    if (e == NULL && (e = curl_easy_init()) != NULL)
        pthread_setspecific(f->easy_key, e);
    return e;
}

/* Sleeps, waking every 50 ms to look at the cancel flag. */
static int wait_cancellable(double seconds, const int *cancel)
{
    double until = mono_now() + seconds;
    for (;;) {
        if (ctk_is_cancelled(cancel))
            return -1;
        double left = until - mono_now();
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
    if (xfer_begin(f, &x, unit) != 0)
        return unit->status;
    CURL *e = thread_easy(f);
    if (e == NULL) {
        x.code = CURLE_FAILED_INIT;
        xfer_finish(&x);
        return unit->status;
    }
    for (;;) {
        int slot = f->hosts != NULL ? hosts_acquire(f->hosts, x.host, f->o.per_host, cancel) : 0;
        if (slot < 0) {
            x.cancelled = 1;
            break;
        }
        attempt_setup(&x, e);
        CURLcode code = curl_easy_perform(e);
        if (f->hosts != NULL)
            hosts_release(f->hosts, slot);
        double wait = attempt_end(&x, e, code);
        if (wait < 0)
            break;
        if (wait_cancellable(wait, cancel) < 0) {
            x.cancelled = 1;
            break;
        }
    }
    /* A handle keeps the last URL's options; drop what points into x. */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    xfer_finish(&x);
    return unit->status;
}

/* ---- the async engine: one multi handle on the strategy's loop ------------------------ */

typedef struct sock {
    uv_poll_t poll; /* first: the close callback frees the sock through it */
    curl_socket_t fd;
    struct multi_ctx *m;
    struct sock *prev, *next;
} sock;

typedef struct multi_ctx {
    ctk_fetch *f;
    CURLM *multi;
    uv_loop_t *loop;
    uv_timer_t *timer; /* curl's timeout; NULL while idle */
    uv_timer_t *watch; /* looks at the cancel flag; NULL while idle */
    xfer *active;      /* transfers started and not done, waits included */
    unsigned n_active;
    sock *socks;
    GPtrArray *spare; /* easy handles between transfers */
} multi_ctx;

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void free_xfer(uv_handle_t *h)
{
    free(h->data);
}

static void check_done(multi_ctx *m);

static void sock_close(multi_ctx *m, sock *k)
{
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        m->socks = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    uv_poll_stop(&k->poll);
    uv_close((uv_handle_t *)&k->poll, free_handle);
}

/* Nothing in flight: close every handle we hold on the loop, so the
 * strategy's loop can end (and be closed) whenever it wants. The multi
 * and its connection cache stay for the next transfer. */
static void multi_idle(multi_ctx *m)
{
    while (m->socks != NULL) {
        curl_multi_assign(m->multi, m->socks->fd, NULL);
        sock_close(m, m->socks);
    }
    if (m->timer != NULL) {
        uv_close((uv_handle_t *)m->timer, free_handle);
        m->timer = NULL;
    }
    if (m->watch != NULL) {
        uv_close((uv_handle_t *)m->watch, free_handle);
        m->watch = NULL;
    }
}

static void async_finish(xfer *x)
{
    multi_ctx *m = x->m;
    if (x->in_multi) {
        curl_multi_remove_handle(m->multi, x->easy);
        x->in_multi = 0;
    }
    uv_timer_stop(&x->timer);
    if (x->easy != NULL) {
        xfer_finish(x);
        curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, NULL);
        g_ptr_array_add(m->spare, x->easy);
        x->easy = NULL;
    }
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        m->active = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    m->n_active--;
    ctk_unit *unit = x->unit;
    ctk_done_fn done = x->done;
    void *done_arg = x->done_arg;
    uv_close((uv_handle_t *)&x->timer, free_xfer);
    if (m->n_active == 0)
        multi_idle(m);
    done(unit, done_arg);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    sock *k = poll->data;
    multi_ctx *m = k->m;
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                                 ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(m->multi, k->fd, flags, &running);
    check_done(m);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    multi_ctx *m = arg;
    sock *k = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (k != NULL)
            sock_close(m, k);
        return 0;
    }
    if (k == NULL) {
        k = calloc(1, sizeof *k);
        if (k == NULL || uv_poll_init_socket(m->loop, &k->poll, fd) < 0) {
            free(k);
            return -1;
        }
        k->fd = fd;
        k->m = m;
        k->poll.data = k;
        k->next = m->socks;
        if (m->socks != NULL)
            m->socks->prev = k;
        m->socks = k;
        curl_multi_assign(m->multi, fd, k);
    }
    int events =
        ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    uv_poll_start(&k->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *timer)
{
    multi_ctx *m = timer->data;
    int running;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
    multi_ctx *m = arg;
    if (timeout_ms < 0) {
        if (m->timer != NULL)
            uv_timer_stop(m->timer);
        return 0;
    }
    if (m->n_active == 0)
        return 0; /* housekeeping for idle connections can wait */
    if (m->timer == NULL) {
        if ((m->timer = malloc(sizeof *m->timer)) == NULL)
            return -1;
        uv_timer_init(m->loop, m->timer);
        m->timer->data = m;
    }
    uv_timer_start(m->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void attempt_add(xfer *x)
{
    attempt_setup(x, x->easy);
    if (curl_multi_add_handle(x->m->multi, x->easy) != CURLM_OK) {
        x->code = CURLE_FAILED_INIT;
        async_finish(x);
        return;
    }
    x->in_multi = 1;
}

static void on_retry(uv_timer_t *timer)
{
    xfer *x = timer->data;
    if (ctk_is_cancelled(x->cancel)) {
        x->cancelled = 1;
        async_finish(x);
        return;
    }
    attempt_add(x);
}

static void check_done(multi_ctx *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        int code = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m->multi, e);
        x->in_multi = 0;
        double wait = attempt_end(x, e, code);
        if (wait < 0)
            async_finish(x);
        else
            uv_timer_start(&x->timer, on_retry, (uint64_t)(wait * 1000), 0);
    }
}

/* Every 100 ms while transfers run: a cancelled run aborts them all. */
static void on_watch(uv_timer_t *timer)
{
    multi_ctx *m = timer->data;
    if (!ctk_is_cancelled(m->f->cancel))
        return;
    while (m->active != NULL) {
        m->active->cancelled = 1;
        async_finish(m->active);
    }
}

static void on_settled(uv_timer_t *timer)
{
    async_finish(timer->data);
}

static multi_ctx *multi_for(ctk_fetch *f, uv_loop_t *loop)
{
    multi_ctx *m = f->multi;
    if (m == NULL) {
        m = calloc(1, sizeof *m);
        if (m == NULL || (m->multi = curl_multi_init()) == NULL) {
            free(m);
            return NULL;
        }
        m->f = f;
        m->spare = g_ptr_array_new();
        curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
        curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
        curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
        curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
        if (f->o.per_host > 0)
            curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->o.per_host);
        curl_multi_setopt(m->multi, CURLMOPT_PIPELINING,
                          f->o.http2 ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
        f->multi = m;
    }
    /* Idle, the multi holds nothing on any loop: it may move to another. */
    if (m->loop != loop && m->n_active > 0)
        return NULL;
    m->loop = loop;
    return m;
}

static int fetch_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg)
{
    ctk_fetch *f = ctx;
    multi_ctx *m = multi_for(f, loop);
    if (m == NULL)
        return CTK_EINVAL;
    xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return CTK_ENOMEM;
    x->m = m;
    x->cancel = f->cancel;
    x->done = done;
    x->done_arg = done_arg;
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    x->next = m->active;
    if (m->active != NULL)
        m->active->prev = x;
    m->active = x;
    if (m->n_active++ == 0) {
        m->watch = malloc(sizeof *m->watch);
        if (m->watch != NULL) {
            uv_timer_init(loop, m->watch);
            m->watch->data = m;
            uv_timer_start(m->watch, on_watch, 100, 100);
        }
    }
    if (xfer_begin(f, x, unit) != 0) {
        /* Answered already: reported from the loop, never from inside
         * start, as the contract asks. */
        uv_timer_start(&x->timer, on_settled, 0, 0);
        return 0;
    }
    x->easy = m->spare->len > 0 ? g_ptr_array_remove_index_fast(m->spare, m->spare->len - 1)
                                : curl_easy_init();
    if (x->easy == NULL) {
        ctk_unit_fail(unit, CTK_ENOMEM, "cannot create a transfer");
        uv_timer_start(&x->timer, on_settled, 0, 0);
        return 0;
    }
    attempt_add(x);
    return 0;
}

static void multi_free(multi_ctx *m)
{
    if (m == NULL)
        return;
    /* The loop may be gone: curl must not call back into it. */
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, NULL);
    for (guint i = 0; i < m->spare->len; i++)
        curl_easy_cleanup(g_ptr_array_index(m->spare, i));
    g_ptr_array_free(m->spare, TRUE);
    curl_multi_cleanup(m->multi);
    free(m);
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
    multi_free(f->multi);
    hosts_free(f->hosts);
    curl_slist_free_all(f->headers);
    g_free(f->user_agent);
    free(f);
    curl_global_cleanup();
}

ctk_work ctk_fetch_work(ctk_fetch *f)
{
    return (ctk_work){.run = fetch_run, .start = fetch_start, .ctx = f};
}

void ctk_fetch_set_cancel_flag(ctk_fetch *f, const int *cancel)
{
    f->cancel = cancel;
}
