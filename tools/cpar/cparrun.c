/*
 * cparrun.c: what cpar builds from its parsed options (the input, the
 * command template, the outputs) and the run of its jobs; main.c parses
 * and calls cpar_run.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/closeout.h"
#include "ctkx/cli.h"
#include "ctkx/joblog.h"
#include "ctkx/parse.h"
#include "ctkx/progress.h"
#include "opts.h"
#include "par.h"
#include "parrun.h"

#include "cparrun.h"

/* What a run builds from the options, freed by run_free. */
typedef struct run {
    ctk_parrun_input in;
    ctk_sources *src;
    ctk_cmdline *cmd, *tagstring, *retries;
    ctk_parrun_files files;
    ctk_progress *bar;
    char **names; /* --header's column names */
    size_t n_names;
    char *tagtext, *shell;
    FILE *table; /* --results FILE.csv/.tsv/.json */
    char *penv;  /* $PARALLEL_ENV's text, or NULL */
    char *retry; /* --retry-failed: the file of the joblog's commands, removed at the end */
    int table_format;
    uint64_t total; /* the jobs, counted when needed; else 0 */
} run;

/* --header: {name} (and {name.} {name/} {name//} {name/.}) in a word
 * becomes the column's number. */
static char *name_columns(const char *word, char **names, size_t n_names)
{
    static const char *const tails[] = {"}", ".}", "/}", "//}", "/.}"};
    GString *out = g_string_new(NULL);
    for (const char *p = word; *p != '\0';) {
        int done = 0;
        for (size_t k = 0; *p == '{' && k < n_names && !done; k++) {
            size_t nl = strlen(names[k]);
            if (nl == 0 || strncmp(p + 1, names[k], nl) != 0)
                continue;
            for (size_t t = 0; t < G_N_ELEMENTS(tails) && !done; t++)
                if (g_str_has_prefix(p + 1 + nl, tails[t])) {
                    g_string_append_printf(out, "{%zu%s", k + 1, tails[t]);
                    p += 1 + nl + strlen(tails[t]);
                    done = 1;
                }
        }
        if (!done)
            g_string_append_c(out, *p++);
    }
    return g_string_free(out, FALSE);
}

static double start_rate(const cpar_opts *o)
{
    double r = o->rate;
    if (o->delay > 0 && (r <= 0 || 1.0 / o->delay < r))
        r = 1.0 / o->delay;
    return r;
}

/* --plus's {##} and {0#} in the command or --tagstring: parsed here only
 * to ask (build_command reports what does not parse). */
static int plus_wants_total(const cpar_opts *o, int first, size_t n_cmd)
{
    ctk_cmdline *t = NULL;
    int wants = 0;
    if (!o->plus)
        return 0;
    if (ctk_cmdline_parse_names(&t, o->argv + first, n_cmd, &o->names,
                                CTK_CMDLINE_PLUS | CTK_CMDLINE_NO_APPEND, NULL, 0) == 0)
        wants = ctk_cmdline_wants_total(t);
    ctk_cmdline_free(t);
    char *tag = (char *)o->tagstring;
    if (!wants && tag != NULL &&
        ctk_cmdline_parse_names(&t, &tag, 1, &o->names, CTK_CMDLINE_PLUS | CTK_CMDLINE_TEXT, NULL,
                                0) == 0) {
        wants = ctk_cmdline_wants_total(t);
        ctk_cmdline_free(t);
    }
    return wants;
}

static int need_total(const cpar_opts *o, const ctk_common *c, const ctk_parrun_input *in)
{
    return o->halt.percent > 0 || o->bar || c->progress ||
           plus_wants_total(o, in->first, in->n_cmd);
}

/* The sources, and --header's names from their first values. Returns -1
 * or the exit status. */
