/* testutil.h: a small work function and a collecting sink shared by the
 * pipeline and strategy tests. */
#ifndef CTK_TESTUTIL_H
#define CTK_TESTUTIL_H

#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctk/pipeline.h"

/* Work: the unit's input is a decimal number n; the output is n*n, also
 * as text. "fail" fails the unit; "crash" kills the worker (SIGKILL: a
 * thread pool would die with it, so only the process strategy gets it);
 * "sleepMS" sleeps that long first. */
static inline int square_run(void *ctx, ctk_unit *unit, const int *cancel)
{
    (void)ctx;
    char text[64];
    size_t n = unit->in.len < sizeof text - 1 ? unit->in.len : sizeof text - 1;
    memcpy(text, unit->in.data, n);
    text[n] = '\0';
    if (strcmp(text, "fail") == 0)
        return ctk_unit_fail(unit, CTK_EWORK, "asked to fail");
    if (strcmp(text, "crash") == 0)
        raise(SIGKILL);
    if (strncmp(text, "sleep", 5) == 0) {
        for (long ms = strtol(text + 5, NULL, 10); ms > 0 && !ctk_is_cancelled(cancel); ms -= 5)
            g_usleep(5000);
        return ctk_buf_set(&unit->out, "slept", 5);
    }
    long v = strtol(text, NULL, 10);
    char *out = g_strdup_printf("%ld", v * v);
    int rc = ctk_buf_set(&unit->out, out, strlen(out));
    g_free(out);
    return rc;
}

typedef struct feed {
    char **items; /* NULL-terminated inputs */
    size_t next;
    pthread_mutex_t lock;
    GPtrArray *seen; /* "seq:status:out" per consumed unit, in order */
    size_t max_in_flight_seen;
} feed;

static inline int feed_produce(void *arg, ctk_unit *unit)
{
    feed *f = arg;
    const char *item = f->items[f->next];
    if (item == NULL)
        return CTK_EOF;
    f->next++;
    if (strcmp(item, "bad-input") == 0)
        return ctk_unit_fail(unit, CTK_EINVAL, "bad input at %llu", (unsigned long long)unit->seq);
    return ctk_buf_set(&unit->in, item, strlen(item));
}

static inline void feed_consume(void *arg, const ctk_unit *unit)
{
    feed *f = arg;
    char *out = g_strndup((const char *)unit->out.data, unit->out.len);
    g_ptr_array_add(f->seen, g_strdup_printf("%llu:%d:%s", (unsigned long long)unit->seq,
                                             unit->status < 0 ? 1 : 0,
                                             unit->status < 0 ? unit->error : out));
    g_free(out);
}

static inline void feed_init(feed *f, char **items)
{
    memset(f, 0, sizeof *f);
    f->items = items;
    f->seen = g_ptr_array_new_with_free_func(g_free);
}

static inline void feed_clear(feed *f)
{
    g_ptr_array_free(f->seen, TRUE);
}

/* Runs items through strategy `name` with `jobs` and returns the sink. */
static inline int run_items(const char *name, unsigned jobs, int keep_order, char **items,
                            feed *f, ctk_work work)
{
    ctk_registry *reg;
    ctk_registry_new(&reg);
    const ctk_strategy *s = ctk_registry_strategy(reg, name);
    g_assert_nonnull(s);
    feed_init(f, items);
    ctk_pipeline_opts o = {
        .work = work,
        .jobs = jobs,
        .keep_order = keep_order,
        .produce = feed_produce,
        .produce_arg = f,
        .consume = feed_consume,
        .consume_arg = f,
    };
    ctk_pipeline *p;
    g_assert_cmpint(ctk_pipeline_new(&p, &o), ==, 0);
    int rc = ctk_pipeline_run(p, s);
    ctk_pipeline_free(p);
    ctk_registry_free(reg);
    return rc;
}

static inline char **numbers(int n)
{
    char **items = g_new0(char *, (gsize)n + 1);
    for (int i = 0; i < n; i++)
        items[i] = g_strdup_printf("%d", i + 1);
    return items;
}

/* A pipe holding data, its write end closed: a small input stream. */
static inline int pipe_with(const char *data, size_t len)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(write(fds[1], data, len), ==, (ssize_t)len);
    close(fds[1]);
    return fds[0];
}

#endif
