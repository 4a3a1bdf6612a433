/*
 * ctk/fetchcmd.h: cfetch's runs as a whole, over fetchrun.h: one run
 * (engine, journal, records, progress and signals set up and torn down,
 * the outcome mapped to an exit status) and --compare (the same list
 * once per strategy, each row in its own process, then the table).
 * Messages go to stderr as "prog: ...".
 */
#ifndef CTK_FETCHCMD_H
#define CTK_FETCHCMD_H

#include "ctkx/cli.h"
#include "ctkx/sigwatch.h"
#include "fetch.h"
#include "fetchrun.h"

/* -j for thread and async when not given; process uses the cores. */
#define CTK_FETCHCMD_JOBS 16

typedef struct ctk_fetchcmd {
    const char *prog;
    const ctk_common *c;      /* format, header, progress, keep_order, jobs, compare */
    ctk_fetch_opts fetch;     /* jobs is set per run */
    const char *out_dir;      /* -P DIR (or -o DIR), or NULL */
    const char *out_file;     /* -o FILE with one URL, or NULL */
    const char *out_template; /* -O TEMPLATE, or NULL */
    const char *records;      /* --records FILE ("-": stdout), or NULL */
    const char *journal;      /* --journal FILE, or NULL */
    int body, bar;
    int no_clobber; /* --no-clobber: a URL whose file exists is skipped */
    double rate;
    const ctk_strategy *strategy;
    unsigned jobs;
    int forks;               /* the strategy runs transfers in worker processes */
    const char *const *urls; /* NULL: read in_fd */
    size_t n_urls;
    int in_fd;
    int quiet; /* --compare rows: no records, no journal */
    ctk_sigwatch *signals;
} ctk_fetchcmd;

/* -j for a strategy: 1 for sync, else -j when given, else the cores for
 * process and CTK_FETCHCMD_JOBS for the others. */
unsigned ctk_fetchcmd_default_jobs(const ctk_common *c, ctk_registry *reg, const char *strategy);
/* Fetches everything once under s->strategy, watching signals; returns
 * the exit status (0 all succeeded, 1 any failed, 2 set-up failed,
 * 128+N for signal N). */
int ctk_fetchcmd_run(ctk_fetchcmd *s);
/* --compare: one row per strategy named in s->c->compare (URLs from
 * s->in_fd are read first when s->urls is NULL); prints the table on
 * stdout and returns the exit status. */
int ctk_fetchcmd_compare(ctk_fetchcmd *s, ctk_registry *reg);

#endif