static int open_input(run *r, const cpar_opts *o, const ctk_common *c, int first)
{
    char err[1600];
    ctk_parrun_input *in = &r->in;
    *in = (ctk_parrun_input){
        .arg_files = (const char *const *)o->arg_files->pdata,
        .n_arg_files = o->arg_files->len,
        .delim = o->delim,
        .delim_len = o->delim_len,
        .colsep = o->colsep,
        .csv = o->csv,
        .per_job = o->fill ? 1 : o->per_job,
        .argc = o->argc,
        .argv = o->argv,
        .first = first,
        .n_cmd = ctk_parrun_command_words(o->argc, o->argv, first),
        .eof = o->eof_str,
        .skip_blank = o->no_empty,
        .line_continue = o->max_lines,
        .shuffle = o->shuf,
        .link = o->link,
    };
    /* --colsep's trimming is set in o->trim (see cpar_parse). */
    const char *trim = o->trim != NULL ? o->trim : "n";
    in->trim_left = strchr(trim, 'l') != NULL;
    in->trim_right = strchr(trim, 'r') != NULL;
    if (ctk_parrun_reads_stdin(in) && isatty(STDIN_FILENO))
        fprintf(stderr, PROG ": Warning: Input is read from the terminal: end it with Ctrl-D "
                             "(or give ::: ITEM..., :::: FILE or -a FILE).\n");
    /* The jobs are counted first (parallel does the same for these), or
     * run several times: stdin must be readable again. */
    if ((need_total(o, c, in) || c->compare != NULL) && ctk_parrun_reads_stdin(in)) {
        if ((r->files.spooled = ctk_parrun_spool_stdin(&r->files.spooled_fd)) == NULL) {
            fprintf(stderr, PROG ": cannot keep a copy of standard input: %s\n", strerror(errno));
            return 255;
        }
        in->stdin_path = r->files.spooled;
    }
    int rc = ctk_parrun_sources(in, &r->src, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot open input: %s\n", err);
        return rc == CTK_EINVAL ? 2 : 255;
    }
    if (o->header != NULL) {
        int nul = 0;
        rc = ctk_sources_take_header(r->src, &r->names, &r->n_names, &nul, NULL);
        if (rc < 0) {
            const char *why = ctk_sources_error(r->src);
            fprintf(stderr, PROG ": cannot read the header: %s\n",
                    why != NULL ? why : ctk_strerror(rc));
            return 255;
        }
    }
    return -1;
}

/* The command template and --tagstring's, with --header's names and -q's
 * quoting; without command words, each input line is the command line
 * itself, as in parallel. Returns -1 or the exit status. */
static int build_command(run *r, cpar_opts *o, int first)
{
    char err[1600];
    GPtrArray *words = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < r->in.n_cmd; i++) {
        const char *word = o->argv[first + (int)i];
        char *w = r->names != NULL ? name_columns(word, r->names, r->n_names) : g_strdup(word);
        if (o->quote) {
            ctk_buf q = {0};
            if (ctk_cmdline_quote(&q, w, strlen(w)) == 0) {
                g_free(w);
                w = g_strndup((const char *)q.data, q.len);
            }
            ctk_buf_free(&q);
        }
        g_ptr_array_add(words, w);
    }
    if (words->len == 0)
        g_ptr_array_add(words, g_strdup(o->replace != NULL ? o->replace : "{}"));
    if (o->tagstring != NULL) {
        char *t = ctk_cmdline_text_escapes(o->tagstring);
        r->tagtext = r->names != NULL ? name_columns(t, r->names, r->n_names) : g_strdup(t);
        free(t); /* malloc: ctk_cmdline_text_escapes */
    }
    r->shell = ctk_spawn_function_shell((const char *)g_ptr_array_index(words, 0));
    unsigned cmd_flags =
        (o->shell || r->shell != NULL ? CTK_CMDLINE_FORCE_SHELL : 0) |
        (o->fill == 'X' || (o->max_replace == 1 && o->per_job > 1) ? CTK_CMDLINE_CONTEXT : 0) |
        (o->max_replace < 0 ? CTK_CMDLINE_NO_APPEND : 0) | (o->plus ? CTK_CMDLINE_PLUS : 0);
    o->names.all = o->replace;
    int rc = ctk_cmdline_parse_names(&r->cmd, (char **)words->pdata, words->len, &o->names,
                                     cmd_flags, err, sizeof err);
    g_ptr_array_free(words, TRUE);
    unsigned tag_flags = CTK_CMDLINE_TEXT | (cmd_flags & (CTK_CMDLINE_CONTEXT | CTK_CMDLINE_PLUS));
    if (rc < 0 ||
        (r->tagtext != NULL && ctk_cmdline_parse_names(&r->tagstring, &r->tagtext, 1, &o->names,
                                                       tag_flags, err, sizeof err) < 0))
        return cpar_usage_error(err);
    char *retries = (char *)o->retries_text;
    if (retries != NULL && ctk_cmdline_parse_names(&r->retries, &retries, 1, &o->names, tag_flags,
                                                   err, sizeof err) < 0)
        return cpar_usage_error(err);
    if (r->shell == NULL)
        r->shell = ctk_spawn_find_shell();
    return -1;
}

