/*
 * ctk/fetchrun.h: cfetch's run wired onto the pipeline: URLs in (operands
 * or lines of a file descriptor, blank lines and # comments skipped), each
 * checked and given its output path before it reaches a strategy, and one
 * record out per URL (seq url status bytes elapsed ttfb attempts path
 * error), with the journal and --body on the consuming side.
 */
#ifndef CTK_FETCHRUN_H
#define CTK_FETCHRUN_H

#include <stdio.h>

#include "fetchunit.h"
#include "journal.h"
#include "ctkx/output.h"
#include "ctkx/progress.h"

/* Longer input lines are an error record each, not a URL. */
#define CTK_FETCHRUN_MAX_URL 65536

typedef struct ctk_fetchrun_opts {
    const char *const *urls; /* n_urls URLs; NULL: read lines from in_fd */
    size_t n_urls;
    int in_fd;
    const char *out_dir;      /* -P DIR (or -o DIR), or NULL */
    const char *out_file;     /* -o FILE: the one URL's body, or NULL */
    const char *out_template; /* -O TEMPLATE, or NULL */
    FILE *body;               /* --body: bodies here (run with keep_order) */
    ctk_output *records;      /* NULL: no records */
    FILE *warn;               /* failures as "prog: URL: error" lines, or NULL */
    const char *prog;
    ctk_journal *journal; /* NULL: none */
    ctk_progress *progress;
    double rate;    /* URLs started per second at most (ctk/rate.h); 0: no limit */
    int no_clobber; /* a URL whose output file exists is skipped, the file kept */
} ctk_fetchrun_opts;

typedef struct ctk_fetchrun ctk_fetchrun;

typedef struct ctk_fetchrun_counts {
    uint64_t ok, failed, bytes;
    int write_failed; /* a record or body could not be written */
} ctk_fetchrun_counts;

int ctk_fetchrun_new(ctk_fetchrun **out, const ctk_fetchrun_opts *opts);
void ctk_fetchrun_free(ctk_fetchrun *r);
/* For ctk_pipeline_opts.produce / .consume (arg: the ctk_fetchrun). */
int ctk_fetchrun_produce(void *arg, ctk_unit *unit);
void ctk_fetchrun_consume(void *arg, const ctk_unit *unit);
/* The pipeline's cancel flag and fd: the reader and the rate wait sleep
 * on the fd, so a cancel wakes them at once. */
void ctk_fetchrun_set_cancel(ctk_fetchrun *r, const int *cancel, int cancel_fd);
void ctk_fetchrun_counts_get(ctk_fetchrun *r, ctk_fetchrun_counts *c);
const ctk_field *ctk_fetchrun_fields(size_t *n);

#endif
