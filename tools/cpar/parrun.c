/*
 * parrun.c: cpar's run around the par engine: sources from the -a files
 * and the ::: / :::: operands, stdin spooled for building them again, the
 * run under one strategy with signal watching, and --compare's rows.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/compare.h"
#include "ctkx/isolate.h"
#include "parrun.h"
#include "ctkx/parse.h"
#include "ctkx/plot.h"
#include "ctk/pipeline.h"
#include "ctkx/sigwatch.h"
#include "ctkx/spawn.h"

size_t ctk_parrun_command_words(int argc, char **argv, int first)
{
    return ctk_sources_command_words(argc, argv, first);
}

/* ---- inputs ------------------------------------------------------------------- */

int ctk_parrun_reads_stdin(const ctk_parrun_input *in)
{
    for (size_t i = 0; i < in->n_arg_files; i++)
        if (strcmp(in->arg_files[i], "-") == 0)
            return 1;
    return in->n_arg_files == 0 && in->first + (int)in->n_cmd == in->argc;
}

static const char *input_path(const ctk_parrun_input *in, const char *path)
{
    return strcmp(path, "-") == 0 && in->stdin_path != NULL ? in->stdin_path : path;
}

int ctk_parrun_sources(const ctk_parrun_input *in, ctk_sources **out, char *err, size_t err_len)
{
    ctk_sources *src;
    int rc = ctk_sources_new_sep(&src, in->delim, in->delim_len);
    if (rc < 0) {
        snprintf(err, err_len, "%s", ctk_strerror(rc));
        return rc;
    }
    size_t n_cmd;
    for (size_t i = 0; i < in->n_arg_files && rc == 0; i++)
        rc = ctk_sources_add_file(src, input_path(in, in->arg_files[i]), in->link && i > 0, err,
                                  err_len);
    if (rc == 0)
        rc = ctk_sources_add_operands(src, in->argc, in->argv, in->first, in->link, &n_cmd, err,
                                      err_len);
    if (rc == 0 && in->n_arg_files == 0 && in->first + (int)in->n_cmd == in->argc)
        rc = ctk_sources_add_file(src, input_path(in, "-"), 0, err, err_len);
    if (rc == 0 && in->colsep != NULL && in->csv &&
        (rc = ctk_sources_set_csv(src, in->colsep, strlen(in->colsep))) < 0)
        snprintf(err, err_len, "--csv: bad field separator '%s'", in->colsep);
    else if (rc == 0 && in->colsep != NULL && !in->csv)
        rc = ctk_sources_set_colsep(src, in->colsep, err, err_len);
    ctk_sources_set_trim(src, in->trim_left, in->trim_right);
    ctk_sources_set_eof(src, in->eof);
    ctk_sources_set_skip_blank(src, in->skip_blank);
    ctk_sources_set_line_continue(src, in->line_continue);
    ctk_sources_set_shuffle(src, in->shuffle);
    ctk_sources_set_recycle(src, in->link);
    if (rc == 0 && ctk_sources_set_per_job(src, in->per_job) < 0) {
        snprintf(err, err_len, "-n/-N take a single input source");
        rc = CTK_EINVAL;
    }
    if (rc < 0) {
        ctk_sources_free(src);
        return rc;
    }
    *out = src;
    return 0;
}