/* $PARALLEL_ENV, as GNU parallel reads it (env_parallel sets it): shell
 * text to run before each command, or the name of a file or fifo holding
 * it; \001 stands for a newline. The jobs do not inherit the variable.
 * Returns -1 or the exit status. */
static int read_parallel_env(run *r)
{
    const char *v = g_getenv("PARALLEL_ENV");
    if (v == NULL || *v == '\0')
        return -1;
    char *text = NULL;
    gsize len = 0;
    GError *e = NULL;
    if (!g_file_test(v, G_FILE_TEST_EXISTS)) {
        text = g_strdup(v);
        len = strlen(text);
    } else if (!g_file_get_contents(v, &text, &len, &e)) {
        fprintf(stderr, PROG ": cannot read $PARALLEL_ENV %s: %s\n", v, e->message);
        g_error_free(e);
        return 255;
    }
    if (memchr(text, '\0', len) != NULL)
        fprintf(stderr, PROG ": Warning: \\0 (NUL) in environment is not supported\n");
    for (char *c = text; *c != '\0'; c++)
        if (*c == '\001')
            *c = '\n';
    r->penv = text;
    g_unsetenv("PARALLEL_ENV");
    return -1;
}

/* One joblog line for --retry-failed: its job's place in *cmds (by Seq,
 * a later line for the same job taking it over) gets "true" for a job
 * that succeeded (--resume-failed's reading skips it, the numbers stay),
 * else its command, whose newlines the log holds as NUL bytes. Returns
 * 0, 1 when the command has a newline, or -1 for a line not in the
 * format. */
static int retry_line(GPtrArray *cmds, const char *line, size_t len)
{
    const char *f[9];
    size_t n = 0;
    f[n++] = line;
    for (size_t i = 0; i < len && n < 9; i++)
        if (line[i] == '\t')
            f[n++] = line + i + 1;
    char *end;
    unsigned long long seq = n == 9 ? strtoull(f[0], &end, 10) : 0;
    if (seq == 0 || *end != '\t' || seq > 100000000)
        return -1;
    if (cmds->len < seq)
        g_ptr_array_set_size(cmds, (guint)seq);
    GString *cmd = g_string_new(NULL);
    int nul = 0;
    if (strncmp(f[6], "0\t0\t", 4) == 0) {
        g_string_assign(cmd, "true");
    } else {
        for (const char *c = f[8]; c < line + len; c++) {
            nul |= *c == '\0';
            g_string_append_c(cmd, *c == '\0' ? '\n' : *c);
        }
    }
    if (cmds->pdata[seq - 1] != NULL)
        g_string_free(cmds->pdata[seq - 1], TRUE);
    cmds->pdata[seq - 1] = cmd;
    return nul;
}

/* --retry-failed, as GNU parallel does it: the joblog's lines become the
 * input (a command line each) and the command given is dropped; the
 * jobs that succeeded are skipped as --resume-failed skips them, and the
 * log is appended to. Without the joblog the run goes on as given.
 * Returns -1 or the exit status. */
static int retry_failed(run *r, cpar_opts *o, int first)
{
    FILE *log = fopen(o->joblog, "r");
    if (log == NULL && errno == ENOENT)
        return -1;
    if (log == NULL) {
        fprintf(stderr, PROG ": cannot read joblog %s: %s\n", o->joblog, strerror(errno));
        return 255;
    }
    GPtrArray *cmds = g_ptr_array_new();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int status = -1, nul = 0;
    for (unsigned n = 1; status < 0 && (len = getline(&line, &cap, log)) > 0; n++) {
        if (line[len - 1] == '\n')
            len--;
        if (n == 1 && strncmp(line, "Seq\t", 4) == 0)
            continue;
        int rc = retry_line(cmds, line, (size_t)len);
        if (rc < 0) {
            fprintf(stderr, PROG ": Error: Format of '%s' is wrong: %.*s\n", o->joblog, (int)len,
                    line);
            status = 255;
        }
        nul |= rc > 0;
    }
    free(line);
    fclose(log);
    if (nul)
        fprintf(stderr, PROG ": Warning: Command lines contain newline. Forcing --null.\n");
    /* One command a line (NUL-terminated when one holds a newline), a job
     * missing from the log an empty line, as GNU parallel writes them. */
    GString *text = g_string_new(NULL);
    for (guint i = 0; i < cmds->len; i++) {
        GString *cmd = cmds->pdata[i];
        if (cmd != NULL) {
            g_string_append_len(text, cmd->str, (gssize)cmd->len);
            g_string_free(cmd, TRUE);
        }
        g_string_append_c(text, nul ? '\0' : '\n');
    }
    g_ptr_array_free(cmds, TRUE);
    GError *e = NULL;
    int fd = status < 0 ? g_file_open_tmp("cpar-retry-XXXXXX", &r->retry, &e) : -1;
    if (status < 0 && (fd < 0 || write(fd, text->str, text->len) != (ssize_t)text->len)) {
        fprintf(stderr, PROG ": cannot keep the joblog's commands: %s\n",
                e != NULL ? e->message : strerror(errno));
        status = 255;
    }
    if (e != NULL)
        g_error_free(e);
    if (fd >= 0)
        close(fd);
    g_string_free(text, TRUE);
    if (status < 0) {
        g_ptr_array_set_size(o->arg_files, 0);
        g_ptr_array_add(o->arg_files, r->retry);
        o->delim = nul ? "" : "\n"; /* "": one NUL byte */
        o->delim_len = 1;
        o->argc = first;
        o->resume = 2;
    }
    return status;
}

