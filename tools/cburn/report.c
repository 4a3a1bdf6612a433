/*
 * report.c: cburn's two runs over the burn engine (see report.h): the rows
 * of the table under each strategy, with their checks, and map mode.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "ctkx/compare.h"
#include "ctkx/isolate.h"
#include "ctkx/lines.h"
#include "ctkx/parse.h"
#include "ctkx/plot.h"

/* ---- one row of the table ------------------------------------------------- */

typedef struct row_job {
    ctk_burn *burn;
    const ctk_strategy *strategy;
    ctk_burn_plan plan;
    ctk_burn_tally tally;
    int force_progress;
} row_job;

/* Runs the row's tasks with a progress bar (on a terminal, or forced). */
static int burn_with_progress(row_job *job)
{
    ctk_progress *progress = NULL;
    uint64_t total = job->plan.duration > 0 ? 0 : job->plan.tasks;
    ctk_progress_new(&progress, stderr, job->force_progress, total, "tasks");
    job->plan.progress = progress;
    int rc = ctk_burn_run(job->burn, job->strategy, &job->plan, &job->tally);
    ctk_progress_finish(progress);
    ctk_progress_free(progress);
    job->plan.progress = NULL;
    return rc;
}

static void print_task_error(void *arg, uint64_t seq, const char *message)
{
    (void)arg;
    fprintf(stderr, PROG ": task %llu: %s\n", (unsigned long long)seq, message);
}

/* Runs in an isolated child for --compare: it needs its own signal thread,
 * since threads do not survive fork. */
static int row_in_child(void *arg, ctk_buf *result)
{
    row_job *job = arg;
    ctk_sigwatch *sw = NULL;
    ctk_sigwatch_start(&sw, NULL, NULL);
    job->plan.signals = sw;
    int rc = burn_with_progress(job);
    ctk_sigwatch_stop(sw);
    ctk_buf_set(result, &job->tally, sizeof job->tally);
    return rc;
}

/* Returns the row's code; *signo the signal that stopped it, or 0. */
static int run_row(row_job *job, int isolated, ctk_usage *usage, int *signo)
{
    *signo = 0;
    if (!isolated) {
        ctk_meter meter;
        ctk_meter_start(&meter);
        int rc = burn_with_progress(job);
        ctk_meter_read(&meter, usage);
        *signo = ctk_sigwatch_received(job->plan.signals);
        return rc;
    }
    ctk_buf result = {0};
    int died_of = 0;
    int rc = ctk_isolate_run(row_in_child, job, &result, usage, &died_of, signo);
    if (result.len == sizeof job->tally)
        memcpy(&job->tally, result.data, sizeof job->tally);
    ctk_buf_free(&result);
    if (*signo == 0)
        *signo = ctk_signal_pending();
    if (*signo == 0 && died_of != 0)
        fprintf(stderr, PROG ": %s: the row's process was killed by signal %d\n",
                job->strategy->ops->name, died_of);
    return rc;
}

/* ---- the runs ---------------------------------------------------------------- */

