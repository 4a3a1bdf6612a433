/*
 * jobunit.h: a cqueue job as a unit of work, and how its run ended, in
 * libctk's wire encoding (ctk_wire_put_* / ctk_wire_get_*): fixed-width
 * little-endian fields, no pointers. Everything a worker needs to run the
 * job travels in the unit, so a strategy may run it in another process
 * (or, one day, on another machine); the store never leaves the worker
 * that claimed the job.
 */
#ifndef CQUEUE_JOBUNIT_H
#define CQUEUE_JOBUNIT_H

#include <stdint.h>

#include "ctk/plugin.h"
#include "ctk/store.h"

/* What runs. Decoded strings are malloc'd; cq_jobunit_clear frees them. */
typedef struct cq_jobunit {
    int64_t id;
    uint64_t attempt; /* 1 for the first; a later one truncates the output */
    char *cmd;        /* the shell command line when argv is NULL */
    char **argv;      /* NULL-terminated, or NULL */
    char **env;       /* NULL-terminated exact environment, or NULL */
    char *cwd;        /* NULL: the worker's */
    double timeout;   /* seconds; 0: none */
    char *out_path, *err_path;
} cq_jobunit;

/* How the run ended, as seen where it ran. */
typedef struct cq_outcome {
    int64_t id;
    int64_t exit_code, signal;
    int64_t exec_errno; /* the command could not be started */
    int64_t rc;         /* a library error running it (CTK_E*), or 0 */
    int64_t timed_out, terminated;
    /* It never started for want of a resource (descriptors, processes,
     * memory, space; rc says which): the worker starts it again later. */
    int64_t unstarted;
    char *reason; /* why it could not run ("cannot enter DIR: ..."), or NULL */
} cq_outcome;

/* Appends the unit for job, whose output goes to out_path and err_path,
 * to b. 0 or CTK_ENOMEM. */
int cq_jobunit_encode(ctk_buf *b, const ctk_job *job, const char *out_path, const char *err_path);
/* 0, CTK_EIO for truncated or malformed bytes, CTK_ENOMEM. On error u is
 * left cleared. */
int cq_jobunit_decode(const void *data, size_t len, cq_jobunit *u);
void cq_jobunit_clear(cq_jobunit *u);

int cq_outcome_encode(ctk_buf *b, const cq_outcome *o);
int cq_outcome_decode(const void *data, size_t len, cq_outcome *o);
void cq_outcome_clear(cq_outcome *o);

#endif
