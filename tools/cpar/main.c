/*
 * cpar: run a command for every input item, N at a time, with GNU
 * parallel's interface. Parses options and the ::: / :::: sources, then
 * wires libctk's sources, command template, spawner and pipeline.
 */
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "ctkx/parse.h"
#include "par.h"
#include "parrun.h"
#include "ctkx/rate.h"
#include "ctkx/progress.h"

#define PROG "cpar"
/* GNU parallel's exit status counts failed jobs up to this. */
#define FAILED_MAX 101

enum {
    OPT_ARG_FILE = 256,
    OPT_NULL,
    OPT_DELIM,
    OPT_REPLACE,
    OPT_MAX_ARGS,
    OPT_MAX_REPLACE,
    OPT_SHELL,
    OPT_UNGROUP,
    OPT_GROUP,
    OPT_TAG,
    OPT_JOBLOG,
    OPT_RESUME,
    OPT_RESUME_FAILED,
    OPT_RETRIES,
    OPT_TIMEOUT,
    OPT_TERMSEQ,
    OPT_DRY_RUN,
    OPT_RECORDS,
    OPT_HALT,
    OPT_DELAY,
    OPT_RATE,
    OPT_TAGSTRING,
    OPT_BAR,
    OPT_ETA,
    OPT_COLSEP,
    OPT_LINE_BUFFER,
    OPT_RESULTS,
    OPT_CONTEXT,
    OPT_MULTI,
    OPT_MAX_CHARS,
};

/* GNU parallel's usable command line length for -X/-m on Linux: its probe
 * of the longest line (parallel --max-line-length-allowed: 130329) less
 * 3000 for wrapping, halved for hexing. */
#define GNU_LINE_MAX 63664