char *ctk_parrun_spool_stdin(int *keep)
{
    /* Anonymous (O_TMPFILE or unlinked at once), so a kill -9 leaves no
     * copy behind; the rows (forked, not exec'd) inherit the descriptor,
     * and each opening of /proc/self/fd/N reads it from its start. */
    int fd = ctk_spawn_tmpfile(NULL);
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    char buf[65536];
    ssize_t n = 0;
    while ((n = read(0, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(fd, buf, (size_t)n) != n)
            break;
    }
    if (n != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    *keep = fd;
    return g_strdup_printf("/proc/self/fd/%d", fd);
}

uint64_t ctk_parrun_count_jobs(const ctk_parrun_input *in)
{
    char err[1024];
    ctk_sources *src;
    uint64_t n = 0;
    if (ctk_parrun_sources(in, &src, err, sizeof err) < 0)
        return 0;
    ctk_item item = {0};
    int nul;
    while (ctk_sources_next(src, &item, &nul, NULL) == 0)
        n++;
    ctk_item_clear(&item);
    ctk_sources_free(src);
    return n;
}

/* ---- running ------------------------------------------------------------------ */

typedef struct parrun_run {
    ctk_pipeline *pipeline;
    ctk_par *par;
} parrun_run;

static void on_signal(void *arg, int signo)
{
    parrun_run *run = arg;
    if (run->pipeline != NULL)
        ctk_pipeline_cancel(run->pipeline, signo);
    ctk_par_cancel(run->par, signo);
}

int ctk_parrun_open_records(ctk_parrun_files *f, const char *path, ctk_format format, int header)
{
    f->records_file = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f->records_file == NULL)
        return -1;
    size_t nf;
    const ctk_field *fields = ctk_par_record_fields(&nf);
    int rc = ctk_output_new(&f->records, f->records_file, format, fields, nf, header);
    if (rc < 0) {
        errno = rc == CTK_ENOMEM ? ENOMEM : EINVAL;
        return -1;
    }
    return 0;
}

void ctk_parrun_files_close(ctk_parrun_files *f)
{
    if (f->records != NULL) {
        ctk_output_finish(f->records);
        ctk_output_free(f->records);
    }
    if (f->records_file != NULL && f->records_file != stdout)
        fclose(f->records_file);
    if (f->joblog != NULL)
        fclose(f->joblog);
    if (f->spooled != NULL) {
        close(f->spooled_fd);
        g_free(f->spooled);
    }
}

/* Whether produce and consume may run on a one-thread strategy's own
 * thread: only when producing never waits (no --rate, no input that a
 * writer may keep us waiting for), or the jobs it runs would wait too. */
static int inline_ok(const ctk_par_opts *po, const ctk_sources *src)
{
    return po->start_rate <= 0 && !ctk_sources_may_wait(src);
}

/* Runs every job under strategy `name` through the pipeline, watching
 * signals. Returns 0 or a negative code; the par keeps the counts. */
static int run_strategy(ctk_par *par, ctk_registry *reg, const char *name, const ctk_par_opts *po,
                        unsigned jobs, int keep_order, int *signo)
{
    *signo = 0;
    const ctk_strategy *s = ctk_registry_strategy(reg, name);
    if (s == NULL)
        return CTK_ENOENT;
    parrun_run run = {NULL, par};
    ctk_pipeline_opts pl = {ctk_par_work(par), jobs, keep_order,      0,
                            ctk_par_produce,   par,  ctk_par_consume, par};
    int rc = ctk_pipeline_new(&run.pipeline, &pl);
    if (rc < 0)
        return rc;
    if (po->remote) {
        ctk_stop_hooks hooks = ctk_par_stop_hooks(par);
        ctk_pipeline_set_stop(run.pipeline, &hooks);
    }
    ctk_par_use_pipeline(par, ctk_pipeline_cancel_flag(run.pipeline),
                         ctk_pipeline_cancel_fd(run.pipeline));
    if (inline_ok(po, po->sources))
        ctk_pipeline_allow_inline(run.pipeline);
    ctk_sigwatch *sw = NULL;
    rc = ctk_sigwatch_start(&sw, on_signal, &run);
    if (rc == 0)
        rc = ctk_pipeline_run(run.pipeline, s);
    *signo = ctk_sigwatch_stop(sw);
    ctk_pipeline_free(run.pipeline);
    return rc;
}

/* Whether the strategy may run jobs in processes other than the one
 * that prints them (ctk_par_opts.elsewhere). */
static int elsewhere(ctk_registry *reg, const char *name)
{
    const ctk_strategy *s = ctk_registry_strategy(reg, name);
    return s != NULL && (s->ops->flags & CTK_STRATEGY_PROCESSES) != 0;
}

/* Whether the jobs run in processes sharing no memory with this one
 * (ctk_par_opts.remote). */
static int remote(ctk_registry *reg, const char *name)
{
    const ctk_strategy *s = ctk_registry_strategy(reg, name);
    return s != NULL && (s->ops->flags & CTK_STRATEGY_REMOTE) != 0;
}

/* Each running job holds up to this many of our descriptors: its two
 * output pipes, pidfd and wake eventfd, two spill files (measured: 4 a
 * job under -s thread); an event loop watches copies of them too (9 a
 * job under -s async). FDS_SPARE: what the run opens besides (joblog,
 * results, the guard) on top of what is open when it starts. */
#define FDS_PER_JOB      6
#define FDS_PER_LOOP_JOB 12
#define FDS_SPARE        16

/* As GNU parallel does, runs fewer jobs at once than -j asks rather than
 * failing mid-run with EMFILE (the jobs that ran would lose their output
 * and joblog lines): the soft limit is raised toward the hard one, and
 * past that -j is lowered with a warning. */
static unsigned fit_jobs(const char *prog, ctk_registry *reg, const char *name, unsigned jobs)
{
    unsigned long long limit;
    const ctk_strategy *s = ctk_registry_strategy(reg, name);
    unsigned per_job = s != NULL && (s->ops->flags & CTK_STRATEGY_ONE_THREAD) != 0
                           ? FDS_PER_LOOP_JOB
                           : FDS_PER_JOB;
    unsigned fit = ctk_spawn_fit_jobs(jobs, per_job, FDS_SPARE, &limit);
    if (fit < jobs)
        fprintf(stderr, "%s: only enough file descriptors (%llu) to run %u jobs at once, not %u\n",
                prog, limit, fit, jobs);
    return fit;
}

int ctk_parrun_jobs(const ctk_common *c, ctk_registry *reg, const ctk_par_opts *po,
                    const char *prog)
{
    char err[1024];
    ctk_par *par;
    const char *name = c->strategy ? c->strategy : CTK_PARRUN_DEFAULT_STRATEGY;
    unsigned jobs = fit_jobs(prog, reg, name, ctk_cli_strategy_jobs(reg, name, po->jobs));
    ctk_par_opts fitted = *po;
    fitted.jobs = jobs < po->jobs ? jobs : po->jobs;
    fitted.elsewhere = elsewhere(reg, name);
    fitted.remote = remote(reg, name);
    po = &fitted;
    int rc = ctk_par_new(&par, po, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, rc == CTK_EINVAL ? err : ctk_strerror(rc));
        return 255;
    }
    int signo = 0;
    rc = run_strategy(par, reg, name, po, jobs, c->keep_order, &signo);
    if (ctk_par_nul_replaced(par))
        fprintf(stderr,
                "%s: warning: a NUL byte in the input was replaced with \\0 "
                "(NUL cannot be passed in an argument); did you mean --null?\n",
                prog);
    int status = ctk_par_status(par);
    ctk_par_free(par);
    if (signo != 0)
        return ctk_signal_exit_status(signo);
    if (rc < 0 && rc != CTK_ECANCELED) {
        fprintf(stderr, "%s: %s\n", prog, ctk_strerror(rc));
        return 255;
    }
    return status;
}