/* GNU parallel's --results FILE.csv, .tsv, .json (any case): 'c', 't',
 * 'j'; 0 for a folder. */
static int results_format(const char *path)
{
    static const char *const ext[] = {".csv", ".tsv", ".json"};
    size_t len = strlen(path);
    for (size_t i = 0; i < G_N_ELEMENTS(ext); i++) {
        size_t el = strlen(ext[i]);
        if (len >= el && g_ascii_strcasecmp(path + len - el, ext[i]) == 0)
            return "ctj"[i];
    }
    return 0;
}

/* --joblog, --records and the progress bar. Returns -1 or the exit
 * status. */
static int open_outputs(run *r, cpar_opts *o, const ctk_common *c, ctk_registry *reg)
{
    /* A worker rank of a strategy spanning hosts (mpi) only runs jobs:
     * the joblog and records are the consuming rank's, and opening them
     * here would truncate its files on a shared file system. */
    const ctk_strategy *chosen =
        ctk_registry_strategy(reg, c->strategy ? c->strategy : CTK_PARRUN_DEFAULT_STRATEGY);
    if (c->compare == NULL && chosen != NULL && (chosen->ops->flags & CTK_STRATEGY_WORKER) != 0) {
        o->joblog = o->records = NULL;
        o->resume = 0;
    }
    if (o->joblog != NULL && strcmp(o->joblog, "-") == 0 && o->dry_run) {
        o->joblog = NULL; /* a dry run logs nothing; parallel prints only the lines */
    } else if (o->joblog != NULL && strcmp(o->joblog, "-") == 0) {
        /* --joblog -: the log goes to stdout, after each job's output. */
        r->files.joblog = ctk_joblog_open_stdout();
        o->resume = 0;
    } else if (o->joblog != NULL) {
        /* --joblog +FILE: GNU parallel's way to append to FILE. */
        int append = o->joblog[0] == '+';
        if (append)
            o->joblog++;
        r->files.joblog = ctk_joblog_open(o->joblog, o->resume || append);
    }
    if (o->joblog != NULL && r->files.joblog == NULL) {
        fprintf(stderr, PROG ": cannot open joblog %s: %s\n", o->joblog, strerror(errno));
        return 255;
    }
    if (o->records != NULL &&
        ctk_parrun_open_records(&r->files, o->records, c->format, c->header) < 0) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", o->records, strerror(errno));
        return 255;
    }
    if (o->results != NULL && (r->table_format = results_format(o->results)) != 0) {
        /* -.csv, -.tsv, -.json: the table on stdout, in place of the
         * jobs' output, as GNU parallel writes it. */
        int fd = strcmp(o->results, "-.csv") == 0 || strcmp(o->results, "-.tsv") == 0 ||
                         strcmp(o->results, "-.json") == 0
                     ? dup(STDOUT_FILENO)
                     : -1;
        r->table = fd >= 0 ? fdopen(fd, "w") : fopen(o->results, "w");
        if (r->table == NULL) {
            fprintf(stderr, PROG ": cannot open results file %s: %s\n", o->results,
                    strerror(errno));
            return 255;
        }
    }
    r->total = need_total(o, c, &r->in) ? ctk_parrun_count_jobs(&r->in) : 0;
    if (r->total > 0 && o->header != NULL)
        r->total--; /* the header line */
    if ((o->bar || c->progress) && c->compare == NULL)
        if (ctk_progress_new(&r->bar, stderr, 1, r->total, "jobs") < 0)
            r->bar = NULL; /* no bar, the jobs still run */
    return -1;
}

