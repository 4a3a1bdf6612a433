/*
 * ctk/store.h: where cqueue keeps its jobs. A store is a table of
 * operations (ctk_store_ops) behind one handle, so the queue logic never
 * sees SQL: the SQLite store is built in, and a store for queues shared by
 * many machines (PostgreSQL) can come as a plugin implementing the same
 * table. Each operation that changes a job is one transaction: a crash
 * between two of them leaves every job in a state it was in.
 *
 * Job states: queued -> running -> done | failed, and cancelled (by the
 * user, or because a job it waits for failed or was cancelled). A running
 * job holds a lease; a lease that is not renewed in time (its worker was
 * killed) puts the job back in the queue, which counts as an attempt.
 *
 * Times are wall-clock seconds since the epoch from the store's clock (a
 * test passes a fake one). Ids are positive and never reused.
 */
#ifndef CTK_STORE_H
#define CTK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ctk/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ctk_job_state {
    CTK_JOB_QUEUED = 0,
    CTK_JOB_RUNNING = 1,
    CTK_JOB_DONE = 2,
    CTK_JOB_FAILED = 3,
    CTK_JOB_CANCELLED = 4
} ctk_job_state;
#define CTK_JOB_NSTATES 5

/* "queued", "running", ...; NULL for a value out of range. */
CTK_EXTERN const char *ctk_job_state_name(ctk_job_state s);
/* Parses a state name; CTK_EINVAL for none. */
CTK_EXTERN int ctk_job_state_parse(const char *text, ctk_job_state *out);

/* What `add` records. Strings and arrays are borrowed for the call. */
typedef struct ctk_job_spec {
    const char *queue;
    const char *name;        /* NULL: none */
    const char *cmd;         /* the command line as shown (and run, without argv) */
    const char *const *argv; /* NULL-terminated; NULL: cmd runs under the shell */
    const char *cwd;         /* the working directory */
    const char *const *env;  /* NULL-terminated "NAME=value"; NULL: not recorded */
    const char *key;         /* NULL: none */
    const int64_t *after;    /* jobs this one waits for */
    size_t n_after;
    int64_t priority; /* higher first */
    unsigned retries; /* extra attempts after a failure */
    unsigned weight;  /* worker slots taken, at least 1 */
    double timeout;   /* seconds per attempt; 0: none */
} ctk_job_spec;

/* A job as stored; every string and array is owned and ctk_job_clear frees
 * them with g_free: a store allocates them with g_malloc, g_strdup or, as
 * GLib 2.46 and later allocate with the system malloc, malloc/strdup. */
typedef struct ctk_job {
    int64_t id;
    ctk_job_state state;
    char *queue, *name, *cmd, *cwd, *key;
    char **argv, **env; /* NULL-terminated, or NULL */
    char *reason;       /* why it failed or was cancelled, or NULL */
    char *worker;       /* the worker holding (or that last held) it */
    int64_t *after;
    size_t n_after;
    int64_t priority;
    unsigned retries, weight, attempts;
    double timeout;
    int exit_code, signal;
    double queued_at, started_at, finished_at, lease_until; /* 0: not yet */
    int64_t pid;        /* the job's process group leader while it runs, or 0 */
    uint64_t pid_start; /* its start time in clock ticks since boot (a pid is reused) */
    int kill_requested; /* `kill` asked for it: no further attempt */
} ctk_job;

CTK_EXTERN void ctk_job_clear(ctk_job *job);

/* How a run ended, for ctk_store_finish. */
typedef struct ctk_job_outcome {
    int exit_code, signal;
    const char *reason; /* NULL, or why ("timed out after 2 s") */
    int no_retry;       /* the outcome is final whatever the retries left */
} ctk_job_outcome;

/* A worker's identity: one per `work` process. */
typedef struct ctk_worker_id {
    const char *id;   /* unique: host/pid/start */
    const char *host; /* for finding dead workers and jobs on this machine */
} ctk_worker_id;

typedef struct ctk_queue_control {
    int paused;
    int64_t stop_gen; /* bumped by `stop` */
} ctk_queue_control;

typedef struct ctk_store_stats {
    uint64_t count[CTK_JOB_NSTATES];
    uint64_t finished_last_minute;
    double mean_wait, mean_run; /* seconds, over every job that finished */
    int paused;
} ctk_store_stats;

/* What `ls` wants: a queue, optionally one state, ids in order. */
typedef struct ctk_store_filter {
    const char *queue;
    int state;        /* a ctk_job_state, or -1 for all */
    int64_t after_id; /* ids greater than this (paging) */
    unsigned limit;   /* 0: all */
} ctk_store_filter;

typedef int (*ctk_job_fn)(void *arg, const ctk_job *job);

typedef struct ctk_store ctk_store;

typedef struct ctk_store_opts {
    const char *location;       /* a path for SQLite, a connection string for others */
    double (*clock)(void *arg); /* NULL: the real wall clock */
    void *clock_arg;
} ctk_store_opts;

/*
 * The operations a store implements. Each returns 0 or a negative CTK_E*
 * code; open and the ops that can fail for a reason a user must read
 * fill err. A store handle is used by one thread at a time.
 */
