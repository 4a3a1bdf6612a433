/*
 * cpipe: split a stream into record-aligned blocks, run a filter on each
 * block in parallel with the block on its stdin, and write the outputs in
 * input order (GNU parallel's --pipe and --pipepart). Parses options and
 * wires libctk's blocks, command template, pipe engine and pipeline.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctk/cli.h"
#include "ctk/compare.h"
#include "ctk/isolate.h"
#include "ctk/par.h"
#include "ctk/parse.h"
#include "ctk/pipe.h"
#include "ctk/sigwatch.h"

#define PROG "cpipe"

enum {
    OPT_INPUT = 256,
    OPT_BLOCK,
    OPT_RECEND,
    OPT_RECSTART,
    OPT_NULL,
    OPT_REGEXP,
    OPT_HEADER,
    OPT_FIXED,
    OPT_UNORDERED,
    OPT_REDUCE,
    OPT_BLOCK_ID,
    OPT_TAG,
    OPT_KEEP_GOING,
    OPT_EMPTY_BLOCK,
    OPT_SHELL,
    OPT_TMPDIR,
};

static const ctk_cli_option cpipe_options[] = {
    {"arg-file", 'a', CTK_ARG_REQUIRED, "FILE",
     "read FILE instead of stdin ('-': stdin; seekable: fast path)", OPT_INPUT},
    {"block", 'b', CTK_ARG_REQUIRED, "SIZE", "about SIZE bytes per block (k, M, G; default 1M)",
     OPT_BLOCK},
    {"recend", 0, CTK_ARG_REQUIRED, "STR", "records end with STR (default \\n)", OPT_RECEND},
    {"recstart", 0, CTK_ARG_REQUIRED, "STR", "records start with STR", OPT_RECSTART},
    {"null", '0', CTK_ARG_NONE, NULL, "records end with a NUL byte", OPT_NULL},
    {"regexp", 0, CTK_ARG_NONE, NULL, "--recend and --recstart are regular expressions",
     OPT_REGEXP},
    {"header", 0, CTK_ARG_REQUIRED, "N", "repeat the first N lines at the top of every block",
     OPT_HEADER},
    {"fixed", 0, CTK_ARG_REQUIRED, "SIZE", "records of exactly SIZE bytes (binary data)",
     OPT_FIXED},
    {"unordered", 0, CTK_ARG_NONE, NULL, "write outputs as blocks finish, not in input order",
     OPT_UNORDERED},
    {"reduce", 0, CTK_ARG_REQUIRED, "CMD", "pipe the outputs, in order, into CMD", OPT_REDUCE},
    {"block-id", 0, CTK_ARG_NONE, NULL, "give FILTER the block number as its last argument",
     OPT_BLOCK_ID},
    {"tag", 0, CTK_ARG_NONE, NULL, "prefix each output line with the block number and a tab",
     OPT_TAG},
    {"keep-going", 0, CTK_ARG_NONE, NULL, "report a failed block and go on with the others",
     OPT_KEEP_GOING},
    {"empty-block", 0, CTK_ARG_NONE, NULL, "run FILTER once on empty input", OPT_EMPTY_BLOCK},
    {"shell", 0, CTK_ARG_NONE, NULL, "run FILTER under /bin/sh -c even without shell syntax",
     OPT_SHELL},
    {"tmpdir", 0, CTK_ARG_REQUIRED, "DIR",
     "where outputs waiting their turn spill (default $TMPDIR)", OPT_TMPDIR},
    {NULL, 0, 0, NULL, NULL, 0},
};

typedef struct cpipe_opts {
    const char *input;
    uint64_t block, header, fixed;
    const char *recend, *recstart;
    size_t recend_len;
    int regexp, unordered, block_id, tag, keep_going, empty_block, shell;
    const char *reduce, *tmpdir;
} cpipe_opts;

static int on_option(void *arg, int id, const char *v, char *why, size_t why_len)
{
    cpipe_opts *o = arg;
    switch (id) {
    case OPT_INPUT:
        o->input = v;
        return 0;
    case OPT_BLOCK:
        return ctk_parse_size(v, 1, (uint64_t)1 << 40, &o->block, why, why_len);
    case OPT_RECEND:
        o->recend = v;
        o->recend_len = strlen(v);
        return 0;
    case OPT_RECSTART:
        o->recstart = v;
        return 0;
    case OPT_NULL:
        o->recend = "";
        o->recend_len = 1; /* the NUL byte that ends "" */
        return 0;
    case OPT_REGEXP:
        o->regexp = 1;
        return 0;
    case OPT_HEADER:
        return ctk_parse_u64(v, 0, 1000000, &o->header, why, why_len);
    case OPT_FIXED:
        return ctk_parse_size(v, 1, (uint64_t)1 << 30, &o->fixed, why, why_len);
    case OPT_UNORDERED:
        o->unordered = 1;
        return 0;
    case OPT_REDUCE:
        o->reduce = v;
        return 0;
    case OPT_BLOCK_ID:
        o->block_id = 1;
        return 0;
    case OPT_TAG:
        o->tag = 1;
        return 0;
    case OPT_KEEP_GOING:
        o->keep_going = 1;
        return 0;
    case OPT_EMPTY_BLOCK:
        o->empty_block = 1;
        return 0;
    case OPT_SHELL:
        o->shell = 1;
        return 0;
    case OPT_TMPDIR:
        o->tmpdir = v;
        return 0;
    }
    return CTK_EINVAL;
}

