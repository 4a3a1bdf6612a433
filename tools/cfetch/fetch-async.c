/*
 * fetch-async.c: the async engine: one curl multi handle driven from the
 * async strategy's libuv loop through curl's socket and timer callbacks
 * (a uv_poll per socket curl asks about, one uv_timer for curl's timeout),
 * a uv_timer per transfer for its backoff waits, and a uv_poll on the
 * run's cancel fd. When nothing is in flight every handle on the loop is
 * closed, so the strategy can end its loop at any time; the multi handle
 * and its connection cache stay for the next transfer.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fetch-async.h"

/* A socket curl told us about, polled from then until curl closes it or
 * nothing is in flight. When curl is done with a connection's socket for
 * now (CURL_POLL_REMOVE between two transfers on a kept-alive connection)
 * it stays registered for readability, so the next transfer on it costs
 * no epoll_ctl. Only sockets curl opened through on_curl_open may stay:
 * those it closes through on_curl_close, so a stale poll can never meet a
 * new socket of the same number (curl closes others, such as a resolver's
 * socketpair, behind our back). */
typedef struct sock {
    uv_poll_t poll; /* first: the close callback frees the sock through it */
    curl_socket_t fd;
    ctk__multi *m;
    int events; /* what the poll watches now (UV_READABLE, UV_WRITABLE) */
    int wanted; /* curl waits on it; else it idles between transfers */
    int ours;   /* opened by on_curl_open: may idle */
    struct sock *prev, *next;
} sock;

/* A transfer on the loop: the steps' state first, so curl's PRIVATE
 * pointer (the xfer) is the axfer too. */
typedef struct axfer {
    xfer x;
    ctk__multi *m;
    CURL *easy;
    uv_timer_t timer; /* backoff waits; frees the axfer when closed */
    ctk_done_fn done;
    void *done_arg;
    struct axfer *prev, *next;
    int in_multi, begun;
} axfer;

struct ctk__multi {
    const ctk__xfer_conf *conf;
    const int *cancel;
    int cancel_fd; /* our duplicate of the run's, or -1 */
    CURLM *multi;
    uv_loop_t *loop;
    uv_timer_t *timer; /* curl's timeout; NULL while idle */
    uv_poll_t *watch;  /* on cancel_fd; NULL while idle */
    axfer *active;     /* transfers started and not done, waits included */
    unsigned n_active;
    sock *socks;
    struct fd_slot {
        sock *k;
        int ours; /* opened by on_curl_open, not yet closed */
    } * fds;      /* indexed by fd, n_fds long */
    size_t n_fds;
    GPtrArray *spare; /* easy handles between transfers */
};

static void free_handle(uv_handle_t *h)
{
    g_free(h);
}

static void free_xfer(uv_handle_t *h)
{
    g_free(h->data);
}

static void check_done(ctk__multi *m);

static struct fd_slot *slot_of(ctk__multi *m, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < m->n_fds ? &m->fds[fd] : NULL;
}

static sock *sock_of(ctk__multi *m, curl_socket_t fd)
{
    struct fd_slot *slot = slot_of(m, fd);
    return slot != NULL ? slot->k : NULL;
}

/* The slot of fd, the table grown to hold it; NULL when out of memory. */
static struct fd_slot *slot_for(ctk__multi *m, curl_socket_t fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= m->n_fds) {
        size_t n = m->n_fds > 0 ? m->n_fds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct fd_slot *grown = g_renew(struct fd_slot, m->fds, n);
        memset(grown + m->n_fds, 0, (n - m->n_fds) * sizeof *grown);
        m->fds = grown;
        m->n_fds = n;
    }
    return &m->fds[fd];
}

static void sock_close(ctk__multi *m, sock *k)
{
    m->fds[k->fd].k = NULL;
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
    while (m->socks != NULL)
        sock_close(m, m->socks);
    if (m->timer != NULL) {
        uv_close((uv_handle_t *)m->timer, free_handle);
        m->timer = NULL;
    }
    if (m->watch != NULL) {
        uv_close((uv_handle_t *)m->watch, free_handle);
        m->watch = NULL;
    }
}

