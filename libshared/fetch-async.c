/*
 * fetch-async.c: the async engine: one curl multi handle driven from the
 * async strategy's libuv loop through curl's socket and timer callbacks
 * (a uv_poll per socket curl asks about, one uv_timer for curl's timeout),
 * a uv_timer per transfer for its backoff waits, and one that watches the
 * cancel flag. When nothing is in flight every handle on the loop is
 * closed, so the strategy can end its loop at any time; the multi handle
 * and its connection cache stay for the next transfer.
 */
#include <curl/curl.h>
#include <glib.h>
#include <stdlib.h>

#include "transfer.h"

typedef struct sock {
    uv_poll_t poll; /* first: the close callback frees the sock through it */
    curl_socket_t fd;
    ctk__multi *m;
    struct sock *prev, *next;
} sock;

struct ctk__multi {
    ctk_fetch *f;
    CURLM *multi;
    uv_loop_t *loop;
    uv_timer_t *timer; /* curl's timeout; NULL while idle */
    uv_timer_t *watch; /* looks at the cancel flag; NULL while idle */
    xfer *active;      /* transfers started and not done, waits included */
    unsigned n_active;
    sock *socks;
    GPtrArray *spare; /* easy handles between transfers */
};

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void free_xfer(uv_handle_t *h)
{
    free(h->data);
}

static void check_done(ctk__multi *m);

static void sock_close(ctk__multi *m, sock *k)
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
static void multi_idle(ctk__multi *m)
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
    ctk__multi *m = x->m;
    if (x->in_multi) {
        curl_multi_remove_handle(m->multi, x->easy);
        x->in_multi = 0;
    }
    uv_timer_stop(&x->timer);
    if (x->easy != NULL) {
        ctk__xfer_finish(x);
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
    ctk__multi *m = k->m;
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                                 ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(m->multi, k->fd, flags, &running);
    check_done(m);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    ctk__multi *m = arg;
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
    ctk__multi *m = timer->data;
    int running;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
    ctk__multi *m = arg;
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

static void on_settled(uv_timer_t *timer)
{
    async_finish(timer->data);
}

static void attempt_add(xfer *x)
{
    ctk__xfer_attempt_setup(x, x->easy);
    if (curl_multi_add_handle(x->m->multi, x->easy) != CURLM_OK) {
        /* Reported from the loop: this may run inside start. */
        x->code = CURLE_FAILED_INIT;
        uv_timer_start(&x->timer, on_settled, 0, 0);
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

static void check_done(ctk__multi *m)
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
        double wait = ctk__xfer_attempt_end(x, e, code);
        if (wait < 0)
            async_finish(x);
        else
            uv_timer_start(&x->timer, on_retry, (uint64_t)(wait * 1000), 0);
    }
}

/* Every 100 ms while transfers run: a cancelled run aborts them all. */
static void on_watch(uv_timer_t *timer)
{
    ctk__multi *m = timer->data;
    if (!ctk_is_cancelled(m->f->cancel))
        return;
    while (m->active != NULL) {
        m->active->cancelled = 1;
        async_finish(m->active);
    }
}

static ctk__multi *multi_for(ctk_fetch *f, uv_loop_t *loop)
{
    ctk__multi *m = f->multi;
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

int ctk__fetch_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg)
{
    ctk_fetch *f = ctx;
    ctk__multi *m = multi_for(f, loop);
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
    if (ctk__xfer_begin(f, x, unit) != 0) {
        /* Answered already: reported from the loop, never from inside
         * start, as the contract asks. */
        uv_timer_start(&x->timer, on_settled, 0, 0);
        return 0;
    }
    x->easy = m->spare->len > 0 ? g_ptr_array_remove_index_fast(m->spare, m->spare->len - 1)
                                : ctk__fetch_easy_new(f, 0);
    if (x->easy == NULL) {
        ctk_unit_fail(unit, CTK_ENOMEM, "cannot create a transfer");
        uv_timer_start(&x->timer, on_settled, 0, 0);
        return 0;
    }
    attempt_add(x);
    return 0;
}

void ctk__fetch_multi_free(ctk__multi *m)
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
