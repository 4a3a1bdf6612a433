/*
 * jobq.h: cqueue's worker. It claims jobs from a store with a lease and
 * runs each as a unit of a pipeline, under the strategy the user picked
 * (jobrun.h: each job in its own process group, output straight into
 * files next to the database, so no job's output passes through memory);
 * it renews the leases while they run and records how each ended.
 *
 * Also here: the process identities that let any cqueue command on this
 * machine tell whether a worker is alive and signal a job's process group
 * without hitting a reused pid.
 */
#ifndef CTK_JOBQ_H
#define CTK_JOBQ_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ctk/registry.h"
#include "ctk/store.h"
#include "ctkx/spawn.h"

typedef enum ctk_jobq_mode {
    CTK_JOBQ_FOREVER = 0, /* until stopped (`cqueue stop`, a signal, --idle-exit) */
    CTK_JOBQ_ONCE,        /* one job, if one is ready, then exit */
    CTK_JOBQ_DRAIN        /* until no job of the queue is left queued */
} ctk_jobq_mode;

typedef struct ctk_jobq_opts {
    ctk_store *store;
    const char *queue;
    const char *out_dir; /* ID.out and ID.err go here */
    int out_dir_fd;      /* out_dir, open (O_DIRECTORY), or -1 */
    unsigned slots;      /* -j: a job takes its weight of them */
    ctk_jobq_mode mode;
    double idle_exit;                  /* exit after this long with nothing to do; 0: never */
    double lease;                      /* seconds a claim holds without renewal; 0: 30 */
    double poll;                       /* seconds between looks at an idle queue; 0: 0.1 */
    const char *shell;                 /* runs jobs given as a command line; NULL: /bin/sh */
    const ctk_spawn_termstep *termseq; /* --timeout and stopping; NULL: the default */
    size_t termseq_len;
    FILE *log;                    /* one line per job event (the daemon's log); NULL: none */
    const ctk_strategy *strategy; /* runs the jobs, as units */
} ctk_jobq_opts;

typedef struct ctk_jobq ctk_jobq;

int ctk_jobq_new(ctk_jobq **out, const ctk_jobq_opts *opts);
/* Works until the mode says to stop. Returns 0, or a negative code with
 * the store's words in ctk_jobq_error(). */
int ctk_jobq_run(ctk_jobq *q);
const char *ctk_jobq_error(ctk_jobq *q);
/* From another thread (the signal watcher): stop claiming, end the
 * running jobs (termination sequence) and put them back in the queue.
 * Again escalates, as the strategy does (the process strategy kills its
 * workers). */
void ctk_jobq_cancel(ctk_jobq *q);
void ctk_jobq_cancel_signal(ctk_jobq *q, int signo);
void ctk_jobq_free(ctk_jobq *q);
/* Jobs that ended here (any outcome). */
uint64_t ctk_jobq_ran(ctk_jobq *q);
/* Jobs that ended here and are failed for good (no retry left). */
uint64_t ctk_jobq_failed(ctk_jobq *q);

/* "DIR/ID.out" or "DIR/ID.err" (stream 1 or 2). Free with g_free. */
char *ctk_jobq_out_path(const char *out_dir, int64_t id, int stream);

/* A process's start time (clock ticks since boot, from /proc), which
 * together with the pid names it for good. CTK_ENOENT when it is gone. */
int ctk_proc_start_time(pid_t pid, uint64_t *start);
/* Sends signo to the process group of a running job when its leader is
 * on this host and still the process that was started. CTK_ENOENT when
 * the job runs nowhere here. */
int ctk_jobq_signal_job(const ctk_job *job, int signo);
/* This process as a worker: host/pid/start. Free with g_free. */
char *ctk_jobq_worker_name(void);

#endif