static const ctk_cli cpipe_cli = {
    .prog = PROG,
    .synopsis = "[OPTION]... FILTER [ARG]...",
    .summary = "Cut standard input (or -a FILE) into blocks of about --block bytes that end\n"
               "on a record boundary, run FILTER once per block with the block on its stdin,\n"
               "N at a time, and write the filters' outputs in input order.",
    .options = cpipe_options,
    .handler = on_option,
    .stop_at_operand = 1,
    .jobs_unbounded = 256,
};

static void print_report(void *arg, const char *message)
{
    (void)arg;
    fprintf(stderr, PROG ": %s\n", message);
}

static int usage_error(const char *message)
{
    fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more information.\n", message);
    return 2;
}

static void warn_plugin(void *arg, const ctk_plugin_error *err)
{
    (void)arg;
    fprintf(stderr, PROG ": plugin %s: %s\n", err->file, err->reason);
}

/* ---- one run -------------------------------------------------------------------- */

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

typedef struct run_plan {
    ctk_pipe_opts po;
    const ctk_strategy *strategy;
    int unordered;
    int force_progress;
    ctk_sigwatch *signals;    /* NULL: start one (an isolated row) */
    ctk_spawn_child *reducer; /* --reduce's, to signal with the filters */
} run_plan;

/* Runs every block; fills st. Returns 0, or a negative code for an
 * engine failure (message printed). *signo: the signal that stopped it. */
static int run_blocks(run_plan *plan, ctk_pipe_stats *st, int *signo)
{
    char err[512];
    ctk_pipe *pipe;
    *signo = 0;
    memset(st, 0, sizeof *st);
    int rc = ctk_pipe_new(&pipe, &plan->po, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return rc;
    }
    /* MB and MB/s; kB for a small file. */
    uint64_t size = ctk_pipe_input_size(pipe);
    uint64_t div = size > 0 && size < ((uint64_t)10 << 20) ? 1024 : (uint64_t)1 << 20;
    ctk_progress *progress = NULL;
    ctk_progress_new(&progress, stderr, plan->force_progress, size / div,
                     div == 1024 ? "kB" : "MB");
    cpipe_run run = {NULL, pipe, plan->reducer};
    ctk_pipeline_opts pl = {ctk_pipe_work(pipe), plan->po.jobs, !plan->unordered, plan->po.jobs + 2,
                            ctk_pipe_produce,    pipe,          ctk_pipe_consume, pipe};
    ctk_pipeline_new(&run.pipeline, &pl);
    ctk_pipe_set_cancel_flag(pipe, ctk_pipeline_cancel_flag(run.pipeline));
    ctk_pipe_set_progress(pipe, progress, div);
    int own_signals = plan->signals == NULL;
    ctk_sigwatch *sw = plan->signals;
    if (own_signals)
        ctk_sigwatch_start(&sw, on_signal, &run);
    else
        ctk_sigwatch_retarget(sw, on_signal, &run);
    rc = ctk_pipeline_run(run.pipeline, plan->strategy);
    if (own_signals)
        *signo = ctk_sigwatch_stop(sw);
    else
        *signo = ctk_sigwatch_received(sw);
    ctk_progress_finish(progress);
    ctk_progress_free(progress);
    ctk_pipe_stats_get(pipe, st);
    ctk_pipeline_free(run.pipeline);
    ctk_pipe_free(pipe);
    if (rc < 0 && rc != CTK_ECANCELED && *signo == 0) {
        fprintf(stderr, PROG ": %s\n", ctk_strerror(rc));
        return rc;
    }
    return 0;
}

/* ---- --compare --------------------------------------------------------------------- */

typedef struct row_result {
    int rc, signo;
    ctk_pipe_stats st;
} row_result;

static int row_in_child(void *arg, ctk_buf *result)
{
    run_plan *plan = arg;
    row_result rr = {0};
    plan->signals = NULL;
    rr.rc = run_blocks(plan, &rr.st, &rr.signo);
    ctk_buf_set(result, &rr, sizeof rr);
    return rr.rc;
}

/* Each strategy in its own child, on the same (seekable) input; the
 * outputs are digested, not written, so the rows can be checked equal. */
