/*
 * ctk/jobadd.h: `cqueue add -`: one job per line of a file descriptor,
 * added to a store in batched transactions. A batch is committed when it
 * is full or as soon as the input pauses, so a slow producer's jobs are
 * visible at once and a producer killed mid-input leaves whole batches
 * only. With a command template each line fills it as cpar fills its
 * templates ({} {.} {/} {#} ...); without one each line is a shell command.
 */
#ifndef CTK_JOBADD_H
#define CTK_JOBADD_H

#include <stdint.h>

#include "ctkx/cmdline.h"
#include "ctk/store.h"

typedef struct ctk_jobadd_opts {
    ctk_store *store;
    const ctk_job_spec *proto; /* every job's fields but cmd and argv */
    const ctk_cmdline *tpl;    /* NULL: each line is a shell command */
    unsigned batch;            /* lines per transaction; 0: 10,000 */
    int pause_ms;              /* commit when no input comes for this long; 0: 50 */
    /* Told each run of consecutive ids of a batch as soon as the batch
     * commits, so a producer killed later has told every id it added
     * (may be NULL). */
    void (*on_range)(void *arg, int64_t first, int64_t last);
    /* Told of a line that could not become a job (a NUL byte in it). */
    void (*on_skip)(void *arg, uint64_t line, const char *why);
    void *arg;
} ctk_jobadd_opts;

/* Reads fd to its end. Returns 0, 1 when a line was skipped, or a
 * negative code: CTK_EIO with err filled (the store's words, or the read
 * error); the batches committed before stay. */
int ctk_jobadd_fd(const ctk_jobadd_opts *o, int fd, char *err, size_t err_len);

#endif