static void run_free(run *r)
{
    if (r->retry != NULL)
        unlink(r->retry);
    g_free(r->retry);
    g_free(r->penv);
    if (r->table != NULL && fclose(r->table) != 0)
        fprintf(stderr, PROG ": --results: %s\n", strerror(errno));
    g_free(r->shell);
    g_strfreev(r->names);
    g_free(r->tagtext);
    ctk_progress_free(r->bar);
    ctk_parrun_files_close(&r->files);
    ctk_cmdline_free(r->cmd);
    ctk_cmdline_free(r->tagstring);
    ctk_cmdline_free(r->retries);
    ctk_sources_free(r->src);
}

static int run_jobs(run *r, const cpar_opts *o, const ctk_common *c, ctk_registry *reg)
{
    size_t line_max = o->max_chars ? o->max_chars : GNU_LINE_MAX;
    unsigned jobs = c->jobs ? c->jobs : ctk_cpu_count();
    ctk_cmdline_set_totals(r->cmd, r->total, jobs);
    ctk_cmdline_set_no_args(r->cmd, o->max_replace < 0);
    if (r->tagstring != NULL)
        ctk_cmdline_set_totals(r->tagstring, r->total, jobs);
    ctk_par_opts po = {
        .cmd = r->cmd,
        .sources = r->src,
        .jobs = jobs,
        .dry_run = o->dry_run,
        .ungroup = o->ungroup,
        .tag = o->tag,
        .quiet_output = c->compare != NULL ||
                        (o->records != NULL && strcmp(o->records, "-") == 0) || r->table != NULL,
        .retries = (unsigned)o->retries,
        .timeout = o->timeout,
        .termseq = o->termseq_len ? o->termseq : NULL,
        .termseq_len = o->termseq_len,
        .joblog = r->files.joblog,
        .records = r->files.records,
        .resume = o->resume,
        .joblog_path = o->joblog,
        .shell = r->shell,
        .halt = o->halt,
        .total_jobs = r->total,
        .start_rate = start_rate(o),
        .tagstring = o->ungroup ? NULL : r->tagstring,
        .progress = r->bar,
        .line_buffer = o->line_buffer && !o->ungroup && o->results == NULL,
        .keep_order = c->keep_order,
        .results_dir = r->table != NULL ? NULL : o->results,
        .max_chars = o->fill ? line_max : 0,
        .verbose = o->verbose,
        .trace = o->trace,
        .files = o->files,
        .slot_var = o->slot_var,
        .line_max = line_max,
        .no_args = o->max_replace < 0,
        .fill_max = o->fill && o->per_job_given ? (size_t)o->per_job : 0,
        .shellquote = o->shellquote,
        .retries_text = r->retries,
        .parallel_env = r->penv,
        .results_format = r->table != NULL ? r->table_format : 0,
        .results_table = r->table,
        .results_names = r->names,
        .n_results_names = r->n_names,
    };
    int status = c->compare != NULL ? ctk_parrun_compare(c, reg, &r->in, &po, PROG)
                                    : ctk_parrun_jobs(c, reg, &po, PROG);
    ctk_progress_finish(r->bar);
    return status;
}

int cpar_run(cpar_opts *o, ctk_common *c, ctk_registry *reg, int first)
{
    run r = {0};
    /* --joblog -: no log to read back; the run goes on as given. */
    int status = o->retry_failed && strcmp(o->joblog, "-") != 0 ? retry_failed(&r, o, first) : -1;
    if (status < 0)
        status = open_input(&r, o, c, first);
    if (status < 0)
        status = read_parallel_env(&r);
    if (status < 0)
        status = build_command(&r, o, first);
    if (status < 0 && o->max_chars > GNU_LINE_MAX) {
        /* GNU parallel's words, and what it does: the usable length. */
        fprintf(stderr, PROG ": Warning: Value for option --max-chars should be < %d.\n",
                GNU_LINE_MAX);
        o->max_chars = GNU_LINE_MAX;
    }
    if (status < 0)
        status = open_outputs(&r, o, c, reg);
    if (status < 0)
        status = run_jobs(&r, o, c, reg);
    run_free(&r);
    return status;
}
