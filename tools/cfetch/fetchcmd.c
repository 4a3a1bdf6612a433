/*
 * fetchcmd.c: cfetch's runs as a whole. One run sets up the fetch engine,
 * the journal, the records and the bar around a fetchrun on the pipeline,
 * forwards signals to it, and maps the outcome to an exit status;
 * --compare runs the same list once per strategy, each row in its own
 * process (isolate.h), and prints the table (compare.h).
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/compare.h"
#include "fetchcmd.h"
#include "ctkx/isolate.h"
#include "ctkx/lines.h"
#include "ctkx/parse.h"
#include "ctkx/plot.h"
#include "ctkx/spawn.h"
#include "ctk/pipeline.h"

typedef struct run_result {
    ctk_fetchrun_counts counts;
    int rc;    /* the pipeline's */
    int signo; /* the signal that stopped it, or 0 */
} run_result;

typedef struct signal_target {
    ctk_pipeline *pipeline;
} signal_target;

static void on_signal(void *arg, int signo)
{
    signal_target *t = arg;
    ctk_pipeline_cancel(t->pipeline, signo);
}

static int open_records(const ctk_fetchcmd *s, FILE **file, ctk_output **out)
{
    *file = NULL;
    *out = NULL;
    if (s->quiet || (s->body && s->records == NULL))
        return 0;
    int to_stdout = s->records == NULL || strcmp(s->records, "-") == 0;
    *file = to_stdout ? stdout : fopen(s->records, "w");
    if (*file == NULL) {
        fprintf(stderr, "%s: cannot open %s: %s\n", s->prog, s->records, strerror(errno));
        return -1;
    }
    size_t nf;
    const ctk_field *fields = ctk_fetchrun_fields(&nf);
    int rc = ctk_output_new(out, *file, s->c->format, fields, nf, s->c->header);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot set up the records: %s\n", s->prog, ctk_strerror(rc));
        if (*file != stdout)
            fclose(*file);
        *file = NULL;
        return -1;
    }
    return 0;
}

static void close_records(FILE *file, ctk_output *out)
{
    ctk_output_free(out);
    if (file != NULL && file != stdout)
        fclose(file);
}

/* Runs the pipeline over fr with the engine, signals forwarded to it. */
static int run_pipeline(const ctk_fetchcmd *s, ctk_fetch *fetch, ctk_fetchrun *fr, int inline_ok,
                        run_result *res)
{
    ctk_pipeline_opts po = {ctk_fetch_work(fetch), s->jobs, s->c->keep_order || s->body, 0,
                            ctk_fetchrun_produce,  fr,      ctk_fetchrun_consume,        fr};
    signal_target target = {NULL};
    int rc = ctk_pipeline_new(&target.pipeline, &po);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot set up the run: %s\n", s->prog, ctk_strerror(rc));
        return -1;
    }
    if (inline_ok)
        ctk_pipeline_allow_inline(target.pipeline);
    /* The engines wait on the cancel fd beside their sockets: a signal
     * ends transfers at once, and nothing wakes on a timer to look. */
    ctk_fetch_set_cancel(fetch, ctk_pipeline_cancel_flag(target.pipeline),
                         ctk_pipeline_cancel_fd(target.pipeline));
    ctk_fetchrun_set_cancel(fr, ctk_pipeline_cancel_flag(target.pipeline),
                            ctk_pipeline_cancel_fd(target.pipeline));
    ctk_sigwatch_retarget(s->signals, on_signal, &target);
    /* A signal that came before the pipeline existed still counts. */
    if (ctk_sigwatch_received(s->signals) != 0)
        ctk_pipeline_cancel(target.pipeline, ctk_sigwatch_received(s->signals));
    res->rc = ctk_pipeline_run(target.pipeline, s->strategy);
    ctk_sigwatch_retarget(s->signals, NULL, NULL);
    res->signo = ctk_sigwatch_received(s->signals);
    ctk_fetchrun_counts_get(fr, &res->counts);
    ctk_pipeline_free(target.pipeline);
    return 0;
}

