/*
 * pipeline.c: reader thread -> input queue -> strategy -> output queue ->
 * writer thread, with a credit window bounding the units in flight; or,
 * inline, produce and consume called from the strategy's one thread.
 */
#include <glib.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ctk/pipeline.h"
#include "queue.h"
#include "strategies.h"

struct ctk_exec {
    ctk_pipeline *pipeline;
};

struct ctk_pipeline {
    ctk_pipeline_opts opts;
    ctk_exec exec;
    ctk__queue *input;
    ctk__queue *output;
    struct timespec t0;
    pthread_t reader, writer;
    int started; /* reader and writer exist (guarded by lock) */
    int start_failed;

    ctk_stop_hooks stop; /* the tool's --halt across hosts; set before the run */
    int inline_ok;       /* the tool allows inline mode */
    /* Inline mode: the strategy's thread only, no lock needed. */
    int inline_mode;
    int input_done;
    uint64_t next_seq;

    /* keep_order: units waiting for their predecessors, by seq % window
     * (the writer thread's, or the strategy thread's inline). */
    ctk_unit **pending;
    uint64_t next_out;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t credit_freed;
    size_t in_flight; /* produced, not yet consumed */
    int cancel;       /* read by workers through ctk_exec_cancel_flag */
    int cancel_fd;    /* readable once cancelled, so a waiting loop wakes at once */
    void (*wakeup)(void *);
    void *wakeup_arg;
    void (*cancel_hook)(void *, int);
    void *cancel_hook_arg;
    uint64_t ok, failed;
};

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void unit_free(ctk_unit *u)
{
    ctk_buf_free(&u->in);
    ctk_buf_free(&u->out);
    free(u->error);
    g_free(u);
}

static int is_cancelled(ctk_pipeline *p)
{
    return __atomic_load_n(&p->cancel, __ATOMIC_RELAXED) != 0;
}

/* Hooks run under the lock so that a strategy clearing its hook knows no
 * call into its (about to be freed) state is still under way. */
static void wake(ctk_pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->wakeup != NULL)
        p->wakeup(p->wakeup_arg);
    pthread_mutex_unlock(&p->lock);
}

/* ---- the exec interface strategies see ---------------------------------- */

static void start_threads(ctk_pipeline *p);

static int next_inline(ctk_pipeline *p, ctk_unit **unit);
static void deliver(ctk_pipeline *p, ctk_unit *u);

int ctk_exec_next(ctk_exec *exec, ctk_unit **unit, int wait)
{
    ctk_pipeline *p = exec->pipeline;
    if (p->inline_mode)
        return next_inline(p, unit);
    start_threads(p);
    if (is_cancelled(p))
        return CTK_EOF;
    void *item;
    int rc = ctk__queue_pop(p->input, &item, wait);
    if (rc == 0)
        *unit = item;
    return rc;
}

void ctk_exec_done(ctk_exec *exec, ctk_unit *unit)
{
    const ctk_stop_hooks *stop = &exec->pipeline->stop;
    if (stop->ended != NULL)
        stop->ended(stop->arg, unit);
    if (exec->pipeline->inline_mode) {
        deliver(exec->pipeline, unit);
        return;
    }
    /* The output queue is as large as the window, so this never blocks. */
    if (ctk__queue_push(exec->pipeline->output, unit) < 0)
        unit_free(unit);
}

const ctk_work *ctk_exec_work(const ctk_exec *exec)
{
    return &exec->pipeline->opts.work;
}

unsigned ctk_exec_jobs(const ctk_exec *exec)
{
    return exec->pipeline->opts.jobs;
}

const int *ctk_exec_cancel_flag(const ctk_exec *exec)
{
    return &exec->pipeline->cancel;
}

int ctk_exec_cancel_fd(const ctk_exec *exec)
{
    return exec->pipeline->cancel_fd;
}

double ctk_exec_clock(const ctk_exec *exec)
{
    return since(&exec->pipeline->t0);
}

