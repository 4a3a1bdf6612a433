/*
 * opts.c: cfetch's option table and its handler, which only fills a
 * cfetch_opts (every number through ctkx/parse), then the checks and the
 * settings derived from the options, as curl keeps tool_getparam.c
 * apart from tool_main.c.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctkx/parse.h"
#include "ctkx/rate.h"
#include "opts.h"
#include "urlpath.h"

enum {
    OPT_INPUT = 256,
    OPT_OUTPUT_PATH,
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
    OPT_NO_FAIL,
    OPT_CONTENT_ON_ERROR,
    OPT_LOCATION,
    OPT_NO_LOCATION,
    OPT_MAX_REDIRS,
    OPT_HEADER,
    OPT_HEADER_LINE,
    OPT_USER_AGENT,
    OPT_REQUEST,
    OPT_MAX_FILESIZE,
    OPT_STALL_TIMEOUT,
    OPT_STALL_SPEED,
    OPT_HTTP2,
    OPT_JOURNAL,
    OPT_BAR,
    OPT_DATA,
    OPT_DATA_BINARY,
    OPT_DATA_RAW,
    OPT_USER,
    OPT_INSECURE,
    OPT_COMPRESSED,
    OPT_CONTINUE,
    OPT_CONTINUE_AT,
    OPT_LIMIT_RATE,
    OPT_PROXY,
    OPT_NOPROXY,
    OPT_COOKIE,
    OPT_COOKIE_JAR,
    OPT_NO_CLOBBER,
};

static const ctk_cli_option cfetch_options[] = {
    {"input-file", 'i', CTK_ARG_REQUIRED, "FILE", "read URLs from FILE ('-': standard input)",
     OPT_INPUT},
    {"output-path", 'o', CTK_ARG_REQUIRED, "PATH",
     "one URL: save it as the file PATH (curl -o); else, or a folder: -P PATH", OPT_OUTPUT_PATH},
    {"output-dir", 'P', CTK_ARG_REQUIRED, "DIR", "save bodies in DIR, named from their URLs",
     OPT_OUTPUT_DIR},
    {"directory-prefix", 0, CTK_ARG_REQUIRED, "DIR", "the same as --output-dir (wget's -P)",
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
    {"fail", 'f', CTK_ARG_NONE, NULL, "count 4xx and 5xx responses as failures (the default)",
     OPT_FAIL},
    {"no-fail", 0, CTK_ARG_NONE, NULL, "count 4xx and 5xx responses as successes, bodies kept",
     OPT_NO_FAIL},
    {"content-on-error", 0, CTK_ARG_NONE, NULL, "keep the body of a 4xx or 5xx response",
     OPT_CONTENT_ON_ERROR},
    {"location", 'L', CTK_ARG_NONE, NULL, "follow redirects (the default)", OPT_LOCATION},
    {"no-location", 0, CTK_ARG_NONE, NULL, "do not follow redirects: a 3xx is the result",
     OPT_NO_LOCATION},
    {"max-redirs", 0, CTK_ARG_REQUIRED, "N", "follow at most N redirects (default 50, as curl)",
     OPT_MAX_REDIRS},
    {"header", 'H', CTK_ARG_REQUIRED, "LINE", "send the header LINE, 'Name: value' (repeatable)",
     OPT_HEADER},
    {"header-line", 0, CTK_ARG_NONE, NULL, "print a header line before TSV records",
     OPT_HEADER_LINE},
    {"user-agent", 'A', CTK_ARG_REQUIRED, "UA", "send UA as the User-Agent", OPT_USER_AGENT},
    {"request", 'X', CTK_ARG_REQUIRED, "METHOD",
     "GET (default; POST with -d), HEAD, POST, PUT, DELETE...", OPT_REQUEST},
    {"data", 'd', CTK_ARG_REQUIRED, "DATA",
     "send DATA in a POST (repeatable, joined by &; @FILE: its text, newlines dropped)", OPT_DATA},
    {"data-binary", 0, CTK_ARG_REQUIRED, "DATA", "as -d, @FILE sent byte for byte",
     OPT_DATA_BINARY},
    {"data-raw", 0, CTK_ARG_REQUIRED, "DATA", "as -d, a leading @ is no file", OPT_DATA_RAW},
    {"user", 'u', CTK_ARG_REQUIRED, "USER:PASS", "HTTP authentication (never shown in records)",
     OPT_USER},
    {"insecure", 0, CTK_ARG_NONE, NULL,
     "do not check TLS certificates (curl's -k: -k is --keep-order here)", OPT_INSECURE},
    {"compressed", 0, CTK_ARG_NONE, NULL, "ask for a compressed response and decode it",
     OPT_COMPRESSED},
    {"continue", 'c', CTK_ARG_NONE, NULL,
     "resume: keep what the output file holds and fetch the rest (wget -c)", OPT_CONTINUE},
    {"continue-at", 'C', CTK_ARG_REQUIRED, "-", "-C -: the same as --continue (curl)",
     OPT_CONTINUE_AT},
    {"limit-rate", 0, CTK_ARG_REQUIRED, "RATE", "at most RATE bytes/s per transfer (k, M, G)",
     OPT_LIMIT_RATE},
    {"proxy", 'x', CTK_ARG_REQUIRED, "[PROTO://]HOST[:PORT]", "use this proxy", OPT_PROXY},
    {"noproxy", 0, CTK_ARG_REQUIRED, "HOSTS",
     "hosts (comma-separated, * for all) to reach directly", OPT_NOPROXY},
    {"cookie", 'b', CTK_ARG_REQUIRED, "DATA|FILE",
     "send the cookies 'n=v; n2=v2', or those of a cookie FILE", OPT_COOKIE},
    {"cookie-jar", 0, CTK_ARG_REQUIRED, "FILE",
     "write the cookies at the end to FILE (curl's -c: -c is --continue here)", OPT_COOKIE_JAR},
    {"no-clobber", 0, CTK_ARG_NONE, NULL,
     "skip a URL whose output file exists (wget -nc, also spelt -nc)", OPT_NO_CLOBBER},
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

/* curl's -d @FILE: the file's text without CR and LF ("-": stdin);
 * binary: byte for byte. NULL when it cannot be read. */
