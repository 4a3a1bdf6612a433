/*
 * ctk/plugin.h: the whole plugin contract, in the spirit of collectd's
 * plugin.h. A plugin is one shared object that exports one symbol,
 * `ctk_plugin` (use CTK_PLUGIN_DEFINE), whose init function registers what
 * the plugin provides: strategies (how units of work run concurrently),
 * cburn workloads and cqueue stores (ctk/store.h). Everything a plugin may call is declared here;
 * build it with `cc -shared -fPIC $(pkg-config --cflags --libs ctk) -o NAME.so NAME.c`.
 */
#ifndef CTK_PLUGIN_H
#define CTK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ctk/common.h"
#include "ctk/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct below changes layout or meaning. The loader
 * refuses a plugin built against another version. */
#define CTK_PLUGIN_ABI 3

/* The plugin ABI the running libctk loads (its CTK_PLUGIN_ABI). */
CTK_EXTERN unsigned ctk_plugin_abi(void);

/* ---- units of work ------------------------------------------------------ */

/* A growable byte buffer. Units and results are bytes so that any strategy,
 * including ones that cross a process boundary, can carry them. */
typedef struct ctk_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
} ctk_buf;

CTK_EXTERN int ctk_buf_append(ctk_buf *buf, const void *data, size_t len);
CTK_EXTERN int ctk_buf_set(ctk_buf *buf, const void *data, size_t len);
CTK_EXTERN void ctk_buf_free(ctk_buf *buf);

typedef struct ctk_unit {
    uint64_t seq;   /* 1-based position in the input */
    ctk_buf in;     /* what to do, encoded by the tool */
    ctk_buf out;    /* what came of it, encoded by the tool */
    int status;     /* 0, or a negative CTK_E* code */
    char *error;    /* malloc'd message when status != 0, else NULL */
    double start;   /* seconds since the run began */
    double elapsed; /* seconds the unit took */
} ctk_unit;

