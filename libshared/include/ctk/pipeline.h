/*
 * ctk/pipeline.h: the one data path every command uses.
 *
 *   produce (reader thread) -> bounded queue -> strategy -> bounded queue
 *   -> consume (writer thread), in input order with keep_order.
 *
 * With inline_ok and a single-threaded strategy, produce and consume run
 * on the strategy's thread instead, as it asks for units and hands them
 * back: no thread is started and no unit changes hands.
 *
 * At most `window` units are between produce and consume at any moment,
 * so memory stays flat on endless input and an out-of-order result can
 * wait for its predecessors without the buffer growing.
 */
#ifndef CTK_PIPELINE_H
#define CTK_PIPELINE_H

#include "ctk/registry.h"

/* Fills unit->in for unit->seq. Returns 0; CTK_EOF when input is done; or
 * a negative code after ctk_unit_fail(): that unit skips the strategy and
 * goes straight to consume as an error record, so nothing is dropped. */
typedef int (*ctk_produce_fn)(void *arg, ctk_unit *unit);
/* Receives each finished unit, one at a time, from the writer thread. */
typedef void (*ctk_consume_fn)(void *arg, const ctk_unit *unit);

typedef struct ctk_pipeline_opts {
    ctk_work work;
    unsigned jobs;
    int keep_order;
    size_t window; /* 0: a default that scales with jobs */
    ctk_produce_fn produce;
    void *produce_arg;
    ctk_consume_fn consume;
    void *consume_arg;
} ctk_pipeline_opts;

typedef struct ctk_pipeline ctk_pipeline;

CTK_EXTERN int ctk_pipeline_new(ctk_pipeline **out, const ctk_pipeline_opts *opts);
/* Says that produce and consume never block for long (no pipe or
 * terminal to wait on, no rate limit, no fsync) and may run on any one
 * thread: a single-threaded strategy (async) then calls them on its own
 * thread, with no reader or writer thread, so a unit crosses no thread
 * boundary. Without it, the reader and writer threads, always. Call
 * before ctk_pipeline_run. */
CTK_EXTERN void ctk_pipeline_allow_inline(ctk_pipeline *p);
/* Runs everything through strategy s. Returns 0; CTK_ECANCELED after
 * ctk_pipeline_cancel; or the strategy's error. Call once. */
CTK_EXTERN int ctk_pipeline_run(ctk_pipeline *p, const ctk_strategy *s);
/* Stops the run from any thread (a signal thread): no new units start,
 * running ones are told (cancel flag, strategy hook). Calling it again
 * escalates (the process strategy then uses SIGKILL). */
CTK_EXTERN void ctk_pipeline_cancel(ctk_pipeline *p, int signo);
/* The flag ctk_pipeline_cancel raises, for a loop between two steps. */
CTK_EXTERN const int *ctk_pipeline_cancel_flag(const ctk_pipeline *p);
/* A file descriptor that turns readable when the run is cancelled and
 * stays so: a producer or engine waiting in poll(2) or on a libuv loop
 * watches it and wakes at once, instead of waking on a timer to look at
 * the flag. Owned by the pipeline. */
CTK_EXTERN int ctk_pipeline_cancel_fd(const ctk_pipeline *p);
/* A tool's early stop (--halt) under a CTK_STRATEGY_REMOTE strategy,
 * whose units run in processes sharing nothing with this one. `ended`
 * sees, in the consuming process, each unit as soon as ctk_exec_done
 * hands it back (in the order units end, before keep_order holds any
 * back), so the tool can count it; `decided` returns the tool's
 * CTK_STOP_* so far; `apply` makes a decision that arrived from the
 * consuming process the tool's own where units run. Any may be NULL;
 * each may be called from any thread. Call before ctk_pipeline_run. */
typedef struct ctk_stop_hooks {
    void (*ended)(void *arg, const ctk_unit *unit);
    int (*decided)(void *arg);
    void (*apply)(void *arg, int how);
    void *arg;
    /* The decision may follow from any one result (cpar's --halt): where
     * units run, a slot starts no further unit until the consuming
     * process has seen the result of the last one it ran, as a local
     * slot waits for its job to be counted. */
    int each;
} ctk_stop_hooks;
CTK_EXTERN void ctk_pipeline_set_stop(ctk_pipeline *p, const ctk_stop_hooks *hooks);
CTK_EXTERN void ctk_pipeline_counts(ctk_pipeline *p, uint64_t *ok, uint64_t *failed);
CTK_EXTERN void ctk_pipeline_free(ctk_pipeline *p);

#endif