static char *read_data_file(const char *name, int binary, size_t *len, char *why, size_t why_len)
{
    GError *gerr = NULL;
    char *text = NULL;
    gsize n = 0;
    if (strcmp(name, "-") == 0) {
        GString *all = g_string_new(NULL);
        char buf[65536];
        ssize_t r;
        while ((r = read(STDIN_FILENO, buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
            if (r > 0)
                g_string_append_len(all, buf, r);
        n = all->len;
        text = g_string_free(all, FALSE);
    } else if (!g_file_get_contents(name, &text, &n, &gerr)) {
        snprintf(why, why_len, "%s", gerr->message);
        g_error_free(gerr);
        return NULL;
    }
    if (!binary) {
        gsize out = 0;
        for (gsize i = 0; i < n; i++)
            if (text[i] != '\r' && text[i] != '\n')
                text[out++] = text[i];
        n = out;
    }
    *len = n;
    return text;
}

static int add_data(cfetch_opts *o, int id, const char *v, char *why, size_t why_len)
{
    if (o->data == NULL)
        o->data = g_string_new(NULL);
    else
        g_string_append_c(o->data, '&');
    if (id != OPT_DATA_RAW && v[0] == '@') {
        size_t len;
        char *text = read_data_file(v + 1, id == OPT_DATA_BINARY, &len, why, why_len);
        if (text == NULL)
            return CTK_EINVAL;
        g_string_append_len(o->data, text, (gssize)len);
        g_free(text);
        return 0;
    }
    g_string_append(o->data, v);
    return 0;
}

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
    ctk_fetch_opts *f = &o->run.fetch;
    uint64_t n;
    int rc = 0;
    switch (id) {
    case OPT_INPUT:
        o->input = v;
        return 0;
    case OPT_OUTPUT_PATH:
        o->output_path = v;
        return 0;
    case OPT_OUTPUT_DIR:
        o->run.out_dir = v;
        return 0;
    case OPT_OUTPUT:
        o->run.out_template = v;
        return 0;
    case OPT_BODY:
        o->run.body = 1;
        return 0;
    case OPT_RECORDS:
        o->run.records = v;
        return 0;
    case OPT_PER_HOST:
        return parse_u(v, 1, 100000, &f->per_host, why, why_len);
    case OPT_RATE:
        return ctk_rate_parse(v, &o->run.rate, why, why_len);
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
    case OPT_NO_FAIL:
        f->fail = 0;
        return 0;
    case OPT_CONTENT_ON_ERROR:
        f->content_on_error = 1;
        return 0;
    case OPT_LOCATION:
        f->follow = 1;
        return 0;
    case OPT_NO_LOCATION:
        f->follow = 0;
        return 0;
    case OPT_MAX_REDIRS:
        rc = ctk_parse_u64(v, 0, 100000, &n, why, why_len);
        f->max_redirs = (long)n;
        return rc;
    case OPT_HEADER:
        /* Refused by cfetch_opts_check, not here: the parser's message would echo the
         * value, and a header may hold a credential. */
        if (strchr(v, ':') == NULL && strchr(v, ';') == NULL)
            o->bad_header = 1;
        g_ptr_array_add(o->headers, (gpointer)v);
        return 0;
    case OPT_HEADER_LINE:
        o->header_line = 1;
        return 0;
    case OPT_USER_AGENT:
        f->user_agent = v;
        return 0;
    case OPT_REQUEST:
        if (v[0] == '\0' || strlen(v) > 32 ||
            strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
                strlen(v)) {
            snprintf(why, why_len, "not a method (GET, HEAD, POST, PUT, DELETE...)");
            return CTK_EINVAL;
        }
        f->head = g_ascii_strcasecmp(v, "HEAD") == 0;
        f->method = f->head || g_ascii_strcasecmp(v, "GET") == 0 ? NULL : v;
        return 0;
    case OPT_DATA:
    case OPT_DATA_BINARY:
    case OPT_DATA_RAW:
        return add_data(o, id, v, why, why_len);
    case OPT_USER:
        f->userpwd = v;
        return 0;
    case OPT_INSECURE:
        f->insecure = 1;
        return 0;
    case OPT_COMPRESSED:
        f->compressed = 1;
        return 0;
    case OPT_CONTINUE:
        f->resume = 1;
        return 0;
    case OPT_CONTINUE_AT:
        if (strcmp(v, "-") != 0) {
            snprintf(why, why_len, "only '-C -' (continue from the file's size) is supported");
            return CTK_EINVAL;
        }
        f->resume = 1;
        return 0;
    case OPT_LIMIT_RATE:
        return ctk_parse_size(v, CTK_SIZE_BINARY, 1, UINT64_MAX / 2, &f->limit_rate, why, why_len);
    case OPT_PROXY:
        f->proxy = v;
        return 0;
    case OPT_NOPROXY:
        f->noproxy = v;
        return 0;
    case OPT_COOKIE:
        f->cookie = v;
        return 0;
    case OPT_COOKIE_JAR:
        f->cookie_jar = v;
        return 0;
    case OPT_NO_CLOBBER:
        o->run.no_clobber = 1;
        return 0;
    case OPT_MAX_FILESIZE:
        return ctk_parse_size(v, CTK_SIZE_BINARY, 1, UINT64_MAX / 2, &f->max_filesize, why,
                              why_len);
    case OPT_STALL_TIMEOUT:
        return positive_seconds(v, &f->stall_timeout, why, why_len);
    case OPT_STALL_SPEED:
        return ctk_parse_size(v, CTK_SIZE_BINARY, 1, UINT32_MAX, &f->stall_speed, why, why_len);
    case OPT_HTTP2:
        f->http2 = 1;
        return 0;
    case OPT_JOURNAL:
        o->run.journal = v;
        return 0;
    case OPT_BAR:
        o->run.bar = 1;
        return 0;
    }
    return CTK_EINVAL;
}

const ctk_cli cfetch_cli = {
    .prog = CFETCH_PROG,
    .synopsis = "[OPTION]... [URL]...\n[OPTION]... --compare[=LIST] [URL]...",
    .summary = "Fetch every URL (the arguments, else one per line of standard input or -i\n"
               "FILE) N at a time, and print one record per URL: seq url status bytes\n"
               "elapsed ttfb attempts path error effective_url content_type. Exit 0 when\n"
               "all succeeded, 1 when any failed, 2 on a usage error, 255 when -i FILE\n"
               "cannot be opened.",
    .options = cfetch_options,
    .handler = on_option,
    .jobs_unbounded = 1024,
};

const char *cfetch_opts_check(const cfetch_opts *o, const ctk_common *c, size_t n_urls)
{
    if (o->bad_header)
        return "-H: not a header: use 'Name: value' (the value is not shown: it may hold a "
               "credential)";
    if (o->output_path != NULL && o->run.out_dir != NULL)
        return "-o PATH and -P DIR cannot be combined";
    if ((o->run.out_dir != NULL || o->output_path != NULL) && o->run.out_template != NULL)
        return "-o/-P and -O TEMPLATE cannot be combined";
    if (o->run.body &&
        (o->run.out_dir != NULL || o->output_path != NULL || o->run.out_template != NULL))
        return "--body cannot be combined with -o, -P or -O";
    if (o->run.body && o->run.records != NULL && strcmp(o->run.records, "-") == 0)
        return "--body and --records - would mix on standard output";
    if (c->compare != NULL && (o->run.body || o->run.journal != NULL))
        return "--compare takes no --body or --journal";
    int to_file = o->run.out_dir != NULL || o->output_path != NULL || o->run.out_template != NULL;
    if (o->run.fetch.resume && !to_file)
        return "-c/--continue (-C -) resumes a file: give -o, -P or -O";
    if (o->run.no_clobber && !to_file)
        return "--no-clobber (-nc) keeps files: give -o, -P or -O";
    if (o->run.no_clobber && o->run.fetch.resume)
        return "--no-clobber and --continue cannot be combined";
    if (o->run.fetch.head && o->data != NULL)
        return "-X HEAD cannot send -d data";
    if (o->run.out_template != NULL) {
        const char *bad = NULL;
        char *probe = ctk_urlpath_expand(o->run.out_template, 1, "http://h/", &bad);
        g_free(probe);
        if (probe == NULL)
            return "-O: unknown placeholder (known: {seq} {host} {name}, {{ and }})";
    }
    if (n_urls > 0 && o->input != NULL)
        return "URLs as arguments and -i FILE cannot be combined";
    return NULL;
}

/* -o PATH with one URL is curl's -o: that file, unless PATH is a
 * directory already (or ends in '/'); otherwise it names the directory
 * the bodies go to, as -P does. */
static void resolve_output_path(cfetch_opts *o, size_t n_urls)
{
    const char *p = o->output_path;
    struct stat st;
    if (p == NULL)
        return;
    size_t len = strlen(p);
    if (n_urls == 1 && len > 0 && p[len - 1] != '/' && !(stat(p, &st) == 0 && S_ISDIR(st.st_mode)))
        o->run.out_file = p;
    else
        o->run.out_dir = p;
}

/* The folder the user typed: -P DIR, -o FILE's folder, or -O's text
 * before its first placeholder, up to a '/'. Links there are followed
 * (the user named them); below, where a URL's host or name goes, none
 * is. g_free; "" for none. */
static char *trusted_dir(const cfetch_opts *o)
{
    if (o->run.out_dir != NULL)
        return g_strdup(o->run.out_dir);
    const char *t = o->run.out_file != NULL ? o->run.out_file : o->run.out_template;
    if (t == NULL)
        return g_strdup("");
    /* A template's text up to its first brace reads the same expanded. */
    size_t literal = o->run.out_file != NULL ? strlen(t) : strcspn(t, "{}");
    const char *slash = g_strrstr_len(t, (gssize)literal, "/");
    return slash != NULL ? g_strndup(t, slash == t ? 1 : (gsize)(slash - t)) : g_strdup("");
}

void cfetch_opts_init(cfetch_opts *o)
{
    *o = (cfetch_opts){
        .headers = g_ptr_array_new(),
        .run = {
            .prog = CFETCH_PROG,
            .fetch = {
                .retry_delay = 0.5, .retry_max = 30, .max_redirs = 50, .follow = 1, .fail = 1}}};
}

int cfetch_opts_parse(cfetch_opts *o, ctk_registry *reg, int argc, char **argv, ctk_common *c,
                      int *first, char *err, size_t err_len)
{
    /* wget's -nc is one word with one dash; -k is cfetch's --keep-order,
     * not curl's --insecure: a TLS failure then says so. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-nc") == 0)
            argv[i] = (char *)"--no-clobber";
        else if (argv[i][0] == '-' && argv[i][1] != '-' && strchr(argv[i], 'k') != NULL &&
                 strspn(argv[i] + 1, "kfL") == strlen(argv[i] + 1))
            o->run.fetch.k_hint = 1;
    }
    ctk_cli cli = cfetch_cli;
    cli.handler_arg = o;
    return ctk_cli_parse(&cli, reg, argc, argv, c, first, err, err_len);
}

void cfetch_opts_finish(cfetch_opts *o, ctk_common *c, size_t n_urls)
{
    if (o->header_line)
        c->header = 1;
    resolve_output_path(o, n_urls);
    o->trusted_dir = trusted_dir(o);
    o->run.fetch.trusted_dir = o->trusted_dir;
    g_ptr_array_add(o->headers, NULL);
    o->run.fetch.headers = (const char *const *)o->headers->pdata;
    o->run.fetch.keep_body = o->run.body;
    if (o->data != NULL) {
        o->run.fetch.data = o->data->str;
        o->run.fetch.data_len = o->data->len;
    }
}

void cfetch_opts_free(cfetch_opts *o)
{
    g_ptr_array_free(o->headers, TRUE);
    if (o->data != NULL)
        g_string_free(o->data, TRUE);
    g_free(o->trusted_dir);
}
