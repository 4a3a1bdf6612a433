/* test-pipeline.c: the window bounds units in flight, cancel stops a run
 * promptly, inline mode keeps every unit on the strategy's thread, the
 * stop hooks reach the tool, and invalid options are refused. */
#include "testutil.h"

typedef struct counting {
    feed f;
    ctk_pipeline *p;
    int in_flight, max_in_flight;
    pthread_mutex_t lock;
} counting;

static int counting_produce(void *arg, ctk_unit *unit)
{
    counting *c = arg;
    pthread_mutex_lock(&c->lock);
    if (++c->in_flight > c->max_in_flight)
        c->max_in_flight = c->in_flight;
    pthread_mutex_unlock(&c->lock);
    return feed_produce(&c->f, unit);
}

static void counting_consume(void *arg, const ctk_unit *unit)
{
    counting *c = arg;
    pthread_mutex_lock(&c->lock);
    c->in_flight--;
    pthread_mutex_unlock(&c->lock);
    feed_consume(&c->f, unit);
}

/* Unit 1 is slow and order is kept, so everything after it waits; the
 * window still caps how many units exist at once. */
static void test_window_caps_in_flight(void)
{
    char **items = numbers(400);
    g_free(items[0]);
    items[0] = g_strdup("sleep100");
    counting c = {.lock = PTHREAD_MUTEX_INITIALIZER};
    feed_init(&c.f, items);
    ctk_registry *reg;
    ctk_registry_new(&reg);
    ctk_pipeline_opts o = {{square_run, NULL, NULL}, 4, 1, 16, counting_produce, &c,
                           counting_consume,         &c};
    g_assert_cmpint(ctk_pipeline_new(&c.p, &o), ==, 0);
    g_assert_cmpint(ctk_pipeline_run(c.p, ctk_registry_strategy(reg, "thread")), ==, 0);
    uint64_t ok, failed;
    ctk_pipeline_counts(c.p, &ok, &failed);
    g_assert_cmpuint(ok, ==, 400);
    g_assert_cmpuint(failed, ==, 0);
    /* produce runs before its credit is returned: at most window+1. */
    g_assert_cmpint(c.max_in_flight, <=, 17);
    g_assert_cmpstr(g_ptr_array_index(c.f.seen, 0), ==, "1:0:slept");
    g_assert_cmpstr(g_ptr_array_index(c.f.seen, 399), ==, "400:0:160000");
    ctk_pipeline_free(c.p);
    ctk_registry_free(reg);
    feed_clear(&c.f);
    g_strfreev(items);
}

typedef struct cancel_arg {
    ctk_pipeline *p;
} cancel_arg;

static void *cancel_later(void *arg)
{
    g_usleep(100000);
    ctk_pipeline_cancel(((cancel_arg *)arg)->p, SIGTERM);
    return NULL;
}

static void check_cancel_mode(const char *strategy, int allow_inline)
{
    char *items[64];
    for (int i = 0; i < 63; i++)
        items[i] = "sleep2000";
    items[63] = NULL;
    feed f;
    feed_init(&f, items);
    ctk_registry *reg;
    ctk_registry_new(&reg);
    ctk_pipeline_opts o = {{square_run, NULL, NULL}, 2, 0, 0, feed_produce, &f, feed_consume, &f};
    cancel_arg ca;
    g_assert_cmpint(ctk_pipeline_new(&ca.p, &o), ==, 0);
    if (allow_inline)
        ctk_pipeline_allow_inline(ca.p);
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &ca);
    gint64 t0 = g_get_monotonic_time();
    int rc = ctk_pipeline_run(ca.p, ctk_registry_strategy(reg, strategy));
    double took = (double)(g_get_monotonic_time() - t0) / 1e6;
    pthread_join(t, NULL);
    g_assert_cmpint(rc, ==, CTK_ECANCELED);
    /* Far less than one 2 s unit: running units noticed the flag. */
    g_assert_cmpfloat(took, <, 1.5);
    /* Not every unit ran. */
    g_assert_cmpuint(f.seen->len, <, 63);
    ctk_pipeline_free(ca.p);
    ctk_registry_free(reg);
    feed_clear(&f);
}

