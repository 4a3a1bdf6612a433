/*
 * cpar: run a command for every input item, N at a time, with GNU
 * parallel's interface. Parses options and the ::: / :::: sources, then
 * wires libctk's sources, command template, spawner and pipeline.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctk/cli.h"
#include "ctk/parse.h"
#include "ctk/par.h"
#include "ctk/sigwatch.h"

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
};

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
    case OPT_MAX_ARGS:
    case OPT_MAX_REPLACE:
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

/* ---- sources from the operands ---------------------------------------------- */

static int separator(const char *w, int *file, int *linked)
{
    *file = strncmp(w, "::::", 4) == 0;
    const char *rest = w + (*file ? 4 : 3);
    if (strncmp(w, ":::", 3) != 0 || (rest[0] != '\0' && strcmp(rest, "+") != 0))
        return 0;
    *linked = rest[0] == '+';
    return 1;
}

/* Splits operands into the command words (returned count) and sources. */
static int add_operand_sources(ctk_sources *src, int argc, char **argv, int first, size_t *n_cmd,
                               char *err, size_t err_len)
{
    int i = first, file = 0, linked = 0;
    while (i < argc && !separator(argv[i], &file, &linked))
        i++;
    *n_cmd = (size_t)(i - first);
    while (i < argc) {
        separator(argv[i], &file, &linked);
        int j = ++i;
        int f2, l2;
        while (j < argc && !separator(argv[j], &f2, &l2))
            j++;
        if (!file) {
            ctk_sources_add_words(src, argv + i, (size_t)(j - i), linked);
        } else {
            for (int k = i; k < j; k++) {
                int rc = ctk_sources_add_file(src, argv[k], linked && k == i, err, err_len);
                if (rc < 0)
                    return rc;
            }
        }
        i = j;
    }
    return 0;
}

/* ---- running ------------------------------------------------------------------ */

typedef struct cpar_run {
    ctk_pipeline *pipeline;
    ctk_par *par;
} cpar_run;

static void on_signal(void *arg, int signo)
{
    cpar_run *run = arg;
    ctk_pipeline_cancel(run->pipeline, signo);
    ctk_par_cancel(run->par, signo);
}

static FILE *open_joblog(const char *path, int resume)
{
    FILE *f = fopen(path, resume ? "a" : "w");
    if (f != NULL && ftell(f) == 0)
        fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", f);
    if (f != NULL)
        fflush(f);
    return f;
}

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
static const char *check_opts(const cpar_opts *o, const ctk_common *c, size_t n_cmd)
{
    const char *s = c->strategy;
    if (c->compare != NULL)
        return "--compare is not supported by cpar yet";
    if (s != NULL && (strcmp(s, "process") == 0))
        return "strategy 'process' cannot run cpar's jobs yet (use thread, sync or async)";
    if (o->resume && o->joblog == NULL)
        return "--resume and --resume-failed need --joblog FILE";
    if (n_cmd == 0)
        return "no command given (cpar cannot yet run the items themselves as commands)";
    return NULL;
}

static int run_jobs(ctk_common *c, ctk_registry *reg, ctk_par_opts *po)
{
    char err[1024];
    ctk_par *par;
    int rc = ctk_par_new(&par, po, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", rc == CTK_EINVAL ? err : ctk_strerror(rc));
        return 255;
    }
    cpar_run run = {NULL, par};
    ctk_pipeline_opts pl = {ctk_par_work(par), po->jobs, c->keep_order,   0,
                            ctk_par_produce,   par,      ctk_par_consume, par};
    ctk_pipeline_new(&run.pipeline, &pl);
    ctk_par_set_cancel_flag(par, ctk_pipeline_cancel_flag(run.pipeline));
    ctk_sigwatch *sw = NULL;
    ctk_sigwatch_start(&sw, on_signal, &run);
    const ctk_strategy *s = ctk_registry_strategy(reg, c->strategy ? c->strategy : "thread");
    rc = ctk_pipeline_run(run.pipeline, s);
    int signo = ctk_sigwatch_stop(sw);
    uint64_t ran, failed;
    ctk_par_counts(par, &ran, &failed);
    if (ctk_par_nul_replaced(par))
        fprintf(stderr, PROG ": warning: a NUL byte in the input was replaced with \\0 "
                             "(NUL cannot be passed in an argument); did you mean --null?\n");
    ctk_pipeline_free(run.pipeline);
    ctk_par_free(par);
    if (signo != 0)
        return ctk_signal_exit_status(signo);
    if (rc < 0 && rc != CTK_ECANCELED) {
        fprintf(stderr, PROG ": %s\n", ctk_strerror(rc));
        return 255;
    }
    return failed > FAILED_MAX ? FAILED_MAX : (int)failed;
}

