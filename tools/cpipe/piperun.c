/*
 * piperun.c: cpipe's runs as a whole. One run puts the pipe engine on the
 * pipeline with a bar, forwards signals to the filters and the --reduce
 * command, and maps the outcome to an exit status; --compare runs each
 * strategy in its own process (isolate.h) on the same seekable input,
 * with the outputs digested so the rows can be checked equal.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/compare.h"
#include "ctkx/isolate.h"
#include "ctkx/parse.h"
#include "ctkx/plot.h"
#include "piperun.h"

typedef struct cpipe_run {
    ctk_pipeline *pipeline;
    ctk_pipe *pipe;
    ctk_spawn_child *reducer;
} cpipe_run;

static void on_signal(void *arg, int signo)
{
    cpipe_run *run = arg;
    ctk_pipeline_cancel(run->pipeline, signo);
    ctk_pipe_cancel(run->pipe, signo);
    /* In a process group of its own, the reducer hears of Ctrl-C only
     * from us; left alone it would print a result of part of the input. */
    if (run->reducer != NULL)
        ctk_spawn_signal(run->reducer, signo);
}

/* Runs the pipeline with signals forwarded; *signo: the signal that
 * stopped it. */
static int run_watched(ctk_piperun *plan, cpipe_run *run, int *signo)
{
    ctk_sigwatch *sw = plan->signals;
    if (sw == NULL) {
        int rc = ctk_sigwatch_start(&sw, on_signal, run);
        if (rc < 0) {
            fprintf(stderr, "%s: cannot watch signals: %s\n", plan->prog, ctk_strerror(rc));
            return rc;
        }
    } else {
        ctk_sigwatch_retarget(sw, on_signal, run);
    }
    int rc = ctk_pipeline_run(run->pipeline, plan->strategy);
    *signo = plan->signals == NULL ? ctk_sigwatch_stop(sw) : ctk_sigwatch_received(sw);
    if (rc < 0 && rc != CTK_ECANCELED && *signo == 0) {
        fprintf(stderr, "%s: %s\n", plan->prog, ctk_strerror(rc));
        return rc;
    }
    return 0;
}

/* Runs every block; fills st. Returns 0, or a negative code for an
 * engine failure (message printed). *signo: the signal that stopped it. */
static int run_blocks(ctk_piperun *plan, ctk_pipe_stats *st, int *signo)
{
    char err[512];
    ctk_pipe *pipe;
    *signo = 0;
    memset(st, 0, sizeof *st);
    plan->po.elsewhere = (plan->strategy->ops->flags & CTK_STRATEGY_PROCESSES) != 0;
    /* A lane's filter reads a pipe the feeder writes: on this host only. */
    if ((plan->po.round_robin || plan->po.tee > 0) &&
        (plan->strategy->ops->flags & CTK_STRATEGY_REMOTE)) {
        fprintf(stderr, "%s: %s runs the filters on this host: use -s process\n", plan->prog,
                plan->po.tee > 0 ? "--tee"
                : plan->po.shard ? cpipe_shard_option(plan->po.shard)
                                 : "--round-robin");
        return CTK_EINVAL;
    }
    int rc = ctk_pipe_new(&pipe, &plan->po, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", plan->prog, err);
        return rc;
    }
    /* MB and MB/s; kB for a small file. */
    uint64_t size = ctk_pipe_input_size(pipe);
    uint64_t div = size > 0 && size < ((uint64_t)10 << 20) ? 1024 : (uint64_t)1 << 20;
    ctk_progress *progress = NULL;
    rc = ctk_progress_new(&progress, stderr, plan->force_progress, size / div,
                          div == 1024 ? "kB" : "MB");
    if (rc < 0) {
        fprintf(stderr, "%s: cannot show progress: %s\n", plan->prog, ctk_strerror(rc));
        goto fail_progress;
    }
    cpipe_run run = {NULL, pipe, plan->reducer};
    ctk_pipeline_opts pl = {ctk_pipe_work(pipe), plan->po.jobs, !plan->unordered, plan->po.jobs + 2,
                            ctk_pipe_produce,    pipe,          ctk_pipe_consume, pipe};
    rc = ctk_pipeline_new(&run.pipeline, &pl);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot start: %s\n", plan->prog, ctk_strerror(rc));
        goto fail_pipeline;
    }
    if (plan->strategy->ops->flags & CTK_STRATEGY_REMOTE) {
        ctk_stop_hooks hooks = ctk_pipe_stop_hooks(pipe);
        ctk_pipeline_set_stop(run.pipeline, &hooks);
    }
    /* Cancelling wakes a reader waiting on a silent pipe at once. */
    ctk_pipe_set_cancel(pipe, ctk_pipeline_cancel_flag(run.pipeline),
                        ctk_pipeline_cancel_fd(run.pipeline));
    ctk_pipe_set_progress(pipe, progress, div);
    rc = run_watched(plan, &run, signo);
    ctk_pipe_end(pipe);
    ctk_progress_finish(progress);
    ctk_pipe_stats_get(pipe, st);
    ctk_pipeline_free(run.pipeline);
