/*
 * strategy-process.c: a pool of N worker processes. Each worker is served
 * by one dispatcher thread here that sends it a unit and waits for the
 * result over a socketpair, in the encoding of wire.c. A worker that dies
 * (crash, kill -9) turns its unit into an error result and is replaced;
 * the others go on. Workers are forked by a fork server (forkserver.h),
 * never by this multi-threaded process.
 */
#include <glib.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkserver.h"
#include "strategies.h"

typedef struct worker {
    pid_t pid; /* 0 when there is none */
    int fd;    /* our end of the worker's socketpair */
} worker;

typedef struct pool {
    ctk_exec *exec;
    ctk__forkserver *forkserver; /* every worker is forked there */
    pthread_mutex_t lock;        /* guards the table against the cancel hook */
    worker *workers;
    unsigned count;
    int cancels; /* how often cancel was asked: 1 = TERM, more = KILL */
} pool;

typedef struct dispatcher {
    pool *pool;
    unsigned index;
} dispatcher;

/* Runs in each worker, forked by the forkserver. */
static void worker_main(void *arg, int fd)
{
    ctk_exec *exec = arg;
    ctk_buf frame = {0};
    ctk_unit unit = {0};
    int rc;
    while ((rc = ctk_wire_recv(fd, &frame)) == 0) {
        unit.out.len = 0;
        unit.status = 0;
        free(unit.error);
        unit.error = NULL;
        if (ctk_wire_decode_unit(&frame, &unit) < 0)
            _exit(3);
        ctk_exec_run_unit(exec, &unit);
        if (ctk_wire_encode_result(&frame, &unit) < 0 || ctk_wire_send(fd, &frame) < 0)
            _exit(4);
    }
    /* _exit: never flush stdio buffers copied from the parent. */
    _exit(rc == CTK_EOF ? 0 : 2);
}

static int spawn_worker(pool *pl, unsigned index)
{
    pid_t pid;
    int fd;
    int rc = ctk__forkserver_spawn(pl->forkserver, &pid, &fd);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&pl->lock);
    pl->workers[index] = (worker){pid, fd};
    pthread_mutex_unlock(&pl->lock);
    return 0;
}

