/*
 * fetch-block.c: the blocking engine. A thread's easy handle lives on the
 * thread's own multi handle (thread-specific data), so its connections
 * stay cached between transfers; an attempt runs that multi until it is
 * done, waiting in curl_multi_poll on curl's sockets and the run's cancel
 * fd together, and backoff waits are a poll(2) on the cancel fd. Nothing
 * wakes on a timer to look at a flag.
 */
#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "fetch-block.h"

#define HOST_SLOTS    256
#define HOST_NAME_LEN 128

/* --per-host across threads and forked workers: a shared mapping. */
typedef struct host_table {
    pthread_mutex_t lock; /* process-shared: workers are forked */
    pthread_cond_t freed;
    struct {
        char name[HOST_NAME_LEN];
        unsigned count;
    } slot[HOST_SLOTS];
} host_table;

/* A thread's handles. */
typedef struct lane {
    CURL *easy;
    CURLM *multi;
} lane;

struct ctk__block {
    const ctk__xfer_conf *conf;
    pthread_key_t lane_key;
    host_table *hosts; /* NULL without --per-host */
};

/* Whether the run is cancelled, by the flag or (in a forked worker,
 * whose copy of the flag never rises) by the fd. */
static int is_cancelled(const int *cancel, int cancel_fd)
{
    if (ctk_is_cancelled(cancel))
        return 1;
    struct pollfd p = {cancel_fd, POLLIN, 0};
    return cancel_fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* ---- --per-host ------------------------------------------------------------------ */

static host_table *hosts_new(void)
{
    host_table *h =
        mmap(NULL, sizeof *h, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED)
        return NULL;
    memset(h, 0, sizeof *h);
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    int rc = pthread_mutexattr_init(&ma);
    if (rc == 0) {
        rc = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
        if (rc == 0)
            rc = pthread_mutex_init(&h->lock, &ma);
        pthread_mutexattr_destroy(&ma);
    }
    if (rc != 0)
        goto fail_mutex;
    if ((rc = pthread_condattr_init(&ca)) == 0) {
        rc = pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
        if (rc == 0)
            rc = pthread_cond_init(&h->freed, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (rc != 0)
        goto fail_cond;
    return h;

fail_cond:
    pthread_mutex_destroy(&h->lock);
fail_mutex:
    munmap(h, sizeof *h);
    return NULL;
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

/* Waits for a connection slot to host; -1 when the run is cancelled.
 * Every holder of a full slot is in a transfer, which the cancel fd ends
 * at once, and releasing wakes the waiters: a cancelled run reaches this
 * wait with no timer. */
static int hosts_acquire(host_table *h, const char *host, unsigned limit, const int *cancel,
                         int cancel_fd)
{
    pthread_mutex_lock(&h->lock);
    int i;
    for (;;) {
        if (is_cancelled(cancel, cancel_fd)) {
            pthread_mutex_unlock(&h->lock);
            return -1;
        }
        if (h->slot[i = hosts_slot(h, host)].count < limit)
            break;
        pthread_cond_wait(&h->freed, &h->lock);
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

static void host_of(const char *url, char *host, size_t size)
{
    CURLU *u = curl_url();
    char *name = NULL;
    host[0] = '\0';
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &name, 0) == CURLUE_OK)
        g_strlcpy(host, name, size);
    curl_free(name);
    curl_url_cleanup(u);
}

/* ---- a thread's handles ------------------------------------------------------------ */

static void lane_free(void *arg)
{
    lane *l = arg;
    if (l == NULL)
        return;
    curl_multi_cleanup(l->multi);
    curl_easy_cleanup(l->easy);
    g_free(l);
}

static lane *thread_lane(ctk__block *b)
{
    lane *l = pthread_getspecific(b->lane_key);
    if (l != NULL)
        return l;
    l = g_new0(lane, 1);
    if ((l->easy = ctk__xfer_easy_new(b->conf)) == NULL || (l->multi = curl_multi_init()) == NULL ||
        pthread_setspecific(b->lane_key, l) != 0) {
        lane_free(l);
        return NULL;
    }
    return l;
}

/* One attempt on l: curl's sockets and the cancel fd in one wait. */
static CURLcode perform(lane *l, const int *cancel, int cancel_fd, int *cancelled)
{
    if (curl_multi_add_handle(l->multi, l->easy) != CURLM_OK)
        return CURLE_FAILED_INIT;
    CURLcode code = CURLE_OK;
    struct curl_waitfd wfd = {cancel_fd, CURL_WAIT_POLLIN, 0};
    unsigned nfds = cancel_fd >= 0 ? 1 : 0;
    for (;;) {
        int running;
        CURLMcode mc = curl_multi_perform(l->multi, &running);
        if (mc == CURLM_OK && running == 0) {
            int left;
            CURLMsg *msg = curl_multi_info_read(l->multi, &left);
            code = msg != NULL && msg->msg == CURLMSG_DONE ? msg->data.result : CURLE_FAILED_INIT;
            break;
        }
        /* curl bounds the wait by its own timeouts; ours is only a cap. */
        wfd.revents = 0;
        if (mc == CURLM_OK)
            mc = curl_multi_poll(l->multi, nfds ? &wfd : NULL, nfds, INT_MAX, NULL);
        if (mc != CURLM_OK) {
            code = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
            break;
        }
        if ((wfd.revents & CURL_WAIT_POLLIN) || ctk_is_cancelled(cancel)) {
            *cancelled = 1;
            code = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
    }
    curl_multi_remove_handle(l->multi, l->easy);
    return code;
}

/* Waits seconds; -1 when the run is cancelled meanwhile. */
static int wait_cancellable(double seconds, const int *cancel, int cancel_fd)
{
    double until = ctk__fetch_now() + seconds;
    for (;;) {
        if (ctk_is_cancelled(cancel))
            return -1;
        double left = until - ctk__fetch_now();
        if (left <= 0)
            return 0;
        struct pollfd p = {cancel_fd, POLLIN, 0};
        int ms = left * 1000 > INT_MAX - 1 ? INT_MAX : (int)(left * 1000) + 1;
        int n = poll(&p, cancel_fd >= 0 ? 1 : 0, ms);
        if (n > 0 && (p.revents & POLLIN))
            return -1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

int ctk__block_run(ctk__block *b, ctk_unit *unit, const int *cancel, int cancel_fd)
{
    xfer x = {0};
    if (ctk__xfer_begin(&x, b->conf, unit) != 0)
        return unit->status;
    lane *l = thread_lane(b);
    if (l == NULL) {
        x.code = CURLE_OUT_OF_MEMORY;
        ctk__xfer_finish(&x);
        return unit->status;
    }
    char host[HOST_NAME_LEN] = "";
    if (b->hosts != NULL)
        host_of(x.u.url, host, sizeof host);
    for (;;) {
        int slot = b->hosts != NULL
                       ? hosts_acquire(b->hosts, host, b->conf->o.per_host, cancel, cancel_fd)
                       : 0;
        if (slot < 0) {
            x.cancelled = 1;
            break;
        }
        ctk__xfer_attempt_setup(&x, l->easy);
        CURLcode code = perform(l, cancel, cancel_fd, &x.cancelled);
        if (b->hosts != NULL)
            hosts_release(b->hosts, slot);
        double wait = ctk__xfer_attempt_end(&x, l->easy, code);
        if (wait < 0)
            break;
        if (wait_cancellable(wait, cancel, cancel_fd) < 0) {
            x.cancelled = 1;
            break;
        }
    }
    /* The handle keeps the last transfer's options: none may point into x. */
    ctk__xfer_detach(l->easy);
    ctk__xfer_finish(&x);
    return unit->status;
}

/* ---- life cycle ---------------------------------------------------------------------- */

int ctk__block_new(ctk__block **out, const ctk__xfer_conf *conf)
{
    ctk__block *b = g_new0(ctk__block, 1);
    b->conf = conf;
    if (pthread_key_create(&b->lane_key, lane_free) != 0)
        goto fail_key;
    if (conf->o.per_host > 0 && (b->hosts = hosts_new()) == NULL)
        goto fail_hosts;
    *out = b;
    return 0;

fail_hosts:
    pthread_key_delete(b->lane_key);
fail_key:
    g_free(b);
    return CTK_ESYS;
}

void ctk__block_free(ctk__block *b)
{
    if (b == NULL)
        return;
    lane *mine = pthread_getspecific(b->lane_key);
    if (mine != NULL) {
        pthread_setspecific(b->lane_key, NULL);
        lane_free(mine);
    }
    pthread_key_delete(b->lane_key);
    hosts_free(b->hosts);
    g_free(b);
}