fail_pipeline:
    ctk_progress_free(progress);
fail_progress:
    ctk_pipe_free(pipe);
    return rc;
}

/* ---- --compare --------------------------------------------------------------------- */

typedef struct row_result {
    int rc, signo;
    ctk_pipe_stats st;
} row_result;

/* A row's result comes from its child in wire fields, as units do. */
static int put_row(ctk_buf *b, const row_result *rr)
{
    const int64_t ints[] = {rr->rc, rr->signo, rr->st.status, rr->st.write_error};
    const uint64_t counts[] = {rr->st.blocks, rr->st.failed, rr->st.in_bytes, rr->st.out_bytes};
    int rc = 0;
    b->len = 0;
    for (size_t i = 0; rc == 0 && i < G_N_ELEMENTS(ints); i++)
        rc = ctk_wire_put_i64(b, ints[i]);
    for (size_t i = 0; rc == 0 && i < G_N_ELEMENTS(counts); i++)
        rc = ctk_wire_put_u64(b, counts[i]);
    return rc == 0 ? ctk_wire_put_bytes(b, rr->st.digest, strlen(rr->st.digest)) : rc;
}

static int get_int(ctk_wire_reader *r, int *v)
{
    int64_t x;
    int rc = ctk_wire_get_i64(r, &x);
    if (rc == 0 && (x < INT_MIN || x > INT_MAX))
        rc = CTK_EIO;
    if (rc == 0)
        *v = (int)x;
    return rc;
}

/* CTK_EIO for bytes that are not exactly one row's result. */
static int get_row(const ctk_buf *b, row_result *rr)
{
    ctk_wire_reader r;
    ctk_wire_reader_init(&r, b->data, b->len);
    memset(rr, 0, sizeof *rr);
    int *ints[] = {&rr->rc, &rr->signo, &rr->st.status, &rr->st.write_error};
    uint64_t *counts[] = {&rr->st.blocks, &rr->st.failed, &rr->st.in_bytes, &rr->st.out_bytes};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < G_N_ELEMENTS(ints); i++)
        rc = get_int(&r, ints[i]);
    for (size_t i = 0; rc == 0 && i < G_N_ELEMENTS(counts); i++)
        rc = ctk_wire_get_u64(&r, counts[i]);
    const unsigned char *digest;
    size_t len;
    if (rc == 0)
        rc = ctk_wire_get_bytes(&r, &digest, &len);
    if (rc == 0 && (len >= sizeof rr->st.digest || r.left != 0))
        rc = CTK_EIO;
    if (rc == 0)
        memcpy(rr->st.digest, digest, len);
    return rc;
}

static int row_in_child(void *arg, ctk_buf *result)
{
    ctk_piperun *plan = arg;
    row_result rr = {0};
    plan->signals = NULL;
    rr.rc = run_blocks(plan, &rr.st, &rr.signo);
    int rc = put_row(result, &rr);
    return rc < 0 ? rc : rr.rc;
}

/* Each strategy in its own child, on the same (seekable) input; the
 * outputs are digested, not written, so the rows can be checked equal. */
int ctk_piperun_compare(ctk_piperun *plan, char **names, const ctk_common *c, ctk_registry *reg)
{
    ctk_field extra[] = {{"output_md5", CTK_FIELD_STRING}};
    ctk_compare *table;
    int rc = ctk_compare_new(&table, "blocks", "bytes", extra, G_N_ELEMENTS(extra));
    if (rc < 0) {
        fprintf(stderr, "%s: --compare: %s\n", plan->prog, ctk_strerror(rc));
        return 255;
    }
    int status = 0;
    const char *first_digest = NULL;
    char digests[64][33];
    plan->po.out_fd = -1;
    plan->po.checksum = 1;
    for (size_t i = 0; names[i] != NULL && status == 0; i++) {
        char err[512];
        plan->strategy = ctk_cli_strategy(reg, names[i], err, sizeof err);
        if (plan->strategy == NULL) {
            fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", plan->prog, err,
                    plan->prog);
            status = 2;
            break;
        }
        if (lseek(plan->po.in_fd, 0, SEEK_SET) < 0) {
            status = 255;
            break;
        }
        ctk_buf result = {0};
        ctk_usage usage;
        int died_of = 0, signo = 0;
        row_result rr = {0};
        rc = ctk_isolate_run(row_in_child, plan, &result, &usage, &died_of, &signo);
        /* A child that answered nothing readable failed its row. */
        if (get_row(&result, &rr) < 0 && rc >= 0)
            rc = CTK_EIO;
        ctk_buf_free(&result);
        if (signo == 0)
            signo = ctk_signal_pending();
        if (signo != 0) {
            status = ctk_signal_exit_status(signo);
            break;
        }
        if (rc < 0 || died_of != 0) {
            fprintf(stderr, "%s: %s: the row failed\n", plan->prog, names[i]);
            status = 255;
            break;
        }
        ctk_row *row = ctk_compare_add(table, names[i], "", plan->po.jobs);
        row->baseline = ctk_cli_strategy_jobs(reg, names[i], 2) == 1;
        row->usage = usage;
        row->units = rr.st.blocks;
        row->failed = rr.st.failed;
        row->work = (double)rr.st.in_bytes;
        row->extra[0] = g_strdup(rr.st.digest);
        if (i < G_N_ELEMENTS(digests))
            memcpy(digests[i], rr.st.digest, sizeof digests[i]);
        if (first_digest == NULL)
            first_digest = digests[0];
        else if (strcmp(first_digest, rr.st.digest) != 0) {
            fprintf(stderr, "%s: %s: output differs from %s's\n", plan->prog, names[i], names[0]);
            status = 1;
        }
        if (rr.st.status != 0 && status == 0)
            status = rr.st.status;
    }
    if (ctk_compare_count(table) > 0 &&
        (rc = ctk_compare_print(table, stdout, c->format_given ? c->format : CTK_FORMAT_TABLE, 1,
                                ctk_cpu_count())) < 0 &&
        status == 0) {
        fprintf(stderr, "%s: cannot print the table: %s\n", plan->prog, ctk_strerror(rc));
        status = 255;
    }
    ctk_closeout_flush(stdout);
    if (ctk_plot_compare(table, c->plot, plan->prog) < 0)
        status = 255;
    ctk_compare_free(table);
    return status;
}