int main(int argc, char **argv)
{
    cpar_opts o = {.arg_files = g_ptr_array_new(), .delim = '\n', .per_job = 1, .retries = 1};
    ctk_common c = {0};
    ctk_registry *reg;
    char err[1600];
    int first, status = 0;
    ctk_cli_guard_stdio();
    ctk_cli cli = cpar_cli;
    cli.handler_arg = &o;
    ctk_registry_new(&reg);
    ctk_sources *src = NULL;
    ctk_cmdline *cmd = NULL;
    FILE *joblog = NULL;
    ctk_output *records = NULL;
    FILE *records_file = NULL;
    int rc = ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err);
    if (rc < 0) {
        status = rc == CTK_EINVAL ? usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
        goto out;
    }
    if (ctk_cli_inform(&cpar_cli, reg, &c, stdout, warn_plugin, NULL))
        goto out;
    ctk_sources_new(&src, o.delim);
    size_t n_cmd = 0;
    for (guint i = 0; i < o.arg_files->len && rc == 0; i++)
        rc = ctk_sources_add_file(src, g_ptr_array_index(o.arg_files, i), 0, err, sizeof err);
    if (rc == 0)
        rc = add_operand_sources(src, argc, argv, first, &n_cmd, err, sizeof err);
    if (rc == 0 && o.arg_files->len == 0 && first + (int)n_cmd == argc)
        rc = ctk_sources_add_file(src, "-", 0, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot open input: %s\n", err);
        status = 255;
        goto out;
    }
    const char *problem = check_opts(&o, &c, n_cmd);
    if (problem != NULL) {
        status = usage_error(problem);
        goto out;
    }
    if (ctk_sources_set_per_job(src, o.per_job) < 0 ||
        ctk_cmdline_parse(&cmd, argv + first, n_cmd, o.replace,
                          o.shell ? CTK_CMDLINE_FORCE_SHELL : 0, err, sizeof err) < 0) {
        status = usage_error(err);
        goto out;
    }
    if (o.joblog != NULL && (joblog = open_joblog(o.joblog, o.resume)) == NULL) {
        fprintf(stderr, PROG ": cannot open joblog %s: %s\n", o.joblog, strerror(errno));
        status = 255;
        goto out;
    }
    if (o.records != NULL) {
        int to_stdout = strcmp(o.records, "-") == 0;
        records_file = to_stdout ? stdout : fopen(o.records, "w");
        if (records_file == NULL) {
            fprintf(stderr, PROG ": cannot open %s: %s\n", o.records, strerror(errno));
            status = 255;
            goto out;
        }
        size_t nf;
        const ctk_field *fields = ctk_par_record_fields(&nf);
        ctk_output_new(&records, records_file, c.format, fields, nf, c.header);
    }
    char *shell = ctk_par_find_shell();
    ctk_par_opts po = {
        .cmd = cmd,
        .sources = src,
        .jobs = c.jobs ? c.jobs : ctk_cpu_count(),
        .dry_run = o.dry_run,
        .ungroup = o.ungroup,
        .tag = o.tag,
        .quiet_output = o.records != NULL && strcmp(o.records, "-") == 0,
        .retries = (unsigned)o.retries,
        .timeout = o.timeout,
        .termseq = o.termseq_len ? o.termseq : NULL,
        .termseq_len = o.termseq_len,
        .joblog = joblog,
        .records = records,
        .resume = o.resume,
        .joblog_path = o.joblog,
        .shell = shell,
    };
    status = run_jobs(&c, reg, &po);
    g_free(shell);
out:
    if (records != NULL) {
        ctk_output_finish(records);
        ctk_output_free(records);
    }
    if (records_file != NULL && records_file != stdout)
        fclose(records_file);
    if (joblog != NULL)
        fclose(joblog);
    ctk_cmdline_free(cmd);
    ctk_sources_free(src);
    g_ptr_array_free(o.arg_files, TRUE);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
