/* groupby.c: --group-by's marking thread (groupby.h). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctk/common.h"
#include "groupby.h"

struct cpipe_groupby {
    int in_fd, out_fd;
    int stop[2]; /* a byte in stop[1]: give up waiting for input */
    GRegex *sep;
    size_t col;    /* 0 up */
    uint64_t pass; /* lines still to pass unmarked (the header) */
    char marker[CPIPE_GROUPBY_MARKER + 1];
    GString *in;   /* read, not yet looked at (one spare byte for GRegex) */
    GString *out;  /* marked, not yet written */
    GString *last; /* the last line's value; NULL: no line yet */
    pthread_t thread;
    int started;
};

const char *cpipe_groupby_check(const char *spec)
{
    /* parallel's column name or number; what follows it there is a perl
     * expression, which cpipe has no perl to run. */
    if (*spec == '\0' || strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789_") != strlen(spec))
        return "a column number or name (cpipe runs no perl expression)";
    if (strspn(spec, "0123456789") == strlen(spec) && strtoull(spec, NULL, 10) == 0)
        return "columns are numbered from 1";
    return NULL;
}

/* Waits for input or for the stop byte; 0 at the end, <0 stopped or failed. */
static ssize_t read_some(cpipe_groupby *g, char *buf, size_t len)
{
    for (;;) {
        struct pollfd pf[2] = {{.fd = g->in_fd, .events = POLLIN},
                               {.fd = g->stop[0], .events = POLLIN}};
        int n = poll(pf, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || pf[1].revents != 0)
            return -1;
        ssize_t got = read(g->in_fd, buf, len);
        if (got >= 0 || (errno != EINTR && errno != EAGAIN))
            return got;
    }
}

/* Appends up to 64K more input to g->in; 0 at its end, <0 stopped. */
static ssize_t read_more(cpipe_groupby *g)
{
    size_t was = g->in->len;
    g_string_set_size(g->in, was + 65536);
    ssize_t n = read_some(g, g->in->str + was, 65536);
    g_string_set_size(g->in, was + (n > 0 ? (size_t)n : 0));
    return n;
}

int cpipe_column(const GRegex *sep, size_t col, const char *line, size_t len, const char **value,
                 size_t *value_len)
{
    size_t from = 0, at = 0;
    for (size_t i = 0;; i++) {
        GMatchInfo *mi = NULL;
        int start = 0, stop = 0;
        size_t look = at;
        int found = 0;
        /* An empty match splits nothing here: look past it. */
        while (look <= len &&
               g_regex_match_full(sep, line, (gssize)len, (gint)look, 0, &mi, NULL) &&
               g_match_info_fetch_pos(mi, 0, &start, &stop)) {
            g_match_info_free(mi);
            mi = NULL;
            if (stop > start) {
                found = 1;
                break;
            }
            look = (size_t)start + 1;
        }
        g_match_info_free(mi);
        if (i == col) {
            *value = line + from;
            *value_len = (found ? (size_t)start : len) - from;
            return 1;
        }
        if (!found) {
            *value = "";
            *value_len = 0;
            return 0;
        }
        from = at = (size_t)stop;
    }
}

int cpipe_column_named(const GRegex *sep, const char *line, size_t len, const char *name,
                       size_t *col)
{
    for (*col = 0;; (*col)++) {
        const char *v;
        size_t vlen;
        if (!cpipe_column(sep, *col, line, len, &v, &vlen))
            return 0;
        if (vlen == strlen(name) && memcmp(v, name, vlen) == 0)
            return 1;
    }
}

static void mark_line(cpipe_groupby *g, const char *line, size_t len)
{
    if (g->pass > 0) {
        g->pass--;
    } else {
        const char *v;
        size_t vlen;
        (void)cpipe_column(g->sep, g->col, line, len, &v, &vlen);
        if (g->last == NULL || g->last->len != vlen || memcmp(g->last->str, v, vlen) != 0) {
            g_string_append_len(g->out, g->marker, CPIPE_GROUPBY_MARKER);
            if (g->last == NULL)
                g->last = g_string_new(NULL);
            g_string_truncate(g->last, 0);
            g_string_append_len(g->last, v, (gssize)vlen);
        }
    }
    g_string_append_len(g->out, line, (gssize)len);
}

static int flush(cpipe_groupby *g)
{
    size_t done = 0;
    while (done < g->out->len) {
        ssize_t n = write(g->out_fd, g->out->str + done, g->out->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1; /* the reader is gone (EPIPE): nothing more to do */
        done += (size_t)n;
    }
    g_string_truncate(g->out, 0);
    return 0;
}

static void *run(void *arg)
{
    cpipe_groupby *g = arg;
    for (;;) {
        size_t at = 0;
        for (;;) {
            const char *nl = memchr(g->in->str + at, '\n', g->in->len - at);
            if (nl == NULL)
                break;
            size_t end = (size_t)(nl - g->in->str) + 1;
            mark_line(g, g->in->str + at, end - at);
            at = end;
        }
        g_string_erase(g->in, 0, (gssize)at);
        if (flush(g) < 0)
            break;
        ssize_t n = read_more(g);
        if (n < 0)
            break;
        if (n == 0) {
            if (g->in->len > 0)
                mark_line(g, g->in->str, g->in->len);
            (void)flush(g);
            break;
        }
    }
    close(g->out_fd);
    g->out_fd = -1;
    return NULL;
}

static void groupby_free(cpipe_groupby *g)
{
    if (g->out_fd >= 0)
        close(g->out_fd);
    for (int i = 0; i < 2; i++)
        if (g->stop[i] >= 0)
            close(g->stop[i]);
    if (g->sep != NULL)
        g_regex_unref(g->sep);
    g_string_free(g->in, TRUE);
    g_string_free(g->out, TRUE);
    if (g->last != NULL)
        g_string_free(g->last, TRUE);
    g_free(g);
}

/* --group-by NAME: the first line is read here, before the thread, to
 * find NAME's column; it stays in g->in to pass as the header. */
static int find_name(cpipe_groupby *g, const char *name, char *err, size_t err_len)
{
    const char *nl;
    while ((nl = memchr(g->in->str, '\n', g->in->len)) == NULL) {
        ssize_t n = read_more(g);
        if (n < 0) {
            snprintf(err, err_len, "cannot read the header: %s", strerror(errno));
            return CTK_EIO;
        }
        if (n == 0)
            break;
    }
    size_t len = nl != NULL ? (size_t)(nl - g->in->str) : g->in->len;
    if (!cpipe_column_named(g->sep, g->in->str, len, name, &g->col)) {
        snprintf(err, err_len, "--group-by %s: no such column in the header", name);
        return CTK_EINVAL;
    }
    return 0;
}

void cpipe_groupby_marker(char marker[CPIPE_GROUPBY_MARKER + 1])
{
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int i = 0; i < CPIPE_GROUPBY_MARKER; i++)
        marker[i] = alnum[g_random_int_range(0, (gint32)sizeof alnum - 1)];
    marker[CPIPE_GROUPBY_MARKER] = '\0';
}

int cpipe_groupby_start(cpipe_groupby **out, int in_fd, const char *spec, const char *colsep,
                        uint64_t header_lines, const char *marker, int *named, int *out_fd,
                        char *err, size_t err_len)
{
    cpipe_groupby *g = g_new0(cpipe_groupby, 1);
    g->in_fd = in_fd;
    g->out_fd = g->stop[0] = g->stop[1] = -1;
    g->in = g_string_sized_new(65536);
    g->out = g_string_sized_new(65536);
    g->pass = header_lines;
    memcpy(g->marker, marker, sizeof g->marker);
    GError *gerr = NULL;
    g->sep = g_regex_new(colsep != NULL ? colsep : "\t", G_REGEX_RAW, 0, &gerr);
    if (g->sep == NULL) {
        snprintf(err, err_len, "--colsep %s: %s", colsep, gerr->message);
        g_error_free(gerr);
        groupby_free(g);
        return CTK_EINVAL;
    }
    int fds[2];
    if (pipe2(g->stop, O_CLOEXEC) < 0 || pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, err_len, "cannot start --group-by: %s", strerror(errno));
        groupby_free(g);
        return CTK_EIO;
    }
    g->out_fd = fds[1];
    *named = strspn(spec, "0123456789") != strlen(spec);
    int rc = 0;
    if (*named) {
        rc = find_name(g, spec, err, err_len);
        g->pass = 1;
    } else {
        g->col = (size_t)strtoull(spec, NULL, 10) - 1;
    }
    if (rc == 0) {
        rc = -pthread_create(&g->thread, NULL, run, g);
        if (rc < 0)
            snprintf(err, err_len, "cannot start --group-by: %s", strerror(-rc));
    }
    if (rc < 0) {
        close(fds[0]);
        groupby_free(g);
        return rc;
    }
    g->started = 1;
    *out_fd = fds[0];
    *out = g;
    return 0;
}

void cpipe_groupby_end(cpipe_groupby *g)
{
    if (g == NULL)
        return;
    if (g->started) {
        char b = 0;
        (void)!write(g->stop[1], &b, 1);
        pthread_join(g->thread, NULL);
    }
    groupby_free(g);
}
