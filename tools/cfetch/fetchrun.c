/*
 * fetchrun.c: the reading and recording sides of a cfetch run. The reader
 * (one thread) decides everything that must be decided in input order:
 * whether a line is a URL at all, the output file's name (collisions get
 * a suffix in input order, so a rerun names files the same way), whether
 * the journal already has it, and when it may start (--rate). The writer
 * (one thread) prints records, writes --body output and the journal.
 */
#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetchrun.h"
#include "ctkx/closeout.h"
#include "ctkx/lines.h"
#include "ctkx/rate.h"
#include "urlpath.h"

struct ctk_fetchrun {
    ctk_fetchrun_opts o;
    ctk_lines *lines;
    size_t next_url;
    ctk_urlpath_names *names;
    ctk_rate *rate; /* NULL: no limit */
    const int *cancel;
    int cancel_fd; /* the run's cancel fd, or -1 */
    int input_failed;
    ctk_fetchrun_counts counts; /* writer thread only */
};

static const ctk_field fields[] = {
    {"seq", CTK_FIELD_NUMBER},
    {"url", CTK_FIELD_STRING},
    {"status", CTK_FIELD_NUMBER},
    {"bytes", CTK_FIELD_NUMBER},
    {"elapsed", CTK_FIELD_NUMBER},
    {"ttfb", CTK_FIELD_NUMBER},
    {"attempts", CTK_FIELD_NUMBER},
    {"path", CTK_FIELD_STRING},
    {"error", CTK_FIELD_STRING},
    /* Added last, so that scripts reading the first nine keep working. */
    {"effective_url", CTK_FIELD_STRING},
    {"content_type", CTK_FIELD_STRING},
};

const ctk_field *ctk_fetchrun_fields(size_t *n)
{
    *n = G_N_ELEMENTS(fields);
    return fields;
}

int ctk_fetchrun_new(ctk_fetchrun **out, const ctk_fetchrun_opts *opts)
{
    ctk_fetchrun *r = g_new0(ctk_fetchrun, 1);
    r->cancel_fd = -1;
    r->o = *opts;
    if (opts->urls == NULL) {
        int rc = ctk_lines_open(&r->lines, opts->in_fd, '\n', CTK_FETCHRUN_MAX_URL);
        if (rc < 0) {
            g_free(r);
            return rc;
        }
    }
    if (opts->rate > 0 && (r->rate = ctk_rate_new(opts->rate)) == NULL) {
        ctk_lines_close(r->lines);
        g_free(r);
        return CTK_ENOMEM;
    }
    r->names = ctk_urlpath_names_new();
    *out = r;
    return 0;
}

void ctk_fetchrun_free(ctk_fetchrun *r)
{
    if (r == NULL)
        return;
    ctk_lines_close(r->lines);
    ctk_urlpath_names_free(r->names);
    ctk_rate_free(r->rate);
    g_free(r);
}

void ctk_fetchrun_set_cancel(ctk_fetchrun *r, const int *cancel, int cancel_fd)
{
    r->cancel = cancel;
    r->cancel_fd = cancel_fd;
    if (r->lines != NULL)
        ctk_lines_set_cancel_fd(r->lines, cancel_fd);
}

void ctk_fetchrun_counts_get(ctk_fetchrun *r, ctk_fetchrun_counts *c)
{
    *c = r->counts;
}

/* ---- reading ----------------------------------------------------------------- */

/* A unit that goes to consume as an error record: it still names its
 * URL, unless there is no memory to say even that. */