static const ctk_cli_option cpar_options[] = {
    {"arg-file", 'a', CTK_ARG_REQUIRED, "FILE", "read items from FILE (repeatable)", OPT_ARG_FILE},
    {"null", '0', CTK_ARG_NONE, NULL, "items end with a NUL byte, not a newline", OPT_NULL},
    {"delimiter", 'd', CTK_ARG_REQUIRED, "DELIM", "items end with DELIM (one byte; \\n \\t \\0)",
     OPT_DELIM},
    {"replace", 'I', CTK_ARG_REQUIRED, "STR", "use STR instead of {} in the command", OPT_REPLACE},
    {"max-args", 'n', CTK_ARG_REQUIRED, "N", "N items per job", OPT_MAX_ARGS},
    {"max-replace-args", 'N', CTK_ARG_REQUIRED, "N", "N items per job, as {1} .. {N}",
     OPT_MAX_REPLACE},
    {"shell", 0, CTK_ARG_NONE, NULL, "run every command under /bin/sh -c", OPT_SHELL},
    {"ungroup", 'u', CTK_ARG_NONE, NULL, "jobs write straight to the output, interleaved",
     OPT_UNGROUP},
    {"group", 0, CTK_ARG_NONE, NULL, "print each job's output together when it ends (default)",
     OPT_GROUP},
    {"tag", 0, CTK_ARG_NONE, NULL, "prefix each output line with the job's arguments", OPT_TAG},
    {"joblog", 0, CTK_ARG_REQUIRED, "FILE", "log each finished job to FILE (GNU parallel's format)",
     OPT_JOBLOG},
    {"resume", 0, CTK_ARG_NONE, NULL, "skip the jobs FILE of --joblog already has", OPT_RESUME},
    {"resume-failed", 0, CTK_ARG_NONE, NULL, "skip the jobs --joblog has as succeeded",
     OPT_RESUME_FAILED},
    {"retries", 0, CTK_ARG_REQUIRED, "N",
     "run a failing job up to N times in all (0: until it succeeds)", OPT_RETRIES},
    {"timeout", 0, CTK_ARG_REQUIRED, "SECS", "end a job (its process group) after SECS",
     OPT_TIMEOUT},
    {"termseq", 0, CTK_ARG_REQUIRED, "SEQ",
     "how to end a job: SIG,MS,... (default TERM,200,TERM,100,TERM,50,KILL,25)", OPT_TERMSEQ},
    {"dry-run", 0, CTK_ARG_NONE, NULL, "print the commands instead of running them", OPT_DRY_RUN},
    {"records", 0, CTK_ARG_REQUIRED, "FILE",
     "write one record per job to FILE ('-': stdout, instead of the jobs' output)", OPT_RECORDS},
    {"halt", 0, CTK_ARG_REQUIRED, "WHEN,WHY=N",
     "stop when N jobs (or N%) failed, succeeded or are done: soon (let running jobs end) "
     "or now (end them)",
     OPT_HALT},
    {"delay", 0, CTK_ARG_REQUIRED, "SECS", "start jobs at least SECS apart", OPT_DELAY},
    {"rate", 0, CTK_ARG_REQUIRED, "N[/s|/m|/h]", "start at most N jobs per second, evenly spaced",
     OPT_RATE},
    {"tagstring", 0, CTK_ARG_REQUIRED, "STR",
     "prefix each output line with STR (replacement strings allowed) and a tab", OPT_TAGSTRING},
    {"colsep", 'C', CTK_ARG_REQUIRED, "REGEX", "split each item into columns {1} {2} ... at REGEX",
     OPT_COLSEP},
    {"line-buffer", 0, CTK_ARG_NONE, NULL,
     "print whole lines as jobs write them (lines of jobs mix; not with forking strategies)",
     OPT_LINE_BUFFER},
    {"lb", 0, CTK_ARG_NONE, NULL, "the same as --line-buffer", OPT_LINE_BUFFER},
    {"context-replace", 'X', CTK_ARG_NONE, NULL,
     "fill each command line with items, repeating the words that hold {}", OPT_CONTEXT},
    {"multi-args", 'm', CTK_ARG_NONE, NULL,
     "fill each command line with items, {} standing for them all", OPT_MULTI},
    {"max-chars", 0, CTK_ARG_REQUIRED, "N", "with -X or -m: command lines shorter than N bytes",
     OPT_MAX_CHARS},
    {"results", 0, CTK_ARG_REQUIRED, "DIR",
     "keep each job's stdout, stderr and seq in DIR/1/ITEM/... instead of printing them",
     OPT_RESULTS},
    {"bar", 0, CTK_ARG_NONE, NULL, "show a progress bar on stderr", OPT_BAR},
    {"eta", 0, CTK_ARG_NONE, NULL, "show progress and the estimated time left on stderr", OPT_ETA},
    {NULL, 0, 0, NULL, NULL, 0},
};

typedef struct cpar_opts {
    GPtrArray *arg_files;
    char delim;
    const char *replace;
    uint64_t per_job;
    int shell, ungroup, tag, dry_run, resume;
    const char *joblog, *records;
    uint64_t retries;
    double timeout;
    ctk_spawn_termstep termseq[CTK_SPAWN_TERMSEQ_MAX];
    size_t termseq_len;
    ctk_halt halt;
    double delay, rate;
    const char *tagstring, *colsep, *results;
    int bar, line_buffer;
    int fill; /* 'X' or 'm' */
    uint64_t max_chars;
    int per_job_given;
} cpar_opts;

static int parse_delim(cpar_opts *o, const char *v, char *why, size_t why_len)
{
    static const char escapes[][2] = {{'n', '\n'}, {'t', '\t'}, {'0', '\0'}, {'\\', '\\'}};
    if (v[0] != '\0' && v[1] == '\0') {
        o->delim = v[0];
        return 0;
    }
    for (size_t i = 0; v[0] == '\\' && i < G_N_ELEMENTS(escapes); i++)
        if (v[1] == escapes[i][0] && v[2] == '\0') {
            o->delim = escapes[i][1];
            return 0;
        }
    snprintf(why, why_len, "one byte, or \\n, \\t, \\0");
    return CTK_EINVAL;
}

/* GNU parallel's durations: seconds, or numbers with s, m, h, d
 * postfixes, added up ("1h30m", "2.5s"). */
