/*
 * cfetch: fetch many URLs concurrently, one record per URL. Parses options
 * into the fetch engine's and the run's settings, then wires libctk's
 * fetch engine, reader/recorder and pipeline; --compare runs the same list
 * under each strategy, each row in its own process.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "ctk/cli.h"
#include "ctk/compare.h"
#include "ctk/fetchrun.h"
#include "ctk/isolate.h"
#include "ctk/lines.h"
#include "ctk/parse.h"
#include "ctk/pipeline.h"
#include "ctk/rate.h"
#include "ctk/sigwatch.h"
#include "ctk/urlpath.h"

#define PROG "cfetch"
/* -j for thread and async when not given; process uses the cores. */
#define DEFAULT_JOBS 16

enum {
    OPT_INPUT = 256,
    OPT_OUTPUT_DIR,
    OPT_OUTPUT,
    OPT_BODY,
    OPT_RECORDS,
    OPT_PER_HOST,
    OPT_RATE,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_RETRIES,
    OPT_RETRY_DELAY,
    OPT_RETRY_MAX,
    OPT_FAIL,
    OPT_LOCATION,
    OPT_MAX_REDIRS,
    OPT_HEADER_LINE,
    OPT_USER_AGENT,
    OPT_REQUEST,
    OPT_MAX_FILESIZE,
    OPT_STALL_TIMEOUT,
    OPT_STALL_SPEED,
    OPT_HTTP2,
    OPT_JOURNAL,
    OPT_BAR,
};

static const ctk_cli_option cfetch_options[] = {
    {"input-file", 'i', CTK_ARG_REQUIRED, "FILE", "read URLs from FILE ('-': standard input)",
     OPT_INPUT},
    {"output-dir", 'o', CTK_ARG_REQUIRED, "DIR", "save bodies in DIR, named from their URLs",
     OPT_OUTPUT_DIR},
    {"output", 'O', CTK_ARG_REQUIRED, "TEMPLATE", "save bodies as TEMPLATE ({seq} {host} {name})",
     OPT_OUTPUT},
    {"body", 0, CTK_ARG_NONE, NULL, "write the bodies to standard output, in input order",
     OPT_BODY},
    {"records", 0, CTK_ARG_REQUIRED, "FILE", "write the records to FILE (default: standard output)",
     OPT_RECORDS},
    {"per-host", 0, CTK_ARG_REQUIRED, "N", "at most N transfers to one host at a time",
     OPT_PER_HOST},
    {"rate", 0, CTK_ARG_REQUIRED, "N[/s|/m|/h]", "start at most N URLs per second, evenly spaced",
     OPT_RATE},
    {"timeout", 0, CTK_ARG_REQUIRED, "SECS", "give up on an attempt after SECS", OPT_TIMEOUT},
    {"connect-timeout", 0, CTK_ARG_REQUIRED, "SECS", "give up connecting after SECS",
     OPT_CONNECT_TIMEOUT},
    {"retries", 0, CTK_ARG_REQUIRED, "N",
     "retry connection errors, timeouts, stalls, 429 and 5xx up to N times", OPT_RETRIES},
    {"retry-delay", 0, CTK_ARG_REQUIRED, "SECS", "first backoff (default 0.5; doubles, jittered)",
     OPT_RETRY_DELAY},
    {"retry-max", 0, CTK_ARG_REQUIRED, "SECS", "longest wait between attempts (default 30)",
     OPT_RETRY_MAX},
    {"fail", 'f', CTK_ARG_NONE, NULL, "count 4xx and 5xx responses as failures", OPT_FAIL},
    {"location", 'L', CTK_ARG_NONE, NULL, "follow redirects", OPT_LOCATION},
    {"max-redirs", 0, CTK_ARG_REQUIRED, "N", "follow at most N redirects (default 50)",
     OPT_MAX_REDIRS},
    {"header-line", 'H', CTK_ARG_REQUIRED, "LINE",
     "send the header LINE, 'Name: value' (repeatable)", OPT_HEADER_LINE},
    {"user-agent", 'A', CTK_ARG_REQUIRED, "UA", "send UA as the User-Agent", OPT_USER_AGENT},
    {"request", 'X', CTK_ARG_REQUIRED, "METHOD", "GET (default) or HEAD", OPT_REQUEST},
    {"max-filesize", 0, CTK_ARG_REQUIRED, "SIZE", "fail a body larger than SIZE (k, M, G suffixes)",
     OPT_MAX_FILESIZE},
    {"stall-timeout", 0, CTK_ARG_REQUIRED, "SECS",
     "abort (and retry) a transfer slower than --stall-speed for SECS", OPT_STALL_TIMEOUT},
    {"stall-speed", 0, CTK_ARG_REQUIRED, "BYTES",
     "bytes/s below which a transfer stalls (default 1)", OPT_STALL_SPEED},
    {"http2", 0, CTK_ARG_NONE, NULL, "use HTTP/2 where the server offers it, multiplexed",
     OPT_HTTP2},
    {"journal", 0, CTK_ARG_REQUIRED, "FILE",
     "record each finished URL durably in FILE; a rerun skips what succeeded", OPT_JOURNAL},
    {"bar", 0, CTK_ARG_NONE, NULL, "the same as --progress", OPT_BAR},
    {NULL, 0, 0, NULL, NULL, 0},
};