typedef struct ctk_store_ops {
    const char *name;
    int (*open)(ctk_store **out, const ctk_store_opts *opts, char *err, size_t err_len);
    void (*close)(ctk_store *st);
    /* Adds n jobs in one transaction. ids[i] gets each id; existed[i] (may
     * be NULL) is 1 when a queued or running job had the same key and its
     * id was returned instead. CTK_ENOENT (err names it) for an unknown
     * --after id: nothing is added. */
    int (*add)(ctk_store *st, const ctk_job_spec *specs, size_t n, int64_t *ids, int *existed,
               char *err, size_t err_len);
    /* Takes the ready job (queued, not waiting, fits max_weight) with the
     * highest priority, oldest first, for worker w with a lease until
     * lease_until; counts an attempt. CTK_EAGAIN when there is none, or
     * the queue is paused. */
    int (*claim)(ctk_store *st, const char *queue, const ctk_worker_id *w, unsigned max_weight,
                 double lease_until, ctk_job *job);
    /* Records the job's process group and its start time. *kill_requested
     * tells whether `kill` came first. */
    int (*set_pid)(ctk_store *st, int64_t id, const ctk_worker_id *w, int64_t pid,
                   uint64_t pid_start, int *kill_requested);
    /* Extends the leases of every job worker w holds. */
    int (*renew)(ctk_store *st, const ctk_worker_id *w, double lease_until);
    /* Ends a run: done on exit 0, else queued again while retries are
     * left, else failed (and its dependents cancelled). CTK_ENOENT when w
     * no longer holds the job (its lease expired and it went back). */
    int (*finish)(ctk_store *st, int64_t id, const ctk_worker_id *w, const ctk_job_outcome *o);
    /* Puts a job w holds back in the queue (the worker was stopped). */
    int (*release)(ctk_store *st, int64_t id, const ctk_worker_id *w);
    /* Requeues the running jobs of `queue` whose lease ended before now,
     * and those whose worker is_dead() says is gone (on this host: no
     * need to wait for the lease). Calls on_orphan for each job so the
     * caller can end a process group the dead worker left. *n gets how
     * many went back. */
    int (*expire)(ctk_store *st, const char *queue, const char *host,
                  int (*is_dead)(void *arg, const char *worker), ctk_job_fn on_orphan, void *arg,
                  unsigned *n);
    int (*get)(ctk_store *st, int64_t id, ctk_job *job);
    int (*list)(ctk_store *st, const ctk_store_filter *f, ctk_job_fn fn, void *arg);
    /* Removes a job that is not running; its queued dependents are
     * cancelled. CTK_EAGAIN for a running job. */
    int (*remove)(ctk_store *st, int64_t id);
    /* A failed or cancelled job queued again for one more attempt, and
     * the jobs cancelled because of it with it. CTK_EEXIST when a queued or
     * running job holds its key (last_error names that job); CTK_EINVAL when it is in
     * another state. */
    int (*retry)(ctk_store *st, int64_t id);
    /* Failed jobs of the queue queued again; *n how many. */
    int (*retry_failed)(ctk_store *st, const char *queue, unsigned *n);
    /* A queued job is cancelled; a running one is marked so its worker
     * does not retry it. *job gets the job as it was. */
    int (*request_kill)(ctk_store *st, int64_t id, ctk_job *job);
    int (*set_paused)(ctk_store *st, const char *queue, int paused);
    int (*stop)(ctk_store *st, const char *queue);
    int (*control)(ctk_store *st, const char *queue, ctk_queue_control *c);
    int (*stats)(ctk_store *st, const char *queue, ctk_store_stats *s);
    /* Removes the jobs of the queue in the states of `mask` (1 << state,
     * finished states only); fn (may be NULL) sees each first. */
    int (*clear)(ctk_store *st, const char *queue, unsigned mask, ctk_job_fn fn, void *arg,
                 unsigned *n);
    /* "ok", or what is wrong (PRAGMA integrity_check for SQLite). */
    int (*check)(ctk_store *st, char *result, size_t len);
    /* The store's own words for the last error (for a user), never NULL. */
    const char *(*last_error)(ctk_store *st);
    /* Optional (NULL: the caller looks again after a pause). Blocks until
     * the store hears that something changed in `queue` (a job added,
     * finished or put back; a pause lifted; a stop), one of fds is
     * readable, or timeout seconds pass (< 0: no limit). The first call
     * may return at once: it begins listening, so a caller looks again
     * before it waits. Uses no state the other ops use, so one thread may
     * wait while another holds the handle. Returns 0, or a negative code. */
    int (*wait)(ctk_store *st, const char *queue, const int *fds, size_t n_fds, double timeout);
} ctk_store_ops;

/* The common handle every store's own struct begins with. */
struct ctk_store {
    const ctk_store_ops *ops;
};

CTK_EXTERN int ctk_store_open(ctk_store **out, const ctk_store_ops *ops, const ctk_store_opts *opts,
                              char *err, size_t err_len);
CTK_EXTERN void ctk_store_close(ctk_store *st);

#ifdef __cplusplus
}
#endif
#endif
