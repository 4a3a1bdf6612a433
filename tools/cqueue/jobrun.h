/*
 * jobrun.h: running one cqueue job, as a strategy asks: the blocking form
 * (sync, thread, process and plugin strategies) and the non-blocking form
 * on a libuv loop (async). Both take the job from the unit (jobunit.h),
 * write its output straight into its files, and put how it ended into
 * the unit's result; neither touches the store, so a unit can run in a
 * forked worker.
 */
#ifndef CQUEUE_JOBRUN_H
#define CQUEUE_JOBRUN_H

#include <stdint.h>

#include "ctk/plugin.h"
#include "ctkx/spawn.h"

/* The work's context: read-only once the run starts (forked workers
 * inherit a copy). */
typedef struct cq_runner {
    const char *shell;                 /* runs command lines; NULL: /bin/sh */
    const ctk_spawn_termstep *termseq; /* timeouts and stopping; NULL: the default */
    size_t termseq_len;
    int cancel_fd; /* readable once the worker stops: running jobs are ended */
    int report_fd; /* where each started job's (id, pid) is written, or -1 */
    /* The output folder, or -1: output files are opened by their base name
     * relative to it and never through a symbolic link, so a folder
     * swapped or a link planted in it sends no output elsewhere. */
    int out_dir_fd;
} cq_runner;

/* One report: written whole (it is less than PIPE_BUF) from any thread
 * or process. */
typedef struct cq_report {
    int64_t id, pid;
} cq_report;

int cq_runner_run(void *ctx, ctk_unit *unit, const int *cancel);
int cq_runner_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *done_arg);

#endif