typedef struct cfetch_opts {
    ctk_fetch_opts fetch;
    GPtrArray *headers;
    const char *input, *out_dir, *out_template, *records, *journal;
    int body, bar;
    double rate;
} cfetch_opts;

static int positive_seconds(const char *v, double *out, char *why, size_t why_len)
{
    int rc = ctk_parse_seconds(v, 1e6, out, why, why_len);
    if (rc == 0 && *out <= 0) {
        snprintf(why, why_len, "must be more than 0");
        rc = CTK_ERANGE;
    }
    return rc;
}

static int parse_u(const char *v, uint64_t min, uint64_t max, unsigned *out, char *why,
                   size_t why_len)
{
    uint64_t n;
    int rc = ctk_parse_u64(v, min, max, &n, why, why_len);
    if (rc == 0)
        *out = (unsigned)n;
    return rc;
}

static int on_option(void *arg, int id, const char *v, char *why, size_t why_len)
{
    cfetch_opts *o = arg;
    ctk_fetch_opts *f = &o->fetch;
    uint64_t n;
    int rc = 0;
    switch (id) {
    case OPT_INPUT:
        o->input = v;
        return 0;
    case OPT_OUTPUT_DIR:
        o->out_dir = v;
        return 0;
    case OPT_OUTPUT:
        o->out_template = v;
        return 0;
    case OPT_BODY:
        o->body = 1;
        return 0;
    case OPT_RECORDS:
        o->records = v;
        return 0;
    case OPT_PER_HOST:
        return parse_u(v, 1, 100000, &f->per_host, why, why_len);
    case OPT_RATE:
        return ctk_rate_parse(v, &o->rate, why, why_len);
    case OPT_TIMEOUT:
        return positive_seconds(v, &f->timeout, why, why_len);
    case OPT_CONNECT_TIMEOUT:
        return positive_seconds(v, &f->connect_timeout, why, why_len);
    case OPT_RETRIES:
        return parse_u(v, 0, 1000, &f->retries, why, why_len);
    case OPT_RETRY_DELAY:
        return ctk_parse_seconds(v, 86400, &f->retry_delay, why, why_len);
    case OPT_RETRY_MAX:
        return ctk_parse_seconds(v, 86400, &f->retry_max, why, why_len);
    case OPT_FAIL:
        f->fail = 1;
        return 0;
    case OPT_LOCATION:
        f->follow = 1;
        return 0;
    case OPT_MAX_REDIRS:
        rc = ctk_parse_u64(v, 0, 100000, &n, why, why_len);
        f->max_redirs = (long)n;
        return rc;
    case OPT_HEADER_LINE:
        if (strchr(v, ':') == NULL && strchr(v, ';') == NULL) {
            snprintf(why, why_len, "not a header: use 'Name: value'");
            return CTK_EINVAL;
        }
        g_ptr_array_add(o->headers, (gpointer)v);
        return 0;
    case OPT_USER_AGENT:
        f->user_agent = v;
        return 0;
    case OPT_REQUEST:
        if (g_ascii_strcasecmp(v, "HEAD") != 0 && g_ascii_strcasecmp(v, "GET") != 0) {
            snprintf(why, why_len, "GET or HEAD");
            return CTK_EINVAL;
        }
        f->head = g_ascii_strcasecmp(v, "HEAD") == 0;
        return 0;
    case OPT_MAX_FILESIZE:
        return ctk_parse_size(v, 1, UINT64_MAX / 2, &f->max_filesize, why, why_len);
    case OPT_STALL_TIMEOUT:
        return positive_seconds(v, &f->stall_timeout, why, why_len);
    case OPT_STALL_SPEED:
        return ctk_parse_size(v, 1, UINT32_MAX, &f->stall_speed, why, why_len);
    case OPT_HTTP2:
        f->http2 = 1;
        return 0;
    case OPT_JOURNAL:
        o->journal = v;
        return 0;
    case OPT_BAR:
        o->bar = 1;
        return 0;
    }
    return CTK_EINVAL;
}

