/* test-queue.c: the bounded queue blocks when full, drains after close. */
#include <glib.h>
#include <pthread.h>

#include "ctk/common.h"
#include "queue.h"

static void test_fifo_order(void)
{
    ctk__queue *q = ctk__queue_new(4);
    int items[4] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++)
        g_assert_cmpint(ctk__queue_push(q, &items[i]), ==, 0);
    g_assert_cmpuint(ctk__queue_length(q), ==, 4);
    for (int i = 0; i < 4; i++) {
        void *out = NULL;
        g_assert_cmpint(ctk__queue_pop(q, &out, 1), ==, 0);
        g_assert_true(out == &items[i]);
    }
    void *out;
    g_assert_cmpint(ctk__queue_pop(q, &out, 0), ==, CTK_EAGAIN);
    ctk__queue_free(q);
}

static void test_close_drains_then_eof(void)
{
    ctk__queue *q = ctk__queue_new(2);
    int x = 7;
    ctk__queue_push(q, &x);
    ctk__queue_close(q);
    g_assert_cmpint(ctk__queue_push(q, &x), ==, CTK_ECANCELED);
    void *out = NULL;
    g_assert_cmpint(ctk__queue_pop(q, &out, 1), ==, 0);
    g_assert_true(out == &x);
    g_assert_cmpint(ctk__queue_pop(q, &out, 1), ==, CTK_EOF);
    ctk__queue_free(q);
}

static void test_zero_capacity_refused(void)
{
    g_assert_null(ctk__queue_new(0));
}

typedef struct producer_arg {
    ctk__queue *q;
    int count;
} producer_arg;

static void *producer(void *p)
{
    producer_arg *a = p;
    for (int i = 1; i <= a->count; i++)
        ctk__queue_push(a->q, GINT_TO_POINTER(i));
    return NULL;
}

/* A full queue blocks its producer: the queue never holds more than its
 * capacity while a slow consumer drains 10,000 items, in order. */
static void test_backpressure_bounds_length(void)
{
    ctk__queue *q = ctk__queue_new(8);
    producer_arg a = {q, 10000};
    pthread_t t;
    pthread_create(&t, NULL, producer, &a);
    size_t max_seen = 0;
    for (int expect = 1; expect <= a.count; expect++) {
        size_t len = ctk__queue_length(q);
        if (len > max_seen)
            max_seen = len;
        void *out;
        g_assert_cmpint(ctk__queue_pop(q, &out, 1), ==, 0);
        g_assert_cmpint(GPOINTER_TO_INT(out), ==, expect);
    }
    pthread_join(t, NULL);
    g_assert_cmpuint(max_seen, <=, 8);
    ctk__queue_free(q);
}

static void *closer(void *p)
{
    g_usleep(20000);
    ctk__queue_close(p);
    return NULL;
}

static void test_close_wakes_blocked_pop(void)
{
    ctk__queue *q = ctk__queue_new(1);
    pthread_t t;
    pthread_create(&t, NULL, closer, q);
    void *out;
    g_assert_cmpint(ctk__queue_pop(q, &out, 1), ==, CTK_EOF);
    pthread_join(t, NULL);
    ctk__queue_free(q);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/queue/fifo", test_fifo_order);
    g_test_add_func("/queue/close-drains", test_close_drains_then_eof);
    g_test_add_func("/queue/zero-capacity", test_zero_capacity_refused);
    g_test_add_func("/queue/backpressure", test_backpressure_bounds_length);
    g_test_add_func("/queue/close-wakes", test_close_wakes_blocked_pop);
    return g_test_run();
}