void ctk_exec_set_wakeup(ctk_exec *exec, void (*fn)(void *arg), void *arg)
{
    ctk_pipeline *p = exec->pipeline;
    pthread_mutex_lock(&p->lock);
    p->wakeup = fn;
    p->wakeup_arg = arg;
    pthread_mutex_unlock(&p->lock);
}

void ctk_exec_set_cancel_hook(ctk_exec *exec, void (*fn)(void *arg, int signo), void *arg)
{
    ctk_pipeline *p = exec->pipeline;
    pthread_mutex_lock(&p->lock);
    p->cancel_hook = fn;
    p->cancel_hook_arg = arg;
    pthread_mutex_unlock(&p->lock);
}

int ctk_exec_stop(ctk_exec *exec)
{
    const ctk_stop_hooks *stop = &exec->pipeline->stop;
    return stop->decided != NULL ? stop->decided(stop->arg) : CTK_STOP_NONE;
}

void ctk_exec_apply_stop(ctk_exec *exec, int how)
{
    const ctk_stop_hooks *stop = &exec->pipeline->stop;
    if (stop->apply != NULL && (how == CTK_STOP_SOON || how == CTK_STOP_NOW))
        stop->apply(stop->arg, how);
}

int ctk_exec_stop_each(ctk_exec *exec)
{
    return exec->pipeline->stop.each;
}

void ctk_exec_run_unit(ctk_exec *exec, ctk_unit *unit)
{
    const ctk_work *work = ctk_exec_work(exec);
    unit->start = ctk_exec_clock(exec);
    int rc = work->run(work->ctx, unit, &exec->pipeline->cancel);
    unit->elapsed = ctk_exec_clock(exec) - unit->start;
    if (rc < 0 && unit->status == 0)
        unit->status = rc;
    if (unit->status < 0 && unit->error == NULL)
        ctk_unit_fail(unit, unit->status, "%s", ctk_strerror(unit->status));
}

/* ---- reader and writer -------------------------------------------------- */

static int take_credit(ctk_pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->in_flight >= p->opts.window && !p->cancel)
        pthread_cond_wait(&p->credit_freed, &p->lock);
    int ok = !p->cancel;
    if (ok)
        p->in_flight++;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

static void return_credit(ctk_pipeline *p, const ctk_unit *u)
{
    pthread_mutex_lock(&p->lock);
    p->in_flight--;
    if (u != NULL && u->status == 0)
        p->ok++;
    else if (u != NULL)
        p->failed++;
    pthread_cond_signal(&p->credit_freed);
    pthread_mutex_unlock(&p->lock);
}

static void *reader_main(void *arg)
{
    ctk_pipeline *p = arg;
    for (uint64_t seq = 1; take_credit(p); seq++) {
        ctk_unit *u = g_new0(ctk_unit, 1);
        u->seq = seq;
        int rc = p->opts.produce(p->opts.produce_arg, u);
        if (rc == CTK_EOF) {
            unit_free(u);
            return_credit(p, NULL);
            break;
        }
        if (rc < 0 && u->status == 0)
            ctk_unit_fail(u, rc, "%s", ctk_strerror(rc));
        /* A unit that failed to produce is already a result. */
        ctk__queue *to = u->status < 0 ? p->output : p->input;
        if (ctk__queue_push(to, u) < 0) {
            unit_free(u);
            return_credit(p, NULL);
            break;
        }
        if (to == p->input)
            wake(p);
    }
    ctk__queue_close(p->input);
    wake(p);
    return NULL;
}

static void emit(ctk_pipeline *p, ctk_unit *u)
{
    p->opts.consume(p->opts.consume_arg, u);
    return_credit(p, u);
    unit_free(u);
}

/* A finished unit: consumed now, or (keep_order) once its predecessors
 * have been. */