static void async_finish(axfer *x)
{
    ctk__multi *m = x->m;
    if (x->in_multi) {
        curl_multi_remove_handle(m->multi, x->easy);
        x->in_multi = 0;
    }
    uv_timer_stop(&x->timer);
    if (x->begun) {
        ctk__xfer_finish(&x->x);
        x->begun = 0;
    }
    if (x->easy != NULL) {
        ctk__xfer_detach(x->easy);
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
    ctk_unit *unit = x->x.unit;
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
    if (!k->wanted) {
        /* An idle kept-alive connection was closed by the server (or sent
         * what nobody asked for): stop watching it; curl finds it dead
         * when it next looks. */
        uv_poll_stop(&k->poll);
        k->events = 0;
        return;
    }
    int flags = status < 0 ? CURL_CSELECT_ERR
                           : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                                 ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(m->multi, k->fd, flags, &running);
    check_done(m);
}

static sock *sock_new(ctk__multi *m, curl_socket_t fd)
{
    struct fd_slot *slot = slot_for(m, fd);
    if (slot == NULL)
        return NULL;
    sock *k = g_new0(sock, 1);
    if (uv_poll_init_socket(m->loop, &k->poll, fd) < 0) {
        g_free(k);
        return NULL;
    }
    k->fd = fd;
    k->m = m;
    k->ours = slot->ours;
    k->poll.data = k;
    k->next = m->socks;
    if (m->socks != NULL)
        m->socks->prev = k;
    m->socks = k;
    slot->k = k;
    return k;
}

/* 0, or libuv's error when it cannot watch the socket. */
static int sock_watch(sock *k, int events)
{
    if (events == k->events)
        return 0;
    int rc = events == 0 ? uv_poll_stop(&k->poll) : uv_poll_start(&k->poll, events, on_poll);
    k->events = rc == 0 ? events : 0;
    return rc;
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    ctk__multi *m = arg;
    sock *k = sock_of(m, fd);
    if (what == CURL_POLL_REMOVE) {
        /* Between transfers: watch for the server closing it, no more
         * (a writable socket would wake the loop at every turn). */
        if (k != NULL && k->ours) {
            k->wanted = 0;
            if (sock_watch(k, k->events & UV_READABLE) < 0)
                sock_close(m, k);
        } else if (k != NULL) {
            sock_close(m, k);
        }
        return 0;
    }
    if (k == NULL && (k = sock_new(m, fd)) == NULL)
        return -1;
    k->wanted = 1;
    /* curl fails the transfer on a socket it cannot have watched. */
    return sock_watch(k, ((what & CURL_POLL_IN) ? UV_READABLE : 0) |
                             ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0)) < 0
               ? -1
               : 0;
}

/* curl opens a connection's socket (what it would do itself) and, through
 * on_curl_close, closes it: such a socket may idle in the poll set. */
static curl_socket_t on_curl_open(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    ctk__multi *m = arg;
    (void)purpose;
    curl_socket_t fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    struct fd_slot *slot = slot_for(m, fd);
    if (slot != NULL)
        slot->ours = 1;
    return fd;
}

/* curl closes a socket: its poll goes first, while the fd still means
 * this socket. */
static int on_curl_close(void *arg, curl_socket_t fd)
{
    ctk__multi *m = arg;
    struct fd_slot *slot = slot_of(m, fd);
    if (slot != NULL) {
        if (slot->k != NULL)
            sock_close(m, slot->k);
        slot->ours = 0;
    }
    return close(fd);
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
        m->timer = g_new(uv_timer_t, 1);
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

static void attempt_add(axfer *x)
{
    ctk__xfer_attempt_setup(&x->x, x->easy);
    if (curl_multi_add_handle(x->m->multi, x->easy) != CURLM_OK) {
        /* Reported from the loop: this may run inside start. */
        x->x.code = CURLE_FAILED_INIT;
        uv_timer_start(&x->timer, on_settled, 0, 0);
        return;
    }
    x->in_multi = 1;
}

static void on_retry(uv_timer_t *timer)
{
    axfer *x = timer->data;
    if (ctk_is_cancelled(x->m->cancel)) {
        x->x.cancelled = 1;
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
        axfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m->multi, e);
        x->in_multi = 0;
        double wait = ctk__xfer_attempt_end(&x->x, e, code);
        if (wait < 0)
            async_finish(x);
        else
            uv_timer_start(&x->timer, on_retry, (uint64_t)(wait * 1000), 0);
    }
}

/* The run was cancelled: every transfer ends now (the last one's end
 * closes this watch). */