static const ctk_cli cfetch_cli = {
    .prog = PROG,
    .synopsis = "[OPTION]... [URL]...\n[OPTION]... --compare[=LIST] [URL]...",
    .summary = "Fetch every URL (the arguments, else one per line of standard input or -i\n"
               "FILE) N at a time, and print one record per URL: seq url status bytes\n"
               "elapsed ttfb attempts path error. Exit 0 when all succeeded, 1 when any\n"
               "failed.",
    .options = cfetch_options,
    .handler = on_option,
    .jobs_unbounded = 1024,
};

/* ---- one run ---------------------------------------------------------------------- */

typedef struct run_spec {
    const cfetch_opts *o;
    const ctk_common *c;
    const ctk_strategy *strategy;
    unsigned jobs;
    const char *const *urls; /* NULL: read in_fd */
    size_t n_urls;
    int in_fd;
    int quiet; /* --compare rows: no records, no journal */
    ctk_sigwatch *signals;
} run_spec;

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

static int open_records(const run_spec *s, FILE **file, ctk_output **out)
{
    const cfetch_opts *o = s->o;
    *file = NULL;
    *out = NULL;
    if (s->quiet || (o->body && o->records == NULL))
        return 0;
    int to_stdout = o->records == NULL || strcmp(o->records, "-") == 0;
    *file = to_stdout ? stdout : fopen(o->records, "w");
    if (*file == NULL) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", o->records, strerror(errno));
        return -1;
    }
    size_t nf;
    const ctk_field *fields = ctk_fetchrun_fields(&nf);
    ctk_output_new(out, *file, s->c->format, fields, nf, s->c->header);
    return 0;
}

/* Fetches everything once under s->strategy. */
static int run_once(const run_spec *s, run_result *res)
{
    const cfetch_opts *o = s->o;
    ctk_fetch *fetch = NULL;
    ctk_journal *journal = NULL;
    ctk_progress *progress = NULL;
    ctk_fetchrun *fr = NULL;
    FILE *records_file;
    ctk_output *records;
    char err[512];
    *res = (run_result){0};
    int rc = ctk_fetch_new(&fetch, &o->fetch);
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot set up libcurl: %s\n", ctk_strerror(rc));
        return -1;
    }
    if (o->journal != NULL && !s->quiet &&
        ctk_journal_open(&journal, o->journal, err, sizeof err) < 0) {
        fprintf(stderr, PROG ": cannot open journal %s: %s\n", o->journal, err);
        ctk_fetch_free(fetch);
        return -1;
    }
    if (open_records(s, &records_file, &records) < 0) {
        ctk_journal_close(journal);
        ctk_fetch_free(fetch);
        return -1;
    }
    ctk_progress_new(&progress, stderr, s->c->progress || o->bar, s->urls ? s->n_urls : 0, "urls");
    ctk_fetchrun_opts fo = {
        .urls = s->urls,
        .n_urls = s->n_urls,
        .in_fd = s->in_fd,
        .out_dir = o->out_dir,
        .out_template = o->out_template,
        .body = o->body ? stdout : NULL,
        .records = records,
        .warn = records == NULL && !s->quiet ? stderr : NULL,
        .prog = PROG,
        .journal = journal,
        .progress = progress,
        .rate = o->rate,
    };
    ctk_fetchrun_new(&fr, &fo);
    ctk_pipeline_opts po = {ctk_fetch_work(fetch), s->jobs, s->c->keep_order || o->body, 0,
                            ctk_fetchrun_produce,  fr,      ctk_fetchrun_consume,        fr};
    signal_target target = {NULL};
    ctk_pipeline_new(&target.pipeline, &po);
    ctk_fetch_set_cancel_flag(fetch, ctk_pipeline_cancel_flag(target.pipeline));
    ctk_fetchrun_set_cancel_flag(fr, ctk_pipeline_cancel_flag(target.pipeline));
    ctk_sigwatch_retarget(s->signals, on_signal, &target);
    /* A signal that came before the pipeline existed still counts. */
    if (ctk_sigwatch_received(s->signals) != 0)
        ctk_pipeline_cancel(target.pipeline, ctk_sigwatch_received(s->signals));
    res->rc = ctk_pipeline_run(target.pipeline, s->strategy);
    ctk_sigwatch_retarget(s->signals, NULL, NULL);
    res->signo = ctk_sigwatch_received(s->signals);
    ctk_progress_finish(progress);
    ctk_fetchrun_counts_get(fr, &res->counts);
    if (records != NULL && ctk_output_finish(records) < 0)
        res->counts.write_failed = 1;
    if (fflush(stdout) != 0)
        res->counts.write_failed = 1;
    ctk_pipeline_free(target.pipeline);
    ctk_fetchrun_free(fr);
    ctk_output_free(records);
    if (records_file != NULL && records_file != stdout)
        fclose(records_file);
    ctk_progress_free(progress);
    ctk_journal_close(journal);
    ctk_fetch_free(fetch);
    return 0;
}