static void deliver(ctk_pipeline *p, ctk_unit *u)
{
    size_t window = p->opts.window;
    if (p->pending == NULL) {
        emit(p, u);
        return;
    }
    ctk_unit **pending = p->pending;
    pending[u->seq % window] = u;
    uint64_t next = p->next_out;
    while (pending[next % window] != NULL && pending[next % window]->seq == next) {
        ctk_unit *ready = pending[next % window];
        pending[next % window] = NULL;
        emit(p, ready);
        next++;
    }
    p->next_out = next;
}

/* After a cancel there may be gaps: what finished is still reported, in
 * order. */
static void deliver_rest(ctk_pipeline *p)
{
    if (p->pending == NULL)
        return;
    size_t window = p->opts.window;
    for (size_t k = 0; k < window; k++) {
        ctk_unit *u = p->pending[(p->next_out + k) % window];
        if (u != NULL)
            emit(p, u);
    }
    g_free(p->pending);
    p->pending = NULL;
}

static void *writer_main(void *arg)
{
    ctk_pipeline *p = arg;
    void *item;
    while (ctk__queue_pop(p->output, &item, CTK_WAIT) == 0)
        deliver(p, item);
    deliver_rest(p);
    return NULL;
}

/* ---- inline mode -------------------------------------------------------- */

int ctk__exec_go_inline(ctk_exec *exec)
{
    ctk_pipeline *p = exec->pipeline;
    pthread_mutex_lock(&p->lock);
    if (p->inline_ok && !p->started && !p->start_failed)
        p->inline_mode = 1;
    pthread_mutex_unlock(&p->lock);
    return p->inline_mode;
}

/* The reader's loop, one unit at a time, on the strategy's thread. A unit
 * that failed to produce is a result at once. */
static int next_inline(ctk_pipeline *p, ctk_unit **unit)
{
    for (;;) {
        if (p->input_done || is_cancelled(p))
            return CTK_EOF;
        pthread_mutex_lock(&p->lock);
        int room = p->in_flight < p->opts.window;
        if (room)
            p->in_flight++;
        pthread_mutex_unlock(&p->lock);
        if (!room)
            return CTK_EAGAIN;
        ctk_unit *u = g_new0(ctk_unit, 1);
        u->seq = ++p->next_seq;
        int rc = p->opts.produce(p->opts.produce_arg, u);
        if (rc == CTK_EOF) {
            unit_free(u);
            return_credit(p, NULL);
            p->input_done = 1;
            return CTK_EOF;
        }
        if (rc < 0 && u->status == 0)
            ctk_unit_fail(u, rc, "%s", ctk_strerror(rc));
        if (u->status == 0) {
            *unit = u;
            return 0;
        }
        deliver(p, u);
    }
}

/* ---- life cycle --------------------------------------------------------- */

int ctk_pipeline_new(ctk_pipeline **out, const ctk_pipeline_opts *opts)
{
    if (opts->work.run == NULL || opts->produce == NULL || opts->consume == NULL || opts->jobs == 0)
        return CTK_EINVAL;
    ctk_pipeline *p = g_new0(ctk_pipeline, 1);
    p->opts = *opts;
    if (p->opts.window == 0)
        p->opts.window = 64 + 16 * (size_t)opts->jobs;
    p->exec.pipeline = p;
    p->next_out = 1;
    p->cancel_fd = -1;
    if (p->opts.keep_order)
        p->pending = g_new0(ctk_unit *, p->opts.window);
    p->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->cancel_fd < 0)
        goto fail;
    p->input = ctk__queue_new(p->opts.window);
    p->output = ctk__queue_new(p->opts.window);
    if (p->input == NULL || p->output == NULL)
        goto fail;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&p->credit_freed, NULL) != 0)
        goto fail_cond;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    *out = p;
    return 0;

fail_cond:
    pthread_mutex_destroy(&p->lock);
fail:
    ctk__queue_free(p->output);
    ctk__queue_free(p->input);
    if (p->cancel_fd >= 0)
        close(p->cancel_fd);
    g_free(p->pending);
    g_free(p);
    return CTK_ENOMEM;
}

