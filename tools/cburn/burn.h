/*
 * ctk/burn.h: cburn's engine. A task is (index, size): run the workload
 * over `size` iterations, in slices, optionally under a global lock (the
 * GIL) and optionally adding every iteration's value into one total
 * shared by all workers (threads or processes) in one of four ways.
 */
#ifndef CTK_BURN_H
#define CTK_BURN_H

#include "ctk/registry.h"

typedef enum ctk_share {
    CTK_SHARE_NONE,   /* per-task results, summed at the end */
    CTK_SHARE_LOCK,   /* one mutex (process-shared) around each addition */
    CTK_SHARE_ATOMIC, /* C11 atomic fetch-add */
    CTK_SHARE_SHM,    /* plain load and store: additions get lost */
    /* Two locks held for each addition, like a transfer between two
     * accounts: taken in one order by every task, or in the opposite
     * order by odd-numbered tasks, which deadlocks. A task that finds
     * itself in a deadlock fails with CTK_EDEADLOCK instead of hanging. */
    CTK_SHARE_ORDERED,
    CTK_SHARE_CROSSED
} ctk_share;

#define CTK_SHARE_COUNT 6
/* What --share=all means: the ways of sharing one total (lock order is a
 * separate lesson, asked for by name). */
#define CTK_SHARE_ALL_COUNT 4

int ctk_share_parse(const char *text, ctk_share *out);
const char *ctk_share_name(ctk_share share);

typedef struct ctk_burn_opts {
    const ctk_workload *workload;
    ctk_share share;
    int gil;
    double switch_interval; /* seconds a GIL holder keeps it; 0: 5 ms */
} ctk_burn_opts;

typedef struct ctk_burn ctk_burn;

/* The shared total lives in an anonymous shared mapping, so forked
 * workers add into the same memory as threads do. */
int ctk_burn_new(ctk_burn **out, const ctk_burn_opts *opts);
void ctk_burn_free(ctk_burn *b);
/* The work to hand a pipeline: run() only (CPU work has no async form). */
ctk_work ctk_burn_work(ctk_burn *b);
/* Zeroes the shared total (between --compare rows). */
void ctk_burn_reset(ctk_burn *b);
uint64_t ctk_burn_shared_total(ctk_burn *b);
/* Additions into the shared total that took effect. */
uint64_t ctk_burn_shared_count(ctk_burn *b);
/* Tasks running past this moment stop early and report the iterations
 * they did (--duration). 0 clears it. */
void ctk_burn_set_deadline(ctk_burn *b, double seconds_from_now);
/* GIL handovers so far in this process (0 without --gil). */
uint64_t ctk_burn_gil_switches(ctk_burn *b);

/* A task's encoding in a unit, and a result's. */
int ctk_burn_encode_task(ctk_buf *in, uint64_t task, uint64_t size);
/* The task's two fields back; CTK_EINVAL for anything but exactly them. */
int ctk_burn_decode_task(const ctk_buf *in, uint64_t *task, uint64_t *size);
int ctk_burn_decode_result(const ctk_unit *unit, uint64_t *value, uint64_t *iterations);

/* ---- whole runs ---------------------------------------------------------- */

#include "ctkx/output.h"
#include "ctkx/progress.h"
#include "ctkx/sigwatch.h"

typedef struct ctk_burn_plan {
    uint64_t tasks;  /* tasks to run (ignored with a duration) */
    uint64_t size;   /* iterations per task */
    double duration; /* > 0: start tasks until this many seconds passed */
    unsigned jobs;
    int keep_order;
    ctk_progress *progress; /* may be NULL */
    ctk_sigwatch *signals;  /* may be NULL: SIGINT/SIGTERM cancel the run */
    /* Told about each failed task (seq, message); may be NULL. */
    void (*on_error)(void *arg, uint64_t seq, const char *message);
    void *on_error_arg;
} ctk_burn_plan;

typedef struct ctk_burn_tally {
    uint64_t checksum;     /* sum of the tasks' values: the same on every strategy */
    uint64_t shared;       /* the shared total (equals checksum unless updates were lost) */
    uint64_t shared_count; /* additions that took effect (iterations unless lost) */
    uint64_t done, failed;
    uint64_t iterations;
    uint64_t gil_switches;
} ctk_burn_tally;

/* Runs the plan under strategy s. 0, CTK_ECANCELED after a signal, or an
 * error from the strategy. Failed tasks are counted, not fatal. */
int ctk_burn_run(ctk_burn *b, const ctk_strategy *s, const ctk_burn_plan *plan,
                 ctk_burn_tally *tally);
/* Map mode: one task size per line of fd, one record per line on out
 * (seq input result iterations elapsed error). A line that is not a size
 * becomes an error record and the run goes on. */
int ctk_burn_map(ctk_burn *b, const ctk_strategy *s, const ctk_burn_plan *plan, int fd,
                 ctk_output *out, ctk_burn_tally *tally);
/* ---- a --compare table of runs ------------------------------------------ */

#include "ctkx/compare.h"

/* cburn's own columns (checksum, lost, shared), for ctk_compare_new. */
const ctk_field *ctk_burn_table_fields(size_t *n);
/* Fills a row's counts and own columns from a run's tally. */
void ctk_burn_fill_row(ctk_row *row, const ctk_burn_tally *tally, ctk_share share);
/* "gil", "share=lock", "gil,share=shm" or "" (g_free it). */
char *ctk_burn_variant(int gil, ctk_share share);
/* Checks what must hold between rows (shares[i]: row i's mode; timed: the
 * rows ran for a duration, so their checksums differ) and says why not on
 * err as "prog: ...". Returns 1 when something failed, else 0. */
int ctk_burn_check_rows(const ctk_compare *table, const ctk_share *shares, int timed,
                        const char *prog, FILE *err);
/* The note lines that explain rows meant to look wrong (shm, crossed). */
int ctk_burn_print_notes(const ctk_compare *table, const ctk_share *shares, FILE *out);

/* The record fields of map mode, for ctk_output_new. */
const ctk_field *ctk_burn_map_fields(size_t *n);

#endif
