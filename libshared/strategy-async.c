/*
 * strategy-async.c: one thread, one libuv loop. Units with a non-blocking
 * `start` run concurrently, up to N at once; units without one run inline
 * on the loop thread, one per loop turn, which is the lesson: blocking
 * work in an event loop serialises.
 */
#include <glib.h>
#include <stdlib.h>

#include "strategies.h"

typedef struct async_run {
    ctk_exec *exec;
    uv_loop_t loop;
    uv_async_t wakeup; /* input arrived or the run was cancelled */
    uv_idle_t pump;    /* active while there may be work to start */
    unsigned in_flight;
    int input_done;
    int closing;
} async_run;

static void pump_stop_if_done(async_run *ar)
{
    if (ar->input_done && ar->in_flight == 0 && !ar->closing) {
        ar->closing = 1;
        ctk_exec_set_wakeup(ar->exec, NULL, NULL);
        uv_idle_stop(&ar->pump);
        uv_close((uv_handle_t *)&ar->pump, NULL);
        uv_close((uv_handle_t *)&ar->wakeup, NULL);
    }
}

static void pump_cb(uv_idle_t *idle);

static void unit_finished(ctk_unit *unit, void *arg)
{
    async_run *ar = arg;
    ar->in_flight--;
    ctk_exec_done(ar->exec, unit);
    if (!ar->input_done)
        uv_idle_start(&ar->pump, pump_cb); /* a slot is free */
    pump_stop_if_done(ar);
}

static void start_unit(async_run *ar, ctk_unit *unit)
{
    const ctk_work *work = ctk_exec_work(ar->exec);
    if (work->start == NULL) {
        ctk_exec_run_unit(ar->exec, unit);
        ctk_exec_done(ar->exec, unit);
        return;
    }
    unit->start = ctk_exec_clock(ar->exec);
    ar->in_flight++;
    int rc = work->start(work->ctx, &ar->loop, unit, unit_finished, ar);
    if (rc < 0) {
        ar->in_flight--;
        ctk_unit_fail(unit, rc, "cannot start: %s", ctk_strerror(rc));
        ctk_exec_done(ar->exec, unit);
    }
}

static void pump_cb(uv_idle_t *idle)
{
    async_run *ar = idle->data;
    const ctk_work *work = ctk_exec_work(ar->exec);
    unsigned jobs = ctk_exec_jobs(ar->exec);
    /* Inline units: one per turn so timers and I/O still get a look in. */
    unsigned budget = work->start != NULL ? jobs : 1;
    while (budget-- > 0 && ar->in_flight < jobs && !ar->input_done) {
        ctk_unit *unit;
        int rc = ctk_exec_next(ar->exec, &unit, CTK_NOWAIT);
        if (rc == CTK_EAGAIN) {
            uv_idle_stop(idle); /* the wakeup handle restarts us */
            return;
        }
        if (rc < 0) {
            ar->input_done = 1;
            break;
        }
        start_unit(ar, unit);
    }
    if (ar->input_done || ar->in_flight >= jobs)
        uv_idle_stop(idle);
    pump_stop_if_done(ar);
}

static void wakeup_cb(uv_async_t *async)
{
    async_run *ar = async->data;
    if (!ar->input_done)
        uv_idle_start(&ar->pump, pump_cb);
}

static void wakeup_from_any_thread(void *arg)
{
    async_run *ar = arg;
    uv_async_send(&ar->wakeup);
}

static int async_execute(ctk_exec *exec, void *data)
{
    (void)data;
    async_run *ar = g_new0(async_run, 1);
    ar->exec = exec;
    /* One thread asks for units and hands them back: where the tool lets
     * it, that thread reads and records them too. */
    ctk__exec_go_inline(exec);
    int rc = uv_loop_init(&ar->loop);
    if (rc < 0)
        goto fail_loop;
    rc = uv_async_init(&ar->loop, &ar->wakeup, wakeup_cb);
    if (rc < 0)
        goto fail_async;
    uv_idle_init(&ar->loop, &ar->pump);
    ar->wakeup.data = ar->pump.data = ar;
    ctk_exec_set_wakeup(exec, wakeup_from_any_thread, ar);
    uv_idle_start(&ar->pump, pump_cb);
    uv_run(&ar->loop, UV_RUN_DEFAULT);
    ctk_exec_set_wakeup(exec, NULL, NULL);
    uv_loop_close(&ar->loop);
    g_free(ar);
    return 0;

fail_async:
    uv_loop_close(&ar->loop);
fail_loop:
    g_free(ar);
    return CTK_ESYS;
}

const ctk_strategy_ops ctk__strategy_async = {
    .name = "async",
    .summary = "one thread, one libuv event loop; non-blocking units run concurrently",
    .flags = CTK_STRATEGY_ONE_THREAD,
    .execute = async_execute,
};
