/* test-pipeline.c: the window bounds units in flight, cancel stops a run
 * promptly, and invalid options are refused. */
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

static void check_cancel(const char *strategy)
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
    g_test_add_func("/pipeline/empty", test_empty_input);
    g_test_add_func("/pipeline/invalid", test_invalid_options);
    return g_test_run();
}