/* Reaps a worker and describes how it ended, for the unit's error. */
static void reap_worker(pool *pl, unsigned index, char *how, size_t how_len)
{
    pthread_mutex_lock(&pl->lock);
    worker w = pl->workers[index];
    pl->workers[index].pid = 0;
    pthread_mutex_unlock(&pl->lock);
    close(w.fd);
    int status = 0;
    if (ctk__forkserver_reap(pl->forkserver, w.pid, &status) < 0)
        snprintf(how, how_len, "worker %ld lost (the fork server is gone)", (long)w.pid);
    else if (WIFSIGNALED(status))
        snprintf(how, how_len, "worker %ld killed by signal %d (%s)", (long)w.pid, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(how, how_len, "worker %ld exited with status %d", (long)w.pid,
                 WEXITSTATUS(status));
}

static int cancelled(const ctk_exec *exec)
{
    return ctk_is_cancelled(ctk_exec_cancel_flag(exec));
}

/* Runs one unit on worker `index`; respawns the worker if it died. */
static void dispatch(pool *pl, unsigned index, ctk_unit *unit, ctk_buf *frame)
{
    int rc = ctk_wire_encode_unit(frame, unit);
    if (rc < 0) {
        ctk_unit_fail(unit, rc, "cannot encode unit: %s", ctk_strerror(rc));
        return;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (pl->workers[index].pid == 0 && (rc = spawn_worker(pl, index)) < 0) {
            ctk_unit_fail(unit, rc, "cannot start worker: %s", ctk_strerror(rc));
            return;
        }
        /* A cancel that came while the worker started did not reach it. */
        if (cancelled(pl->exec)) {
            ctk_unit_fail(unit, CTK_ECANCELED, "cancelled");
            return;
        }
        /* A send that fails means the worker died while idle: the unit
         * never reached it, so it goes to a fresh worker. */
        if (ctk_wire_send(pl->workers[index].fd, frame) == 0)
            break;
        char how[160];
        reap_worker(pl, index, how, sizeof how);
        if (attempt == 1 || cancelled(pl->exec)) {
            ctk_unit_fail(unit, CTK_ECHILD, "%s", how);
            return;
        }
    }
    rc = ctk_wire_recv(pl->workers[index].fd, frame);
    if (rc == 0)
        rc = ctk_wire_decode_result(frame, unit);
    if (rc < 0) {
        char how[160];
        reap_worker(pl, index, how, sizeof how);
        ctk_unit_fail(unit, cancelled(pl->exec) ? CTK_ECANCELED : CTK_ECHILD, "%s", how);
    }
}

static void *dispatcher_main(void *arg)
{
    dispatcher *d = arg;
    pool *pl = d->pool;
    ctk_buf frame = {0};
    ctk_unit *unit;
    while (ctk_exec_next(pl->exec, &unit, CTK_WAIT) == 0) {
        dispatch(pl, d->index, unit, &frame);
        ctk_exec_done(pl->exec, unit);
    }
    ctk_buf_free(&frame);
    if (pl->workers[d->index].pid > 0) {
        char how[160];
        shutdown(pl->workers[d->index].fd, SHUT_WR); /* EOF: the worker exits */
        reap_worker(pl, d->index, how, sizeof how);
    }
    return NULL;
}

static void process_cancel(void *arg, int signo)
{
    pool *pl = arg;
    pthread_mutex_lock(&pl->lock);
    pl->cancels++;
    int sig = pl->cancels > 1 ? SIGKILL : (signo > 0 ? signo : SIGTERM);
    for (unsigned i = 0; i < pl->count; i++)
        if (pl->workers[i].pid > 0)
            kill(pl->workers[i].pid, sig);
    pthread_mutex_unlock(&pl->lock);
}

static int process_execute(ctk_exec *exec, void *data)
{
    (void)data;
    pool pl = {.exec = exec, .count = ctk_exec_jobs(exec)};
    int rc = CTK_ESYS;
    pl.workers = g_new0(worker, pl.count);
    dispatcher *ds = g_new0(dispatcher, pl.count);
    pthread_t *threads = g_new0(pthread_t, pl.count);
    if (pthread_mutex_init(&pl.lock, NULL) != 0)
        goto fail_alloc;
    /* Before the first ctk_exec_next the pipeline has started no thread:
     * the one moment this process can fork safely. */
    if ((rc = ctk__forkserver_start(&pl.forkserver, worker_main, exec)) < 0)
        goto fail_forkserver;
    for (unsigned i = 0; i < pl.count; i++)
        if ((rc = spawn_worker(&pl, i)) < 0)
            goto fail_spawn;
    ctk_exec_set_cancel_hook(exec, process_cancel, &pl);
    unsigned started = 0;
    for (; started < pl.count; started++) {
        ds[started] = (dispatcher){&pl, started};
        if (pthread_create(&threads[started], NULL, dispatcher_main, &ds[started]) != 0)
            break;
    }
    if (started == 0) {
        ds[0] = (dispatcher){&pl, 0};
        dispatcher_main(&ds[0]);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    rc = 0;
fail_spawn:
    ctk_exec_set_cancel_hook(exec, NULL, NULL);
    for (unsigned i = 0; i < pl.count; i++) {
        if (pl.workers[i].pid > 0) {
            char how[160];
            reap_worker(&pl, i, how, sizeof how);
        }
    }
    ctk__forkserver_stop(pl.forkserver);
fail_forkserver:
    pthread_mutex_destroy(&pl.lock);
fail_alloc:
    g_free(threads);
    g_free(ds);
    g_free(pl.workers);
    return rc;
}

const ctk_strategy_ops ctk__strategy_process = {
    .name = "process",
    .summary = "a pool of N forked workers; units and results travel over sockets",
    .flags = CTK_STRATEGY_PROCESSES,
    .execute = process_execute,
};
