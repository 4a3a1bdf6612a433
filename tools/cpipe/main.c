/*
 * cpipe: split a stream into record-aligned blocks, run a filter on each
 * block in parallel with the block on its stdin, and write the outputs in
 * input order (GNU parallel's --pipe and --pipepart). Parses options and
 * wires the engine beside it (blocks.c, pipe.c, piperun.c: one run, or
 * --compare) over libctk's pipeline and the command template.
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
#include "ctkx/lines.h"
#include "ctkx/spawn.h"
#include "ctkx/parse.h"
#include "piperun.h"

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
    OPT_HALT,
    OPT_EMPTY_BLOCK,
    OPT_SHELL,
    OPT_TMPDIR,
    OPT_PIPE,
    OPT_PIPEPART,
    OPT_RECORDS,
    OPT_LINES,
    OPT_ROUND_ROBIN,
    OPT_CAT,
    OPT_FIFO,
};

static const ctk_cli_option cpipe_options[] = {
    {"arg-file", 'a', CTK_ARG_REQUIRED, "FILE",
     "read FILE instead of stdin ('-': stdin; seekable: fast path)", OPT_INPUT},
    {"block", 'b', CTK_ARG_REQUIRED, "SIZE",
     "about SIZE bytes per block (k=1000, K=1024, m, M, g, G; default 1M)", OPT_BLOCK},
    {"block-size", 0, CTK_ARG_REQUIRED, "SIZE", "the same as --block", OPT_BLOCK},
    {"blocksize", 0, CTK_ARG_REQUIRED, "SIZE", "the same as --block", OPT_BLOCK},
    {"pipe", 0, CTK_ARG_NONE, NULL, "cut blocks as parallel --pipe does (also a seekable input)",
     OPT_PIPE},
    {"pipepart", 0, CTK_ARG_NONE, NULL,
     "cut blocks as parallel --pipepart does (the default for a seekable input)", OPT_PIPEPART},
    {"max-replace-args", 'N', CTK_ARG_REQUIRED, "N",
     "exactly N records per block (the last may have fewer)", OPT_RECORDS},
    {"max-lines", 'L', CTK_ARG_REQUIRED, "N", "a record is N lines (with -N: N*L lines per block)",
     OPT_LINES},
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
    {"halt", 0, CTK_ARG_REQUIRED, "WHEN,WHY=N",
     "stop early: now|soon,fail|success|done=N (default never: run every block)", OPT_HALT},
    {"halt-on-error", 0, CTK_ARG_REQUIRED, "WHEN,WHY=N", "the same as --halt", OPT_HALT},
    {"keep-going", 0, CTK_ARG_NONE, NULL, "run every block whatever fails (--halt never)",
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
    uint64_t block, header, fixed, records, lines;
    int part; /* -1: by the input; 0: --pipe; 1: --pipepart */
    const char *recend, *recstart;
    size_t recend_len;
    int regexp, unordered, block_id, tag, empty_block, shell;
    ctk_halt halt;
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
        return ctk_parse_size_parallel(v, 1, (uint64_t)1 << 40, &o->block, why, why_len);
    case OPT_PIPE:
        o->part = 0;
        return 0;
    case OPT_PIPEPART:
        o->part = 1;
        return 0;
    case OPT_RECORDS:
        return ctk_parse_size_parallel(v, 1, UINT32_MAX, &o->records, why, why_len);
    case OPT_LINES:
        return ctk_parse_size_parallel(v, 1, UINT32_MAX, &o->lines, why, why_len);
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
        return ctk_parse_size_parallel(v, 1, (uint64_t)1 << 30, &o->fixed, why, why_len);
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
        o->halt = (ctk_halt){.when = CTK_HALT_NEVER};
        return 0;
    case OPT_HALT: {
        int rc = ctk_halt_parse(v, &o->halt, why, why_len);
        /* A share of blocks needs their number, unknown on a stream. */
        if (rc == 0 && o->halt.percent > 0) {
            snprintf(why, why_len, "cpipe does not know the number of blocks: use a count, not %%");
            rc = CTK_EINVAL;
        }
        return rc;
    }
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

/* ---- main ---------------------------------------------------------------------------- */

static const char *check_opts(const cpipe_opts *o, int n_cmd)
{
    if (n_cmd == 0)
        return "no FILTER given";
    if (o->fixed > 0 && (o->recend != NULL || o->recstart != NULL || o->regexp))
        return "--fixed takes no --recend, --recstart, -0 or --regexp";
    if (o->fixed > 0 && o->header > 0)
        return "--fixed takes no --header (records are not lines)";
    if (o->part == 1 && (o->records > 0 || o->lines > 0))
        return "--pipepart takes no -N or -L (as in parallel): records are counted on --pipe";
    return NULL;
}

int main(int argc, char **argv)
{
    cpipe_opts o = {.part = -1}; /* block 0: the engine chooses */
    ctk_common c = {0};
    ctk_registry *reg;
    char err[1600];
    int first, status = 0, in_fd = -1;
    ctk_cli_guard_stdio();
    ctk_closeout_init(PROG, 255);
    ctk_cli cli = cpipe_cli;
    cli.handler_arg = &o;
    int rc = ctk_registry_new(&reg);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot start: %s\n", ctk_strerror(rc));
        return 255;
    }
    ctk_cmdline *cmd = NULL;
    ctk_blocks *rules = NULL;
    char *shell = NULL;
    char **words = NULL;
    rc = ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err);
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
    /* --recend '' alone: records end anywhere, blocks are cut at exactly
     * their size, as parallel cuts them. */
    if (o.recend != NULL && o.recend_len == 0 && o.recstart == NULL && o.fixed == 0) {
        o.recend = NULL;
        o.regexp = 0;
        o.fixed = 1;
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
        status = CTK_EXIT_NO_INPUT;
        goto out;
    }
    ctk_lines_warn_tty(PROG, in_fd);
    /* A reader that went away is a write error to handle, not a death. */
    signal(SIGPIPE, SIG_IGN);
    shell = ctk_spawn_find_shell();
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
                .part = o.part,
                .records = o.records,
                .lines = o.lines,
                .jobs = ctk_piperun_fit_jobs(PROG, c.jobs ? c.jobs : ctk_cpu_count()),
                .halt = o.halt,
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
    g_free(shell);
    g_free(words);
    ctk_cmdline_free(cmd);
    ctk_blocks_free(rules);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
