/*
 * ctk/par.h: cpar's engine: one job per input item (or per -n items),
 * rendered from a GNU parallel command template, run with ctk_spawn, and
 * reported as GNU parallel reports it: grouped output, --tag, a joblog in
 * parallel's exact format, and one record per job for machines.
 *
 * A job travels through the pipeline as bytes in libctk's wire encoding
 * (its columns in, its result out), so it runs under any strategy, in
 * this process or in workers it forks.
 */
#ifndef CTK_PAR_H
#define CTK_PAR_H

#include <stdio.h>

#include "ctkx/cmdline.h"
#include "ctkx/halt.h"
#include "ctkx/output.h"
#include "ctk/pipeline.h"
#include "ctkx/progress.h"
#include "ctkx/sources.h"
#include "ctkx/spawn.h"

/* The longest --process-slot-var NAME. */
#define CTK_SLOT_VAR_MAX 200

typedef struct ctk_par_opts {
    const ctk_cmdline *cmd;
    ctk_sources *sources;
    unsigned jobs;    /* job slots ({%}) */
    int dry_run;      /* print the command lines, run nothing */
    int ungroup;      /* -u: the jobs write straight to our stdout/stderr */
    int tag;          /* --tag: prefix output lines with the arguments */
    int quiet_output; /* --records -: job output is not printed */
    unsigned retries; /* attempts for a failing job, as parallel's --retries:
                         1 once, 0 until it succeeds */
    double timeout;   /* seconds per attempt; 0: none */
    const ctk_spawn_termstep *termseq;
    size_t termseq_len;
    FILE *joblog;        /* NULL: none; written and flushed per finished job */
    ctk_output *records; /* NULL: none */
    int resume;          /* 1: --resume, 2: --resume-failed */
    const char *joblog_path;
    const char *shell; /* runs commands that need a shell; NULL: /bin/sh */
    ctk_halt halt;
    uint64_t total_jobs;          /* jobs in all, for --halt N% (counted first) */
    double start_rate;            /* starts per second (--delay, --rate); 0: no limit */
    const ctk_cmdline *tagstring; /* --tagstring, parsed with CTK_CMDLINE_TEXT; or NULL */
    ctk_progress *progress;       /* --bar: updated per finished job; or NULL */
    size_t max_chars;             /* -X/-m: fill command lines up to this; 0: one item per job */
    const char *results_dir;      /* --results DIR; or NULL */
    int line_buffer;              /* --line-buffer: whole lines as they come; jobs must run
                                     in this process (not under CTK_STRATEGY_PROCESSES) */
    int keep_order;               /* -k: the pipeline consumes in input order */
    /* GNU parallel's habits (cpar(1), GNU PARALLEL): */
    int verbose;          /* -v: each command line on stdout before its output */
    int trace;            /* -t: each command line on stderr as it starts */
    int files;            /* --files: output kept in a file under $TMPDIR, its name printed */
    const char *slot_var; /* --process-slot-var NAME: NAME=slot-1 in each job; or NULL */
    size_t line_max;      /* a longer command line ends the run (exit 255); 0: no limit */
    int no_args;          /* -N0: a job per item, the command gets none */
    size_t fill_max;      /* -X/-m with -n/-N: at most this many items per line; 0: no cap */
    int elsewhere;        /* the strategy has CTK_STRATEGY_PROCESSES: a process
                             running jobs may not be the consumer's */
    int remote;           /* the strategy has CTK_STRATEGY_REMOTE: the processes
                             running jobs share no memory with the consumer, which
                             decides --halt from the results (ctk_par_stop_hooks) */
    int shellquote;       /* --shellquote N times: a job prints its line quoted N times */
    /* --retries with replacement strings (CTK_CMDLINE_TEXT), rendered
     * per job in place of retries; or NULL */
    const ctk_cmdline *retries_text;
    /* $PARALLEL_ENV's text (env_parallel's definitions): the shell runs
     * it before every command; or NULL */
    const char *parallel_env;
    /* --results FILE.csv, .tsv or .json: one row or object per job in
     * GNU parallel's layout, written to results_table (which may be
     * stdout); 'c', 't' or 'j', else 0. */
    int results_format;
    FILE *results_table;
    char *const *results_names; /* --header's names for the CSV header; or NULL */
    size_t n_results_names;
} ctk_par_opts;