static int exit_status(const run_result *r)
{
    if (r->signo != 0)
        return ctk_signal_exit_status(r->signo);
    if (r->counts.write_failed) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        return 1;
    }
    if (r->rc < 0 && r->rc != CTK_ECANCELED) {
        fprintf(stderr, PROG ": %s\n", ctk_strerror(r->rc));
        return 1;
    }
    return r->counts.failed > 0 ? 1 : 0;
}

/* ---- --compare ---------------------------------------------------------------------- */

static int row_in_child(void *arg, ctk_buf *result)
{
    run_spec *s = arg;
    ctk_sigwatch_start(&s->signals, NULL, NULL);
    run_result r;
    int rc = run_once(s, &r);
    ctk_sigwatch_stop(s->signals);
    ctk_buf_set(result, &r, sizeof r);
    return rc < 0 ? CTK_EIO : 0;
}

static unsigned default_jobs(const ctk_common *c, const char *strategy)
{
    if (strcmp(strategy, "sync") == 0)
        return 1;
    if (c->jobs != 0)
        return c->jobs;
    return strcmp(strategy, "process") == 0 ? ctk_cpu_count() : DEFAULT_JOBS;
}

static int run_compare(run_spec *s, ctk_registry *reg)
{
    ctk_compare *table;
    ctk_compare_new(&table, "requests", "bytes", NULL, 0);
    int status = 0;
    for (char **n = s->c->compare; *n != NULL && status == 0; n++) {
        s->strategy = ctk_registry_strategy(reg, *n);
        s->jobs = default_jobs(s->c, *n);
        ctk_buf result = {0};
        ctk_usage usage;
        int died_of = 0, signo = 0;
        int rc = ctk_isolate_run(row_in_child, s, &result, &usage, &died_of, &signo);
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
            fprintf(stderr, PROG ": %s: the row failed (%s)\n", *n,
                    died_of ? strsignal(died_of) : ctk_strerror(rc));
            status = 1;
            break;
        }
        ctk_row *row = ctk_compare_add(table, *n, "", s->jobs);
        row->usage = usage;
        row->units = r.counts.ok + r.counts.failed;
        row->failed = r.counts.failed;
        row->work = (double)r.counts.bytes;
        if (r.counts.failed > 0)
            status = 1;
    }
    if (ctk_compare_count(table) > 0) {
        ctk_format fmt = s->c->format_given ? s->c->format : CTK_FORMAT_TABLE;
        if (ctk_compare_print(table, stdout, fmt, s->c->header, ctk_cpu_count()) < 0 ||
            fflush(stdout) != 0) {
            fprintf(stderr, PROG ": cannot write the table: %s\n", strerror(errno));
            status = 1;
        }
    }
    ctk_compare_free(table);
    return status;
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

/* ---- main --------------------------------------------------------------------------- */

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