/* ---- --compare ---------------------------------------------------------------- */

typedef struct compare_row {
    const ctk_parrun_input *in;
    ctk_registry *reg;
    ctk_par_opts po; /* sources filled in the child */
    const char *name;
    unsigned jobs;
    int keep_order;
} compare_row;

typedef struct row_counts {
    uint64_t ran, failed;
    int signo;
} row_counts;

/* Runs in an isolated child: its own sources, par and signal thread. */
static int row_in_child(void *arg, ctk_buf *result)
{
    compare_row *row = arg;
    char err[1024];
    row_counts counts = {0};
    int rc = ctk_parrun_sources(row->in, &row->po.sources, err, sizeof err);
    ctk_par *par = NULL;
    if (rc == 0)
        rc = ctk_par_new(&par, &row->po, err, sizeof err);
    if (rc == 0) {
        rc = run_strategy(par, row->reg, row->name, &row->po, row->jobs, row->keep_order,
                          &counts.signo);
        ctk_par_counts(par, &counts.ran, &counts.failed);
    }
    ctk_par_free(par);
    ctk_sources_free(row->po.sources);
    int set = ctk_buf_set(result, &counts, sizeof counts);
    if (rc == 0 || rc == CTK_ECANCELED)
        rc = set;
    return rc;
}