static int parse_duration(const char *v, double *out, char *why, size_t why_len)
{
    double total = 0;
    const char *p = v;
    do {
        char *end;
        errno = 0;
        double n = g_ascii_strtod(p, &end);
        int unit = 1;
        if (end == p || errno != 0 || n < 0 || !isfinite(n))
            goto bad;
        switch (*end) {
        case 's':
            unit = 1;
            end++;
            break;
        case 'm':
            unit = 60;
            end++;
            break;
        case 'h':
            unit = 3600;
            end++;
            break;
        case 'd':
            unit = 86400;
            end++;
            break;
        case '\0':
            break;
        default:
            goto bad;
        }
        total += n * unit;
        p = end;
    } while (*p != '\0');
    *out = total;
    return 0;
bad:
    snprintf(why, why_len, "not a duration (seconds, or with s, m, h, d: 1m30s)");
    return CTK_EINVAL;
}

static int on_option(void *arg, int id, const char *v, char *why, size_t why_len)
{
    cpar_opts *o = arg;
    switch (id) {
    case OPT_ARG_FILE:
        g_ptr_array_add(o->arg_files, (gpointer)v);
        return 0;
    case OPT_NULL:
        o->delim = '\0';
        return 0;
    case OPT_DELIM:
        return parse_delim(o, v, why, why_len);
    case OPT_REPLACE:
        o->replace = v;
        return 0;
    case OPT_CONTEXT:
        o->fill = 'X';
        return 0;
    case OPT_MULTI:
        o->fill = 'm';
        return 0;
    case OPT_MAX_CHARS:
        return ctk_parse_u64(v, 1, UINT32_MAX, &o->max_chars, why, why_len);
    case OPT_MAX_ARGS:
    case OPT_MAX_REPLACE:
        o->per_job_given = 1;
        return ctk_parse_u64(v, 1, 100000, &o->per_job, why, why_len);
    case OPT_SHELL:
        o->shell = 1;
        return 0;
    case OPT_UNGROUP:
        o->ungroup = 1;
        return 0;
    case OPT_GROUP:
        o->ungroup = 0;
        return 0;
    case OPT_TAG:
        o->tag = 1;
        return 0;
    case OPT_JOBLOG:
        o->joblog = v;
        return 0;
    case OPT_RESUME:
        o->resume = 1;
        return 0;
    case OPT_RESUME_FAILED:
        o->resume = 2;
        return 0;
    case OPT_RETRIES:
        return ctk_parse_u64(v, 0, 1000000, &o->retries, why, why_len);
    case OPT_TIMEOUT:
        return ctk_parse_seconds(v, 1e9, &o->timeout, why, why_len);
    case OPT_TERMSEQ: {
        int rc = ctk_spawn_termseq_parse(v, o->termseq, CTK_SPAWN_TERMSEQ_MAX, &o->termseq_len);
        if (rc < 0)
            snprintf(why, why_len, "use SIGNAL,MS,SIGNAL,MS,... (e.g. TERM,200,KILL,25)");
        return rc;
    }
    case OPT_DRY_RUN:
        o->dry_run = 1;
        return 0;
    case OPT_RECORDS:
        o->records = v;
        return 0;
    case OPT_HALT:
        return ctk_halt_parse(v, &o->halt, why, why_len);
    case OPT_DELAY:
        return parse_duration(v, &o->delay, why, why_len);
    case OPT_RATE:
        return ctk_rate_parse(v, &o->rate, why, why_len);
    case OPT_TAGSTRING:
        o->tagstring = v;
        return 0;
    case OPT_COLSEP:
        o->colsep = v;
        return 0;
    case OPT_LINE_BUFFER:
        o->line_buffer = 1;
        return 0;
    case OPT_RESULTS:
        if (g_str_has_suffix(v, ".csv") || g_str_has_suffix(v, ".tsv") ||
            g_str_has_suffix(v, ".json")) {
            snprintf(why, why_len,
                     "a table file (.csv, .tsv, .json) is not supported; give a folder");
            return CTK_EINVAL;
        }
        o->results = v;
        return 0;
    case OPT_BAR:
    case OPT_ETA:
        o->bar = 1;
        return 0;
    }
    return CTK_EINVAL;
}

