/*
 * jobadd.c: jobs from lines, in batched transactions (see ctk/jobadd.h).
 */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "jobadd.h"

#define DEFAULT_BATCH    10000
#define DEFAULT_PAUSE_MS 50

typedef struct batch {
    const ctk_jobadd_opts *o;
    GArray *specs;      /* ctk_job_spec */
    GPtrArray *owned;   /* command strings of the batch */
    GPtrArray *vectors; /* argv vectors of the batch */
    int64_t *ids;
    int64_t first, last; /* the run of ids not yet told */
    uint64_t seq;
    int skipped;
} batch;

static void tell_range(batch *b)
{
    if (b->first != 0 && b->o->on_range != NULL)
        b->o->on_range(b->o->arg, b->first, b->last);
    b->first = b->last = 0;
}

static int flush(batch *b, char *err, size_t err_len)
{
    if (b->specs->len == 0)
        return 0;
    ctk_store *st = b->o->store;
    int rc = st->ops->add(st, (ctk_job_spec *)(void *)b->specs->data, b->specs->len, b->ids, NULL,
                          err, err_len);
    if (rc < 0)
        return rc;
    for (guint i = 0; i < b->specs->len; i++) {
        if (b->first != 0 && b->ids[i] != b->last + 1)
            tell_range(b);
        if (b->first == 0)
            b->first = b->ids[i];
        b->last = b->ids[i];
    }
    /* Told as it commits: a producer killed later has printed the ids of
     * every job it added. */
    tell_range(b);
    g_array_set_size(b->specs, 0);
    g_ptr_array_set_size(b->owned, 0);
    g_ptr_array_set_size(b->vectors, 0);
    return 0;
}

static void add_line(batch *b, const char *item, size_t len)
{
    b->seq++;
    if (memchr(item, '\0', len) != NULL) {
        if (b->o->on_skip != NULL)
            b->o->on_skip(b->o->arg, b->seq, "contains a NUL byte");
        b->skipped = 1;
        return;
    }
    ctk_job_spec s = *b->o->proto;
    if (b->o->tpl == NULL) {
        char *cmd = g_strndup(item, len);
        g_ptr_array_add(b->owned, cmd);
        s.cmd = cmd;
        s.argv = NULL;
    } else {
        ctk_cmdline_item col = {item, len};
        ctk_cmdline_args a = {&col, 1, b->seq, 1};
        ctk_buf line = {0};
        char **argv = NULL;
        ctk_cmdline_render(b->o->tpl, &a, &line, &argv);
        char *cmd = g_strndup((const char *)line.data, line.len);
        ctk_buf_free(&line);
        g_ptr_array_add(b->owned, cmd);
        s.cmd = cmd;
        s.argv = NULL;
        if (argv != NULL) {
            char **copy = g_strdupv(argv);
            ctk_cmdline_argv_free(argv);
            g_ptr_array_add(b->vectors, copy);
            s.argv = (const char *const *)copy;
        }
    }
    g_array_append_val(b->specs, s);
}

/* 1 when input (or its end) is there within ms. */
static int input_ready(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) != 0;
}

/* Adds the whole lines of pending; keeps the rest. */
static int take_lines(batch *b, GString *pending, char *err, size_t err_len)
{
    unsigned max = b->o->batch ? b->o->batch : DEFAULT_BATCH;
    size_t start = 0;
    int rc = 0;
    char *nl;
    while (rc == 0 && (nl = memchr(pending->str + start, '\n', pending->len - start)) != NULL) {
        size_t len = (size_t)(nl - (pending->str + start));
        if (len > 0 && !(len == 1 && pending->str[start] == '\r'))
            add_line(b, pending->str + start, len);
        start += len + 1;
        if (b->specs->len >= max)
            rc = flush(b, err, err_len);
    }
    g_string_erase(pending, 0, (gssize)start);
    return rc;
}

int ctk_jobadd_fd(const ctk_jobadd_opts *o, int fd, char *err, size_t err_len)
{
    unsigned max = o->batch ? o->batch : DEFAULT_BATCH;
    int pause = o->pause_ms > 0 ? o->pause_ms : DEFAULT_PAUSE_MS;
    batch b = {.o = o};
    b.specs = g_array_sized_new(FALSE, FALSE, sizeof(ctk_job_spec), max);
    b.owned = g_ptr_array_new_with_free_func(g_free);
    b.vectors = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    b.ids = g_new(int64_t, max);
    GString *pending = g_string_new(NULL);
    char buf[65536];
    int rc = 0;
    for (;;) {
        /* A producer that pauses has its items committed meanwhile. */
        if (b.specs->len > 0 && !input_ready(fd, pause) && (rc = flush(&b, err, err_len)) < 0)
            break;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, err_len, "cannot read the input: %s", g_strerror(errno));
            rc = CTK_EIO;
            break;
        }
        if (n == 0 && pending->len > 0)
            g_string_append_c(pending, '\n'); /* a last line without its newline */
        g_string_append_len(pending, buf, n);
        if ((rc = take_lines(&b, pending, err, err_len)) < 0 || n == 0)
            break;
    }
    if (rc == 0)
        rc = flush(&b, err, err_len);
    tell_range(&b);
    g_string_free(pending, TRUE);
    g_free(b.ids);
    g_array_free(b.specs, TRUE);
    g_ptr_array_free(b.owned, TRUE);
    g_ptr_array_free(b.vectors, TRUE);
    return rc < 0 ? rc : b.skipped;
}