static int fail_unit(ctk_unit *unit, const char *url, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_unit(ctk_unit *unit, const char *url, int status, const char *fmt, ...)
{
    if (ctk_fetch_encode(&unit->in, url, NULL) < 0)
        unit->in.len = 0;
    va_list ap;
    va_start(ap, fmt);
    char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ctk_unit_fail(unit, status, "%s", why);
    g_free(why);
    return status;
}

/* The next URL-to-be: an operand, or a line that is not blank or a
 * comment. Returns 0, CTK_EOF, or a failed unit's code. */
static int next_line(ctk_fetchrun *r, ctk_unit *unit, const char **text, size_t *len)
{
    if (r->o.urls != NULL) {
        if (r->next_url >= r->o.n_urls)
            return CTK_EOF;
        *text = r->o.urls[r->next_url++];
        *len = strlen(*text);
        return 0;
    }
    for (;;) {
        if (r->input_failed)
            return CTK_EOF;
        int rc = ctk_lines_next(r->lines, text, len, r->cancel);
        if (rc == CTK_EOF || rc == CTK_ECANCELED)
            return CTK_EOF;
        if (rc == CTK_ERANGE)
            return fail_unit(unit, "", CTK_ERANGE, "line of %zu bytes is too long for a URL", *len);
        if (rc < 0) {
            r->input_failed = 1;
            return fail_unit(unit, "", rc, "cannot read input: %s", ctk_strerror(rc));
        }
        while (*len > 0 && strchr(" \t\r", (*text)[*len - 1]) != NULL)
            (*len)--;
        while (*len > 0 && strchr(" \t", (*text)[0]) != NULL) {
            (*text)++;
            (*len)--;
        }
        if (*len > 0 && (*text)[0] != '#')
            return 0;
    }
}

/* Why url cannot be fetched, or NULL when it can. */
static char *check_url(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    char *why = NULL;
    CURLUcode rc = u != NULL ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;
    if (rc != CURLUE_OK)
        why = g_strdup_printf("not a URL: %s", curl_url_strerror(rc));
    else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        why = g_strdup("not a URL: no scheme");
    else if (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0)
        why = g_strdup_printf("unsupported scheme '%s' (http and https are)", scheme);
    curl_free(scheme);
    curl_url_cleanup(u);
    return why;
}

/* Whether another URL's body, by the journal, is at path. */
static int owned_by_other(ctk_fetchrun *r, const char *path, const char *shown)
{
    char *owner = NULL;
    int other = r->o.journal != NULL && ctk_journal_owner(r->o.journal, path, &owner) &&
                strcmp(owner, shown) != 0;
    g_free(owner);
    return other;
}

/* The body's file: a name no earlier URL of the run took, and no file
 * the journal has as another URL's (a URL inserted before one that is
 * done must not overwrite its body). shown: the URL as the journal has
 * it. */
static char *output_path(ctk_fetchrun *r, uint64_t seq, const char *url, const char *shown)
{
    char *want = NULL;
    if (r->o.out_file != NULL) {
        want = g_strdup(r->o.out_file);
    } else if (r->o.out_template != NULL) {
        want = ctk_urlpath_expand(r->o.out_template, seq, url, NULL);
    } else if (r->o.out_dir != NULL) {
        char name[CTK_URLPATH_NAME_MAX + 1];
        if (ctk_urlpath_name(url, name, sizeof name) < 0)
            g_strlcpy(name, "index.html", sizeof name);
        size_t n = strlen(r->o.out_dir);
        int slash = n > 0 && r->o.out_dir[n - 1] == '/';
        want = g_strdup_printf("%s%s%s", r->o.out_dir, slash ? "" : "/", name);
    }
    if (want == NULL)
        return NULL;
    char *claimed = ctk_urlpath_claim(r->names, want);
    while (owned_by_other(r, claimed, shown)) {
        g_free(claimed);
        claimed = ctk_urlpath_claim(r->names, want);
    }
    g_free(want);
    return claimed;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Whether what the journal recorded is still there: the file (when the
 * body went to one) as it was left, same size and modification time.
 * Otherwise the URL is fetched again. */
static int still_done(const ctk_journal_entry *done)
{
    struct stat st;
    if (done->path[0] == '\0')
        return 1;
    if (lstat(done->path, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != done->bytes)
        return 0;
    return done->mtime_ns < 0 || mtime_ns(&st) == done->mtime_ns;
}

int ctk_fetchrun_produce(void *arg, ctk_unit *unit)
{
    ctk_fetchrun *r = arg;
    const char *text;
    size_t len;
    int rc = next_line(r, unit, &text, &len);
    if (rc != 0)
        return rc;
    char *url = g_strndup(text, len);
    if (strlen(url) != len) {
        rc = fail_unit(unit, url, CTK_EINVAL, "not a URL: contains a NUL byte");
        g_free(url);
        return rc;
    }
    char *why = check_url(url);
    if (why != NULL) {
        rc = fail_unit(unit, url, CTK_EINVAL, "%s", why);
        g_free(why);
        g_free(url);
        return rc;
    }
    ctk_journal_entry done;
    char *shown = ctk_urlpath_redact(url);
    char *path = output_path(r, unit->seq, url, shown);
    int skip = r->o.journal != NULL && ctk_journal_done(r->o.journal, shown, &done);
    if (skip && !still_done(&done)) {
        ctk_journal_entry_free(&done);
        skip = 0;
    }
    g_free(shown);
    struct stat kept;
    if (!skip && r->o.no_clobber && path != NULL && lstat(path, &kept) == 0) {
        /* wget -nc: the file there stays, and the URL is not fetched. */
        ctk_fetch_result prior = {.bytes = (uint64_t)kept.st_size, .path = path};
        rc = ctk_fetch_encode_skip(&unit->in, url, &prior);
    } else if (skip) {
        ctk_fetch_result prior = {.status = done.status, .bytes = done.bytes, .path = done.path};
        rc = ctk_fetch_encode_skip(&unit->in, url, &prior);
        ctk_journal_entry_free(&done);
    } else {
        rc = ctk_fetch_encode(&unit->in, url, path);
        if (rc == 0 && r->rate != NULL && ctk_rate_wait(r->rate, r->cancel, r->cancel_fd) < 0)
            rc = CTK_EOF; /* cancelled while waiting for the slot */
    }
    g_free(path);
    if (rc == CTK_ENOMEM)
        rc = fail_unit(unit, url, CTK_ENOMEM, "out of memory");
    g_free(url);
    return rc;
}

/* ---- recording ------------------------------------------------------------------ */

static void journal(ctk_fetchrun *r, const char *url, const ctk_unit *unit,
                    const ctk_fetch_result *res)
{
    if (r->o.journal == NULL || url[0] == '\0' || (res != NULL && res->attempts == 0))
        return;
    struct stat st;
    const char *path = res != NULL ? res->path : "";
    int64_t mtime = path[0] != '\0' && stat(path, &st) == 0 ? mtime_ns(&st) : -1;
    ctk_journal_record(r->o.journal, url, unit->status == 0, res ? res->status : 0,
                       res ? res->bytes : 0, path, mtime, unit->error);
}

/* One unit's record; res is NULL when it came back with no result. */
static void record(ctk_fetchrun *r, const ctk_unit *unit, const char *url, const char *path,
                   const ctk_fetch_result *res)
{
    /* A worker process killed mid-transfer could not remove its partial
     * file; this side can. */
    if (unit->status != 0 && path[0] != '\0') {
        char *partial = ctk_fetch_partial_path(path);
        unlink(partial);
        g_free(partial);
    }
    /* Cut short by Ctrl-C: not a result; the rerun fetches it. */
    if (unit->status == CTK_ECANCELED)
        return;
    if (unit->status == 0)
        r->counts.ok++;
    else
        r->counts.failed++;
    if (res != NULL)
        r->counts.bytes += res->bytes;
    if (r->o.body != NULL && res != NULL && res->body_len > 0 &&
        fwrite(res->body, 1, res->body_len, r->o.body) != res->body_len) {
        r->counts.write_failed = 1;
        if (r->o.body == stdout) /* errno is the failed write's, now */
            ctk_closeout_note(errno != 0 ? errno : EIO);
    }
    const char *error = unit->status != 0 ? (unit->error ? unit->error : "failed") : NULL;
    if (r->o.warn != NULL && error != NULL)
        fprintf(r->o.warn, "%s: %s: %s\n", r->o.prog, url[0] ? url : "(no URL)", error);
    if (r->o.records != NULL) {
        char seq[24], status[24] = "", bytes[24] = "", elapsed[24] = "", ttfb[24] = "",
                      attempts[24] = "";
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)unit->seq);
        if (res != NULL) {
            if (res->status > 0)
                snprintf(status, sizeof status, "%ld", res->status);
            snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)res->bytes);
            snprintf(elapsed, sizeof elapsed, "%.6f", res->elapsed);
            snprintf(ttfb, sizeof ttfb, "%.6f", res->ttfb);
            snprintf(attempts, sizeof attempts, "%u", res->attempts);
        }
        char *eurl = res != NULL && res->effective_url != NULL && res->effective_url[0]
                         ? ctk_urlpath_redact(res->effective_url)
                         : g_strdup("");
        const char *values[] = {seq,
                                url,
                                status,
                                bytes,
                                elapsed,
                                ttfb,
                                attempts,
                                res != NULL && res->path[0] ? res->path : "",
                                error,
                                eurl,
                                res != NULL && res->content_type ? res->content_type : ""};
        ctk_progress_clear(r->o.progress);
        if (ctk_output_row(r->o.records, values) < 0)
            r->counts.write_failed = 1;
        g_free(eurl);
    }
    /* After the record: killed in between, a rerun fetches this URL again
     * (a second record) rather than skip one whose record never showed. */
    journal(r, url, unit, res);
    ctk_progress_update(r->o.progress, r->counts.ok + r->counts.failed);
}

void ctk_fetchrun_consume(void *arg, const ctk_unit *unit)
{
    ctk_fetchrun *r = arg;
    ctk_fetch_unit u;
    ctk_fetch_result res;
    /* A unit that does not decode still gets its record, without a URL. */
    int have_unit = ctk_fetch_unit_decode(&unit->in, &u) == 0;
    const char *path = have_unit ? u.path : "";
    /* Records, messages and the journal never show a credential. */
    char *url = ctk_urlpath_redact(have_unit ? u.url : "");
    int have = ctk_fetch_result_decode(&unit->out, &res) == 0;
    record(r, unit, url, path, have ? &res : NULL);
    g_free(url);
    if (have)
        ctk_fetch_result_clear(&res);
    if (have_unit)
        ctk_fetch_unit_clear(&u);
}