static const ctk_cli cpar_cli = {
    .prog = PROG,
    .synopsis = "[OPTION]... [COMMAND [ARG]...] [::: ITEM...]... [:::: FILE...]...",
    .summary = "Run COMMAND once per input item, N at a time, as GNU parallel does. Items\n"
               "are the lines of standard input, or the ::: lists and :::: files (several\n"
               "sources make a cross product; :::+ and ::::+ link a source to the one before).",
    .options = cpar_options,
    .handler = on_option,
    .stop_at_operand = 1,
    /* -j 0: as many as possible, as in GNU parallel, within a bound. */
    .jobs_unbounded = 256,
};

static void warn_plugin(void *arg, const ctk_plugin_error *err)
{
    (void)arg;
    fprintf(stderr, PROG ": plugin %s: %s\n", err->file, err->reason);
}

static int usage_error(const char *message)
{
    fprintf(stderr, PROG ": %s\nTry '" PROG " --help' for more information.\n", message);
    return 2;
}

/* Checks what the parser cannot; returns a message or NULL. */
static const char *check_opts(const cpar_opts *o, const ctk_common *c, ctk_registry *reg,
                              size_t n_cmd)
{
    if (o->resume && o->joblog == NULL)
        return "--resume and --resume-failed need --joblog FILE";
    if (n_cmd == 0)
        return "no command given (cpar cannot yet run the items themselves as commands)";
    if (c->compare != NULL && (o->joblog != NULL || o->records != NULL))
        return "--compare runs every job several times: it takes no --joblog or --records";
    /* Lines are printed as a job writes them by the thread that waits for
     * it: a strategy running jobs in other processes has no such thread
     * here, nor the -k order to print them in. */
    if (o->line_buffer && c->compare == NULL &&
        ctk_cli_strategy_forks(reg, c->strategy ? c->strategy : CTK_PARRUN_DEFAULT_STRATEGY))
        return "--line-buffer needs a strategy that runs jobs in cpar's own process "
               "(this one runs them in worker processes)";
    if (o->fill && (o->per_job_given || o->colsep != NULL))
        return "-X and -m take no -n, -N or --colsep";
    if (o->max_chars > 0 && !o->fill)
        return "--max-chars works with -X or -m only";
    if (c->compare != NULL && o->dry_run)
        return "--compare runs the jobs: it takes no --dry-run";
    return NULL;
}

static double start_rate(const cpar_opts *o)
{
    double r = o->rate;
    if (o->delay > 0 && (r <= 0 || 1.0 / o->delay < r))
        r = 1.0 / o->delay;
    return r;
}