static int compare(run_plan *plan, char **names, const ctk_common *c, ctk_registry *reg)
{
    ctk_field extra[] = {{"output_md5", CTK_FIELD_STRING}};
    ctk_compare *table;
    ctk_compare_new(&table, "blocks", "bytes", extra, G_N_ELEMENTS(extra));
    int status = 0;
    const char *first_digest = NULL;
    char digests[64][33];
    plan->po.out_fd = -1;
    plan->po.checksum = 1;
    for (size_t i = 0; names[i] != NULL && status == 0; i++) {
        char err[512];
        plan->strategy = ctk_cli_strategy(reg, names[i], err, sizeof err);
        if (plan->strategy == NULL) {
            status = usage_error(err);
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
        int rc = ctk_isolate_run(row_in_child, plan, &result, &usage, &died_of, &signo);
        if (result.len == sizeof rr)
            memcpy(&rr, result.data, sizeof rr);
        ctk_buf_free(&result);
        if (signo == 0)
            signo = ctk_signal_pending();
        if (signo != 0) {
            status = ctk_signal_exit_status(signo);
            break;
        }
        if (rc < 0 || died_of != 0) {
            fprintf(stderr, PROG ": %s: the row failed\n", names[i]);
            status = 255;
            break;
        }
        ctk_row *row = ctk_compare_add(table, names[i], "", plan->po.jobs);
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
            fprintf(stderr, PROG ": %s: output differs from %s's\n", names[i], names[0]);
            status = 1;
        }
        if (rr.st.status != 0 && status == 0)
            status = rr.st.status;
    }
    if (ctk_compare_count(table) > 0)
        ctk_compare_print(table, stdout, c->format_given ? c->format : CTK_FORMAT_TABLE, 1,
                          ctk_cpu_count());
    fflush(stdout);
    ctk_compare_free(table);
    return status;
}

/* --compare reads the input once per row: a pipe is kept in a temporary
 * file first. Returns the fd, or -1 (message printed). */
static int seekable_copy(int fd, const char *tmpdir)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return dup(fd);
    const char *dir = tmpdir ? tmpdir : g_get_tmp_dir();
    int out = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (out < 0) {
        fprintf(stderr, PROG ": cannot create a file in %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        /* A read error must not leave the rows comparing a truncated input. */
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            fprintf(stderr, PROG ": cannot %s the input: %s\n", n < 0 ? "read" : "keep",
                    strerror(errno));
            close(out);
            return -1;
        }
    }
    return out;
}

/* ---- main ---------------------------------------------------------------------------- */

static const char *check_opts(const cpipe_opts *o, int n_cmd)
{
    if (n_cmd == 0)
        return "no FILTER given";
    if (o->fixed > 0 && (o->recend != NULL || o->recstart != NULL || o->regexp))
        return "--fixed takes no --recend, --recstart, -0 or --regexp";
    if (o->fixed > 0 && o->header > 0)
        return "--fixed takes no --header (records are not lines)";
    return NULL;
}

/* Each running filter holds up to this many of our descriptors (its
 * pipes, pidfd, spill file, and the event loop's copies of them). */
#define FDS_PER_JOB 10
#define FDS_SPARE   64

/* Like GNU parallel, runs fewer filters at once than -j asks rather than
 * failing mid-run with EMFILE: raises the soft limit toward the hard one,
 * then, if that is not enough, lowers jobs with a warning. */
static unsigned fit_jobs_to_fds(unsigned jobs)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return jobs;
    rlim_t need = (rlim_t)jobs * FDS_PER_JOB + FDS_SPARE;
    if (need > rl.rlim_cur && rl.rlim_max > rl.rlim_cur) {
        struct rlimit raised = {need < rl.rlim_max ? need : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = raised.rlim_cur;
    }
    if (need <= rl.rlim_cur)
        return jobs;
    unsigned fit = rl.rlim_cur > FDS_SPARE + FDS_PER_JOB
                       ? (unsigned)((rl.rlim_cur - FDS_SPARE) / FDS_PER_JOB)
                       : 1;
    fprintf(stderr,
            PROG ": only enough file descriptors (%llu) to run %u filters at once, not %u\n",
            (unsigned long long)rl.rlim_cur, fit, jobs);
    return fit;
}

static int finish_status(const ctk_pipe_stats *st, int rc, int signo)
{
    if (signo != 0)
        return ctk_signal_exit_status(signo);
    if (rc < 0)
        return 255;
    if (st->write_error == EPIPE)
        return 128 + SIGPIPE; /* as a writer killed by SIGPIPE */
    if (st->write_error != 0) {
        fprintf(stderr, PROG ": write error: %s\n", strerror(st->write_error));
        return 255;
    }
    return st->status;
}