static void on_cancel(uv_poll_t *poll, int status, int events)
{
    ctk__multi *m = poll->data;
    (void)status;
    (void)events;
    while (m->active != NULL) {
        m->active->x.cancelled = 1;
        async_finish(m->active);
    }
}

/* Watches the cancel fd while transfers are in flight. Without it (no fd,
 * or libuv refused) a cancel still ends each transfer at its next step. */
static void watch_cancel(ctk__multi *m)
{
    if (m->cancel_fd < 0)
        return;
    m->watch = g_new(uv_poll_t, 1);
    if (uv_poll_init(m->loop, m->watch, m->cancel_fd) < 0) {
        g_free(m->watch);
        m->watch = NULL;
        return;
    }
    m->watch->data = m;
    if (uv_poll_start(m->watch, UV_READABLE, on_cancel) < 0) {
        uv_close((uv_handle_t *)m->watch, free_handle);
        m->watch = NULL;
    }
}

int ctk__multi_new(ctk__multi **out, const ctk__xfer_conf *conf, const int *cancel, int cancel_fd)
{
    const ctk_fetch_opts *o = &conf->o;
    ctk__multi *m = g_new0(ctk__multi, 1);
    m->conf = conf;
    m->cancel = cancel;
    m->cancel_fd = -1;
    /* Our own fd for the run's: the strategy may poll the run's on the
     * same loop, and libuv takes one poll handle per fd. */
    if (cancel_fd >= 0 && (m->cancel_fd = fcntl(cancel_fd, F_DUPFD_CLOEXEC, 0)) < 0)
        goto fail_dup;
    if ((m->multi = curl_multi_init()) == NULL)
        goto fail_multi;
    m->spare = g_ptr_array_new();
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    if (o->per_host > 0)
        curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->per_host);
    /* curl's cache holds 4 connections per transfer added, so it
     * shrinks, closing connections, each time transfers end faster
     * than new ones are added; keep enough for every job. */
    if (o->jobs > 0)
        curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, (long)o->jobs);
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING,
                      o->http2 ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
    *out = m;
    return 0;

fail_multi:
    if (m->cancel_fd >= 0)
        close(m->cancel_fd);
    g_free(m);
    return CTK_ENOMEM;
fail_dup:
    g_free(m);
    return CTK_ESYS;
}

/* A new easy handle whose sockets this engine opens and closes. */
static CURL *easy_new(ctk__multi *m)
{
    CURL *e = ctk__xfer_easy_new(m->conf);
    if (e != NULL) {
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_curl_open);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, m);
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_curl_close);
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, m);
    }
    return e;
}

int ctk__multi_start(ctk__multi *m, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done,
                     void *done_arg)
{
    /* Idle, the multi holds nothing on any loop: it may move to another. */
    if (m->loop != loop && m->n_active > 0)
        return CTK_EINVAL;
    m->loop = loop;
    axfer *x = g_new0(axfer, 1);
    x->m = m;
    x->done = done;
    x->done_arg = done_arg;
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    x->next = m->active;
    if (m->active != NULL)
        m->active->prev = x;
    m->active = x;
    if (m->n_active++ == 0)
        watch_cancel(m);
    if (ctk__xfer_begin(&x->x, m->conf, unit) != 0) {
        /* Answered already: reported from the loop, never from inside
         * start, as the contract asks. */
        uv_timer_start(&x->timer, on_settled, 0, 0);
        return 0;
    }
    x->begun = 1;
    if (m->spare->len > 0)
        x->easy = g_ptr_array_remove_index_fast(m->spare, m->spare->len - 1);
    else
        x->easy = easy_new(m);
    if (x->easy == NULL) {
        x->x.code = CURLE_OUT_OF_MEMORY;
        uv_timer_start(&x->timer, on_settled, 0, 0);
        return 0;
    }
    attempt_add(x);
    return 0;
}

void ctk__multi_free(ctk__multi *m)
{
    if (m == NULL)
        return;
    /* The loop may be gone: curl must not call back into it. */
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, NULL);
    for (guint i = 0; i < m->spare->len; i++)
        curl_easy_cleanup(g_ptr_array_index(m->spare, i));
    g_ptr_array_free(m->spare, TRUE);
    /* Closes the cached connections, through on_curl_close: the table
     * stays until then (empty: multi_idle closed every poll). */
    curl_multi_cleanup(m->multi);
    if (m->cancel_fd >= 0)
        close(m->cancel_fd);
    g_free(m->fds);
    g_free(m);
}