typedef struct ctk_par ctk_par;

/* Reads the joblog first when resuming. CTK_EINVAL with err filled for a
 * joblog that is not parallel's format. */
int ctk_par_new(ctk_par **out, const ctk_par_opts *opts, char *err, size_t err_len);
void ctk_par_free(ctk_par *p);
ctk_work ctk_par_work(ctk_par *p);
/* For ctk_pipeline_opts.produce / .consume (arg: the ctk_par). */
int ctk_par_produce(void *arg, ctk_unit *unit);
void ctk_par_consume(void *arg, const ctk_unit *unit);
/* Signals every running job's process group (from the signal thread);
 * a second call runs the termination sequence on them. */
void ctk_par_cancel(ctk_par *p, int signo);
/* The pipeline that runs the jobs: the producer stops reading on its
 * cancel flag and waits out --rate on its cancel fd. */
void ctk_par_use_pipeline(ctk_par *p, const int *cancel, int cancel_fd);
/* --halt under a CTK_STRATEGY_REMOTE strategy (ctk_pipeline_set_stop):
 * the consumer counts each job as its result comes back and decides;
 * the processes running jobs apply the decision. */
ctk_stop_hooks ctk_par_stop_hooks(ctk_par *p);
/* Jobs run, and how many of them failed (non-zero exit, a signal, or
 * never started). */
void ctk_par_counts(ctk_par *p, uint64_t *ran, uint64_t *failed);
/* The exit status GNU parallel would give: failed jobs (101 at most), or
 * what --halt decided. */
int ctk_par_status(ctk_par *p);
/* The fields of a record (seq input exit signal start elapsed bytes
 * attempts error). */
const ctk_field *ctk_par_record_fields(size_t *n);
/* 1 when a NUL byte in the input was replaced (warn once). */
int ctk_par_nul_replaced(ctk_par *p);

/* ---- the wire: a job (unit->in) and what came of it (unit->out) ---------- */

/* What came of a job. Decoded, the pointers point into the unit's bytes.
 * An output too big for memory waits in the run's spool (ctkx/spool.h):
 * spool_len[k] bytes at spool_off[k], and mem[k] is empty. */
typedef struct ctk_par_result {
    int64_t exit, signal;
    uint64_t attempts;
    int terminated, timed_out;
    uint64_t out_bytes;
    double start, elapsed;
    const char *line;
    size_t line_len;
    const char *mem[2]; /* stdout, stderr: the bytes kept in memory */
    size_t mem_len[2];
    uint64_t spool_id;     /* the spool holding the ranges (ctk_spool_id) */
    uint64_t spool_off[2]; /* where the output is in it */
    uint64_t spool_len[2]; /* its length; 0: all of it is in mem */
} ctk_par_result;

/* The encode functions return 0 or CTK_ENOMEM; the decode functions 0,
 * CTK_EIO for truncated or malformed bytes, or CTK_ENOMEM. A decoded
 * job's columns point into `in`; g_free the array. A job's skip is
 * CTK_PAR_RUN, CTK_PAR_SKIP (done before) or CTK_PAR_TOO_LONG. */
enum {
    CTK_PAR_RUN = 0,
    CTK_PAR_SKIP = 1,
    /* -X/-m: one item alone is longer than the line may be; the job that
     * would run it ends the run as GNU parallel does, once the jobs
     * before it had their turn to start. */
    CTK_PAR_TOO_LONG = 2
};
int ctk_par_encode_job(ctk_buf *in, int skip, const ctk_cmdline_item *cols, size_t n);
int ctk_par_decode_job(const ctk_buf *in, int *skip, ctk_cmdline_item **cols, size_t *n);
int ctk_par_encode_result(ctk_buf *out, const ctk_par_result *r);
int ctk_par_decode_result(const ctk_buf *out, ctk_par_result *r);
void ctk_par_result_clear(ctk_par_result *r);

#endif