/* Fetches everything once under s->strategy. */
static int run_once(const ctk_fetchcmd *s, run_result *res)
{
    ctk_fetch *fetch = NULL;
    ctk_journal *journal = NULL;
    ctk_progress *progress = NULL;
    ctk_fetchrun *fr = NULL;
    FILE *records_file;
    ctk_output *records;
    char err[512];
    int ret = -1;
    *res = (run_result){0};
    ctk_fetch_opts fetch_opts = s->fetch;
    fetch_opts.jobs = s->jobs;
    fetch_opts.durable = s->journal != NULL && !s->quiet;
    int rc = ctk_fetch_new(&fetch, &fetch_opts);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot set up libcurl: %s\n", s->prog, ctk_strerror(rc));
        return -1;
    }
    if (s->journal != NULL && !s->quiet &&
        ctk_journal_open(&journal, s->journal, err, sizeof err) < 0) {
        fprintf(stderr, "%s: cannot open journal %s: %s\n", s->prog, s->journal, err);
        goto fail_journal;
    }
    if (open_records(s, &records_file, &records) < 0)
        goto fail_records;
    rc = ctk_progress_new(&progress, stderr, s->c->progress || s->bar, s->urls ? s->n_urls : 0,
                          "urls");
    if (rc < 0) {
        fprintf(stderr, "%s: cannot set up the bar: %s\n", s->prog, ctk_strerror(rc));
        goto fail_progress;
    }
    ctk_fetchrun_opts fo = {
        .urls = s->urls,
        .n_urls = s->n_urls,
        .in_fd = s->in_fd,
        .out_dir = s->out_dir,
        .out_file = s->out_file,
        .out_template = s->out_template,
        .body = s->body ? stdout : NULL,
        .records = records,
        .warn = records == NULL && !s->quiet ? stderr : NULL,
        .prog = s->prog,
        .journal = journal,
        .progress = progress,
        .rate = s->rate,
        .no_clobber = s->no_clobber,
    };
    if ((rc = ctk_fetchrun_new(&fr, &fo)) < 0) {
        fprintf(stderr, "%s: cannot read the input: %s\n", s->prog, ctk_strerror(rc));
        goto fail_fetchrun;
    }
    /* Reading a file and printing records are quick: the async loop may do
     * them itself. A pipe or terminal on input, --rate and the journal's
     * fsync wait, and must not hold up transfers in flight. */
    struct stat in_st;
    int inline_ok = s->rate == 0 && journal == NULL &&
                    (s->urls != NULL || (fstat(s->in_fd, &in_st) == 0 && S_ISREG(in_st.st_mode)));
    if (run_pipeline(s, fetch, fr, inline_ok, res) < 0)
        goto fail_pipeline;
    ctk_progress_finish(progress);
    if (records != NULL && ctk_output_finish(records) < 0)
        res->counts.write_failed = 1;
    if (ctk_closeout_flush(stdout) != 0)
        res->counts.write_failed = 1;
    ret = 0;

fail_pipeline:
    ctk_fetchrun_free(fr);
fail_fetchrun:
    ctk_progress_free(progress);
fail_progress:
    close_records(records_file, records);
fail_records:
    ctk_journal_close(journal);
fail_journal:
    ctk_fetch_free(fetch);
    return ret;
}

static int exit_status(const ctk_fetchcmd *s, const run_result *r)
{
    if (r->signo != 0)
        return ctk_signal_exit_status(r->signo);
    if (r->counts.write_failed) {
        /* A failed stdout is reported at exit as a write error. */
        if (ctk_closeout_error() == 0)
            fprintf(stderr, "%s: cannot write the records: %s\n", s->prog, strerror(errno));
        return 1;
    }
    if (r->rc < 0 && r->rc != CTK_ECANCELED) {
        fprintf(stderr, "%s: %s\n", s->prog, ctk_strerror(r->rc));
        return 1;
    }
    return r->counts.failed > 0 ? 1 : 0;
}

