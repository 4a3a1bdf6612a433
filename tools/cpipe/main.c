/*
 * cpipe: split a stream into record-aligned blocks, run a filter on each
 * block in parallel with the block on its stdin, and write the outputs in
 * input order (GNU parallel's --pipe and --pipepart). Parses the command
 * line (opts.c) and wires the engine beside it (blocks.c, pipe.c,
 * piperun.c: one run, or --compare) over libctk's pipeline and the
 * command template.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "ctkx/joblog.h"
#include "ctkx/lines.h"
#include "ctkx/parse.h"
#include "ctkx/spawn.h"
#include "operands.h"
#include "opts.h"
#include "piperun.h"

#define PROG "cpipe"

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

/* --skip-first-line: parallel reads the line a byte at a time, so what
 * follows it stays in the input for whoever reads it next. */
static int skip_line(int fd)
{
    char c;
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : 0;
        if (c == '\n')
            return 0;
    }
}

int main(int argc, char **argv)
{
    cpipe_opts o;
    ctk_common c = {0};
    ctk_registry *reg;
    char err[1600];
    int first, status = 0, in_fd = -1, group_in = -1;
    cpipe_groupby *groups = NULL;
    cpipe_shard *shard = NULL;
    FILE *joblog = NULL;
    tee_jobs tee = {0};
    unsigned jobs = 0;
    ctk_cli_guard_stdio();
    cpipe_opts_init(&o);
    ctk_closeout_init(PROG, 255);
    ctk_cli cli = cpipe_cli;
    cli.handler_arg = &o;
    int rc = ctk_registry_new(&reg);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot start: %s\n", ctk_strerror(rc));
        return 255;
    }
    ctk_cmdline *cmd = NULL, *tag = NULL;
    ctk_blocks *rules = NULL;
    char *shell = NULL;
    rc = ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err);
    if (rc < 0) {
        status = rc == CTK_EINVAL ? usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
        goto out;
    }
    if (ctk_cli_inform(&cpipe_cli, reg, &c, stdout, warn_plugin, NULL))
        goto out;
    int all_argc = argc;
    argc = cpipe_cut_sources(&o, first, argc, argv);
    /* parallel --pipepart's default: 10 blocks per job slot. */
    if (o.part == 1 && o.block == 0 && o.block_slots == 0)
        o.block_slots = 10;
    o.jobs_arg = c.jobs_arg;
    const char *problem = cpipe_opts_check(&o, argc - first);
    if (problem != NULL) {
        status = usage_error(problem);
        goto out;
    }
    /* parallel --shard with arguments runs a filter per argument (and
     * fails unless -j is above their number): no such thing here. */
    if ((o.shard != NULL || o.bin != NULL) && cpipe_has_sources(first, all_argc, argv)) {
        snprintf(err, sizeof err, "%s takes no input sources (::: or ::::)",
                 o.shard != NULL ? "--shard" : "--bin");
        status = usage_error(err);
        goto out;
    }
    const ctk_strategy *strategy =
        ctk_cli_strategy(reg, c.strategy ? c.strategy : "thread", err, sizeof err);
    if (strategy == NULL) {
        status = usage_error(err);
        goto out;
    }
    jobs = c.jobs ? c.jobs : ctk_cpu_count();
    if (o.tee) {
        err[0] = '\0';
        rc = cpipe_tee_jobs_read(&tee, &o, argc, all_argc, argv, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, PROG ": %s\n", err);
            status = rc == CTK_EINVAL ? 2 : CTK_EXIT_NO_INPUT;
            goto out;
        }
        if (tee.args->len == 0) {
            status = usage_error("--tee runs one filter per argument: give them after FILTER "
                                 "(::: ARG..., :::: FILE)");
            goto out;
        }
        /* Every filter runs at once (parallel's -j 0 for --tee). */
        if (c.jobs != 0 && c.jobs < tee.args->len) {
            snprintf(err, sizeof err,
                     "--tee runs all %u filters at once: -j %u is too few (leave -j out)",
                     tee.args->len, c.jobs);
            status = usage_error(err);
            goto out;
        }
        jobs = tee.args->len;
        if (ctk_piperun_fit_jobs(PROG, jobs) < jobs) {
            fprintf(stderr, PROG ": --tee cannot run %u filters at once\n", jobs);
            status = 255;
            goto out;
        }
    }
    /* An exported bash function runs under bash, as in parallel --pipe. */
    shell = argc > first ? ctk_spawn_function_shell(argv[first]) : NULL;
    if (shell != NULL)
        o.shell = 1;
    rc = cpipe_opts_filter(&o, argv + first, (size_t)(argc - first), &rules, &cmd, err, sizeof err);
    if (rc == 0)
        rc = cpipe_opts_tagstring(&o, &tag, err, sizeof err);
    if (rc == 0 && (o.shard != NULL || o.bin != NULL)) {
        rc = cpipe_shard_new(&shard, o.shard != NULL ? o.shard : o.bin, o.bin != NULL,
                             cpipe_opts_shard_colsep(&o), err, sizeof err);
        /* A column named in the first line makes that line the header. */
        if (rc == 0 && cpipe_shard_named(shard) && o.header == 0 && o.header_regexp == NULL)
            o.header = 1;
    }
    if (rc < 0) {
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
        status = CTK_EXIT_NO_INPUT;
        goto out;
    }
    ctk_lines_warn_tty(PROG, in_fd);
    if (o.skip_first_line && (rc = skip_line(in_fd)) < 0) {
        fprintf(stderr, PROG ": cannot read %s: %s\n", o.input ? o.input : "stdin",
                ctk_strerror(rc));
        status = CTK_EXIT_NO_INPUT;
        goto out;
    }
    if (o.group_by != NULL) {
        int named = 0, marked = -1;
        rc = cpipe_groupby_start(&groups, in_fd, o.group_by, o.colsep, o.header, o.group_marker,
                                 &named, &marked, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, PROG ": %s\n", err);
            status = 255;
            goto out;
        }
        /* A column named in the first line makes that line the header. */
        if (named)
            o.header = 1;
        group_in = in_fd;
        in_fd = marked;
    }
    /* A reader that went away is a write error to handle, not a death. */
    signal(SIGPIPE, SIG_IGN);
    if (shell == NULL)
        shell = ctk_spawn_find_shell();
    if (o.joblog != NULL && c.compare != NULL) {
        status = usage_error("--compare runs every block several times: it takes no --joblog");
        goto out;
    }
    /* A dry run logs nothing; parallel prints only the lines. */
    if (o.joblog != NULL && !(o.dry_run && strcmp(o.joblog, "-") == 0)) {
        int append = o.joblog[0] == '+';
        joblog = strcmp(o.joblog, "-") == 0 ? ctk_joblog_open_stdout()
                                            : ctk_joblog_open(o.joblog + append, append);
        if (joblog == NULL) {
            fprintf(stderr, PROG ": cannot open joblog %s: %s\n", o.joblog + append,
                    strerror(errno));
            status = 255;
            goto out;
        }
    }
    ctk_piperun plan = {
        .prog = PROG,
        .po =
            {
                .cmd = cmd,
                .shell = shell,
                .rules = rules,
                .in_fd = in_fd,
                .block = o.block,
                .header_lines = o.header,
                .header_regexp = o.header_regexp,
                .part = o.part,
                .records = o.records,
                .lines = o.lines,
                .jobs = o.tee ? jobs : ctk_piperun_fit_jobs(PROG, jobs),
                .halt = o.halt,
                .tagstring = tag,
                .verbose = o.verbose,
                .dry_run = o.dry_run,
                .line_buffer = o.line_buffer,
                .unordered = o.unordered,
                .joblog = joblog,
                .delay = o.delay,
                .files = o.files,
                .block_timeout = o.block_timeout,
                .empty_block = o.empty_block,
                .cat = o.cat,
                .fifo = o.fifo,
                .rrs = o.rrs,
                /* --tee passes the input as it is (parallel ignores -r there). */
                .skip_empty = o.tee ? 0 : o.skip_empty,
                .block_slots = o.block_slots,
                .round_robin = o.round_robin || shard != NULL,
                .shard = shard,
                .tee = o.tee ? tee.args->len : 0,
                .tee_args = o.tee ? (const ctk_cmdline_args *)(void *)tee.args->data : NULL,
                .out_fd = 1,
                .tmpdir = o.tmpdir,
                .report = print_report,
            },
        .strategy = strategy,
        .unordered = o.unordered,
        .force_progress = c.progress,
    };
    if (c.compare != NULL) {
        int copy = ctk_piperun_seekable_copy(PROG, in_fd, o.tmpdir);
        if (copy < 0) {
            status = 255;
            goto out;
        }
        close(in_fd);
        in_fd = plan.po.in_fd = copy;
        status = ctk_piperun_compare(&plan, c.compare, &c, reg);
        goto out;
    }
    status = ctk_piperun_run(&plan, o.reduce);
out:
    if (in_fd >= 0)
        close(in_fd);
    /* After the marked stream's end closed: a thread still writing stops. */
    cpipe_groupby_end(groups);
    if (group_in >= 0)
        close(group_in);
    if (joblog != NULL)
        fclose(joblog);
    g_free(shell);
    cpipe_tee_jobs_free(&tee);
    ctk_cmdline_free(cmd);
    ctk_cmdline_free(tag);
    ctk_blocks_free(rules);
    cpipe_shard_free(shard);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