/* --compare reads the input once per row: a pipe is kept in a temporary
 * file first. Returns the fd, or -1 (message printed). */
int ctk_piperun_seekable_copy(const char *prog, int fd, const char *tmpdir)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return dup(fd);
    const char *dir = tmpdir ? tmpdir : g_get_tmp_dir();
    int out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (out < 0) {
        fprintf(stderr, "%s: cannot create a file in %s: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        /* A read error must not leave the rows comparing a truncated input. */
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            fprintf(stderr, "%s: cannot %s the input: %s\n", prog, n < 0 ? "read" : "keep",
                    strerror(errno));
            close(out);
            return -1;
        }
    }
    return out;
}

/* Each running filter holds up to this many of our descriptors (its
 * pipes, pidfd, spill file, and the event loop's copies of them). */
#define FDS_PER_JOB 10
#define FDS_SPARE   16 /* besides those open when the run starts */

/* Like GNU parallel, runs fewer filters at once than -j asks rather than
 * failing mid-run with EMFILE: raises the soft limit toward the hard one,
 * then, if that is not enough, lowers jobs with a warning. */
unsigned ctk_piperun_fit_jobs(const char *prog, unsigned jobs)
{
    unsigned long long limit;
    unsigned fit = ctk_spawn_fit_jobs(jobs, FDS_PER_JOB, FDS_SPARE, &limit);
    if (fit < jobs)
        fprintf(stderr,
                "%s: only enough file descriptors (%llu) to run %u filters at once, not %u\n", prog,
                limit, fit, jobs);
    return fit;
}

static int finish_status(const ctk_piperun *plan, const ctk_pipe_stats *st, int rc, int signo)
{
    if (signo != 0)
        return ctk_signal_exit_status(signo);
    if (rc < 0)
        return 255;
    if (st->write_error == EPIPE)
        return 128 + SIGPIPE; /* as a writer killed by SIGPIPE */
    if (st->write_error != 0) {
        fprintf(stderr, "%s: write error: %s\n", plan->prog, strerror(st->write_error));
        ctk_closeout_reported();
        return 255;
    }
    /* As GNU parallel: a run that --halt stopped exits as the block that
     * stopped it; otherwise every block ran and the status counts the
     * failed ones, 101 standing for more than 100. */
    if (st->halted || st->failed == 0)
        return st->status;
    return st->failed > 100 ? 101 : (int)st->failed;
}

int ctk_piperun_run(const ctk_piperun *plan, const char *reduce)
{
    ctk_piperun run = *plan; /* out_fd and reducer are this run's */
    ctk_spawn_child reducer;
    ctk_spawn_opts reducer_opts;
    if (reduce != NULL) {
        int rc =
            ctk_pipe_reduce_begin(&reducer, &reducer_opts, reduce, run.po.shell, &run.po.out_fd);
        if (rc < 0) {
            fprintf(stderr, "%s: cannot start --reduce: %s\n", plan->prog, ctk_strerror(rc));
            return 255;
        }
        run.reducer = &reducer;
    }
    ctk_pipe_stats st;
    int signo;
    int rc = run_blocks(&run, &st, &signo);
    int status = finish_status(plan, &st, rc, signo);
    if (reduce != NULL) {
        int reduced = ctk_pipe_reduce_end(&reducer, run.po.out_fd);
        /* A reducer that ended early closed its stdin: its status says why. */
        if ((status == 0 || st.write_error == EPIPE) && reduced != 0) {
            if (reduced < 0)
                fprintf(stderr, "%s: --reduce: %s\n", plan->prog, ctk_strerror(reduced));
            status = reduced < 0 ? 255 : reduced;
        }
    }
    return status;
}