static void check_cancel(const char *strategy)
{
    check_cancel_mode(strategy, 0);
}

static void test_cancel_async_inline(void)
{
    check_cancel_mode("async", 1);
}

static void test_cancel_thread(void)
{
    check_cancel("thread");
}

static void test_cancel_process(void)
{
    check_cancel("process");
}

static void test_cancel_sync(void)
{
    check_cancel("sync");
}

/* ---- inline mode ---------------------------------------------------------- */

typedef struct threads_seen {
    feed f;
    pthread_t main;
    int produce_elsewhere, consume_elsewhere; /* calls not on main */
    int in_flight, max_in_flight;             /* produced, not consumed */
} threads_seen;

static int seen_produce(void *arg, ctk_unit *unit)
{
    threads_seen *t = arg;
    if (!pthread_equal(pthread_self(), t->main))
        __atomic_add_fetch(&t->produce_elsewhere, 1, __ATOMIC_RELAXED);
    int rc = feed_produce(&t->f, unit);
    if (rc != CTK_EOF) {
        int now = __atomic_add_fetch(&t->in_flight, 1, __ATOMIC_RELAXED);
        if (now > t->max_in_flight) /* produce is never called concurrently */
            t->max_in_flight = now;
    }
    return rc;
}

static void seen_consume(void *arg, const ctk_unit *unit)
{
    threads_seen *t = arg;
    if (!pthread_equal(pthread_self(), t->main))
        __atomic_add_fetch(&t->consume_elsewhere, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&t->in_flight, 1, __ATOMIC_RELAXED);
    feed_consume(&t->f, unit);
}

/* A non-blocking square: the answer comes from a timer of 0-3 ms, so units
 * finish out of input order. */
typedef struct square_timer {
    uv_timer_t timer;
    ctk_unit *unit;
    ctk_done_fn done;
    void *done_arg;
} square_timer;

static void square_timer_free(uv_handle_t *h)
{
    g_free(h->data);
}

static void square_timer_fired(uv_timer_t *timer)
{
    square_timer *st = timer->data;
    square_run(NULL, st->unit, NULL);
    st->done(st->unit, st->done_arg);
    uv_close((uv_handle_t *)timer, square_timer_free);
}

static int square_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done,
                        void *done_arg)
{
    (void)ctx;
    square_timer *st = g_new0(square_timer, 1);
    st->unit = unit;
    st->done = done;
    st->done_arg = done_arg;
    uv_timer_init(loop, &st->timer);
    st->timer.data = st;
    uv_timer_start(&st->timer, square_timer_fired, (unit->seq * 7) % 4, 0);
    return 0;
}

/* 300 units, a bad one among them, through async with 8 jobs in a window
 * of 6 (so next() finds the window full) and input order kept. */
static void run_async_seen(threads_seen *t, int allow_inline)
{
    char **items = numbers(300);
    g_free(items[41]);
    items[41] = g_strdup("bad-input");
    memset(t, 0, sizeof *t);
    t->main = pthread_self();
    feed_init(&t->f, items);
    ctk_registry *reg;
    ctk_registry_new(&reg);
    ctk_pipeline_opts o = {
        {square_run, square_start, NULL}, 8, 1, 6, seen_produce, t, seen_consume, t};
    ctk_pipeline *p;
    g_assert_cmpint(ctk_pipeline_new(&p, &o), ==, 0);
    if (allow_inline)
        ctk_pipeline_allow_inline(p);
    g_assert_cmpint(ctk_pipeline_run(p, ctk_registry_strategy(reg, "async")), ==, 0);
    uint64_t ok, failed;
    ctk_pipeline_counts(p, &ok, &failed);
    g_assert_cmpuint(ok, ==, 299);
    g_assert_cmpuint(failed, ==, 1);
    g_assert_cmpuint(t->f.seen->len, ==, 300);
    for (guint i = 0; i < 300; i++) {
        char *want = i == 41 ? g_strdup("42:1:bad input at 42")
                             : g_strdup_printf("%u:0:%u", i + 1, (i + 1) * (i + 1));
        g_assert_cmpstr(g_ptr_array_index(t->f.seen, i), ==, want);
        g_free(want);
    }
    /* produce runs before its credit is taken back: at most window+1. */
    g_assert_cmpint(t->max_in_flight, <=, 7);
    ctk_pipeline_free(p);
    ctk_registry_free(reg);
    feed_clear(&t->f);
    g_strfreev(items);
}