int cburn_run_table(cburn_run *run, ctk_registry *reg)
{
    size_t n_extra;
    const ctk_field *extra = ctk_burn_table_fields(&n_extra);
    cburn_opts *o = run->opts;
    char **names = run->common->compare;
    char *single[] = {(char *)(run->common->strategy ? run->common->strategy : "thread"), NULL};
    int isolated = names != NULL;
    if (names == NULL)
        names = single;
    ctk_compare *table;
    ctk_compare_new(&table, "tasks", "ops", extra, n_extra);
    GArray *shares = g_array_new(FALSE, FALSE, sizeof(ctk_share)); /* per row */
    int status = 0;
    for (size_t m = 0; m < o->n_shares && status == 0; m++) {
        ctk_burn_opts bo = {run->workload, o->shares[m], o->gil, o->switch_ms / 1000.0};
        ctk_burn *burn;
        if (ctk_burn_new(&burn, &bo) < 0) {
            fprintf(stderr, PROG ": cannot set up shared memory\n");
            return 1;
        }
        char *variant = ctk_burn_variant(o->gil, o->shares[m]);
        for (char **n = names; *n != NULL && status == 0; n++) {
            /* sync runs one at a time whatever -j says; its row says so. */
            unsigned jobs = ctk_cli_strategy_jobs(reg, *n, run->jobs);
            row_job job = {.burn = burn,
                           .strategy = ctk_registry_strategy(reg, *n),
                           .force_progress = run->common->progress};
            job.plan = (ctk_burn_plan){
                o->tasks, o->size,      o->duration,      jobs, run->common->keep_order,
                NULL,     run->signals, print_task_error, NULL};
            ctk_usage usage;
            int signo;
            int rc = run_row(&job, isolated, &usage, &signo);
            if (signo != 0) {
                run->stopped_by = signo;
                status = ctk_signal_exit_status(signo);
                break;
            }
            if (rc < 0) {
                fprintf(stderr, PROG ": %s: %s\n", *n, ctk_strerror(rc));
                status = 1;
                break;
            }
            ctk_row *row = ctk_compare_add(table, *n, variant, jobs);
            row->baseline = ctk_cli_strategy_jobs(reg, *n, 2) == 1;
            row->usage = usage;
            ctk_burn_fill_row(row, &job.tally, o->shares[m]);
            g_array_append_val(shares, o->shares[m]);
        }
        g_free(variant);
        ctk_burn_free(burn);
    }
    if (status == 0 || ctk_compare_count(table) > 0) {
        ctk_format fmt = run->common->format_given ? run->common->format : CTK_FORMAT_TABLE;
        if (ctk_compare_print(table, stdout, fmt, run->common->header, ctk_cpu_count()) < 0 ||
            (fmt == CTK_FORMAT_TABLE &&
             ctk_burn_print_notes(table, (ctk_share *)shares->data, stdout) < 0) ||
            ctk_closeout_flush(stdout) != 0) {
            ctk_closeout_error(); /* reported at exit as a write error */
            status = 1;
        }
        if (ctk_plot_compare(table, run->common->plot, PROG) < 0)
            status = 1;
        if (status == 0)
            status = ctk_burn_check_rows(table, (ctk_share *)shares->data, o->duration > 0, PROG,
                                         stderr);
    }
    /* --compare keeps the signals blocked between rows: one that came
     * while the table was printed still counts. */
    int late = isolated ? ctk_signal_pending() : 0;
    if (late != 0 && run->stopped_by == 0) {
        run->stopped_by = late;
        status = ctk_signal_exit_status(late);
    }
    g_array_free(shares, TRUE);
    ctk_compare_free(table);
    return status;
}

int cburn_run_map(cburn_run *run, ctk_registry *reg)
{
    const char *name = run->common->strategy ? run->common->strategy : "thread";
    ctk_burn_opts bo = {run->workload, run->opts->shares[0], run->opts->gil,
                        run->opts->switch_ms / 1000.0};
    ctk_burn *burn;
    if (ctk_burn_new(&burn, &bo) < 0) {
        fprintf(stderr, PROG ": cannot set up shared memory\n");
        return 1;
    }
    size_t n_fields;
    const ctk_field *fields = ctk_burn_map_fields(&n_fields);
    ctk_output *out;
    /* A record is a line: to a pipe or a terminal each goes out when it
     * is whole, not when a block fills (the next command waits on it). */
    struct stat st;
    if (isatty(STDOUT_FILENO) ||
        (fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))))
        setvbuf(stdout, NULL, _IOLBF, 0);
    ctk_lines_warn_tty("cburn", STDIN_FILENO);
    ctk_output_new(&out, stdout, run->common->format, fields, n_fields, run->common->header);
    ctk_progress *progress = NULL;
    ctk_progress_new(&progress, stderr, run->common->progress, 0, "lines");
    ctk_burn_plan plan = {0,    0,   0, run->jobs, run->common->keep_order, progress, run->signals,
                          NULL, NULL};
    ctk_burn_tally tally;
    int rc = ctk_burn_map(burn, ctk_registry_strategy(reg, name), &plan, STDIN_FILENO, out, &tally);
    ctk_progress_finish(progress);
    ctk_progress_free(progress);
    int wrc = ctk_output_finish(out);
    ctk_output_free(out);
    ctk_burn_free(burn);
    if (ctk_sigwatch_received(run->signals) != 0) {
        run->stopped_by = ctk_sigwatch_received(run->signals);
        return ctk_signal_exit_status(run->stopped_by);
    }
    if (wrc < 0 || ctk_closeout_flush(stdout) != 0) {
        ctk_closeout_error(); /* reported at exit as a write error */
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", ctk_strerror(rc));
        return 1;
    }
    return tally.failed > 0 ? 1 : 0;
}