/* Sets status and a formatted error message on a unit. Returns status. */
CTK_EXTERN int ctk_unit_fail(ctk_unit *unit, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Blocking form of a unit: fills unit->out (or fails it). `cancel` turns
 * non-zero when the run is being interrupted; long work should poll it. */
typedef int (*ctk_run_fn)(void *ctx, ctk_unit *unit, const int *cancel);

/* Reads a cancel flag; the flag is written by another thread. */
static inline int ctk_is_cancelled(const int *cancel)
{
    return cancel != NULL && __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0;
}

/* Non-blocking form: starts the unit on `loop` and returns; calls `done`
 * exactly once, from the loop thread, when the unit has finished. */
typedef void (*ctk_done_fn)(ctk_unit *unit, void *done_arg);
typedef int (*ctk_start_fn)(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done,
                            void *done_arg);

typedef struct ctk_work {
    ctk_run_fn run;     /* required */
    ctk_start_fn start; /* optional: the async strategy uses it when set */
    void *ctx;          /* the tool's state; forked workers inherit it */
} ctk_work;

/* ---- what a strategy sees of a run -------------------------------------- */

typedef struct ctk_exec ctk_exec;

enum { CTK_NOWAIT = 0, CTK_WAIT = 1 };

/* Takes the next unit. With CTK_WAIT blocks until one is ready; returns 0,
 * CTK_EOF when input is exhausted or the run was cancelled, or (CTK_NOWAIT)
 * CTK_EAGAIN. Safe to call from any thread. */
CTK_EXTERN int ctk_exec_next(ctk_exec *exec, ctk_unit **unit, int wait);
/* Hands a finished unit back. Safe to call from any thread. */
CTK_EXTERN void ctk_exec_done(ctk_exec *exec, ctk_unit *unit);
CTK_EXTERN const ctk_work *ctk_exec_work(const ctk_exec *exec);
CTK_EXTERN unsigned ctk_exec_jobs(const ctk_exec *exec);
/* Points at a flag that turns non-zero when the run is cancelled. */
CTK_EXTERN const int *ctk_exec_cancel_flag(const ctk_exec *exec);
/* A file descriptor that turns readable when the run is cancelled and stays
 * so, for a strategy or unit waiting in poll(2) or on a libuv loop (uv_poll):
 * cancellation reaches a waiting loop at once, with no timer. Owned by the
 * run; do not read or close it. */
CTK_EXTERN int ctk_exec_cancel_fd(const ctk_exec *exec);
/* Seconds since the run started (monotonic clock). */
CTK_EXTERN double ctk_exec_clock(const ctk_exec *exec);
/* Calls fn(arg) (from any thread) whenever a unit may have become ready or
 * the run was cancelled, so an event loop can wake up. One hook per run. */
CTK_EXTERN void ctk_exec_set_wakeup(ctk_exec *exec, void (*fn)(void *arg), void *arg);
/* Calls fn(arg, signo) (from the signal thread) when the run is cancelled,
 * so a strategy can stop what polling cannot reach (child processes). */
CTK_EXTERN void ctk_exec_set_cancel_hook(ctk_exec *exec, void (*fn)(void *arg, int signo),
                                         void *arg);
/* The tool's early stop (--halt), for a CTK_STRATEGY_REMOTE strategy
 * whose units run where the tool's own stop cannot reach. In the process
 * that consumes, ctk_exec_stop says what the tool has decided so far
 * (it only rises): CTK_STOP_SOON, start no more units; CTK_STOP_NOW, end
 * the running ones too. The strategy carries a rise to every process that
 * runs units, ahead of any unit it hands out afterwards, and there calls
 * ctk_exec_apply_stop: the tool then skips or runs the units it is still
 * given as it would locally, and ends its running units on NOW. Without
 * the tool's stop hooks (ctk_pipeline_set_stop) these are no-ops. */
enum { CTK_STOP_NONE = 0, CTK_STOP_SOON = 1, CTK_STOP_NOW = 2 };
CTK_EXTERN int ctk_exec_stop(ctk_exec *exec);
CTK_EXTERN void ctk_exec_apply_stop(ctk_exec *exec, int how);
/* Non-zero when the tool's decision may follow from any one result
 * (ctk_stop_hooks.each): then a slot where units run starts no further
 * unit until the consuming process has passed the result of the last one
 * it ran to ctk_exec_done (and any rise of ctk_exec_stop that followed
 * has been applied there). */
CTK_EXTERN int ctk_exec_stop_each(ctk_exec *exec);
/* Runs unit with the work's blocking `run`, filling start/elapsed and
 * turning a failure without message into one. Every strategy uses it. */
CTK_EXTERN void ctk_exec_run_unit(ctk_exec *exec, ctk_unit *unit);

/* ---- the wire: units and results across a process boundary ------------ */

/* The one encoding every out-of-process strategy uses: a unit travels as
 * (seq, in), a result as (seq, status, start, elapsed, out, error). Frames
 * are length-prefixed; the fd helpers retry on EINTR and short transfers. */
CTK_EXTERN int ctk_wire_encode_unit(ctk_buf *frame, const ctk_unit *unit);
CTK_EXTERN int ctk_wire_decode_unit(const ctk_buf *frame, ctk_unit *unit);
CTK_EXTERN int ctk_wire_encode_result(ctk_buf *frame, const ctk_unit *unit);
CTK_EXTERN int ctk_wire_decode_result(const ctk_buf *frame, ctk_unit *unit);
/* The fields a tool encodes its unit->in and unit->out with, so that every
 * unit can cross a process or a machine: fixed-width little-endian
 * integers and doubles, length-prefixed bytes, strings that keep NULL
 * apart from "". No pointers. The put functions return 0 or CTK_ENOMEM. */
CTK_EXTERN int ctk_wire_put_u64(ctk_buf *b, uint64_t v);
CTK_EXTERN int ctk_wire_put_i64(ctk_buf *b, int64_t v);
CTK_EXTERN int ctk_wire_put_f64(ctk_buf *b, double v);
CTK_EXTERN int ctk_wire_put_bytes(ctk_buf *b, const void *data, size_t len);
CTK_EXTERN int ctk_wire_put_str(ctk_buf *b, const char *s);

/* Reads fields back in the order they were put. Each get returns 0, or
 * CTK_EIO when the bytes end before the field does (a malformed unit). */
typedef struct ctk_wire_reader {
    const unsigned char *p;
    size_t left;
} ctk_wire_reader;

CTK_EXTERN void ctk_wire_reader_init(ctk_wire_reader *r, const void *data, size_t len);
CTK_EXTERN int ctk_wire_get_u64(ctk_wire_reader *r, uint64_t *v);
CTK_EXTERN int ctk_wire_get_i64(ctk_wire_reader *r, int64_t *v);
CTK_EXTERN int ctk_wire_get_f64(ctk_wire_reader *r, double *v);
/* Points into the reader's bytes: valid while they are. */
CTK_EXTERN int ctk_wire_get_bytes(ctk_wire_reader *r, const unsigned char **data, size_t *len);
/* A malloc'd copy (free with free()), or NULL for a NULL string;
 * CTK_ENOMEM when the copy cannot be made. */
CTK_EXTERN int ctk_wire_get_str(ctk_wire_reader *r, char **out);

/* Sends/receives one frame on a socket or pipe. recv returns CTK_EOF on a
 * clean end of stream before any byte, CTK_EIO on a truncated frame. */
CTK_EXTERN int ctk_wire_send(int fd, const ctk_buf *frame);
CTK_EXTERN int ctk_wire_recv(int fd, ctk_buf *frame);

/* ---- strategies --------------------------------------------------------- */

/* A strategy-specific option, offered on the command line as --NAME. */
typedef struct ctk_option {
    const char *name; /* long option name, without dashes */
    const char *arg;  /* argument name for --help, or NULL for a flag */
    const char *help; /* one line */
} ctk_option;

/* What a strategy promises about how it runs units, so that a tool never
 * has to know a strategy by its name (a plugin's is the equal of a
 * built-in's). */
#define CTK_STRATEGY_SERIAL     0x1u /* one unit at a time, whatever jobs says */
#define CTK_STRATEGY_PROCESSES  0x2u /* units run in processes other than the caller's */
#define CTK_STRATEGY_ONE_THREAD 0x4u /* all units start on one thread (an event loop) */
/* Units run in processes that were not forked from the caller (other
 * hosts: MPI ranks): they share no memory, file or descriptor with it, so
 * a tool's early stop (--halt) reaches them only through the strategy
 * (ctk_exec_stop, ctk_exec_apply_stop). */
#define CTK_STRATEGY_REMOTE 0x8u
/* In this process the strategy only runs units handed to it from another
 * process (an MPI rank >= 1): the tool's produce and consume never run
 * here, so it opens no output and writes nothing (records, logs, result
 * files are the other process's). */
#define CTK_STRATEGY_WORKER 0x10u

typedef struct ctk_strategy_ops {
    const char *name;
    const char *summary; /* one line for --list-strategies */
    unsigned flags;      /* CTK_STRATEGY_* */
    /* Runs every unit the exec hands out with at most jobs at a time, and
     * returns once all are done (0) or on a fatal error (negative code). */
    int (*execute)(ctk_exec *exec, void *data);
    const ctk_option *options; /* NULL-name terminated, or NULL */
    int (*set_option)(void *data, const char *name, const char *value);
} ctk_strategy_ops;

/* ---- cburn workloads ---------------------------------------------------- */

/* A CPU-bound kernel over an iteration space [0, size) of one task. The
 * caller cuts the space into slices and calls them in order, from one
 * thread, on one state; the task's result is the sum (mod 2^64) of the
 * slices' values, so a slice of one iteration yields that iteration's own
 * contribution (which --share adds into a shared total). */
typedef struct ctk_workload_ops {
    const char *name;
    const char *summary;
    uint64_t default_size; /* iterations per task by default */
    size_t state_size;     /* bytes of per-task scratch, zeroed, or 0 */
    /* Optional: prepares state for task `task` of `size` iterations. */
    int (*init)(void *state, uint64_t task, uint64_t size);
    /* Computes iterations [begin, end) and returns their value. */
    uint64_t (*slice)(void *state, uint64_t task, uint64_t begin, uint64_t end);
    /* Optional: releases what init took. */
    void (*fini)(void *state);
} ctk_workload_ops;

/* ---- registry and the entry point --------------------------------------- */

typedef struct ctk_registry ctk_registry;

/* Registers a strategy or workload by ops->name. A strategy's `data` is
 * passed to its callbacks; a workload keeps its state per task instead
 * (state_size), so its `data` is only owned: released with free_data (may
 * be NULL) when the registry is freed. CTK_EEXIST when the name is taken. */
CTK_EXTERN int ctk_register_strategy(ctk_registry *reg, const ctk_strategy_ops *ops, void *data,
                                     void (*free_data)(void *));
CTK_EXTERN int ctk_register_workload(ctk_registry *reg, const ctk_workload_ops *ops, void *data,
                                     void (*free_data)(void *));
/* Registers a cqueue store under ops->name, the scheme that picks it from
 * a --db value ("postgresql" for postgresql://...). */
CTK_EXTERN int ctk_register_store(ctk_registry *reg, const ctk_store_ops *ops, void *data,
                                  void (*free_data)(void *));

typedef struct ctk_plugin_desc {
    unsigned abi; /* CTK_PLUGIN_ABI at the plugin's build time */
    const char *name;
    int (*init)(ctk_registry *reg);
} ctk_plugin_desc;

#define CTK_PLUGIN_DEFINE(plugin_name, init_fn)                                                    \
    __attribute__((visibility("default")))                                                         \
    const ctk_plugin_desc ctk_plugin = {CTK_PLUGIN_ABI, (plugin_name), (init_fn)}

#ifdef __cplusplus
}
#endif
#endif