/* The reader and writer start with the strategy's first request for a
 * unit, not before: until then this process has no thread of ours, so a
 * strategy can fork (a fork server) safely first. */
static void start_threads(ctk_pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    if (!p->started && !p->start_failed) {
        if (pthread_create(&p->writer, NULL, writer_main, p) != 0) {
            p->start_failed = 1;
        } else if (pthread_create(&p->reader, NULL, reader_main, p) != 0) {
            p->start_failed = 1;
            ctk__queue_close(p->output);
            pthread_mutex_unlock(&p->lock);
            pthread_join(p->writer, NULL);
            pthread_mutex_lock(&p->lock);
        } else {
            p->started = 1;
        }
    }
    int failed = p->start_failed;
    pthread_mutex_unlock(&p->lock);
    if (failed)
        ctk__queue_close(p->input); /* next() sees EOF */
}

void ctk_pipeline_allow_inline(ctk_pipeline *p)
{
    p->inline_ok = 1;
}

int ctk_pipeline_run(ctk_pipeline *p, const ctk_strategy *s)
{
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    int rc = s->ops->execute(&p->exec, s->data);
    if (rc < 0)
        ctk_pipeline_cancel(p, 0);
    pthread_mutex_lock(&p->lock);
    int started = p->started, failed = p->start_failed;
    pthread_mutex_unlock(&p->lock);
    if (started) {
        pthread_join(p->reader, NULL);
        /* Units nobody took (cancelled run) are not results: free them. */
        void *item;
        while (ctk__queue_pop(p->input, &item, CTK_NOWAIT) == 0) {
            unit_free(item);
            return_credit(p, NULL);
        }
        ctk__queue_close(p->output);
        pthread_join(p->writer, NULL);
    }
    if (p->inline_mode)
        deliver_rest(p);
    if (rc == 0 && failed)
        rc = CTK_ESYS;
    if (rc == 0 && is_cancelled(p))
        rc = CTK_ECANCELED;
    return rc;
}

void ctk_pipeline_cancel(ctk_pipeline *p, int signo)
{
    pthread_mutex_lock(&p->lock);
    __atomic_store_n(&p->cancel, 1, __ATOMIC_RELAXED);
    /* Never read back: the fd stays readable for the rest of the run. */
    uint64_t one = 1;
    if (write(p->cancel_fd, &one, sizeof one) < 0) {
        /* Only EAGAIN (counter full) is possible, and it is readable then. */
    }
    pthread_cond_broadcast(&p->credit_freed);
    if (p->cancel_hook != NULL)
        p->cancel_hook(p->cancel_hook_arg, signo);
    pthread_mutex_unlock(&p->lock);
    ctk__queue_close(p->input);
    wake(p);
}

const int *ctk_pipeline_cancel_flag(const ctk_pipeline *p)
{
    return &p->cancel;
}

int ctk_pipeline_cancel_fd(const ctk_pipeline *p)
{
    return p->cancel_fd;
}

void ctk_pipeline_set_stop(ctk_pipeline *p, const ctk_stop_hooks *hooks)
{
    p->stop = hooks != NULL ? *hooks : (ctk_stop_hooks){0};
}

void ctk_pipeline_counts(ctk_pipeline *p, uint64_t *ok, uint64_t *failed)
{
    pthread_mutex_lock(&p->lock);
    *ok = p->ok;
    *failed = p->failed;
    pthread_mutex_unlock(&p->lock);
}

void ctk_pipeline_free(ctk_pipeline *p)
{
    if (p == NULL)
        return;
    pthread_cond_destroy(&p->credit_freed);
    pthread_mutex_destroy(&p->lock);
    ctk__queue_free(p->output);
    ctk__queue_free(p->input);
    close(p->cancel_fd);
    g_free(p->pending);
    g_free(p);
}