static void test_inline_async(void)
{
    threads_seen t;
    run_async_seen(&t, 1);
    g_assert_cmpint(t.produce_elsewhere, ==, 0);
    g_assert_cmpint(t.consume_elsewhere, ==, 0);
}

/* The same run without allow_inline: the reader and writer threads do it. */
static void test_not_inline_without_leave(void)
{
    threads_seen t;
    run_async_seen(&t, 0);
    g_assert_cmpint(t.produce_elsewhere, >, 0);
    g_assert_cmpint(t.consume_elsewhere, >, 0);
}

/* A strategy of several threads never goes inline, allowed or not. */
static void test_thread_strategy_ignores_inline(void)
{
    char **items = numbers(50);
    threads_seen t = {.main = pthread_self()};
    feed_init(&t.f, items);
    ctk_registry *reg;
    ctk_registry_new(&reg);
    ctk_pipeline_opts o = {{square_run, NULL, NULL}, 3, 0, 0, seen_produce, &t, seen_consume, &t};
    ctk_pipeline *p;
    g_assert_cmpint(ctk_pipeline_new(&p, &o), ==, 0);
    ctk_pipeline_allow_inline(p);
    g_assert_cmpint(ctk_pipeline_run(p, ctk_registry_strategy(reg, "thread")), ==, 0);
    g_assert_cmpuint(t.f.seen->len, ==, 50);
    /* 50 units and the call that found the end. */
    g_assert_cmpint(t.produce_elsewhere, ==, 51);
    ctk_pipeline_free(p);
    ctk_registry_free(reg);
    feed_clear(&t.f);
    g_strfreev(items);
}

/* The stop hooks: a strategy hands units back, the tool's `ended` sees
 * each before consume and decides; the strategy reads the decision and
 * passes one on (as a remote strategy's worker would); without hooks both
 * are inert. */
typedef struct stop_tool {
    int ended, applied, last_how;
} stop_tool;

static void stop_tool_ended(void *arg, const ctk_unit *unit)
{
    (void)unit;
    ((stop_tool *)arg)->ended++;
}

static int stop_tool_decided(void *arg)
{
    return ((stop_tool *)arg)->ended >= 3 ? CTK_STOP_SOON : CTK_STOP_NONE;
}

static void stop_tool_apply(void *arg, int how)
{
    stop_tool *t = arg;
    t->applied++;
    t->last_how = how;
}

typedef struct stop_seen {
    int stops[16];
    int n, each;
} stop_seen;

static int stop_execute(ctk_exec *exec, void *data)
{
    stop_seen *seen = data;
    seen->each = ctk_exec_stop_each(exec);
    ctk_unit *unit;
    while (ctk_exec_next(exec, &unit, CTK_WAIT) == 0) {
        ctk_exec_run_unit(exec, unit);
        ctk_exec_done(exec, unit);
        if (seen->n < 16)
            seen->stops[seen->n++] = ctk_exec_stop(exec);
    }
    ctk_exec_apply_stop(exec, CTK_STOP_NOW);
    ctk_exec_apply_stop(exec, 7); /* not a decision: ignored */
    return 0;
}