static const char *check_opts(const cfetch_opts *o, const ctk_common *c)
{
    if (o->out_dir != NULL && o->out_template != NULL)
        return "-o DIR and -O TEMPLATE cannot be combined";
    if (o->body && (o->out_dir != NULL || o->out_template != NULL))
        return "--body cannot be combined with -o or -O";
    if (o->body && o->records != NULL && strcmp(o->records, "-") == 0)
        return "--body and --records - would mix on standard output";
    if (c->compare != NULL && (o->body || o->journal != NULL))
        return "--compare takes no --body or --journal";
    if (o->out_template != NULL) {
        const char *bad = NULL;
        char *probe = ctk_urlpath_expand(o->out_template, 1, "http://h/", &bad);
        free(probe);
        if (probe == NULL)
            return "-O: unknown placeholder (known: {seq} {host} {name}, {{ and }})";
    }
    return NULL;
}

static int open_input(const cfetch_opts *o)
{
    if (o->input == NULL || strcmp(o->input, "-") == 0)
        return STDIN_FILENO;
    return open(o->input, O_RDONLY | O_CLOEXEC);
}

int main(int argc, char **argv)
{
    cfetch_opts o = {.headers = g_ptr_array_new(),
                     .fetch = {.retry_delay = 0.5, .retry_max = 30, .max_redirs = 50}};
    ctk_common c = {0};
    ctk_registry *reg;
    char err[1600];
    int first, status = 0, in_fd = -1;
    GPtrArray *slurped = NULL;
    ctk_cli_guard_stdio();
    ctk_cli cli = cfetch_cli;
    cli.handler_arg = &o;
    ctk_registry_new(&reg);
    int rc = ctk_cli_parse(&cli, reg, argc, argv, &c, &first, err, sizeof err);
    if (rc < 0) {
        status = rc == CTK_EINVAL ? usage_error(err) : (fprintf(stderr, PROG ": %s\n", err), 2);
        goto out;
    }
    if (ctk_cli_inform(&cfetch_cli, reg, &c, stdout, warn_plugin, NULL))
        goto out;
    const char *problem = check_opts(&o, &c);
    if (problem == NULL && first < argc && o.input != NULL)
        problem = "URLs as arguments and -i FILE cannot be combined";
    if (problem != NULL) {
        status = usage_error(problem);
        goto out;
    }
    g_ptr_array_add(o.headers, NULL);
    o.fetch.headers = (const char *const *)o.headers->pdata;
    o.fetch.keep_body = o.body;
    if (first == argc && (in_fd = open_input(&o)) < 0) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", o.input, strerror(errno));
        status = 2;
        goto out;
    }
    const char *name = c.strategy ? c.strategy : "async";
    run_spec s = {.o = &o,
                  .c = &c,
                  .strategy = ctk_registry_strategy(reg, name),
                  .jobs = c.jobs ? c.jobs : default_jobs(&c, name),
                  .urls = first < argc ? (const char *const *)argv + first : NULL,
                  .n_urls = (size_t)(argc - first),
                  .in_fd = in_fd};
    if (c.compare != NULL) {
        if (s.urls == NULL) {
            slurped = slurp_urls(in_fd);
            s.urls = (const char *const *)slurped->pdata;
            s.n_urls = slurped->len - 1;
        }
        s.quiet = 1;
        status = run_compare(&s, reg);
        goto out;
    }
    /* A record is a line: the next command of a pipeline sees each as soon
     * as it is complete. A file gets blocks (a write per record costs a few
     * percent of a run against a fast server). */
    struct stat st;
    if (!o.body && (isatty(STDOUT_FILENO) || (fstat(STDOUT_FILENO, &st) == 0 &&
                                              (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))))
        setvbuf(stdout, NULL, _IOLBF, 0);
    ctk_sigwatch_start(&s.signals, NULL, NULL);
    run_result r;
    status = run_once(&s, &r) < 0 ? 2 : exit_status(&r);
    int late = ctk_sigwatch_stop(s.signals);
    if (late != 0)
        status = ctk_signal_exit_status(late);
out:
    if (slurped != NULL)
        g_ptr_array_free(slurped, TRUE);
    if (in_fd > STDIN_FILENO)
        close(in_fd);
    g_ptr_array_free(o.headers, TRUE);
    ctk_common_free(&c);
    ctk_registry_free(reg);
    return status;
}
