/* test-strategy.c: every built-in strategy runs every unit exactly once,
 * keeps order when asked, carries errors, survives a dying worker, and
 * the async strategy overlaps non-blocking units. */
#include "testutil.h"

static const char *const strategies[] = {"sync", "thread", "process", "async"};

static ctk_work square_work(void)
{
    return (ctk_work){.run = square_run};
}

static void check_all_squares(const char *name, unsigned jobs, int keep_order)
{
    feed f;
    char **items = numbers(500);
    g_assert_cmpint(run_items(name, jobs, keep_order, items, &f, square_work()), ==, 0);
    g_assert_cmpuint(f.seen->len, ==, 500);
    /* Every unit exactly once, whatever the order. */
    gboolean *got = g_new0(gboolean, 501);
    for (guint i = 0; i < f.seen->len; i++) {
        unsigned long long seq;
        int failed;
        char out[64];
        g_assert_cmpint(sscanf(g_ptr_array_index(f.seen, i), "%llu:%d:%63s", &seq, &failed, out),
                        ==, 3);
        g_assert_cmpint(failed, ==, 0);
        g_assert_false(got[seq]);
        got[seq] = TRUE;
        char *want = g_strdup_printf("%llu", seq * seq);
        g_assert_cmpstr(out, ==, want);
        g_free(want);
        if (keep_order)
            g_assert_cmpuint(seq, ==, i + 1);
    }
    g_free(got);
    feed_clear(&f);
    g_strfreev(items);
}

static void test_every_unit_once(void)
{
    for (size_t s = 0; s < G_N_ELEMENTS(strategies); s++) {
        check_all_squares(strategies[s], 4, 0);
        check_all_squares(strategies[s], 3, 1);
    }
}

static void test_errors_are_records(void)
{
    for (size_t s = 0; s < G_N_ELEMENTS(strategies); s++) {
        char *items[] = {"2", "fail", "bad-input", "3", NULL};
        feed f;
        g_assert_cmpint(run_items(strategies[s], 2, 1, items, &f, square_work()), ==, 0);
        g_assert_cmpuint(f.seen->len, ==, 4);
        g_assert_cmpstr(g_ptr_array_index(f.seen, 0), ==, "1:0:4");
        g_assert_cmpstr(g_ptr_array_index(f.seen, 1), ==, "2:1:asked to fail");
        g_assert_cmpstr(g_ptr_array_index(f.seen, 2), ==, "3:1:bad input at 3");
        g_assert_cmpstr(g_ptr_array_index(f.seen, 3), ==, "4:0:9");
        feed_clear(&f);
    }
}

/* A worker killed mid-unit fails that unit only; it is replaced and the
 * pool finishes the rest. */
static void test_process_worker_death(void)
{
    char *items[] = {"1", "crash", "2", "crash", "3", "4", "5", NULL};
    feed f;
    g_assert_cmpint(run_items("process", 2, 1, items, &f, square_work()), ==, 0);
    g_assert_cmpuint(f.seen->len, ==, 7);
    const char *crashed = g_ptr_array_index(f.seen, 1);
    g_assert_true(g_str_has_prefix(crashed, "2:1:worker "));
    g_assert_nonnull(strstr(crashed, "killed by signal 9"));
    g_assert_cmpstr(g_ptr_array_index(f.seen, 6), ==, "7:0:25");
    feed_clear(&f);
}

/* Non-blocking units: a libuv timer per unit. */
typedef struct timer_unit {
    uv_timer_t timer;
    ctk_unit *unit;
    ctk_done_fn done;
    void *done_arg;
} timer_unit;

static void timer_closed(uv_handle_t *h)
{
    timer_unit *t = h->data;
    t->done(t->unit, t->done_arg);
    g_free(t);
}

static void timer_fired(uv_timer_t *timer)
{
    timer_unit *t = timer->data;
    ctk_buf_set(&t->unit->out, "tick", 4);
    uv_close((uv_handle_t *)timer, timer_closed);
}

static int timer_start(void *ctx, uv_loop_t *loop, ctk_unit *unit, ctk_done_fn done, void *arg)
{
    (void)ctx;
    timer_unit *t = g_new0(timer_unit, 1);
    t->unit = unit;
    t->done = done;
    t->done_arg = arg;
    t->timer.data = t;
    uv_timer_init(loop, &t->timer);
    return uv_timer_start(&t->timer, timer_fired, 50, 0);
}

static void test_async_overlaps_nonblocking_units(void)
{
    char *items[21];
    for (int i = 0; i < 20; i++)
        items[i] = "x";
    items[20] = NULL;
    ctk_work work = {.run = square_run, .start = timer_start};
    feed f;
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(run_items("async", 10, 1, items, &f, work), ==, 0);
    double took = (double)(g_get_monotonic_time() - t0) / 1e6;
    g_assert_cmpuint(f.seen->len, ==, 20);
    g_assert_cmpstr(g_ptr_array_index(f.seen, 19), ==, "20:0:tick");
    /* 20 units of 50 ms, 10 at a time: two rounds, far from 20 x 50 ms. */
    g_assert_cmpfloat(took, <, 0.6);
    feed_clear(&f);
}

static void test_registry_has_builtins(void)
{
    ctk_registry *reg;
    ctk_registry_new(&reg);
    for (size_t s = 0; s < G_N_ELEMENTS(strategies); s++)
        g_assert_nonnull(ctk_registry_strategy(reg, strategies[s]));
    g_assert_null(ctk_registry_strategy(reg, "nope"));
    ctk_registry_free(reg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/strategy/every-unit-once", test_every_unit_once);
    g_test_add_func("/strategy/errors", test_errors_are_records);
    g_test_add_func("/strategy/process-worker-death", test_process_worker_death);
    g_test_add_func("/strategy/async-overlap", test_async_overlaps_nonblocking_units);
    g_test_add_func("/strategy/builtins", test_registry_has_builtins);
    return g_test_run();
}