/* What a transfer holds at most: its socket, its body's file and the
 * resolver's socket pair; a process worker costs the parent its socket
 * and a spare. FDS_SPARE is what the run holds besides (journal, records,
 * event loop, curl's wake-up pair). */
#define FDS_PER_TRANSFER 4
#define FDS_PER_WORKER   2
#define FDS_SPARE        12

/* Runs fewer transfers at once than -j asks rather than failing them with
 * EMFILE: raises the soft limit toward the hard one, then, if that is not
 * enough, lowers jobs with a warning. */
static unsigned fit_jobs(const ctk_fetchcmd *s, unsigned jobs, int forks)
{
    struct rlimit rl;
    unsigned per = forks ? FDS_PER_WORKER : FDS_PER_TRANSFER;
    if (jobs <= 1 || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return jobs;
    rlim_t base = ctk_spawn_open_fds() + FDS_SPARE;
    rlim_t need = base + (rlim_t)jobs * per;
    if (need > rl.rlim_cur && rl.rlim_max > rl.rlim_cur) {
        struct rlimit raised = {need < rl.rlim_max ? need : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = raised.rlim_cur;
    }
    if (need <= rl.rlim_cur)
        return jobs;
    unsigned fit = rl.rlim_cur > base + per ? (unsigned)((rl.rlim_cur - base) / per) : 1;
    fprintf(stderr,
            "%s: only enough file descriptors (ulimit -n %llu) for %u transfer%s at once, not %u\n",
            s->prog, (unsigned long long)rl.rlim_cur, fit, fit == 1 ? "" : "s", jobs);
    return fit;
}

/* ---- --compare ---------------------------------------------------------------------- */

static int row_in_child(void *arg, ctk_buf *result)
{
    ctk_fetchcmd *s = arg;
    int rc = ctk_sigwatch_start(&s->signals, NULL, NULL);
    if (rc < 0)
        return rc;
    run_result r;
    rc = run_once(s, &r);
    ctk_sigwatch_stop(s->signals);
    s->signals = NULL;
    if (rc < 0)
        return CTK_EIO;
    return ctk_buf_set(result, &r, sizeof r);
}

unsigned ctk_fetchcmd_default_jobs(const ctk_common *c, ctk_registry *reg, const char *strategy)
{
    if (ctk_cli_strategy_jobs(reg, strategy, 2) == 1)
        return 1;
    if (c->jobs != 0)
        return c->jobs;
    /* A worker process per transfer costs far more than a socket. */
    return ctk_cli_strategy_forks(reg, strategy) ? ctk_cpu_count() : CTK_FETCHCMD_JOBS;
}

/* --compare fetches the list once per row: read standard input first. */
static GPtrArray *slurp_urls(int fd)
{
    GPtrArray *urls = g_ptr_array_new_with_free_func(g_free);
    ctk_lines *lines;
    if (ctk_lines_open(&lines, fd, '\n', CTK_FETCHRUN_MAX_URL) < 0)
        return urls;
    const char *line;
    size_t len;
    int rc;
    while ((rc = ctk_lines_next(lines, &line, &len, NULL)) != CTK_EOF && rc != CTK_ECANCELED) {
        if (rc == 0 && len > 0 && line[0] != '#' && strspn(line, " \t\r") != len)
            g_ptr_array_add(urls, g_strstrip(g_strndup(line, len)));
        /* Too long for a URL: still a row's failure, not dropped. */
        if (rc == CTK_ERANGE)
            g_ptr_array_add(urls, g_strdup("(a line too long for a URL)"));
        if (rc < 0 && rc != CTK_ERANGE)
            break;
    }
    ctk_lines_close(lines);
    g_ptr_array_add(urls, NULL);
    return urls;
}

static int compare_rows(ctk_fetchcmd *s, ctk_registry *reg)
{
    ctk_compare *table;
    int rc = ctk_compare_new(&table, "requests", "bytes", NULL, 0);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot set up the table: %s\n", s->prog, ctk_strerror(rc));
        return 2;
    }
    /* A row whose URLs failed, or that failed itself, is a row of the
     * table like the others: every row runs, and the status says so. */
    int status = 0;
    for (char **n = s->c->compare; *n != NULL; n++) {
        s->strategy = ctk_registry_strategy(reg, *n);
        s->jobs =
            fit_jobs(s, ctk_fetchcmd_default_jobs(s->c, reg, *n), ctk_cli_strategy_forks(reg, *n));
        ctk_buf result = {0};
        ctk_usage usage;
        int died_of = 0, signo = 0;
        rc = ctk_isolate_run(row_in_child, s, &result, &usage, &died_of, &signo);
        run_result r = {0};
        if (result.len == sizeof r)
            memcpy(&r, result.data, sizeof r);
        ctk_buf_free(&result);
        if (signo == 0)
            signo = ctk_signal_pending();
        if (signo != 0 || r.signo != 0) {
            status = ctk_signal_exit_status(signo != 0 ? signo : r.signo);
            break;
        }
        if (rc < 0 || died_of != 0) {
            fprintf(stderr, "%s: %s: the row failed (%s)\n", s->prog, *n,
                    died_of ? strsignal(died_of) : ctk_strerror(rc));
            status = 1;
            continue;
        }
        ctk_row *row = ctk_compare_add(table, *n, "", s->jobs);
        row->baseline = ctk_cli_strategy_jobs(reg, *n, 2) == 1;
        row->usage = usage;
        row->units = r.counts.ok + r.counts.failed;
        row->failed = r.counts.failed;
        row->work = (double)r.counts.bytes;
        if (r.counts.failed > 0)
            status = 1;
    }
    if (ctk_compare_count(table) > 0) {
        ctk_format fmt = s->c->format_given ? s->c->format : CTK_FORMAT_TABLE;
        if (ctk_compare_print(table, stdout, fmt, fmt == CTK_FORMAT_TABLE || s->c->header,
                              ctk_cpu_count()) < 0 ||
            ctk_closeout_flush(stdout) != 0) {
            ctk_closeout_error(); /* reported at exit as a write error */
            status = 1;
        }
        if (ctk_plot_compare(table, s->c->plot, s->prog) < 0)
            status = 1;
    }
    ctk_compare_free(table);
    return status;
}

int ctk_fetchcmd_compare(ctk_fetchcmd *s, ctk_registry *reg)
{
    GPtrArray *slurped = NULL;
    if (s->urls == NULL) {
        slurped = slurp_urls(s->in_fd);
        s->urls = (const char *const *)slurped->pdata;
        s->n_urls = slurped->len - 1;
    }
    s->quiet = 1;
    int status = compare_rows(s, reg);
    if (slurped != NULL) {
        s->urls = NULL;
        s->n_urls = 0;
        g_ptr_array_free(slurped, TRUE);
    }
    return status;
}

int ctk_fetchcmd_run(ctk_fetchcmd *s)
{
    /* A record is a line: the next command of a pipeline sees each as soon
     * as it is complete. A file gets blocks (a write per record costs a few
     * percent of a run against a fast server). */
    struct stat st;
    if (!s->body && (isatty(STDOUT_FILENO) || (fstat(STDOUT_FILENO, &st) == 0 &&
                                               (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))))
        setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = ctk_sigwatch_start(&s->signals, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot watch signals: %s\n", s->prog, ctk_strerror(rc));
        return 2;
    }
    run_result r;
    s->jobs = fit_jobs(s, s->jobs, s->forks);
    int status = run_once(s, &r) < 0 ? 2 : exit_status(s, &r);
    int late = ctk_sigwatch_stop(s->signals);
    s->signals = NULL;
    if (late != 0)
        status = ctk_signal_exit_status(late);
    return status;
}