int main(int argc, char **argv)
{
    cpar_opts o = {.arg_files = g_ptr_array_new(), .delim = '\n', .per_job = 1, .retries = 1};
    ctk_common c = {0};
    ctk_registry *reg;
    char err[1600];
    int first, status = 0;
    ctk_cli_guard_stdio();
    ctk_closeout_init(PROG, 255);
    ctk_cli cli = cpar_cli;
    cli.handler_arg = &o;
    int rrc = ctk_registry_new(&reg);
    if (rrc < 0) {
        fprintf(stderr, PROG ": %s\n", ctk_strerror(rrc));
        g_ptr_array_free(o.arg_files, TRUE);
        return 255;
    }
    ctk_sources *src = NULL;
    ctk_cmdline *cmd = NULL, *tagstring = NULL;
    ctk_parrun_files files = {0};
    ctk_progress *bar = NULL;
    int rc = ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err);
    if (rc < 0) {
        status = rc == CTK_EINVAL ? usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
        goto out;
    }
    if (ctk_cli_inform(&cpar_cli, reg, &c, stdout, warn_plugin, NULL))
        goto out;
    ctk_parrun_input in = {(const char *const *)o.arg_files->pdata,
                           o.arg_files->len,
                           o.delim,
                           o.colsep,
                           o.per_job,
                           argc,
                           argv,
                           first,
                           ctk_parrun_command_words(argc, argv, first),
                           NULL};
    const char *problem = check_opts(&o, &c, reg, in.n_cmd);
    if (problem != NULL) {
        status = usage_error(problem);
        goto out;
    }
    unsigned cmd_flags =
        (o.shell ? CTK_CMDLINE_FORCE_SHELL : 0) | (o.fill == 'X' ? CTK_CMDLINE_CONTEXT : 0);
    if (ctk_cmdline_parse(&cmd, argv + first, in.n_cmd, o.replace, cmd_flags, err, sizeof err) <
            0 ||
        (o.tagstring != NULL && ctk_cmdline_parse(&tagstring, (char **)&o.tagstring, 1, o.replace,
                                                  CTK_CMDLINE_TEXT, err, sizeof err) < 0)) {
        status = usage_error(err);
        goto out;
    }
    /* The jobs are counted first (parallel does the same for these), or
     * run several times: stdin must be readable again. */
    int need_total = o.halt.percent > 0 || o.bar || c.progress;
    if ((need_total || c.compare != NULL) && ctk_parrun_reads_stdin(&in)) {
        if ((files.spooled = ctk_parrun_spool_stdin(&files.spooled_fd)) == NULL) {
            fprintf(stderr, PROG ": cannot keep a copy of standard input: %s\n", strerror(errno));
            status = 255;
            goto out;
        }
        in.stdin_path = files.spooled;
    }
    rc = ctk_parrun_sources(&in, &src, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot open input: %s\n", err);
        status = rc == CTK_EINVAL ? 2 : 255;
        goto out;
    }
    if (o.max_chars > GNU_LINE_MAX) {
        /* GNU parallel's words, and what it does: the usable length. */
        fprintf(stderr, PROG ": Warning: Value for option --max-chars should be < %d.\n",
                GNU_LINE_MAX);
        o.max_chars = GNU_LINE_MAX;
    }
    if (o.joblog != NULL && (files.joblog = ctk_parrun_open_joblog(o.joblog, o.resume)) == NULL) {
        fprintf(stderr, PROG ": cannot open joblog %s: %s\n", o.joblog, strerror(errno));
        status = 255;
        goto out;
    }
    if (o.records != NULL && ctk_parrun_open_records(&files, o.records, c.format, c.header) < 0) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", o.records, strerror(errno));
        status = 255;
        goto out;
    }
    uint64_t total = need_total ? ctk_parrun_count_jobs(&in) : 0;
    if ((o.bar || c.progress) && c.compare == NULL)
        if (ctk_progress_new(&bar, stderr, 1, total, "jobs") < 0)
            bar = NULL; /* no bar, the jobs still run */
    char *shell = ctk_spawn_find_shell();
    ctk_par_opts po = {
        .cmd = cmd,
        .sources = src,
        .jobs = c.jobs ? c.jobs : ctk_cpu_count(),
        .dry_run = o.dry_run,
        .ungroup = o.ungroup,
        .tag = o.tag,
        .quiet_output = c.compare != NULL || (o.records != NULL && strcmp(o.records, "-") == 0),
        .retries = (unsigned)o.retries,
        .timeout = o.timeout,
        .termseq = o.termseq_len ? o.termseq : NULL,
        .termseq_len = o.termseq_len,
        .joblog = files.joblog,
        .records = files.records,
        .resume = o.resume,
        .joblog_path = o.joblog,
        .shell = shell,
        .halt = o.halt,
        .total_jobs = total,
        .start_rate = start_rate(&o),
        .tagstring = o.ungroup ? NULL : tagstring,
        .progress = bar,
        .line_buffer = o.line_buffer && !o.ungroup && o.results == NULL,
        .keep_order = c.keep_order,
        .results_dir = o.results,
        .max_chars = o.fill ? (o.max_chars ? o.max_chars : GNU_LINE_MAX) : 0,
    };
    status = c.compare != NULL ? ctk_parrun_compare(&c, reg, &in, &po, PROG)
                               : ctk_parrun_jobs(&c, reg, &po, PROG);
    ctk_progress_finish(bar);
    g_free(shell);
out:
    ctk_progress_free(bar);
    ctk_parrun_files_close(&files);
    ctk_cmdline_free(cmd);
    ctk_cmdline_free(tagstring);
    ctk_sources_free(src);
    g_ptr_array_free(o.arg_files, TRUE);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