int ctk_parrun_compare(const ctk_common *c, ctk_registry *reg, const ctk_parrun_input *in,
                       const ctk_par_opts *po, const char *prog)
{
    ctk_compare *table;
    int trc = ctk_compare_new(&table, "jobs", NULL, NULL, 0);
    if (trc < 0) {
        fprintf(stderr, "%s: %s\n", prog, ctk_strerror(trc));
        return 255;
    }
    int status = 0;
    uint64_t most_failed = 0; /* a row whose jobs failed fails the run */
    size_t rows = g_strv_length(c->compare);
    fprintf(stderr,
            "%s: warning: --compare runs every job once per strategy (%zu times in all); "
            "their output is discarded\n",
            prog, rows);
    for (char **n = c->compare; *n != NULL && status == 0; n++) {
        unsigned jobs = fit_jobs(prog, reg, *n, ctk_cli_strategy_jobs(reg, *n, po->jobs));
        compare_row row = {in, reg, *po, *n, jobs, c->keep_order};
        row.po.jobs = jobs < po->jobs ? jobs : po->jobs;
        row.po.elsewhere = elsewhere(reg, *n);
        row.po.remote = remote(reg, *n);
        ctk_buf result = {0};
        ctk_usage usage;
        int died_of = 0, signo = 0;
        int rc = ctk_isolate_run(row_in_child, &row, &result, &usage, &died_of, &signo);
        row_counts counts = {0};
        if (result.len == sizeof counts)
            memcpy(&counts, result.data, sizeof counts);
        ctk_buf_free(&result);
        if (signo == 0)
            signo = counts.signo ? counts.signo : ctk_signal_pending();
        if (signo != 0) {
            status = ctk_signal_exit_status(signo);
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "%s: %s: %s\n", prog, *n,
                    died_of ? "the row's process was killed" : ctk_strerror(rc));
            status = 255;
            break;
        }
        ctk_row *r = ctk_compare_add(table, *n, "", jobs);
        r->baseline = ctk_cli_strategy_jobs(reg, *n, 2) == 1;
        r->usage = usage;
        r->units = counts.ran;
        r->failed = counts.failed;
        if (counts.failed > most_failed)
            most_failed = counts.failed;
    }
    if (ctk_compare_count(table) > 0) {
        ctk_format fmt = c->format_given ? c->format : CTK_FORMAT_TABLE;
        /* A table is for people: its column names always head it (cpar's
         * TSV header is --records-header's, as records' are). */
        if (ctk_compare_print(table, stdout, fmt, fmt == CTK_FORMAT_TABLE || c->header,
                              ctk_cpu_count()) < 0 ||
            ctk_closeout_flush(stdout) != 0) {
            ctk_closeout_error(); /* reported at exit as a write error */
            status = 255;
        }
        if (ctk_plot_compare(table, c->plot, prog) < 0)
            status = 255;
    }
    ctk_compare_free(table);
    if (status == 0 && most_failed > 0) {
        fprintf(stderr, "%s: --compare: jobs failed (see the failed column)\n", prog);
        status = most_failed > 101 ? 101 : (int)most_failed;
    }
    return status;
}