static void run_stop(const ctk_stop_hooks *hooks, stop_seen *seen, feed *f)
{
    static const ctk_strategy_ops ops = {.name = "stopper", .execute = stop_execute};
    char **items = numbers(5);
    feed_init(f, items);
    ctk_registry *reg;
    ctk_registry_new(&reg);
    g_assert_cmpint(ctk_register_strategy(reg, &ops, seen, NULL), ==, 0);
    ctk_pipeline *p;
    ctk_pipeline_opts o = {{square_run, NULL, NULL}, 1, 1, 0, feed_produce, f, feed_consume, f};
    g_assert_cmpint(ctk_pipeline_new(&p, &o), ==, 0);
    ctk_pipeline_set_stop(p, hooks);
    g_assert_cmpint(ctk_pipeline_run(p, ctk_registry_strategy(reg, "stopper")), ==, 0);
    ctk_pipeline_free(p);
    ctk_registry_free(reg);
    g_strfreev(items);
}

static void test_stop_hooks(void)
{
    stop_tool t = {0};
    ctk_stop_hooks hooks = {stop_tool_ended, stop_tool_decided, stop_tool_apply, &t, 1};
    stop_seen seen = {{0}, 0, 0};
    feed f;
    run_stop(&hooks, &seen, &f);
    g_assert_cmpint(t.ended, ==, 5);
    g_assert_cmpuint(f.seen->len, ==, 5);
    g_assert_cmpint(seen.n, ==, 5);
    g_assert_cmpint(seen.stops[1], ==, CTK_STOP_NONE);
    g_assert_cmpint(seen.stops[2], ==, CTK_STOP_SOON);
    g_assert_cmpint(seen.each, ==, 1);
    g_assert_cmpint(t.applied, ==, 1);
    g_assert_cmpint(t.last_how, ==, CTK_STOP_NOW);
    feed_clear(&f);

    stop_seen none = {{0}, 0, 1};
    run_stop(NULL, &none, &f);
    g_assert_cmpint(none.n, ==, 5);
    for (int i = 0; i < none.n; i++)
        g_assert_cmpint(none.stops[i], ==, CTK_STOP_NONE);
    g_assert_cmpint(none.each, ==, 0);
    g_assert_cmpuint(f.seen->len, ==, 5);
    feed_clear(&f);
}

static void test_empty_input(void)
{
    char *items[] = {NULL};
    feed f;
    g_assert_cmpint(run_items("thread", 2, 1, items, &f, (ctk_work){.run = square_run}), ==, 0);
    g_assert_cmpuint(f.seen->len, ==, 0);
    feed_clear(&f);
}

static void test_invalid_options(void)
{
    ctk_pipeline *p;
    ctk_pipeline_opts o = {
        {square_run, NULL, NULL}, 0, 0, 0, feed_produce, NULL, feed_consume, NULL};
    g_assert_cmpint(ctk_pipeline_new(&p, &o), ==, CTK_EINVAL);
    o.jobs = 1;
    o.work.run = NULL;
    g_assert_cmpint(ctk_pipeline_new(&p, &o), ==, CTK_EINVAL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pipeline/window", test_window_caps_in_flight);
    g_test_add_func("/pipeline/cancel-thread", test_cancel_thread);
    g_test_add_func("/pipeline/cancel-process", test_cancel_process);
    g_test_add_func("/pipeline/cancel-sync", test_cancel_sync);
    g_test_add_func("/pipeline/cancel-async-inline", test_cancel_async_inline);
    g_test_add_func("/pipeline/inline-async", test_inline_async);
    g_test_add_func("/pipeline/not-inline-unless-allowed", test_not_inline_without_leave);
    g_test_add_func("/pipeline/thread-ignores-inline", test_thread_strategy_ignores_inline);
    g_test_add_func("/pipeline/empty", test_empty_input);
    g_test_add_func("/pipeline/stop-hooks", test_stop_hooks);
    g_test_add_func("/pipeline/invalid", test_invalid_options);
    return g_test_run();
}
