/* lines.c: a buffered record reader over read(2). While it waits for
 * input it polls the run's cancel fd beside the input, so a cancel wakes
 * it at once; without a fd it looks at the cancel flag five times a
 * second. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctkx/lines.h"
#include "ctk/plugin.h"

#define LINES_CHUNK     65536
#define LINES_MIN(a, b) ((a) < (b) ? (a) : (b))

struct ctk_lines {
    int fd;
    char delim;
    /* A separator of several bytes (cpar -d '\n\n'), or NULL: delim. */
    char *sep;
    size_t sep_len;
    size_t max_len;
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start..end) */
    int eof;
    int cancel_fd; /* readable once the run is cancelled, or -1 */
};

int ctk_lines_open(ctk_lines **out, int fd, char delim, size_t max_len)
{
    ctk_lines *r = calloc(1, sizeof *r);
    if (r == NULL)
        return CTK_ENOMEM;
    r->fd = fd;
    r->cancel_fd = -1;
    r->delim = delim;
    r->max_len = max_len;
    r->cap = LINES_CHUNK;
    r->buf = malloc(r->cap);
    if (r->buf == NULL) {
        free(r);
        return CTK_ENOMEM;
    }
    *out = r;
    return 0;
}

int ctk_lines_open_sep(ctk_lines **out, int fd, const char *sep, size_t sep_len, size_t max_len)
{
    if (sep_len == 0)
        return CTK_EINVAL;
    int rc = ctk_lines_open(out, fd, sep[0], max_len);
    if (rc < 0 || sep_len == 1)
        return rc;
    ctk_lines *r = *out;
    r->sep = malloc(sep_len);
    if (r->sep == NULL) {
        ctk_lines_close(r);
        return CTK_ENOMEM;
    }
    memcpy(r->sep, sep, sep_len);
    r->sep_len = sep_len;
    return 0;
}

void ctk_lines_close(ctk_lines *r)
{
    if (r == NULL)
        return;
    free(r->sep);
    free(r->buf);
    free(r);
}

void ctk_lines_set_cancel_fd(ctk_lines *r, int cancel_fd)
{
    r->cancel_fd = cancel_fd;
}

/* Waits until fd is readable or the run is cancelled. */
static int wait_readable(ctk_lines *r, const int *cancel)
{
    if (cancel == NULL && r->cancel_fd < 0)
        return 0;
    for (;;) {
        if (ctk_is_cancelled(cancel))
            return CTK_ECANCELED;
        struct pollfd p[2] = {{.fd = r->fd, .events = POLLIN},
                              {.fd = r->cancel_fd, .events = POLLIN}};
        int watched = r->cancel_fd >= 0 ? 2 : 1;
        int n = poll(p, (nfds_t)watched, watched == 2 ? -1 : 200);
        if (n > 0 && watched == 2 && (p[1].revents & POLLIN))
            return CTK_ECANCELED;
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

/* Reads more bytes after the unread ones, moving or growing the buffer. */
static int fill(ctk_lines *r, const int *cancel)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    /* One spare byte: a record is handed out NUL-terminated in place. */
    if (r->end + 1 >= r->cap) {
        char *bigger = realloc(r->buf, r->cap * 2);
        if (bigger == NULL)
            return CTK_ENOMEM;
        r->buf = bigger;
        r->cap *= 2;
    }
    int rc = wait_readable(r, cancel);
    if (rc < 0)
        return rc;
    ssize_t n;
    do
        n = read(r->fd, r->buf + r->end, r->cap - r->end - 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        r->eof = 1;
    r->end += (size_t)n;
    return 0;
}

/* The first separator in [from, from + n), or NULL. */
static char *find_sep(const ctk_lines *r, const char *from, size_t n)
{
    if (r->sep == NULL)
        return memchr(from, r->delim, n);
    return memmem(from, n, r->sep, r->sep_len);
}

/* How many bytes a separator takes. */
static size_t sep_len(const ctk_lines *r)
{
    return r->sep != NULL ? r->sep_len : 1;
}

/* Skips the rest of an over-long record, counting its bytes. */
static int skip_record(ctk_lines *r, size_t *len, const int *cancel)
{
    for (;;) {
        char *hit = find_sep(r, r->buf + r->start, r->end - r->start);
        if (hit != NULL) {
            *len += (size_t)(hit - (r->buf + r->start));
            r->start = (size_t)(hit - r->buf) + sep_len(r);
            return CTK_ERANGE;
        }
        /* A separator's first bytes at the end stay for the next read. */
        size_t keep = LINES_MIN(sep_len(r) - 1, r->end - r->start);
        *len += r->end - r->start - keep;
        memmove(r->buf, r->buf + r->end - keep, keep);
        r->start = 0;
        r->end = keep;
        if (r->eof)
            return CTK_ERANGE;
        int rc = fill(r, cancel);
        if (rc < 0)
            return rc;
    }
}

int ctk_lines_next(ctk_lines *r, const char **line, size_t *len, const int *cancel)
{
    size_t scanned = 0;
    for (;;) {
        char *from = r->buf + r->start + scanned;
        char *hit = find_sep(r, from, r->end - r->start - scanned);
        size_t have = hit != NULL ? (size_t)(hit - (r->buf + r->start)) : r->end - r->start;
        if (have > r->max_len) {
            *line = NULL;
            *len = 0;
            return skip_record(r, len, cancel);
        }
        if (hit != NULL || (r->eof && have > 0)) {
            *line = r->buf + r->start;
            *len = have;
            r->buf[r->start + have] = '\0';
            r->start += have + (hit != NULL ? sep_len(r) : 0);
            return 0;
        }
        if (r->eof)
            return CTK_EOF;
        /* A separator may begin in the last sep_len - 1 bytes scanned. */
        scanned = have - LINES_MIN(have, sep_len(r) - 1);
        int rc = fill(r, cancel);
        if (rc < 0)
            return rc;
    }
}

int ctk_lines_ready(const ctk_lines *r)
{
    return r->eof || find_sep(r, r->buf + r->start, r->end - r->start) != NULL;
}

int ctk_lines_fd(const ctk_lines *r)
{
    return r->fd;
}

int ctk_lines_warn_tty(const char *prog, int fd)
{
    if (!isatty(fd))
        return 0;
    fprintf(stderr, "%s: reading input from the terminal; end with Ctrl-D\n", prog);
    return 1;
}
