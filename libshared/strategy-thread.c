/* strategy-thread.c: a pool of N pthreads sharing memory, each pulling the
 * next unit from the input queue as soon as it is free. */
#include <glib.h>
#include <pthread.h>
#include <stdlib.h>

#include "strategies.h"

static void *worker_main(void *arg)
{
    ctk_exec *exec = arg;
    ctk_unit *unit;
    while (ctk_exec_next(exec, &unit, CTK_WAIT) == 0) {
        ctk_exec_run_unit(exec, unit);
        ctk_exec_done(exec, unit);
    }
    return NULL;
}

static int thread_execute(ctk_exec *exec, void *data)
{
    (void)data;
    unsigned jobs = ctk_exec_jobs(exec);
    pthread_t *threads = g_new0(pthread_t, jobs);
    unsigned started = 0;
    int rc = 0;
    for (; started < jobs; started++) {
        if (pthread_create(&threads[started], NULL, worker_main, exec) != 0) {
            rc = CTK_ESYS;
            break;
        }
    }
    /* With fewer threads than asked the pool still drains the input. */
    if (started == 0)
        worker_main(exec);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    g_free(threads);
    return started > 0 || rc == 0 ? 0 : rc;
}

const ctk_strategy_ops ctk__strategy_thread = {
    .name = "thread",
    .summary = "a pool of N pthreads sharing memory",
    .execute = thread_execute,
};