int main(int argc, char **argv)
{
    cpipe_opts o = {0}; /* block 0: the engine chooses */
    ctk_common c = {0};
    ctk_registry *reg;
    char err[1600];
    int first, status = 0, in_fd = -1;
    ctk_cli_guard_stdio();
    ctk_cli cli = cpipe_cli;
    cli.handler_arg = &o;
    ctk_registry_new(&reg);
    ctk_cmdline *cmd = NULL;
    ctk_blocks *rules = NULL;
    char *shell = NULL;
    char **words = NULL;
    int rc = ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err);
    if (rc < 0) {
        status = rc == CTK_EINVAL ? usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
        goto out;
    }
    if (ctk_cli_inform(&cpipe_cli, reg, &c, stdout, warn_plugin, NULL))
        goto out;
    const char *problem = check_opts(&o, argc - first);
    if (problem != NULL) {
        status = usage_error(problem);
        goto out;
    }
    const ctk_strategy *strategy =
        ctk_cli_strategy(reg, c.strategy ? c.strategy : "thread", err, sizeof err);
    if (strategy == NULL) {
        status = usage_error(err);
        goto out;
    }
    ctk_blocks_opts bo = {o.recend, o.recend_len, o.recstart, o.recstart ? strlen(o.recstart) : 0,
                          o.regexp, o.fixed};
    if (ctk_blocks_new(&rules, &bo, err, sizeof err) < 0) {
        status = usage_error(err);
        goto out;
    }
    /* --block-id: the block number ({#}) as one more word. */
    size_t n_words = (size_t)(argc - first);
    words = g_new0(char *, n_words + 2);
    memcpy(words, argv + first, n_words * sizeof *words);
    if (o.block_id)
        words[n_words++] = "{#}";
    unsigned flags = CTK_CMDLINE_NO_APPEND | (o.shell ? CTK_CMDLINE_FORCE_SHELL : 0);
    if (ctk_cmdline_parse(&cmd, words, n_words, NULL, flags, err, sizeof err) < 0) {
        status = usage_error(err);
        goto out;
    }
    /* "-a -" is standard input, as for parallel -a, xargs -a and cfetch -i. */
    if (o.input != NULL && strcmp(o.input, "-") == 0)
        o.input = NULL;
    in_fd = o.input != NULL ? open(o.input, O_RDONLY | O_CLOEXEC) : dup(0);
    if (in_fd < 0) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", o.input ? o.input : "stdin",
                strerror(errno));
        status = 255;
        goto out;
    }
    /* A reader that went away is a write error to handle, not a death. */
    signal(SIGPIPE, SIG_IGN);
    shell = ctk_par_find_shell();
    run_plan plan = {
        .po =
            {
                .cmd = cmd,
                .shell = shell,
                .rules = rules,
                .in_fd = in_fd,
                .block = o.block,
                .header_lines = o.header,
                .jobs = fit_jobs_to_fds(c.jobs ? c.jobs : ctk_cpu_count()),
                .keep_going = o.keep_going,
                .tag = o.tag,
                .empty_block = o.empty_block,
                .out_fd = 1,
                .tmpdir = o.tmpdir,
                .report = print_report,
            },
        .strategy = strategy,
        .unordered = o.unordered,
        .force_progress = c.progress,
    };
    if (c.compare != NULL) {
        int copy = seekable_copy(in_fd, o.tmpdir);
        if (copy < 0) {
            status = 255;
            goto out;
        }
        close(in_fd);
        in_fd = plan.po.in_fd = copy;
        status = compare(&plan, c.compare, &c, reg);
        goto out;
    }
    ctk_spawn_child reducer;
    ctk_spawn_opts reducer_opts;
    if (o.reduce != NULL) {
        rc = ctk_pipe_reduce_begin(&reducer, &reducer_opts, o.reduce, shell, &plan.po.out_fd);
        if (rc < 0) {
            fprintf(stderr, PROG ": cannot start --reduce: %s\n", ctk_strerror(rc));
            status = 255;
            goto out;
        }
        plan.reducer = &reducer;
    }
    ctk_pipe_stats st;
    int signo;
    rc = run_blocks(&plan, &st, &signo);
    status = finish_status(&st, rc, signo);
    if (o.reduce != NULL) {
        int reduced = ctk_pipe_reduce_end(&reducer, plan.po.out_fd);
        /* A reducer that ended early closed its stdin: its status says why. */
        if ((status == 0 || st.write_error == EPIPE) && reduced != 0) {
            if (reduced < 0)
                fprintf(stderr, PROG ": --reduce: %s\n", ctk_strerror(reduced));
            status = reduced < 0 ? 255 : reduced;
        }
    }
out:
    if (in_fd >= 0)
        close(in_fd);
    g_free(shell);
    g_free(words);
    ctk_cmdline_free(cmd);
    ctk_blocks_free(rules);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
